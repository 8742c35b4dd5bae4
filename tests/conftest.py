import ast
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from gpt1.config import GPTConfig, PretrainConfig

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"
BIN = os.path.dirname(sys.executable)  # the environment's gpt1, snakemake, dvc and torchrun

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(autouse=True)
def _tracking_store(tmp_path, monkeypatch):
    """Each test tracks into its own MLflow store, never the project's mlflow.db."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")


def write_token_dir(directory: Path, train: np.ndarray, val: np.ndarray, vocab_size: int) -> Path:
    """A token directory as encode-corpus writes it."""
    directory.mkdir(parents=True, exist_ok=True)
    train.astype(np.uint16).tofile(directory / "train.bin")
    val.astype(np.uint16).tofile(directory / "val.bin")
    meta = {"dtype": "uint16", "vocab_size": vocab_size, "train_tokens": len(train), "val_tokens": len(val)}
    (directory / "meta.json").write_text(json.dumps(meta))
    return directory


# The params.yaml groups each stage takes as flags
STAGE_GROUPS = {
    "download-corpus": ["corpus"],
    "train-bpe": ["bpe"],
    "pretrain": ["model", "pretrain"],
    "finetune": ["finetune"],
    "zero-shot": ["zero_shot"],
}

TINY = GPTConfig(vocab_size=64, n_ctx=16, n_layer=2, n_head=2, n_embd=16, n_inner=32, dropout=0.0)
"""A model for pattern_tokens' vocabulary, trained in seconds."""


def tiny_run(**overrides) -> PretrainConfig:
    """Pretraining settings for TINY on the CPU; `overrides` over them."""
    settings = {
        "batch_size": 8,
        "micro_batch_size": 4,
        "lr": 3e-3,
        "warmup_steps": 3,
        "max_steps": 12,
        "eval_interval": 4,
        "eval_batches": 2,
        "log_interval": 2,
        "seed": 7,
        "device": "cpu",
    }
    return PretrainConfig(**(settings | overrides))


@pytest.fixture
def pattern_tokens(tmp_path) -> Path:
    """A learnable corpus: one random 37-token phrase repeated, vocabulary 64."""
    phrase = np.random.default_rng(0).integers(0, 64, size=37)
    return write_token_dir(tmp_path / "tokens", np.tile(phrase, 300), np.tile(phrase, 40), vocab_size=64)


