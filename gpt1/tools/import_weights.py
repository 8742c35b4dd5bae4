"""Turn OpenAI's released GPT-1 weights into a gpt1 checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "src",
        type=Path,
        help="folder in the Hugging Face layout (config.json + model.safetensors) "
        "or the original one (params_shapes.json + params_*.npy), told apart by its files",
    )
    parser.add_argument("out", type=Path, help="the gpt1 checkpoint to write (model.pt)")
    parser.add_argument("--task-tokens", type=int, default=3, help="token-embedding rows to append for the task tokens")
    parser.add_argument("--n-head", type=int, default=12, help="attention heads; read only for the original layout")
    parser.add_argument("--seed", type=int, default=0, help="seed of the task-token rows")


def run(args: argparse.Namespace) -> None:
    from gpt1.weights import import_weights

    import_weights(args.src, args.out, task_tokens=args.task_tokens, n_head=args.n_head, seed=args.seed)
