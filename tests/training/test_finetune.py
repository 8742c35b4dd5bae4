from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gpt1.config import FinetuneConfig, GPTConfig
from gpt1.model import GPT
from gpt1.tasks import TASKS, Example
from gpt1.training.finetune import (
    Encoded,
    TaskModel,
    accumulate,
    collate,
    finetune,
    load_pretrained,
    objective,
    predict,
)
from gpt1.training.schedules import warmup_linear
from gpt1.training.targets import predictions, task_loss
from gpt1.training.variants import Variant

CFG = GPTConfig(vocab_size=50, n_ctx=24, n_layer=2, n_head=2, n_embd=16, n_inner=32, dropout=0.0)


def model_for(task_id: str, n_out: int) -> TaskModel:
    torch.manual_seed(0)
    return TaskModel(GPT(CFG), TASKS[task_id].kind, n_out, clf_dropout=0.0).eval()


def test_batches_are_padded_to_their_longest_sequence():
    batch = [Encoded([[1, 5, 6, 3]], 0, ""), Encoded([[1, 7, 3]], 1, "")]
    idx, extract, labels, n_seq = collate(batch, torch.device("cpu"))
    assert idx.shape == (2, 4) and n_seq == 1
    assert extract.tolist() == [3, 2] and labels.tolist() == [0, 1]
    assert idx[1].tolist() == [1, 7, 3, 0]


def test_similarity_head_is_symmetric_in_its_two_inputs():
    model = model_for("mrpc", 2)
    a, b = [8, 9, 10], [11, 12]
    ab = Encoded([[1, *a, 2, *b, 3], [1, *b, 2, *a, 3]], 0, "")
    ba = Encoded([[1, *b, 2, *a, 3], [1, *a, 2, *b, 3]], 0, "")
    out_ab = model(*collate([ab], torch.device("cpu"))[:2], 2)[0]
    out_ba = model(*collate([ba], torch.device("cpu"))[:2], 2)[0]
    torch.testing.assert_close(out_ab, out_ba)


def test_multiple_choice_loss_is_a_softmax_across_the_answers():
    model = model_for("story_cloze", 1)
    example = Encoded([[1, 5, 6, 2, 7, 3], [1, 5, 6, 2, 8, 9, 3]], 1, "")
    idx, extract, labels, n_seq = collate([example], torch.device("cpu"))
    scores, _ = model(idx, extract, n_seq)
    assert scores.shape == (1, 2)
    by_hand = -torch.log(torch.exp(scores[0, 1]) / torch.exp(scores[0]).sum())
    torch.testing.assert_close(task_loss(TASKS["story_cloze"], scores, labels), by_hand)


def test_lm_loss_covers_real_tokens_only():
    model = model_for("sst2", 2)
    seq = [1, 5, 6, 7, 3]
    short = collate([Encoded([seq], 0, "")], torch.device("cpu"))
    padded = collate([Encoded([seq], 0, ""), Encoded([[1, 5, 6, 7, 8, 9, 10, 3]], 0, "")], torch.device("cpu"))
    lm_alone = model(*short[:2], 1)[1]
    logits = model.gpt(torch.tensor([seq]))[0]
    by_hand = F.cross_entropy(logits[0, :-1], torch.tensor(seq[1:]))
    torch.testing.assert_close(lm_alone, by_hand)
    # In a batch with a longer sequence, padding adds no terms: the mean runs over real next tokens.
    long_logits = model.gpt(padded[0][1:2])[0]
    both = torch.cat(
        [
            F.cross_entropy(logits[0, :-1], torch.tensor(seq[1:]), reduction="none"),
            F.cross_entropy(long_logits[0, :-1], padded[0][1, 1:], reduction="none"),
        ]
    ).mean()
    torch.testing.assert_close(model(*padded[:2], 1)[1], both)


def gradients(model: TaskModel, lm_coef: float) -> torch.Tensor:
    model.zero_grad()
    batch = collate([Encoded([[1, 5, 6, 7, 3]], 1, ""), Encoded([[1, 8, 9, 3]], 0, "")], torch.device("cpu"))
    objective(model, TASKS["sst2"], batch, lm_coef).backward()
    return torch.cat([p.grad.flatten() for p in model.gpt.parameters() if p.grad is not None])


