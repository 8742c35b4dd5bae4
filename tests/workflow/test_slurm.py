"""The smoke profile through SLURM: Snakemake's SLURM executor plugin with profiles/slurm submits every job to a
real one-node cluster on 127.0.0.1 (tests/slurm_cluster.py), and the tables equal those of a run on this machine.
Skips where SLURM, munge, MariaDB or the plugin is absent (.ci/slurm.sh installs them)."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import Counter

import pytest
import yaml

from conftest import ROOT, project_copy, run, snakemake_jobs
from slurm_cluster import missing_programs, slurm_cluster
from test_workflow import numbers

PLUGIN = pytest.mark.skipif(
    importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
    reason="snakemake-executor-plugin-slurm absent (pyproject.toml's dev extras)",
)
SLURM = pytest.mark.skipif(bool(missing_programs()), reason=f"SLURM's programs absent: {', '.join(missing_programs())}")
TABLES = [f"results/tables/table{n}.{ext}" for n in (2, 3, 4, 5) for ext in ("md", "csv", "tex")]
TEST_MEM_MB = 2000  # each job's memory on the test node: several fit beside each other


@PLUGIN
def test_the_profile_gives_every_paper_job_its_resources():
    """docs/slurm.md's check: a dry run with the profile shows each job's GPUs, CPUs, memory and run time; the
    profile names only rules that exist (Snakemake ignores a misspelt one)."""
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--workflow-profile", "slurm", "-n", "--config", "profile=paper"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = re.findall(r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", done.stdout + done.stderr, re.M)
    resources = {rule: dict(pair.split("=", 1) for pair in listed.split(", ")) for rule, listed in jobs}
    openai = snakemake_jobs("--config", "profile=openai-gpt")
    assert set(profile["set-resources"]) <= set(resources) | {name.split("@")[0] for name in openai}
    gpus = {rule: gpus_per_job(found, nodes=int(found.get("nodes", 1))) for rule, found in resources.items()}
    assert {rule: n for rule, n in gpus.items() if n} == {
        "pretrain": 8,  # on each of its nodes (gres)
        "pretrain_lstm": 8,
        "finetune": 1,
        "finetune_ablation": 1,
        "finetune_lstm": 1,
        "finetune_transfer": 1,
        "zero_shot": 1,
        "zero_shot_lstm": 1,
    }
    for rule, found in resources.items():  # the defaults (CPUs, memory, run time) and the rule's own
        wanted = profile["default-resources"] | profile["set-resources"].get(rule, {})
        assert {key: found.get(key) for key in wanted} == {key: str(value) for key, value in wanted.items()}, rule


def gpus_per_job(resources: dict, nodes: int) -> int:
    """The GPUs SLURM gives a job with these resources: `gres` gpu:N is N on each node, `gpu` N is N in all."""
    gres = str(resources.get("gres", ""))
    return int(gres.split(":")[-1]) * nodes if gres.startswith("gpu") else int(resources.get("gpu", 0))


@pytest.fixture(scope="module")
def cluster():
    with slurm_cluster() as running:
        yield running


def for_test_cluster(profile: dict, partition: str, account: str) -> dict:
    """profiles/slurm for the test cluster: its partition and account, and no more CPUs or memory than its node
    has; every other setting as it is, the GPUs too (the node's are fake: the jobs run on the CPU)."""
    profile["default-resources"] |= {"slurm_partition": partition, "slurm_account": account}
    for resources in [profile["default-resources"], *profile["set-resources"].values()]:
        resources["cpus_per_task"] = min(resources.get("cpus_per_task", 1), os.cpu_count())
        resources["mem_mb"] = min(resources.get("mem_mb", TEST_MEM_MB), TEST_MEM_MB)
    return profile


@PLUGIN
@SLURM
@pytest.mark.slow
def test_the_smoke_profile_runs_through_slurm_and_writes_a_local_runs_tables(
    cluster, snakemake_project, tmp_path, monkeypatch
):
    project = project_copy(tmp_path)
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    profile_dir = tmp_path / "slurm-test-profile"
    profile_dir.mkdir()
    test_profile = for_test_cluster(profile, cluster.partition, cluster.account)
    (profile_dir / "config.yaml").write_text(yaml.safe_dump(test_profile))
    expected = Counter(name.split("@")[0] for name in snakemake_jobs("--config", "profile=smoke", cwd=project))

    for name, value in cluster.env.items():
        monkeypatch.setenv(name, value)  # the jobs' commands and the plugin's sbatch and sacct talk to the cluster
    args = ["snakemake", "--workflow-profile", str(profile_dir), "--config", "profile=smoke"]
    args += ["--slurm-init-seconds-before-status-checks", "2"]  # its default, 40 s, is for busy clusters
    done = run(args, project)
    assert "Nothing to be done" not in done.stderr

    # every job of the DAG ran as a SLURM job of the account and partition, with the profile's GPUs, and completed
    fields = "Comment,State,Account,Partition,AllocTRES"
    lines = cluster.command("sacct", "-a", "-X", "-n", "-P", "-S", "now-1days", "-o", fields).splitlines()
    rows = [line.split("|") for line in lines]
    rules = [comment.split("_wildcards_")[0].removeprefix("rule_") for comment, *_ in rows]
    assert Counter(rules) == expected
    assert {tuple(row[1:4]) for row in rows} == {("COMPLETED", cluster.account, cluster.partition)}
    gpus = {rule: gpus_per_job(resources, nodes=1) for rule, resources in test_profile["set-resources"].items()}
    for rule, row in zip(rules, rows):
        allocated = dict(pair.split("=") for pair in row[4].split(","))
        assert allocated.get("gres/gpu", "0") == str(gpus.get(rule, 0)), (rule, row[4])
    for name in TABLES:
        assert (project / name).read_text() == (snakemake_project / name).read_text(), name
    for name in ["results/tables/tables.json", "results/tables/table5.json"]:
        ours, theirs = (numbers(json.loads((p / name).read_text())) for p in (project, snakemake_project))
        assert ours.keys() == theirs.keys(), name
        for key, value in ours.items():
            assert theirs[key] == (pytest.approx(value, abs=0.05) if isinstance(value, float) else value), key
