import contextlib
import http.server
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import BIN
from gpt1 import git_commit, tracking


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
    """`n` stage processes started at once, each logging to `uri`; their time is printed (pytest -s)."""
    ctx = mp.get_context("spawn")
    workers = [ctx.Process(target=log_a_stage, args=(uri, i, artifact_dir)) for i in range(n)]
    start = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    print(f"{n} stages logging to {uri.split(':')[0]}: {time.monotonic() - start:.1f} s")
    assert [w.exitcode for w in workers] == [0] * n


def gpt1_runs(uri: str):
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(tracking.EXPERIMENT)
    return client, client.search_runs([experiment.experiment_id])


def check_workers_runs(client, runs, n: int) -> None:
    assert sorted(r.info.run_name for r in runs) == sorted(f"pretrain/worker{i}" for i in range(n))
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.tags["stage"] == "pretrain" and run.data.tags["profile"] == "smoke"
        assert run.data.tags[tracking.GIT_COMMIT_TAG] == git_commit()
        assert run.data.params["lr"] == "0.001"
        history = client.get_metric_history(run.info.run_id, "train_loss")
        assert sorted(m.step for m in history) == list(range(1, 21))


def check_artifact(client, run, tmp_path: Path) -> None:
    (artifact,) = client.list_artifacts(run.info.run_id)
    local = Path(client.download_artifacts(run.info.run_id, artifact.path, str(tmp_path / run.info.run_id)))
    assert local.read_text() == (tmp_path / "records" / artifact.path).read_text()


def test_sixteen_stages_at_once_all_reach_one_sqlite_store(tmp_path):
    """A workstation's or a cluster's Snakemake runs dozens of stages side by side on one mlflow.db: every run,
    param, metric and artifact must land, and no stage may give up on tracking. (A new store: the first calls
    also create its tables, under the lock.)"""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "records").mkdir()
    run_workers(uri, 16, tmp_path / "records")
    client, runs = gpt1_runs(uri)
    check_workers_runs(client, runs, 16)
    for run in runs:
        check_artifact(client, run, tmp_path)


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


@pytest.fixture
def mlflow_server(tmp_path):
    """docs/mlflow.md's setup for many writers: a real `mlflow server` on 127.0.0.1 (SQLite behind it, artifacts
    proxied to a folder); its URI once it answers."""
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
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_an_mlflow_server_takes_sixteen_writers_at_once_grouped_under_one_parent(
    tmp_path, monkeypatch, pipeline_env, mlflow_server
):
    """Sixteen stages log params, metrics and an artifact at once, as children of the run Snakemake's onstart
    opens: every run complete, nothing lost."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    tracking.open_pipeline_run("snakemake")
    group, parent_id = os.environ[tracking.PIPELINE_ENV], os.environ[tracking.PARENT_ENV]
    assert group.startswith("snakemake-") and parent_id
    (tmp_path / "records").mkdir()
    run_workers(mlflow_server, 16, tmp_path / "records")  # they inherit the exported group, as Snakemake's jobs do
    tracking.close_pipeline_run("FINISHED")

    client, runs = gpt1_runs(mlflow_server)
    children = [r for r in runs if r.info.run_id != parent_id]
    check_workers_runs(client, children, 16)
    for run in children:
        assert run.data.tags[tracking.PIPELINE_TAG] == group
        assert run.data.tags[tracking.PARENT_RUN_TAG] == parent_id
        check_artifact(client, run, tmp_path)
    parent = client.get_run(parent_id)
    assert (parent.info.run_name, parent.info.status) == (group, "FINISHED")
    assert parent.data.tags[tracking.SOURCE_NAME_TAG] == "snakemake"
    found = client.search_runs([parent.info.experiment_id], f"tags.gpt1.pipeline_run = '{group}'")
    assert len(found) == 17  # docs/mlflow.md's filter: the parent and its sixteen stages


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
    Path(sys.argv[2]).write_text(str(run.run_id))
    run.log_artifact(Path(sys.argv[2]))
"""


