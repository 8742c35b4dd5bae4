"""What a task is: its kind, sources, file formats and splits, and one labelled example (gpt1.tasks.registry
holds the paper's 12, and DPRD, scored zero-shot only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["classification", "entailment", "similarity", "multiple_choice"]
SPLITS = ("train", "dev", "test")
STORY_CLOZE_ENV = "GPT1_STORY_CLOZE_DIR"  # a directory holding the two Story Cloze CSVs
METRICS = ("accuracy", "f1", "matthews", "pearson", "spearman")


class TaskDataMissing(RuntimeError):
    """A task's data file is not there; the message is one line: which file, and where to get it."""


@dataclass(frozen=True)
class Example:
    """One labelled example of any task.

    `text`: the sentence (CoLA, SST-2), premise or first sentence (pairs), or the multiple-choice context:
    RACE's article and question joined by one space, Story Cloze's four story sentences joined by spaces.
    `text_b`: the hypothesis or second sentence; None for single-sentence and multiple-choice tasks.
    `choices`: the candidate answers of a multiple-choice task (RACE: 4 options; Story Cloze: 2 endings;
    DPRD: the 2 candidate antecedents, `text` being the sentence and `text_b` its definite pronoun).
    `label`: an index into Task.labels (classification, entailment, MRPC/QQP), the right choice's index
    (multiple choice), or the 0-5 similarity score (STS-B, a float).
    `subset`: "matched"/"mismatched" (MNLI dev), "middle"/"high" (RACE), else "".
    """

    text: str
    text_b: str | None = None
    choices: tuple[str, ...] = ()
    label: int | float = 0
    subset: str = ""


@dataclass(frozen=True)
class Source:
    """A file published by the task's authors, pinned by its sha256.

    `filename` is the name it is saved under: in `<data_dir>/downloads/` for an archive, in the task's
    folder for a plain file (MRPC's sources).
    """

    url: str
    sha256: str
    filename: str


@dataclass(frozen=True)
class Format:
    """How to read a task's files.

    `reader` picks the reader in gpt1.tasks.readers: "tsv" (GLUE, SciTail; tab-separated, no quoting),
    "jsonl" (SNLI / MultiNLI), "race" (a folder of one-JSON-document files), "story_cloze" (CSV), "dprd"
    (four-line blocks, gpt1.tasks.dprd).
    For "tsv" and "jsonl", `text`, `text_b` and `label` name the columns (keys): header names, or 0-based
    column indices when the file has no header (`header=False`, with exactly `n_columns` fields a row).
    `label_type`: "index" (the file holds 0, 1, ... into Task.labels), "name" (it holds the label's name)
    or "score" (a float, within `score_range` when given). Rows whose label is in `drop_labels` are skipped
    (SNLI's "-": no gold label).
    """

    reader: Literal["tsv", "jsonl", "race", "story_cloze", "dprd"]
    text: str | int = ""
    text_b: str | int | None = None
    label: str | int = ""
    label_type: Literal["index", "name", "score"] = "name"
    header: bool = True
    n_columns: int = 0
    drop_labels: tuple[str, ...] = ()
    score_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class Part:
    """One file of a split (for RACE, one folder of .txt files), relative to the task's folder."""

    path: str
    subset: str = ""


@dataclass(frozen=True)
class Resplit:
    """A split cut out of a file by a seeded shuffle, as the released code cut Story Cloze.

    The released code (finetune-transformer-lm, train.py) calls sklearn's
    `train_test_split(..., test_size=374, random_state=3535999445)` on the 1,871 rows of the 2016
    validation CSV: dev is the first 374 indices of `numpy.random.RandomState(seed).permutation(n)` and
    train the remaining 1,497; this reproduces exactly that (no sklearn needed). A file of another size
    keeps the proportion: n_dev = ceil(n * n_dev / n_total). Rows are returned in file order.
    """

    seed: int
    n_dev: int
    n_total: int
    take: Literal["train", "dev"]


@dataclass(frozen=True)
class Split:
    """A labelled split: the concatenation of its parts' examples (each tagged with its part's subset)."""

    name: str
    parts: tuple[Part, ...]
    resplit: Resplit | None = None


@dataclass(frozen=True)
class Task:
    """A registered task: one of the paper's fine-tuning tasks, or a set scored zero-shot only (DPRD).

    `labels`: the label names in index order; None for a regression (STS-B). For a multiple-choice task
    they are the answer codes as its files write them (RACE "A"-"D", Story Cloze "1"/"2"), and a label
    is the index of the right choice.

    `folder`: the task's folder relative to data_dir (and to a mirror). `splits`: only the splits that
    have labels (GLUE's test labels are hidden: the paper's GLUE numbers are test-server scores, the
    pipeline's are dev scores). `access`: "archive" (one pinned archive whose folder `archive_root`
    becomes `folder`), "files" (pinned plain files saved into `folder`, then formatted: MRPC), "plain"
    (pinned plain files saved into `folder` as they are, and a mirror's `folder` copied as an archive task's:
    DPRD), or "registration" (no public download: Story Cloze). `subsets`: the subsets reported separately.
    `table`: the paper's table that reports the task (2-4); 0 for a zero-shot set (Figure 2 only).
    """

    id: str
    name: str
    kind: Kind
    labels: tuple[str, ...] | None
    metrics: tuple[str, ...]
    table: int
    folder: str
    format: Format
    splits: tuple[Split, ...]
    access: Literal["archive", "files", "plain", "registration"]
    sources: tuple[Source, ...] = ()
    archive_root: str = ""
    subsets: tuple[str, ...] = ()
    homepage: str = ""

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(split.name for split in self.splits)

    def split(self, name: str) -> Split:
        """The labelled split `name`; ValueError if the task has none of that name."""
        for split in self.splits:
            if split.name == name:
                return split
        raise ValueError(f"task {self.id!r} has no labelled split {name!r}; its splits: {', '.join(self.split_names)}")
