"""`python -m benchmarks.finetune_memory`: fine-tuning's peak memory at a model config, measured per sequence, and
what it gives for each task's batch with and without micro-batches (finetune.micro_batch_size).

Each measurement is one fine-tuning step (forward, L3 with the auxiliary LM loss, backward) of a task model on
`n` sequences of the full context, in a child process: on CUDA its torch.cuda.max_memory_allocated, on a CPU its
peak resident memory (fp32; bf16 autocast on a GPU keeps less). Two sizes give the memory of the weights and
gradients (the intercept) and of one sequence's activations and logits (the slope). The estimate for a task
adds AdamW's two moments (8 bytes a parameter) and assumes every sequence is as long as the context: an upper
bound, since batches are padded to their own longest sequence.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from gpt1.config import GPTConfig
from gpt1.tasks import TASKS
from gpt1.tasks.transform import sequences_per_example

PAPER = GPTConfig(vocab_size=40478, n_ctx=512, n_layer=12, n_head=12, n_embd=768, n_inner=3072, dropout=0.1)
BATCH = 32


def tasks_by_sequences() -> dict[str, int]:
    """The tasks grouped by how many sequences an example is ("sst2, cola, ...": 1; "race": 4)."""
    counts = {task_id: sequences_per_example(task) for task_id, task in TASKS.items()}
    return {", ".join(t for t in counts if counts[t] == n): n for n in sorted(set(counts.values()))}


STEP = """
import json, resource, sys, torch
from gpt1.config import GPTConfig
from gpt1.model import GPT
from gpt1.tasks import TASKS
from gpt1.training.finetune import Encoded, TaskModel, accumulate
cfg = GPTConfig(**json.loads(sys.argv[1])); n = int(sys.argv[2]); device = torch.device(sys.argv[3])
torch.manual_seed(0)
model = TaskModel(GPT(cfg), "classification", 2, 0.1).to(device)
seq = [1, *torch.randint(4, cfg.vocab_size, (cfg.n_ctx - 2,)).tolist(), 3]
if device.type == "cuda":
    torch.cuda.reset_peak_memory_stats()
accumulate(model, TASKS["sst2"], [Encoded([seq], 0, "")] * n, 0, 0.5, device)
if device.type == "cuda":
    peak = torch.cuda.max_memory_allocated()
else:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"peak_bytes": peak, "parameters": sum(p.numel() for p in model.parameters())}))
"""


def measure(cfg: GPTConfig, n: int, device: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", STEP, json.dumps(cfg.to_dict()), str(n), device],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def estimates(cfg: GPTConfig, device: str, sizes: tuple[int, int]) -> dict:
    small, large = (measure(cfg, n, device) for n in sizes)
    per_sequence = (large["peak_bytes"] - small["peak_bytes"]) / (sizes[1] - sizes[0])
    fixed = small["peak_bytes"] - sizes[0] * per_sequence + 8 * small["parameters"]  # + AdamW's moments
    gib = 2**30
    tasks = {}
    for names, per_example in tasks_by_sequences().items():
        whole = fixed + BATCH * per_example * per_sequence
        tasks[names] = {
            "sequences_per_batch": BATCH * per_example,
            "peak_gib_whole_batch": round(whole / gib, 1),
            **{f"peak_gib_micro_{m}": round((fixed + m * per_example * per_sequence) / gib, 1) for m in (8, 4)},
        }
    return {
        "device": device,
        "config": cfg.to_dict(),
        "measured_sequences": sizes,
        "mib_per_sequence": round(per_sequence / 2**20, 1),
        "gib_fixed_with_adam": round(fixed / gib, 2),
        "tasks": tasks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs=2, default=(1, 3), help="the two sequence counts measured")
    parser.add_argument("--tiny", action="store_true", help="a small config, for the tests")
    args = parser.parse_args()
    cfg = GPTConfig(vocab_size=500, n_ctx=64, n_layer=2, n_head=2, n_embd=32, n_inner=64) if args.tiny else PAPER
    print(json.dumps(estimates(cfg, args.device, tuple(args.sizes)), indent=2))


if __name__ == "__main__":
    main()
