"""Seconds per pretraining update of the sample transformer and of LSTM candidates, measured in one process,
interleaved: the ratio LSTM / transformer is what sizes params.yaml's `lstm` group for equal compute. Run it on
idle cores: other work slows the transformer's matmuls more than the LSTM's recurrence, so a shared machine
understates the LSTM's cost (experiments/lstm_size/README.md).

    python experiments/lstm_size/step_time.py [rounds]
"""

import sys
import time

import torch

from gpt1.architectures import build
from gpt1.config import GPTConfig, LSTMConfig
from gpt1.params import load

params = load()
VOCAB, T, B = 2000, params["model"]["n_ctx"], params["pretrain"]["batch_size"]
transformer = dict(params["model"])
CANDIDATES = {
    "transformer 4 x 256 (sample)": GPTConfig(vocab_size=VOCAB, **transformer),
    **{
        f"lstm 1 x {h}, embd {e}": LSTMConfig(vocab_size=VOCAB, n_ctx=T, n_layer=1, n_hidden=h, n_embd=e)
        for h, e in ((512, 256), (640, 256), (768, 256), (1024, 256), (1536, 256))
    },
}


def step_seconds(model, optimizer, x, y, steps=5) -> float:
    started = time.perf_counter()
    for _ in range(steps):
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return (time.perf_counter() - started) / steps


def main(rounds: int) -> None:
    torch.manual_seed(0)
    x = torch.randint(0, VOCAB, (B, T))
    y = torch.randint(0, VOCAB, (B, T))
    setups = {}
    for name, cfg in CANDIDATES.items():
        model = build(cfg)
        setups[name] = (model, torch.optim.AdamW(model.param_groups(0.01), lr=1e-4))
        step_seconds(*setups[name], x, y, steps=1)  # warm-up
    times = {name: [] for name in setups}
    for _ in range(rounds):
        for name, setup in setups.items():
            times[name].append(step_seconds(*setup, x, y))
    base = min(times["transformer 4 x 256 (sample)"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {B} x {T}, vocabulary {VOCAB}")
    print("| model | parameters | s / update (best of rounds) | / transformer |")
    print("|---|---|---|---|")
    for name, (model, _) in setups.items():
        best = min(times[name])
        print(f"| {name} | {model.num_parameters():,} | {best:.3f} | {best / base:.2f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
