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
from gpt1.config import FinetuneConfig
from gpt1.device import describe, mixed_precision, resolve_device
from gpt1.files import load_weights_file
from gpt1.model import decay_groups
from gpt1.progress import Progress
from gpt1.tasks import Example, Task
from gpt1.tasks.metrics import score
from gpt1.tasks.transform import TaskTokens, sequences
from gpt1.training import checkpoint
from gpt1.training.diverged import check_loss
from gpt1.training.schedules import set_lr, warmup_linear
from gpt1.training.selection import BestEpoch
from gpt1.training.targets import n_outputs, predictions, scored, task_loss
from gpt1.training.variants import Variant

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


@dataclass
class FineTuning:
    """What the loop needs, from `setup`: the model with its head, the encoded data, the optimizer and schedule,
    where to resume."""

    task: Task
    cfg: FinetuneConfig
    device: torch.device
    model: TaskModel
    pretrained: dict
    """The checkpoint fine-tuning starts from (its config, weights and provenance)."""
    lm_coef: float
    """λ, or 0 for the variant without the auxiliary LM objective."""
    train_data: list[Encoded]
    eval_data: dict[str, list[Encoded]]
    optimizer: torch.optim.Optimizer
    per_epoch: int
    """Updates per epoch."""
    warmup: int
    """Updates of linear warm-up (finetune.warmup of all of them, at least 1)."""
    key: str
    """The run key its checkpoints carry (run_key)."""
    first_epoch: int
    """Epochs already done, by the checkpoint resumed (0: none)."""
    curves: list[dict]
    """The training-loss points so far, the checkpoint's when resumed."""
    selection: BestEpoch | None
    """The epoch selection on a held-out split, or None to keep the final weights."""

    @property
    def total(self) -> int:
        """The updates of the whole run."""
        return self.per_epoch * self.cfg.epochs


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
    started = time.perf_counter()
    run = setup(task, train, evals, weights, tokenizer, cfg, work_dir, select_on)
    train_epochs(run, work_dir, tracker)
    if run.selection:
        run.selection.load_best(run.model)
    results = {split: evaluate(run.model, task, data, run.device, split) for split, data in run.eval_data.items()}
    return {
        "results": results,
        "curves": run.curves,
        "n_train": len(run.train_data),
        "n_layer": run.model.gpt.config.n_layer,
        "updates": run.total,
        "pretrain_run_id": run.pretrained.get("mlflow_run_id"),
        "source": run.pretrained.get("source"),  # "openai-gpt" for the imported released weights (gpt1.weights)
        "selection": run.selection.summary() if run.selection else None,
        "wall_s": time.perf_counter() - started,
    }


def setup(
    task: Task,
    train: list[Example],
    evals: dict[str, list[Example]],
    weights: Path,
    tokenizer,
    cfg: FinetuneConfig,
    work_dir: Path,
    select_on: str | None,
) -> FineTuning:
    """The pretrained model with a fresh head, the encoded examples, AdamW and the schedule's lengths, resumed
    from `work_dir`'s checkpoint when it is this run's (run_key)."""
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    gpt, variant, pretrained = load_pretrained(weights, device, cfg.variant)
    if tokenizer.vocab_size > gpt.config.vocab_size:
        raise ValueError(
            f"the tokenizer has {tokenizer.vocab_size} tokens, {weights}'s model only "
            f"{gpt.config.vocab_size}: pass the tokenizer the checkpoint was trained or imported with"
        )
    model = TaskModel(gpt, task.kind, n_outputs(task, cfg.stsb_target), cfg.clf_dropout).to(device)
    train_data = encode_examples(task, train, tokenizer, gpt.config.n_ctx)
    eval_data = {
        split: encode_examples(task, examples, tokenizer, gpt.config.n_ctx) for split, examples in evals.items()
    }
    optimizer = torch.optim.AdamW(
        decay_groups(model, cfg.weight_decay),
        lr=cfg.lr,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        eps=cfg.adam_eps,
        fused=device.type == "cuda",
    )
    per_epoch = math.ceil(len(train_data) / cfg.batch_size)
    key = run_key(task, cfg, weights, len(train_data), select_on)
    first_epoch, curves, saved = checkpoint.resume(work_dir / checkpoint.FILE, key, model, optimizer, device)
    run = FineTuning(
        task=task,
        cfg=cfg,
        device=device,
        model=model,
        pretrained=pretrained,
        lm_coef=cfg.lm_coef if variant.aux_lm else 0.0,
        train_data=train_data,
        eval_data=eval_data,
        optimizer=optimizer,
        per_epoch=per_epoch,
        warmup=max(1, round(cfg.warmup * (per_epoch * cfg.epochs))),
        key=key,
        first_epoch=first_epoch,
        curves=curves,
        selection=BestEpoch(select_on, task.metrics[0], saved.get("selection")) if select_on else None,
    )
    log_plan(run, weights)
    return run


