"""`python -m benchmarks.gpu_check --out DIR`: the prepared device check, for the day a CUDA machine is lent.

Six sections, in this order, each timed on its own; one that fails (out of memory, a compile error) records its
error and the others still run:

1. correctness: the device's training path against the CPU's fp32 (and float64): fp32 loss, logits, gradients
   and fused AdamW tightly, bf16 autocast within a stated tolerance, micro-batches against the whole batch,
   pretraining resumed against whole, the released architecture against transformers' (gpu_check_correctness).
2. matmul: measured bf16 and fp32 (and tf32) matmul TFLOP/s.
3. mfu: the paper's model (12 x 768, context 512, vocabulary 40,478) training at the largest batch that fits,
   torch.compile off and on: tokens/s, MFU against the card's datasheet bf16 peak (a table of known cards) and
   against the measured matmul rate, peak memory.
4. finetune: one fine-tuning update of the paper's model for each of the 12 tasks at the paper's batch of 32,
   every sequence 512 tokens: peak memory and examples/s at the `paper` profile's micro-batch size, and the
   largest micro-batch that fits the card.
5. pretrain: a few hundred pretraining updates (gpt1.training.pretrain) on a learnable Markov chain; whether the
   loss fell well below the unigram loss.
6. openai_gpt: a random model of the released shapes, imported as `gpt1 import-openai-gpt` does, fine-tuned.

Writes DIR/gpu_check.json (rewritten after every section, so that a run cut short keeps what it measured) and
prints a short summary; exits with 1 when a correctness check failed. Sections start only while `--budget-s`
lasts (each needs its estimate left); the rest are skipped with the reason. `--tiny`: tiny sizes, a few steps,
no compile, one CPU thread: well under a minute on a CPU (the tests run it). `--dry-run`: print the plan and run
nothing. Imports torch, numpy, transformers and gpt1's training code only: no Snakemake, DVC or MLflow
(tests/benchmarks/test_gpu_check.py checks it).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gpt1.config import GPTConfig
from gpt1.files import atomic_write_json
from gpt1.tasks import TASKS

log = logging.getLogger("gpu_check")

REPORT = "gpu_check.json"
ABSENT = ("mlflow", "snakemake", "dvc")  # what a bare CUDA machine lacks: nothing here may import them


@dataclass(frozen=True)
class MicroCheck:
    """correctness's micro-batch check: a fine-tuning batch of `examples` of `task`, sequences of up to
    `max_tokens`, whole and in micro-batches of `micro` examples."""

    task: str
    examples: int
    max_tokens: int
    micro: int


@dataclass(frozen=True)
class Plan:
    name: str
    model: GPTConfig
    matmul_n: int
    matmul_calls: int
    mfu_batches: tuple[int, ...]
    """Batch sizes tried without compile, doubling, until one runs out of memory."""
    timed_steps: int
    compile: bool
    finetune_tasks: tuple[str, ...]
    finetune_batch: int
    finetune_tokens: int
    """Every sequence of the fine-tuning batch this long: the peak a batch of the longest examples reaches."""
    finetune_micro: int
    """The `paper` profile's finetune.micro_batch_size (a test keeps them equal)."""
    finetune_steps: int
    pretrain_steps: int
    pretrain_batch: int
    pretrain_micro: int
    pretrain_lr: float
    chain: tuple[int, int]
    """The Markov chain's states (token ids used) and successors per state."""
    chain_tokens: int
    released: GPTConfig
    """The release's shapes, before gpt1.weights appends the three task-token rows."""
    correctness_batch: int
    """Sequences of the full context compared across devices and precisions."""
    micro_check: MicroCheck
    resume_model: GPTConfig
    resume_steps: int
    resume_batch: tuple[int, int]
    """Pretraining's batch and micro-batch in the resume check."""
    openai_examples: int
    openai_batch: int
    needs_cuda: bool = False
    """The paper's sizes: a CPU would spend the whole budget on the first matmuls."""
    estimate_s: dict[str, float] = field(default_factory=dict)
    """Seconds a section needs (a guess for an H100/H200): it is skipped when less of the budget is left."""


