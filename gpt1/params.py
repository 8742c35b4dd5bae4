"""params.yaml: profiles, validation and the flags a stage gets, shared by the Snakefile and `gpt1 profile`.

The top-level groups of params.yaml are the `sample` profile; profiles.yaml, beside it, holds only what each
other profile changes, merged over them. Stage code reads no parameter from params.yaml: it takes flags
(`cli_flags`). Only the profile's name, a label for MLflow and the tables, is looked up (`profile_label`);
under DVC, a stage also checks the whole file before its work, as the Snakefile does (`validate_under_dvc`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE = ROOT / "params.yaml"
PROFILES_FILE_NAME = "profiles.yaml"  # beside params.yaml
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


def read_profiles(params_file: Path = PARAMS_FILE) -> dict[str, dict]:
    """profiles.yaml beside `params_file`: profile name -> the values it changes ({} without the file)."""
    path = Path(params_file).with_name(PROFILES_FILE_NAME)
    if not path.is_file():
        return {}
    profiles = yaml.safe_load(path.read_text()) or {}
    for name, overrides in profiles.items() if isinstance(profiles, dict) else [("(top level)", profiles)]:
        if not isinstance(overrides, dict):
            raise ParamsError(f"{path}: {name}: a profile is a mapping of the groups it changes, not {overrides!r}")
    return profiles


def profile_names(profiles: dict) -> list[str]:
    return [BASE_PROFILE, *profiles]


def apply_profile(params: dict, profile: str | None = None, profiles: dict | None = None) -> dict:
    """The values a run uses: the profile's overrides (`profiles`, profiles.yaml's by default) merged over
    params.yaml's top-level groups."""
    profiles = read_profiles() if profiles is None else profiles
    profile = profile or params.get("profile", BASE_PROFILE)
    if profile not in profile_names(profiles):
        raise ParamsError(f"profile: unknown profile {profile!r}; choose one of {', '.join(profile_names(profiles))}")
    return deep_merge(params, {**profiles.get(profile, {}), "profile": profile})


def schema(schema_file: Path = SCHEMA_FILE) -> dict:
    return yaml.safe_load(schema_file.read_text())


