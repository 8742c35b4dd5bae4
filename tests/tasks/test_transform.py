"""The input transformations of gpt1/tasks/transform.py (docs/paper.md, Input transformations): exact token layouts
for the four task kinds, and truncation to the context (the first segment is shortened, keeping its last
tokens; the hypothesis / answer is cut only when it alone does not fit)."""

from __future__ import annotations

import itertools

import pytest

from gpt1.tasks import Example
from gpt1.tasks.transform import TaskTokens, pair, sequences, single, truncate_pair

TOK = TaskTokens(start=1, delimiter=2, extract=3)
SPECIAL = {TOK.start, TOK.delimiter, TOK.extract}


def encode(texts: list[str]) -> list[list[int]]:
    """A fake BPE: every word is one or more ids written as "a.b.c" ("10.11" -> [10, 11])."""
    assert isinstance(texts, list) and all(isinstance(t, str) for t in texts)
    return [[int(piece) for word in text.split() for piece in word.split(".")] for text in texts]


def words(ids: list[int]) -> str:
    """The text that `encode` maps to `ids`, one word per id."""
    return " ".join(str(i) for i in ids)


def test_fake_encode():
    assert encode(["10 11.12 13", "", "7.8.9"]) == [[10, 11, 12, 13], [], [7, 8, 9]]


# --------------------------------------------------------------------------------------------------
# Layouts, no truncation


def test_classification_layout():
    example = Example("10 11.12 13", label=1)
    assert sequences("classification", example, encode, TOK, n_ctx=16) == [[1, 10, 11, 12, 13, 3]]


def test_entailment_layout():
    example = Example("10 11.12", "20.21 22", label=0)
    assert sequences("entailment", example, encode, TOK, n_ctx=16) == [[1, 10, 11, 12, 2, 20, 21, 22, 3]]


def test_similarity_layout_gives_both_orders():
    example = Example("10 11", "20 21.22", label=3.5)
    assert sequences("similarity", example, encode, TOK, n_ctx=16) == [
        [1, 10, 11, 2, 20, 21, 22, 3],
        [1, 20, 21, 22, 2, 10, 11, 3],
    ]


def test_multiple_choice_one_sequence_per_answer():
    story = Example("10 11 12.13", choices=("20 21", "30"), label=1)
    assert sequences("multiple_choice", story, encode, TOK, n_ctx=16) == [
        [1, 10, 11, 12, 13, 2, 20, 21, 3],
        [1, 10, 11, 12, 13, 2, 30, 3],
    ]
    race = Example("10 11", choices=("20", "30.31", "40", "50 51 52"), label=2)
    assert sequences("multiple_choice", race, encode, TOK, n_ctx=16) == [
        [1, 10, 11, 2, 20, 3],
        [1, 10, 11, 2, 30, 31, 3],
        [1, 10, 11, 2, 40, 3],
        [1, 10, 11, 2, 50, 51, 52, 3],
    ]


def test_exact_fit_is_not_truncated():
    text = list(range(10, 16))  # 6 tokens
    assert sequences("classification", Example(words(text)), encode, TOK, n_ctx=8) == [[1, *text, 3]]
    premise, hypothesis = list(range(10, 15)), [20, 21]  # 5 + 2 + 3 specials = 10
    out = sequences("entailment", Example(words(premise), words(hypothesis)), encode, TOK, n_ctx=10)
    assert out == [[1, *premise, 2, *hypothesis, 3]]


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="unknown task kind"):
        sequences("regression", Example("10"), encode, TOK, n_ctx=8)


# --------------------------------------------------------------------------------------------------
# Truncation


def test_classification_keeps_the_first_tokens():
    text = list(range(10, 30))  # 20 tokens
    out = sequences("classification", Example(words(text)), encode, TOK, n_ctx=8)
    assert out == [[1, 10, 11, 12, 13, 14, 15, 3]]
    # one token too many: only the last is dropped
    assert single(text, TOK, n_ctx=21) == [1, *text[:-1], 3]


def test_a_context_too_small_for_the_task_tokens_is_an_error():
    with pytest.raises(ValueError, match="model.n_ctx 2"):
        sequences("classification", Example("10"), encode, TOK, n_ctx=2)


def test_entailment_truncates_the_premise_from_its_start():
    premise, hypothesis = list(range(10, 30)), [100, 101, 102]
    out = sequences("entailment", Example(words(premise), words(hypothesis)), encode, TOK, n_ctx=12)
    # room for 12 - 3 = 9 tokens: the whole hypothesis and the premise's last 6
    assert out == [[1, 24, 25, 26, 27, 28, 29, 2, 100, 101, 102, 3]]


def test_multiple_choice_keeps_every_answer_whole():
    context = list(range(10, 40))  # 30 tokens
    answers = ([100], [200, 201, 202], [300, 301, 302, 303, 304])
    example = Example(words(context), choices=tuple(words(a) for a in answers), label=0)
    out = sequences("multiple_choice", example, encode, TOK, n_ctx=12)
    assert out == [
        [1, *context[-8:], 2, 100, 3],
        [1, *context[-6:], 2, 200, 201, 202, 3],
        [1, *context[-4:], 2, 300, 301, 302, 303, 304, 3],
    ]
    assert all(len(seq) == 12 for seq in out)


