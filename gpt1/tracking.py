"""MLflow tracking that can never cost a stage its outputs.

Runs. One experiment (`gpt1`), one run per stage invocation, named for what ran: `finetune/sst2/full/seed42`,
`download_task/sst2`, `zero_shot/race`, `pretrain`. Params are the stage's hyperparameters and settings; its
paths are tags (`path.out`, gpt1.stages.common), beside `stage`, `profile` (gpt1.params.profile_label: a label,
not a parameter), the stage's own tags and MLflow's source tags (command, commit, user), which fill the UI's
Source, Version and User columns.

Grouping. The runs of one orchestrator invocation share the tag `gpt1.pipeline_run` and are children
(`mlflow.parentRunId`) of one run of that name, so the UI nests them under it:
- Snakemake: onstart (workflow/rules/common.smk) opens the parent run, `snakemake-<start, UTC>-<pid>`, and
  exports it to the jobs (GPT1_PIPELINE_RUN, GPT1_PARENT_RUN_ID); onsuccess or onerror closes it.
- DVC has no hooks. It sets DVC_STAGE for each stage's command, so `dvc repro` (or `dvc exp run`, or for a
  queued experiment the `dvc exp exec-run` a queue worker starts for it) is the nearest ancestor process
  without it; its pid and start time identify the invocation (the parent's tag `gpt1.invocation`). The first
  stage creates the parent run, `dvc-repro-<start, UTC>-<pid>` or `dvc-exp-<DVC_EXP_NAME>-<start>-<pid>`; as DVC
  runs one stage at a time, each stage reopens it and closes it with its own status, so it ends as the
  invocation's last stage did. An experiment's runs, parent and children, are tagged `dvc.experiment` (its
  name) and `dvc.baseline_commit` (the commit it was made from).
- GPT1_PIPELINE_RUN set by hand groups whatever runs with it (as under DVC); a stage run by hand has no group.

Store. `mlflow.db` in the project unless MLFLOW_TRACKING_URI says otherwise (an `mlflow server` for many
concurrent writers: docs/mlflow.md). The project is DVC_ROOT under DVC, else the working directory: a queued or `--temp`
DVC experiment runs its stages in a copy under `.dvc/tmp/exps/` that DVC deletes afterwards, and DVC_ROOT names
the project the copy came from; a relative SQLite path is read from there too, and the runs' artifacts go to the
project's `mlruns/`. Snakemake runs several stages at once: calls to a SQLite store take a file lock beside the
database (MLflow's first call migrates the schema, which two processes must not do together) and retry while
the database is busy. A call that still fails is logged as a warning and tracking switches off for the rest of
the run. A store that cannot be used (a tracking server that does not answer its health request in
SERVER_WAIT_S or answers it with an error, a SQLite folder where no lock can be made) is given up on at the
start, with one warning; a server that stops answering later costs one call's timeout and retry (HTTP_SETTINGS).
"""

from __future__ import annotations

import getpass
import logging
import os
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpt1 import git_commit

log = logging.getLogger(__name__)

EXPERIMENT = "gpt1"
# The experiment's kind, which picks the tab the UI opens it on: runs, not GenAI traces
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
DEFAULT_STORE = "mlflow.db"  # in the project
ARTIFACTS = "mlruns"  # in the project: a SQLite store's new experiment keeps its artifacts in mlruns/gpt1
RETRY_SECONDS = 60.0
SERVER_WAIT_S = 5.0  # the most a tracking server that does not answer its health request costs a stage
# MLflow's HTTP timeout and retries, unless the user set them: a server that stops answering mid-run costs a stage
# about 11 s once (5 s, a second's backoff, 5 s), not MLflow's default of minutes
HTTP_SETTINGS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}
PIPELINE_TAG = "gpt1.pipeline_run"
PIPELINE_ENV = "GPT1_PIPELINE_RUN"
INVOCATION_TAG = "gpt1.invocation"  # the parent's: Invocation.key
DVC_EXPERIMENT_TAG = "dvc.experiment"
DVC_BASELINE_TAG = "dvc.baseline_commit"
PARENT_ENV = "GPT1_PARENT_RUN_ID"  # set (maybe empty) by an orchestrator that opens and closes the parent itself
# MLflow's own tag keys (mlflow.utils.mlflow_tags), here so that naming them needs no MLflow import
PARENT_RUN_TAG = "mlflow.parentRunId"
SOURCE_NAME_TAG = "mlflow.source.name"
SOURCE_TYPE_TAG = "mlflow.source.type"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
USER_TAG = "mlflow.user"


