"""params.yaml: profiles and validation, shared by the Snakefile and `gpt1 profile`.

The top-level groups of params.yaml are the `sample` profile; `profiles.<name>` holds only what another
profile changes, merged over them. Stage code never reads params.yaml: it takes flags.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE = ROOT / "params.yaml"
SCHEMA_FILE = ROOT / "workflow" / "schemas" / "params.schema.yaml"
BASE_PROFILE = "sample"


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
    """What the schema cannot say: the ablation, transfer and zero-shot runs use tasks that finetune.tasks
    downloads, and Figure 2's layer counts stop short of the full model (which the main runs are)."""
    for group in ("ablation", "transfer", "zero_shot"):
        for i, task in enumerate(params[group]["tasks"]):
            if task not in params["finetune"]["tasks"]:
                raise ParamsError(f"params.yaml: {group}.tasks.{i}: {task!r} is not in finetune.tasks; add it there")
    n_layer = params["model"]["n_layer"]
    for i, layers in enumerate(params["transfer"]["layers"]):
        if layers >= n_layer:
            raise ParamsError(f"params.yaml: transfer.layers.{i}: {layers} is not below model.n_layer ({n_layer}); "
                              "the full model's runs already give that point")


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


def resolve(config: dict, path: Path = PARAMS_FILE) -> dict:
    """Snakemake's config (params.yaml merged with --configfile/--config) with the profile applied
    first and the user's own overrides, whatever differs from params.yaml, on top of it."""
    base = yaml.safe_load(Path(path).read_text())
    return deep_merge(apply_profile(base, config.get("profile")), changed_leaves(base, config))


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
    if params["finetune"]["init"] != "pretrained":
        raise ParamsError(f"profile {params['profile']}: finetune.init {params['finetune']['init']} (the released "
                          "weights) runs under Snakemake only, dvc.yaml being the pretrained pipeline: "
                          f"`snakemake --cores all --config profile={params['profile']}`")
    changed = changed_leaves(raw, params)
    changed.pop("profiles", None)
    # JSON is YAML without spaces: each flag survives the shell's word splitting of $(gpt1 profile ...).
    return [f"-S {key}={json.dumps(value, separators=(',', ':'))}" for key, value in leaf_items(changed)]
