"""Fine-tune the pretrained model on one task and evaluate it; write its metrics record and curve.

A task whose data is missing (Story Cloze without registration) or is only a format slice in the mirror
gets a metrics record that says "not run" and why; the workflow carries on with the other tasks.
"""

from __future__ import annotations

import argparse
import logging
import random
from dataclasses import dataclass
from pathlib import Path

from gpt1.config import FinetuneConfig
from gpt1.stages.common import add_config_flags, config_from_args, mlflow_params, path_tags, task_status
from gpt1.text.tokenizers import TOKENIZER_HELP

log = logging.getLogger(__name__)

# The split each task reports (the table's): the only one evaluated, besides a selection split. The paper's
# test numbers are set beside ours on the same split wherever its labels are public: Story Cloze (tested as the
# released code did, on the 2016 test set), RACE, SNLI and SciTail. Without it such a task is not run, never
# reported on dev instead. GLUE's test labels are hidden (its server scores them): those tasks report dev.
REPORTED_SPLIT = dict.fromkeys(("story_cloze", "race", "snli", "scitail"), "test")
# Model selection: Story Cloze's test set is predicted with the weights of the epoch best on its 374 held-out
# stories (dev), as the released code did (gpt1.training.selection); that split is scored too. Every other task
# keeps its final weights: the paper reports no selection, and GLUE's dev split is the one reported.
SELECTED_ON = {"story_cloze": "dev"}
EVAL_SAMPLE_SEED = 0  # finetune.max_eval_examples: one sample per split, whatever the run's seed or variant
CURVE_FIELDS = ("step", "epoch", "train_loss", "lr")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gpt1.tasks.registry import TASKS

    parser.add_argument("--task", required=True, choices=list(TASKS))
    parser.add_argument("--seed", type=int, required=True, help="one of params.yaml's runs.seeds")
    parser.add_argument(
        "--variant", required=True, help="full, no_pretraining, no_aux_lm, lstm or layers<K> (gpt1.training.variants)"
    )
    parser.add_argument("--task-dir", type=Path, required=True, help="download-task's --out-dir")
    parser.add_argument("--checkpoint", type=Path, required=True, help="the pretrained (or imported) model.pt")
    parser.add_argument("--tokenizer", type=Path, required=True, help=TOKENIZER_HELP)
    parser.add_argument("--out", type=Path, required=True, help="the metrics JSON to write")
    parser.add_argument("--curves", type=Path, required=True, help="the training-loss curve (CSV) to write")
    parser.add_argument("--work-dir", type=Path, required=True, help="where the resumable checkpoint lives")
    add_config_flags(parser, FinetuneConfig)


def run(args: argparse.Namespace) -> None:
    from gpt1.params import check_seed

    check_seed("--seed", args.seed)
    cfg = config_from_args(FinetuneConfig, args, seed=args.seed, variant=args.variant)
    status = task_status(args.task, args.task_dir)
    try:
        data = task_data(args.task, args.task_dir / "data", status, cfg)
    except NotRun as why:  # written without importing torch or MLflow: seconds saved per task without data
        return not_run(args.task, str(why), args.out, cfg, args.curves)
    from gpt1 import tracking
    from gpt1.gpu_slots import claim_gpu

    claim_gpu(cfg.device)  # before CUDA starts: a GPU no other job holds, when there are several

    tags = path_tags(args) | {"task": args.task, "seed": str(cfg.seed), "ablation": cfg.variant}  # full, ...
    name = f"finetune/{args.task}/{cfg.variant}/seed{cfg.seed}"
    with tracking.stage_run("finetune", mlflow_params(args), tags, name) as run:
        fine_tune(args.task, data, args.checkpoint, args.tokenizer, cfg, args.out, args.work_dir, run, args.curves)
        run.log_artifact(args.out)
        run.log_artifact(args.curves)


def run_task(
    task_id: str,
    data_dir: Path,
    status: dict,
    checkpoint: Path,
    tokenizer: Path,
    cfg: FinetuneConfig,
    out: Path,
    work_dir: Path,
    tracker=None,
    curves_out: Path | None = None,
) -> None:
    """Fine-tune and evaluate `task_id`, or say why not; write its metrics record to `out` and its training
    curve to `curves_out`: the stage without its command line. `tokenizer`: a sentencepiece model file or
    OpenAI's vocabulary folder (gpt1.text.tokenizers.load_tokenizer)."""
    try:
        data = task_data(task_id, data_dir, status, cfg)
    except NotRun as why:
        return not_run(task_id, str(why), out, cfg, curves_out)
    fine_tune(task_id, data, checkpoint, tokenizer, cfg, out, work_dir, tracker, curves_out)


class NotRun(Exception):
    """The task cannot run here; the message says why (it goes into the metrics record)."""


@dataclass
class TaskData:
    train: list
    evals: dict[str, list]
    """Every labelled evaluation split present, the reported one first."""
    available: int
    """Training examples before the seeded subset (finetune.max_train_examples)."""
    verified: bool
    """Whether a pinned sha256 checked the data (not for a mirror's copy: gpt1.tasks.data.origin)."""
    eval_available: dict[str, int]
    """Examples of each evaluation split before the seeded sample (finetune.max_eval_examples)."""
    standin: list[str]
    """The task's files that are generated stand-ins for timing (benchmarks/standin.py), not its data."""