PAPER = GPTConfig()  # the defaults are the paper's model; 40,478 ids, the task tokens among them as gpt1's BPE
GPU = Plan(
    name="paper",
    model=PAPER,
    matmul_n=8192,
    matmul_calls=20,
    mfu_batches=(8, 16, 32, 64, 128),
    timed_steps=5,
    compile=True,
    finetune_tasks=tuple(TASKS),
    finetune_batch=32,
    finetune_tokens=512,
    finetune_micro=8,
    finetune_steps=2,
    pretrain_steps=300,
    pretrain_batch=64,
    pretrain_micro=32,
    pretrain_lr=2.5e-4,
    chain=(1024, 4),
    chain_tokens=1_000_000,
    released=GPTConfig(vocab_size=40478, n_ctx=512, n_layer=12, n_head=12, n_embd=768, n_inner=3072),
    openai_examples=256,
    openai_batch=32,
    correctness_batch=2,
    micro_check=MicroCheck("race", 8, 128, 2),
    resume_model=GPTConfig(n_layer=2),  # the paper's width and vocabulary; 2 of its 12 layers
    resume_steps=20,
    resume_batch=(16, 8),
    needs_cuda=True,
    estimate_s={"correctness": 60, "matmul": 10, "mfu": 120, "finetune": 60, "pretrain": 60, "openai_gpt": 40},
)
TINY_MODEL = GPTConfig(vocab_size=512, n_ctx=64, n_layer=2, n_head=2, n_embd=64, n_inner=256)
TINY = Plan(
    name="tiny",
    model=TINY_MODEL,
    matmul_n=256,
    matmul_calls=4,
    mfu_batches=(2, 4),
    timed_steps=2,
    compile=False,
    finetune_tasks=tuple(TASKS),
    finetune_batch=4,
    finetune_tokens=32,
    finetune_micro=1,
    finetune_steps=1,
    pretrain_steps=150,
    pretrain_batch=16,
    pretrain_micro=16,
    pretrain_lr=3e-3,
    chain=(64, 2),
    chain_tokens=100_000,
    released=GPTConfig(vocab_size=509, n_ctx=64, n_layer=2, n_head=2, n_embd=32, n_inner=128),
    openai_examples=32,
    openai_batch=8,
    correctness_batch=2,
    micro_check=MicroCheck("race", 4, 32, 1),
    resume_model=TINY_MODEL,
    resume_steps=12,
    resume_batch=(8, 4),
)


@dataclass
class Clock:
    budget_s: float
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return self.budget_s - self.elapsed()


Section = Callable[[Plan, object, Clock, dict], dict]


SECTIONS = {
    "correctness": "gpu_check_correctness.device_matches_reference",
    "matmul": "gpu_check_sections.matmul_peak",
    "mfu": "gpu_check_sections.model_flops_utilisation",
    "finetune": "gpu_check_sections.finetune_tasks",
    "pretrain": "gpu_check_sections.pretraining_updates",
    "openai_gpt": "gpu_check_sections.openai_gpt_path",
}
"""Each section's function in benchmarks/, in the order they run."""


def sections() -> dict[str, Section]:
    found = {}
    for name, where in SECTIONS.items():
        module, function = where.rsplit(".", 1)
        found[name] = getattr(importlib.import_module(f"benchmarks.{module}"), function)
    return found


def run_section(name: str, run: Section, plan: Plan, device, clock: Clock, done: dict) -> dict:
    """The section's figures with "status": ok, error (with the error) or skipped (with the reason), and its
    wall time."""
    needs = plan.estimate_s.get(name, 0.0)
    if clock.left() <= 0 or clock.left() < needs:
        reason = f"{max(0.0, clock.left()):.0f} s of the {clock.budget_s:.0f} s budget left"
        return {
            "status": "skipped",
            "reason": reason + (f"; the section needs about {needs:.0f} s" if needs else ""),
            "wall_s": 0.0,
        }
    log.info("section %s (%.0f s of the budget left)", name, clock.left())
    start = time.perf_counter()
    try:
        result = {"status": "ok", **run(plan, device, clock, done)}
    except Exception as error:  # one section's failure must not cost the others their figures
        log.exception("section %s failed", name)
        result = {"status": "error", "error": f"{type(error).__name__}: {error}"[:2000]}
    return result | {"wall_s": round(time.perf_counter() - start, 2)}


