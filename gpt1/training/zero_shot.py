"""Figure 2 (right): the paper's zero-shot heuristics, which score a language model on tasks it was never
fine-tuned on (section 5, "Zero-shot behaviors"):

- CoLA: the average token log-probability of the sentence, thresholded (the threshold that maximises
  Matthews correlation on a sample of the training set; the paper does not say how it chose one);
- SST-2: append " very" and compare the probabilities of " positive" and " negative";
- RACE: the answer with the highest average token log-probability after the article and question;
- Winograd (DPRD): the pronoun replaced by each candidate, the candidate after which the rest of the sentence
  has the higher average token log-probability.

Each snapshot's model is built from its own `model_config` (gpt1.architectures), so the transformer's snapshots
and the LSTM baseline's are scored alike: `model(idx)` returns `(logits, _)`, `model.config.n_ctx` its context.
The tokenizer needs only `encode(lines)`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gpt1.batching import by_length
from gpt1.files import load_weights_file
from gpt1.progress import Progress
from gpt1.tasks import Example, get_task
from gpt1.tasks.dprd import substitute
from gpt1.tasks.metrics import score

log = logging.getLogger(__name__)

# The tasks with a heuristic, and the score of guessing each (drawn as a dashed line in the figure) in its
# task's metric (metric()).
CHANCE = {"cola": 0.0, "sst2": 0.5, "race": 0.25, "dprd": 0.5}
LOGITS_TOKENS = 16384


def metric(task: str) -> str:
    """What a heuristic's score is: its task's metric in the registry (each zero-shot task has one)."""
    return get_task(task).metrics[0]


def split_continuation(
    encode: Callable, context: str, continuation: str, join: str = " "
) -> tuple[list[int], list[int]]:
    """Token ids of `context` and of `continuation` as they come out when the two are encoded together
    (context + join + continuation), so a BPE never sees a word boundary the whole text does not have."""
    whole, head = encode([f"{context}{join}{continuation}", context])
    n = len(head)
    if whole[:n] != head:  # a merge across the join: fall back to the longest common prefix
        n = next((i for i, (a, b) in enumerate(zip(whole, head)) if a != b), min(len(whole), n))
    return whole[:n], whole[n:]


@torch.inference_mode()
def continuation_logprobs(model, pairs: Sequence[tuple[list[int], list[int]]], n_ctx: int) -> list[np.ndarray]:
    """For each (context, continuation), the log-probability of every continuation token given all before
    it. Contexts lose their first tokens to fit the model's context; a context must keep one token.
    A batch holds at most LOGITS_TOKENS positions, as the model returns logits over the whole vocabulary
    at each (40,478 for the released weights: 2.6 GB of float32 per batch)."""
    device = next(model.parameters()).device
    rows = []
    for context, continuation in pairs:
        continuation = continuation[: n_ctx - 1]
        context = context[-(n_ctx - len(continuation)) :]
        if not context or not continuation:
            raise ValueError("zero-shot scoring needs at least one context and one continuation token")
        rows.append((context, continuation))
    out: list[np.ndarray] = [np.empty(0)] * len(rows)
    bar = Progress("zero-shot scoring", len(rows), unit="seq", short=True)
    for batch in by_length([len(c) + len(k) for c, k in rows], max(1, LOGITS_TOKENS // n_ctx)):
        width = max(len(rows[i][0]) + len(rows[i][1]) for i in batch)
        idx = torch.zeros(len(batch), width, dtype=torch.long)
        for r, i in enumerate(batch):
            context, continuation = rows[i]
            idx[r, : len(context) + len(continuation)] = torch.tensor(context + continuation)
        logits = model(idx.to(device))[0]
        for r, i in enumerate(batch):
            context, continuation = rows[i]
            predicting = logits[r, len(context) - 1 : len(context) + len(continuation) - 1].float()
            logp = F.log_softmax(predicting, dim=-1).cpu()
            out[i] = logp[torch.arange(len(continuation)), torch.tensor(continuation)].numpy()
        bar.update(len(batch))
    bar.close()
    return out


def sentence_scores(model, encode: Callable, texts: list[str], n_ctx: int) -> np.ndarray:
    """Average log-probability per token of each text (its first token, with nothing before it, unscored)."""
    ids = [seq[:n_ctx] for seq in encode(texts)]
    pairs = [(seq[:1], seq[1:]) for seq in ids]
    return np.array([lp.mean() for lp in continuation_logprobs(model, pairs, n_ctx)])


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The cut (a midpoint between sorted scores) whose "acceptable above it" has the best Matthews
    correlation on (scores, labels)."""
    values = np.unique(scores)
    cuts = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2])
    return float(max(cuts, key=lambda cut: score("matthews", labels, (scores > cut).astype(int))))


def cola(model, encode: Callable, train: list[Example], evaluate: list[Example], n_ctx: int) -> dict:
    threshold = best_threshold(
        sentence_scores(model, encode, [ex.text for ex in train], n_ctx), np.array([ex.label for ex in train])
    )
    scores = sentence_scores(model, encode, [ex.text for ex in evaluate], n_ctx)
    value = score("matthews", [ex.label for ex in evaluate], (scores > threshold).astype(int))
    return {"value": value, "threshold": threshold}


