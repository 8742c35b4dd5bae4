import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import BIN
from gpt1 import tracking


def log_a_stage(uri: str, worker: int, artifact_dir: Path | None = None) -> None:
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ["GPT1_PROFILE"] = "smoke"  # as the Snakefile exports it
    with tracking.stage_run("pretrain", {"worker": worker, "lr": 0.001}, name=f"pretrain/worker{worker}") as run:
        for step in range(1, 21):
            run.log_metrics({"train_loss": 1.0 / step, "worker": worker}, step)
        if artifact_dir:
            record = artifact_dir / f"worker{worker}.json"
            record.write_text(f'{{"worker": {worker}}}')
            run.log_artifact(record)
        assert run.enabled, "tracking gave up under concurrent writers"


def run_workers(uri: str, n: int, artifact_dir: Path | None = None) -> None:
    ctx = mp.get_context("spawn")
    workers = [ctx.Process(target=log_a_stage, args=(uri, i, artifact_dir)) for i in range(n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=240)
    assert [w.exitcode for w in workers] == [0] * n


def gpt1_runs(uri: str):
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(tracking.EXPERIMENT)
    return client, client.search_runs([experiment.experiment_id])


def check_workers_runs(client, runs, n: int) -> None:
    assert sorted(r.info.run_name for r in runs) == [f"pretrain/worker{i}" for i in range(n)]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.tags["stage"] == "pretrain" and run.data.tags["profile"] == "smoke"
        assert run.data.tags[tracking.GIT_COMMIT_TAG] == tracking.git_commit()
        assert run.data.params["lr"] == "0.001"
        history = client.get_metric_history(run.info.run_id, "train_loss")
        assert sorted(m.step for m in history) == list(range(1, 21))


def test_concurrent_stages_all_reach_the_store(tmp_path):
    """Snakemake runs stages side by side: every run and every metric must land in SQLite."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_workers(uri, 4)
    check_workers_runs(*gpt1_runs(uri), 4)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def pipeline_env(monkeypatch):
    """GPT1_PIPELINE_RUN and GPT1_PARENT_RUN_ID as they were before the test, whatever it exports."""
    for name in (tracking.PIPELINE_ENV, tracking.PARENT_ENV):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def test_an_mlflow_server_takes_concurrent_writers_grouped_under_one_parent(tmp_path, monkeypatch, pipeline_env):
    """The README's setup for many writers: a real `mlflow server` (SQLite behind it, artifacts proxied to a
    folder); four stages log metrics and an artifact at once, as children of the run Snakemake's onstart
    opens."""
    port = free_port()
    server = subprocess.Popen(
        [
            f"{BIN}/mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=tmp_path,
        env=os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "server.log", "w"),  # noqa: SIM115 - the server's, closed with it
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "mlflow server did not answer in 90 s"
                time.sleep(0.5)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        tracking.open_pipeline_run("snakemake")
        group, parent_id = os.environ[tracking.PIPELINE_ENV], os.environ[tracking.PARENT_ENV]
        assert group.startswith("snakemake-") and parent_id
        (tmp_path / "records").mkdir()
        run_workers(uri, 4, tmp_path / "records")  # they inherit the exported group, as Snakemake's jobs do
        tracking.close_pipeline_run("FINISHED")

        client, runs = gpt1_runs(uri)
        children = [r for r in runs if r.info.run_id != parent_id]
        check_workers_runs(client, children, 4)
        for run in children:
            assert run.data.tags[tracking.PIPELINE_TAG] == group
            assert run.data.tags[tracking.PARENT_RUN_TAG] == parent_id
            (artifact,) = client.list_artifacts(run.info.run_id)
            local = Path(client.download_artifacts(run.info.run_id, artifact.path, str(tmp_path / run.info.run_id)))
            assert local.read_text() == (tmp_path / "records" / artifact.path).read_text()
        parent = client.get_run(parent_id)
        assert (parent.info.run_name, parent.info.status) == (group, "FINISHED")
        assert parent.data.tags[tracking.SOURCE_NAME_TAG] == "snakemake"
        found = client.search_runs([parent.info.experiment_id], f"tags.gpt1.pipeline_run = '{group}'")
        assert len(found) == 5  # the README's filter: the parent and its four stages
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_a_group_set_by_hand_gathers_its_runs_under_a_parent_that_ends_as_the_last_one(monkeypatch, pipeline_env):
    """GPT1_PIPELINE_RUN groups any runs, as DVC's invocations are grouped: the first creates the parent,
    each reopens it and closes it with its own status."""
    monkeypatch.setenv(tracking.PIPELINE_ENV, "my-sweep")
    with tracking.stage_run("tables", {}) as first:
        pass
    with pytest.raises(ZeroDivisionError), tracking.stage_run("table5", {}) as second:
        raise ZeroDivisionError
    client, runs = gpt1_runs(tracking.tracking_uri())
    (parent,) = [r for r in runs if r.info.run_name == "my-sweep"]
    assert first.parent_id == second.parent_id == parent.info.run_id
    assert parent.info.status == "FAILED"  # as the last stage ended
    assert {r.info.run_name: r.data.tags[tracking.PIPELINE_TAG] for r in runs} == {
        "tables": "my-sweep",
        "table5": "my-sweep",
        "my-sweep": "my-sweep",
    }
    with tracking.stage_run("figure2", {}):
        pass
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"


DVC_STAGE_SCRIPT = """\
import sys
from pathlib import Path

