import http.server
import json
import os
import threading
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"

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
