"""Download, clean and split the pretraining corpus by document."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpt1.config import CorpusConfig
from gpt1.stages.common import add_config_flags, config_from_args, mlflow_params, path_tags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_flags(parser, CorpusConfig)
    parser.add_argument("--out-dir", type=Path, required=True, help="writes raw/, train.txt, val.txt, manifest.json")


def run(args: argparse.Namespace) -> None:
    from gpt1 import tracking
    from gpt1.text import corpus

    cfg = config_from_args(CorpusConfig, args)
    local_dir = None if cfg.source in corpus.CORPORA else Path(cfg.source)
    name = "local" if local_dir else cfg.source
    with tracking.stage_run("download_corpus", mlflow_params(args), path_tags(args)) as run:
        summary = corpus.prepare_corpus(name, args.out_dir, cfg.val_fraction, cfg.seed, local_dir=local_dir)
        run.log_metrics(
            {
                f"{split}_{key}": value
                for split, counts in summary["splits"].items()
                for key, value in counts.items()
                if isinstance(value, (int, float))
            }
        )
