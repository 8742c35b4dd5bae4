"""The processes of a pretraining: one, or one of torchrun's (DistributedDataParallel: nccl on GPUs, gloo on
CPU), each with its rank and device."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from gpt1.device import resolve_device


@dataclass
class Runtime:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_runtime(device: str, processes: int, nodes: int) -> Runtime:
    """One process, or one of torchrun's (it sets WORLD_SIZE, LOCAL_WORLD_SIZE, RANK and LOCAL_RANK)."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world != processes:
        raise ValueError(
            f"pretrain.processes is {processes} but this run has {world} process(es): start it with "
            f"`torchrun --nproc-per-node {processes}`, or set pretrain.processes to {world}"
        )
    spanned = world // int(os.environ.get("LOCAL_WORLD_SIZE", world))
    if spanned != nodes:
        raise ValueError(
            f"pretrain.nodes is {nodes} but this run spans {spanned} node(s): several nodes need Snakemake under "
            "SLURM (docs/slurm.md), which starts torchrun on each"
        )
    if world == 1:
        return Runtime(0, 1, resolve_device(device))
    if resolve_device(device).type == "cuda":
        per_node, gpus = int(os.environ["LOCAL_WORLD_SIZE"]), torch.cuda.device_count()
        if per_node > gpus:
            raise ValueError(
                f"pretrain.processes is {processes}, {per_node} on this node, but it has {gpus} GPU(s): set "
                f"pretrain.processes to at most {gpus * nodes} (one process per GPU)"
            )
        local_rank = int(os.environ["LOCAL_RANK"])
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl")
        return Runtime(dist.get_rank(), world, torch.device("cuda", local_rank))
    dist.init_process_group("gloo")
    return Runtime(dist.get_rank(), world, resolve_device(device))
