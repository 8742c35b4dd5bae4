import dataclasses
import re
import subprocess
import sys

import pytest
import yaml

from conftest import STAGE_GROUPS, snakemake_jobs
from gpt1.config import PARAM_GROUPS
from gpt1.params import (
    PARAMS_FILE,
    SCHEMA_FILE,
    ParamsError,
    apply_profile,
    cli_flags,
    dvc_set_params,
    leaf_items,
    load,
    resolve,
    validate,
)


@pytest.mark.parametrize("profile", ["sample", "paper", "smoke"])
def test_every_profile_validates(profile):
    params = load(profile=profile)
    assert params["profile"] == profile


def test_paper_profile_has_the_papers_hyperparameters():
    p = load(profile="paper")
    assert p["model"] | {"dropout": 0.1} == {
        "n_layer": 12,
        "n_head": 12,
        "n_embd": 768,
        "n_inner": 3072,
        "n_ctx": 512,
        "dropout": 0.1,
        "layer_norm_eps": 1e-5,
        "init_std": 0.02,
    }
    assert p["bpe"]["vocab_size"] == 40478
    t = p["pretrain"]
    assert (t["batch_size"], t["lr"], t["warmup_steps"], t["epochs"], t["max_steps"]) == (64, 2.5e-4, 2000, 100, 0)
    assert (t["weight_decay"], t["grad_clip"], t["adam_beta1"], t["adam_beta2"]) == (0.01, 1.0, 0.9, 0.999)
    f = p["finetune"]  # the paper's; the optimizer's betas and eps are the released code's (the paper's has none)
    assert (f["lr"], f["batch_size"], f["epochs"], f["warmup"], f["lm_coef"]) == (6.25e-5, 32, 3, 0.002, 0.5)
    assert (f["clf_dropout"], f["grad_clip"]) == (0.1, 1.0)
    assert (f["adam_beta1"], f["adam_beta2"], f["adam_eps"]) == (0.9, 0.999, 1e-8)


def raw():
    return yaml.safe_load(PARAMS_FILE.read_text())


def test_unknown_key_is_named():
    params = raw()
    params["pretrain"]["lrr"] = 1.0
    with pytest.raises(ParamsError, match=r"pretrain: .*'lrr'"):
        validate(params)


def test_bad_value_is_named():
    params = raw()
    params["model"]["n_layer"] = 0
    with pytest.raises(ParamsError, match=r"model.n_layer: 0 is less than the minimum"):
        validate(params)


@pytest.mark.parametrize("group", ["pretrain", "finetune"])
@pytest.mark.parametrize(
    ("key", "value", "why"),
    [("adam_beta2", 1.0, "is greater than or equal to the maximum of 1"), ("adam_eps", 0.0, "is less than or equal")],
)
def test_both_optimizers_settings_are_checked_alike(group, key, value, why):
    params = raw()
    params[group][key] = value
    with pytest.raises(ParamsError, match=rf"{group}\.{key}: {value} {why}"):
        validate(params)


def test_runs_beside_the_main_ones_need_its_tasks_and_fewer_layers():
    params = raw()
    params["ablation"]["tasks"] = ["cola", "boolq"]
    with pytest.raises(ParamsError, match=r"ablation.tasks.1: 'boolq' is not one of"):
        validate(params)
    params = raw()
    params["runs"]["tasks"] = ["sst2"]
    with pytest.raises(ParamsError, match=r"ablation.tasks.0: 'cola' is not in runs.tasks"):
        validate(params)
    params = raw()
    params["transfer"]["layers"] = [0, 4]
    with pytest.raises(ParamsError, match=r"transfer.layers.1: 4 is not below model.n_layer \(4\)"):
        validate(params)


def seed_keys() -> list[str]:
    """Every seed of params.yaml, as its dotted key (runs.seeds: the list of them)."""
    return [key for key, _ in leaf_items(raw()) if key.rsplit(".", 1)[-1] in ("seed", "seeds")]


def test_every_seed_key_is_checked_below():
    assert seed_keys() == ["corpus.seed", "bpe.seed", "pretrain.seed", "runs.seeds", "zero_shot.seed"]


