"""Stand-in task data at the official sizes, for timing the pipeline as a user with internet would run it.

    python -m benchmarks.standin OUT [--mirror DIR] [--seed N]

writes at OUT a complete mirror (GPT1_DATA_MIRROR=OUT) made from a partial one (default: $GPT1_DATA_MIRROR):

- every file of the source mirror is symlinked (its directories recreated), books, weights and all, but its
  own UNOFFICIAL (ours replaces it);
- every split part of the registered tasks (gpt1.tasks.registry: `Task.folder / Part.path`; a RACE part is a
  folder of one JSON document per passage) that the source lacks, or holds with fewer rows than OFFICIAL_ROWS
  (a format slice), is written instead: the official layout, header and label spelling, the official row
  count, and text drawn with the seed from the source's books (books/british-novels), never task text;
- OUT/UNOFFICIAL says the mirror is not the official data (gpt1 then copies it unverified), and each task
  folder holding a stand-in gets a STANDIN file listing them.

The numbers are for timing only: a model scores chance on these files. MRPC's stand-ins, were they needed,
would go unread: gpt1 cuts MRPC's splits from Microsoft's pinned files (gpt1.tasks.data.build_mrpc).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from gpt1.download import MIRROR_ENV
from gpt1.tasks.data import STANDIN, UNOFFICIAL
from gpt1.tasks.readers import STORY_ANSWER, STORY_ENDINGS, STORY_SENTENCES, part_exists, read_part
from gpt1.tasks.registry import STORY_CLOZE_TEST, STORY_CLOZE_VAL, TASKS, ZERO_SHOT_TASKS
from gpt1.tasks.spec import Part, Task

log = logging.getLogger("benchmarks.standin")

BOOKS = Path("books") / "british-novels"
UNOFFICIAL_NOTE = "Stand-ins for timing, not the official task data (python -m benchmarks.standin)."
STANDIN_NOTE = "These files are generated stand-ins for timing only (python -m benchmarks.standin), not task data:"
CHUNK = 20_000  # rows generated and written at a time: memory stays small for SNLI's 550k rows

# --------------------------------------------------------------------------------------------------
# Official sizes

# Rows of each part file as the official archive holds it (RACE: questions), by (task id, part path). Unless
# marked, from huggingface/datasets at 040102f (the commit the registry's sha256s come from),
# datasets/<name>/dataset_infos.json, splits.<split>.num_examples, which count these very files' rows (its GLUE
# reader reads them with quoting off, as ours does).
OFFICIAL_ROWS: dict[tuple[str, str], int] = {
    ("cola", "train.tsv"): 8_551,
    ("cola", "dev.tsv"): 1_043,
    ("sst2", "train.tsv"): 67_349,
    ("sst2", "dev.tsv"): 872,
    ("mrpc", "train.tsv"): 3_668,
    ("mrpc", "dev.tsv"): 408,
    ("stsb", "train.tsv"): 5_749,
    ("stsb", "dev.tsv"): 1_500,
    ("qqp", "train.tsv"): 363_846,
    ("qqp", "dev.tsv"): 40_430,
    ("mnli", "train.tsv"): 392_702,
    ("mnli", "dev_matched.tsv"): 9_815,
    ("mnli", "dev_mismatched.tsv"): 9_832,
    ("qnli", "train.tsv"): 104_743,
    ("qnli", "dev.tsv"): 5_463,
    ("rte", "train.tsv"): 2_490,
    ("rte", "dev.tsv"): 277,
    # Lines of the jsonl files, those without a gold label ("-", kept by HF as label -1) included.
    ("snli", "snli_1.0_train.jsonl"): 550_152,
    ("snli", "snli_1.0_dev.jsonl"): 10_000,
    ("snli", "snli_1.0_test.jsonl"): 10_000,
    # The SciTail paper's counts (Khot et al. 2018; 27,026 in all), which HF's snli_format (one JSON per line)
    # matches. HF's tsv_format says 23,097 for train: its reader keeps csv's quoting, which joins the lines
    # between quote characters; its dgem_format, read the same way, falls short of the jsonl predictor_format
    # by the same 499 rows.
    ("scitail", "tsv_format/scitail_1.0_train.tsv"): 23_596,
    ("scitail", "tsv_format/scitail_1.0_dev.tsv"): 1_304,
    ("scitail", "tsv_format/scitail_1.0_test.tsv"): 2_126,
    # HF's race configs "middle" and "high" (their "all": 87,866 / 4,887 / 4,934).
    ("race", "train/middle"): 25_421,
    ("race", "train/high"): 62_445,
    ("race", "dev/middle"): 1_436,
    ("race", "dev/high"): 3_451,
    ("race", "test/middle"): 1_436,
    ("race", "test/high"): 3_498,
    # Mostafazadeh et al. (2016): the 2016 validation and test sets; the mirror's files hold as many.
    ("story_cloze", STORY_CLOZE_VAL): 1_871,
    ("story_cloze", STORY_CLOZE_TEST): 1_871,
    # Rahman & Ng (2012); the mirror's files, pinned by sha256 in gpt1.tasks.pinned, hold as many.
    ("dprd", "train.c.txt"): 1_322,
    ("dprd", "test.c.txt"): 564,
}

# Passages (documents) of each RACE part: the RACE paper (Lai et al. 2017), Table 1; 25,137 / 1,389 / 1,407 in
# all. The mirror's complete dev split has 368 and 1,021 files.
RACE_PASSAGES = {
    "train/middle": 6_409,
    "train/high": 18_728,
    "dev/middle": 368,
    "dev/high": 1_021,
    "test/middle": 362,
    "test/high": 1_045,
}

# SNLI rows whose gold_label is "-" (no majority of annotators): the rows minus the 549,367 / 9,842 / 9,824
# pairs with a label that papers train and test on (e.g. Rocktaschel et al. 2016).
SNLI_NO_GOLD = {"snli_1.0_train.jsonl": 785, "snli_1.0_dev.jsonl": 158, "snli_1.0_test.jsonl": 176}

# --------------------------------------------------------------------------------------------------
# Typical lengths, in words (whitespace-separated), of the stand-ins' texts: the mean over the mirror's
# complete files where it has them (CoLA, SST-2, MRPC, STS-B, QNLI dev, RTE, RACE dev, Story Cloze, DPRD);
# elsewhere our estimate from the task papers and the mirror's few real rows (QQP, MNLI, SNLI, SciTail).

TEXT_WORDS: dict[str, tuple[float, float]] = {  # (text, text_b) of the tab-separated and SNLI tasks
    "cola": (8, 0),
    "sst2": (10, 0),  # train's phrases 9.4, dev's whole sentences 19.5
    "mrpc": (22, 22),
    "stsb": (10, 10),
    "qqp": (11, 11),
    "mnli": (22, 11),
    "qnli": (10, 28),
    "rte": (43, 9),
    "snli": (14, 8),
    "scitail": (20, 12),
}
RACE_WORDS = {"middle": (197, 9, 4.5), "high": (304, 10, 6.2)}  # (passage, question, option)
STORY_WORDS = (9, 7.5)  # (each of the 4 story sentences, each ending)
DPRD_WORDS = 8  # each of the two halves of a sentence, before and after the pronoun


def _lengths(rng: np.random.Generator, mean_words: float, n: int) -> np.ndarray:
    """`n` lengths spread around `mean_words` with a long right tail, as sentence lengths are: a gamma of shape
    4 (standard deviation half the mean), at least one word."""
    return np.maximum(1, np.rint(rng.gamma(4.0, mean_words / 4.0, n))).astype(np.int64)


# --------------------------------------------------------------------------------------------------
# The book sentences the stand-ins are made of

# A sentence ends at . ! ? (or a closing quote after one) before a capital, maybe behind an opening quote.
_SENTENCE_END = re.compile(r"(?<=[.!?\"”’'])\s+(?=[\"“‘'_(]*[A-Z])")


class SentencePool:
    """The sentences of a book corpus, drawn by length: single sentences for short texts, runs of consecutive
    sentences for passages."""

    def __init__(self, sentences: list[str]):
        if not sentences:
            raise ValueError("the book corpus holds no sentences")
        self.in_order = sentences
        words = np.array([sentence.count(" ") + 1 for sentence in sentences])  # whitespace is single spaces
        order = np.argsort(words, kind="stable")
        self.by_length = [sentences[i] for i in order.tolist()]
        self.lengths, self.starts, self.counts = np.unique(words[order], return_index=True, return_counts=True)
        self.words_before = np.concatenate(([0], np.cumsum(words)))  # [i]: words in sentences[:i]

    @classmethod
    def from_books(cls, folder: Path) -> SentencePool:
        paths = sorted(Path(folder).glob("*.txt"))
        if not paths:
            raise ValueError(f"no books at {folder} (*.txt): the stand-ins' text is drawn from them")
        sentences = []
        for path in paths:
            text = " ".join(path.read_text(encoding="utf-8").split())  # no tabs or line breaks inside a field
            sentences.extend(sentence for sentence in _SENTENCE_END.split(text) if sentence)
        return cls(sentences)

    def sentences(self, rng: np.random.Generator, mean_words: float, n: int) -> list[str]:
        """`n` sentences, each picked at random among those of the drawn length (the next longer length where
        the books have none)."""
        bucket = np.minimum(np.searchsorted(self.lengths, _lengths(rng, mean_words, n)), len(self.lengths) - 1)
        picks = self.starts[bucket] + (rng.random(n) * self.counts[bucket]).astype(np.int64)
        return [self.by_length[i] for i in picks.tolist()]

    def passages(self, rng: np.random.Generator, mean_words: float, n: int) -> list[str]:
        """`n` passages, each the consecutive sentences from a random one until the drawn length is reached
        (shorter at the corpus's end)."""
        starts = rng.integers(0, len(self.in_order), n)
        ends = np.searchsorted(self.words_before, self.words_before[starts] + _lengths(rng, mean_words, n))
        ends = np.minimum(ends, len(self.in_order))
        return [" ".join(self.in_order[s:e]) for s, e in zip(starts.tolist(), ends.tolist())]


# --------------------------------------------------------------------------------------------------
# Labels and the columns the readers skip


def _balanced(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """`n` codes 0..k-1 in a seeded random order, each as often as the others (give or take one): uniform,
    and every label present once n >= k."""
    return rng.permutation(np.arange(n) % k)


def _label_column(task: Task, n: int, rng: np.random.Generator) -> list[str]:
    """`n` labels as the task's files write them: an index, a name or (STS-B) a score with three decimals."""
    fmt = task.format
    if fmt.label_type == "score":
        low, high = fmt.score_range or (0.0, 5.0)
        return [f"{score:.3f}" for score in rng.uniform(low, high, n).tolist()]
    assert task.labels is not None, f"{task.id}: a classification task needs label names"
    spelled = [str(i) for i in range(len(task.labels))] if fmt.label_type == "index" else list(task.labels)
    return [spelled[code] for code in _balanced(n, len(spelled), rng).tolist()]


# Stand-in parses, about as long as the official ones (the binary parse about 1.6 times the sentence, the
# constituency parse about 2.8 times), which matters for the time a reader takes over the file.
def _binary_parse(sentence: str) -> str:
    return "( ( " + " ) ( ".join(sentence.split()) + " ) )"


def _parse(sentence: str) -> str:
    return "(ROOT (S (NP (NN " + ")) (NP (NN ".join(sentence.split()) + "))))"


# The header of each task's tab-separated files, as the official files name their columns (CoLA's and
# SciTail's files have no header line: the names here are ours). MRPC's files start with a UTF-8 BOM.
_MNLI_COLUMNS = ("index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse")
_MNLI_COLUMNS += ("sentence1_parse", "sentence2_parse", "sentence1", "sentence2")
TSV_HEADERS: dict[str, tuple[str, ...]] = {
    "cola": ("source", "label", "mark", "sentence"),
    "sst2": ("sentence", "label"),
    "mrpc": ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"),
    "stsb": ("index", "genre", "filename", "year", "old_index", "source1", "source2")
    + ("sentence1", "sentence2", "score"),
    "qqp": ("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
    "mnli": (*_MNLI_COLUMNS, "label1", "gold_label"),
    "qnli": ("index", "question", "sentence", "label"),
    "rte": ("index", "sentence1", "sentence2", "label"),
    "scitail": ("premise", "hypothesis", "label"),
}
MNLI_DEV_HEADER = (*_MNLI_COLUMNS, "label1", "label2", "label3", "label4", "label5", "gold_label")
BOM_TASKS = {"mrpc"}

# Columns that hold the same value on every row of a stand-in (values seen in the official files).
FIXED_COLUMNS = {
    "cola": {"source": "gj04"},
    "stsb": {"genre": "main-captions", "filename": "MSRvid", "year": "2012test", "source1": "none", "source2": "none"},
    "mnli": {"genre": "fiction"},
}


def tsv_header(task_id: str, part_path: str) -> tuple[str, ...]:
    """The columns of a task's tab-separated part (MNLI's dev files have five annotators' labels, train one)."""
    if task_id == "mnli" and part_path.startswith("dev"):
        return MNLI_DEV_HEADER
    return TSV_HEADERS[task_id]


def _other_column(
    task_id: str, name: str, columns: dict[str, list[str]], rows: range, rng: np.random.Generator
) -> list[str]:
    """A column the readers skip, filled as the official file fills it: ids count up, parses bracket the
    row's sentence, the annotators' labels copy the gold one, CoLA's mark stars the unacceptable."""
    if name.endswith("_binary_parse"):
        return [_binary_parse(sentence) for sentence in columns[name.removesuffix("_binary_parse")]]
    if name.endswith("_parse"):
        return [_parse(sentence) for sentence in columns[name.removesuffix("_parse")]]
    if name in ("index", "id"):
        return [str(i) for i in rows]
    if name == "old_index":
        return [f"{i + 1:04d}" for i in rows]
    if name in ("qid1", "qid2"):
        return [str(2 * i + int(name[-1])) for i in rows]
    if name in ("#1 ID", "#2 ID", "promptID"):
        return [str(value) for value in rng.integers(1_000, 1_000_000, len(rows)).tolist()]
    if name == "pairID":
        return [f"{prompt}{label[0]}" for prompt, label in zip(columns["promptID"], columns["gold_label"])]
    if re.fullmatch(r"label[1-5]", name):
        return columns["gold_label"]
    if name == "mark":
        return ["*" if label == "0" else "" for label in columns["label"]]
    return [FIXED_COLUMNS[task_id][name]] * len(rows)


# --------------------------------------------------------------------------------------------------
# Writers, one per file format: (path, task, part, rows, pool, rng)


@contextmanager
def _text_out(path: Path) -> Iterator[TextIO]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        yield f


def _chunks(n: int) -> Iterator[range]:
    for start in range(0, n, CHUNK):
        yield range(start, min(start + CHUNK, n))


def write_tsv(path: Path, task: Task, part: Part, n: int, pool: SentencePool, rng: np.random.Generator) -> None:
    """GLUE's and SciTail's tab-separated files."""
    fmt, header = task.format, tsv_header(task.id, part.path)
    text, text_b, label = (header[c] if isinstance(c, int) else c for c in (fmt.text, fmt.text_b, fmt.label))
    words, words_b = TEXT_WORDS[task.id]
    labels = _label_column(task, n, rng)
    with _text_out(path) as f:
        if fmt.header:
            f.write(("\ufeff" if task.id in BOM_TASKS else "") + "\t".join(header) + "\n")
        for rows in _chunks(n):
            columns = {text: pool.sentences(rng, words, len(rows)), label: labels[rows.start : rows.stop]}
            if text_b is not None:
                columns[text_b] = pool.sentences(rng, words_b, len(rows))
            for name in header:  # in header order: MNLI's pairID follows its promptID
                if name not in columns:
                    columns[name] = _other_column(task.id, name, columns, rows, rng)
            f.writelines("\t".join(row) + "\n" for row in zip(*(columns[name] for name in header)))


def write_snli(path: Path, task: Task, part: Part, n: int, pool: SentencePool, rng: np.random.Generator) -> None:
    """SNLI's JSON lines (its keys in the official order), some without a gold label ("-") as in the
    official files, in proportion."""
    labels = _label_column(task, n, rng)
    no_gold = round(n * SNLI_NO_GOLD[part.path] / OFFICIAL_ROWS[task.id, part.path])
    for i in rng.choice(n, no_gold, replace=False).tolist():
        labels[i] = "-"
    annotators = 1 if "train" in part.path else 5  # train's pairs were labelled once, dev's and test's five times
    split_votes = ["entailment", "neutral", "contradiction", "entailment", "neutral"]  # no majority: "-"
    words, words_b = TEXT_WORDS[task.id]
    with _text_out(path) as f:
        for rows in _chunks(n):
            premises = pool.sentences(rng, words, len(rows))
            hypotheses = pool.sentences(rng, words_b, len(rows))
            for i, premise, hypothesis in zip(rows, premises, hypotheses):
                label = labels[i]
                row = {
                    "annotator_labels": split_votes if label == "-" else [label] * annotators,
                    "captionID": f"{i}.jpg#0",
                    "gold_label": label,
                    "pairID": f"{i}.jpg#0r1{label[0]}",
                    "sentence1": premise,
                    "sentence1_binary_parse": _binary_parse(premise),
                    "sentence1_parse": _parse(premise),
                    "sentence2": hypothesis,
                    "sentence2_binary_parse": _binary_parse(hypothesis),
                    "sentence2_parse": _parse(hypothesis),
                }
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_race(folder: Path, task: Task, part: Part, n: int, pool: SentencePool, rng: np.random.Generator) -> None:
    """A RACE folder: one JSON document per passage (1.txt, 2.txt, ...), its questions spread evenly over
    the passages in the official proportion (3.97 a passage in middle school's train, 3.33 in high school's)."""
    passages = min(n, max(1, round(n * RACE_PASSAGES[part.path] / OFFICIAL_ROWS[task.id, part.path])))
    per_passage = np.full(passages, n // passages)
    per_passage[rng.permutation(passages)[: n % passages]] += 1
    passage_words, question_words, option_words = RACE_WORDS[part.subset]
    articles = pool.passages(rng, passage_words, passages)
    questions = pool.sentences(rng, question_words, n)
    options = pool.sentences(rng, option_words, 4 * n)
    answers = _label_column(task, n, rng)
    folder.mkdir(parents=True)
    first = 0
    for number, (article, count) in enumerate(zip(articles, per_passage.tolist()), 1):
        asked = range(first, first + count)
        document = {
            "answers": answers[asked.start : asked.stop],
            "options": [options[4 * q : 4 * q + 4] for q in asked],
            "questions": questions[asked.start : asked.stop],
            "article": article,
            "id": f"{part.subset}{number}.txt",
        }
        (folder / f"{number}.txt").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        first = asked.stop


def write_story_cloze(path: Path, task: Task, part: Part, n: int, pool: SentencePool, rng: np.random.Generator) -> None:
    """A Story Cloze CSV: a story id, four sentences, two endings and the right ending's number."""
    sentence_words, ending_words = STORY_WORDS
    story = [pool.sentences(rng, sentence_words, n) for _ in STORY_SENTENCES]
    endings = [pool.sentences(rng, ending_words, n) for _ in STORY_ENDINGS]
    answers = _label_column(task, n, rng)
    ids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)]
    with _text_out(path) as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("InputStoryid", *STORY_SENTENCES, *STORY_ENDINGS, STORY_ANSWER))
        writer.writerows(zip(ids, *story, *endings, answers))


def write_dprd(path: Path, task: Task, part: Part, n: int, pool: SentencePool, rng: np.random.Generator) -> None:
    """DPRD's four-line examples: "<sentence> because <pronoun> <sentence>", the pronoun, two distinct words
    of the first sentence as the candidates (both before the pronoun, as the reader wants) and one of them."""
    answers = _balanced(n, 2, rng).tolist()
    blocks: list[str] = []
    while len(blocks) < n:
        before, after = pool.sentences(rng, DPRD_WORDS, 2)
        candidates = _distinct_words(before)[:2]
        if len(candidates) < 2:
            continue  # a sentence of one word ("Yes!"): draw again
        pronoun = ("he", "she", "it", "they")[rng.integers(4)]
        answer = candidates[answers[len(blocks)]]
        blocks.append(f"{before} because {pronoun} {after}\n{pronoun}\n{','.join(candidates)}\n{answer}\n")
    with _text_out(path) as f:
        f.write("\n".join(blocks))


def _distinct_words(sentence: str) -> list[str]:
    """The sentence's words (letters only, so never a comma), without repeats in any case, in order."""
    first_spelling: dict[str, str] = {}
    for word in re.findall(r"[A-Za-z]+", sentence):
        first_spelling.setdefault(word.casefold(), word)
    return list(first_spelling.values())


WRITERS: dict[str, Callable[..., None]] = {
    "tsv": write_tsv,
    "jsonl": write_snli,
    "race": write_race,
    "story_cloze": write_story_cloze,
    "dprd": write_dprd,
}

# --------------------------------------------------------------------------------------------------
# The stand-in mirror


@dataclass(frozen=True)
class StandIn:
    """A part the source mirror lacks or holds as a slice (`found` rows, RACE: questions), to be written with
    `rows`."""

    task: Task
    part: Part
    rows: int
    found: int

    @property
    def path(self) -> Path:
        """Relative to the mirror's root."""
        return Path(self.task.folder) / self.part.path


def source_rows(path: Path, task: Task) -> int:
    """The rows a mirror's part holds (RACE: questions; SNLI: lines, those without a gold label too); 0 when
    it is not there."""
    if not part_exists(path, task):
        return 0
    if task.format.reader == "jsonl":
        with open(path, encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())
    return sum(1 for _ in read_part(path, task))


def plan_standins(mirror: Path, counts: Mapping[tuple[str, str], int]) -> list[StandIn]:
    """The registered parts (each once: Story Cloze's train and dev share a file) that `mirror` holds with
    fewer rows than `counts` says."""
    planned = []
    for task in (TASKS | ZERO_SHOT_TASKS).values():
        parts = {part.path: part for split in task.splits for part in split.parts}
        for part in parts.values():
            rows = counts[task.id, part.path]
            found = source_rows(mirror / task.folder / part.path, task)
            if found < rows:
                planned.append(StandIn(task, part, rows, found))
    return planned


def build_standin_mirror(
    out: Path, mirror: Path, seed: int = 0, counts: Mapping[tuple[str, str], int] | None = None
) -> list[StandIn]:
    """Write the stand-in mirror of `mirror` at `out` (see the module docstring) and return its stand-ins.

    `counts`: rows per (task id, part path), over OFFICIAL_ROWS (tests make them small). `out` is built in a
    temporary folder beside it and swapped in; an existing `out` must be empty or an earlier stand-in mirror,
    which is replaced. Each part's text depends only on the seed, the part and the books. ValueError for an
    `out` inside the mirror (or around it), a non-empty `out`, or a mirror without books where text is needed.
    """
    started = time.perf_counter()
    mirror, out = Path(mirror).resolve(), Path(out).resolve()
    _check_folders(mirror, out)
    planned = plan_standins(mirror, OFFICIAL_ROWS | dict(counts or {}))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would hide the mirror from other users
    try:
        links = _link_tree(mirror, tmp, skip={standin.path for standin in planned})
        pool = SentencePool.from_books(mirror / BOOKS) if planned else None
        for standin in planned:
            _write_standin(tmp, standin, pool, seed)
        _write_markers(tmp, planned, mirror, seed)
        written = sum(path.stat().st_size for path in tmp.rglob("*") if path.is_file() and not path.is_symlink())
        _swap_in(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already once swapped in
    log.info(
        "%s: %d stand-ins (%.0f MB) and %d links to %s, in %.1f s",
        out,
        len(planned),
        written / 1e6,
        links,
        mirror,
        time.perf_counter() - started,
    )
    return planned


def _check_folders(mirror: Path, out: Path) -> None:
    if not mirror.is_dir():
        raise ValueError(f"the source mirror {mirror} is not a directory")
    if out.is_relative_to(mirror) or mirror.is_relative_to(out):
        raise ValueError(f"{out} and the source mirror {mirror} must not hold one another; choose another OUT")
    if is_standin_mirror(mirror):
        raise ValueError(f"{mirror} is itself a stand-in mirror; pass the mirror it was made from")
    if out.exists() and not is_standin_mirror(out) and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is neither empty nor an earlier stand-in mirror; choose another OUT")


def is_standin_mirror(folder: Path) -> bool:
    """Whether `folder` was written by this module (its UNOFFICIAL starts with our note)."""
    marker = Path(folder) / UNOFFICIAL
    return marker.is_file() and marker.read_text(encoding="utf-8").startswith(UNOFFICIAL_NOTE)


def _link_tree(mirror: Path, root: Path, skip: set[Path]) -> int:
    """Recreate the mirror's folders under `root` and symlink each of its files, except those at or under
    `skip` (the stand-ins) and the mirror's own UNOFFICIAL (ours replaces it). Returns the links made."""
    links = 0
    for path in sorted(mirror.rglob("*")):
        relative = path.relative_to(mirror)
        if relative == Path(UNOFFICIAL) or any(relative == s or s in relative.parents for s in skip):
            continue
        if path.is_dir():
            (root / relative).mkdir(parents=True, exist_ok=True)
        else:
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).symlink_to(path)
            links += 1
    return links


def _write_standin(root: Path, standin: StandIn, pool: SentencePool, seed: int) -> None:
    # One generator per part, seeded by the seed and the part's path: a part's bytes do not depend on which
    # other parts the mirror lacks.
    rng = np.random.default_rng([seed, zlib.crc32(str(standin.path).encode())])
    task, part = standin.task, standin.part
    WRITERS[task.format.reader](root / standin.path, task, part, standin.rows, pool, rng)
    unit = "questions" if task.format.reader == "race" else "rows"
    replaces = f"the mirror's {standin.found:,}" if standin.found else "a missing part"
    log.info("%s: %s %s, in place of %s", standin.path, f"{standin.rows:,}", unit, replaces)


def _write_markers(root: Path, planned: list[StandIn], mirror: Path, seed: int) -> None:
    (root / UNOFFICIAL).write_text(
        f"{UNOFFICIAL_NOTE}\nThe files each task folder's {STANDIN} lists were generated from book sentences at the "
        f"official row counts (seed {seed}); every other file links to {mirror}.\n",
        encoding="utf-8",
    )
    by_folder: dict[str, list[str]] = {}
    for standin in planned:
        by_folder.setdefault(standin.task.folder, []).append(standin.part.path)
    for folder, paths in by_folder.items():
        marker = root / folder / STANDIN
        marker.unlink(missing_ok=True)  # a link to a file of that name in the mirror: never write through it
        marker.write_text("\n".join([STANDIN_NOTE, *paths]) + "\n", encoding="utf-8")


def _swap_in(new: Path, out: Path) -> None:
    """Move the folder `new` to `out`, replacing an earlier one (the old is removed once the new is there)."""
    if not out.exists():
        os.replace(new, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.replace(out, old / out.name)
    try:
        os.replace(new, out)
    except OSError:
        os.replace(old / out.name, out)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.standin", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the stand-in mirror to write (empty, new, or an earlier one)")
    parser.add_argument("--mirror", type=Path, help=f"the partial mirror to complete (default: ${MIRROR_ENV})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the stand-ins' text and labels (default 0)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    mirror = args.mirror or os.environ.get(MIRROR_ENV)
    if not mirror:
        sys.exit(f"standin: no source mirror: pass --mirror DIR or set {MIRROR_ENV}")
    try:
        build_standin_mirror(args.out, Path(mirror), args.seed)
    except ValueError as error:
        sys.exit(f"standin: {error}")


if __name__ == "__main__":
    main()
