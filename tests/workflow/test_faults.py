"""kill -9 of the whole Snakemake process group, in pretraining and in fine-tuning, and of DVC's in pretraining: no
process survives, and the run resumed gives the same tables, metrics and snapshots, byte for byte, as a run never
interrupted."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import project_copy, project_env, run
from gpt1.params import apply_profile

pytestmark = pytest.mark.slow

# The smoke profile with pretraining long enough (300 updates, a checkpoint every 50) to be killed in the middle
LONGER_PRETRAINING = {"epochs": 10.0, "max_steps": 300, "eval_interval": 50, "snapshot_interval": 100}
SMOKE = ["--cores", "2", "--config", "profile=smoke", f"pretrain={json.dumps(LONGER_PRETRAINING)}"]
# what differs between any two runs: times, speeds, MLflow run ids, absolute paths
VOLATILE = {"wall_s", "wall_s_this_run", "tokens_per_s", "mlflow_run_id", "pretrain_run_id", "run_id", "checkpoint"}


def processes_in(project: Path) -> list[str]:
    """Command lines of the live processes working in `project`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")).resolve() == project.resolve():
                state = (proc / "status").read_text().split("State:")[1].split()[0]
                if state != "Z":
                    found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError):
            continue
    return found


def kill_when(project: Path, appears: str, command: list[str] | None = None) -> None:
    """Start (or resume) the smoke run (Snakemake, or `command`) in its own process group; kill -9 the group
    once `appears` exists; check that no process of the run is left after a few seconds (the lifeline's
    interval is 1 s)."""
    if command is None:
        run(["snakemake", "--unlock", *SMOKE], project)  # the lock a killed run left
        command = ["snakemake", "--rerun-incomplete", *SMOKE]
    snakemake = subprocess.Popen(
        command,
        cwd=project,
        env=project_env(project),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while not list(project.glob(appears)):
        assert snakemake.poll() is None, f"the run ended before {appears} appeared"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(snakemake.pid, signal.SIGKILL)
    snakemake.wait()
    deadline = time.monotonic() + 15
    while processes_in(project) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes_in(project), processes_in(project)


def resume(project: Path) -> None:
    run(["snakemake", "--unlock", *SMOKE], project)
    run(["snakemake", "--rerun-incomplete", *SMOKE], project)


def stable(value):
    """A metrics record without what differs between any two runs (times, run ids, absolute paths)."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def outputs(project: Path) -> dict[str, object]:
    results = project / "results"
    found = {}
    for path in sorted(p for p in results.rglob("*") if p.is_file() and not p.name.startswith(".")):  # locks, markers
        name = str(path.relative_to(results))
        if path.suffix == ".json":
            found[name] = stable(json.loads(path.read_text()))
        elif name.startswith(("tables/", "pretrain/snapshots/", "curves/")):  # model.pt holds its MLflow run id
            found[name] = path.read_bytes()
    return found


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Path:
    """The smoke run, never interrupted."""
    project = project_copy(tmp_path_factory.mktemp("whole"))
    run(["snakemake", *SMOKE], project)
    return project


def test_kill_9_anywhere_then_resume_gives_the_same_bytes(whole, tmp_path):
    killed = project_copy(tmp_path)
    # in pretraining (under torchrun, its worker in a session of its own), then in fine-tuning (two jobs at once)
    kill_when(killed, "results/pretrain/checkpoint.pt")
    assert not (killed / "results" / "pretrain" / "model.pt").exists()
    kill_when(killed, "results/metrics/full/*.json")
    resume(killed)

    ours, theirs = outputs(killed), outputs(whole)
    assert sorted(ours) == sorted(theirs)
    assert [name for name in ours if ours[name] != theirs[name]] == []
    assert any(name.startswith("pretrain/snapshots/step") for name in ours)


def test_a_forced_rerun_of_pretraining_keeps_zero_shot_working(tmp_path):
    project = project_copy(tmp_path)
    run(["snakemake", "results/zero_shot/sst2.json", *SMOKE], project)
    snapshots = {p.name: p.read_bytes() for p in (project / "results/pretrain/snapshots").iterdir()}
    record = stable(json.loads((project / "results/zero_shot/sst2.json").read_text()))
    run(["snakemake", "results/zero_shot/sst2.json", "--forcerun", "pretrain", *SMOKE], project)
    assert {p.name: p.read_bytes() for p in (project / "results/pretrain/snapshots").iterdir()} == snapshots
    assert stable(json.loads((project / "results/zero_shot/sst2.json").read_text())) == record


def test_dvc_killed_in_pretraining_leaves_nothing_running_and_resumes_to_the_same_snapshots(whole, tmp_path):
    project = project_copy(tmp_path)
    params = yaml.safe_load((project / "params.yaml").read_text())
    smoke = apply_profile(params, "smoke")
    smoke["pretrain"] |= LONGER_PRETRAINING
    (project / "params.yaml").write_text(yaml.safe_dump(smoke, sort_keys=False))
    kill_when(project, "results/pretrain/checkpoint.pt", ["dvc", "repro", "pretrain"])
    assert not (project / "results" / "pretrain" / "model.pt").exists()
    run(["dvc", "repro", "pretrain"], project)
    ours, theirs = outputs(project), outputs(whole)
    pretraining = [name for name in theirs if name.startswith("pretrain/")]
    assert any(name.startswith("pretrain/snapshots/step") for name in pretraining)
    assert {name: ours.get(name) for name in pretraining} == {name: theirs[name] for name in pretraining}
