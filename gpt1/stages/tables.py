"""Write the paper's Tables 2-4 with our numbers beside the paper's."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpt1.stages.common import existing_folder, mlflow_params, path_tags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics-dir", type=Path, required=True, help="the full model's metrics files")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True, help="the flat metrics file to write (gpt1.report.flat)")
    parser.add_argument("--curves-dir", type=Path, help="where to write the curves by task (gpt1.report.curves)")


def run(args: argparse.Namespace) -> None:
    import json

    from gpt1 import tracking
    from gpt1.params import profile_label
    from gpt1.report import flat
    from gpt1.report.curves import write_curves_by_task
    from gpt1.report.tables import build_tables

    existing_folder("--metrics-dir", args.metrics_dir)
    with tracking.stage_run("tables", mlflow_params(args), path_tags(args)) as run:
        for path in build_tables(args.metrics_dir, args.out_dir, profile_label()):
            run.log_artifact(path)
        summary = json.loads((args.out_dir / "tables.json").read_text())
        run.log_artifact(flat.write(args.metrics, flat.from_tables(summary)))
        if args.curves_dir:
            write_curves_by_task(args.metrics_dir, args.curves_dir)
