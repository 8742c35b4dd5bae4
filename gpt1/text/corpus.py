"""The corpus stage: download a registered corpus (or read a local one), clean it, split it by document.

Output, in the stage's directory: `train.txt` and `val.txt` (one cleaned paragraph per line, no empty
lines), `manifest.json` (which documents went where, and the size of each split) and `raw/` (the
verified downloads, reused by a rerun).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from gpt1.download import extract_tar, fetch
from gpt1.files import atomic_output, atomic_write_json
from gpt1.text.corpora import CORPORA, Corpus
from gpt1.text.forms import collapse_spaces, standardize

log = logging.getLogger(__name__)

CONFIG_KEY = "corpus.source"


# The archive's two text files, in order.
BOOKCORPUS_FILES = ("books_large_p1.txt", "books_large_p2.txt")
# BooksCorpus does not mark where one book ends and the next begins, so documents for the split are fixed
# blocks of lines; 10,000 sentences is about one and a half books (74M sentences / 11k books). A block
# may straddle two books: the split is by block, so at worst one book per boundary is shared.
LINES_PER_BLOCK = 10_000


# --------------------------------------------------------------------------------------------------
# Cleaning

# Unwrapping heuristics (see split_paragraphs).
MAX_WRAP_WIDTH = 100  # a document whose lines are nearly all this short is hard-wrapped
MAX_PARAGRAPH_LINES = 40  # a blank-line block longer than this has lost its paragraph breaks
FULL_LINE = 0.8  # a wrapped line at least this share of the wrap width continues on the next line


def split_paragraphs(text: str) -> list[str]:
    """Group a document's lines into paragraphs, the lines of each joined with spaces.

    The usual layout is hard-wrapped lines with a blank line between paragraphs: each blank-line block
    becomes one paragraph. Two other layouts occur in public book texts (the british-novels copies among
    them), and treating them the same way would turn a whole book into one line:
    - lines are not wrapped (the 95th percentile of line lengths is over MAX_WRAP_WIDTH): each line is a
      paragraph already;
    - lines are wrapped but paragraph breaks were lost (a block of more than MAX_PARAGRAPH_LINES lines):
      a line continues on the next one only if it is "full", at least FULL_LINE of the wrap width; a
      shorter line ends its paragraph.
    """
    lines = [line.rstrip() for line in text.split("\n")]
    widths = sorted(len(line) for line in lines if line.strip())
    if not widths:
        return []
    wrap_width = widths[int(0.95 * (len(widths) - 1))]
    if wrap_width > MAX_WRAP_WIDTH:
        return [line for line in lines if line.strip()]
    paragraphs = []
    for is_text, block in itertools.groupby(lines, key=lambda line: bool(line.strip())):
        if not is_text:
            continue
        block = list(block)
        if len(block) <= MAX_PARAGRAPH_LINES:
            paragraphs.append(" ".join(block))
        else:
            paragraphs.extend(_join_full_lines(block, FULL_LINE * wrap_width))
    return paragraphs


def _join_full_lines(lines: list[str], full: float) -> Iterator[str]:
    """Join each line to the next while it is at least `full` characters long."""
    paragraph: list[str] = []
    for line in lines:
        paragraph.append(line)
        if len(line) < full:
            yield " ".join(paragraph)
            paragraph = []
    if paragraph:
        yield " ".join(paragraph)


def clean_document(text: str, unwrap: bool = True) -> list[str]:
    """A document's cleaned paragraphs: standardised, unwrapped, white space collapsed, none empty.

    With `unwrap=False` every line is kept as its own paragraph (corpora of one sentence per line).
    """
    text = standardize(text)
    paragraphs = split_paragraphs(text) if unwrap else text.split("\n")
    cleaned = (collapse_spaces(paragraph) for paragraph in paragraphs)
    return [paragraph for paragraph in cleaned if paragraph]


# --------------------------------------------------------------------------------------------------
# Split


def split_documents(names: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split document names into (train, val), both sorted: a seeded shuffle of the sorted names, the
    first round(val_fraction * n) of them (at least 1, and leaving at least 1 for train) to validation.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"corpus.val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    unique = sorted(set(names))
    if len(unique) != len(names):
        raise ValueError("document names must be unique")
    if len(unique) < 2:
        raise ValueError(f"cannot split {len(unique)} document(s) into train and validation: at least 2 are needed")
    shuffled = unique[:]
    random.Random(seed).shuffle(shuffled)
    n_val = min(max(1, round(val_fraction * len(shuffled))), len(shuffled) - 1)
    return sorted(shuffled[n_val:]), sorted(shuffled[:n_val])


# --------------------------------------------------------------------------------------------------
# Documents


@dataclass(frozen=True)
class Document:
    """A unit of the split: a whole file, or `num_lines` lines of it from line `start` on."""

    name: str
    path: Path
    start: int = 0
    num_lines: int | None = None  # None: the whole file


def _book_documents(paths: list[Path]) -> list[Document]:
    return [Document(path.name, path) for path in paths]


def _block_documents(paths: list[Path]) -> list[Document]:
    """Fixed blocks of LINES_PER_BLOCK lines of each file (counted in one streaming pass)."""
    documents = []
    for path in paths:
        n_lines = _count_lines(path)
        for start in range(0, n_lines, LINES_PER_BLOCK):
            block = f"{path.name}:{start // LINES_PER_BLOCK:06d}"
            documents.append(Document(block, path, start, min(LINES_PER_BLOCK, n_lines - start)))
    return documents


def _count_lines(path: Path) -> int:
    count, last = 0, b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")  # a last line without its newline counts too


def _read_documents(documents: list[Document]) -> Iterator[tuple[Document, str]]:
    """Each document's raw text, reading every file once from start to end (so the blocks of one file must
    come together and in line order, as _block_documents makes them)."""
    for path, group in itertools.groupby(documents, key=lambda document: document.path):
        with open(path, encoding="utf-8") as f:
            try:
                for document in group:
                    if document.num_lines is None:
                        yield document, f.read()
                    else:
                        yield document, "".join(itertools.islice(f, document.num_lines))
            except UnicodeDecodeError as err:
                raise ValueError(f"{path} is not UTF-8 text ({err}); convert it, e.g. with iconv") from None


def _local_paths(local_dir: Path | None) -> list[Path]:
    if local_dir is None:
        raise ValueError(f"{CONFIG_KEY}: the local corpus needs a directory of .txt files (local_dir)")
    paths = sorted(Path(local_dir).glob("*.txt"))
    if not paths:
        raise ValueError(f"{CONFIG_KEY}: no .txt files in {local_dir}")
    return paths


def _download(corpus: Corpus, raw_dir: Path) -> list[Path]:
    """Fetch (or reuse) each source of `corpus` into `raw_dir`, sha256-verified."""
    return [fetch(s.url, raw_dir / s.filename, s.sha256, s.mirror_path) for s in corpus.sources]


def _bookcorpus_files(archive: Path, raw_dir: Path) -> list[Path]:
    """Extract the archive into raw/bookcorpus/ once (the directory appears only when complete)."""
    target = raw_dir / "bookcorpus"
    if not target.is_dir():
        extract_tar(archive, target)
    paths = [target / name for name in BOOKCORPUS_FILES]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise ValueError(f"{archive} did not hold {', '.join(missing)}; delete {target} and rerun")
    return paths


def list_documents(corpus: str, raw_dir: Path, local_dir: Path | None = None) -> tuple[list[Document], bool]:
    """Download `corpus` into `raw_dir` and return its documents in reading order, and whether its
    lines are to be unwrapped into paragraphs."""
    if corpus not in CORPORA:
        raise ValueError(f"{CONFIG_KEY}: unknown corpus {corpus!r}; choose one of {', '.join(CORPORA)}")
    if corpus == "local":
        return _book_documents(_local_paths(local_dir)), True
    registered = CORPORA[corpus]
    files = _download(registered, raw_dir)
    if registered.layout == "sentence-archive":
        return _block_documents(_bookcorpus_files(files[0], raw_dir)), False
    return _book_documents(files), True


# --------------------------------------------------------------------------------------------------
# Stage


class _SplitWriter:
    """Writes one split into `file`, counting what it writes."""

    def __init__(self, file: TextIO):
        self.file = file
        self.documents: list[str] = []
        self.lines = self.characters = self.bytes = 0

    def write(self, name: str, paragraphs: list[str]) -> None:
        self.documents.append(name)
        if not paragraphs:
            return
        text = "\n".join(paragraphs) + "\n"
        self.file.write(text)
        self.lines += len(paragraphs)
        self.characters += len(text)
        self.bytes += len(text.encode("utf-8"))

    def summary(self) -> dict:
        return {
            "documents": len(self.documents),
            "lines": self.lines,
            "characters": self.characters,
            "bytes": self.bytes,
            "document_names": self.documents,
        }


def prepare_corpus(corpus: str, out_dir: Path, val_fraction: float, seed: int, local_dir: Path | None = None) -> dict:
    """Download (into `out_dir/raw`, reused by a rerun), clean and split a corpus by document.

    Writes `out_dir/train.txt` and `out_dir/val.txt`, one cleaned paragraph per line in the corpus's own
    document order (shuffling is the training loader's job), and `out_dir/manifest.json`; each file
    appears only when complete. Documents are streamed one at a time. Returns the manifest.
    `corpus` is a key of CORPORA; "local" reads the .txt files of `local_dir`, one document per file.
    """
    out_dir = Path(out_dir)
    (out_dir / "raw").mkdir(parents=True, exist_ok=True)  # a declared output, empty for a local corpus
    documents, unwrap = list_documents(corpus, out_dir / "raw", local_dir)
    train_names, val_names = split_documents([d.name for d in documents], val_fraction, seed)
    in_val = set(val_names)
    with contextlib.ExitStack() as outputs:  # each split's file appears when the block ends without error
        writers = {
            split: _SplitWriter(
                outputs.enter_context(atomic_output(out_dir / f"{split}.txt", "w", encoding="utf-8", newline="\n"))
            )
            for split in ("train", "val")
        }
        for document, text in _read_documents(documents):
            split = "val" if document.name in in_val else "train"
            writers[split].write(document.name, clean_document(text, unwrap))
        manifest = {
            "corpus": corpus,
            "text_form": CORPORA[corpus].text_form,  # what every text is normalised into (gpt1.text.forms)
            "local_dir": str(local_dir) if corpus == "local" else None,
            "val_fraction": val_fraction,
            "seed": seed,
            "splits": {split: writer.summary() for split, writer in writers.items()},
        }
        for split, writer in writers.items():
            if writer.lines == 0:
                raise ValueError(f"{CONFIG_KEY}: the {split} split of {corpus!r} is empty after cleaning")
        for writer in writers.values():
            writer.file.flush()  # a full disk is found before either split replaces its previous file
    atomic_write_json(out_dir / "manifest.json", manifest)
    for split, stats in manifest["splits"].items():
        log.info("%s: %d documents, %d lines, %d bytes", split, stats["documents"], stats["lines"], stats["bytes"])
    return manifest
