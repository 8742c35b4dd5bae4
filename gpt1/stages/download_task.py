"""Download (or copy from the mirror) one task's data; status.json says what is there, where it came from,
whether a pinned sha256 checked it, and every file's sha256."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from gpt1.stages.common import mlflow_params, path_tags

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gpt1.tasks.registry import TASKS, ZERO_SHOT_TASKS

    parser.add_argument("--task", required=True, choices=[*TASKS, *ZERO_SHOT_TASKS])
    parser.add_argument("--out-dir", type=Path, required=True, help="writes data/ and status.json here")


def run(args: argparse.Namespace) -> None:
    from gpt1 import tasks, tracking
    from gpt1.files import atomic_write_json
    from gpt1.tasks.data import file_hashes, origin, standin_files, verify_copy

    data_dir = args.out_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    tags = path_tags(args) | {"task": args.task}
    with tracking.stage_run("download_task", mlflow_params(args), tags, name=f"download_task/{args.task}") as run:
        try:
            folder = tasks.download_task(args.task, data_dir)
            status = {
                "task": args.task,
                "status": "ok",
                "splits": tasks.available_splits(args.task, data_dir),
                "from": origin(args.task),
                "verified": verify_copy(args.task, folder),
                "standin": standin_files(folder),
                "sha256": file_hashes(folder),
            }
            if status["standin"]:
                log.warning("%s: STAND-IN DATA, for timing only: %s", args.task, ", ".join(status["standin"]))
            if not status["verified"]:
                log.warning("%s: %s (a %s copy): no pinned sha256 vouches for it", args.task, folder, status["from"])
        except tasks.TaskDataMissing as missing:  # the other tasks carry on; fine-tuning reports "not run"
            log.warning("%s", missing)
            status = {"task": args.task, "status": "missing", "reason": str(missing), "splits": []}
        run.set_tag("splits", ",".join(status["splits"]) or "none")
    atomic_write_json(args.out_dir / "status.json", status)
