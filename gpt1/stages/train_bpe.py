"""Train the sentencepiece BPE model with the three task tokens."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpt1.config import BPEConfig
from gpt1.stages.common import add_config_flags, config_from_args, mlflow_params, path_tags, project_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_flags(parser, BPEConfig)
    parser.add_argument("--text", type=Path, required=True, help="training text, one paragraph per line")
    parser.add_argument("--manifest", type=Path, required=True, help="the corpus stage's manifest.json (its text form)")
    parser.add_argument("--model", type=Path, required=True, help="where to write the .model file")


def run(args: argparse.Namespace) -> None:
    import json

    from gpt1 import tracking
    from gpt1.text import bpe

    cfg = config_from_args(BPEConfig, args)
    text_form = json.loads(args.manifest.read_text())["text_form"]
    with tracking.stage_run("train_bpe", mlflow_params(args), path_tags(args) | {"text_form": text_form}) as run:
        bpe.train_bpe(args.text, args.model, cfg.vocab_size, cfg.max_sentences, cfg.seed, text_form)
        run.log_artifact(args.model)
        run.set_tag("bpe_model", project_path(args.model))
