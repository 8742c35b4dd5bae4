"""Print the `dvc exp run` -S flags that select a profile (profiles.yaml, over params.yaml)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="profile name: sample, or a profile of profiles.yaml")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))


def run(args: argparse.Namespace) -> None:
    from gpt1 import params

    print(" ".join(params.dvc_set_params(args.params, args.name)))
