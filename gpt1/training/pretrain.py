"""Pretraining: the language-modelling objective on random contiguous windows of the token file.

Reads as setup -> train -> validate. One process on CPU or GPU, or many under
`torchrun --nproc_per_node N` (DistributedDataParallel: nccl on GPUs, gloo on CPU). Every
`eval_interval` updates it validates and writes a checkpoint; a rerun with the same settings resumes
from it and ends with the same weights as a run that was never interrupted.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from gpt1.architectures import build
from gpt1.config import GPTConfig, LSTMConfig, PretrainConfig
from gpt1.device import describe, mixed_precision, tune_cpu_allocator
from gpt1.files import atomic_save, atomic_write_json, atomic_write_text
from gpt1.model import perplexity
from gpt1.params import check_group_rules
from gpt1.progress import Progress
from gpt1.text.encode import load_tokens
from gpt1.training import checkpoint
from gpt1.training.distributed import Runtime, setup_runtime
from gpt1.training.diverged import check_loss
from gpt1.training.schedules import set_lr, warmup_cosine
from gpt1.training.snapshots import CHECKPOINT_SNAPSHOTS, publish_snapshots, save_snapshot

log = logging.getLogger(__name__)

# Training rows (every log_interval) and validation rows (every eval_interval) in files of their own, so that
# no plot reads a blank cell as 0: file -> columns, the second one present in every row of that file
CURVES = {
    "train_curve.csv": ["step", "train_loss", "lr", "grad_norm", "tokens_per_s"],
    "val_curve.csv": ["step", "val_loss", "val_ppl"],
}
# What metrics.json holds that is no measurement but the run's size: MLflow params of the stage's run, not metrics
RUN_SIZE = ("steps", "tokens", "parameters")
DIVERGED_ADVICE = (
    "lower pretrain.lr or raise pretrain.warmup_steps (and keep pretrain.grad_clip); the last checkpoint is kept "
    "and the stage wrote no outputs"
)


def total_steps(cfg: PretrainConfig, train_tokens: int, n_ctx: int) -> int:
    steps = math.ceil(cfg.epochs * train_tokens / (cfg.batch_size * n_ctx))
    return min(steps, cfg.max_steps) if cfg.max_steps else steps


def batch_offsets(step: int, seed: int, batch_size: int, n_tokens: int, n_ctx: int) -> np.ndarray:
    """Start positions of the global batch for `step`: a pure function of (seed, step), so that any
    number of processes, and a resumed run, see exactly the same data."""
    return np.random.default_rng([seed, step]).integers(0, n_tokens - n_ctx - 1, size=batch_size)


def windows(tokens: np.ndarray, offsets: np.ndarray, n_ctx: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token targets, each (len(offsets), n_ctx)."""
    chunk = torch.from_numpy(tokens[offsets[:, None] + np.arange(n_ctx + 1)].astype(np.int64))
    return chunk[:, :-1], chunk[:, 1:]


def run_key(model_cfg: GPTConfig | LSTMConfig, cfg: PretrainConfig, meta: dict) -> str:
    """What a checkpoint must match to be resumed: everything that changes the trained weights or the snapshots."""
    ignored = ("device", "compile", "log_interval", "processes", "nodes")
    return checkpoint.run_key(model_cfg.to_dict(), {k: v for k, v in asdict(cfg).items() if k not in ignored}, meta)


@torch.no_grad()
def evaluate(model: torch.nn.Module, tokens: np.ndarray, cfg: PretrainConfig, rt: Runtime, autocast) -> float:
    """Mean next-token loss over fixed, evenly spaced windows of the validation tokens."""
    n_ctx = model.config.n_ctx
    offsets = np.linspace(0, len(tokens) - n_ctx - 1, cfg.eval_batches * cfg.micro_batch_size).astype(np.int64)
    mine = offsets[rt.rank :: rt.world]
    total = torch.zeros(2, dtype=torch.float64, device=rt.device)  # (sum of losses, windows)
    model.eval()
    for i in range(0, len(mine), cfg.micro_batch_size):
        x, y = (t.to(rt.device) for t in windows(tokens, mine[i : i + cfg.micro_batch_size], n_ctx))
        with autocast:
            _, loss = model(x, y)
        total += torch.tensor([loss.item() * len(x), len(x)], dtype=torch.float64, device=rt.device)
    model.train()
    if rt.world > 1:
        dist.all_reduce(total)
    return (total[0] / total[1]).item()