@contextmanager
def http_server(handler: type[http.server.BaseHTTPRequestHandler]):
    """The base URL of a throwaway HTTP server on 127.0.0.1 (a free port) serving `handler` in a thread."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class FileHandler(http.server.BaseHTTPRequestHandler):
    """Serves `files` (path -> body, or an int: that HTTP error) and counts the requests per path."""

    files: dict[str, bytes | int] = {}
    hits: Counter = Counter()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.hits[self.path] += 1
        body = self.files.get(self.path, 404)
        if isinstance(body, int):
            self.send_error(body)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


@pytest.fixture(scope="session")
def file_server_url():
    with http_server(FileHandler) as url:
        yield url


@pytest.fixture()
def serve(file_server_url):
    """serve(path, body) -> its URL on a local HTTP server; `serve.hits` counts requests, fresh per test."""
    FileHandler.files, FileHandler.hits = {}, Counter()

    def add(path: str, body: bytes | int) -> str:
        FileHandler.files[path] = body
        return file_server_url + path

    add.base, add.hits = file_server_url, FileHandler.hits
    return add


class HubHandler(http.server.BaseHTTPRequestHandler):
    """What huggingface_hub's hf_hub_download asks of the Hugging Face hub: HEAD and GET of
    /{repo}/resolve/{revision}/{name}, answered with the commit (X-Repo-Commit), the ETag and the size, or a
    404 whose X-Error-Code says whether the revision or the file is missing. A .safetensors file is
    redirected to /cdn/{sha256}, its sha256 the X-Linked-Etag, as the hub does with the files it keeps in
    Git LFS. `files`: (repo, revision, name) -> (body, commit, sha256 named); `hits`: (method, path) counts."""

    files: dict[tuple[str, str, str], tuple[bytes, str, str]] = {}
    hits: Counter = Counter()

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self.answer()

    def do_GET(self) -> None:  # noqa: N802
        self.answer()

    def answer(self) -> None:
        self.hits[self.command, self.path] += 1
        if self.path.startswith("/cdn/"):
            bodies = [body for body, _, sha256 in self.files.values() if sha256 == self.path.removeprefix("/cdn/")]
            return self.reply(200, bodies[0]) if bodies else self.reply(404)
        repo, _, rest = self.path.lstrip("/").partition("/resolve/")
        revision, _, name = rest.partition("/")
        if not any(key[:2] == (repo, revision) for key in self.files):
            return self.reply(404, headers={"X-Error-Code": "RevisionNotFound"})
        if (repo, revision, name) not in self.files:
            return self.reply(404, headers={"X-Error-Code": "EntryNotFound"})
        body, commit, sha256 = self.files[repo, revision, name]
        if name.endswith(".safetensors"):
            location = f"http://{self.headers['Host']}/cdn/{sha256}"
            headers = {"Location": location, "X-Linked-Etag": f'"{sha256}"', "X-Linked-Size": str(len(body))}
            return self.reply(302, headers=headers | {"X-Repo-Commit": commit})
        git_blob = hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()
        self.reply(200, body, {"X-Repo-Commit": commit, "ETag": f'"{git_blob}"'})

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def hub(tmp_path):
    """A local Hugging Face hub. hub.add(repo, revision, name, body, commit=revision, sha256=body's) serves a
    file; hub.env points huggingface_hub at it (HF_ENDPOINT) with a cache of the test's own (HF_HOME), for a
    fresh interpreter (huggingface_hub reads them when imported); hub.hits counts the requests."""
    HubHandler.files, HubHandler.hits = {}, Counter()

    def add(repo: str, revision: str, name: str, body: bytes, commit: str | None = None, sha256: str | None = None):
        HubHandler.files[repo, revision, name] = (body, commit or revision, sha256 or hashlib.sha256(body).hexdigest())

    with http_server(HubHandler) as url:
        add.base, add.hits = url, HubHandler.hits
        add.env = {"HF_ENDPOINT": url, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
        yield add


def project_env(cwd) -> dict[str, str]:
    """The environment of a command of the project (gpt1, snakemake, dvc, git) in `cwd`: the environment's
    tools first on PATH, tracking into `cwd`'s own MLflow store, the smoke tasks' fixtures as the data mirror."""
    return os.environ | {
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        # the tasks' offline mirror: hand-written fixtures in the official layout
        "GPT1_DATA_MIRROR": str(FIXTURES / "smoke_tasks"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{Path(cwd) / 'mlflow.db'}",
    }


def run(args: list[str], cwd, **kwargs) -> subprocess.CompletedProcess:
    """A command of the project in `cwd` (project_env); fails the test, with its output, if it fails."""
    done = subprocess.run(args, cwd=cwd, env=project_env(cwd), capture_output=True, text=True, timeout=1200, **kwargs)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def heavy_imports(argv: list[str], cwd) -> list[str]:
    """Run `gpt1 <argv>` in a fresh interpreter in `cwd`; which of torch and MLflow it imported (fails the
    test if the command fails)."""
    imported = "print(sorted({'torch', 'mlflow'} & set(sys.modules)))"
    code = f"import sys; from gpt1.cli import main; main({argv!r}); {imported}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert done.returncode == 0, done.stderr
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


def project_copy(directory: Path) -> Path:
    """The project's files (tracked and new, not ignored) in a fresh git repository."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT).stdout.split("\0")
    copy = directory / "project"
    for name in listed:
        if name and (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    run(["git", "init", "-q"], copy)
    run(["git", "add", "-A"], copy)
    run(["git", "commit", "-qm", "copy"], copy)
    return copy


def snakemake_jobs(*args: str, cwd: Path = ROOT) -> dict[str, dict]:
    """rule -> {cmd, inputs, outputs} from a forced dry run of the whole DAG; a foreach or matrix job is named
    as DVC names its stage, `rule@values` (the wildcards' values in the order the path names them)."""
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-p", "--forceall", *args], capture_output=True, text=True, cwd=cwd
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return dry_run_jobs(done.stdout + done.stderr)


def dry_run_jobs(output: str) -> dict[str, dict]:
    """The jobs a Snakemake dry run (-n -p) lists: name -> {cmd, inputs, outputs}."""
    jobs = {}
    for block in re.split(r"\n(?=rule \w+:)", output)[1:]:
        name = re.match(r"rule (\w+):", block).group(1)
        if wildcards := re.search(r"^\s+wildcards: (.*)$", block, re.M):
            name += "@" + "-".join(pair.split("=", 1)[1] for pair in wildcards.group(1).split(", "))
        cmd = re.search(r"^Shell command: (.*)$", block, re.M)
        if name != "all":
            jobs[name] = {
                "cmd": cmd.group(1),
                "inputs": job_field(block, "input"),
                "outputs": job_field(block, "output"),
            }
    return jobs


def job_field(block: str, key: str) -> set[str]:
    return set(re.search(rf"^\s+{key}: (.*)$", block, re.M).group(1).split(", "))


FAKE_GPUS = "3,5"


@pytest.fixture(scope="session")
def snakemake_project(tmp_path_factory):
    """The smoke profile run by Snakemake on this machine, in a copy of the project: shared by the workflow tests
    (the SLURM test compares its tables with these)."""
    project = project_copy(tmp_path_factory.mktemp("snakemake"))
    # As on a machine with two GPUs, 3 and 5, whose claims are this run's alone (fake: with no GPU there, torch
    # runs every job on the CPU)
    gpus = ["env", f"CUDA_VISIBLE_DEVICES={FAKE_GPUS}", f"GPT1_GPU_SLOTS_DIR={tmp_path_factory.mktemp('slots')}"]
    run([*gpus, "snakemake", "--cores", "2", "--config", "profile=smoke"], project)
    return project
