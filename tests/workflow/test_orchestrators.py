"""Snakemake and DVC must run the same stages: same commands, inputs, outputs (STYLE.md)."""

import re
import subprocess
import sys

import pytest

from conftest import ROOT, snakemake_jobs
from gpt1.params import load


def dvc_stages() -> dict[str, dict]:
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    stages = {}
    with Repo(str(ROOT)) as repo:
        for stage in repo.index.stages:
            stages[stage.name] = {
                "cmd": stage.cmd,
                "inputs": {d.def_path for d in stage.deps if not isinstance(d, ParamsDependency)},
                "outputs": {o.def_path for o in stage.outs},
                "params": {key for d in stage.deps if isinstance(d, ParamsDependency) for key in d.params},
            }
    return stages


@pytest.fixture(scope="module")
def both():
    return snakemake_jobs(), dvc_stages()


def test_the_same_stages(both):
    snakemake, dvc = both
    params = load()
    tasks, seeds = params["runs"]["tasks"], params["runs"]["seeds"]
    ablation, transfer, zero_shot = params["ablation"], params["transfer"], params["runs"]["zero_shot"]
    expected = {"download_corpus", "train_bpe", "encode_corpus", "pretrain", "pretrain_lstm", "download_dprd"}
    expected |= {"tables", "table5", "figure2", "summary"}
    expected |= {f"download_task@{task}" for task in tasks}
    expected |= {f"finetune@{task}-{seed}" for task in tasks for seed in seeds}
    expected |= {
        f"finetune_ablation@{variant}-{task}-{seed}"
        for variant in ablation["variants"]
        for task in ablation["tasks"]
        for seed in seeds
    }
    expected |= {f"finetune_lstm@{task}-{seed}" for task in ablation["tasks"] for seed in seeds}
    expected |= {
        f"finetune_transfer@{layers}-{task}-{seed}"
        for layers in transfer["layers"]
        for task in transfer["tasks"]
        for seed in seeds
    }
    expected |= {f"{rule}@{task}" for rule in ("zero_shot", "zero_shot_lstm") for task in zero_shot}
    assert set(snakemake) == set(dvc) == expected


def within(paths: set[str], directories: set[str]) -> set[str]:
    """Paths inside one of `directories` replaced by that directory (DVC may depend on a whole folder)."""
    return {next((d for d in directories if p.startswith(d + "/")), p) for p in paths}


@pytest.mark.parametrize("part", ["cmd", "inputs", "outputs"])
def test_the_same_commands_inputs_and_outputs(both, part):
    snakemake, dvc = both
    for stage in dvc:
        ours = within(snakemake[stage][part], dvc[stage][part]) if part == "inputs" else snakemake[stage][part]
        assert ours == dvc[stage][part], f"{stage}: {part} drifted"


def test_dvc_declares_exactly_the_params_groups_each_command_reads():
    """A stage's declared params are the groups its cmd renders whole (`${finetune}`) or the keys it reads
    (`${model.n_ctx}`); no stage reads the profile's name (renaming a profile reruns nothing) or the run lists
    (runs.*)."""
    import yaml

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    groups = {"corpus", "bpe", "model", "lstm", "pretrain", "finetune", "zero_shot"}
    for name, stage in stages.items():
        body = stage.get("do", stage)
        read = set(re.findall(r"\$\{([\w.]+)\}", body["cmd"]))
        read = {key for key in read if key.split(".")[0] != "item"}
        read = {key for key in read if "." not in key or key.split(".")[0] not in read}  # a group read whole
        assert {key.split(".")[0] for key in read} <= groups, f"{name} reads {read}"
        assert set(body.get("params", [])) == read, name


def test_snakemake_lint_is_clean():
    done = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "Lints for" not in done.stdout + done.stderr, done.stdout + done.stderr


@pytest.mark.parametrize("graph", ["--dag", "--rulegraph"])
def test_snakemake_draws_its_graph_without_cores(graph):
    done = subprocess.run([sys.executable, "-m", "snakemake", graph], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.lstrip().startswith("digraph"), done.stderr
