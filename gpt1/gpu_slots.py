"""One GPU per job: a fine-tuning, zero-shot or one-process pretraining job takes a GPU no other gpt1 process on
the machine holds and makes it its only one (CUDA_VISIBLE_DEVICES), so eight jobs at once on eight GPUs do not
all land on cuda:0.

A slot is a device of the list this process may use (CUDA_VISIBLE_DEVICES's entries when it is set, else
nvidia-smi's GPUs); its claim is an flock on a file named for the device, in one folder per user on this
machine (GPT1_GPU_SLOTS_DIR overrides it), held until the process ends, also by kill -9. The folder is the
machine's, not the project's: two checkouts, or DVC's queued experiments in their own workspaces, share the
GPUs too. No torch here: CUDA reads CUDA_VISIBLE_DEVICES once, when it initialises, so the claim comes first.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

SLOTS_DIR_ENV = "GPT1_GPU_SLOTS_DIR"
_held = []  # the claimed slot's open lock file: closed only when the process ends


def visible_devices() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries (indices, GPU- or MIG- UUIDs), without
    initialising CUDA. An outer CUDA_VISIBLE_DEVICES rules; as CUDA does, it ends at a negative entry."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return nvidia_smi_devices()
    devices = []
    for entry in (e.strip() for e in listed.split(",")):
        if not entry or entry.startswith("-"):
            break
        devices.append(entry)
    return devices


@functools.cache
def nvidia_smi_devices() -> list[str]:
    """`nvidia-smi -L`'s GPUs by index, or a GPU's MIG instances by UUID; none without the tool or a driver."""
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    devices: list[list[str]] = []  # per GPU: [its index] or its MIG instances
    for line in listing.splitlines():
        if line.startswith("GPU ") and ":" in line:
            devices.append([line[4:].split(":", 1)[0].strip()])
        elif line.lstrip().startswith("MIG ") and "UUID: " in line and devices:
            mig = line.split("UUID: ", 1)[1].rstrip(")").strip()
            devices[-1] = [*(d for d in devices[-1] if d.startswith("MIG")), mig]
    return [device for gpu in devices for device in gpu]


def runs_on_cuda(device: str) -> bool:
    """Whether a stage with this device setting (auto, cpu, cuda, cuda:N, mps) will run on a GPU here."""
    return device.startswith("cuda") or (device == "auto" and bool(visible_devices()))


def gpus_needed(device: str, processes: int = 1) -> int:
    """The `gpu` resource of a Snakemake job with this device setting: one per process on CUDA, else 0."""
    return processes if runs_on_cuda(device) else 0


def slots_dir() -> Path:
    return Path(os.environ.get(SLOTS_DIR_ENV) or Path(tempfile.gettempdir()) / f"gpt1-gpu-slots-{os.getuid()}")


def claim_gpu(device: str, poll_seconds: float = 5.0) -> str | None:
    """Before CUDA initialises: when the run will use CUDA (`auto` or `cuda`) and there is a choice (two or
    more devices), take the first free device and make it the process's only one; wait while all are held.
    None when no claim is made: on the CPU, a pinned cuda:N, or one device (the job's own, for example
    SLURM's, or the machine's only GPU, which Snakemake's `gpu` resource keeps to one job)."""
    if _held:
        return os.environ["CUDA_VISIBLE_DEVICES"]
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise RuntimeError("claim_gpu: CUDA is already initialised here; claim the GPU before any CUDA call")
    devices = visible_devices() if device in ("auto", "cuda") else []
    if len(devices) < 2:
        return None
    folder = slots_dir()
    folder.mkdir(parents=True, exist_ok=True)
    waiting = False
    while True:
        holders = []
        for slot, name in enumerate(devices):
            lock = open(folder / f"{name.replace('/', '_')}.lock", "a+")  # noqa: SIM115 - held past this function
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                holders.append(lock.read().strip() or "?")
                lock.close()
                continue
            lock.truncate(0)
            lock.write(str(os.getpid()))
            lock.flush()
            _held.append(lock)
            os.environ["CUDA_VISIBLE_DEVICES"] = name
            log.info("GPU slot %d of %d: CUDA_VISIBLE_DEVICES=%s (lock %s)", slot, len(devices), name, lock.name)
            return name
        if not waiting:
            log.warning(
                "all %d GPUs (%s) are held by other gpt1 processes (%s); waiting for one. Snakemake runs at most "
                "N GPU jobs at once with `--resources gpu=N` (N <= %d)",
                len(devices),
                ", ".join(devices),
                ", ".join(holders),
                len(devices),
            )
            waiting = True
        time.sleep(poll_seconds)
