"""Score every pretraining snapshot of either architecture (or the released weights) with a task's zero-shot
heuristic: Figure 2 (right)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from gpt1.config import ZeroShotConfig
from gpt1.stages.common import add_config_flags, config_from_args, mlflow_params, path_tags, task_status
from gpt1.text.tokenizers import TOKENIZER_HELP

log = logging.getLogger(__name__)

HEURISTICS = ("cola", "sst2", "race", "dprd")  # gpt1.training.zero_shot.CHANCE's, named without importing torch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=HEURISTICS, help="dprd: the Winograd heuristic")
    parser.add_argument("--task-dir", type=Path, required=True, help="download-task's --out-dir")
    parser.add_argument(
        "--snapshots",
        type=Path,
        required=True,
        help="a pretraining stage's snapshots/ folder (the transformer's or the LSTM's), or one checkpoint (e.g. "
        "the imported released weights)",
    )
    parser.add_argument("--tokenizer", type=Path, required=True, help=TOKENIZER_HELP)
    parser.add_argument("--out", type=Path, required=True, help="the JSON record to write")
    add_config_flags(parser, ZeroShotConfig)


def run(args: argparse.Namespace) -> None:
    from gpt1.files import atomic_write_json

    cfg = config_from_args(ZeroShotConfig, args)
    status = task_status(args.task, args.task_dir)
    if status["status"] != "ok":  # written without importing torch or MLflow, as finetune's "not run"
        log.warning("%s: zero-shot not run: %s", args.task, status["reason"])
        atomic_write_json(args.out, {"task": args.task, "status": "not run", "reason": status["reason"]})
        return
    # A folder of pretraining snapshots, or one checkpoint (the released weights, imported)
    snapshots = [args.snapshots] if args.snapshots.is_file() else sorted(args.snapshots.glob("step*.pt"))
    if not snapshots:
        raise FileNotFoundError(
            f"{args.snapshots}: no step*.pt snapshots: rerun pretraining (`snakemake --forcerun pretrain` or "
            "`dvc repro --force pretrain`), which rebuilds them from its checkpoint, or pass a checkpoint file"
        )
    from gpt1 import tracking
    from gpt1.device import resolve_device
    from gpt1.files import load_weights_file
    from gpt1.gpu_slots import claim_gpu
    from gpt1.text.tokenizers import load_tokenizer
    from gpt1.training.zero_shot import score_snapshots

    claim_gpu(cfg.device)  # before CUDA starts: a GPU no other job holds, when there are several
    architecture = load_weights_file(snapshots[0])["model_config"].get("architecture", "transformer")
    tags = path_tags(args) | {"task": args.task, "architecture": architecture}
    name = f"zero_shot/{args.task}" + ("" if architecture == "transformer" else f"/{architecture}")
    with tracking.stage_run("zero_shot", mlflow_params(args), tags, name=name) as run:
        record = score_snapshots(
            args.task,
            args.task_dir / "data",
            status["splits"],
            snapshots,
            load_tokenizer(args.tokenizer),
            cfg.max_examples,
            cfg.seed,
            resolve_device(cfg.device),
            run,
        )
        if status.get("standin"):  # generated stand-ins (benchmarks/standin.py): the figure says so
            record["standin_data"] = status["standin"]
        atomic_write_json(args.out, record)
        run.log_artifact(args.out)
