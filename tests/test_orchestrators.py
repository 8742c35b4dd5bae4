"""Snakemake and DVC must run the same stages: same commands, inputs, outputs (STYLE.md)."""

import re
import subprocess
import sys

import pytest

from conftest import ROOT
from gpt1.params import load


def snakemake_jobs(*args: str) -> dict[str, dict]:
    """rule -> {cmd, inputs, outputs} from a forced dry run of the whole DAG."""
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "--forceall", *args],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr + done.stdout
    jobs = {}
    for block in re.split(r"\n(?=rule \w+:)", done.stdout + done.stderr)[1:]:
        name = re.match(r"rule (\w+):", block).group(1)
        if wildcards := re.search(r"^\s+wildcards: (.*)$", block, re.M):
            # DVC's name for a foreach or matrix stage: the values, in the order the path names them
            name += "@" + "-".join(pair.split("=", 1)[1] for pair in wildcards.group(1).split(", "))
        field = lambda key: set(re.search(rf"^\s+{key}: (.*)$", block, re.M).group(1).split(", "))
        cmd = re.search(r"^Shell command: (.*)$", block, re.M)
        if name != "all":
            jobs[name] = {"cmd": cmd.group(1), "inputs": field("input"), "outputs": field("output")}
    return jobs


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
    tasks, seeds = params["finetune"]["tasks"], params["finetune"]["seeds"]
    ablation, transfer, zero_shot = params["ablation"], params["transfer"], params["zero_shot"]
    expected = {"download_corpus", "train_bpe", "encode_corpus", "pretrain", "tables", "table5", "figure2", "summary"}
    expected |= {f"download_task@{task}" for task in tasks}
    expected |= {f"finetune@{task}-{seed}" for task in tasks for seed in seeds}
    expected |= {f"finetune_ablation@{variant}-{task}-{seed}" for variant in ablation["variants"]
                 for task in ablation["tasks"] for seed in seeds}
    expected |= {f"finetune_transfer@{layers}-{task}-{seed}" for layers in transfer["layers"]
                 for task in transfer["tasks"] for seed in seeds}
    expected |= {f"zero_shot@{task}" for task in zero_shot["tasks"]}
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


def test_dvc_declares_every_params_group_a_command_reads(both):
    _, dvc = both
    assert all("profile" in stage["params"] for stage in dvc.values())
    assert {"model", "pretrain"} <= dvc["pretrain"]["params"]
    assert "corpus" in dvc["download_corpus"]["params"] and "bpe" in dvc["train_bpe"]["params"]
    assert "finetune" in dvc["finetune@rte-42"]["params"] and "zero_shot" in dvc["zero_shot@cola"]["params"]


def test_snakemake_lint_is_clean():
    done = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "Lints for" not in done.stdout + done.stderr, done.stdout + done.stderr
