"""Write a gpt1 checkpoint as Hugging Face OpenAIGPT files."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="a gpt1 model.pt")
    parser.add_argument("out_dir", type=Path, help="where to write config.json and model.safetensors")


def run(args: argparse.Namespace) -> None:
    from gpt1.weights import export_hf

    export_hf(args.checkpoint, args.out_dir)
