"""The zero-shot heuristics on a fixed bigram "language model" whose scores can be worked out by hand, the
Winograd heuristic against transformers' OpenAIGPT, and snapshots of either architecture."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from conftest import FIXTURES, SHARED_DATA
from gpt1.config import GPTConfig, LSTMConfig
from gpt1.lstm import LSTMLM
from gpt1.model import GPT
from gpt1.stages.zero_shot import HEURISTICS
from gpt1.tasks import Example, read_split
from gpt1.tasks.readers import seeded_sample
from gpt1.training import zero_shot

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
    picked = seeded_sample(examples, 10, seed=3)
    assert picked == seeded_sample(examples, 10, seed=3) and len(picked) == 10
    assert [int(ex.text) for ex in picked] == sorted(int(ex.text) for ex in picked)
    assert seeded_sample(examples, 0, seed=3) == examples


def test_scoring_in_length_sorted_batches_equals_one_pair_at_a_time():
    """continuation_logprobs sorts pairs by length into batches padded to their longest: a real GPT must
    give each pair the scores it gets alone, in the pairs' order."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=40, n_ctx=24, n_layer=2, n_head=2, n_embd=16, n_inner=32, dropout=0.0)).eval()
    lengths = torch.randint(1, 12, (300, 2)).tolist()
    pairs = [(torch.randint(0, 40, (a,)).tolist(), torch.randint(0, 40, (b,)).tolist()) for a, b in lengths]
    batched = zero_shot.continuation_logprobs(model, pairs, n_ctx=24)
    for pair, scores in zip(pairs, batched):
        (alone,) = zero_shot.continuation_logprobs(model, [pair], n_ctx=24)
        assert scores == pytest.approx(alone, abs=1e-5)


def test_winograd_scores_the_rest_of_the_sentence_after_each_candidate():
    dev = [
        Example("a b x b", text_b="x", choices=("a", "b"), label=0),
        Example("b a x a", text_b="x", choices=("b", "a"), label=0),
    ]
    # 1st: "a b [a] b" scores log P(b | a) = log .4, "a b [b] b" log P(b | b) = log .1 -> "a" (right).
    # 2nd: "b a [b] a" scores log P(a | b) = log .2, "b a [a] a" log P(a | a) = log .5 -> "a" (wrong).
    scores = zero_shot.winograd_scores(Bigram(), encode, dev, n_ctx=8)
    assert np.array(scores) == pytest.approx(np.log([[0.4, 0.1], [0.2, 0.5]]))
    assert zero_shot.run_heuristic("dprd", Bigram(), encode, {"evaluate": dev}, 8)["value"] == pytest.approx(0.5)


def test_the_stage_offers_every_heuristic():
    assert tuple(zero_shot.CHANCE) == HEURISTICS
    assert [zero_shot.metric(task) for task in HEURISTICS] == ["matthews", "accuracy", "accuracy", "accuracy"]


# --------------------------------------------------------------------------------------------------
# The Winograd heuristic against an independent implementation: transformers' OpenAIGPT on the same weights


class Characters:
    """A tokenizer of one id per character (DPRD is ASCII): the split between candidate and rest is exact."""

    vocab_size = 128

    @staticmethod
    def encode(lines):
        return [[min(ord(c), 127) for c in line] for line in lines]


def tiny_gpt(n_ctx: int = 256) -> GPT:
    """A random transformer for Characters (transformers' OpenAIGPT has a feed-forward of 4 n_embd), its
    weights drawn wide enough that its predictions, unlike a fresh model's near-uniform ones, tell the
    candidates apart."""
    torch.manual_seed(0)
    cfg = GPTConfig(
        vocab_size=Characters.vocab_size, n_ctx=n_ctx, n_layer=2, n_head=2, n_embd=16, n_inner=64, dropout=0.0
    )
    model = GPT(cfg).eval()
    with torch.no_grad():
        for weight in model.parameters():
            weight.normal_(std=0.3)
    return model


def reference_scores(logits_of, examples: list[Example], substituted) -> list[list[float]]:
    """Each candidate's mean log-probability of the rest of the sentence, one whole sentence at a time, in
    float64: `logits_of(ids)` gives the (T, vocab) logits of one sequence; `substituted(example)` its texts."""
    out = []
    for example in examples:
        scores = []
        for context, rest in substituted(example):
            ids = Characters.encode([context + rest])[0]
            with torch.no_grad():
                logp = torch.log_softmax(logits_of(torch.tensor([ids]))[0].double(), dim=-1)
            rest_positions = torch.arange(len(context), len(ids))
            scores.append(logp[rest_positions - 1, torch.tensor(ids)[rest_positions]].mean().item())
        out.append(scores)
    return out


