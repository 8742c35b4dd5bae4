"""Encode the corpus into flat uint16 token files, streaming: memory stays bounded by one chunk."""

from __future__ import annotations

import logging
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

from gpt1.files import atomic_output, atomic_write_json
from gpt1.progress import Progress
from gpt1.text.bpe import Tokenizer

log = logging.getLogger(__name__)

CHUNK_CHARS = 2_000_000  # text encoded at once: peak memory follows this, not the corpus size
TOKEN_DTYPE = np.uint16


def encode_file(tokenizer: Tokenizer, text_file: Path, token_file: Path) -> int:
    """Append every line's ids to `token_file` (written atomically); return the token count."""
    if tokenizer.vocab_size > np.iinfo(TOKEN_DTYPE).max + 1:
        raise ValueError(f"bpe.vocab_size: {tokenizer.vocab_size} ids do not fit in {TOKEN_DTYPE.__name__}")
    count, started = 0, time.perf_counter()
    with (
        open(text_file, encoding="utf-8") as lines,
        atomic_output(token_file) as out,
        Progress(f"encode {text_file.name}", text_file.stat().st_size, unit="B", unit_scale=True) as bar,
    ):
        for chunk in chunks(lines, CHUNK_CHARS):
            ids = tokenizer.encode(chunk, normalized=True)  # the corpus stage's text: in its form
            flat = np.fromiter((i for line_ids in ids for i in line_ids), dtype=TOKEN_DTYPE)
            out.write(flat.tobytes())  # not tofile: its failed write says neither why nor where
            count += flat.size
            bar.set_postfix(tokens=f"{count:,}")
            bar.update(sum(len(line.encode()) + 1 for line in chunk))  # the bytes read, newlines included
    log.info("%s: %s tokens in %.1f s -> %s", text_file, f"{count:,}", time.perf_counter() - started, token_file)
    return count


def chunks(lines, size: int):
    """Lists of lines (newlines removed) of about `size` characters each."""
    chunk, chars = [], 0
    for line in lines:
        chunk.append(line.rstrip("\n"))
        chars += len(line)
        if chars >= size:
            yield chunk
            chunk, chars = [], 0
    if chunk:
        yield chunk


def encode_corpus(bpe_model: Path, corpus_dir: Path, out_dir: Path) -> dict:
    """train.txt and val.txt to train.bin and val.bin, plus meta.json describing them."""
    tokenizer = Tokenizer(bpe_model)
    sizes = ", ".join(
        f"{split}.txt {(corpus_dir / f'{split}.txt').stat().st_size / 1e6:.1f} MB" for split in ("train", "val")
    )
    log.info(
        "encoding %s with %s (%d pieces, sentencepiece %s)",
        sizes,
        bpe_model,
        tokenizer.vocab_size,
        version("sentencepiece"),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"dtype": np.dtype(TOKEN_DTYPE).name, "vocab_size": tokenizer.vocab_size}
    for split in ("train", "val"):
        meta[f"{split}_tokens"] = encode_file(tokenizer, corpus_dir / f"{split}.txt", out_dir / f"{split}.bin")
    atomic_write_json(out_dir / "meta.json", meta)
    return meta


def load_tokens(token_file: Path) -> np.memmap:
    return np.memmap(token_file, dtype=TOKEN_DTYPE, mode="r")
