"""pretrain.nodes: one machine runs torchrun itself; several nodes (under SLURM) run gpt1.launch on each, through
the job's srun, and the job asks the SLURM executor plugin for the nodes."""

import json
import re
import subprocess
import sys

import pytest
import torch
import yaml

from conftest import ROOT, project_copy, run, snakemake_jobs
from gpt1.params import ParamsError, check_group_rules
from gpt1.training.distributed import setup_runtime
from slurm_cluster import slurm_cluster
from test_slurm import PLUGIN, SLURM, for_test_cluster

TWO_NODES = "pretrain={nodes: 2, processes: 4}"


def pretrain_resources(*config: str) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--forceall", "pretrain", "--config", "profile=smoke", *config],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    listed = re.search(r"^rule pretrain:\n(?:    .*\n)*?    resources: (.*)$", done.stdout + done.stderr, re.M)
    return dict(pair.split("=", 1) for pair in listed.group(1).split(", "))


def test_one_node_runs_torchrun_standalone_and_asks_for_no_nodes():
    cmd = snakemake_jobs("pretrain", "--config", "profile=smoke")["pretrain"]["cmd"]
    assert cmd.startswith("torchrun --standalone --nproc-per-node 1 -m gpt1 pretrain ")
    assert not {"nodes", "mpi", "tasks"} & set(pretrain_resources())


def test_two_nodes_run_gpt1_launch_on_each_through_the_jobs_srun():
    cmd = snakemake_jobs("pretrain", "--config", "profile=smoke", TWO_NODES)["pretrain"]["cmd"]
    assert cmd.startswith(
        "srun --nodes=2 --ntasks-per-node=1 python -m gpt1.launch --nproc-per-node 2 -- -m gpt1 pretrain --tokens-dir "
    )
    assert "--nodes 2 " in cmd and "--processes 4 " in cmd
    resources = pretrain_resources(TWO_NODES)
    assert {key: resources[key] for key in ("nodes", "mpi", "tasks", "tasks_per_gpu")} == {
        "nodes": "2",
        "mpi": "srun",
        "tasks": "2",
        "tasks_per_gpu": "0",
    }


def test_processes_must_split_evenly_over_the_nodes():
    values = {"batch_size": 24, "micro_batch_size": 2, "processes": 3, "nodes": 2}
    with pytest.raises(ParamsError, match=r"pretrain.processes \(3\) must split evenly over pretrain.nodes \(2\)"):
        check_group_rules("pretrain", values)
    check_group_rules("pretrain", values | {"processes": 4})


def test_a_run_on_fewer_nodes_than_configured_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun --standalone: all 4 on this machine
    with pytest.raises(ValueError, match=r"pretrain.nodes is 2 but this run spans 1 node\(s\)"):
        setup_runtime("cpu", 4, 2)


def test_more_processes_on_a_node_than_its_gpus_is_refused_before_any_process_group(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a node with 2 GPUs, seen from this CPU
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "3")
    refused = r"pretrain.processes is 8, 4 on this node, but it has 2 GPU\(s\): set pretrain.processes to at most 4"
    with pytest.raises(ValueError, match=refused):
        setup_runtime("cuda", 8, 2)


@PLUGIN
@SLURM
@pytest.mark.slow
def test_two_node_pretraining_runs_as_one_slurm_job_through_the_executor_plugin(tmp_path, monkeypatch):
    """The smoke pretraining with pretrain.nodes 2, submitted by Snakemake with profiles/slurm to a two-node test
    cluster (two slurmd on this machine): one job on both nodes, whose srun starts gpt1.launch on each; the two
    processes train as one DistributedDataParallel group (gloo on the CPU)."""
    project = project_copy(tmp_path)
    with slurm_cluster(nodes=2) as cluster:
        profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
        profile = for_test_cluster(profile, cluster.partition, cluster.account)
        (tmp_path / "profile").mkdir()
        (tmp_path / "profile" / "config.yaml").write_text(yaml.safe_dump(profile))
        for name, value in cluster.env.items():
            monkeypatch.setenv(name, value)
        args = ["snakemake", "results/pretrain/model.pt", "--workflow-profile", str(tmp_path / "profile")]
        args += ["--config", "profile=smoke", "pretrain={nodes: 2, processes: 2}"]
        run([*args, "--slurm-init-seconds-before-status-checks", "2"], project)
        fields = "Comment,State,NNodes,AllocTRES"
        lines = cluster.command("sacct", "-a", "-X", "-n", "-P", "-S", "now-1days", "-o", fields).splitlines()
    jobs = {
        comment.split("_wildcards_")[0].removeprefix("rule_"): rest
        for comment, *rest in (line.split("|") for line in lines)
    }
    assert jobs["pretrain"][:2] == ["COMPLETED", "2"], jobs
    assert "gres/gpu=16" in jobs["pretrain"][2].split(","), jobs  # the profile's 8 (fake) GPUs on each node
    log = (project / "results" / "logs" / "pretrain.log").read_text()
    assert re.search(r"model: [\d,]+ parameters; device cpu .*, 2 process\(es\)", log), log[-3000:]
    assert json.loads((project / "results" / "pretrain" / "metrics.json").read_text())["steps"] == 30
