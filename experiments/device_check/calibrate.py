"""What the device check's correctness tolerances (benchmarks/gpu_check_correctness.py, TOLERANCES) are set
against: its comparisons at the paper's sizes (the GPU plan) run on this CPU, where fp32 and CPU bf16 autocast
are measured against float64. The fine-tuning micro-batch check runs twice: in fp32 (the CPU's path) and with
accumulate's autocast swapped for CPU bf16 (a stand-in for CUDA's, which trains under bf16 autocast).

    python experiments/device_check/calibrate.py > experiments/device_check/calibrate.log 2>&1

Writes experiments/device_check/calibrate.json.
"""

import dataclasses
import json
import time
from pathlib import Path
from unittest import mock

import torch

from benchmarks import gpu_check, gpu_check_correctness as correctness

OUT = Path(__file__).with_name("calibrate.json")
CPU = torch.device("cpu")


def timed(name: str, run) -> dict:
    started = time.perf_counter()
    result = run()
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(name, json.dumps(result, default=str)[:1500], flush=True)
    return result


def main() -> None:
    plan = gpu_check.GPU
    results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "plan": dataclasses.asdict(plan)}
    results["fp32"] = timed("fp32", lambda: correctness.fp32_and_fused_adamw(plan, CPU))
    results["bf16"] = timed("bf16", lambda: correctness.bf16_autocast(plan, CPU))
    results["micro_fp32"] = timed("micro_fp32", lambda: correctness.micro_batches(plan, CPU))
    cpu_bf16 = lambda device: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
    with mock.patch("gpt1.training.finetune.mixed_precision", cpu_bf16):
        results["micro_bf16"] = timed("micro_bf16", lambda: correctness.micro_batches(plan, CPU))
    results["released"] = timed("released", lambda: correctness.released_architecture(plan, CPU))
    OUT.write_text(json.dumps(results, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
