"""OpenAI's released GPT-1, downloaded at pinned revisions: the weights from the Hugging Face hub (or the
original npy files of openai/finetune-transformer-lm) and the BPE vocabulary, then imported (gpt1.weights).

The hub's files come through huggingface_hub at a pinned commit, so its own settings hold: its cache
(HF_HOME), HF_ENDPOINT and HF_HUB_OFFLINE, read when huggingface_hub is imported. GPT1_DATA_MIRROR serves
every file it holds, offline. A file without a published sha256 is checked by parsing it.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from huggingface_hub import hf_hub_download, hf_hub_url
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError, RevisionNotFoundError

from gpt1.download import MIRROR_ENV, DownloadError, fetch, sha256_file
from gpt1.weights import HF_PREFIX, N_PARAM_FILES, import_weights

HF_REPO = "openai-community/openai-gpt"
HF_REVISION = "adacbec1426c790163037629ab537b20464a8f71"  # the hub commit that added model.safetensors
RELEASE_COMMIT = "a69b5c43b0452462890bca8ff92fb75dee9290cf"  # openai/finetune-transformer-lm, as the mirror's
_RELEASE_URL = f"https://github.com/openai/finetune-transformer-lm/raw/{RELEASE_COMMIT}/model/{{}}"


@dataclass(frozen=True)
class ReleasedFile:
    """One released file: its URL at a pinned revision, its place in a mirror, and its sha256 when known.
    A file of the Hugging Face hub (`on_hub`) that the mirror lacks is fetched with huggingface_hub."""

    name: str
    url: str
    mirror_path: str
    sha256: str | None = None
    on_hub: bool = False


def _release_file(name: str, sha256: str | None = None) -> ReleasedFile:
    return ReleasedFile(name, _RELEASE_URL.format(name), f"openai-gpt/model/{name}", sha256)


def _hf_file(name: str) -> ReleasedFile:
    return ReleasedFile(name, hf_hub_url(HF_REPO, name, revision=HF_REVISION), f"{HF_REPO}/{name}", on_hub=True)


# sha256 from the mirror's SHA256SUMS for the files it holds. The weight files and the hub's files could not
# be hashed here (no network): they are checked by format instead, with a warning that prints their sha256.
# The hub's model.safetensors is also checked against the sha256 the hub names it by (hub_download).
TOKENIZER_FILES = (
    _release_file("encoder_bpe_40000.json", "fdf49b19e7de236852091da09b84a7a3cd5e7b0e79916376cf45f6b8127b8078"),
    _release_file("vocab_40000.bpe", "0ea9b51ae695073cd871e0358f7016311d671a7ff3963e367d5236522f294725"),
)
WEIGHT_FILES = {
    "original": (
        _release_file("params_shapes.json", "3bff3faa381e06d81c60f44520eb82c673d14a8ae61d821c63167f59acc6a768"),
        *(_release_file(f"params_{i}.npy") for i in range(N_PARAM_FILES)),
    ),
    "hf": (_hf_file("config.json"), _hf_file("model.safetensors")),
}


def download_released(dest_dir: Path, fmt: str = "hf") -> Path:
    """Fetch the released weights in layout `fmt` and the BPE files into `dest_dir`; return it. Honours
    GPT1_DATA_MIRROR like every download, and huggingface_hub's settings for the hub's files."""
    download_weights(dest_dir, fmt)
    download_tokenizer(dest_dir)
    return Path(dest_dir)


def download_weights(dest_dir: Path, fmt: str = "hf") -> Path:
    """Fetch the released weights in layout `fmt` ("hf" or "original") into `dest_dir`; return it."""
    if fmt not in WEIGHT_FILES:
        raise ValueError(f"unknown weights layout {fmt!r}: choose one of {sorted(WEIGHT_FILES)}")
    for file in WEIGHT_FILES[fmt]:
        fetch_released(file, Path(dest_dir))
    return Path(dest_dir)


def download_tokenizer(dest_dir: Path) -> Path:
    """Fetch the released BPE files (encoder_bpe_40000.json, vocab_40000.bpe) into `dest_dir`; return it."""
    for file in TOKENIZER_FILES:
        fetch_released(file, Path(dest_dir))
    return Path(dest_dir)


def fetch_released(file: ReleasedFile, dest_dir: Path) -> Path:
    """Fetch one released file into `dest_dir`, verified by its sha256, or by its format when none is pinned.
    A hub file that GPT1_DATA_MIRROR lacks comes through huggingface_hub (hub_download)."""
    check = None if file.sha256 else functools.partial(check_file_format, name=file.name)
    dest = Path(dest_dir) / file.name
    mirror = os.environ.get(MIRROR_ENV)
    if file.on_hub and not (mirror and (Path(mirror) / file.mirror_path).is_file()):
        return fetch(file.url, dest, file.sha256, check=check, source=functools.partial(hub_download, file.name))
    return fetch(file.url, dest, file.sha256, file.mirror_path, check=check)


def hub_download(name: str) -> Path:
    """The path of file `name` of HF_REPO at HF_REVISION in huggingface_hub's cache, downloaded there if it is
    not yet. A file the hub stores with Git LFS must hash to the sha256 the hub names it by (huggingface_hub
    checks only its size). Raises DownloadError with what to do."""
    where = f"{name} of {HF_REPO} at revision {HF_REVISION}"
    try:
        path = Path(hf_hub_download(HF_REPO, name, revision=HF_REVISION))
    except LocalEntryNotFoundError:  # a subclass of EntryNotFoundError: offline, or the hub out of reach
        raise DownloadError(
            f"{where} is not in the Hugging Face cache and the hub cannot be reached (HF_HUB_OFFLINE set, or no "
            f"network): download it once online, or put it at ${MIRROR_ENV}/{HF_REPO}/{name}"
        ) from None
    except RevisionNotFoundError:
        raise DownloadError(
            f"the hub has no revision {HF_REVISION} of {HF_REPO} (wanted for {name}): check HF_ENDPOINT, or pin "
            "an existing commit as HF_REVISION in gpt1/released.py"
        ) from None
    except EntryNotFoundError:
        raise DownloadError(
            f"{where} does not exist on the hub: pin a commit that has it as HF_REVISION in gpt1/released.py, "
            "or import the original release (--format original)"
        ) from None
    except (HfHubHTTPError, OSError) as err:  # a missing repository, the hub down, a truncated transfer
        reason = " ".join(str(err).split())
        raise DownloadError(
            f"download of {where} failed: {reason}; check HF_ENDPOINT and the network, and retry"
        ) from None
    if path.parent.name != HF_REVISION:  # huggingface_hub files it under the commit the hub answered with
        raise DownloadError(
            f"the hub answered {name} with commit {path.parent.name}, not the pinned {HF_REVISION}: "
            "HF_ENDPOINT points at a hub that does not keep revisions; use another, or unset it"
        )
    blob = path.resolve()  # named by the hub's ETag: the sha256 of a file stored with Git LFS
    if re.fullmatch("[0-9a-f]{64}", blob.name) and (got := sha256_file(blob)) != blob.name:
        blob.unlink()
        path.unlink(missing_ok=True)  # the link to the blob, where the cache has links
        raise DownloadError(
            f"{where} has sha256 {got}, not {blob.name} as the hub names it: the transfer was corrupted or the "
            "hub serves other content; the copy is deleted from the Hugging Face cache: run again"
        )
    return path


def import_released(model_out: Path, vocab_dir: Path, download_dir: Path, fmt: str = "hf", seed: int = 0) -> dict:
    """The pipeline's start from OpenAI's released GPT-1: download the weights (layout `fmt`) into
    `download_dir`, convert them into the gpt1 checkpoint `model_out` and fetch the tokenizer into
    `vocab_dir`. Returns the checkpoint's description."""
    download_weights(download_dir, fmt)
    download_tokenizer(vocab_dir)
    return import_weights(download_dir, model_out, seed=seed)


def check_file_format(path: Path, name: str | None = None) -> None:
    """Raise ValueError unless `path` parses as what its name (`name`, default its own) says it is."""
    name = name or path.name
    try:
        if name.endswith(".npy"):
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            if array.dtype != np.float32:
                raise ValueError(f"dtype {array.dtype}, not float32")
        elif name.endswith(".safetensors"):
            from safetensors import safe_open

            with safe_open(path, framework="pt") as f:
                if not any(k.removeprefix(HF_PREFIX) == "tokens_embed.weight" for k in f.keys()):  # noqa: SIM118 (safe_open has keys(), no __iter__)
                    raise ValueError("no tokens_embed.weight")
        elif name.endswith(".json"):
            json.loads(path.read_text(encoding="utf-8"))
    except Exception as err:  # any parse failure means the same: a bad download
        message = f"{name} ({path}) is not a valid {Path(name).suffix} file ({err}): delete it and fetch it again"
        raise ValueError(message) from None
