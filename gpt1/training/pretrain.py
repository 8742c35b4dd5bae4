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
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from gpt1.architectures import build
from gpt1.config import GPTConfig, LSTMConfig, PretrainConfig
from gpt1.device import describe, mixed_precision, resolve_device, tune_cpu_allocator
from gpt1.files import atomic_save, atomic_write_json, atomic_write_text, naming_a_full_disk
from gpt1.model import perplexity
from gpt1.params import check_group_rules
from gpt1.progress import Progress
from gpt1.text.encode import load_tokens
from gpt1.training import checkpoint
from gpt1.training.diverged import check_loss
from gpt1.training.schedules import warmup_cosine

log = logging.getLogger(__name__)

SNAPSHOTS = "snapshots"
# Snapshots gather here, with the checkpoint, and are linked into SNAPSHOTS at the end. Snakemake and DVC delete
# a stage's declared outputs (SNAPSHOTS) when it fails or reruns; this folder, like the checkpoint, stays, so
# that a rerun of a finished pretraining (which resumes at its last update) still has every snapshot.
CHECKPOINT_SNAPSHOTS = "checkpoint.snapshots"
# Training rows (every log_interval) and validation rows (every eval_interval) in files of their own, so that
# no plot reads a blank cell as 0: file -> columns, the second one present in every row of that file
CURVES = {
    "train_curve.csv": ["step", "train_loss", "lr", "grad_norm", "tokens_per_s"],
    "val_curve.csv": ["step", "val_loss", "val_ppl"],
}
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