def sst2(model, encode: Callable, evaluate: list[Example], n_ctx: int) -> dict:
    """Label 1 (positive) when "<text> very positive" is likelier than "<text> very negative"."""
    totals = []
    for word in ("negative", "positive"):
        pairs = [split_continuation(encode, f"{ex.text} very", word) for ex in evaluate]
        totals.append([lp.sum() for lp in continuation_logprobs(model, pairs, n_ctx)])
    predictions = np.argmax(np.array(totals), axis=0)
    return {"value": score("accuracy", [ex.label for ex in evaluate], predictions)}


def race(model, encode: Callable, evaluate: list[Example], n_ctx: int) -> dict:
    """The choice with the highest average log-probability per token after the article and question."""
    pairs = [split_continuation(encode, ex.text, choice) for ex in evaluate for choice in ex.choices]
    return pick_highest(evaluate, choice_means(model, pairs, evaluate, n_ctx))


def winograd(model, encode: Callable, evaluate: list[Example], n_ctx: int) -> dict:
    """DPRD: the candidate with the higher winograd_scores."""
    return pick_highest(evaluate, winograd_scores(model, encode, evaluate, n_ctx))


def winograd_scores(model, encode: Callable, evaluate: list[Example], n_ctx: int) -> list[np.ndarray]:
    """For each example, each candidate's score: with the candidate in the pronoun's place, the average
    log-probability per token of the rest of the sentence (the tokens after the candidate) given all before it."""
    pairs = [split_continuation(encode, *texts, join="") for ex in evaluate for texts in substitute(ex)]
    return choice_means(model, pairs, evaluate, n_ctx)


def choice_means(model, pairs: list, evaluate: list[Example], n_ctx: int) -> list[np.ndarray]:
    """Each example's average log-probability per continuation token of each of its choices, whose pairs
    follow one another in `pairs`."""
    means = iter([lp.mean() for lp in continuation_logprobs(model, pairs, n_ctx)])
    return [np.array([next(means) for _ in ex.choices]) for ex in evaluate]


def pick_highest(evaluate: list[Example], scores: list[np.ndarray]) -> dict:
    """Accuracy of choosing each example's highest-scoring choice (the first of equals)."""
    predictions = [int(np.argmax(choice_scores)) for choice_scores in scores]
    return {"value": score("accuracy", [ex.label for ex in evaluate], predictions)}


def run_heuristic(task: str, model, encode: Callable, splits: dict[str, list[Example]], n_ctx: int) -> dict:
    """Score `model` with `task`'s heuristic; `splits` has "evaluate" (and "train" for CoLA's threshold)."""
    model.eval()
    if task == "cola":
        return cola(model, encode, splits["train"], splits["evaluate"], n_ctx)
    if task == "sst2":
        return sst2(model, encode, splits["evaluate"], n_ctx)
    if task == "race":
        return race(model, encode, splits["evaluate"], n_ctx)
    if task == "dprd":
        return winograd(model, encode, splits["evaluate"], n_ctx)
    raise ValueError(f"runs.zero_shot: no zero-shot heuristic for {task!r}; choose from {', '.join(CHANCE)}")


def score_snapshots(
    task: str,
    data_dir,
    available: list[str],
    snapshots: list,
    tokenizer,
    max_examples: int,
    seed: int,
    device: torch.device,
    tracker=None,
) -> dict:
    """The heuristic's score on every pretraining snapshot (files written by gpt1.training.pretrain, oldest first,
    of either architecture): the record the zero_shot stage writes. Evaluates on dev (test when there is no
    dev: DPRD). A checkpoint of the released weights (gpt1.weights) scores as one point whose step is None: its
    updates are unknown."""
    from gpt1.architectures import TRANSFORMER, build
    from gpt1.device import describe
    from gpt1.tasks import read_split
    from gpt1.tasks.readers import seeded_sample

    split = next((s for s in ("dev", "test") if s in available), None)
    if split is None or (task == "cola" and "train" not in available):
        raise FileNotFoundError(f"{data_dir}: no {'training' if split else 'evaluation'} split for zero-shot {task}")
    splits = {"evaluate": seeded_sample(read_split(task, split, data_dir), max_examples, seed)}
    if task == "cola":
        splits["train"] = seeded_sample(read_split(task, "train", data_dir), max_examples, seed)
    log.info(
        "zero-shot %s: %s; %d snapshot(s) from %s on %s, torch %s",
        task,
        ", ".join(
            f"{len(examples)} {split if name == 'evaluate' else 'train'} examples" for name, examples in splits.items()
        ),
        len(snapshots),
        Path(snapshots[0]).parent if snapshots else "-",
        describe(device),
        torch.__version__,
    )
    points, architecture = [], TRANSFORMER
    for number, path in enumerate(snapshots, 1):
        started = time.perf_counter()
        state = load_weights_file(path)
        architecture = state["model_config"].get("architecture", TRANSFORMER)
        model = build(state["model_config"])
        model.load_state_dict(state["model"])
        model.to(device)
        result = run_heuristic(task, model, tokenizer.encode, splits, model.config.n_ctx)
        points.append({"step": state["step"], **result})
        log.info(
            "snapshot %d of %d (%s, update %s): %s %.4f, %.1f s",
            number,
            len(snapshots),
            architecture,
            state["step"],
            metric(task),
            result["value"],
            time.perf_counter() - started,
        )
        if tracker:
            tracker.log_metrics({f"zero_shot_{task}": result["value"]}, state["step"])
    return {
        "task": task,
        "status": "done",
        "architecture": architecture,
        "metric": metric(task),
        "chance": CHANCE[task],
        "split": split,
        "n": len(splits["evaluate"]),
        "points": points,
    }
