"""The released weights from the Hugging Face hub through the real huggingface_hub client, against a local hub
(conftest.HubHandler): the pinned commit, the hub's cache and offline mode, the mirror, and one-line errors
for a missing revision or file, another commit, and content that is not what the hub names it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
from safetensors.numpy import save

from gpt1.download import MIRROR_ENV
from gpt1.released import HF_REPO, HF_REVISION

CONFIG = json.dumps({"n_embd": 2, "n_layer": 1}).encode()
WEIGHTS = save({"transformer.tokens_embed.weight": np.arange(8, dtype=np.float32).reshape(4, 2)})
FILES = {"config.json": CONFIG, "model.safetensors": WEIGHTS}
SNAPSHOT = f"hub/models--{HF_REPO.replace('/', '--')}/snapshots/{HF_REVISION}"
# huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE when imported: each download is a fresh interpreter
DOWNLOAD = "import sys, pathlib; from gpt1 import released; released.download_weights(pathlib.Path(sys.argv[1]))"


def download(dest, env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HF_")} | env
    return subprocess.run(
        [sys.executable, "-c", DOWNLOAD, str(dest)], env=environment, capture_output=True, text=True, timeout=300
    )


def error_of(done: subprocess.CompletedProcess) -> str:
    """The one-line DownloadError a failed download ended with."""
    assert done.returncode != 0, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("gpt1.download.DownloadError: "), done.stderr[-3000:]
    return last.removeprefix("gpt1.download.DownloadError: ")


def serve_release(hub, files=FILES, **kwargs) -> None:
    for name, body in files.items():
        hub(HF_REPO, HF_REVISION, name, body, **kwargs)


def test_downloads_land_verified_at_the_pinned_commit_then_come_from_the_cache_offline(hub, tmp_path):
    serve_release(hub)
    done = download(tmp_path / "online", hub.env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert {name: (tmp_path / "online" / name).read_bytes() for name in FILES} == FILES
    resolve = f"/{HF_REPO}/resolve/{HF_REVISION}"
    sha256 = hashlib.sha256(WEIGHTS).hexdigest()
    expected = {("HEAD", f"{resolve}/config.json"), ("GET", f"{resolve}/config.json")}
    expected |= {("HEAD", f"{resolve}/model.safetensors"), ("GET", f"/cdn/{sha256}")}  # LFS: from the "CDN"
    assert set(hub.hits) == expected
    assert (tmp_path / "hf-home" / SNAPSHOT / "model.safetensors").read_bytes() == WEIGHTS

    requests = hub.hits.total()
    done = download(tmp_path / "offline", hub.env | {"HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert {name: (tmp_path / "offline" / name).read_bytes() for name in FILES} == FILES
    assert hub.hits.total() == requests


def test_offline_without_the_files_in_the_cache_says_where_to_put_them(hub, tmp_path):
    serve_release(hub)
    message = error_of(download(tmp_path / "out", hub.env | {"HF_HUB_OFFLINE": "1"}))
    assert f"config.json of {HF_REPO} at revision {HF_REVISION} is not in the Hugging Face cache" in message
    assert "HF_HUB_OFFLINE" in message and f"${MIRROR_ENV}/{HF_REPO}/config.json" in message
    assert not hub.hits and not list((tmp_path / "out").iterdir())


def test_the_mirror_serves_the_hub_files_offline(hub, tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / HF_REPO).mkdir(parents=True)
    for name, body in FILES.items():
        (mirror / HF_REPO / name).write_bytes(body)
    done = download(tmp_path / "out", hub.env | {"HF_HUB_OFFLINE": "1", MIRROR_ENV: str(mirror)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert {name: (tmp_path / "out" / name).read_bytes() for name in FILES} == FILES
    assert not hub.hits and not (tmp_path / "hf-home").exists()


def test_a_revision_the_hub_lacks_is_named_with_the_fix(hub, tmp_path):
    for name, body in FILES.items():
        hub(HF_REPO, "0" * 40, name, body)
    message = error_of(download(tmp_path / "out", hub.env))
    assert f"the hub has no revision {HF_REVISION} of {HF_REPO} (wanted for config.json)" in message
    assert "HF_ENDPOINT" in message and "HF_REVISION in gpt1/released.py" in message


def test_a_file_missing_at_the_revision_is_named_with_the_fix(hub, tmp_path):
    serve_release(hub, {"config.json": CONFIG})
    message = error_of(download(tmp_path / "out", hub.env))
    assert f"model.safetensors of {HF_REPO} at revision {HF_REVISION} does not exist on the hub" in message
    assert "--format original" in message
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_a_hub_that_answers_with_another_commit_is_refused(hub, tmp_path):
    serve_release(hub, commit="1" * 40)  # a mirror that serves one snapshot whatever the revision asked
    message = error_of(download(tmp_path / "out", hub.env))
    assert f"answered config.json with commit {'1' * 40}, not the pinned {HF_REVISION}" in message
    assert not list((tmp_path / "out").iterdir())


def test_content_that_is_not_what_the_hub_names_is_refused_and_dropped_from_the_cache(hub, tmp_path):
    changed = bytearray(WEIGHTS)
    changed[-1] ^= 0xFF  # the same size: huggingface_hub's own check (the size) passes
    serve_release(hub, {"config.json": CONFIG})
    hub(HF_REPO, HF_REVISION, "model.safetensors", bytes(changed), sha256=hashlib.sha256(WEIGHTS).hexdigest())
    message = error_of(download(tmp_path / "out", hub.env))
    assert f"model.safetensors of {HF_REPO} at revision {HF_REVISION} has sha256 " in message
    assert f"not {hashlib.sha256(WEIGHTS).hexdigest()} as the hub names it" in message and "run again" in message
    assert not (tmp_path / "out" / "model.safetensors").exists()
    assert not (tmp_path / "hf-home" / SNAPSHOT / "model.safetensors").exists()

    serve_release(hub)  # the hub serves the right bytes again: running again succeeds
    done = download(tmp_path / "out", hub.env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == WEIGHTS
