"""params.yaml: profiles, validation and the flags a stage gets, shared by the Snakefile and `gpt1 profile`.

The top-level groups of params.yaml are the `sample` profile; `profiles.<name>` holds only what another
profile changes, merged over them. Stage code reads no parameter from params.yaml: it takes flags
(`cli_flags`). Only the profile's name, a label for MLflow and the tables, is looked up (`profile_label`).
"""

from __future__ import annotations

import copy
import json
import os
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE = ROOT / "params.yaml"
SCHEMA_FILE = ROOT / "workflow" / "schemas" / "params.schema.yaml"
BASE_PROFILE = "sample"
PROFILE_ENV = "GPT1_PROFILE"  # set by the Snakefile to the selected profile's name


class ParamsError(ValueError):
    """A bad value in params.yaml; the message names the key."""


def deep_merge(base: dict, override: dict) -> dict:
    """A copy of `base` with `override`'s leaves written over it."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def profile_names(params: dict) -> list[str]:
    return [BASE_PROFILE, *params.get("profiles", {})]


def apply_profile(params: dict, profile: str | None = None) -> dict:
    """The values a run uses: `profiles[profile]` merged over the top-level groups."""
    profile = profile or params.get("profile", BASE_PROFILE)
    if profile not in profile_names(params):
        raise ParamsError(f"profile: unknown profile {profile!r}; choose one of {', '.join(profile_names(params))}")
    overrides = params.get("profiles", {}).get(profile, {})
    return deep_merge(params, {**overrides, "profile": profile})


def validate(params: dict, schema_file: Path = SCHEMA_FILE) -> None:
    """Raise ParamsError naming the first bad key (its dotted path) and why."""
    import jsonschema

    schema = yaml.safe_load(schema_file.read_text())
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(params))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ParamsError(f"params.yaml: {where}: {error.message}")
    check_cross_references(params)


def check_cross_references(params: dict) -> None:
    """What the schema cannot say: the ablation, transfer and zero-shot runs use tasks that runs.tasks
    downloads, and Figure 2's layer counts stop short of the full model (which the main runs are)."""
    for where, tasks in (
        ("ablation.tasks", params["ablation"]["tasks"]),
        ("transfer.tasks", params["transfer"]["tasks"]),
        ("runs.zero_shot", params["runs"]["zero_shot"]),
    ):
        for i, task in enumerate(tasks):
            if task not in params["runs"]["tasks"]:
                raise ParamsError(f"params.yaml: {where}.{i}: {task!r} is not in runs.tasks; add it there")
    n_layer = params["model"]["n_layer"]
    for i, layers in enumerate(params["transfer"]["layers"]):
        if layers >= n_layer:
            raise ParamsError(
                f"params.yaml: transfer.layers.{i}: {layers} is not below model.n_layer ({n_layer}); "
                "the full model's runs already give that point"
            )


def load(path: Path = PARAMS_FILE, profile: str | None = None) -> dict:
    """Read params.yaml, apply the profile and validate the result."""
    params = apply_profile(yaml.safe_load(Path(path).read_text()), profile)
    validate(params)
    return params


def changed_leaves(before: dict, after: dict) -> dict:
    """The leaves of `after` whose values differ from (or are missing in) `before`, as a nested dict."""
    changed = {}
    for key, value in after.items():
        if isinstance(value, dict) and isinstance(before.get(key), dict):
            if inner := changed_leaves(before[key], value):
                changed[key] = inner
        elif before.get(key, object()) != value:
            changed[key] = value
    return changed


def resolve(overrides: dict, path: Path = PARAMS_FILE) -> dict:
    """The values a Snakemake run uses: params.yaml with the selected profile applied, then the user's
    overrides (--configfile and --config, Snakemake's `overwrite_config`) on top, every one of them, also
    those equal to params.yaml's top-level value."""
    base = yaml.safe_load(Path(path).read_text())
    return deep_merge(apply_profile(base, overrides.get("profile")), overrides)


def cli_flags(group: dict) -> str:
    """A parameter group as command-line flags, `--key value ...`, exactly as DVC renders `${group}` in a
    stage's cmd (dvc.parsing.interpolate.to_str), so that both orchestrators run the same command."""
    flags = []
    for key, value in group.items():
        if isinstance(value, (bool, dict, list)) or value is None:
            raise ParamsError(f"params.yaml: {key}: a stage flag takes a number or a string, not {value!r}")
        flags.append(f"--{key} {shlex.quote(value) if isinstance(value, str) else value}")
    return " ".join(flags)


def leaf_items(tree: dict, prefix: str = "") -> list[tuple[str, object]]:
    """('group.key', value) for every leaf of a nested dict."""
    items = []
    for key, value in tree.items():
        if isinstance(value, dict):
            items += leaf_items(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", value))
    return items


def dvc_set_params(path: Path = PARAMS_FILE, profile: str | None = None) -> list[str]:
    """`-S key=value` arguments that make `dvc exp run` use a profile's values. A profile that starts from
    the released weights is refused: dvc.yaml's stages are the pretrained pipeline, and DVC has no
    conditional stages."""
    raw = yaml.safe_load(Path(path).read_text())
    params = load(path, profile)
    if params["runs"]["init"] != "pretrained":
        raise ParamsError(
            f"profile {params['profile']}: runs.init {params['runs']['init']} (the released "
            "weights) runs under Snakemake only, dvc.yaml being the pretrained pipeline: "
            f"`snakemake --cores all --config profile={params['profile']}`"
        )
    changed = changed_leaves(raw, params)
    changed.pop("profiles", None)
    # JSON is YAML without spaces: each flag survives the shell's word splitting of $(gpt1 profile ...).
    return [f"-S {key}={json.dumps(value, separators=(',', ':'))}" for key, value in leaf_items(changed)]


def profile_label() -> str:
    """The selected profile's name, for MLflow tags and the tables' notes: a label, never a parameter, so that
    renaming or copying a profile reruns nothing. The Snakefile exports it as GPT1_PROFILE; under DVC it is
    params.yaml's `profile` key in the project DVC runs (`dvc exp run $(gpt1 profile NAME)` sets it)."""
    if name := os.environ.get(PROFILE_ENV):
        return name
    root = Path(os.environ.get("DVC_ROOT", "."))
    try:
        return str(yaml.safe_load((root / "params.yaml").read_text()).get("profile", BASE_PROFILE))
    except (OSError, AttributeError, yaml.YAMLError):
        return BASE_PROFILE
