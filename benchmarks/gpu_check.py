"""`python -m benchmarks.gpu_check --out DIR`: the prepared device check, for the day a CUDA machine is lent.

Five sections, in this order, each timed on its own; one that fails (out of memory, a compile error) records its
error and the others still run:

1. matmul: measured bf16 and fp32 (and tf32) matmul TFLOP/s.
2. mfu: the paper's model (12 x 768, context 512, vocabulary 40,478) training at the largest batch that fits,
   torch.compile off and on: tokens/s, MFU against the card's datasheet bf16 peak (a table of known cards) and
   against the measured matmul rate, peak memory.
3. finetune: fine-tuning examples/s and peak memory at SST-2's shape (32 sequences of 64 tokens) and RACE's
   (32 questions x 4 answers x 512 tokens), in micro-batches of 8 and whole.
4. pretrain: a few hundred pretraining updates (gpt1.training.pretrain) on a learnable Markov chain; whether the
   loss fell well below the unigram loss.
5. openai_gpt: a random model of the released shapes, imported as `gpt1 import-openai-gpt` does, fine-tuned.

Writes DIR/gpu_check.json (rewritten after every section, so that a run cut short keeps what it measured) and
prints a short summary. Sections start only while `--budget-s` lasts (each needs its estimate left); the rest
are skipped with the reason. `--tiny`: tiny sizes, a few steps, no compile, one CPU thread: about 15 s on a CPU
(the tests run it). `--dry-run`: print the plan and run nothing. Imports torch, numpy, transformers and gpt1's
training code only: no Snakemake, DVC or MLflow (tests/benchmarks/test_gpu_check.py checks it).
"""

from __future__ import annotations

import argparse
import datetime
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

log = logging.getLogger("gpu_check")

REPORT = "gpu_check.json"
ABSENT = ("mlflow", "snakemake", "dvc")  # what a bare CUDA machine lacks: nothing here may import them


@dataclass(frozen=True)
class FinetuneShape:
    name: str
    task: str
    examples: int
    sequences: int
    """Per example: 1 for SST-2, the 4 answers of a RACE question."""
    tokens: int
    micro: tuple[int, ...]
    """Micro-batch sizes tried, in examples (finetune.micro_batch_size); 0: the whole batch at once."""


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
    finetune_shapes: tuple[FinetuneShape, ...]
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
    finetune_shapes=(
        FinetuneShape("sst2", "sst2", 32, 1, 64, (8, 0)),
        FinetuneShape("race", "race", 32, 4, 512, (8, 0)),
    ),
    finetune_steps=3,
    pretrain_steps=300,
    pretrain_batch=64,
    pretrain_micro=32,
    pretrain_lr=2.5e-4,
    chain=(1024, 4),
    chain_tokens=1_000_000,
    released=GPTConfig(vocab_size=40478, n_ctx=512, n_layer=12, n_head=12, n_embd=768, n_inner=3072),
    openai_examples=256,
    openai_batch=32,
    needs_cuda=True,
    estimate_s={"matmul": 10, "mfu": 120, "finetune": 40, "pretrain": 60, "openai_gpt": 40},
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
    finetune_shapes=(
        FinetuneShape("sst2", "sst2", 8, 1, 16, (2, 0)),
        FinetuneShape("race", "race", 4, 4, 64, (2, 0)),
    ),
    finetune_steps=2,
    pretrain_steps=150,
    pretrain_batch=16,
    pretrain_micro=16,
    pretrain_lr=3e-3,
    chain=(64, 2),
    chain_tokens=100_000,
    released=GPTConfig(vocab_size=509, n_ctx=64, n_layer=2, n_head=2, n_embd=32, n_inner=128),
    openai_examples=32,
    openai_batch=8,
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
    "matmul": "matmul_peak",
    "mfu": "model_flops_utilisation",
    "finetune": "finetune_shapes",
    "pretrain": "pretraining_updates",
    "openai_gpt": "openai_gpt_path",
}
"""Each section's function in benchmarks.gpu_check_sections, in the order they run."""


def sections() -> dict[str, Section]:
    from benchmarks import gpu_check_sections

    return {name: getattr(gpu_check_sections, function) for name, function in SECTIONS.items()}


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
        lines = []
        for shape, part in result.items():
            if isinstance(part, dict) and "rows" in part:
                for row in part["rows"]:
                    figures = row.get("error") or row.get("reason")
                    if "examples_per_s" in row:
                        figures = f"{row['examples_per_s']:,.1f} examples/s, peak {fmt(row['peak_gib'])} GiB"
                    lines.append(f"finetune {shape} micro-batch {row['micro_batch']}: {figures}")
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


if __name__ == "__main__":
    main()