def test_similarity_shortens_the_longer_sentence_the_same_in_both_orders():
    a, b = list(range(10, 16)), [20, 21, 22]  # 6 + 3 = 9 tokens, room 7
    out = sequences("similarity", Example(words(a), words(b)), encode, TOK, n_ctx=10)
    assert out == [
        [1, 10, 11, 12, 13, 2, 20, 21, 22, 3],  # A loses its last 2, B whole
        [1, 20, 21, 22, 2, 10, 11, 12, 13, 3],  # the same tokens, the other order
    ]
    a, b = list(range(10, 16)), list(range(20, 26))  # equal lengths, room 7: the first is cut first
    out = sequences("similarity", Example(words(a), words(b)), encode, TOK, n_ctx=10)
    assert out[0] == [1, 10, 11, 12, 2, 20, 21, 22, 23, 3]


def test_answer_longer_than_the_room_is_cut_from_its_end():
    premise, hypothesis = [10, 11, 12, 13, 14], list(range(100, 112))  # hypothesis 12 > room 7
    out = sequences("entailment", Example(words(premise), words(hypothesis)), encode, TOK, n_ctx=10)
    # the premise is dropped entirely, the hypothesis keeps its first 7 tokens
    assert out == [[1, 2, 100, 101, 102, 103, 104, 105, 106, 3]]
    # an answer exactly the room: the context is dropped, the answer kept whole
    answer = list(range(100, 107))
    out = sequences("multiple_choice", Example(words(premise), choices=(words(answer),)), encode, TOK, n_ctx=10)
    assert out == [[1, 2, *answer, 3]]


def test_truncate_pair():
    a, b = [10, 11, 12, 13, 14], [20, 21, 22]
    assert truncate_pair(a, b, 8) == (a, b)  # fits exactly
    assert truncate_pair(a, b, 20) == (a, b)
    assert truncate_pair(a, b, 7) == ([11, 12, 13, 14], b)  # a from its start
    assert truncate_pair(a, b, 5) == ([13, 14], b)
    assert truncate_pair(a, b, 4) == ([14], b)
    assert truncate_pair(a, b, 3) == ([], b)  # b exactly the room: a gone
    assert truncate_pair(a, b, 2) == ([], [20, 21])  # b alone too long: its first tokens
    assert truncate_pair(a, b, 0) == ([], [])
    assert truncate_pair([], b, 2) == ([], [20, 21])
    assert truncate_pair(a, [], 2) == ([13, 14], [])
    # the inputs are left as they were
    assert a == [10, 11, 12, 13, 14] and b == [20, 21, 22]


def test_pair_layout_around_truncate_pair():
    a, b = list(range(10, 20)), [20, 21]
    for n_ctx in range(3, 20):
        ta, tb = truncate_pair(a, b, n_ctx - 3)
        assert pair(a, b, TOK, n_ctx) == [1, *ta, 2, *tb, 3]


@pytest.mark.parametrize("n_ctx", [3, 4, 5, 8, 13])
def test_lengths_and_invariants_over_many_sizes(n_ctx):
    """Every sequence fits n_ctx, has the specials in place, keeps a suffix of the context and, while it
    fits, the whole answer (a prefix of it otherwise); the length is min(n_ctx, the untruncated length)."""
    for len_a, len_b in itertools.product(range(0, 16), range(0, 16)):
        a, b = list(range(100, 100 + len_a)), list(range(500, 500 + len_b))
        if n_ctx >= 3:
            (seq,) = sequences("entailment", Example(words(a), words(b)), encode, TOK, n_ctx)
            assert len(seq) == min(n_ctx, len_a + len_b + 3)
            assert seq[0] == 1 and seq[-1] == 3 and seq.count(2) == 1
            cut = seq.index(2)
            got_a, got_b = seq[1:cut], seq[cut + 1 : -1]
            room = n_ctx - 3
            assert got_a == (a[len(a) - len(got_a) :] if got_a else [])  # a suffix of the premise
            assert got_b == (b if len_b <= room else b[:room])
            assert not SPECIAL & set(got_a + got_b)
            pairs = sequences("similarity", Example(words(a), words(b)), encode, TOK, n_ctx)
            assert len(pairs) == 2 and all(len(s) <= n_ctx for s in pairs)
            choices = sequences("multiple_choice", Example(words(a), choices=(words(b), "7")), encode, TOK, n_ctx)
            assert len(choices) == 2 and all(len(s) <= n_ctx for s in choices)
        (seq,) = sequences("classification", Example(words(a)), encode, TOK, n_ctx)
        assert len(seq) == min(n_ctx, len_a + 2)
        assert seq == [1, *a[: len(seq) - 2], 3]


def test_sequences_per_example_is_what_each_task_s_examples_give():
    """The count the device check sizes fine-tuning batches by, against the layouts of real rows (the fixtures)."""
    from conftest import FIXTURES
    from gpt1.tasks import TASKS, available_splits, read_split
    from gpt1.tasks.transform import sequences_per_example

    counts = {}
    for task in TASKS.values():
        split = available_splits(task.id, FIXTURES / "tasks")[0]
        example = read_split(task.id, split, FIXTURES / "tasks")[0]
        counts[task.id] = sequences_per_example(task)
        assert len(sequences(task.kind, example, encode_words, TOK, n_ctx=64)) == counts[task.id], task.id
    assert counts["race"] == 4 and counts["story_cloze"] == 2 and counts["stsb"] == 2 and counts["sst2"] == 1


def encode_words(texts: list[str]) -> list[list[int]]:
    return [[10 + len(word) for word in text.split()] for text in texts]
