"""DPRD (the Winograd heuristic's data): the reader on hand-written files in the authors' format, where the
pronoun is replaced, bad input named by file and line, and the authors' own files where they are present."""

import pytest

from conftest import FIXTURES, SHARED_DATA
from gpt1.tasks import TASKS, ZERO_SHOT_TASKS, Example, available_splits, get_task, read_split
from gpt1.tasks.dprd import pronoun_position, read_dprd, substitute

DPRD = FIXTURES / "tasks" / "DPRD"
REAL = SHARED_DATA / "DPRD"


def test_the_reader_keeps_sentence_pronoun_candidates_and_answer():
    examples = list(read_dprd(DPRD / "test.c.txt"))
    assert len(examples) == 6
    assert examples[0] == Example(
        "The cat chased the mouse because it was hungry.", "it", ("The cat", "the mouse"), label=0
    )
    assert examples[1].label == 1  # "the mouse"
    assert examples[3].choices == ("Maria", "Julia") and examples[3].label == 0  # "Maria, Julia": spaces dropped
    assert [ex.label for ex in read_split("dprd", "train", FIXTURES / "tasks")] == [1, 0]


def test_dprd_is_a_zero_shot_set_not_a_fine_tuning_task():
    assert "dprd" not in TASKS and len(TASKS) == 12
    assert get_task("dprd") is ZERO_SHOT_TASKS["dprd"]
    assert available_splits("dprd", FIXTURES / "tasks") == ["train", "test"]


def test_each_candidate_takes_the_pronouns_place():
    examples = read_split("dprd", "test", FIXTURES / "tasks")
    assert [substitute(ex) for ex in examples] == [
        [
            ("The cat chased the mouse because the cat", " was hungry."),
            ("The cat chased the mouse because the mouse", " was hungry."),
        ],
        [
            ("The cat chased the mouse until the cat", " hid under the sofa."),
            ("The cat chased the mouse until the mouse", " hid under the sofa."),
        ],
        [
            ("Maria thanked Julia because Maria", " had helped with the move."),
            ("Maria thanked Julia because Julia", " had helped with the move."),
        ],
        [
            ("Maria thanked Julia because Maria", " was grateful for the help."),
            ("Maria thanked Julia because Julia", " was grateful for the help."),
        ],
        [  # the "he" after both candidates, not the first one
            ("Tom said he would beat Sam at chess, but Tom", " lost every game."),
            ("Tom said he would beat Sam at chess, but Sam", " lost every game."),
        ],
        [  # the first "it" after the candidates, not the second
            ("The truck hit the fence and the truck", " broke, so it had to be mended."),
            ("The truck hit the fence and the fence", " broke, so it had to be mended."),
        ],
    ]


def test_the_pronoun_is_a_whole_word():
    example = Example("Ann met Bea with Kit and it was fun.", "it", ("Ann", "Bea"))
    assert pronoun_position(example) == example.text.index(" it ") + 1  # not the "it" of "with" or "Kit"
    assert substitute(Example("The dog saw it.", "it", ("The dog", "a cat")))[1] == ("The dog saw a cat", ".")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("A saw B because he ran.\nhe\nA,B\nA\n\nC met D.\nhe\nC,D\n\n", 6, "an example of 3 lines, expected 4"),
        ("A saw B because he ran.\nhe\nA,B\nA\nA\n", 1, "an example of 5 lines"),
        ("A saw B because he ran.\nhe\nA;B\nA\n", 3, "'A;B' is not two candidates"),
        ("A saw B because he ran.\nhe\nA,B,C\nA\n", 3, "is not two candidates"),
        ("A saw B because he ran.\nhe\nA,B\nC\n", 4, "answer 'C' is not one of the candidates"),
        ("A saw B because he ran.\nshe\nA,B\nA\n", 1, "the pronoun 'she' is not a word of"),
        ("He saw A and B.\nhe\nA,B\nA\n", 1, "the pronoun 'he' is not a word of"),
    ],
)
def test_bad_input_names_the_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "test.c.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"test\.c\.txt, line {line}: ") as err:
        list(read_dprd(path))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_answers_match_candidates_without_case_or_extra_spaces(tmp_path):
    path = tmp_path / "test.c.txt"
    path.write_text("The cat saw the dog and it ran.\nit\nThe cat , the dog\nThe  Dog\n")
    assert [ex.label for ex in read_dprd(path)] == [1]


def test_text_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "test.c.txt"
    path.write_bytes(b"A saw B because he ran.\xff\nhe\nA,B\nA\n")
    with pytest.raises(ValueError, match="test.c.txt: not UTF-8"):
        list(read_dprd(path))


@pytest.mark.skipif(not REAL.is_dir(), reason=f"no real DPRD at {REAL}")
def test_the_authors_files_read_whole():
    """1,322 and 564 examples (Rahman & Ng 2012); in every one the pronoun is found and replaced, and nothing
    else changes."""
    train, test = read_split("dprd", "train", SHARED_DATA), read_split("dprd", "test", SHARED_DATA)
    assert (len(train), len(test)) == (1322, 564)
    for example in train + test:
        for (context, rest), choice in zip(substitute(example), example.choices):
            put, before = context[-len(choice) :], context[: -len(choice)]
            assert put.casefold() == choice.casefold() and before + example.text_b + rest == example.text
            assert rest.startswith((" ", ".")), example  # the pronoun ends a word
