"""The zero-shot heuristics on a fixed bigram "language model" whose scores can be worked out by hand."""

import math

import pytest
import torch
import torch.nn as nn

from gpt1.tasks import Example, zero_shot

WORDS = ["<pad>", "a", "b", "very", "positive", "negative", "x"]
ID = {w: i for i, w in enumerate(WORDS)}


def bigram_rows() -> torch.Tensor:
    """P(next | previous): the probabilities the hand calculations below use; the rest spread evenly."""
    chosen = {"a": {"a": 0.5, "b": 0.4}, "b": {"a": 0.2, "b": 0.1}, "very": {"positive": 0.3, "negative": 0.2}}
    rows = torch.full((len(WORDS), len(WORDS)), 1.0 / len(WORDS))
    for prev, nexts in chosen.items():
        rest = (1 - sum(nexts.values())) / (len(WORDS) - len(nexts))
        rows[ID[prev]] = torch.tensor([nexts.get(w, rest) for w in WORDS])
    return rows


class Bigram(nn.Module):
    """Logits that are log P(next | previous token): the interface of gpt1.model.GPT, `(logits, None)`."""

    def __init__(self):
        super().__init__()
        self.log_p = nn.Parameter(bigram_rows().log(), requires_grad=False)

    def forward(self, idx):
        return self.log_p[idx], None


def encode(lines):
    return [[ID[w] for w in line.split()] for line in lines]


def test_the_context_and_continuation_split_at_the_join():
    assert zero_shot.split_continuation(encode, "x a very", "positive") == ([6, 1, 3], [4])


def test_continuation_log_probabilities_are_the_bigram_entries():
    (scores,) = zero_shot.continuation_logprobs(Bigram(), [([6, 1], [1, 2])], n_ctx=8)
    assert scores.tolist() == pytest.approx([math.log(0.5), math.log(0.4)])


def test_a_long_context_loses_its_first_tokens():
    (scores,) = zero_shot.continuation_logprobs(Bigram(), [([2, 2, 2, 1], [2])], n_ctx=2)
    assert scores.tolist() == pytest.approx([math.log(0.4)])  # only "a" is left before "b"


def test_cola_thresholds_the_mean_log_probability():
    train = [Example("a b", label=1), Example("b b", label=0), Example("a a", label=1), Example("b a", label=0)]
    dev = [Example("a a b", label=1), Example("b b a", label=0), Example("a b b", label=1)]
    result = zero_shot.cola(Bigram(), encode, train, dev, n_ctx=8)
    # Train scores: log .4, log .1, log .5, log .2 -> the cut halfway between log .2 and log .4.
    assert result["threshold"] == pytest.approx((math.log(0.2) + math.log(0.4)) / 2)
    # Dev scores: log sqrt(.5 * .4) above the cut, log sqrt(.1 * .2) and log sqrt(.4 * .1) below:
    # predictions 1, 0, 0 against 1, 0, 1: TP 1, TN 1, FN 1, FP 0, MCC = 1 / sqrt(1 * 2 * 1 * 2) = 0.5.
    assert result["value"] == pytest.approx(0.5)


def test_sst2_compares_positive_and_negative_after_very():
    dev = [Example("a b", label=1), Example("b", label=1), Example("a", label=0)]
    # P(positive | very) = .3 > P(negative | very) = .2: every prediction is positive, 2 of 3 right.
    assert zero_shot.sst2(Bigram(), encode, dev, n_ctx=8)["value"] == pytest.approx(2 / 3)


def test_race_picks_the_answer_with_the_best_average_log_probability():
    dev = [Example("x a", choices=("a", "b"), label=0), Example("x b", choices=("a b", "b"), label=1)]
    # 1st: log .5 > log .4 -> choice 0 (right). 2nd: (log .2 + log .4) / 2 > log .1 -> choice 0 (wrong).
    assert zero_shot.race(Bigram(), encode, dev, n_ctx=8)["value"] == pytest.approx(0.5)


def test_an_unknown_heuristic_is_named():
    with pytest.raises(ValueError, match="'rte'"):
        zero_shot.run_heuristic("rte", Bigram(), encode, {"evaluate": []}, 8)


def test_a_sample_keeps_the_original_order_and_is_seeded():
    examples = [Example(str(i)) for i in range(50)]
    picked = zero_shot.sample(examples, 10, seed=3)
    assert picked == zero_shot.sample(examples, 10, seed=3) and len(picked) == 10
    assert [int(ex.text) for ex in picked] == sorted(int(ex.text) for ex in picked)
    assert zero_shot.sample(examples, 0, seed=3) == examples


def test_scoring_in_length_sorted_batches_equals_one_pair_at_a_time():
    """continuation_logprobs sorts pairs by length into batches padded to their longest: a real GPT must
    give each pair the scores it gets alone, in the pairs' order."""
    from gpt1.config import GPTConfig
    from gpt1.model import GPT

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=40, n_ctx=24, n_layer=2, n_head=2, n_embd=16, n_inner=32, dropout=0.0)).eval()
    lengths = torch.randint(1, 12, (300, 2)).tolist()
    pairs = [(torch.randint(0, 40, (a,)).tolist(), torch.randint(0, 40, (b,)).tolist()) for a, b in lengths]
    batched = zero_shot.continuation_logprobs(model, pairs, n_ctx=24)
    for pair, scores in zip(pairs, batched):
        (alone,) = zero_shot.continuation_logprobs(model, [pair], n_ctx=24)
        assert scores == pytest.approx(alone, abs=1e-5)