def first_error(values: dict, schema: dict, prefix: str = "") -> str | None:
    """The schema's most relevant complaint about `values`, or a value that is not a finite number (a YAML
    `.inf` or `.nan` passes JSON Schema's bounds), as 'dotted.key: why'."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(values))
    if error is not None:
        where = prefix + ".".join(str(p) for p in error.absolute_path) or "(top level)"
        if "errorMessage" in error.schema:  # the schema's own words for a pattern
            return f"{where}: {error.instance!r}: {error.schema['errorMessage']}"
        return f"{where}: {error.message}"
    for key, value in leaf_items(values, prefix):
        if isinstance(value, float) and not math.isfinite(value):
            return f"{key}: {value} is not a finite number"
    return None


def validate(params: dict, schema_file: Path = SCHEMA_FILE) -> None:
    """Raise ParamsError naming the first bad key (its dotted path) and why."""
    if error := first_error(params, schema(schema_file)):
        raise ParamsError(f"params.yaml: {error}")
    for group in GROUP_RULES:
        check_group_rules(group, params[group])
    check_cross_references(params)


def check_group(group: str, values: dict) -> None:
    """One group's values against its part of the schema and its rules: what every stage checks of the flags
    it was given, so that the command line and DVC (which never reads the schema) refuse what Snakemake
    refuses, before any work."""
    full = schema()
    if error := first_error(values, {**full["properties"][group], "$defs": full["$defs"]}, f"{group}."):
        raise ParamsError(error)
    check_group_rules(group, values)


def check_seed(flag: str, seed: int) -> None:
    """A seed a stage takes as a flag of its own (finetune's --seed, one of runs.seeds), against the schema's
    range for every seed."""
    rule = schema()["properties"]["runs"]["properties"]["seeds"]["items"]
    if error := first_error({flag: seed}, {"properties": {flag: rule}}):
        raise ParamsError(error)


def validate_under_dvc() -> None:
    """Under `dvc repro` (DVC sets DVC_STAGE for each stage's command), params.yaml checked whole before the
    stage's work, as the Snakefile checks its config at start-up: dvc.yaml's foreach and matrix read runs.tasks
    and runs.seeds themselves, where no stage's flags see them (empty, the tables would be made of whatever
    is there)."""
    if "DVC_STAGE" in os.environ:
        validate(yaml.safe_load(Path("params.yaml").read_text()))  # in dvc.yaml's folder, an experiment's copy too


def check_batches(pretrain: dict) -> str | None:
    if pretrain["processes"] % pretrain["nodes"]:
        return (
            f"pretrain.processes ({pretrain['processes']}) must split evenly over pretrain.nodes "
            f"({pretrain['nodes']}): the same number of processes (GPUs) on each node"
        )
    per_process, rest = divmod(pretrain["batch_size"], pretrain["processes"])
    if rest or per_process % min(pretrain["micro_batch_size"], per_process):
        return (
            f"pretrain.batch_size ({pretrain['batch_size']}) must split evenly into pretrain.processes "
            f"({pretrain['processes']}) of whole micro-batches "
            f"(pretrain.micro_batch_size {pretrain['micro_batch_size']})"
        )
    return None


def check_heads(model: dict) -> str | None:
    if model["n_embd"] % model["n_head"]:
        return f"model.n_embd ({model['n_embd']}) must be divisible by model.n_head ({model['n_head']})"
    return None


def check_projection(lstm: dict) -> str | None:
    if lstm["n_embd"] > lstm["n_hidden"]:  # torch's LSTM projects its output down, never up
        return f"lstm.n_embd ({lstm['n_embd']}) must be at most lstm.n_hidden ({lstm['n_hidden']})"
    return None


GROUP_RULES = {"pretrain": check_batches, "model": check_heads, "lstm": check_projection}
"""What the schema cannot say about one group: a function of the group's values giving the error, or None."""


def check_group_rules(group: str, values: dict) -> None:
    if group in GROUP_RULES and (error := GROUP_RULES[group](values)):
        raise ParamsError(error)


ZERO_SHOT_ONLY = ("dprd",)
"""Sets scored zero-shot only, never fine-tuned (so never in runs.tasks): DPRD, the Winograd-style heuristic's."""


def check_cross_references(params: dict) -> None:
    """What the schema cannot say: the ablation, transfer and zero-shot runs use tasks that runs.tasks
    downloads, and Figure 2's layer counts stop short of the full model (which the main runs are)."""
    for where, tasks in (
        ("ablation.tasks", params["ablation"]["tasks"]),
        ("transfer.tasks", params["transfer"]["tasks"]),
        ("runs.zero_shot", params["runs"]["zero_shot"]),
    ):
        for i, task in enumerate(tasks):
            if task not in params["runs"]["tasks"] and task not in ZERO_SHOT_ONLY:
                raise ParamsError(f"params.yaml: {where}.{i}: {task!r} is not in runs.tasks; add it there")
    n_layer = params["model"]["n_layer"]
    for i, layers in enumerate(params["transfer"]["layers"]):
        if layers >= n_layer:
            raise ParamsError(
                f"params.yaml: transfer.layers.{i}: {layers} is not below model.n_layer ({n_layer}); "
                "the full model's runs already give that point"
            )


def load(path: Path = PARAMS_FILE, profile: str | None = None) -> dict:
    """Read params.yaml, apply the profile (profiles.yaml beside it) and validate the result."""
    params = apply_profile(yaml.safe_load(Path(path).read_text()), profile, read_profiles(path))
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
    return deep_merge(apply_profile(base, overrides.get("profile"), read_profiles(path)), typed(overrides, schema()))


def typed(value, schema: dict):
    """`value` with each string the schema wants as a number read as one. Snakemake's `--config
    'pretrain={lr: 0.0001}'` gives the nested values as strings, and YAML 1.1 (PyYAML) reads `1e-4` as a
    string; a string that is no number stays one, for the schema to name."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {key: typed(item, properties.get(key, {})) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item, schema.get("items", {})) for item in value]
    if isinstance(value, str) and schema.get("type") in ("number", "integer"):
        with contextlib.suppress(ValueError):
            number = float(value)
            return int(number) if number.is_integer() and schema["type"] == "integer" else number
    return value


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
    # JSON is YAML without spaces: each flag survives the shell's word splitting of $(gpt1 profile ...).
    return [f"-S {key}={json.dumps(value, separators=(',', ':'))}" for key, value in leaf_items(changed)]


def profile_label() -> str:
    """The selected profile's name, for MLflow tags and the tables' notes: a label, never a parameter, so that
    renaming or copying a profile reruns nothing. The Snakefile exports it as GPT1_PROFILE; under DVC it is
    params.yaml's `profile` key in the stage's working directory (`dvc exp run $(gpt1 profile NAME)` sets it; a
    queued experiment's is in its copy of the project, not in DVC_ROOT)."""
    if name := os.environ.get(PROFILE_ENV):
        return name
    path = Path("params.yaml")
    try:
        params = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return BASE_PROFILE
    name = str(params.get("profile", BASE_PROFILE))
    names = profile_names(read_profiles(path))
    if name not in names:  # `dvc exp run -S profile=papr`
        raise ParamsError(
            f"{path}: profile: unknown profile {name!r}; choose one of {', '.join(names)} "
            "and run `dvc exp run $(gpt1 profile NAME)`"
        )
    return name
