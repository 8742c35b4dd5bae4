"""MLflow tracking that can never cost a stage its outputs.

One experiment (`gpt1`), one run per stage invocation, tagged with stage, git commit and the profile's
name (gpt1.params.profile_label: a label, not a parameter). The
store is `sqlite:///mlflow.db` in the working directory unless MLFLOW_TRACKING_URI says otherwise.
Snakemake runs several stages at once: calls to a SQLite store take a file lock beside the database
(MLflow's first call migrates the schema, which two processes must not do together) and retry while
the database is busy. A call that still fails is logged as a warning and tracking switches off for the
rest of the run. A tracking server that cannot be reached is given up on in seconds, with one warning.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXPERIMENT = "gpt1"
DEFAULT_URI = "sqlite:///mlflow.db"
RETRY_SECONDS = 60.0
SERVER_WAIT_S = 5.0  # what an unreachable tracking server costs a stage, instead of MLflow's minutes of retries
# MLflow's HTTP retries, unless the user set them: a few seconds, not its default of minutes
HTTP_SETTINGS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_URI)


def store_lock(uri: str):
    """An inter-process lock for a SQLite store (a no-op for a tracking server, which serialises itself)."""
    if not uri.startswith("sqlite:///"):
        return nullcontext()
    from filelock import FileLock

    db = Path(uri.removeprefix("sqlite:///"))
    return FileLock(db.with_name(db.name + ".lock"), timeout=RETRY_SECONDS) if db.parent.is_dir() else nullcontext()


def unreachable(uri: str) -> str | None:
    """Why a tracking server cannot be reached within SERVER_WAIT_S, or None (also for a local store)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=SERVER_WAIT_S).close()
    except OSError as error:
        return str(error) or type(error).__name__
    return None


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except OSError:
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


class StageRun:
    """An MLflow run for one stage invocation; every method is a no-op once tracking has failed."""

    def __init__(self, stage: str, params: dict[str, Any], tags: dict[str, str] | None = None):
        self.stage = stage
        self.enabled = os.environ.get("GPT1_TRACKING", "1") != "0"
        self.run_id: str | None = None
        self._client = None
        if self.enabled and (why := unreachable(tracking_uri())):
            log.warning(
                "MLflow: the tracking server %s is unreachable (%s); tracking is off for this %s run",
                tracking_uri(),
                why,
                stage,
            )
            self.enabled = False
        if self.enabled:
            from gpt1.params import profile_label

            all_tags = {"stage": stage, "profile": profile_label(), "git_commit": git_commit(), **(tags or {})}
            self._call("start the run", self._start, params, all_tags)

    def _start(self, params: dict[str, Any], tags: dict[str, str]) -> None:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        for name, value in HTTP_SETTINGS.items():
            os.environ.setdefault(name, value)
        from mlflow import MlflowClient

        self._client = MlflowClient(tracking_uri())
        experiment = self._client.get_experiment_by_name(EXPERIMENT)
        experiment_id = experiment.experiment_id if experiment else self._client.create_experiment(EXPERIMENT)
        run = self._client.create_run(experiment_id, run_name=f"{self.stage}-{tags['profile']}", tags=tags)
        self.run_id = run.info.run_id
        from mlflow.entities import Param

        self._client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in params.items()])

    def _call(self, what: str, fn: Callable, *args: Any) -> None:
        if not self.enabled:
            return
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            try:
                with store_lock(tracking_uri()):
                    fn(*args)
                return
            except Exception as error:  # noqa: BLE001 - tracking must never stop a stage
                locked = "locked" in str(error).lower() or "already exists" in str(error).lower()
                if locked and time.monotonic() < deadline:
                    time.sleep(random.uniform(0.2, 1.0))
                    continue
                log.warning("MLflow: could not %s (%s); tracking is off for this %s run", what, error, self.stage)
                self.enabled = False
                return

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        def send() -> None:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            batch = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
            self._client.log_batch(self.run_id, metrics=batch)

        self._call("log metrics", send)

    def set_tag(self, key: str, value: str) -> None:
        self._call("set a tag", lambda: self._client.set_tag(self.run_id, key, value))

    def log_artifact(self, path: Path) -> None:
        self._call("log an artifact", lambda: self._client.log_artifact(self.run_id, str(path)))

    def finish(self, status: str = "FINISHED") -> None:
        self._call("end the run", lambda: self._client.set_terminated(self.run_id, status))


@contextmanager
def stage_run(stage: str, params: dict[str, Any], tags: dict[str, str] | None = None) -> Iterator[StageRun]:
    """A StageRun that ends FINISHED, FAILED or KILLED with the stage."""
    run = StageRun(stage, params, tags)
    try:
        yield run
    except KeyboardInterrupt:
        run.finish("KILLED")
        raise
    except BaseException:
        run.finish("FAILED")
        raise
    run.finish()
