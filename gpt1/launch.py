"""torchrun on every node of a SLURM job: the launch command rendered from the job's environment.

    srun --nodes=2 --ntasks-per-node=1 python -m gpt1.launch --nproc-per-node 8 -- -m gpt1 pretrain ...

runs, on each node, torchrun with the job's node count, this node's rank (SLURM_NODEID) and a rendezvous on the
job's first node (`scontrol show hostnames` of SLURM_JOB_NODELIST), so the nodes' processes form one group;
`--dry-run` prints the command instead. On one machine, `torchrun --standalone` needs none of this."""

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

RENDEZVOUS_PORT = 29500  # torchrun's default master port


@dataclass(frozen=True)
class SlurmNodes:
    """The nodes of a SLURM job, as the node running this process sees them."""

    hosts: list[str]  # the job's nodes, the first one holds the rendezvous
    node_rank: int  # this node's place among them

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> "SlurmNodes":
        """From SLURM_JOB_NODELIST, SLURM_NNODES and SLURM_NODEID, which SLURM sets in a job step."""
        missing = [name for name in ("SLURM_JOB_NODELIST", "SLURM_NNODES", "SLURM_NODEID") if name not in env]
        if missing:
            raise SystemExit(
                f"gpt1.launch: {', '.join(missing)} unset: run it in a SLURM job step (srun --nodes=N "
                "--ntasks-per-node=1), or `torchrun --standalone` on one machine"
            )
        hosts = hostnames(env["SLURM_JOB_NODELIST"], env)
        if len(hosts) != int(env["SLURM_NNODES"]):
            raise SystemExit(
                f"gpt1.launch: SLURM_JOB_NODELIST names {len(hosts)} nodes but SLURM_NNODES is {env['SLURM_NNODES']}"
            )
        return cls(hosts, int(env["SLURM_NODEID"]))


def hostnames(nodelist: str, env: Mapping[str, str]) -> list[str]:
    """SLURM's compressed node list (`gpu[01-02,05]`) expanded by SLURM's own parser."""
    done = subprocess.run(
        ["scontrol", "show", "hostnames", nodelist], env=dict(env), capture_output=True, text=True, timeout=60
    )
    if done.returncode:
        raise SystemExit(f"gpt1.launch: `scontrol show hostnames {nodelist}` failed: {done.stderr.strip()}")
    return done.stdout.split()


def torchrun_command(nodes: SlurmNodes, nproc_per_node: int, args: list[str], port: int = RENDEZVOUS_PORT) -> list[str]:
    """torchrun with `args` (e.g. `-m gpt1 pretrain ...`) for this node: a static rendezvous on the first node, so
    global rank 0 (which writes the checkpoints and the logs) is always on it."""
    return [
        "torchrun",
        "--nnodes",
        str(len(nodes.hosts)),
        "--node-rank",
        str(nodes.node_rank),
        "--nproc-per-node",
        str(nproc_per_node),
        "--master-addr",
        nodes.hosts[0],
        "--master-port",
        str(port),
        *args,
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gpt1.launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--nproc-per-node", type=int, required=True, help="processes (GPUs) on each node")
    parser.add_argument("--port", type=int, default=RENDEZVOUS_PORT, help="the rendezvous port on the first node")
    parser.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="torchrun's script and its arguments, after --")
    options = parser.parse_args(argv)
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    command = torchrun_command(SlurmNodes.from_environment(os.environ), options.nproc_per_node, args, options.port)
    if options.dry_run:
        print(shlex.join(command))
        return
    sys.stdout.flush()
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
