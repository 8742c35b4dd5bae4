"""Download OpenAI's released GPT-1 (pinned) and its tokenizer; write a gpt1 checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpt1.stages.common import mlflow_params, path_tags, project_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="the gpt1 checkpoint to write (model.pt)")
    parser.add_argument("--vocab-dir", type=Path, required=True, help="where to put the released BPE files")
    parser.add_argument("--download-dir", type=Path, required=True, help="where the released weights are downloaded")
    parser.add_argument(
        "--format",
        choices=("hf", "original"),
        default="hf",
        help="hf: openai-community/openai-gpt's model.safetensors; original: finetune-transformer-lm's npy",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the task-token rows")


def run(args: argparse.Namespace) -> None:
    from gpt1 import tracking
    from gpt1.released import import_released

    with tracking.stage_run("import_openai_gpt", mlflow_params(args), path_tags(args)) as run:
        about = import_released(args.model, args.vocab_dir, args.download_dir, args.format, args.seed)
        run.log_metrics({"parameters": about["parameters"]})
        run.set_tag("checkpoint", project_path(args.model))