def agree_with_transformers(examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    """gpt1's scores and transformers' for `examples`, the candidates put in place by gpt1.tasks.dprd."""
    pytest.importorskip("transformers")
    from gpt1.tasks.dprd import substitute
    from gpt1.weights import to_transformers

    model = tiny_gpt()
    hf = to_transformers(model)
    ours = np.array(zero_shot.winograd_scores(model, Characters.encode, examples, model.config.n_ctx))
    theirs = np.array(reference_scores(lambda idx: hf(idx).logits, examples, substitute))
    return ours, theirs


def test_winograd_agrees_with_transformers_on_every_fixture_example():
    examples = read_split("dprd", "test", FIXTURES / "tasks") + read_split("dprd", "test", FIXTURES / "smoke_tasks")
    ours, theirs = agree_with_transformers(examples)
    assert ours == pytest.approx(theirs, abs=1e-5)
    assert ours.argmax(axis=1).tolist() == theirs.argmax(axis=1).tolist()
    assert (np.abs(ours[:, 0] - ours[:, 1]) > 1e-4).all()  # no near-tie that rounding could decide


@pytest.mark.skipif(not (SHARED_DATA / "DPRD").is_dir(), reason=f"no real DPRD at {SHARED_DATA / 'DPRD'}")
def test_winograd_agrees_with_transformers_on_the_real_test_set():
    examples = read_split("dprd", "test", SHARED_DATA)
    assert len(examples) == 564
    ours, theirs = agree_with_transformers(examples)
    assert ours == pytest.approx(theirs, abs=1e-5)
    clear = np.abs(theirs[:, 0] - theirs[:, 1]) > 1e-4  # a near-tie may go either way in float32
    assert clear.mean() > 0.95
    assert ours.argmax(axis=1)[clear].tolist() == theirs.argmax(axis=1)[clear].tolist()


# --------------------------------------------------------------------------------------------------
# Snapshots of either architecture


def snapshot(path, model, step: int):
    torch.save({"model_config": model.config.to_dict(), "model": model.state_dict(), "step": step}, path)
    return path


def test_lstm_snapshots_are_scored_and_recorded_as_lstm(tmp_path):
    """score_snapshots builds each snapshot's own architecture; the LSTM's scores equal a whole-sentence
    reference computed with the same LSTM."""
    torch.manual_seed(0)
    lstm = LSTMLM(LSTMConfig(vocab_size=128, n_ctx=256, n_hidden=16, n_embd=16, dropout=0.0)).eval()
    paths = [snapshot(tmp_path / "step0000000.pt", lstm, 0)]
    torch.nn.init.normal_(lstm.tokens_embed.weight, std=0.5)  # a second, different snapshot
    paths.append(snapshot(tmp_path / "step0000010.pt", lstm, 10))

    record = zero_shot.score_snapshots(
        "dprd", FIXTURES / "tasks", ["train", "test"], paths, Characters(), 0, 0, torch.device("cpu")
    )
    assert record["architecture"] == "lstm" and record["split"] == "test" and record["n"] == 6
    assert (record["metric"], record["chance"]) == ("accuracy", 0.5)
    assert [p["step"] for p in record["points"]] == [0, 10]

    from gpt1.tasks.dprd import substitute

    examples = read_split("dprd", "test", FIXTURES / "tasks")
    reference = np.array(reference_scores(lambda idx: lstm(idx)[0], examples, substitute))
    expected = np.mean(reference.argmax(axis=1) == [ex.label for ex in examples])
    assert record["points"][1]["value"] == pytest.approx(expected)
    json.dumps(record)  # the stage writes it as JSON


def test_a_transformer_snapshot_is_recorded_as_transformer(tmp_path):
    path = snapshot(tmp_path / "step0000005.pt", tiny_gpt(), 5)
    record = zero_shot.score_snapshots(
        "dprd", FIXTURES / "tasks", ["test"], [path], Characters(), 4, 0, torch.device("cpu")
    )
    assert record["architecture"] == "transformer" and record["n"] == 4 and record["points"][0]["step"] == 5
