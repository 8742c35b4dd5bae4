"""Seconds per update of the sample's pretraining and fine-tuning steps under each OpenMP thread count and wait
policy, alone and beside other work: what params-free defaults keep a run fast on a machine it shares.

Each setting runs in a fresh process (OMP_NUM_THREADS and OMP_WAIT_POLICY are read once, when torch's
OpenMP runtime starts). "Beside other work" starts LOAD background processes first: either 1-thread
fine-tuning-sized training loops under the same setting (two fine-tunings of another run), whose updates per
second are reported too (a setting that speeds the measured process by starving its neighbours is no gain), or
plain Python loops that spin without OpenMP (a laptop busy with something else).

    python experiments/threads/measure.py [--steps 20] > experiments/threads/measure.log
    python experiments/threads/measure.py --spin > experiments/threads/spin.log
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SETTINGS = [  # (threads, wait policy; None: the OpenMP runtime's default, which spins)
    (2, None),
    (2, "PASSIVE"),
    (1, None),
    (1, "PASSIVE"),
]
# The second pass (--spin): libgomp's spin before a waiting thread sleeps, between the default (300,000 turns)
# and PASSIVE's none; 2 threads, pretraining only (fine-tuning jobs run on one thread, which never waits).
SPIN_SETTINGS = [(2, None), (2, "PASSIVE"), (2, "GOMP_SPINCOUNT=10000"), (2, "GOMP_SPINCOUNT=1000")]
STAGES = ("pretrain", "finetune")


def step_loop(stage: str, steps: int, forever: bool = False) -> None:
    """Run one stage's training step `steps` times (after 2 warm-up steps); print seconds per step as JSON."""
    import torch

    from gpt1.architectures import build
    from gpt1.config import GPTConfig
    from gpt1.params import load

    params = load()
    model = build(GPTConfig(vocab_size=params["bpe"]["vocab_size"], **params["model"]))
    optimizer = torch.optim.AdamW(model.param_groups(0.01), lr=1e-4)
    # pretraining: 16 x 128 tokens an update; fine-tuning: 32 examples of about 60 tokens (SST-2 to MRPC pairs)
    batch, length = (params["pretrain"]["batch_size"], params["model"]["n_ctx"]) if stage == "pretrain" else (32, 60)
    x = torch.randint(0, params["bpe"]["vocab_size"], (batch, length))

    def step() -> None:
        _, loss = model(x, x)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    done, started = 0, time.perf_counter()
    while forever or done < steps:
        step()
        done += 1
        if forever and done % 5 == 0:
            print(json.dumps({"steps": done, "s": time.perf_counter() - started}), flush=True)
    print(json.dumps({"s_per_step": (time.perf_counter() - started) / steps}), flush=True)


def child(stage: str, threads: int, policy: str | None, steps: int, forever: bool = False) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.pop("OMP_WAIT_POLICY", None)
    env.pop("GOMP_SPINCOUNT", None)
    if policy and "=" in policy:
        name, value = policy.split("=")
        env[name] = value
    elif policy:
        env["OMP_WAIT_POLICY"] = policy
    command = [sys.executable, __file__, "--child", stage, "--steps", str(steps)] + (["--forever"] if forever else [])
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)


def last_rate(lines: list[str]) -> float:
    """A background loop's updates per second over its reports."""
    reports = [json.loads(line) for line in lines if line.startswith('{"steps"')]
    (first, last) = (reports[0], reports[-1])
    return (last["steps"] - first["steps"]) / (last["s"] - first["s"]) if last["s"] > first["s"] else float("nan")


SPIN = "while True: pass"
LOADS = {  # what runs beside the measured process
    "nothing": 0,
    "2 fine-tunings": 2,  # of another run, under the same setting
    "2 busy loops": 2,  # plain Python, no OpenMP: other work on the machine
}


def measure(stage: str, threads: int, policy: str | None, steps: int, load: str) -> dict:
    if load == "2 busy loops":
        background = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(LOADS[load])]
    else:
        background = [child("finetune", 1, policy, 0, forever=True) for _ in range(LOADS[load])]
    if background:
        time.sleep(15)  # their imports and warm-up done
    out, _ = child(stage, threads, policy, steps).communicate()
    result = {"s_per_step": json.loads(out.strip().splitlines()[-1])["s_per_step"], "background": ""}
    rates = []
    for process in background:
        process.terminate()
        lines, _ = process.communicate()
        if lines:
            rates.append(last_rate(lines.splitlines()))
    if rates:
        result["background"] = f"{sum(rates):.2f}"
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--child")
    parser.add_argument("--forever", action="store_true")
    parser.add_argument("--spin", action="store_true", help="the second pass: pretraining under spin counts")
    args = parser.parse_args()
    if args.child:
        return step_loop(args.child, args.steps, args.forever)
    settings, stages = (SPIN_SETTINGS, ("pretrain",)) if args.spin else (SETTINGS, STAGES)
    print(f"cores: {os.cpu_count()}; {args.steps} measured updates per setting")
    print("| stage | threads | wait policy | beside | s / update | background fine-tuning updates/s |")
    print("|---|---|---|---|---|---|")
    for load in LOADS:
        for stage in stages:
            for threads, policy in settings:
                r = measure(stage, threads, policy, args.steps, load)
                cells = [stage, threads, policy or "default", load, f"{r['s_per_step']:.3f}", r["background"]]
                print("| " + " | ".join(str(cell) for cell in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