@dataclass
class Runtime:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_runtime(device: str, processes: int, nodes: int) -> Runtime:
    """One process, or one of torchrun's (it sets WORLD_SIZE, LOCAL_WORLD_SIZE, RANK and LOCAL_RANK)."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world != processes:
        raise ValueError(
            f"pretrain.processes is {processes} but this run has {world} process(es): start it with "
            f"`torchrun --nproc-per-node {processes}`, or set pretrain.processes to {world}"
        )
    spanned = world // int(os.environ.get("LOCAL_WORLD_SIZE", world))
    if spanned != nodes:
        raise ValueError(
            f"pretrain.nodes is {nodes} but this run spans {spanned} node(s): several nodes need Snakemake under "
            "SLURM (README, SLURM), which starts torchrun on each"
        )
    if world == 1:
        return Runtime(0, 1, resolve_device(device))
    if resolve_device(device).type == "cuda":
        per_node, gpus = int(os.environ["LOCAL_WORLD_SIZE"]), torch.cuda.device_count()
        if per_node > gpus:
            raise ValueError(
                f"pretrain.processes is {processes}, {per_node} on this node, but it has {gpus} GPU(s): set "
                f"pretrain.processes to at most {gpus * nodes} (one process per GPU)"
            )
        local_rank = int(os.environ["LOCAL_RANK"])
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl")
        return Runtime(dist.get_rank(), world, torch.device("cuda", local_rank))
    dist.init_process_group("gloo")
    return Runtime(dist.get_rank(), world, resolve_device(device))


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
    rt = setup_runtime(cfg.device, cfg.processes, cfg.nodes)
    meta = json.loads((tokens_dir / "meta.json").read_text())
    train_tokens, val_tokens = load_tokens(tokens_dir / "train.bin"), load_tokens(tokens_dir / "val.bin")
    if model_cfg.vocab_size != meta["vocab_size"]:
        raise ValueError(f"model vocab_size {model_cfg.vocab_size} != tokenizer's {meta['vocab_size']}")
    for name, tokens in (("train", train_tokens), ("val", val_tokens)):
        if len(tokens) <= model_cfg.n_ctx + 1:
            raise ValueError(f"{tokens_dir / (name + '.bin')}: {len(tokens)} tokens, fewer than model.n_ctx + 2")
    check_group_rules("pretrain", asdict(cfg))
    per_rank = cfg.batch_size // rt.world
    micro = min(cfg.micro_batch_size, per_rank)
    accum = per_rank // micro
    steps = total_steps(cfg, len(train_tokens), model_cfg.n_ctx)
    cuda = rt.device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        tune_cpu_allocator()
    autocast = mixed_precision(rt.device)

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
    start, history, _ = checkpoint.resume(
        out_dir / checkpoint.FILE,
        key,
        model,
        optimizer,
        rt.device,
        rt.main,
        kept_with=(out_dir / CHECKPOINT_SNAPSHOTS,),
    )
    train_model = torch.compile(model, mode=cfg.compile) if cfg.compile != "none" else model
    if rt.world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(train_model)

    tokens_per_step = cfg.batch_size * model_cfg.n_ctx
    if rt.main:
        log.info(
            "data: %s training and %s validation tokens (vocabulary %d) from %s; %d updates of %d x %d tokens "
            "(%.2f epochs), %s",
            f"{len(train_tokens):,}",
            f"{len(val_tokens):,}",
            meta["vocab_size"],
            tokens_dir,
            steps,
            cfg.batch_size,
            model_cfg.n_ctx,
            steps * tokens_per_step / len(train_tokens),
            f"resuming after update {start}" if start else "from the start",
        )
        log.info(
            "model: %s parameters; device %s, %d process(es), torch %s",
            f"{model.num_parameters():,}",
            describe(rt.device),
            rt.world,
            torch.__version__,
        )
    bar = Progress("pretrain", steps, unit="step", initial=start, enabled=rt.main)
    clock, timed_steps, window_loss = time.perf_counter(), 0, []
    wall_start, step = time.perf_counter(), start
    if start == 0 and rt.main:
        shutil.rmtree(out_dir / CHECKPOINT_SNAPSHOTS, ignore_errors=True)  # from before this run's first checkpoint
        save_snapshot(out_dir, model, 0)
    for step in range(start + 1, steps + 1):
        lr = warmup_cosine(step, cfg.lr, cfg.warmup_steps, steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        torch.manual_seed(cfg.seed + 1_000_003 * step + rt.rank)  # dropout masks depend on (step, rank) only
        offsets = batch_offsets(step, cfg.seed, cfg.batch_size, len(train_tokens), model_cfg.n_ctx)
        offsets = offsets[rt.rank * per_rank : (rt.rank + 1) * per_rank]
        step_loss = 0.0
        for i in range(accum):
            x, y = (
                t.to(rt.device, non_blocking=True)
                for t in windows(train_tokens, offsets[i * micro : (i + 1) * micro], model_cfg.n_ctx)
            )
            sync = contextlib.nullcontext() if rt.world == 1 or i == accum - 1 else train_model.no_sync()
            with sync:
                with autocast:
                    _, loss = train_model(x, y)
                (loss / accum).backward()
            step_loss += loss.item() / accum
        if rt.world > 1:  # the mean over processes, so that on a NaN all of them stop (or the rest would hang)
            summed = torch.tensor([step_loss], device=rt.device)
            dist.all_reduce(summed)
            step_loss = summed.item() / rt.world
        check_loss(step_loss, step, "pretrain", DIVERGED_ADVICE)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or float("inf"))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        window_loss.append(step_loss)
        timed_steps += 1
        bar.update(1)
        if rt.main and (step == steps or cfg.snapshot_interval and step % cfg.snapshot_interval == 0):
            save_snapshot(out_dir, model, step)

        if step % cfg.log_interval == 0 or step == steps:
            elapsed = time.perf_counter() - clock
            row = {
                "train_loss": sum(window_loss) / len(window_loss),
                "lr": lr,
                "grad_norm": grad_norm.item(),
                "tokens_per_s": timed_steps * tokens_per_step / elapsed,
            }
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", lr=f"{lr:.2e}", tok_s=f"{row['tokens_per_s']:.0f}")
            if rt.main and tracker:
                tracker.log_metrics(row, step)
            history.append({"step": step, **row})
            clock, timed_steps, window_loss = time.perf_counter(), 0, []

        validate = step % cfg.eval_interval == 0 or step == steps
        if validate:
            val_loss = evaluate(model, val_tokens, cfg, rt, autocast)
            history.append({"step": step, "val_loss": val_loss, "val_ppl": perplexity(val_loss)})
            if rt.main:
                log.info("step %d: val loss %.4f, perplexity %.2f", step, val_loss, perplexity(val_loss))
                if tracker:
                    tracker.log_metrics({"val_loss": val_loss, "val_ppl": perplexity(val_loss)}, step)
        if validate or step == stop_after:
            if rt.main:
                checkpoint.save(out_dir / checkpoint.FILE, key, model, optimizer, step, history)
            if rt.world > 1:
                dist.barrier()
        if step == stop_after:
            break
    bar.close()

    result = None
    if step == steps and rt.main:
        run_id = getattr(tracker, "run_id", None)
        result = finish(model, out_dir, history, steps, tokens_per_step, time.perf_counter() - wall_start, run_id)
    if rt.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return result


def save_snapshot(out_dir: Path, model: torch.nn.Module, step: int) -> None:
    """The weights after `step` updates (0: the initialisation), for scoring pretraining as it goes."""
    snapshot = {"model_config": model.config.to_dict(), "model": model.state_dict(), "step": step}
    atomic_save(snapshot, out_dir / CHECKPOINT_SNAPSHOTS / f"step{step:07d}.pt")


def publish_snapshots(out_dir: Path) -> None:
    """SNAPSHOTS as hard links to the checkpoint's snapshots (no copy), swapped in whole."""
    staging = out_dir / (SNAPSHOTS + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with naming_a_full_disk(out_dir / SNAPSHOTS):  # links take no room, but a folder's entries do
            staging.mkdir()
            for snapshot in sorted((out_dir / CHECKPOINT_SNAPSHOTS).glob("step*.pt")):
                os.link(snapshot, staging / snapshot.name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(out_dir / SNAPSHOTS, ignore_errors=True)
    staging.rename(out_dir / SNAPSHOTS)


def finish(
    model: torch.nn.Module,
    out_dir: Path,
    history: list[dict],
    steps: int,
    tokens_per_step: int,
    wall_s: float,
    run_id: str | None,
) -> dict:
    """The stage's outputs: weights for fine-tuning (with the MLflow run that made them), final metrics, curves."""
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
        "tokens": steps * tokens_per_step,
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
