"""Write results/summary.md and log every table and figure to one MLflow run."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpt1.stages.common import mlflow_params, path_tags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)


def run(args: argparse.Namespace) -> None:
    from gpt1 import tracking
    from gpt1.params import profile_label
    from gpt1.report.summary import build_summary, headline_metrics

    with tracking.stage_run("summary", mlflow_params(args), path_tags(args)) as run:
        build_summary(args.results_dir, args.out, profile_label(), tracking.git_commit())
        run.log_metrics(headline_metrics(args.results_dir))
        for path in [
            args.out,
            *sorted((args.results_dir / "tables").glob("*")),
            *sorted((args.results_dir / "figures").glob("*")),
        ]:
            run.log_artifact(path)
