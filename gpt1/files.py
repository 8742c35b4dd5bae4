"""Atomic writes (a temporary file beside the target, then a rename, so no half-written output is visible) and
the lock that keeps two runs from writing one output."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: object) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def atomic_save(obj: object, path: Path) -> None:
    """torch.save, atomically."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class Busy(ValueError):
    """Another process is writing the same output."""


@contextmanager
def exclusive(path: Path, writer: str = "") -> Iterator[None]:
    """Hold `path`'s lock for `writer` (a hidden file beside it, released when the process ends, also by
    kill -9), or raise Busy naming the process that holds it: two runs never write one output at once. Two
    writers (two stages writing their own files into one folder) have locks of their own."""
    lock_path = path.parent / (f".{path.name}.{writer}.lock" if writer else f".{path.name}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise Busy(
                f"{path}: another run (process {holder}) is writing it; wait for that run to end or stop it"
            ) from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        yield


class Unreadable(ValueError):
    """A saved model or checkpoint that torch cannot load."""


def load_weights_file(path: Path, map_location="cpu") -> dict:
    """torch.load with weights_only=True (no code in a pickle ever runs); a truncated, corrupt or foreign file
    is a one-line error naming it."""
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # noqa: BLE001 - zip, pickle and tensor errors alike
        why = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise Unreadable(
            f"{path}: cannot be loaded ({why}); it is truncated, corrupt or not a weights-only file: "
            "delete it and rerun the stage that writes it"
        ) from None
