"""Seconds per update of the real pretraining loop (gpt1.training.pretrain: the allocator tuning, the data
windows, validation left out), for the sample transformer and LSTM candidates, on the sample's tokens
(results/tokens). What step_time.py measures in isolation, measured as the pipeline runs it. Run on idle cores.

    python experiments/lstm_size/loop_time.py UPDATES OUT_DIR > experiments/lstm_size/loop_time.log
"""

import dataclasses
import json
import sys
import time
from pathlib import Path

from gpt1.config import GPTConfig, LSTMConfig, PretrainConfig
from gpt1.params import load
from gpt1.training.pretrain import pretrain


def main(updates: int, out: Path) -> None:
    params = load()
    tokens = Path("results/tokens")
    vocab = json.loads((tokens / "meta.json").read_text())["vocab_size"]
    n_ctx = params["model"]["n_ctx"]
    lstm = {k: v for k, v in params["lstm"].items() if k != "n_hidden"}
    candidates = {"transformer 4 x 256 (sample)": GPTConfig(vocab_size=vocab, **params["model"])}
    for hidden in (512, 640, 768, 1024):
        candidates[f"lstm 1 x {hidden}"] = LSTMConfig(vocab_size=vocab, n_ctx=n_ctx, n_hidden=hidden, **lstm)
    run = dataclasses.replace(
        PretrainConfig(**params["pretrain"]), max_steps=updates, eval_interval=updates, eval_batches=1
    )
    print(f"{updates} updates of {run.batch_size} x {n_ctx}, vocabulary {vocab}, the sample's pretrain group")
    print("| model | parameters | s / update | / transformer |")
    print("|---|---|---|---|")
    base = None
    for name, cfg in candidates.items():
        started = time.perf_counter()
        metrics = pretrain(cfg, run, tokens, out / name.replace(" ", "_"))
        seconds = (time.perf_counter() - started) / updates
        base = base or seconds
        print(f"| {name} | {metrics['parameters']:,} | {seconds:.3f} | {seconds / base:.2f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