@dataclass
class Pretraining:
    """What the loop needs, from `setup`: the processes, the data, the model and its optimizer, where to resume."""

    cfg: PretrainConfig
    rt: Runtime
    train_tokens: np.ndarray
    val_tokens: np.ndarray
    model: torch.nn.Module
    """The weights that are validated, checkpointed and saved."""
    train_model: torch.nn.Module
    """The same weights as the updates run them: compiled (pretrain.compile) and under DDP when there are several
    processes."""
    optimizer: torch.optim.Optimizer
    autocast: contextlib.AbstractContextManager
    steps: int
    """The updates of the whole run (total_steps)."""
    micro: int
    """Windows per forward pass (pretrain.micro_batch_size, at most this process's share of the batch)."""
    key: str
    """The run key its checkpoints carry (run_key)."""
    start: int
    """Updates already made, by the checkpoint resumed (0: none)."""
    history: list[dict]
    """The curves' rows so far (CURVES), the checkpoint's when resumed."""

    @property
    def n_ctx(self) -> int:
        return self.model.config.n_ctx

    @property
    def per_rank(self) -> int:
        """This process's share of the global batch, in windows."""
        return self.cfg.batch_size // self.rt.world

    @property
    def accum(self) -> int:
        """Micro-batches per update (gradient accumulation)."""
        return self.per_rank // self.micro

    @property
    def tokens_per_step(self) -> int:
        return self.cfg.batch_size * self.n_ctx


def pretrain(
    model_cfg: GPTConfig | LSTMConfig,
    cfg: PretrainConfig,
    tokens_dir: Path,
    out_dir: Path,
    tracker=None,
    stop_after: int | None = None,
) -> dict | None:
    """Train, validate, checkpoint; write model.pt, metrics.json and the curves (CURVES) to `out_dir`. The model
    is the transformer or the LSTM baseline, as `model_cfg` says (gpt1.architectures).

    `stop_after` ends the run after that many updates, as an interruption would, leaving only the
    checkpoint; the next call resumes from it. Returns the final metrics (None when stopped early).
    """
    run = setup(model_cfg, cfg, tokens_dir, out_dir)
    wall_start = time.perf_counter()
    step = train(run, out_dir, tracker, stop_after)
    result = None
    if step == run.steps and run.rt.main:
        result = finish(run, out_dir, time.perf_counter() - wall_start, getattr(tracker, "run_id", None))
    if run.rt.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return result


