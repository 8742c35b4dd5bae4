"""OpenAI's released GPT-1, downloaded at pinned revisions: the weights from the Hugging Face hub (or the
original npy files of openai/finetune-transformer-lm) and the BPE vocabulary, then imported (gpt1.weights).

GPT1_DATA_MIRROR and HF_ENDPOINT are honoured; a file without a published sha256 is checked by parsing it.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpt1.download import fetch
from gpt1.weights import HF_PREFIX, N_PARAM_FILES, import_weights

HF_REVISION = "adacbec1426c790163037629ab537b20464a8f71"  # the hub revision that added model.safetensors
HF_REPO = "openai-community/openai-gpt"
HF_ENDPOINT_ENV = "HF_ENDPOINT"  # the hub's address, read as huggingface_hub reads it
HF_DEFAULT_ENDPOINT = "https://huggingface.co"
RELEASE_COMMIT = "a69b5c43b0452462890bca8ff92fb75dee9290cf"  # openai/finetune-transformer-lm, as the mirror's
_RELEASE_URL = f"https://github.com/openai/finetune-transformer-lm/raw/{RELEASE_COMMIT}/model/{{}}"


@dataclass(frozen=True)
class ReleasedFile:
    """One released file: its URL at a pinned revision, its place in a mirror, and its sha256 when known.
    A file of the Hugging Face hub (`on_hub`) is fetched from $HF_ENDPOINT when that is set."""

    name: str
    url: str
    mirror_path: str
    sha256: str | None = None
    on_hub: bool = False


def _release_file(name: str, sha256: str | None = None) -> ReleasedFile:
    return ReleasedFile(name, _RELEASE_URL.format(name), f"openai-gpt/model/{name}", sha256)


def hub_url(name: str, endpoint: str = HF_DEFAULT_ENDPOINT) -> str:
    return f"{endpoint.rstrip('/')}/{HF_REPO}/resolve/{HF_REVISION}/{name}"


def _hf_file(name: str) -> ReleasedFile:
    return ReleasedFile(name, hub_url(name), f"{HF_REPO}/{name}", on_hub=True)


# sha256 from the mirror's SHA256SUMS for the files it holds. The weight files and the hub's files could not
# be hashed here (no network): they are checked by format instead, with a warning that prints their sha256.
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
    GPT1_DATA_MIRROR like every download, and HF_ENDPOINT for the hub's files."""
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
    A hub file comes from $HF_ENDPOINT when that is set, even with GPT1_DATA_MIRROR set."""
    url, mirror_path = file.url, file.mirror_path
    endpoint = os.environ.get(HF_ENDPOINT_ENV)
    if file.on_hub and endpoint:
        url, mirror_path = hub_url(file.name, endpoint), None
    check = None if file.sha256 else functools.partial(check_file_format, name=file.name)
    return fetch(url, Path(dest_dir) / file.name, file.sha256, mirror_path, check=check)


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
