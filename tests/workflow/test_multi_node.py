"""pretrain.nodes: one machine runs torchrun itself; several nodes (under SLURM) run gpt1.launch on each, through
the job's srun, and the job asks the SLURM executor plugin for the nodes."""

import re
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, snakemake_jobs
from gpt1.params import ParamsError, check_group_rules
from gpt1.training.pretrain import setup_runtime

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
        "srun --ntasks-per-node=1 python -m gpt1.launch --nproc-per-node 2 -- -m gpt1 pretrain --tokens-dir "
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