def project_root() -> Path:
    """The project whose store the runs go to: DVC's (DVC_ROOT, also from an experiment's temporary copy), else
    the working directory."""
    return Path(os.environ.get("DVC_ROOT") or ".").resolve()


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, or the project's SQLite store; a relative SQLite path is the project's."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{DEFAULT_STORE}"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = f"sqlite:///{project_root() / uri.removeprefix('sqlite:///')}"
    return uri


def sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def store_lock(uri: str):
    """An inter-process lock for a SQLite store (a no-op for a tracking server, which serialises itself)."""
    if (db := sqlite_path(uri)) is None:
        return nullcontext()
    from filelock import FileLock

    return FileLock(db.with_name(db.name + ".lock"), timeout=RETRY_SECONDS)


def unusable(uri: str) -> str | None:
    """Why the store cannot be used, found in at most SERVER_WAIT_S, or None."""
    if (db := sqlite_path(uri)) is not None:
        return unlockable(db)
    if urllib.parse.urlsplit(uri).scheme in ("http", "https"):
        return unhealthy(uri)
    return None


def unlockable(db: Path) -> str | None:
    """Why no lock can be made beside a SQLite store (a folder that is missing, read-only or not a folder):
    waiting for one would cost a stage RETRY_SECONDS."""
    lock = db.with_name(db.name + ".lock")
    try:
        os.close(os.open(lock, os.O_WRONLY | os.O_CREAT, 0o644))
    except OSError as error:
        return f"cannot create {lock}: {error.strerror or error}"
    return None


def unhealthy(uri: str) -> str | None:
    """Why the tracking server does not answer its health request within SERVER_WAIT_S (an HTTP error from the
    server itself: 500 and above; a proxy's 404 or an authentication page's 401 means someone answers)."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=SERVER_WAIT_S).close()
    except urllib.error.HTTPError as error:
        return f"its health request answered HTTP {error.code}" if error.code >= 500 else None
    except (OSError, ValueError) as error:
        why = getattr(error, "reason", None) or error
        if isinstance(why, TimeoutError) or "timed out" in str(why):
            return f"no answer in {SERVER_WAIT_S:.0f} s"
        return str(why) or type(why).__name__
    return None


def source_tags(command: str) -> dict[str, str]:
    """MLflow's standard tags for a run of `command` (no slashes: the UI shows the text after the last one), and
    the DVC experiment it belongs to."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = "unknown"
    tags = {SOURCE_NAME_TAG: command, SOURCE_TYPE_TAG: "LOCAL", GIT_COMMIT_TAG: git_commit(), USER_TAG: user}
    return tags | dvc_experiment_tags()


def dvc_experiment_tags() -> dict[str, str]:
    """The DVC experiment's name and the commit it was made from (its own commit exists only once it ends)."""
    names = {DVC_EXPERIMENT_TAG: "DVC_EXP_NAME", DVC_BASELINE_TAG: "DVC_EXP_BASELINE_REV"}
    return {tag: os.environ[name] for tag, name in names.items() if os.environ.get(name)}


@dataclass(frozen=True)
class Invocation:
    """One run of an orchestrator (or a group set by hand): its stages' runs share a parent run."""

    key: str
    """The same in each of its stages: what finds the parent run again."""
    name: str
    """The parent run's name, and each run's gpt1.pipeline_run tag (the parent's creator's, if they differ)."""
    start_s: float
    command: str
    """The parent run's source (mlflow.source.name)."""


def invocation_name(orchestrator: str, start_s: float, pid: int) -> str:
    return f"{orchestrator}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(start_s))}-{pid}"


def exact_start(process) -> str:
    """When a psutil process started, the same whenever asked: on Linux, its clock ticks after boot (the
    wall-clock time psutil derives from them moves with the boot time the kernel reports, here by a second)."""
    stat = Path(f"/proc/{process.pid}/stat")
    if stat.exists():
        return stat.read_text().rsplit(")", 1)[1].split()[19]  # field 22, starttime (the name may hold spaces)
    return f"{process.create_time():.3f}"


