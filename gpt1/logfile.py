"""A stage's whole output, also in its log file.

`teed(log_file)` sends everything the process writes to file descriptors 1 and 2 through a small copying
process that writes it on to where it went before (the terminal, Snakemake's or DVC's pipe) and appends it
to the log file: Python's logging and warnings, tracebacks, and what C++ libraries write to stderr
(sentencepiece's trainer, torch). A separate process rather than a thread, so that a stage killed outright
(by gpt1.lifeline, or SIGKILL) or crashing in C++ still leaves in its log everything it wrote.

In the log file a line redrawn with carriage returns (a progress bar on a terminal) keeps only its last
state, as the terminal shows it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("gpt1")

WAIT_S = 5.0  # for the copier to finish once the stage is done; a child still holding the pipe keeps it longer

_terminal: bool | None = None  # whether stderr was a terminal before it was teed (None: not teed)


def stderr_is_terminal() -> bool:
    """Whether stderr goes to a terminal (the one before the tee, when teed)."""
    return sys.stderr.isatty() if _terminal is None else _terminal


def teeing() -> bool:
    """Whether the output also goes to a log file."""
    return _terminal is not None


@contextlib.contextmanager
def teed(log_file: Path | None) -> Iterator[None]:
    """Within the block, fds 1 and 2 are also appended to `log_file` (nothing happens when it is None)."""
    global _terminal
    if log_file is None or teeing():
        yield
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pipes = [os.pipe(), os.pipe()]  # (read, write) for stdout, stderr
    read_ends = [r for r, _ in pipes]
    copier = subprocess.Popen(
        [sys.executable, "-I", "-S", __file__, str(log_file), *map(str, read_ends)],  # the standard library only
        stdin=subprocess.DEVNULL,
        pass_fds=read_ends,
    )
    _flush()
    saved = [os.dup(1), os.dup(2)]
    terminal = os.isatty(2)
    for fd, (r, w) in zip((1, 2), pipes):
        os.dup2(w, fd)
        os.close(w)
        os.close(r)
    _terminal = terminal
    try:
        yield
    finally:
        _flush()
        for fd, original in zip((1, 2), saved):
            os.dup2(original, fd)  # closes this process's write ends: the copier sees the end of the output
            os.close(original)
        _terminal = None
        with contextlib.suppress(subprocess.TimeoutExpired):
            copier.wait(WAIT_S)


def _flush() -> None:
    """Python's and C's buffered output, written out before the descriptors change."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).fflush(None)


def last_state(line: bytes) -> bytes:
    """A line (without its newline) as a terminal leaves it: what follows its last carriage return."""
    return line.rstrip(b"\r").rsplit(b"\r", 1)[-1]


def copy(log_file: str, read_ends: list[int]) -> None:
    """The copier: each read end to its own stream (stdout, stderr) and, line by line, to the log file, until
    every writer has closed its end."""
    for sig in (signal.SIGINT, signal.SIGTERM):  # the stage's Ctrl-C or kill: keep copying until it is gone
        signal.signal(sig, signal.SIG_IGN)
    log = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    selector = selectors.DefaultSelector()
    pending = {}
    for read_end, out in zip(read_ends, (1, 2)):
        selector.register(read_end, selectors.EVENT_READ, out)
        pending[read_end] = b""
    while pending:
        for key, _ in selector.select():
            data = os.read(key.fd, 1 << 16)
            if not data:
                selector.unregister(key.fd)
                rest = last_state(pending.pop(key.fd))  # an unfinished last line
                if rest.strip():
                    log = _append(log, log_file, rest + b"\n")
                continue
            with contextlib.suppress(OSError):  # a closed terminal or pipe: the log file still gets it
                os.write(key.data, data)
            *lines, pending[key.fd] = (pending[key.fd] + data).split(b"\n")
            if lines:
                log = _append(log, log_file, b"".join(last_state(line) + b"\n" for line in lines))
            if b"\r" in pending[key.fd]:  # a bar redrawn in place: only its last state can end up in the log
                pending[key.fd] = b"\r" + pending[key.fd].rsplit(b"\r", 1)[-1]


def _append(log: int | None, log_file: str, data: bytes) -> int | None:
    """Append `data` to the log file (`log`, its descriptor); the descriptor, or None once it failed (a full
    disk): then stderr says so, once, and the output goes on to its streams only."""
    if log is None:
        return None
    try:
        _write(log, data)
        return log
    except OSError as error:
        os.write(2, f"gpt1: {log_file}: {error.strerror.lower()}; the rest of the output is not in it\n".encode())
        return None


def _write(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def log_banner(args: argparse.Namespace, argv: list[str]) -> None:
    """What a stage's log starts with: its command, its parameters, the versions it ran with, where."""
    import platform
    import shlex
    from importlib import metadata

    from gpt1 import __version__, git_commit

    log.info(
        "started: gpt1 %s (in %s, process %d on %s)",
        shlex.join(map(str, argv)),
        Path.cwd(),
        os.getpid(),
        platform.node(),
    )
    parameters = {k: v for k, v in vars(args).items() if k not in ("command", "run")}
    log.info("parameters: %s", ", ".join(f"{k}={v}" for k, v in parameters.items()))
    # every stage tracks with MLflow; torch's version comes with the device, sentencepiece's with the BPE
    versions = f"gpt1 {__version__} (commit {git_commit()}), python {platform.python_version()}"
    log.info("versions: %s, mlflow %s", versions, metadata.version("mlflow"))


if __name__ == "__main__":
    copy(sys.argv[1], [int(fd) for fd in sys.argv[2:]])