@pytest.mark.parametrize("seed", [-1, 2**32, 2**70])
@pytest.mark.parametrize("key", seed_keys())
def test_a_seed_outside_what_numpy_and_sentencepiece_take_is_named_with_the_range(key, seed):
    """torch takes any 64-bit seed, but numpy's RandomState and sentencepiece only 0 to 2**32 - 1."""
    params = raw()
    group, name = key.split(".")
    params[group][name] = [seed] if name == "seeds" else seed
    where = f"{key}.0" if name == "seeds" else key
    with pytest.raises(
        ParamsError, match=rf"^params.yaml: {re.escape(where)}: {seed}: a seed is a whole number from 0 to 4294967295"
    ):
        validate(params)
    params[group][name] = [2**32 - 1] if name == "seeds" else 2**32 - 1
    validate(params)


@pytest.mark.parametrize("key", ["runs.tasks", "runs.seeds"])
def test_the_lists_of_runs_must_not_be_empty(key):
    """Nothing else left in runs.tasks' place (ablation, transfer, zero-shot) that would name it."""
    params = raw()
    params["ablation"]["tasks"] = params["transfer"]["tasks"] = []
    params["runs"]["zero_shot"] = ["dprd"]
    params["runs"][key.split(".")[1]] = []
    with pytest.raises(ParamsError, match=rf"^params.yaml: {key}: \[\] should be non-empty"):
        validate(params)


STRINGS = [key for key, value in leaf_items(raw()) if isinstance(value, str) and key != "profile"]
"""Every string value (the profile's name is checked against profiles.yaml instead)."""


@pytest.mark.parametrize("key", STRINGS)
def test_a_string_ending_in_a_newline_is_refused(key):
    """Python's `$`, which jsonschema's patterns use, also matches before a final newline: `source: "books\\n"`
    would pass, then find no .txt files in a folder that has them."""
    params = raw()
    group, name = key.split(".")
    params[group][name] += "\n"
    with pytest.raises(ParamsError, match=rf"^params.yaml: {key}: "):
        validate(params)


def test_unknown_profile_is_named():
    with pytest.raises(ParamsError, match="profile: unknown profile 'huge'"):
        apply_profile(raw(), "huge")


def test_profile_overrides_merge_deeply():
    params = apply_profile(raw(), "smoke")
    assert params["model"]["n_layer"] == 2
    assert params["pretrain"]["weight_decay"] == raw()["pretrain"]["weight_decay"]  # untouched leaf kept


def test_dvc_set_params_select_the_profile():
    flags = dvc_set_params(profile="paper")
    assert '-S profile="paper"' in flags and "-S model.n_layer=12" in flags and "-S pretrain.max_steps=0" in flags
    assert not any(flag.startswith("-S pretrain.weight_decay=") for flag in flags)  # unchanged values stay out


def test_snakemake_rejects_a_bad_value_naming_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pretrain:\n  warmup_stepz: 3\n")
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(bad), "--quiet"],
        capture_output=True,
        text=True,
        cwd=PARAMS_FILE.parent,
    )
    assert done.returncode != 0
    assert "warmup_stepz" in done.stderr + done.stdout


def test_a_configfile_that_is_not_there_is_named_by_snakemake_itself(tmp_path):
    """Snakemake reads --configfile before the Snakefile runs, so no check of ours can come first: its own
    traceback (on stdout) ends naming the file."""
    missing = tmp_path / "mine.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(missing), "--quiet"],
        capture_output=True,
        text=True,
        cwd=PARAMS_FILE.parent,
    )
    last_line = (done.stderr + done.stdout).strip().splitlines()[-1]
    assert done.returncode != 0 and last_line == f"FileNotFoundError: [Errno 2] No such file or directory: '{missing}'"


def test_command_line_overrides_win_over_the_profile():
    """`--config profile=paper` with `--configfile` setting pretrain.micro_batch_size: the user's value stays,
    also where it equals the top-level value the profile changes (the paper's lr over the sample's)."""
    resolved = resolve({"profile": "paper", "pretrain": {"micro_batch_size": 4}, "finetune": {"lr": 1.0e-3}})
    assert resolved["pretrain"]["micro_batch_size"] == 4 and resolved["finetune"]["lr"] == 1.0e-3
    assert resolved["model"]["n_layer"] == 12 and resolved["pretrain"]["batch_size"] == 64


