"""Atomic writes (a temporary file beside the target, then a rename, so no half-written output is visible), the
one-line error of a full disk, and the lock that keeps two runs from writing one output."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)  # a full disk, or a full quota on it


class DiskFull(OSError):
    """No room left on the disk (or in the quota) for `path`: one line naming it, how much room it wants when
    that is known, and where to free some."""

    def __init__(self, path: Path, needed: int | None = None, code: int = errno.ENOSPC):
        super().__init__(code, os.strerror(code), str(path))
        self.path, self.needed = Path(path), needed

    def __str__(self) -> str:
        # measured when shown: by then the partial file is gone and its room free again
        mount = mount_point(self.path)
        free = shutil.disk_usage(mount).free
        room = f"{size_text(free)} free on {mount}"
        if self.needed and self.needed > free:
            room = f"it needs about {size_text(self.needed - free)} more than the {room}"
        advice = "free some there or use a larger disk, then rerun"
        return f"{self.path}: {self.strerror.lower()} writing it ({room}); {advice}"


def mount_point(path: Path) -> Path:
    """The mount point of the filesystem `path` is (or would be) on."""
    path = Path(os.path.abspath(path))
    while not os.path.ismount(path):
        path = path.parent
    return path


def size_text(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 1e3:.0f} kB"


@contextmanager
def naming_a_full_disk(path: Path, needed: int | None = None) -> Iterator[None]:
    """Within the block, an OSError of a full disk is DiskFull naming `path`, the output being written, and
    `needed`, its size when known. A DiskFull from within, naming a part of it (a temporary file or folder),
    is named after `path` too, keeping the size it knew."""
    try:
        yield
    except OSError as error:
        if error.errno not in NO_SPACE:
            raise
        raise DiskFull(path, needed or getattr(error, "needed", None), error.errno) from None


@contextmanager
def atomic_output(path: Path, mode: str = "wb", needed: int | None = None, **open_args) -> Iterator[IO]:
    """A file open on `path`'s temporary file (`mode` and `open_args` as `open` takes them), renamed over
    `path` when the block ends. If the block fails the temporary file is removed and `path` is left as it was;
    a full disk is DiskFull naming `path` (`needed`: the size to be written, when known)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with naming_a_full_disk(path, needed):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, mode, **open_args) as file:
                yield file
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_output(path, needed=len(data)) as file:
        file.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: object) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def atomic_save(obj: object, path: Path) -> None:
    """torch.save, atomically. A full disk is DiskFull saying how large the whole file is."""
    import torch

    with atomic_output(path, buffering=0) as file:  # unbuffered: nothing left to flush after a failed write
        counted = CountedWrites(file)
        torch.save(obj, counted)
        if counted.error:
            no_space = counted.error.errno in NO_SPACE
            raise DiskFull(path, counted.size, counted.error.errno) if no_space else counted.error


class CountedWrites:
    """What torch.save writes into: torch turns a failed write into a RuntimeError of its own ("unexpected
    pos"), so the first failure is kept here instead, and from then on the writes are only counted, to the
    size of the whole file."""

    def __init__(self, file: IO[bytes]):
        self.file, self.size, self.error = file, 0, None

    def write(self, data) -> int:
        data = memoryview(data).cast("B")
        self.size += len(data)
        written = 0
        while written < len(data) and self.error is None:
            try:
                written += self.file.write(data[written:])  # an unbuffered write may write only part
            except OSError as error:
                self.error = error
        return len(data)

    def flush(self) -> None:
        pass


class Busy(ValueError):
    """Another process is writing the same output."""


@contextmanager
def exclusive(path: Path, writer: str = "") -> Iterator[None]:
    """Hold `path`'s lock for `writer` (a hidden file beside it, released when the process ends, also by
    kill -9), or raise Busy naming the process that holds it: two runs never write one output at once. Two
    writers (two stages writing their own files into one folder) have locks of their own."""
    lock_path = path.parent / (f".{path.name}.{writer}.lock" if writer else f".{path.name}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b", buffering=0) as lock:  # unbuffered: a full disk shows at the write, and only there
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().decode().strip() or "unknown"
            raise Busy(
                f"{path}: another run (process {holder}) is writing it; wait for that run to end or stop it"
            ) from None
        with naming_a_full_disk(lock_path):
            lock.truncate(0)
            lock.write(str(os.getpid()).encode())
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
