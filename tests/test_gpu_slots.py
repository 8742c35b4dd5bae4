"""One GPU per job (gpt1.gpu_slots), on the CPU: real processes claim devices from a fake device list (an outer
CUDA_VISIBLE_DEVICES, or a stand-in nvidia-smi), and the real Snakefile asks for GPUs only where a run uses
them. What this checks is the mapping, not the speed."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from gpt1 import gpu_slots

# A process that claims a device for `device`, says what it got, and holds it until its stdin closes
CLAIMER = """
import logging, os, sys
from gpt1.gpu_slots import claim_gpu
logging.basicConfig(level=logging.INFO, format="%(message)s")
got = claim_gpu(sys.argv[1], poll_seconds=0.05)
print(got, os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
sys.stdin.read()
"""


@pytest.fixture
def claimers(tmp_path):
    """Start claiming processes that see `visible` as CUDA_VISIBLE_DEVICES; all stopped at the end."""
    started = []

    def start(visible: str, device: str = "auto") -> subprocess.Popen:
        env = os.environ | {
            "CUDA_VISIBLE_DEVICES": visible,
            gpu_slots.SLOTS_DIR_ENV: str(tmp_path / "slots"),
            "PYTHONPATH": str(ROOT),
        }
        process = subprocess.Popen(
            [sys.executable, "-c", CLAIMER, device],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


def claimed(process: subprocess.Popen) -> tuple[str, str]:
    """(what claim_gpu returned, the CUDA_VISIBLE_DEVICES the process then has)."""
    line = process.stdout.readline().split()
    assert len(line) == 2, process.stderr.read()
    return line[0], line[1]


def test_concurrent_processes_each_get_a_device_of_their_own(claimers):
    processes = [claimers("0,1,2,3") for _ in range(4)]
    got = [claimed(p) for p in processes]
    assert sorted(device for device, _ in got) == ["0", "1", "2", "3"]
    assert all(device == visible for device, visible in got)  # one device each, no more


def test_a_slot_freed_by_kill_9_is_claimed_by_a_waiting_process(claimers):
    holders = [claimers("0,1") for _ in range(2)]
    devices = [claimed(p)[0] for p in holders]
    waiting = claimers("0,1")
    deadline = time.monotonic() + 60
    while "waiting for one" not in (line := waiting.stderr.readline()):
        assert line and time.monotonic() < deadline, "the third process did not wait"
    assert "--resources gpu=N" in line
    holders[1].send_signal(signal.SIGKILL)
    holders[1].wait()
    assert claimed(waiting) == (devices[1], devices[1])


def test_slots_are_the_entries_of_an_outer_cuda_visible_devices(claimers):
    first, second = claimers("3,5"), claimers("3,5")
    assert sorted([claimed(first)[1], claimed(second)[1]]) == ["3", "5"]
    first.stdin.close(), second.stdin.close()
    first.wait(), second.wait()
    logged = first.stderr.read() + second.stderr.read()
    assert "GPU slot 0 of 2: CUDA_VISIBLE_DEVICES=3" in logged and "GPU slot 1 of 2: CUDA_VISIBLE_DEVICES=5" in logged


@pytest.mark.parametrize(
    ("visible", "device"),
    [("", "auto"), ("-1", "auto"), ("", "cuda"), ("0,1", "cpu"), ("0,1", "cuda:1"), ("7", "auto"), ("7", "cuda")],
)
def test_no_claim_without_a_choice_of_gpus(visible, device, monkeypatch, tmp_path):
    """No devices, the CPU, a device pinned by the user, or a single device (the job's own, as SLURM gives it):
    nothing claimed, nothing changed."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    monkeypatch.setenv(gpu_slots.SLOTS_DIR_ENV, str(tmp_path / "slots"))
    assert gpu_slots.claim_gpu(device) is None
    assert os.environ["CUDA_VISIBLE_DEVICES"] == visible and not (tmp_path / "slots").exists()


def test_cuda_visible_devices_ends_at_a_negative_entry_as_cuda_reads_it(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 0,-1,3")
    assert gpu_slots.visible_devices() == ["2", "0"]


NVIDIA_SMI_L = """GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5d5ba0d6-d33d-2b2c-524d-9e3d8d2b8a77)
GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-0b1c2d3e-aaaa-bbbb-cccc-111122223333)
  MIG 3g.20gb     Device  0: (UUID: MIG-c6d4f1ef-42e4-5de3-91c7-45d71c87eb3f)
  MIG 3g.20gb     Device  1: (UUID: MIG-cba663e8-9bed-5b25-b243-5985ef7c9beb)
GPU 2: NVIDIA H100 80GB HBM3 (UUID: GPU-9a8b7c6d-1111-2222-3333-444455556666)
"""


@pytest.mark.parametrize(
    ("listing", "expected"),
    [
        (
            NVIDIA_SMI_L,
            ["0", "MIG-c6d4f1ef-42e4-5de3-91c7-45d71c87eb3f", "MIG-cba663e8-9bed-5b25-b243-5985ef7c9beb", "2"],
        ),
        (None, []),  # no nvidia-smi: a machine without NVIDIA's driver
    ],
)
def test_without_cuda_visible_devices_the_gpus_are_nvidia_smis(listing, expected, monkeypatch, tmp_path):
    """A stand-in `nvidia-smi -L` (the real one's output on a machine with a MIG-partitioned GPU)."""
    if listing is not None:
        tool = tmp_path / "nvidia-smi"
        tool.write_text(f"#!{sys.executable}\nprint({listing!r}, end='')\n")
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing else: no real nvidia-smi either
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    gpu_slots.nvidia_smi_devices.cache_clear()
    try:
        assert gpu_slots.visible_devices() == expected
    finally:
        gpu_slots.nvidia_smi_devices.cache_clear()


def dry_run_gpus(visible: str, *config: str) -> dict[str, set[str]]:
    """rule -> the `gpu` values its jobs ask for, in a forced dry run of the whole smoke DAG where this process
    sees `visible` as its GPUs."""
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--forceall", "--config", "profile=smoke", *config],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | {"CUDA_VISIBLE_DEVICES": visible},
    )
    assert done.returncode == 0, done.stderr + done.stdout
    gpus: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=rule \w+:)", done.stdout + done.stderr)[1:]:
        rule = re.match(r"rule (\w+):", block).group(1)
        if resources := re.search(r"^\s+resources: (.*)$", block, re.M):
            gpu = re.search(r"\bgpu=(\d+)", resources.group(1))
            gpus.setdefault(rule, set()).add(gpu.group(1) if gpu else "-")
    return gpus


def test_snakemake_jobs_ask_for_a_gpu_only_where_their_run_uses_one():
    """With two GPUs in sight every fine-tuning and zero-shot job asks for one and pretraining for one per
    torchrun process; on a CPU-only machine, or with finetune.device cpu, none (so --cores alone decides how
    many run at once)."""
    finetunes = {"finetune", "finetune_ablation", "finetune_transfer"}
    with_gpus = dry_run_gpus("3,5")
    assert all(with_gpus[rule] == {"1"} for rule in finetunes | {"pretrain", "zero_shot"})
    assert with_gpus["download_task"] == {"-"}
    assert dry_run_gpus("3,5", "zero_shot={device: cpu}")["zero_shot"] == {"0"}
    assert dry_run_gpus("3,5", "pretrain={processes: 2, batch_size: 8}")["pretrain"] == {"2"}
    cpu_only = dry_run_gpus("")
    assert all(cpu_only[rule] == {"0"} for rule in finetunes | {"pretrain", "zero_shot"})
    assert all(dry_run_gpus("3,5", "finetune={device: cpu}")[rule] == {"0"} for rule in finetunes)
