"""What the device check's correctness tolerances (benchmarks/gpu_check_correctness.py, TOLERANCES) are set
against: its comparisons at the paper's sizes (the GPU plan) run on this CPU, where fp32 and CPU bf16 autocast
are measured against float64. The fine-tuning micro-batch check runs twice: in fp32 (the CPU's path) and with
accumulate's autocast swapped for CPU bf16 (a stand-in for CUDA's, which trains under bf16 autocast), the latter
at 4 of the plan's 8 questions and sequences of up to 64 of its 128 tokens: CPU bf16 is emulated, and the whole
plan's three passes took over 15 minutes here before they were stopped.

    PYTHONPATH=. python experiments/device_check/calibrate.py >> experiments/device_check/calibrate.log 2>&1

Writes experiments/device_check/calibrate.json after each step; a rerun keeps the steps already there.
"""

import dataclasses
import json
import time
from pathlib import Path
from unittest import mock

import torch

from benchmarks import gpu_check
from benchmarks import gpu_check_correctness as correctness

OUT = Path(__file__).with_name("calibrate.json")
CPU = torch.device("cpu")
PLAN = gpu_check.GPU


def micro_batches_in_cpu_bf16() -> dict:
    smaller = dataclasses.replace(PLAN, micro_check=gpu_check.MicroCheck("race", 4, 64, 2))
    with mock.patch("gpt1.training.finetune.mixed_precision", lambda device: torch.autocast("cpu", torch.bfloat16)):
        return correctness.micro_batches(smaller, CPU)


STEPS = {
    "fp32": lambda: correctness.fp32_and_fused_adamw(PLAN, CPU),
    "bf16": lambda: correctness.bf16_autocast(PLAN, CPU),
    "micro_fp32": lambda: correctness.micro_batches(PLAN, CPU),
    "micro_bf16": micro_batches_in_cpu_bf16,
    "released": lambda: correctness.released_architecture(PLAN, CPU),
}


def main() -> None:
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    results |= {"torch": torch.__version__, "threads": torch.get_num_threads()}
    for name, step in STEPS.items():
        if name in results:
            continue
        started = time.perf_counter()
        results[name] = step() | {"wall_s": round(time.perf_counter() - started, 1)}
        print(name, json.dumps(results[name], default=str), flush=True)
        OUT.write_text(json.dumps(results, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
