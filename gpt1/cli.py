"""`gpt1 <command>`: the pipeline's stages, each as its Snakemake rule and DVC stage call it, and a few tools.

Each command is a module with `add_arguments(parser)` and `run(args)`; its first docstring line is its help.
Heavy libraries (torch, mlflow, sentencepiece) are imported inside `run`, so `gpt1 --help` starts at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("gpt1")

# command -> module; a stage's module, Snakemake rule and DVC stage share its name (with _ for -)
STAGES = [
    "download-corpus",
    "train-bpe",
    "encode-corpus",
    "pretrain",
    "pretrain-lstm",
    "import-openai-gpt",
    "download-task",
    "finetune",
    "zero-shot",
    "tables",
    "table5",
    "figure2",
    "summary",
]
TOOLS = ["profile", "import-weights", "export-hf", "tokenize"]
COMMANDS = {name: f"gpt1.stages.{name.replace('-', '_')}" for name in STAGES}
COMMANDS |= {name: f"gpt1.tools.{name.replace('-', '_')}" for name in TOOLS}


def build_parser(commands: dict[str, str] = COMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gpt1", description="Reproduce GPT-1, stage by stage.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in commands.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(
            name,
            help=module.__doc__.splitlines()[0],
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.set_defaults(run=module.run)
        module.add_arguments(command)
        command.add_argument(
            "--log-file", type=Path, help="also append the whole output (log, warnings, tracebacks) to this file"
        )
    return parser


def setup_logging() -> None:
    """Log lines on stderr (and so in the log file, gpt1.logfile); under torchrun, each names its process."""
    rank = f"[rank {os.environ['RANK']}] " if int(os.environ.get("WORLD_SIZE", 1)) > 1 else ""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {rank}%(name)s %(levelname)s %(message)s")


def output_of(args: argparse.Namespace) -> Path | None:
    """What a stage writes, for its lock: its output folder, work folder or output file."""
    for name in ("out_dir", "work_dir", "out", "model"):
        if isinstance(getattr(args, name, None), Path):
            return getattr(args, name)
    return None


def run_stage(args: argparse.Namespace) -> None:
    """A pipeline stage: stopped with its orchestrator, alone on its output, under a known profile."""
    from gpt1.files import exclusive
    from gpt1.lifeline import watch_parent
    from gpt1.params import profile_label, validate_under_dvc

    watch_parent()
    profile_label()  # under DVC, refuses a profile params.yaml does not have
    validate_under_dvc()
    output = output_of(args)
    if output is None or int(os.environ.get("RANK", 0)) != 0:  # torchrun's rank 0 holds the lock for all
        return args.run(args)
    with exclusive(output, args.command):  # tables and table5 both write into results/tables
        args.run(args)


def main(argv: list[str] | None = None) -> None:
    from gpt1.download import DownloadError
    from gpt1.logfile import log_banner, teed
    from gpt1.progress import close_open
    from gpt1.threads import choose_wait_policy

    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    with teed(args.log_file):
        setup_logging()
        try:
            if args.command in STAGES:
                log_banner(args, argv)
                if wait_policy := choose_wait_policy():  # before torch starts its threads
                    log.info("%s", wait_policy)
                run_stage(args)
            else:
                args.run(args)
        except (ValueError, OSError, DownloadError) as error:  # bad input, a missing file, a full disk: one line
            close_open()
            log.error("%s", error)
            sys.exit(f"gpt1 {args.command}: {error}")
        except KeyboardInterrupt:
            log.error("interrupted")
            raise
        except Exception:  # a bug, or an input nothing checks yet: the traceback, in the log file too
            log.exception("gpt1 %s failed", args.command)
            sys.exit(1)


if __name__ == "__main__":
    main()
