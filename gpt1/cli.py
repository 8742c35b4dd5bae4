"""`gpt1 <stage>`: one subcommand per pipeline stage, called alike by Snakemake and DVC.

Heavy libraries (torch, mlflow, sentencepiece) are imported inside the stage functions, so that
`gpt1 --help` and `gpt1 profile` start at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Callable

log = logging.getLogger("gpt1")


FIELD_TYPES = {"int": int, "float": float, "str": str}
TOKENIZER_HELP = ("a sentencepiece .model file (train-bpe), or a folder of OpenAI's released encoder_bpe_40000.json "
                  "and vocab_40000.bpe (see gpt1.tokenizers)")


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One --flag per field of a config dataclass (field `n_layer` -> `--n-layer`), typed and defaulted."""
    for field in dataclasses.fields(cls):
        if field.name not in skip:
            flag = f"--{field.name.replace('_', '-')}"
            parser.add_argument(flag, type=FIELD_TYPES[field.type], default=field.default)


def dataclass_from_args(cls: type, args: argparse.Namespace, **extra):
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(args).items() if k in names}, **extra)


def stage_params(args: argparse.Namespace) -> dict:
    """The flags a stage ran with, as MLflow params (the CLI's own bookkeeping left out)."""
    return {k: v for k, v in vars(args).items() if k not in ("command", "func", "log_file", "profile") and v is not None}


# --- stages ---------------------------------------------------------------------------------------


def download_corpus(args: argparse.Namespace) -> None:
    from gpt1 import corpus, tracking

    local_dir = None if args.source in corpus.CORPORA else Path(args.source)
    name = "local" if local_dir else args.source
    with tracking.stage_run("download_corpus", args.profile, stage_params(args)) as run:
        summary = corpus.prepare_corpus(name, args.out_dir, args.val_fraction, args.seed, local_dir=local_dir)
        run.log_metrics({f"{split}_{key}": value for split, counts in summary["splits"].items()
                         for key, value in counts.items() if isinstance(value, (int, float))})


def train_bpe(args: argparse.Namespace) -> None:
    from gpt1 import bpe, tracking

    with tracking.stage_run("train_bpe", args.profile, stage_params(args)) as run:
        bpe.train_bpe(args.text, args.model, args.vocab_size, args.max_sentences, args.seed)
        run.log_artifact(args.model)
        run.set_tag("bpe_model", str(args.model.resolve()))


def encode_corpus(args: argparse.Namespace) -> None:
    from gpt1 import encode, tracking

    with tracking.stage_run("encode_corpus", args.profile, stage_params(args)) as run:
        meta = encode.encode_corpus(args.bpe_model, args.corpus_dir, args.out_dir)
        run.log_metrics({k: v for k, v in meta.items() if isinstance(v, int)})


def pretrain(args: argparse.Namespace) -> None:
    import json

    from gpt1 import tracking
    from gpt1.config import GPTConfig, PretrainConfig
    from gpt1.pretrain import pretrain as run_pretrain

    vocab_size = json.loads((args.tokens_dir / "meta.json").read_text())["vocab_size"]
    model_cfg = dataclass_from_args(GPTConfig, args, vocab_size=vocab_size)
    cfg = dataclass_from_args(PretrainConfig, args)
    main_process = int(os.environ.get("RANK", 0)) == 0
    params = stage_params(args) | {"vocab_size": vocab_size, "world_size": int(os.environ.get("WORLD_SIZE", 1))}
    if not main_process:
        os.environ["GPT1_TRACKING"] = "0"
    with tracking.stage_run("pretrain", args.profile, params) as run:
        metrics = run_pretrain(model_cfg, cfg, args.tokens_dir, args.out_dir, tracker=run, stop_after=args.stop_after)
        if metrics:
            run.log_metrics({f"final_{k}": v for k, v in metrics.items()})
            run.set_tag("checkpoint", str((args.out_dir / "model.pt").resolve()))
            run.log_artifact(args.out_dir / "metrics.json")


def download_task(args: argparse.Namespace) -> None:
    from gpt1 import tasks, tracking
    from gpt1.files import atomic_write_json

    data_dir = args.out_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    with tracking.stage_run("download_task", args.profile, stage_params(args), tags={"task": args.task}) as run:
        try:
            tasks.download_task(args.task, data_dir)
            status = {"task": args.task, "status": "ok", "splits": tasks.available_splits(args.task, data_dir)}
        except tasks.TaskDataMissing as missing:  # the other tasks carry on; fine-tuning reports "not run"
            log.warning("%s", missing)
            status = {"task": args.task, "status": "missing", "reason": str(missing), "splits": []}
        run.set_tag("splits", ",".join(status["splits"]) or "none")
    atomic_write_json(args.out_dir / "status.json", status)