def setup(model_cfg: GPTConfig | LSTMConfig, cfg: PretrainConfig, tokens_dir: Path, out_dir: Path) -> Pretraining:
    """The processes, the token files, the model and its AdamW, resumed from `out_dir`'s checkpoint when it is
    this run's (run_key)."""
    rt = setup_runtime(cfg.device, cfg.processes, cfg.nodes)
    meta, train_tokens, val_tokens = read_tokens(tokens_dir, model_cfg)
    check_group_rules("pretrain", asdict(cfg))
    cuda = rt.device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        tune_cpu_allocator()

    torch.manual_seed(cfg.seed)
    model = build(model_cfg).to(rt.device)
    optimizer = torch.optim.AdamW(
        model.param_groups(cfg.weight_decay),
        lr=cfg.lr,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        eps=cfg.adam_eps,
        fused=cuda,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    key = run_key(model_cfg, cfg, meta)
    kept_with = (out_dir / CHECKPOINT_SNAPSHOTS,)  # set aside with a checkpoint of other settings
    start, history, _ = checkpoint.resume(
        out_dir / checkpoint.FILE, key, model, optimizer, rt.device, rt.main, kept_with
    )
    train_model = torch.compile(model, mode=cfg.compile) if cfg.compile != "none" else model
    if rt.world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(train_model)
    run = Pretraining(
        cfg=cfg,
        rt=rt,
        train_tokens=train_tokens,
        val_tokens=val_tokens,
        model=model,
        train_model=train_model,
        optimizer=optimizer,
        autocast=mixed_precision(rt.device),
        steps=total_steps(cfg, len(train_tokens), model_cfg.n_ctx),
        micro=min(cfg.micro_batch_size, cfg.batch_size // rt.world),
        key=key,
        start=start,
        history=history,
    )
    if rt.main:
        log_plan(run, meta, tokens_dir)
    return run


def read_tokens(tokens_dir: Path, model_cfg: GPTConfig | LSTMConfig) -> tuple[dict, np.ndarray, np.ndarray]:
    """encode-corpus's meta.json, training and validation tokens, checked against the model's vocabulary and
    context."""
    meta = json.loads((tokens_dir / "meta.json").read_text())
    train_tokens, val_tokens = load_tokens(tokens_dir / "train.bin"), load_tokens(tokens_dir / "val.bin")
    if model_cfg.vocab_size != meta["vocab_size"]:
        raise ValueError(f"model vocab_size {model_cfg.vocab_size} != tokenizer's {meta['vocab_size']}")
    for name, tokens in (("train", train_tokens), ("val", val_tokens)):
        if len(tokens) <= model_cfg.n_ctx + 1:
            raise ValueError(f"{tokens_dir / (name + '.bin')}: {len(tokens)} tokens, fewer than model.n_ctx + 2")
    return meta, train_tokens, val_tokens


def log_plan(run: Pretraining, meta: dict, tokens_dir: Path) -> None:
    log.info(
        "data: %s training and %s validation tokens (vocabulary %d) from %s; %d updates of %d x %d tokens "
        "(%.2f epochs), %s",
        f"{len(run.train_tokens):,}",
        f"{len(run.val_tokens):,}",
        meta["vocab_size"],
        tokens_dir,
        run.steps,
        run.cfg.batch_size,
        run.n_ctx,
        run.steps * run.tokens_per_step / len(run.train_tokens),
        f"resuming after update {run.start}" if run.start else "from the start",
    )
    log.info(
        "model: %s parameters; device %s, %d process(es), torch %s",
        f"{run.model.num_parameters():,}",
        describe(run.rt.device),
        run.rt.world,
        torch.__version__,
    )


def train(run: Pretraining, out_dir: Path, tracker=None, stop_after: int | None = None) -> int:
    """The updates after `run.start`, to the last or to `stop_after`: a training row every log_interval, a
    snapshot every snapshot_interval, validation and a checkpoint every eval_interval (and at the end). Returns
    the last update made."""
    cfg, rt = run.cfg, run.rt
    bar = Progress("pretrain", run.steps, unit="step", initial=run.start, enabled=rt.main)
    window = TrainingWindow()
    if run.start == 0 and rt.main:
        shutil.rmtree(out_dir / CHECKPOINT_SNAPSHOTS, ignore_errors=True)  # from before this run's first checkpoint
        save_snapshot(out_dir, run.model, 0)
    step = run.start
    for step in range(run.start + 1, run.steps + 1):
        lr = warmup_cosine(step, cfg.lr, cfg.warmup_steps, run.steps)
        set_lr(run.optimizer, lr)
        loss, grad_norm = update(run, step)
        window.add(loss)
        bar.update(1)
        if rt.main and (step == run.steps or cfg.snapshot_interval and step % cfg.snapshot_interval == 0):
            save_snapshot(out_dir, run.model, step)

        if step % cfg.log_interval == 0 or step == run.steps:
            row = window.row(lr, grad_norm.item(), run.tokens_per_step)
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", lr=f"{lr:.2e}", tok_s=f"{row['tokens_per_s']:.0f}")
            if rt.main and tracker:
                tracker.log_metrics(row, step)
            run.history.append({"step": step, **row})

        due = step % cfg.eval_interval == 0 or step == run.steps
        if due:
            validate(run, step, tracker)
        if due or step == stop_after:
            save_checkpoint(run, out_dir, step)
        if step == stop_after:
            break
    bar.close()
    return step


def update(run: Pretraining, step: int) -> tuple[float, torch.Tensor]:
    """One optimizer step on update `step`'s global batch, this process's share of it in micro-batches: (the
    batch's mean loss over all processes, the gradient norm before clipping)."""
    cfg, rt = run.cfg, run.rt
    torch.manual_seed(cfg.seed + 1_000_003 * step + rt.rank)  # dropout masks depend on (step, rank) only
    offsets = batch_offsets(step, cfg.seed, cfg.batch_size, len(run.train_tokens), run.n_ctx)
    offsets = offsets[rt.rank * run.per_rank : (rt.rank + 1) * run.per_rank]
    step_loss, accum, micro = 0.0, run.accum, run.micro
    for i in range(accum):
        x, y = (
            t.to(rt.device, non_blocking=True)
            for t in windows(run.train_tokens, offsets[i * micro : (i + 1) * micro], run.n_ctx)
        )
        sync = contextlib.nullcontext() if rt.world == 1 or i == accum - 1 else run.train_model.no_sync()
        with sync:
            with run.autocast:
                _, loss = run.train_model(x, y)
            (loss / accum).backward()
        step_loss += loss.item() / accum
    if rt.world > 1:  # the mean over processes, so that on a NaN all of them stop (or the rest would hang)
        summed = torch.tensor([step_loss], device=rt.device)
        dist.all_reduce(summed)
        step_loss = summed.item() / rt.world
    check_loss(step_loss, step, "pretrain", DIVERGED_ADVICE)
    grad_norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip or float("inf"))
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    return step_loss, grad_norm


class TrainingWindow:
    """The updates since the last training row: their losses and the time they took."""

    def __init__(self):
        self.clock, self.losses = time.perf_counter(), []

    def add(self, loss: float) -> None:
        self.losses.append(loss)

    def row(self, lr: float, grad_norm: float, tokens_per_step: int) -> dict:
        """The training row of train_curve.csv (without its step), and a new window."""
        elapsed = time.perf_counter() - self.clock
        row = {
            "train_loss": sum(self.losses) / len(self.losses),
            "lr": lr,
            "grad_norm": grad_norm,
            "tokens_per_s": len(self.losses) * tokens_per_step / elapsed,
        }
        self.clock, self.losses = time.perf_counter(), []
        return row


def validate(run: Pretraining, step: int, tracker=None) -> None:
    """The validation loss after `step` updates, into the history (and MLflow, and the log)."""
    val_loss = evaluate(run.model, run.val_tokens, run.cfg, run.rt, run.autocast)
    run.history.append({"step": step, "val_loss": val_loss, "val_ppl": perplexity(val_loss)})
    if run.rt.main:
        log.info("step %d: val loss %.4f, perplexity %.2f", step, val_loss, perplexity(val_loss))
        if tracker:
            tracker.log_metrics({"val_loss": val_loss, "val_ppl": perplexity(val_loss)}, step)


def save_checkpoint(run: Pretraining, out_dir: Path, step: int) -> None:
    """The main process writes the checkpoint after `step` updates; the others wait for it."""
    if run.rt.main:
        checkpoint.save(out_dir / checkpoint.FILE, run.key, run.model, run.optimizer, step, run.history)
    if run.rt.world > 1:
        dist.barrier()


def finish(run: Pretraining, out_dir: Path, wall_s: float, run_id: str | None) -> dict:
    """The stage's outputs: weights for fine-tuning (with the MLflow run that made them), final metrics, curves."""
    model, history, steps = run.model, run.history, run.steps
    weights = {
        "model_config": model.config.to_dict(),
        "model": model.state_dict(),
        "step": steps,
        "mlflow_run_id": run_id,
    }
    atomic_save(weights, out_dir / "model.pt")
    publish_snapshots(out_dir)
    last_val = next(row for row in reversed(history) if "val_loss" in row)
    speeds = [row["tokens_per_s"] for row in history if "tokens_per_s" in row]
    metrics = {
        "steps": steps,
        "tokens": steps * run.tokens_per_step,
        "val_loss": last_val["val_loss"],
        "val_ppl": last_val["val_ppl"],
        "tokens_per_s": float(np.median(speeds)) if speeds else 0.0,
        "wall_s_this_run": wall_s,
        "parameters": model.num_parameters(),
    }
    atomic_write_json(out_dir / "metrics.json", metrics)
    for name, fields in CURVES.items():
        rows = io.StringIO()
        writer = csv.DictWriter(rows, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(row for row in history if fields[1] in row)
        atomic_write_text(out_dir / name, rows.getvalue())
    return metrics