def test_snakemake_runs_an_override_equal_to_the_top_level_value(tmp_path):
    """The smoke profile has 1 epoch and seeds 42, 43; a --configfile saying 3 epochs (params.yaml's
    top-level value) and seeds 42-44 gets exactly that."""
    override = tmp_path / "mine.yaml"
    override.write_text("finetune:\n  epochs: 3\nruns:\n  seeds: [42, 43, 44]\n")
    jobs = snakemake_jobs("--config", "profile=smoke", "--configfile", str(override))
    fine_tunings = [job["cmd"] for name, job in jobs.items() if name.startswith("finetune@")]
    assert fine_tunings and all(" --epochs 3 " in cmd for cmd in fine_tunings)
    assert {name for name in jobs if name.startswith("finetune@sst2-")} == {f"finetune@sst2-{s}" for s in (42, 43, 44)}


@pytest.mark.parametrize("group", sorted(PARAM_GROUPS))
def test_every_config_field_is_in_params_yaml_and_the_schema(group):
    cls = PARAM_GROUPS[group]
    fields = {f.name for f in dataclasses.fields(cls)} - set(getattr(cls, "NOT_PARAMS", ()))
    schema = yaml.safe_load(SCHEMA_FILE.read_text())["properties"][group]
    assert fields == set(raw()[group]) == set(schema["properties"]) == set(schema["required"])


def test_cli_flags_render_a_group_as_dvc_does():
    from dvc.parsing.interpolate import to_str

    for group in PARAM_GROUPS:
        assert cli_flags(raw()[group]) == to_str(raw()[group]), group
    assert cli_flags({"source": "my books", "lr": 2.5e-4}) == to_str({"source": "my books", "lr": 2.5e-4})
    with pytest.raises(ParamsError, match="tasks: a stage flag takes a number or a string"):
        cli_flags({"tasks": ["cola"]})


@pytest.mark.parametrize("command", ["download-corpus", "train-bpe", "pretrain", "finetune", "zero-shot"])
def test_a_stage_missing_a_parameter_fails_naming_it(command, capsys):
    """Every params.yaml key a stage reads is a required flag: left out, it is named, never defaulted."""
    from gpt1 import cli

    with pytest.raises(SystemExit):
        cli.main([command])
    error = capsys.readouterr().err
    for group in STAGE_GROUPS[command]:
        cls = PARAM_GROUPS[group]
        for field in dataclasses.fields(cls):
            if field.name not in getattr(cls, "NOT_PARAMS", ()):
                assert f"--{field.name}" in error, (command, field.name)


def test_dvc_set_params_values_parse_back():
    for flag in dvc_set_params(profile="paper"):
        key, value = flag.removeprefix("-S ").split("=", 1)
        node = load(profile="paper")
        for part in key.split("."):
            node = node[part]
        assert yaml.safe_load(value) == node, key


def test_profiles_live_beside_params_yaml_and_a_bad_one_is_named(tmp_path):
    (tmp_path / "params.yaml").write_text(PARAMS_FILE.read_text())
    (tmp_path / "profiles.yaml").write_text("tiny:\n  finetune: {lr: 0.001}\nbroken: 3\n")
    with pytest.raises(ParamsError, match=r"profiles.yaml: broken: a profile is a mapping"):
        load(tmp_path / "params.yaml", "tiny")
    (tmp_path / "profiles.yaml").write_text("tiny:\n  finetune: {lr: 0.001}\n")
    assert load(tmp_path / "params.yaml", "tiny")["finetune"]["lr"] == 0.001
    with pytest.raises(ParamsError, match="unknown profile 'paper'; choose one of sample, tiny"):
        load(tmp_path / "params.yaml", "paper")


def test_params_yaml_holds_no_profiles():
    """`dvc exp show` shows every key of params.yaml as a column: the profiles stay in profiles.yaml."""
    params = raw()
    params["profiles"] = {"paper": {}}
    with pytest.raises(ParamsError, match="'profiles' was unexpected"):
        validate(params)