def dvc_project(tmp_path: Path, store: str | None) -> Callable[..., None]:
    """A git and DVC project in tmp_path with two stages, a (param x) and b after it, each a gpt1 stage run
    that logs its output as an artifact; a function that runs a command there, tracking into `store`
    (None: the project's default store)."""
    env = os.environ | {"PATH": f"{BIN}:{os.environ['PATH']}", "PYTHONPATH": str(Path(__file__).parent.parent)}
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("MLFLOW_TRACKING_URI")
    env |= {"MLFLOW_TRACKING_URI": store} if store else {}

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

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
    return run


def dvc_groups(uri: str) -> dict[str, list]:
    """The runs of each DVC invocation, by its group's name, each checked: a parent of that name, FINISHED,
    and the stages' runs (tables, table5) its children."""
    _, runs = gpt1_runs(uri)
    groups: dict[str, list] = {}
    for r in runs:
        groups.setdefault(r.data.tags[tracking.PIPELINE_TAG], []).append(r)
    for group, members in groups.items():
        (parent,) = [r for r in members if r.info.run_name == group]
        assert sorted(r.info.run_name for r in members) == sorted([group, "tables", "table5"])
        assert all(r.data.tags[tracking.PARENT_RUN_TAG] == parent.info.run_id for r in members if r != parent)
        assert parent.info.status == "FINISHED"
        assert parent.data.tags[tracking.SOURCE_NAME_TAG] == ("dvc exp run" if "exp" in group else "dvc repro")
    return groups


def test_a_dvc_invocations_stages_share_one_parent_run(tmp_path, pipeline_env):
    """Real `dvc repro` and `dvc exp run`: no hooks, so the group comes from the DVC process itself; each
    invocation is a group of its own."""
    run = dvc_project(tmp_path, tracking.tracking_uri())
    run("dvc", "repro")
    run("dvc", "exp", "run", "--name", "try2", "-S", "x=2")
    groups = dvc_groups(tracking.tracking_uri())
    assert len(groups) == 2
    for group in groups:
        assert group.startswith("dvc-exp-try2-" if "exp" in group else "dvc-repro-")


def test_queued_and_temporary_dvc_experiments_keep_their_runs_in_the_project(tmp_path, pipeline_env):
    """`dvc exp run --queue` then `dvc queue start -j 2`, and `dvc exp run --temp`, run the stages in copies
    under .dvc/tmp/exps/ that DVC deletes: their runs and artifacts must still be in the project's own store,
    each experiment under a parent of its own, tagged with its name and the commit it was made from."""
    run = dvc_project(tmp_path, store=None)
    baseline = run("git", "rev-parse", "HEAD").strip()
    for x in (2, 3):
        run("dvc", "exp", "run", "--queue", "--name", f"queued{x}", "-S", f"x={x}")
    run("dvc", "queue", "start", "-j", "2")
    run("dvc", "exp", "run", "--temp", "--name", "temp4", "-S", "x=4")
    deadline = time.monotonic() + 240
    while any(state in run("dvc", "queue", "status") for state in ("Queued", "Running")):
        assert time.monotonic() < deadline, run("dvc", "queue", "status")
        time.sleep(2)
    assert "Failed" not in run("dvc", "queue", "status")

    store = tmp_path / "mlflow.db"
    groups = dvc_groups(f"sqlite:///{store}")
    assert sorted(group.split("-")[2] for group in groups) == ["queued2", "queued3", "temp4"]
    client, _ = gpt1_runs(f"sqlite:///{store}")
    for group, members in groups.items():
        for member in members:
            assert member.data.tags[tracking.DVC_EXPERIMENT_TAG] == group.split("-")[2]
            assert member.data.tags[tracking.DVC_BASELINE_TAG] == baseline
            if member.info.run_name != group:  # a stage's run: its output, as an artifact in the project
                assert member.info.artifact_uri.startswith(str(tmp_path / "mlruns"))
                (artifact,) = client.list_artifacts(member.info.run_id)
                assert Path(client.download_artifacts(member.info.run_id, artifact.path)).read_text() == (
                    member.info.run_id
                )
    assert not list((tmp_path / ".dvc" / "tmp").rglob("mlflow.db"))


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


