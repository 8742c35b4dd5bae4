"""The smoke profile through real Snakemake, real DVC and real MLflow, in a copy of the project."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow
BIN = os.path.dirname(sys.executable)
STAGES = ["download_corpus", "train_bpe", "encode_corpus", "pretrain", "download_task", "finetune", "tables"]
SMOKE_TASKS = ["sst2", "rte", "stsb", "story_cloze"]  # one task of each input transformation
OUTPUTS = ["results/corpus/train.txt", "results/bpe/bpe.model", "results/tokens/train.bin",
           "results/pretrain/model.pt", "results/pretrain/metrics.json", "results/pretrain/curves.csv",
           *[f"results/tables/table{n}.{ext}" for n in (2, 3, 4) for ext in ("md", "csv", "tex")]]


def run(args: list[str], cwd, **kwargs) -> subprocess.CompletedProcess:
    env = os.environ | {"PATH": f"{BIN}:{os.environ['PATH']}", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
                        # the tasks' offline mirror: hand-written fixtures in the official layout
                        "GPT1_DATA_MIRROR": str(ROOT / "tests" / "fixtures" / "smoke_tasks")}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def project_copy(tmp_path):
    """The project's files (tracked and new, not ignored) in a fresh git repository."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT).stdout.split("\0")
    copy = tmp_path / "project"
    for name in listed:
        if name and (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    run(["git", "init", "-q"], copy)
    run(["git", "add", "-A"], copy)
    run(["git", "commit", "-qm", "copy"], copy)
    return copy


def tracked_runs():
    from mlflow import MlflowClient

    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("gpt1")
    return client, client.search_runs([experiment.experiment_id])


def check_outputs_and_tracking(project):
    for name in OUTPUTS:
        assert (project / name).stat().st_size > 0, name
    for task in SMOKE_TASKS:
        record = json.loads((project / "results" / "metrics" / f"{task}.json").read_text())
        assert record["status"] == "done" and record["metrics"], task
    assert "SST-2" in (project / "results" / "tables" / "table4.md").read_text()
    client, runs = tracked_runs()
    by_stage = {r.data.tags["stage"]: r for r in runs}
    assert set(by_stage) == set(STAGES)
    finetunes = [r for r in runs if r.data.tags["stage"] == "finetune"]
    assert sorted(r.data.tags["task"] for r in finetunes) == sorted(SMOKE_TASKS)
    assert all(r.data.tags["pretrain_run_id"] == by_stage["pretrain"].info.run_id for r in finetunes)
    assert all(r.info.status == "FINISHED" and r.data.tags["profile"] == "smoke" for r in runs)
    pretrain = by_stage["pretrain"]
    assert pretrain.data.params["n_layer"] == "2"
    assert [m.step for m in client.get_metric_history(pretrain.info.run_id, "val_ppl")] == [10, 20, 30]
    assert len(client.get_metric_history(pretrain.info.run_id, "train_loss")) == 6
    assert pretrain.data.metrics["final_val_ppl"] > 1
    assert by_stage["train_bpe"].data.tags["bpe_model"].endswith("results/bpe/bpe.model")
    return runs


def test_snakemake_runs_the_chain_then_has_nothing_to_do(tmp_path):
    project = project_copy(tmp_path)
    run(["snakemake", "--cores", "2", "--config", "profile=smoke"], project)
    check_outputs_and_tracking(project)
    again = run(["snakemake", "--cores", "2", "--config", "profile=smoke"], project)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_dvc_runs_the_chain_then_is_up_to_date_and_pushes(tmp_path):
    project = project_copy(tmp_path)
    smoke = run(["gpt1", "profile", "smoke"], project).stdout.split()
    run(["dvc", "exp", "run", "--name", "smoke", *smoke], project)  # the README's profile selection
    check_outputs_and_tracking(project)
    again = run(["dvc", "repro"], project)
    assert "up to date" in again.stdout + again.stderr
    experiments = run(["dvc", "exp", "show", "--json"], project).stdout
    assert '"smoke"' in experiments and "val_ppl" in experiments
    assert "val_ppl" in run(["dvc", "metrics", "show"], project).stdout
    run(["dvc", "remote", "add", "-d", "--local", "storage", str(tmp_path / "storage")], project)
    run(["dvc", "push"], project)
    assert any((tmp_path / "storage").rglob("*"))
