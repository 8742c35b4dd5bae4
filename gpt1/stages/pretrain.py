"""Pretrain GPT-1 on the token files (under torchrun for several processes)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gpt1.config import GPTConfig, PretrainConfig
from gpt1.stages.common import add_config_flags, config_from_args, mlflow_params, path_tags, project_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_io_arguments(parser)
    add_config_flags(parser, GPTConfig)
    add_config_flags(parser, PretrainConfig)


def add_io_arguments(parser: argparse.ArgumentParser) -> None:
    """Where pretraining reads and writes: the same for the transformer and the LSTM (pretrain_lstm)."""
    parser.add_argument("--tokens-dir", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True, help="the flat metrics file to write (gpt1.report.flat)")
    parser.add_argument("--stop-after", type=int, help="stop after this many updates, leaving a checkpoint to resume")


def run(args: argparse.Namespace) -> None:
    import json

    vocab_size = json.loads((args.tokens_dir / "meta.json").read_text())["vocab_size"]
    model_cfg = config_from_args(GPTConfig, args, vocab_size=vocab_size)
    train_and_track("pretrain", args, model_cfg, config_from_args(PretrainConfig, args))


def train_and_track(stage: str, args: argparse.Namespace, model_cfg, cfg: PretrainConfig) -> None:
    """Pretrain `model_cfg`'s model (the transformer's, or the LSTM's for pretrain_lstm) as stage `stage`: one
    MLflow run, the main process's; the weights, metrics, curves and flat metrics as artifacts."""
    from gpt1 import tracking
    from gpt1.gpu_slots import claim_gpu
    from gpt1.report import flat
    from gpt1.training.pretrain import CURVES, RUN_SIZE, pretrain

    world = int(os.environ.get("WORLD_SIZE", 1))
    if world == 1:  # torchrun's processes share the node's GPUs by local rank
        claim_gpu(cfg.device)  # before CUDA starts: a GPU no other job holds, when there are several
    params = mlflow_params(args) | {"vocab_size": model_cfg.vocab_size, "world_size": world}
    if int(os.environ.get("RANK", 0)) != 0:  # one MLflow run, the main process's
        os.environ["GPT1_TRACKING"] = "0"
    with tracking.stage_run(stage, params, path_tags(args)) as run:
        metrics = pretrain(model_cfg, cfg, args.tokens_dir, args.out_dir, tracker=run, stop_after=args.stop_after)
        if metrics:
            size = {k: v for k, v in metrics.items() if k in RUN_SIZE}  # constants of the run, not measurements
            run.log_params(size)
            run.log_metrics({f"final_{k}": v for k, v in metrics.items() if k not in size})
            run.set_tag("checkpoint", project_path(args.out_dir / "model.pt"))
            run.log_artifact(args.out_dir / "metrics.json")
            for curve in CURVES:
                run.log_artifact(args.out_dir / curve)
            run.log_artifact(flat.write(args.metrics, flat.from_pretraining(stage, metrics)))