def test_the_auxiliary_lm_term_changes_the_gradient_and_lambda_zero_removes_it():
    model = model_for("sst2", 2)
    with_lm, without = gradients(model, 0.5), gradients(model, 0.0)
    assert not torch.allclose(with_lm, without)
    model.zero_grad()
    batch = collate([Encoded([[1, 5, 6, 7, 3]], 1, ""), Encoded([[1, 8, 9, 3]], 0, "")], torch.device("cpu"))
    outputs, _ = model(*batch[:2], 1)
    task_loss(TASKS["sst2"], outputs, batch[2]).backward()
    task_only = torch.cat([p.grad.flatten() for p in model.gpt.parameters() if p.grad is not None])
    torch.testing.assert_close(without, task_only)


@pytest.mark.parametrize(("task_id", "n_out", "n_seq"), [("sst2", 2, 1), ("mrpc", 2, 2), ("story_cloze", 1, 2)])
def test_four_micro_batches_of_8_give_the_update_of_one_batch_of_32(task_id, n_out, n_seq):
    """Gradient accumulation (finetune.micro_batch_size) with dropout off: the same gradients, so the same
    update, although each micro-batch is padded to its own longest sequence and holds its own share of the LM
    loss's tokens."""
    rng = np.random.default_rng(0)
    labels = [0, 1] if n_seq == 1 or task_id == "mrpc" else list(range(n_seq))
    batch = [
        Encoded(
            [[1, *rng.integers(4, 50, size=rng.integers(2, 20)).tolist(), 3] for _ in range(n_seq)],
            int(rng.choice(labels)),
            "",
        )
        for _ in range(32)
    ]

    def update(micro: int) -> tuple[float, torch.Tensor]:
        model = model_for(task_id, n_out)
        loss = accumulate(model, TASKS[task_id], batch, micro, 0.5, torch.device("cpu"))
        return loss, torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    (whole_loss, whole), (micro_loss, micro) = update(0), update(8)
    reference = model_for(task_id, n_out)
    assert whole_loss == pytest.approx(
        objective(reference, TASKS[task_id], collate(batch, torch.device("cpu")), 0.5).item()
    )
    assert micro_loss == pytest.approx(whole_loss, rel=1e-5)
    torch.testing.assert_close(micro, whole, rtol=1e-4, atol=1e-6)


def test_learning_rate_warms_up_then_decays_linearly():
    assert warmup_linear(1, 1.0, 10, 110) == pytest.approx(0.1)
    assert warmup_linear(10, 1.0, 10, 110) == pytest.approx(1.0)
    assert warmup_linear(60, 1.0, 10, 110) == pytest.approx(0.5)
    assert warmup_linear(110, 1.0, 10, 110) == 0.0


def test_variants_transfer_all_none_or_the_first_layers(tmp_path):
    torch.manual_seed(1)
    saved = GPT(CFG)
    torch.save({"model_config": CFG.to_dict(), "model": saved.state_dict()}, tmp_path / "model.pt")

    def load(name):
        return load_pretrained(tmp_path / "model.pt", torch.device("cpu"), name)[0]

    full, fresh, embeddings_only, one_layer = load("full"), load("no_pretraining"), load("layers0"), load("layers1")
    assert full.config == fresh.config == CFG

    def same(a, b):
        return torch.equal(a.weight, b.weight)

    assert same(full.tokens_embed, saved.tokens_embed) and same(full.h[1].mlp.c_fc, saved.h[1].mlp.c_fc)
    assert not same(fresh.tokens_embed, saved.tokens_embed) and not same(fresh.h[0].attn.c_attn, saved.h[0].attn.c_attn)
    assert fresh.tokens_embed.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert same(embeddings_only.positions_embed, saved.positions_embed)
    assert not same(embeddings_only.h[0].attn.c_attn, saved.h[0].attn.c_attn)
    assert same(one_layer.h[0].attn.c_attn, saved.h[0].attn.c_attn) and same(one_layer.h[0].ln_2, saved.h[0].ln_2)
    assert not same(one_layer.h[1].attn.c_attn, saved.h[1].attn.c_attn)


