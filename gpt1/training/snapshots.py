"""Pretraining's weight snapshots: the initialisation, every pretrain.snapshot_interval updates and the end, for
scoring pretraining as it goes (Figure 2's zero-shot curves, gpt1.training.zero_shot)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from gpt1.files import atomic_save, naming_a_full_disk

SNAPSHOTS = "snapshots"
# Snapshots gather here, with the checkpoint, and are linked into SNAPSHOTS at the end. Snakemake and DVC delete
# a stage's declared outputs (SNAPSHOTS) when it fails or reruns; this folder, like the checkpoint, stays, so
# that a rerun of a finished pretraining (which resumes at its last update) still has every snapshot.
CHECKPOINT_SNAPSHOTS = "checkpoint.snapshots"


def save_snapshot(out_dir: Path, model: torch.nn.Module, step: int) -> None:
    """The weights after `step` updates (0: the initialisation), for scoring pretraining as it goes."""
    snapshot = {"model_config": model.config.to_dict(), "model": model.state_dict(), "step": step}
    atomic_save(snapshot, out_dir / CHECKPOINT_SNAPSHOTS / f"step{step:07d}.pt")


def publish_snapshots(out_dir: Path) -> None:
    """SNAPSHOTS as hard links to the checkpoint's snapshots (no copy), swapped in whole."""
    staging = out_dir / (SNAPSHOTS + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with naming_a_full_disk(out_dir / SNAPSHOTS):  # links take no room, but a folder's entries do
            staging.mkdir()
            for snapshot in sorted((out_dir / CHECKPOINT_SNAPSHOTS).glob("step*.pt")):
                os.link(snapshot, staging / snapshot.name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(out_dir / SNAPSHOTS, ignore_errors=True)
    staging.rename(out_dir / SNAPSHOTS)