def dvc_invocation() -> Invocation | None:
    """The `dvc repro` or `dvc exp run` running this stage: the nearest ancestor process without DVC_STAGE in
    its environment (DVC sets it for each stage's command). None when not under DVC, or when its process
    cannot be read."""
    if "DVC_STAGE" not in os.environ:
        return None
    import psutil  # a dependency of DVC's own

    try:
        dvc = next(p for p in psutil.Process().parents() if "DVC_STAGE" not in p.environ())
        key, start_s = f"dvc:{dvc.pid}:{exact_start(dvc)}", dvc.create_time()
    except (StopIteration, psutil.Error, OSError):
        return None
    if experiment := os.environ.get("DVC_EXP_NAME"):
        experiment = re.sub(r"[^\w.-]", "_", experiment)  # a name that needs no quoting in a search filter
        return Invocation(key, invocation_name(f"dvc-exp-{experiment}", start_s, dvc.pid), start_s, "dvc exp run")
    return Invocation(key, invocation_name("dvc-repro", start_s, dvc.pid), start_s, "dvc repro")


def by_hand(group: str) -> Invocation:
    """A group named in GPT1_PIPELINE_RUN by hand."""
    return Invocation(group, group, time.time(), "gpt1")


def import_mlflow() -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    for name, value in HTTP_SETTINGS.items():
        os.environ.setdefault(name, value)
    import mlflow  # noqa: F401


class Tracked:
    """MLflow calls that retry while a SQLite store is busy and, once one fails, are all no-ops."""

    def __init__(self, what: str):
        self.what = what  # for the warnings: "finetune run", "snakemake's parent run"
        self.enabled = os.environ.get("GPT1_TRACKING", "1") != "0"
        self.run_id: str | None = None
        self._client = None
        if self.enabled and (why := unusable(uri := tracking_uri())):
            log.warning("MLflow: the store %s cannot be used (%s); tracking is off for this %s", uri, why, what)
            self.enabled = False

    def _connect(self) -> str:
        """The experiment's id, created if need be (the first call of a run, under _call's lock)."""
        from mlflow import MlflowClient

        uri = tracking_uri()
        self._client = MlflowClient(uri)
        if experiment := self._client.get_experiment_by_name(EXPERIMENT):
            for key, value in EXPERIMENT_TAGS.items():  # a store made before the tag was set (not one changed by hand)
                if key not in experiment.tags:
                    self._client.set_experiment_tag(experiment.experiment_id, key, value)
            return experiment.experiment_id
        # MLflow would put a SQLite store's artifacts in the working directory's mlruns/: a DVC experiment's copy
        artifacts = str(project_root() / ARTIFACTS / EXPERIMENT) if sqlite_path(uri) else None
        return self._client.create_experiment(EXPERIMENT, artifact_location=artifacts, tags=EXPERIMENT_TAGS)

    def _call(self, what: str, fn: Callable, *args: Any) -> None:
        if not self.enabled:
            return
        if self._client is None:
            import_mlflow()  # seconds of imports, before the lock that other stages wait for
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
                log.warning("MLflow: could not %s (%s); tracking is off for this %s", what, error, self.what)
                self.enabled = False
                return

    def _open_parent(self, experiment_id: str, invocation: Invocation) -> tuple[str, str]:
        """The invocation's parent run, created or reopened (RUNNING): its id and name."""
        found = self._client.search_runs([experiment_id], f"tags.{INVOCATION_TAG} = '{invocation.key}'", max_results=1)
        if found:
            self._client.update_run(found[0].info.run_id, status="RUNNING")
            return found[0].info.run_id, found[0].data.tags[PIPELINE_TAG]
        from gpt1.params import profile_label

        tags = {PIPELINE_TAG: invocation.name, INVOCATION_TAG: invocation.key, "profile": profile_label()}
        tags |= source_tags(invocation.command)
        run = self._client.create_run(experiment_id, int(invocation.start_s * 1000), tags, invocation.name)
        return run.info.run_id, invocation.name


