import multiprocessing as mp
import os
from pathlib import Path

import pytest

from gpt1 import tracking


def log_a_stage(uri: str, worker: int) -> None:
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ["GPT1_PROFILE"] = "smoke"  # as the Snakefile exports it
    with tracking.stage_run("pretrain", {"worker": worker, "lr": 0.001}) as run:
        for step in range(1, 21):
            run.log_metrics({"train_loss": 1.0 / step, "worker": worker}, step)
        assert run.enabled, "tracking gave up under concurrent writers"


def test_concurrent_stages_all_reach_the_store(tmp_path):
    """Snakemake runs stages side by side: every run and every metric must land in SQLite."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ctx = mp.get_context("spawn")
    workers = [ctx.Process(target=log_a_stage, args=(uri, i)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=240)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]

    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(tracking.EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 4
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.tags["stage"] == "pretrain" and run.data.tags["profile"] == "smoke"
        assert "git_commit" in run.data.tags
        assert run.data.params["lr"] == "0.001"
        history = client.get_metric_history(run.info.run_id, "train_loss")
        assert sorted(m.step for m in history) == list(range(1, 21))


def test_a_broken_store_never_stops_the_stage(tmp_path, monkeypatch, caplog):
    (tmp_path / "not-a-directory").write_text("")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'not-a-directory' / 'mlflow.db'}")
    monkeypatch.setattr(tracking, "RETRY_SECONDS", 0.0)
    with tracking.stage_run("train_bpe", {"vocab_size": 400}) as run:
        run.log_metrics({"x": 1.0}, 1)
        run.set_tag("a", "b")
        (tmp_path / "output").write_text("done")
    assert not run.enabled
    assert (tmp_path / "output").read_text() == "done"
    assert "tracking is off" in caplog.text


def test_an_unreachable_tracking_server_costs_seconds_and_one_warning(monkeypatch, caplog):
    """MLflow's own retries would take minutes per call; the stage gives up at once, warning once."""
    import socket

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    with tracking.stage_run("finetune", {"lr": 0.001}) as run:
        run.log_metrics({"train_loss": 1.0}, 1)
        run.log_artifact(Path(__file__))
    assert not run.enabled and run._client is None  # no MLflow call, so none of its minutes of retries
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and f"http://127.0.0.1:{port} is unreachable" in warnings[0].getMessage()


def test_a_failing_stage_is_marked_failed(tmp_path):
    from mlflow import MlflowClient

    with pytest.raises(ZeroDivisionError), tracking.stage_run("pretrain", {}) as run:
        raise ZeroDivisionError
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    assert client.get_run(run.run_id).info.status == "FAILED"


def test_the_profile_tag_is_the_exported_label_or_dvcs_params_yaml(tmp_path, monkeypatch):
    """Renaming a profile must rerun nothing, so its name reaches no command: the Snakefile exports it as
    GPT1_PROFILE; under DVC (DVC_ROOT set) it is the project's params.yaml `profile` key."""
    from gpt1.params import profile_label

    monkeypatch.setenv("GPT1_PROFILE", "mine")
    assert profile_label() == "mine"
    monkeypatch.delenv("GPT1_PROFILE")
    (tmp_path / "params.yaml").write_text("profile: paper\n")
    (tmp_path / "profiles.yaml").write_text("paper: {}\n")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert profile_label() == "paper"