def finetune(args: argparse.Namespace) -> None:
    import json

    from gpt1 import tracking
    from gpt1.config import FinetuneConfig
    from gpt1.finetune_stage import run_task

    cfg = dataclass_from_args(FinetuneConfig, args)
    status = json.loads((args.task_dir / "status.json").read_text())
    tags = {"task": args.task, "seed": str(cfg.seed), "ablation": cfg.variant}  # full, no_pretraining, ...
    with tracking.stage_run("finetune", args.profile, stage_params(args), tags=tags) as run:
        run_task(args.task, args.task_dir / "data", status, args.checkpoint, args.tokenizer, cfg, args.out,
                 args.work_dir, args.profile, run, curves_out=args.curves)


def zero_shot(args: argparse.Namespace) -> None:
    import json

    from gpt1 import tracking
    from gpt1.files import atomic_write_json
    from gpt1.tokenizers import load_tokenizer
    from gpt1.zero_shot import score_snapshots

    status = json.loads((args.task_dir / "status.json").read_text())
    # A folder of pretraining snapshots, or one checkpoint (the released weights, imported)
    snapshots = [args.snapshots] if args.snapshots.is_file() else sorted(args.snapshots.glob("step*.pt"))
    with tracking.stage_run("zero_shot", args.profile, stage_params(args), tags={"task": args.task}) as run:
        if status["status"] != "ok":
            log.warning("%s: zero-shot not run: %s", args.task, status["reason"])
            record = {"task": args.task, "status": "not run", "reason": status["reason"]}
        elif not snapshots:
            raise FileNotFoundError(f"{args.snapshots}: no step*.pt snapshots; rerun the pretrain stage or pass a "
                                    "checkpoint file")
        else:
            record = score_snapshots(args.task, args.task_dir / "data", status["splits"], snapshots,
                                     load_tokenizer(args.tokenizer), args.max_examples, args.seed, run)
    atomic_write_json(args.out, record)


def tables(args: argparse.Namespace) -> None:
    from gpt1 import tracking
    from gpt1.tables import build_tables

    with tracking.stage_run("tables", args.profile, stage_params(args)) as run:
        for path in build_tables(args.metrics_dir, args.out_dir, args.profile):
            run.log_artifact(path)


def table5(args: argparse.Namespace) -> None:
    from gpt1 import tracking
    from gpt1.table5 import build_table5

    with tracking.stage_run("table5", args.profile, stage_params(args)) as run:
        for path in build_table5(args.metrics_dir, args.out_dir, args.profile):
            run.log_artifact(path)


def figure2(args: argparse.Namespace) -> None:
    from gpt1 import tracking
    from gpt1.figures import build_figure2

    with tracking.stage_run("figure2", args.profile, stage_params(args)) as run:
        for path in build_figure2(args.metrics_dir, args.zero_shot_dir, args.out_dir, args.profile):
            run.log_artifact(path)


def summary(args: argparse.Namespace) -> None:
    from gpt1 import tracking
    from gpt1.summary import build_summary, headline_metrics

    with tracking.stage_run("summary", args.profile, stage_params(args)) as run:
        build_summary(args.results_dir, args.out, args.profile, tracking.git_commit())
        run.log_metrics(headline_metrics(args.results_dir))
        for path in [args.out, *sorted((args.results_dir / "tables").glob("*")),
                     *sorted((args.results_dir / "figures").glob("*"))]:
            run.log_artifact(path)


def profile(args: argparse.Namespace) -> None:
    from gpt1 import params

    print(" ".join(params.dvc_set_params(args.params, args.name)))


def import_openai_gpt(args: argparse.Namespace) -> None:
    from gpt1 import tracking
    from gpt1.weights import import_released

    with tracking.stage_run("import_openai_gpt", args.profile, stage_params(args)) as run:
        about = import_released(args.model, args.vocab_dir, args.download_dir, args.format, args.seed)
        run.log_metrics({"parameters": about["parameters"]})
        run.set_tag("checkpoint", str(args.model.resolve()))


def import_weights(args: argparse.Namespace) -> None:
    from gpt1.weights import import_weights as run_import

    run_import(args.src, args.out, task_tokens=args.task_tokens, n_head=args.n_head, seed=args.seed)


def export_hf(args: argparse.Namespace) -> None:
    from gpt1.weights import export_hf as run_export

    run_export(args.checkpoint, args.out_dir)