def a_stage_against(uri: str, monkeypatch) -> tuple[tracking.StageRun, float]:
    """A stage's tracking calls against `uri`: the run, and the seconds they cost."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    start = time.monotonic()
    with tracking.stage_run("finetune", {"lr": 0.001}) as run:
        run.log_metrics({"train_loss": 1.0}, 1)
        run.log_artifact(Path(__file__))
    return run, time.monotonic() - start


def one_warning(caplog, says: str) -> None:
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "tracking is off" in warnings[0] and says in warnings[0], warnings


def test_an_unreachable_tracking_server_costs_seconds_and_one_warning(monkeypatch, caplog):
    """MLflow's own retries would take minutes per call; the stage gives up at once, warning once."""
    run, seconds = a_stage_against(f"http://127.0.0.1:{free_port()}", monkeypatch)  # a port nothing listens on
    assert not run.enabled and run._client is None  # no MLflow call, so none of its retries
    assert seconds < 2
    one_warning(caplog, "Connection refused")


def test_a_server_that_accepts_and_never_answers_costs_at_most_the_health_wait(monkeypatch, caplog):
    """A hung server (the connection is accepted, nothing comes back): MLflow would wait 30 s three times a
    call; the health request gives up after SERVER_WAIT_S."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)  # the kernel completes the handshakes; nobody ever reads
        run, seconds = a_stage_against(f"http://127.0.0.1:{hung.getsockname()[1]}", monkeypatch)
    assert not run.enabled and run._client is None
    assert tracking.SERVER_WAIT_S <= seconds < tracking.SERVER_WAIT_S + 2
    one_warning(caplog, f"no answer in {tracking.SERVER_WAIT_S:.0f} s")


class Failing(http.server.BaseHTTPRequestHandler):
    """A tracking server whose store is broken: `healthy` answers /health, everything else is HTTP 500."""

    healthy = False

    def answer(self) -> None:
        self.send_response(200 if self.healthy and self.path == "/health" else 500)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    do_GET = do_POST = answer

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def failing_server(healthy: bool) -> Iterator[str]:
    handler = type("Handler", (Failing,), {"healthy": healthy})
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()


def test_a_server_that_answers_500_costs_no_wait(monkeypatch, caplog):
    with failing_server(healthy=False) as uri:
        run, seconds = a_stage_against(uri, monkeypatch)
    assert not run.enabled and run._client is None
    assert seconds < 2
    one_warning(caplog, "answered HTTP 500")


def test_a_server_healthy_but_failing_its_calls_costs_one_retry(monkeypatch, caplog):
    """/health answers but the store behind it fails: MLflow's first call is retried once (HTTP_SETTINGS),
    then tracking is off for the stage, not retried by every later call."""
    with failing_server(healthy=True) as uri:
        run, seconds = a_stage_against(uri, monkeypatch)
    assert not run.enabled
    assert seconds < 10
    one_warning(caplog, "could not start the run")


def test_a_sqlite_store_where_no_lock_can_be_made_costs_no_wait(monkeypatch, caplog):
    """/proc takes no new files: waiting for the store's lock would cost the stage RETRY_SECONDS."""
    run, seconds = a_stage_against("sqlite:////proc/mlflow.db", monkeypatch)
    assert not run.enabled and run._client is None
    assert seconds < 2
    one_warning(caplog, "cannot create /proc/mlflow.db.lock")


def test_a_failing_stage_is_marked_failed(tmp_path):
    from mlflow import MlflowClient

    with pytest.raises(ZeroDivisionError), tracking.stage_run("pretrain", {}) as run:
        raise ZeroDivisionError
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    assert client.get_run(run.run_id).info.status == "FAILED"


def test_the_profile_tag_is_the_exported_label_or_dvcs_params_yaml(tmp_path, monkeypatch):
    """Renaming a profile must rerun nothing, so its name reaches no command: the Snakefile exports it as
    GPT1_PROFILE; under DVC it is the `profile` key of the params.yaml in the stage's working directory."""
    from gpt1.params import profile_label

    monkeypatch.setenv("GPT1_PROFILE", "mine")
    assert profile_label() == "mine"
    monkeypatch.delenv("GPT1_PROFILE")
    (tmp_path / "params.yaml").write_text("profile: paper\n")
    (tmp_path / "profiles.yaml").write_text("paper: {}\n")
    monkeypatch.chdir(tmp_path)
    assert profile_label() == "paper"