def task_data(task_id: str, data_dir: Path, status: dict, cfg: FinetuneConfig) -> TaskData:
    """The examples a run trains and evaluates on; NotRun when there are none, or too few (a format slice)."""
    from gpt1.tasks import read_split
    from gpt1.tasks.readers import seeded_sample

    if status["status"] != "ok":
        raise NotRun(status["reason"])
    splits = status["splits"]
    reported, selected_on = REPORTED_SPLIT.get(task_id, "dev"), SELECTED_ON.get(task_id)
    if "train" not in splits:
        raise NotRun(f"no training data in {data_dir}")
    if reported not in splits:
        raise NotRun(f"no labelled {reported} split in {data_dir}: the split the paper reports")
    if selected_on and selected_on not in splits:
        raise NotRun(f"no {selected_on} split in {data_dir}: the held-out split that selects the epoch")
    eval_splits = [reported, *([selected_on] if selected_on else [])]
    train = read_split(task_id, "train", data_dir)
    if len(train) < cfg.min_train_examples:
        raise NotRun(
            f"only {len(train)} training examples in {data_dir} (a format slice?); "
            f"finetune.min_train_examples is {cfg.min_train_examples}"
        )
    available = len(train)
    if cfg.max_train_examples and available > cfg.max_train_examples:
        train = random.Random(cfg.seed).sample(train, cfg.max_train_examples)
    evals, eval_available = {}, {}
    for split in eval_splits:
        examples = read_split(task_id, split, data_dir)
        eval_available[split] = len(examples)
        evals[split] = seeded_sample(examples, cfg.max_eval_examples, EVAL_SAMPLE_SEED)
    standin = status.get("standin", [])  # none in a status.json written before stand-ins existed
    return TaskData(train, evals, available, status["verified"], eval_available, standin)


def fine_tune(
    task_id: str,
    data: TaskData,
    checkpoint: Path,
    tokenizer: Path,
    cfg: FinetuneConfig,
    out: Path,
    work_dir: Path,
    tracker=None,
    curves_out: Path | None = None,
) -> None:
    """Fine-tune on `data`, evaluate, and write the metrics record and the curve."""
    from gpt1.files import atomic_write_json
    from gpt1.params import profile_label
    from gpt1.tasks import TASKS
    from gpt1.text.tokenizers import load_tokenizer
    from gpt1.training.finetune import finetune
    from gpt1.training.targets import scored

    task, select_on = TASKS[task_id], SELECTED_ON.get(task_id)
    tokens = load_tokenizer(tokenizer)
    result = finetune(task, data.train, data.evals, checkpoint, tokens, cfg, work_dir, tracker, select_on)
    reported = next(iter(data.evals))
    record = {
        "task": task_id,
        "status": "done",
        "profile": profile_label(),
        "split": reported,
        "metrics": result["results"][reported]["metrics"],
        "results": result["results"],
        "n_train": result["n_train"],
        "n_train_available": data.available,
        "updates": result["updates"],
        "n_layer": result["n_layer"],
        "seed": cfg.seed,
        "lm_coef": cfg.lm_coef,
        "variant": cfg.variant,
        "checkpoint": str(checkpoint),
        "init": initialisation(result["source"]),
        "data_verified": data.verified,
        "n_eval_available": data.eval_available,
        "pretrain_run_id": result["pretrain_run_id"],
        "wall_s": round(result["wall_s"], 1),
        "curves": result["curves"],
    }
    if data.standin:
        record["standin_data"] = data.standin
    if result["source"]:
        record["source"] = result["source"]
    if result["selection"]:
        record["selection"] = result["selection"]
    if scored(task):  # STS-B
        record["stsb_target"] = cfg.stsb_target
    write_curves(curves_out, result["curves"])
    atomic_write_json(out, record)
    if tracker:
        tracker.log_metrics(
            {f"final_{split}_{m}": v for split, r in result["results"].items() for m, v in r["metrics"].items()}
        )
        if select_on:  # the held-out score after each epoch, the epoch as its step
            metric = task.metrics[0]
            for epoch in result["selection"]["epochs"]:
                tracker.log_metrics({f"{select_on}_{metric}_by_epoch": epoch[metric]}, epoch["epoch"])
        if result["pretrain_run_id"]:
            tracker.set_tag("pretrain_run_id", result["pretrain_run_id"])
    log.info("%s: %s %s", task_id, reported, record["metrics"])


def not_run(task_id: str, reason: str, out: Path, cfg: FinetuneConfig, curves_out: Path | None) -> None:
    from gpt1.files import atomic_write_json
    from gpt1.params import profile_label

    log.warning("%s: not run: %s", task_id, reason)
    write_curves(curves_out, [])
    atomic_write_json(
        out,
        {
            "task": task_id,
            "status": "not run",
            "reason": reason,
            "profile": profile_label(),
            "seed": cfg.seed,
            "variant": cfg.variant,
        },
    )


def write_curves(path: Path | None, curves: list[dict]) -> None:
    """The training-loss curve as CSV, for `dvc plots` (only the header when the task did not run)."""
    if path and not curves:
        from gpt1.files import atomic_write_text

        atomic_write_text(path, ",".join(CURVE_FIELDS) + "\n")  # as pandas writes an empty frame, sooner
    elif path:
        import pandas as pd

        from gpt1.files import atomic_write_text

        atomic_write_text(path, pd.DataFrame(curves, columns=list(CURVE_FIELDS)).to_csv(index=False))


def initialisation(source: str | None) -> str:
    """params.yaml's runs.init that a checkpoint stands for: "openai-gpt" for the imported released
    weights (they carry `source`), "pretrained" for gpt1's own pretraining."""
    from gpt1.weights import SOURCE

    return "openai-gpt" if source == SOURCE else "pretrained"
