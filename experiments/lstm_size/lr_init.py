"""The LSTM's pretraining learning rate and embedding init, chosen by short runs on the sample's tokens: the
sample profile's pretraining (batches, warm-up, cosine schedule) cut to UPDATES updates, for each setting and
seed. Needs results/tokens (`snakemake results/tokens/meta.json --cores 2`).

    python experiments/lstm_size/lr_init.py 1 300 OUT_DIR > experiments/lstm_size/lr_init_round1.log
    python experiments/lstm_size/lr_init.py 2 300 OUT_DIR > experiments/lstm_size/lr_init_round2.log

Round 1 tries four settings on one seed; round 2 the best of them again on another seed, and a higher
learning rate on both seeds.
"""

import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from gpt1.config import LSTMConfig, PretrainConfig
from gpt1.params import load
from gpt1.training.pretrain import pretrain

ROUNDS = {  # (pretrain_lr, init_std, seed)
    1: [
        (2.5e-4, 0.02, 1337),  # the transformer's learning rate and init
        (1e-3, 0.02, 1337),
        (1e-3, 0.1, 1337),
        (3e-3, 0.1, 1337),
    ],
    2: [(3e-3, 0.1, 1338), (1e-2, 0.1, 1337), (1e-2, 0.1, 1338)],
}


def main(round_: int, updates: int, out: Path) -> None:
    torch.set_num_threads(1)  # the losses, not the time, are compared: one thread leaves the other core free
    params = load()
    tokens = Path("results/tokens")
    vocab = json.loads((tokens / "meta.json").read_text())["vocab_size"]
    lstm = {k: v for k, v in params["lstm"].items() if k not in ("pretrain_lr", "init_std")}
    base = PretrainConfig(**params["pretrain"])
    print(f"{updates} updates of {base.batch_size} x {params['model']['n_ctx']}, lstm {lstm}, vocabulary {vocab}")
    print("| pretrain_lr | init_std | seed | val loss | val ppl | s |")
    print("|---|---|---|---|---|---|")
    for lr, std, seed in ROUNDS[round_]:
        cfg = LSTMConfig(vocab_size=vocab, n_ctx=params["model"]["n_ctx"], init_std=std, pretrain_lr=lr, **lstm)
        run = dataclasses.replace(
            base, lr=lr, seed=seed, max_steps=updates, eval_interval=updates, snapshot_interval=0, device="cpu"
        )
        started = time.perf_counter()
        metrics = pretrain(cfg, run, tokens, out / f"lr{lr}-std{std}-seed{seed}")
        took = time.perf_counter() - started
        print(f"| {lr:g} | {std:g} | {seed} | {metrics['val_loss']:.3f} | {metrics['val_ppl']:.1f} | {took:.0f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