class StageRun(Tracked):
    """An MLflow run for one stage invocation, in its orchestrator's group; every method is a no-op once
    tracking has failed."""

    def __init__(self, stage: str, params: dict[str, Any], tags: dict[str, str] | None = None, name: str | None = None):
        super().__init__(f"{stage} run")
        self.stage = stage
        self.parent_id: str | None = None
        self._closes_parent = False  # under DVC (or a hand-set group): this stage reopens and closes its parent
        if self.enabled:
            from gpt1.params import profile_label

            all_tags = {"stage": stage, "profile": profile_label(), **source_tags(f"gpt1 {stage}"), **(tags or {})}
            self._call("start the run", self._start, name or stage, params, all_tags)

    def _start(self, name: str, params: dict[str, Any], tags: dict[str, str]) -> None:
        experiment_id = self._connect()
        group = os.environ.get(PIPELINE_ENV)
        if PARENT_ENV in os.environ:  # Snakemake's, opened by its onstart (empty when that failed)
            self.parent_id = os.environ[PARENT_ENV] or None
        elif invocation := (by_hand(group) if group else dvc_invocation()):
            self.parent_id, group = self._open_parent(experiment_id, invocation)
            self._closes_parent = True
        if group:
            tags[PIPELINE_TAG] = group
        if self.parent_id:
            tags[PARENT_RUN_TAG] = self.parent_id
        self.run_id = self._client.create_run(experiment_id, tags=tags, run_name=name).info.run_id
        from mlflow.entities import Param

        self._client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in params.items()])

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        def send() -> None:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            batch = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
            self._client.log_batch(self.run_id, metrics=batch)

        self._call("log metrics", send)

    def log_params(self, params: dict[str, Any]) -> None:
        """Values known only as the run ends that are no measurement (how many updates it made, say): MLflow
        keeps one value per param, and each column of the UI's table."""

        def send() -> None:
            from mlflow.entities import Param

            self._client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in params.items()])

        self._call("log params", send)

    def set_tag(self, key: str, value: str) -> None:
        self._call("set a tag", lambda: self._client.set_tag(self.run_id, key, value))

    def log_artifact(self, path: Path) -> None:
        self._call("log an artifact", lambda: self._client.log_artifact(self.run_id, str(path)))

    def finish(self, status: str = "FINISHED") -> None:
        def end() -> None:
            self._client.set_terminated(self.run_id, status)
            if self._closes_parent:
                self._client.set_terminated(self.parent_id, status)

        self._call("end the run", end)


@contextmanager
def stage_run(
    stage: str, params: dict[str, Any], tags: dict[str, str] | None = None, name: str | None = None
) -> Iterator[StageRun]:
    """A StageRun named `name` (the stage's name by default) that ends FINISHED, FAILED or KILLED with the
    stage."""
    run = StageRun(stage, params, tags, name)
    try:
        yield run
    except KeyboardInterrupt:
        run.finish("KILLED")
        raise
    except BaseException:
        run.finish("FAILED")
        raise
    run.finish()


class PipelineRun(Tracked):
    """The parent run of an orchestrator's invocation, for one with hooks (Snakemake): opened at its start,
    exported to its jobs' environment, closed at its end."""

    def __init__(self, orchestrator: str):
        super().__init__(f"{orchestrator}'s parent run")
        start_s = time.time()
        self.name = os.environ.get(PIPELINE_ENV) or invocation_name(orchestrator, start_s, os.getpid())
        self._call("open the parent run", self._open, Invocation(self.name, self.name, start_s, orchestrator))
        os.environ[PIPELINE_ENV] = self.name
        os.environ[PARENT_ENV] = self.run_id or ""  # empty: the jobs tag their runs, and create no parent

    def _open(self, invocation: Invocation) -> None:
        self.run_id, self.name = self._open_parent(self._connect(), invocation)

    def finish(self, status: str) -> None:
        if self.run_id:
            self._call("close the parent run", lambda: self._client.set_terminated(self.run_id, status))


_pipeline: list[PipelineRun] = []


def open_pipeline_run(orchestrator: str) -> None:
    """Snakemake's onstart: open this invocation's parent run and export it to the jobs."""
    _pipeline.append(PipelineRun(orchestrator))


def close_pipeline_run(status: str) -> None:
    """Snakemake's onsuccess (FINISHED) or onerror (FAILED)."""
    while _pipeline:
        _pipeline.pop().finish(status)
