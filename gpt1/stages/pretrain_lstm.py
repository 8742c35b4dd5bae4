"""Pretrain the LSTM baseline (Table 5, Figure 2) on the transformer's token files, with its schedule."""

from __future__ import annotations

import argparse
import dataclasses

from gpt1.config import LSTMConfig, PretrainConfig
from gpt1.stages.common import add_config_flags, config_from_args
from gpt1.stages.pretrain import add_io_arguments, train_and_track


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_io_arguments(parser)
    parser.add_argument(
        "--n-ctx", "--n_ctx", dest="n_ctx", type=int, required=True, help="params.yaml: model.n_ctx (the same windows)"
    )
    add_config_flags(parser, LSTMConfig)
    add_config_flags(parser, PretrainConfig)


def run(args: argparse.Namespace) -> None:
    import json

    vocab_size = json.loads((args.tokens_dir / "meta.json").read_text())["vocab_size"]
    model_cfg = config_from_args(LSTMConfig, args, vocab_size=vocab_size, n_ctx=args.n_ctx)
    # the transformer's batches, updates and schedule, at the LSTM's own peak learning rate
    cfg = dataclasses.replace(config_from_args(PretrainConfig, args), lr=model_cfg.pretrain_lr)
    train_and_track("pretrain_lstm", args, model_cfg, cfg)