def tokenize(args: argparse.Namespace) -> None:
    """Print each line of stdin as its token ids, space-separated, one output line per input line."""
    import itertools

    from gpt1.tokenizers import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_path(args.tokenizer, args.vocab_dir, args.model))
    while lines := [line.rstrip("\r\n") for line in itertools.islice(sys.stdin, 1000)]:
        for ids in tokenizer.encode(lines):
            print(" ".join(map(str, ids)))


def tokenizer_path(kind: str, vocab_dir: Path | None, model: Path | None) -> Path:
    """`--tokenizer openai --vocab-dir DIR`, `--tokenizer sentencepiece --model FILE`, or `--tokenizer PATH`."""
    if kind == "openai":
        if vocab_dir is None or not vocab_dir.is_dir():
            raise FileNotFoundError(f"--tokenizer openai needs --vocab-dir, the folder of OpenAI's BPE files (got {vocab_dir})")
        return vocab_dir
    if kind == "sentencepiece":
        if model is None or not model.is_file():
            raise FileNotFoundError(f"--tokenizer sentencepiece needs --model, a trained .model file (got {model})")
        return model
    return Path(kind)


def bench(args: argparse.Namespace) -> None:
    from gpt1.bench import run_bench

    run_bench(args.out, args.repeats, args.threads, args.quick, args.device, args.data_dir)