def machine(device) -> dict:
    import torch

    about = {
        "device": str(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        about |= {
            "gpu": props.name,
            "gpu_memory_gib": round(props.total_memory / 2**30, 1),
            "compute_capability": f"{props.major}.{props.minor}",
            "multiprocessors": props.multi_processor_count,
            "cudnn": torch.backends.cudnn.version(),
            "driver": nvidia_driver(),
        }
    return about


def nvidia_driver() -> str | None:
    """The driver version as nvidia-smi reports it (torch does not expose it); None without nvidia-smi."""
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else None


def absent_modules_imported() -> list[str]:
    return sorted({name.split(".")[0] for name in sys.modules} & set(ABSENT))


def run_check(
    plan: Plan,
    device_name: str,
    out_dir: Path,
    budget_s: float,
    command: str,
    chosen: dict[str, Section] | None = None,
    started: float | None = None,
) -> dict:
    """Run the sections in order, rewriting out_dir/gpu_check.json after each; return the report. The budget
    and the total wall time count from `started` (perf_counter; default: now), the process's start in main."""
    clock = Clock(budget_s, started or time.perf_counter())
    from benchmarks.gpu_check_sections import free_memory
    from gpt1.device import resolve_device

    device = resolve_device(device_name)
    if plan.needs_cuda and device.type != "cuda":
        raise ValueError(f"the {plan.name}-size check needs a CUDA device, not {device}: use --tiny on a CPU")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {
        "command": command,
        "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "plan": asdict(plan),
        "budget_s": budget_s,
        "machine": machine(device),
        "sections": {},
    }
    for name, run in (chosen or sections()).items():
        try:
            report["sections"][name] = run_section(name, run, plan, device, clock, report["sections"])
        except KeyboardInterrupt:  # the wrapper's time limit (SIGINT) or Ctrl-C: say so, keep what was measured
            report["sections"][name] = {"status": "interrupted", "reason": "stopped by SIGINT (the time limit?)"}
            raise
        finally:
            free_memory(device)
            report["total_wall_s"] = round(clock.elapsed(), 2)
            report["absent_modules_imported"] = absent_modules_imported()
            atomic_write_json(out_dir / REPORT, report)
    return report


def fmt(value, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def section_lines(name: str, result: dict) -> list[str]:
    if result["status"] != "ok":
        return [f"{name}: {result['status']}: {result.get('error') or result.get('reason')}"]
    if name == "correctness":
        return [
            f"correctness {check}: {verdict(figures)}"
            + ("" if "error" in figures else f" ({CORRECTNESS_FIGURES[check](figures)})")
            for check, figures in result["checks"].items()
        ]
    if name == "matmul":
        rest = f", tf32 {fmt(result['tf32_tflops'])}" if "tf32_tflops" in result else ""
        bf16, fp32 = fmt(result["bf16_tflops"]), fmt(result["fp32_tflops"])
        return [f"matmul {result['n']}^3: bf16 {bf16} TFLOP/s, fp32 {fp32}{rest}"]
    if name == "mfu":
        lines = []
        for mode in ("eager", "compiled"):
            part = result[mode]
            if "rows" not in part:
                lines.append(f"mfu {mode}: {part['status']}: {part['reason']}")
                continue
            for row in part["rows"]:
                figures = row.get("error") or row.get("reason")
                if "tokens_per_s" in row:
                    mfu, of_matmul = fmt(row["mfu"], ".1%"), fmt(row["mfu_of_measured_matmul"], ".1%")
                    figures = f"{row['tokens_per_s']:,.0f} tokens/s, MFU {mfu} ({of_matmul} of the measured matmul)"
                    figures += f", peak {fmt(row['peak_gib'])} GiB"
                lines.append(f"mfu {mode} batch {row['batch']}: {figures}")
        return [f"mfu against: {result['mfu_denominator']}", *lines]
    if name == "finetune":
        lines = [f"finetune batch {result['batch']} x {result['tokens_per_sequence']} tokens, {result['precision']}:"]
        for task, part in result["tasks"].items():
            if "rows" not in part:
                lines.append(f"  {task}: {part['status']}: {part['reason']}")
                continue
            at_profile = fmt(part["profile_micro_batch_examples_per_s"], ",.1f")
            lines.append(
                f"  {task} ({part['sequences_per_batch']} sequences): micro-batch {result['profile_micro_batch']} "
                f"peak {fmt(part['profile_micro_batch_peak_gib'])} GiB, {at_profile} examples/s; "
                f"largest that fits {fmt(part['largest_micro_batch_that_fits'], '')}"
            )
        return lines
    if name == "pretrain":
        return [
            f"pretrain {result['updates']} updates: loss {result['loss_start']:.3f} -> {result['loss_end']:.3f} "
            f"(unigram {result['unigram_loss']:.3f}, chain {result['chain_loss']:.3f}): loss_fell {result['loss_fell']}"
        ]
    return [
        f"openai_gpt: {result['updates']} updates in {result['finetune_wall_s']:.1f} s, dev {result['dev_metrics']} "
        f"(build and import {result['build_and_import_s']:.1f} s)"
    ]


CORRECTNESS_FIGURES = {
    "fp32": lambda r: (
        f"device vs CPU: loss {fmt(r['device_vs_cpu']['loss_rel'])} rel, logits "
        f"{fmt(r['device_vs_cpu']['logits_max_abs'])} max, gradients {fmt(r['device_vs_cpu']['grad_rel'])} rel; "
        f"AdamW {fmt(r['adamw']['update_max_abs_over_lr'])} of lr"
    ),
    "bf16": lambda r: (
        f"{r['autocast']} vs float64: loss {fmt(r['vs_float64']['loss_rel'])} rel, logits "
        f"{fmt(r['vs_float64']['logits_rel_rms'])} rms, gradients {fmt(r['vs_float64']['grad_rel'])} rel"
    ),
    "micro_batches": lambda r: (
        f"{r['task']} micro-batches of {r['micro_batch']} vs whole ({r['precision']}): "
        f"gradients {fmt(r['micro_vs_whole']['grad_rel'])} rel (tolerance {r['tolerance']:g})"
    ),
    "resume": lambda r: (
        f"{r['updates']} updates resumed after {r['stopped_after']}: max difference "
        f"{fmt(r['resumed_max_abs_difference'])} (two whole runs: {fmt(r['whole_runs_max_abs_difference'])})"
    ),
    "released": lambda r: f"logits vs transformers {r['transformers']}: {fmt(r['logits_max_abs'])} max",
}


def verdict(figures: dict) -> str:
    word = "passed" if figures["passed"] else "FAILED"
    return f"{word}: {figures['error']}" if "error" in figures else word


def summary(report: dict) -> str:
    about = report["machine"]
    device = f"{about.get('gpu', about['device'])}, torch {about['torch']}, CUDA {about['cuda']}"
    lines = [f"gpu_check on {device}: {report['total_wall_s']:.0f} s of the {report['budget_s']:.0f} s budget"]
    for name, result in report["sections"].items():
        lines += [f"  {line}" for line in section_lines(name, result)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help=f"folder for {REPORT}")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--budget-s", type=float, default=480.0, help="sections start only while this lasts")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads on the CPU (default: 1 with --tiny, steady on a shared CPU; else torch's)",
    )
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, a few steps, no compile (CPU: seconds)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan (with --tiny: the tiny one), run nothing"
    )
    started = time.perf_counter()  # before torch is imported: the budget holds for the whole process
    args = parser.parse_args(argv)
    plan = TINY if args.tiny else GPU
    if args.dry_run:
        print(json.dumps({"plan": asdict(plan), "sections": list(SECTIONS), "out": str(args.out / REPORT)}, indent=1))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    command = shlex.join([sys.executable, "-m", "benchmarks.gpu_check", *(sys.argv[1:] if argv is None else argv)])
    if threads := args.threads or (1 if args.tiny else 0):  # two threads on two busy cores wait on each other
        import torch

        torch.set_num_threads(threads)
    try:
        report = run_check(plan, args.device, args.out, args.budget_s, command, started=started)
    except ValueError as error:
        sys.exit(f"gpu_check: {error}")
    print(summary(report))
    print(f"written: {args.out / REPORT}")
    if failed := failed_correctness(report):
        names = ", ".join(failed)
        sys.exit(f"gpu_check: correctness failed on {report['machine']['device']}: {names} (see {REPORT})")


def failed_correctness(report: dict) -> list[str]:
    checks = report["sections"].get("correctness", {}).get("checks", {})
    return [name for name, figures in checks.items() if not figures["passed"]]


if __name__ == "__main__":
    main()
