"""Draw Figure 2: layers transferred, and zero-shot scores over pretraining (transformer and LSTM)."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpt1.stages.common import existing_folder, mlflow_params, path_tags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics-dir", type=Path, required=True, help="holds full/ and transfer/layers<K>/")
    parser.add_argument(
        "--zero-shot-dir", type=Path, required=True, help="the transformer's zero_shot records (<task>.json)"
    )
    parser.add_argument(
        "--lstm-zero-shot-dir",
        type=Path,
        required=True,
        help="the LSTM baseline's zero_shot records (<task>.json); a folder that is not there draws no LSTM curves",
    )
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True, help="the flat metrics file to write (gpt1.report.flat)")


def run(args: argparse.Namespace) -> None:
    import json

    from gpt1 import tracking
    from gpt1.params import profile_label
    from gpt1.report import flat
    from gpt1.report.figure2 import build_figure2

    existing_folder("--metrics-dir", args.metrics_dir)
    with tracking.stage_run("figure2", mlflow_params(args), path_tags(args)) as run:
        written = build_figure2(
            args.metrics_dir, args.zero_shot_dir, args.out_dir, profile_label(), args.lstm_zero_shot_dir
        )
        for path in written:
            run.log_artifact(path)
        data = json.loads((args.out_dir / "figure2.json").read_text())
        run.log_artifact(flat.write(args.metrics, flat.from_figure2(data)))