# --- the command line -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from gpt1.config import FinetuneConfig, GPTConfig, PretrainConfig
    from gpt1.tasks import TASKS

    parser = argparse.ArgumentParser(prog="gpt1", description="Reproduce GPT-1, stage by stage.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="STAGE")

    def stage(name: str, func: Callable, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        p.add_argument("--profile", default="sample", help="profile name, recorded as an MLflow tag")
        p.add_argument("--log-file", type=Path, help="also write the log to this file")
        return p

    p = stage("download-corpus", download_corpus, "Download, clean and split the pretraining corpus by document.")
    p.add_argument("--source", required=True, help="registry name (british-novels, bookcorpus) or a directory of .txt")
    p.add_argument("--val-fraction", type=float, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", type=Path, required=True)

    p = stage("train-bpe", train_bpe, "Train the sentencepiece BPE model with the three task tokens.")
    p.add_argument("--text", type=Path, required=True, help="training text, one paragraph per line")
    p.add_argument("--vocab-size", type=int, required=True)
    p.add_argument("--max-sentences", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", type=Path, required=True, help="where to write the .model file")

    p = stage("encode-corpus", encode_corpus, "Encode train.txt and val.txt into uint16 token files.")
    p.add_argument("--bpe-model", type=Path, required=True)
    p.add_argument("--corpus-dir", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)

    p = stage("pretrain", pretrain, "Pretrain GPT-1 on the token files (torchrun for several processes).")
    p.add_argument("--tokens-dir", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--stop-after", type=int, help="stop after this many updates, leaving a checkpoint to resume")
    add_dataclass_flags(p, GPTConfig, skip=("vocab_size", "layer_norm_eps", "init_std"))
    add_dataclass_flags(p, PretrainConfig)

    p = stage("download-task", download_task, "Download (or copy from the mirror) one task's data.")
    p.add_argument("--task", required=True, choices=list(TASKS))
    p.add_argument("--out-dir", type=Path, required=True, help="writes data/ and status.json here")

    p = stage("finetune", finetune, "Fine-tune the pretrained model on one task and evaluate it.")
    p.add_argument("--task", required=True, choices=list(TASKS))
    p.add_argument("--task-dir", type=Path, required=True, help="download-task's --out-dir")
    p.add_argument("--checkpoint", type=Path, required=True, help="the pretrained (or imported) model.pt")
    p.add_argument("--tokenizer", type=Path, required=True, help=TOKENIZER_HELP)
    p.add_argument("--out", type=Path, required=True, help="the metrics JSON to write")
    p.add_argument("--work-dir", type=Path, required=True, help="where the resumable checkpoint lives")
    p.add_argument("--curves", type=Path, help="the training-loss curve (CSV) to write")
    add_dataclass_flags(p, FinetuneConfig)

    p = stage("zero-shot", zero_shot, "Score every pretraining snapshot with a task's zero-shot heuristic.")
    p.add_argument("--task", required=True, choices=["cola", "sst2", "race"])
    p.add_argument("--task-dir", type=Path, required=True, help="download-task's --out-dir")
    p.add_argument("--snapshots", type=Path, required=True,
                   help="the pretrain stage's snapshots/ folder, or one checkpoint (e.g. the imported released weights)")
    p.add_argument("--tokenizer", type=Path, required=True, help=TOKENIZER_HELP)
    p.add_argument("--max-examples", type=int, default=0, help="a seeded sample of this many examples (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="the JSON record to write")

    p = stage("tables", tables, "Write the paper's Tables 2-4 with our numbers beside the paper's.")
    p.add_argument("--metrics-dir", type=Path, required=True, help="the full model's metrics files")
    p.add_argument("--out-dir", type=Path, required=True)

    p = stage("table5", table5, "Write Table 5: the full model beside the ablations, with the paper's rows.")
    p.add_argument("--metrics-dir", type=Path, required=True, help="holds full/ and ablation/<variant>/")
    p.add_argument("--out-dir", type=Path, required=True)

    p = stage("summary", summary, "Write results/summary.md and log every table and figure to one MLflow run.")
    p.add_argument("--results-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)

    p = stage("figure2", figure2, "Draw Figure 2: layers transferred, and zero-shot scores over pretraining.")
    p.add_argument("--metrics-dir", type=Path, required=True, help="holds full/ and transfer/layers<K>/")
    p.add_argument("--zero-shot-dir", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)

    p = sub.add_parser("profile", help="Print the `dvc exp run` -S flags that select a profile of params.yaml.")
    p.set_defaults(func=profile)
    p.add_argument("name", help="profile name: sample, or a key of params.yaml's profiles")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))

    p = stage("import-openai-gpt", import_openai_gpt,
              "Download OpenAI's released GPT-1 (pinned) and its tokenizer; write a gpt1 checkpoint.")
    p.add_argument("--model", type=Path, required=True, help="the gpt1 checkpoint to write (model.pt)")
    p.add_argument("--vocab-dir", type=Path, required=True, help="where to put the released BPE files")
    p.add_argument("--download-dir", type=Path, required=True, help="where the released weights are downloaded")
    p.add_argument("--format", choices=("hf", "original"), default="hf",
                   help="hf: openai-community/openai-gpt's model.safetensors; original: finetune-transformer-lm's npy")
    p.add_argument("--seed", type=int, default=0, help="seed of the task-token rows")

    p = sub.add_parser("import-weights", help="Turn OpenAI's released GPT-1 weights into a gpt1 checkpoint.")
    p.set_defaults(func=import_weights)
    p.add_argument("src", type=Path, help="folder in the Hugging Face layout (config.json + model.safetensors) "
                   "or the original one (params_shapes.json + params_*.npy), told apart by its files")
    p.add_argument("out", type=Path, help="the gpt1 checkpoint to write (model.pt)")
    p.add_argument("--task-tokens", type=int, default=3, help="token-embedding rows to append for the task tokens")
    p.add_argument("--n-head", type=int, default=12, help="attention heads; read only for the original layout")
    p.add_argument("--seed", type=int, default=0, help="seed of the task-token rows")
    p.add_argument("--log-file", type=Path, help="also write the log to this file")

    p = sub.add_parser("export-hf", help="Write a gpt1 checkpoint as Hugging Face OpenAIGPT files.")
    p.set_defaults(func=export_hf)
    p.add_argument("checkpoint", type=Path, help="a gpt1 model.pt")
    p.add_argument("out_dir", type=Path, help="where to write config.json and model.safetensors")
    p.add_argument("--log-file", type=Path, help="also write the log to this file")

    p = sub.add_parser("tokenize", help="Print the token ids of each line of stdin, one line each.")
    p.set_defaults(func=tokenize)
    p.add_argument("--tokenizer", required=True,
                   help="openai (with --vocab-dir), sentencepiece (with --model), or a path: " + TOKENIZER_HELP)
    p.add_argument("--vocab-dir", type=Path, help="with --tokenizer openai: encoder_bpe_40000.json and vocab_40000.bpe")
    p.add_argument("--model", type=Path, help="with --tokenizer sentencepiece: the .model file")

    p = sub.add_parser("bench", help="Measure gpt1 against transformers and the hardware; write JSON and summary.md.")
    p.set_defaults(func=bench)
    p.add_argument("--out", type=Path, required=True, help="directory for the JSON files and summary.md")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per contender; medians are reported")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for tests")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--data-dir", type=Path, help="data mirror with glue/SST-2 and books/british-novels "
                   "(default: $GPT1_DATA_MIRROR, else ../shared/data; the test fixtures when absent)")
    return parser


def setup_logging(log_file: Path | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", handlers=handlers)


def main(argv: list[str] | None = None) -> None:
    from gpt1.download import DownloadError

    args = build_parser().parse_args(argv)
    setup_logging(getattr(args, "log_file", None))
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, DownloadError) as error:
        log.error("%s", error)
        sys.exit(f"gpt1 {args.command}: {error}")


if __name__ == "__main__":
    main()
