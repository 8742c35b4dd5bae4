"""gpt1.launch: torchrun's multi-node command from a SLURM job's environment, here a fake job of two nodes (the
node list expanded by the real `scontrol`), and the two commands forming one process group."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import BIN
from gpt1.launch import SlurmNodes, torchrun_command
from slurm_cluster import free_port, missing_programs, slurm_cluster

pytestmark = pytest.mark.skipif(shutil.which("scontrol") is None, reason="scontrol absent (Debian's slurm-client)")


@pytest.fixture
def two_nodes(tmp_path) -> dict[str, str]:
    """SLURM's variables on the second node of a job on gpu07 and gpu08; scontrol reads only the cluster's name
    and controller from the config (a job's node has /etc/slurm/slurm.conf)."""
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=fake\nSlurmctldHost=localhost\n")
    return {"SLURM_CONF": str(conf), "SLURM_JOB_NODELIST": "gpu[07-08]", "SLURM_NNODES": "2", "SLURM_NODEID": "1"}


def test_the_command_names_both_nodes_this_nodes_rank_and_the_first_node_as_the_rendezvous(two_nodes):
    nodes = SlurmNodes.from_environment(two_nodes)
    assert nodes == SlurmNodes(["gpu07", "gpu08"], 1)
    command = torchrun_command(nodes, 8, ["-m", "gpt1", "pretrain", "--out-dir", "results/pretrain"])
    assert command == [
        "torchrun",
        "--nnodes",
        "2",
        "--node-rank",
        "1",
        "--nproc-per-node",
        "8",
        "--master-addr",
        "gpu07",
        "--master-port",
        "29500",
        "-m",
        "gpt1",
        "pretrain",
        "--out-dir",
        "results/pretrain",
    ]


def test_outside_a_job_or_with_a_wrong_node_count_it_says_what_is_wrong(two_nodes):
    with pytest.raises(SystemExit, match="SLURM_JOB_NODELIST, SLURM_NNODES, SLURM_NODEID unset: run it in a SLURM"):
        SlurmNodes.from_environment({})
    with pytest.raises(SystemExit, match="names 2 nodes but SLURM_NNODES is 3"):
        SlurmNodes.from_environment(two_nodes | {"SLURM_NNODES": "3"})


GROUP = """import os, torch, torch.distributed as dist
dist.init_process_group("gloo")
total = torch.tensor([dist.get_rank() + 1.0])
dist.all_reduce(total)
os.write(1, f"{dist.get_rank()} {dist.get_world_size()} {int(total)}\\n".encode())  # one write: lines never mix
dist.destroy_process_group()  # as gpt1 pretrain does: gloo's threads left at exit may abort the process
"""


def test_the_two_nodes_commands_form_one_process_group(two_nodes, tmp_path):
    """Both "nodes" on this machine (each named localhost): `python -m gpt1.launch` on each, with its
    SLURM_NODEID, starts torchrun with 2 processes; the 4 processes meet at the first node's rendezvous."""
    script = tmp_path / "group.py"
    script.write_text(GROUP)
    port = free_port()
    launches = []
    for node_id in ("0", "1"):
        env = os.environ | two_nodes | {"SLURM_JOB_NODELIST": "localhost,localhost", "SLURM_NODEID": node_id}
        env["PATH"] = f"{BIN}:{env['PATH']}"
        args = ["--nproc-per-node", "2", "--port", str(port), "--", str(script)]
        launches.append(
            subprocess.Popen(
                [sys.executable, "-m", "gpt1.launch", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        )
    outputs = [launch.communicate(timeout=300) for launch in launches]
    assert [launch.returncode for launch in launches] == [0, 0], [err.decode()[-2000:] for _, err in outputs]
    ranks = sorted(line.split() for out, _ in outputs for line in out.decode().splitlines())
    assert ranks == [[str(rank), "4", "10"] for rank in range(4)]  # one group of 4: 1 + 2 + 3 + 4


@pytest.mark.slow
@pytest.mark.skipif(bool(missing_programs()), reason=f"SLURM's programs absent: {', '.join(missing_programs())}")
def test_a_two_node_slurm_job_step_forms_one_process_group(tmp_path):
    """A real SLURM job step on two nodes (two slurmd on this machine, tests/slurm_cluster.py): `srun -N2
    --ntasks-per-node=1 python -m gpt1.launch` on each node, with the variables SLURM sets, starts torchrun with
    2 processes; the 4 processes meet at the first node's rendezvous."""
    script = tmp_path / "group.py"
    script.write_text(GROUP)
    with slurm_cluster(nodes=2) as cluster:
        env = os.environ | cluster.env | {"PATH": f"{BIN}:{cluster.env['PATH']}"}
        launch = [
            sys.executable,
            "-m",
            "gpt1.launch",
            "--nproc-per-node",
            "2",
            "--port",
            str(free_port()),
            "--",
            script,
        ]
        step = ["srun", "--account", cluster.account, "--nodes", "2", "--ntasks-per-node", "1", *map(str, launch)]
        done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    ranks = sorted(line.split() for line in done.stdout.splitlines())
    assert ranks == [[str(rank), "4", "10"] for rank in range(4)]