def test_a_checkpoint_that_does_not_fit_is_refused(tmp_path):
    state = GPT(CFG).state_dict()
    del state["h.1.ln_2.bias"]
    torch.save({"model_config": CFG.to_dict(), "model": state}, tmp_path / "model.pt")
    assert load_pretrained(tmp_path / "model.pt", torch.device("cpu"), "layers1")[1].layers == 1  # not transferred
    with pytest.raises(ValueError, match=r"missing \['h.1.ln_2.bias'\]"):
        load_pretrained(tmp_path / "model.pt", torch.device("cpu"), "full")


@pytest.mark.parametrize("name", ["layers9", "layers", "no_pre", "layers-1"])
def test_a_bad_variant_is_named(name):
    with pytest.raises(ValueError, match=f"variant {name!r}"):
        Variant.parse(name, n_layer=2)


def test_only_no_aux_lm_turns_the_lm_objective_off():
    assert [Variant.parse(n, 2).aux_lm for n in ("full", "no_pretraining", "no_aux_lm", "layers1")] == [
        True,
        True,
        False,
        True,
    ]


class WordTokenizer:
    """One id per word of a fixed vocabulary, then the three task tokens (the interface of gpt1.text.tokenizers)."""

    def __init__(self, words: list[str]):
        self.ids = {w: i for i, w in enumerate(words)}
        self.start_id, self.delimiter_id, self.extract_id = len(words), len(words) + 1, len(words) + 2
        self.vocab_size = len(words) + 3

    def encode(self, texts: list[str]) -> list[list[int]]:
        return [[self.ids[w] for w in text.split()] for text in texts]


def keyword_examples(task_id: str, n: int, seed: int) -> list[Example]:
    """Random filler with the one word that decides the label at a random place, in sentences of 3-12 words,
    so that a head reading anything but the extract token's state (a pad, a fixed position) cannot score."""
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(20)]

    def sentence(keyword: str) -> str:
        words = list(rng.choice(filler, size=rng.integers(2, 12)))
        words.insert(rng.integers(0, len(words) + 1), keyword)
        return " ".join(words)

    examples = []
    for _ in range(n):
        label = int(rng.integers(0, 2))
        if task_id == "sst2":  # "good" is positive (label 1)
            examples.append(Example(sentence(["bad", "good"][label]), label=label))
        else:  # Story Cloze: the right ending holds "good"; the context is filler
            endings = [sentence("bad"), sentence("bad")]
            endings[label] = sentence("good")
            examples.append(Example(sentence("w0"), choices=tuple(endings), label=label))
    return examples


@pytest.mark.parametrize("task_id", ["sst2", "story_cloze"])
def test_fine_tuning_learns_a_task_that_a_keyword_decides(task_id, tmp_path):
    """From fresh weights, the real training loop must reach near-perfect dev accuracy on a task whose
    label one word decides: a bug in the extract position, padding, head or loss leaves it at chance."""
    tokenizer = WordTokenizer([f"w{i}" for i in range(20)] + ["good", "bad"])
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=tokenizer.vocab_size, n_ctx=32, n_layer=2, n_head=2, n_embd=32, n_inner=64)
    torch.save({"model_config": cfg.to_dict(), "model": GPT(cfg).state_dict()}, tmp_path / "model.pt")
    train_cfg = FinetuneConfig(lr=3e-3, batch_size=16, epochs=4, warmup=0.1, seed=0, device="cpu")
    result = finetune(
        TASKS[task_id],
        keyword_examples(task_id, 400, seed=1),
        {"dev": keyword_examples(task_id, 200, seed=2)},
        tmp_path / "model.pt",
        tokenizer,
        train_cfg,
        tmp_path / "work",
    )
    assert result["results"]["dev"]["metrics"]["accuracy"] >= 0.95


def score_examples(n: int, seed: int) -> list[Example]:
    """STS-B-like pairs: each sentence holds one of the words s0..s5 at a random place; the score is the mean of
    the two digits (0, 0.5, ..., 5), so that half the scores fall between two classes."""
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(20)]

    def sentence(digit: int) -> str:
        words = list(rng.choice(filler, size=rng.integers(2, 10)))
        words.insert(rng.integers(0, len(words) + 1), f"s{digit}")
        return " ".join(words)

    pairs = rng.integers(0, 6, size=(n, 2))
    return [Example(sentence(a), sentence(b), label=(a + b) / 2) for a, b in pairs]