def log_plan(run: FineTuning, weights: Path) -> None:
    log.info(
        "%s: %d training examples, evaluated on %s; %d updates (%d epochs of %d), %s; "
        "pretrained weights %s (variant %s); device %s, torch %s",
        run.task.id,
        len(run.train_data),
        ", ".join(f"{split} ({len(data)})" for split, data in run.eval_data.items()),
        run.total,
        run.cfg.epochs,
        run.per_epoch,
        f"resuming after epoch {run.first_epoch}" if run.first_epoch else "from the start",
        weights,
        run.cfg.variant,
        describe(run.device),
        torch.__version__,
    )


def train_epochs(run: FineTuning, work_dir: Path, tracker=None) -> None:
    """The epochs after `run.first_epoch`: batches of similar lengths in a seeded order, a training-loss point
    every LOG_EVERY updates and at each epoch's end; after each epoch the held-out score (when selecting) and
    a checkpoint."""
    task, cfg = run.task, run.cfg
    step = run.first_epoch * run.per_epoch
    widths = [ex.width for ex in run.train_data]
    bar = Progress(f"finetune {task.id}", run.total, unit="step", initial=step)
    for epoch in range(run.first_epoch, cfg.epochs):
        batches = training_batches(widths, cfg.batch_size, np.random.default_rng([cfg.seed, epoch]))
        losses = []
        for b, indices in enumerate(batches):
            step += 1
            lr = warmup_linear(step, cfg.lr, run.warmup, run.total)
            set_lr(run.optimizer, lr)
            losses.append(update(run, [run.train_data[j] for j in indices], step))
            bar.set_postfix(loss=f"{np.mean(losses[-LOG_EVERY:]):.3f}")
            bar.update(1)
            if step % LOG_EVERY == 0 or b == len(batches) - 1:  # and at each epoch's end
                point = {"step": step, "epoch": epoch + 1, "train_loss": float(np.mean(losses[-LOG_EVERY:])), "lr": lr}
                run.curves.append(point)
                if tracker:
                    tracker.log_metrics({"train_loss": point["train_loss"], "lr": lr}, step)
        log.info("%s epoch %d: train loss %.4f", task.id, epoch + 1, float(np.mean(losses)))
        end_epoch(run, epoch + 1, work_dir)
    bar.close()


def update(run: FineTuning, batch: list[Encoded], step: int) -> float:
    """One optimizer step on `batch` (in micro-batches of finetune.micro_batch_size); returns its L3."""
    loss = accumulate(run.model, run.task, batch, run.cfg.micro_batch_size, run.lm_coef, run.device)
    check_loss(loss, step, f"finetune {run.task.id}", DIVERGED_ADVICE)  # before the step: no update is made
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg.grad_clip or float("inf"))
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    return loss


def end_epoch(run: FineTuning, done: int, work_dir: Path) -> None:
    """After `done` epochs: the held-out score when selecting an epoch, then the checkpoint."""
    extra = {}
    if run.selection:
        split = run.selection.split
        held_out = evaluate(run.model, run.task, run.eval_data[split], run.device, f"{split} after epoch {done}")
        run.selection.after_epoch(done, held_out["metrics"], run.model)
        extra["selection"] = run.selection.state()
    checkpoint.save(work_dir / checkpoint.FILE, run.key, run.model, run.optimizer, done, run.curves, **extra)
