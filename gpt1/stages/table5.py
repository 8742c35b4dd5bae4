"""Write Table 5: the full model beside the ablations, with the paper's rows."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpt1.stages.common import existing_folder, mlflow_params, path_tags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics-dir", type=Path, required=True, help="holds full/ and ablation/<variant>/")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True, help="the flat metrics file to write (gpt1.report.flat)")


def run(args: argparse.Namespace) -> None:
    import json

    from gpt1 import tracking
    from gpt1.params import profile_label
    from gpt1.report import flat
    from gpt1.report.table5 import build_table5

    existing_folder("--metrics-dir", args.metrics_dir)
    with tracking.stage_run("table5", mlflow_params(args), path_tags(args)) as run:
        for path in build_table5(args.metrics_dir, args.out_dir, profile_label()):
            run.log_artifact(path)
        summary = json.loads((args.out_dir / "table5.json").read_text())
        run.log_artifact(flat.write(args.metrics, flat.from_table5(summary)))
