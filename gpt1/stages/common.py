"""What the stages' command lines share: a parameter group as required flags, and the flags as MLflow params
(hyperparameters and settings) and tags (paths)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

FIELD_TYPES = {"int": int, "float": float, "str": str}


def add_config_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """One required flag per params.yaml key of a config dataclass: `--n_layer` (as DVC renders `${model}`),
    also spelled `--n-layer`. No default: a key the orchestrator did not pass is an error naming it."""
    for field in dataclasses.fields(cls):
        if field.name in getattr(cls, "NOT_PARAMS", ()):
            continue
        spellings = dict.fromkeys([f"--{field.name}", f"--{field.name.replace('_', '-')}"])
        parser.add_argument(
            *spellings,
            dest=field.name,
            type=FIELD_TYPES[field.type],
            required=True,
            metavar=field.type.upper(),
            help=f"params.yaml: {cls.GROUP}.{field.name}",
        )


def config_from_args(cls: type, args: argparse.Namespace, **per_run):
    """The config dataclass from the flags, once they pass the group's part of the schema (gpt1.params)."""
    from gpt1.params import check_group

    names = {f.name for f in dataclasses.fields(cls)} - set(per_run)
    values = {name: getattr(args, name) for name in names}
    check_group(cls.GROUP, {k: v for k, v in values.items() if k not in getattr(cls, "NOT_PARAMS", ())})
    return cls(**values, **per_run)


def existing_folder(flag: str, path: Path) -> Path:
    """A folder flag's value, refused by name when there is no such folder: read as empty, a typo would
    report every run as not run."""
    if not path.is_dir():
        raise FileNotFoundError(f"{flag} {path}: no such folder")
    return path


def task_status(task: str, task_dir: Path) -> dict:
    """download-task's status.json in `task_dir`, refused when it is another task's (it names its task)."""
    import json

    status = json.loads((task_dir / "status.json").read_text())
    if status.get("task", task) != task:  # one written by hand may name no task
        raise ValueError(
            f"--task-dir {task_dir} holds {status['task']}'s data (its status.json says so), not {task}'s: "
            f"pass --task-dir results/tasks/{task}"
        )
    return status


def flags(args: argparse.Namespace) -> dict:
    """The flags a stage ran with (the CLI's own bookkeeping left out)."""
    return {k: v for k, v in vars(args).items() if k not in ("command", "run", "log_file") and v is not None}


def mlflow_params(args: argparse.Namespace) -> dict:
    """The flags that are not paths, as MLflow params: what the compare view lines up."""
    return {k: v for k, v in flags(args).items() if not isinstance(v, Path)}


def path_tags(args: argparse.Namespace) -> dict[str, str]:
    """The path flags as MLflow tags, `path.<flag>`: where a run read and wrote, out of the compare view."""
    return {f"path.{k}": project_path(v) for k, v in flags(args).items() if isinstance(v, Path)}


def project_path(path: Path) -> str:
    """`path` as an MLflow tag: relative to the project (gpt1.tracking.project_root, the same from a DVC
    experiment's temporary copy), so that runs compare across clones and machines; a path outside it as given."""
    from gpt1.tracking import project_root

    root = project_root()
    absolute = Path(path).absolute()
    # a DVC experiment's copy (.dvc/tmp/exps/...) runs in a folder of its own: its paths are relative to it
    for base in (Path.cwd(), root):
        if absolute.is_relative_to(base):
            return absolute.relative_to(base).as_posix()
    return str(path)
