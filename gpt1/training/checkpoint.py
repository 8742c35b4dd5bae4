"""One resumable checkpoint for both training loops: weights, optimizer, RNG and history, with a run key.

A checkpoint is resumed only by the run it belongs to: `run_key` hashes everything that changes what the run
writes, and a checkpoint with another key is set aside (the run starts afresh beside it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import torch

from gpt1.files import atomic_save, load_weights_file

log = logging.getLogger(__name__)

FILE = "checkpoint.pt"


def run_key(*settings) -> str:
    """A short hash of JSON-serialisable settings."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def save(path: Path, key: str, model: torch.nn.Module, optimizer, done: int, history: list[dict], **extra) -> None:
    """Write the checkpoint after `done` units of work (updates or epochs), atomically."""
    rng = {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
    state = {
        "run_key": key,
        "done": done,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": history,
        "rng": rng,
        "extra": extra,
    }
    atomic_save(state, path)


def resume(
    path: Path,
    key: str,
    model: torch.nn.Module,
    optimizer,
    device: torch.device,
    main: bool = True,
    kept_with: tuple[Path, ...] = (),
) -> tuple[int, list[dict], dict]:
    """Load this run's checkpoint into `model` and `optimizer`; (work done, history so far, what else `save`
    was given), or (0, [], {}).

    A checkpoint of other settings is set aside, never deleted: moved with `kept_with` (what belongs to it,
    such as its snapshots) into a folder named after its run key, beside it. `main`: the process that owns the
    files and logs (torchrun's rank 0); the others only read."""
    if not path.exists():
        return 0, [], {}
    state = load_weights_file(path, map_location=device)
    if state.get("run_key") != key:
        if main:
            aside = set_aside(path, str(state.get("run_key")), kept_with)
            log.warning(
                "%s is from a run with other settings: moved to %s/ (delete it when done); starting afresh", path, aside
            )
        return 0, [], {}
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"]["torch"].cpu())
    if state["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
    if main:
        log.info("resuming from %s after %d", path, state["done"])
    return state["done"], state["history"], state.get("extra", {})


def set_aside(path: Path, key: str, kept_with: tuple[Path, ...]) -> Path:
    """Move `path` and `kept_with` into set-aside-<key>/ beside it, replacing an older copy of the same run."""
    aside = path.parent / f"set-aside-{key}"
    aside.mkdir(exist_ok=True)
    for item in (path, *kept_with):
        if item.exists():
            older = aside / item.name
            if older.is_dir():
                shutil.rmtree(older)
            item.replace(older)
    return aside
