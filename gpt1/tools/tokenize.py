"""Print the token ids of each line of stdin, space-separated, one output line per input line."""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from gpt1.text.tokenizers import TOKENIZER_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tokenizer",
        required=True,
        help="openai (with --vocab-dir), sentencepiece (with --model), or a path: " + TOKENIZER_HELP,
    )
    parser.add_argument(
        "--vocab-dir", type=Path, help="with --tokenizer openai: encoder_bpe_40000.json and vocab_40000.bpe"
    )
    parser.add_argument("--model", type=Path, help="with --tokenizer sentencepiece: the .model file")


def run(args: argparse.Namespace) -> None:
    from gpt1.text.tokenizers import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_path(args.tokenizer, args.vocab_dir, args.model))
    while lines := [line.rstrip("\r\n") for line in itertools.islice(sys.stdin, 1000)]:
        for ids in tokenizer.encode(lines):
            print(" ".join(map(str, ids)))


def tokenizer_path(kind: str, vocab_dir: Path | None, model: Path | None) -> Path:
    """`--tokenizer openai --vocab-dir DIR`, `--tokenizer sentencepiece --model FILE`, or `--tokenizer PATH`."""
    if kind == "openai":
        if vocab_dir is None or not vocab_dir.is_dir():
            raise FileNotFoundError(
                f"--tokenizer openai needs --vocab-dir, the folder of OpenAI's BPE files (got {vocab_dir})"
            )
        return vocab_dir
    if kind == "sentencepiece":
        if model is None or not model.is_file():
            raise FileNotFoundError(f"--tokenizer sentencepiece needs --model, a trained .model file (got {model})")
        return model
    return Path(kind)
