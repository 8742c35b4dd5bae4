"""Fine-tuning: the pretrained model, a linear head on the state at the extract token, L3 = L2 + λ L1.

Reads as setup -> train -> evaluate. Batches are padded to their longest sequence, not to the context, and
hold examples of similar lengths (gpt1.batching).
A checkpoint after every epoch lets a rerun resume, as in pretraining.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from gpt1.architectures import build
from gpt1.batching import INFERENCE_BATCH, by_length, training_batches
from gpt1.config import FinetuneConfig, Variant
from gpt1.device import describe, mixed_precision, resolve_device
from gpt1.files import load_weights_file
from gpt1.model import decay_groups
from gpt1.progress import Progress
from gpt1.tasks import Example, Task
from gpt1.tasks.metrics import score
from gpt1.tasks.transform import TaskTokens, sequences
from gpt1.training import checkpoint
from gpt1.training.diverged import check_loss
from gpt1.training.schedules import warmup_linear
from gpt1.training.selection import BestEpoch
from gpt1.training.targets import n_outputs, predictions, scored, task_loss

log = logging.getLogger(__name__)

LOG_EVERY = 10  # updates between training-loss points in MLflow
DIVERGED_ADVICE = "lower finetune.lr (the last epoch's checkpoint is kept and the stage wrote no outputs)"


class TaskModel(nn.Module):
    """A language model (gpt1.architectures) plus one linear head on its state at the extract token. Input: B
    examples of S sequences each, flattened to (B*S, T)."""

    def __init__(self, gpt: nn.Module, kind: str, n_outputs: int, clf_dropout: float):
        super().__init__()
        self.gpt, self.kind = gpt, kind
        self.dropout = nn.Dropout(clf_dropout)
        self.head = nn.Linear(gpt.config.n_embd, n_outputs)
        nn.init.normal_(self.head.weight, std=gpt.config.init_std)
        nn.init.zeros_(self.head.bias)

    def forward(
        self, idx: torch.Tensor, extract: torch.Tensor, n_seq: int, lm: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(task outputs, LM loss over the real tokens, or None when not `lm`).
        Outputs: (B, n_outputs); (B, S) for multiple choice."""
        h = self.gpt.hidden_states(idx)
        lm_loss = self.lm_loss(h, idx, extract) if lm else None
        at_extract = h[torch.arange(len(idx), device=idx.device), extract].view(-1, n_seq, h.size(-1))  # (B, S, C)
        if self.kind == "multiple_choice":
            return self.head(self.dropout(at_extract)).squeeze(-1), lm_loss  # a score per answer
        if self.kind == "similarity":
            return self.head(self.dropout(at_extract.sum(1))), lm_loss  # both orders, added
        return self.head(self.dropout(at_extract[:, 0])), lm_loss

    def lm_loss(self, h: torch.Tensor, idx: torch.Tensor, extract: torch.Tensor) -> torch.Tensor:
        targets = idx[:, 1:].masked_fill(torch.arange(1, idx.size(1), device=idx.device) > extract[:, None], -1)
        return F.cross_entropy(self.gpt.lm_logits(h[:, :-1]).flatten(0, 1), targets.flatten(), ignore_index=-1)


def objective(
    model: TaskModel, task: Task, batch: tuple, lm_coef: float, task_share: float = 1.0, lm_share: float = 1.0
) -> torch.Tensor:
    """L3 = L2 + λ L1: the task loss plus λ times the LM loss on the task's own tokens. For a micro-batch, each
    part times its share of the batch (of its examples; of its LM tokens)."""
    idx, extract, labels, n_seq = batch
    outputs, lm_loss = model(idx, extract, n_seq, lm=bool(lm_coef))
    loss = task_loss(task, outputs, labels) * task_share
    return loss + lm_coef * lm_loss * lm_share if lm_coef else loss


def accumulate(model: TaskModel, task: Task, batch: list[Encoded], micro: int, lm_coef: float, device) -> float:
    """Backpropagate L3 on `batch` in micro-batches of `micro` examples (0: all at once); return L3. The task
    loss is a mean over examples and the LM loss a mean over tokens, so each micro-batch's part is weighted
    by its share of the batch's examples and of its tokens: the gradients are the whole batch's."""
    micro = micro or len(batch)
    parts = [collate(batch[i : i + micro], device) for i in range(0, len(batch), micro)]
    tokens = sum(int(extract.sum()) for _, extract, _, _ in parts)  # LM targets: positions 1..extract
    total = 0.0
    for part in parts:
        _, extract, labels, _ = part
        with mixed_precision(device):
            loss = objective(model, task, part, lm_coef, len(labels) / len(batch), int(extract.sum()) / tokens)
        loss.backward()
        total += loss.item()
    return total