from gpt1 import tracking

with tracking.stage_run(sys.argv[1], {}) as run:
    pass
Path(sys.argv[2]).write_text(str(run.run_id))
"""


def test_a_dvc_invocations_stages_share_one_parent_run(tmp_path, pipeline_env):
    """Real `dvc repro` and `dvc exp run`: no hooks, so the group comes from the DVC process itself; each
    invocation is a group of its own."""
    env = os.environ | {"PATH": f"{BIN}:{os.environ['PATH']}", "PYTHONPATH": str(Path(__file__).parent.parent)}
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}

    def run(*args: str) -> None:
        done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr

    (tmp_path / "stage.py").write_text(DVC_STAGE_SCRIPT)
    (tmp_path / "params.yaml").write_text("x: 1\n")
    python = sys.executable
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n"
        f"  a:\n    cmd: {python} stage.py tables a.txt\n    params: [x]\n    outs: [a.txt]\n"
        f"  b:\n    cmd: {python} stage.py table5 b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n"
    )
    (tmp_path / ".gitignore").write_text("mlflow.db*\nmlruns/\n")
    run("git", "init", "-q")
    run("dvc", "init", "-q")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "stages")
    run("dvc", "repro")
    run("dvc", "exp", "run", "--name", "try2", "-S", "x=2")

    client, runs = gpt1_runs(tracking.tracking_uri())
    groups: dict[str, list] = {}
    for r in runs:
        groups.setdefault(r.data.tags[tracking.PIPELINE_TAG], []).append(r)
    assert len(groups) == 2
    for group, members in groups.items():
        assert group.startswith("dvc-repro-" if "exp" not in group else "dvc-exp-try2-")
        (parent,) = [r for r in members if r.info.run_name == group]
        assert sorted(r.info.run_name for r in members) == sorted([group, "tables", "table5"])
        assert all(r.data.tags[tracking.PARENT_RUN_TAG] == parent.info.run_id for r in members if r != parent)
        assert parent.info.status == "FINISHED"
        assert parent.data.tags[tracking.SOURCE_NAME_TAG] == ("dvc exp run" if "exp" in group else "dvc repro")


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
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")  # a port nothing listens on
    with tracking.stage_run("finetune", {"lr": 0.001}) as run:
        run.log_metrics({"train_loss": 1.0}, 1)
        run.log_artifact(Path(__file__))
    assert not run.enabled and run._client is None  # no MLflow call, so none of its minutes of retries
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "is unreachable" in warnings[0].getMessage()


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
