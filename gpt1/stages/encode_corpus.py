"""Encode train.txt and val.txt into uint16 token files."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpt1.stages.common import mlflow_params, path_tags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bpe-model", type=Path, required=True)
    parser.add_argument("--corpus-dir", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)


def run(args: argparse.Namespace) -> None:
    from gpt1 import tracking
    from gpt1.text import encode

    with tracking.stage_run("encode_corpus", mlflow_params(args), path_tags(args)) as run:
        meta = encode.encode_corpus(args.bpe_model, args.corpus_dir, args.out_dir)
        run.log_metrics({k: v for k, v in meta.items() if isinstance(v, int)})