@pytest.mark.parametrize("stsb_target", ["soft_labels", "regression"])
def test_fine_tuning_learns_a_score_with_either_stsb_target(stsb_target, tmp_path):
    tokenizer = WordTokenizer([f"w{i}" for i in range(20)] + [f"s{d}" for d in range(6)])
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=tokenizer.vocab_size, n_ctx=32, n_layer=2, n_head=2, n_embd=32, n_inner=64)
    torch.save({"model_config": cfg.to_dict(), "model": GPT(cfg).state_dict()}, tmp_path / "model.pt")
    train_cfg = FinetuneConfig(
        lr=3e-3, batch_size=16, epochs=12, warmup=0.1, seed=0, device="cpu", stsb_target=stsb_target
    )
    dev = score_examples(200, seed=2)
    result = finetune(
        TASKS["stsb"], score_examples(400, seed=1), {"dev": dev}, tmp_path / "model.pt", tokenizer, train_cfg, tmp_path
    )
    assert result["results"]["dev"]["metrics"]["pearson"] >= 0.9


@pytest.mark.parametrize(("task_id", "n_out"), [("sst2", 2), ("stsb", 1), ("stsb", 6), ("story_cloze", 1)])
def test_predictions_in_length_sorted_batches_equal_one_example_at_a_time(task_id, n_out):
    """predict() sorts examples by length into large batches; each prediction must land at its own index."""
    model = model_for(task_id, n_out)
    rng = np.random.default_rng(0)
    n_seq = 2 if TASKS[task_id].kind in ("similarity", "multiple_choice") else 1
    data = [
        Encoded([[1, *rng.integers(4, 50, size=rng.integers(1, 20)).tolist(), 3] for _ in range(n_seq)], 0, "")
        for _ in range(300)
    ]
    with torch.no_grad():
        one_by_one = [
            predictions(TASKS[task_id], model(*collate([ex], torch.device("cpu"))[:2], n_seq, lm=False)[0])[0]
            for ex in data
        ]
    batched = predict(model, TASKS[task_id], data, torch.device("cpu"))
    assert batched.tolist() == pytest.approx(one_by_one, abs=1e-5)


def test_story_cloze_predicts_test_with_the_epoch_best_on_held_out_stories(tmp_path):
    """The held-out stories' labels are flipped, so the better the model learns the task, the worse it scores
    there: the first epoch is selected, and the test set (labels as trained) is predicted with its weights,
    not the final ones. Selection must not change training: the last epoch's held-out score is a plain run's."""
    tokenizer = WordTokenizer([f"w{i}" for i in range(20)] + ["good", "bad"])
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=tokenizer.vocab_size, n_ctx=32, n_layer=2, n_head=2, n_embd=32, n_inner=64)
    torch.save({"model_config": cfg.to_dict(), "model": GPT(cfg).state_dict()}, tmp_path / "model.pt")
    train_cfg = FinetuneConfig(lr=1e-3, batch_size=16, epochs=4, warmup=0.1, seed=0, device="cpu")
    flipped = [replace(ex, label=1 - ex.label) for ex in keyword_examples("story_cloze", 100, seed=2)]
    evals = {"test": keyword_examples("story_cloze", 200, seed=3), "dev": flipped}
    task, train = TASKS["story_cloze"], keyword_examples("story_cloze", 400, seed=1)

    def run(select_on):
        work = tmp_path / str(select_on)
        return finetune(task, train, evals, tmp_path / "model.pt", tokenizer, train_cfg, work, None, select_on)

    selected, final = run("dev"), run(None)
    scores = [epoch["accuracy"] for epoch in selected["selection"]["epochs"]]
    assert [e["epoch"] for e in selected["selection"]["epochs"]] == [1, 2, 3, 4]
    assert selected["selection"]["best_epoch"] == scores.index(max(scores)) + 1 < 4
    assert selected["results"]["dev"]["metrics"]["accuracy"] == max(scores)
    assert scores[-1] == final["results"]["dev"]["metrics"]["accuracy"]
    assert final["results"]["test"]["metrics"]["accuracy"] >= 0.95
    assert selected["results"]["test"]["metrics"]["accuracy"] < final["results"]["test"]["metrics"]["accuracy"]
    assert final["selection"] is None