@dataclass
class Encoded:
    seqs: list[list[int]]
    label: float
    subset: str

    @property
    def width(self) -> int:
        """Its longest sequence: what a batch holding it is padded to, at least."""
        return max(len(seq) for seq in self.seqs)


def encode_examples(task: Task, examples: list[Example], tokenizer, n_ctx: int) -> list[Encoded]:
    tok = TaskTokens(tokenizer.start_id, tokenizer.delimiter_id, tokenizer.extract_id)
    return [Encoded(sequences(task.kind, ex, tokenizer.encode, tok, n_ctx), ex.label, ex.subset) for ex in examples]


def collate(batch: list[Encoded], device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Pad to the longest sequence in the batch: (idx, extract positions, labels, sequences per example)."""
    flat = [seq for ex in batch for seq in ex.seqs]
    idx = torch.zeros(len(flat), max(ex.width for ex in batch), dtype=torch.long)
    for row, seq in enumerate(flat):
        idx[row, : len(seq)] = torch.tensor(seq)
    extract = torch.tensor([len(seq) - 1 for seq in flat])
    labels = torch.tensor([ex.label for ex in batch])
    return idx.to(device), extract.to(device), labels.to(device), len(batch[0].seqs)


def load_pretrained(weights: Path, device: torch.device, variant_name: str = "full") -> tuple[nn.Module, Variant, dict]:
    """The model to fine-tune, shaped as the checkpoint, with the pretrained weights its variant transfers
    (all of them, none, or the embeddings and the first K blocks); the rest keep their fresh init."""
    state = load_weights_file(weights, map_location=device)
    gpt = build(state["model_config"])
    variant = Variant.parse(variant_name, gpt.config.n_layer)
    architecture = state["model_config"].get("architecture", "transformer")
    if architecture != variant.architecture:
        raise ValueError(
            f"{weights}: a checkpoint of the {architecture}, but finetune variant {variant.name!r} fine-tunes the "
            f"{variant.architecture}'s: pass the {variant.architecture}'s pretrained model.pt"
        )
    transferred = {k: v for k, v in state["model"].items() if variant.transfers(k)}
    loaded = gpt.load_state_dict(transferred, strict=False)
    missing = [k for k in loaded.missing_keys if variant.transfers(k)]
    if missing or loaded.unexpected_keys:
        raise ValueError(
            f"{weights}: its weights do not fit a model of its own config (missing {missing[:3]}, "
            f"unexpected {loaded.unexpected_keys[:3]}): is it a gpt1 checkpoint?"
        )
    return gpt.to(device), variant, state


@torch.inference_mode()
def predict(model: TaskModel, task: Task, data: list[Encoded], device: torch.device, desc: str = "") -> np.ndarray:
    """The model's answer for each example, in `data`'s order: large batches of similar lengths, no LM loss."""
    model.eval()
    preds = np.zeros(len(data), dtype=np.float32 if scored(task) else np.int64)
    n_seq = len(data[0].seqs)
    with Progress(desc or f"predict {task.id}", len(data), unit="ex", short=True) as bar:
        for batch in by_length([ex.width for ex in data], INFERENCE_BATCH // n_seq):
            idx, extract, _, _ = collate([data[i] for i in batch], device)
            with mixed_precision(device):
                preds[batch] = predictions(task, model(idx, extract, n_seq, lm=False)[0])
            bar.update(len(batch))
    model.train()
    return preds


def evaluate(model: TaskModel, task: Task, data: list[Encoded], device: torch.device, split: str = "") -> dict:
    """Metrics on a labelled split, overall and per subset (MNLI matched/mismatched, RACE middle/high)."""
    started = time.perf_counter()
    preds = predict(model, task, data, device, f"evaluate {task.id} {split}".strip())
    gold = np.array([ex.label for ex in data])
    result = {"n": len(data), "metrics": {m: score(m, gold, preds) for m in task.metrics}}
    subsets = sorted({ex.subset for ex in data} - {""})
    if subsets:
        result["subsets"] = {}
        for subset in subsets:
            mask = np.array([ex.subset == subset for ex in data])
            metrics = {m: score(m, gold[mask], preds[mask]) for m in task.metrics}
            result["subsets"][subset] = {"n": int(mask.sum()), "metrics": metrics}
    log.info(
        "%s %s: %d examples in %.1f s: %s", task.id, split, len(data), time.perf_counter() - started, result["metrics"]
    )
    return result


def run_key(task: Task, cfg: FinetuneConfig, pretrained: Path, n_train: int, select_on: str | None) -> str:
    """What a checkpoint must match to be resumed; `select_on` too, since its checkpoints carry every epoch's
    held-out score (one written without them is set aside, not resumed without them)."""
    settings = {k: v for k, v in asdict(cfg).items() if k != "device"}
    return checkpoint.run_key(task.id, settings, str(pretrained), pretrained.stat().st_mtime_ns, n_train, select_on)


def finetune(
    task: Task,
    train: list[Example],
    evals: dict[str, list[Example]],
    weights: Path,
    tokenizer,
    cfg: FinetuneConfig,
    work_dir: Path,
    tracker=None,
    select_on: str | None = None,
) -> dict:
    """Fine-tune on `train`, evaluate on each split of `evals`; return the results (see metrics files).
    `select_on`: a split of `evals` scored after each epoch; the evaluation then uses the best epoch's weights
    (gpt1.training.selection). Without it, the final weights, as the paper reports."""
    device = resolve_device(cfg.device)
    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    gpt, variant, pretrained = load_pretrained(weights, device, cfg.variant)
    if tokenizer.vocab_size > gpt.config.vocab_size:
        raise ValueError(
            f"the tokenizer has {tokenizer.vocab_size} tokens, {weights}'s model only "
            f"{gpt.config.vocab_size}: pass the tokenizer the checkpoint was trained or imported with"
        )
    lm_coef = cfg.lm_coef if variant.aux_lm else 0.0
    model = TaskModel(gpt, task.kind, n_outputs(task, cfg.stsb_target), cfg.clf_dropout).to(device)
    train_data = encode_examples(task, train, tokenizer, gpt.config.n_ctx)
    eval_data = {
        split: encode_examples(task, examples, tokenizer, gpt.config.n_ctx) for split, examples in evals.items()
    }

    optimizer = torch.optim.AdamW(
        decay_groups(model, cfg.weight_decay),
        lr=cfg.lr,
        betas=(0.9, 0.999),
        eps=1e-8,
        fused=device.type == "cuda",
    )
    per_epoch = math.ceil(len(train_data) / cfg.batch_size)
    total = per_epoch * cfg.epochs
    warmup = max(1, round(cfg.warmup * total))
    key = run_key(task, cfg, weights, len(train_data), select_on)
    first_epoch, curves, saved = checkpoint.resume(work_dir / checkpoint.FILE, key, model, optimizer, device)
    selection = BestEpoch(select_on, task.metrics[0], saved.get("selection")) if select_on else None

    step = first_epoch * per_epoch
    log.info(
        "%s: %d training examples, evaluated on %s; %d updates (%d epochs of %d), %s; "
        "pretrained weights %s (variant %s); device %s, torch %s",
        task.id,
        len(train_data),
        ", ".join(f"{split} ({len(data)})" for split, data in eval_data.items()),
        total,
        cfg.epochs,
        per_epoch,
        f"resuming after epoch {first_epoch}" if first_epoch else "from the start",
        weights,
        cfg.variant,
        describe(device),
        torch.__version__,
    )
    widths = [ex.width for ex in train_data]
    bar = Progress(f"finetune {task.id}", total, unit="step", initial=step)
    for epoch in range(first_epoch, cfg.epochs):
        batches = training_batches(widths, cfg.batch_size, np.random.default_rng([cfg.seed, epoch]))
        losses = []
        for b, indices in enumerate(batches):
            step += 1
            lr = warmup_linear(step, cfg.lr, warmup, total)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = accumulate(model, task, [train_data[j] for j in indices], cfg.micro_batch_size, lm_coef, device)
            check_loss(loss, step, f"finetune {task.id}", DIVERGED_ADVICE)  # before the step: no update is made
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or float("inf"))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss)
            bar.set_postfix(loss=f"{np.mean(losses[-LOG_EVERY:]):.3f}")
            bar.update(1)
            if step % LOG_EVERY == 0 or b == len(batches) - 1:  # and at each epoch's end
                point = {"step": step, "epoch": epoch + 1, "train_loss": float(np.mean(losses[-LOG_EVERY:])), "lr": lr}
                curves.append(point)
                if tracker:
                    tracker.log_metrics({"train_loss": point["train_loss"], "lr": lr}, step)
        log.info("%s epoch %d: train loss %.4f", task.id, epoch + 1, float(np.mean(losses)))
        extra = {}
        if selection:
            held_out = evaluate(model, task, eval_data[select_on], device, f"{select_on} after epoch {epoch + 1}")
            selection.after_epoch(epoch + 1, held_out["metrics"], model)
            extra["selection"] = selection.state()
        checkpoint.save(work_dir / checkpoint.FILE, key, model, optimizer, epoch + 1, curves, **extra)
    bar.close()

    if selection:
        selection.load_best(model)
    results = {split: evaluate(model, task, data, device, split) for split, data in eval_data.items()}
    return {
        "results": results,
        "curves": curves,
        "n_train": len(train_data),
        "n_layer": gpt.config.n_layer,
        "updates": total,
        "pretrain_run_id": pretrained.get("mlflow_run_id"),
        "source": pretrained.get("source"),  # "openai-gpt" for the imported released weights (gpt1.weights)
        "selection": selection.summary() if selection else None,
        "wall_s": time.perf_counter() - started,
    }
