"""Read the tasks' files in their original formats into Examples.

Every reader streams its file and checks each row: a malformed one (wrong number of fields, a label not in
the task's label set, a score that is not a number, a line that is not JSON) raises ValueError naming the
file, the line (1-based, as an editor shows it) and what is wrong. RACE documents are checked question by
question; their errors name the file and the question's number in it. DPRD's reader is gpt1.tasks.dprd.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import random
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import numpy as np

from gpt1.tasks.dprd import read_dprd
from gpt1.tasks.registry import get_task, where_to_get
from gpt1.tasks.spec import Example, Format, Resplit, Task, TaskDataMissing

log = logging.getLogger(__name__)

# The Story Cloze CSV columns (the 2016 validation and test files share the header).
STORY_SENTENCES = tuple(f"InputSentence{k}" for k in range(1, 5))
STORY_ENDINGS = ("RandomFifthSentenceQuiz1", "RandomFifthSentenceQuiz2")
STORY_ANSWER = "AnswerRightEnding"


class _RowError(Exception):
    """What is wrong with one row; the reader adds the file and line."""


def _malformed(path: Path, line: int, what: str) -> ValueError:
    return ValueError(f"{path}, line {line}: {what}")


def _not_utf8(path: Path, err: UnicodeDecodeError) -> ValueError:
    """The error naming the line of the file's first byte that is not UTF-8: the text layer decodes ahead in
    blocks, so the row being read when it fails is an earlier one."""
    with open(path, "rb") as f:
        for line, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as bad:
                return _malformed(path, line, f"not UTF-8 text ({bad.reason})")
    return ValueError(f"{path}: not UTF-8 text ({err.reason})")


@contextmanager
def _open_text(path: Path) -> Iterator[TextIO]:
    """Open a UTF-8 text file for the csv module; a leading BOM (GLUE's MRPC files) is dropped."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        yield f


def _parse_label(raw: str, fmt: Format, labels: tuple[str, ...] | None) -> int | float:
    """A label as the file writes it -> an index into `labels`, or a float score."""
    if fmt.label_type == "score":
        try:
            score = float(raw)
        except ValueError:
            raise _RowError(f"score {raw!r} is not a number") from None
        if not math.isfinite(score):
            raise _RowError(f"score {raw!r} is not a finite number")
        if fmt.score_range and not fmt.score_range[0] <= score <= fmt.score_range[1]:
            raise _RowError(f"score {raw!r} is outside {fmt.score_range[0]:g}-{fmt.score_range[1]:g}")
        return score
    assert labels is not None, "a classification format needs label names"
    if fmt.label_type == "index":
        if raw.isascii() and raw.isdigit() and int(raw) < len(labels):
            return int(raw)
        raise _RowError(f"label {raw!r} is not one of 0..{len(labels) - 1}")
    if raw in labels:
        return labels.index(raw)
    raise _RowError(f"label {raw!r} is not one of {', '.join(labels)}")


def _csv_rows(path: Path, rows: Iterable[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, row) for each non-blank row of a csv reader; decoding and csv errors
    become ValueErrors naming the file and line."""
    end = 0  # the line the previous row ended on
    try:
        for row in rows:
            start, end = end + 1, rows.line_num  # type: ignore[attr-defined]
            if row:
                yield start, row
    except UnicodeDecodeError as err:
        raise _not_utf8(path, err) from None
    except csv.Error as err:
        raise _malformed(path, end + 1, str(err)) from None


def _column(header: list[str], name: str | int, path: Path, line: int) -> int:
    if name in header:
        return header.index(name)  # type: ignore[arg-type]
    raise _malformed(path, line, f"the header has no column {name!r} (columns: {', '.join(header)})")


def read_tsv(path: Path, fmt: Format, labels: tuple[str, ...] | None, subset: str = "") -> Iterator[Example]:
    """Examples of a tab-separated file (GLUE, SciTail's tsv_format).

    Read with quoting off: quote characters are ordinary text (GLUE sentences contain unbalanced ones).
    With a header, the columns are chosen by name and every row must have as many fields as the header;
    without one, `fmt` gives 0-based column indices and the exact field count.
    """
    path = Path(path)
    with _open_text(path) as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        n_fields = columns = None
        if not fmt.header:
            n_fields = fmt.n_columns
            columns = (fmt.text, fmt.text_b, fmt.label)
        for line, row in _csv_rows(path, reader):
            if n_fields is None:  # the header
                n_fields = len(row)
                names = (fmt.text, fmt.text_b, fmt.label)
                columns = tuple(None if name is None else _column(row, name, path, line) for name in names)
                continue
            if len(row) != n_fields:
                raise _malformed(path, line, f"{len(row)} tab-separated fields, expected {n_fields}")
            text, text_b, label = columns  # type: ignore[misc]
            try:
                value = _parse_label(row[label], fmt, labels)
            except _RowError as err:
                raise _malformed(path, line, str(err)) from None
            yield Example(row[text], None if text_b is None else row[text_b], label=value, subset=subset)


def read_jsonl(path: Path, fmt: Format, labels: tuple[str, ...] | None, subset: str = "") -> Iterator[Example]:
    """Examples of a JSON-lines file (SNLI, MultiNLI): `fmt` names the keys; rows whose label is in
    `fmt.drop_labels` (SNLI's "-", no annotator majority) are skipped."""
    path = Path(path)
    keys = [key for key in (fmt.text, fmt.text_b, fmt.label) if key is not None]
    with open(path, encoding="utf-8-sig") as f:
        try:
            for line, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw)
                except json.JSONDecodeError as err:
                    raise _malformed(path, line, f"not valid JSON ({err.msg})") from None
                if not isinstance(row, dict):
                    raise _malformed(path, line, "not a JSON object")
                missing = [str(key) for key in keys if not isinstance(row.get(key), str)]
                if missing:
                    raise _malformed(path, line, f"no text value for {', '.join(missing)}")
                if row[fmt.label] in fmt.drop_labels:
                    continue
                try:
                    value = _parse_label(row[fmt.label], fmt, labels)
                except _RowError as err:
                    raise _malformed(path, line, str(err)) from None
                text_b = None if fmt.text_b is None else row[fmt.text_b]
                yield Example(row[fmt.text], text_b, label=value, subset=subset)
        except UnicodeDecodeError as err:
            raise _not_utf8(path, err) from None


def _file_order(path: Path) -> tuple[int, str]:
    """Numeric file names (RACE's 1.txt, 2.txt, ... 10.txt) in numeric order, others after, by name."""
    return (int(path.stem), path.name) if path.stem.isdigit() else (1 << 62, path.name)


def read_race_file(path: Path, labels: tuple[str, ...], subset: str = "") -> Iterator[Example]:
    """One Example per question of a RACE document (one JSON object with "article", "questions",
    "options", "answers").

    text = the article and the question joined by one space; choices = the question's 4 options;
    label = the answer letter's index ("A" -> 0).
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason})") from None
    except json.JSONDecodeError as err:
        raise _malformed(path, err.lineno, f"not a JSON document ({err.msg})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}, line 1: not a JSON object")
    missing = [key for key in ("article", "questions", "options", "answers") if key not in doc]
    if missing:
        raise ValueError(f"{path}: no {', '.join(missing)} in the document")
    article, questions, options, answers = doc["article"], doc["questions"], doc["options"], doc["answers"]
    if not (isinstance(questions, list) and isinstance(options, list) and isinstance(answers, list)):
        raise ValueError(f"{path}: questions, options and answers must be lists")
    if not len(questions) == len(options) == len(answers):
        raise ValueError(f"{path}: {len(questions)} questions, {len(options)} option lists and {len(answers)} answers")
    for number, (question, choices, answer) in enumerate(zip(questions, options, answers), 1):
        if not isinstance(choices, list) or len(choices) != len(labels):
            count = len(choices) if isinstance(choices, list) else "no list of"
            raise ValueError(f"{path}, question {number}: {count} options, expected {len(labels)}")
        if answer not in labels:
            raise ValueError(f"{path}, question {number}: answer {answer!r} is not one of {', '.join(labels)}")
        yield Example(f"{article} {question}", choices=tuple(choices), label=labels.index(answer), subset=subset)


def read_race(folder: Path, labels: tuple[str, ...], subset: str = "") -> Iterator[Example]:
    """The questions of every .txt document in a RACE folder (e.g. RACE/dev/middle), in file-name order."""
    for path in sorted(Path(folder).glob("*.txt"), key=_file_order):
        yield from read_race_file(path, labels, subset)


def read_story_cloze(path: Path, labels: tuple[str, ...], subset: str = "") -> Iterator[Example]:
    """Examples of a Story Cloze CSV (2016 validation or test: InputStoryid, InputSentence1-4,
    RandomFifthSentenceQuiz1-2, AnswerRightEnding).

    text = the four sentences joined by spaces; choices = the two endings; label = AnswerRightEnding - 1.
    """
    path = Path(path)
    with _open_text(path) as f:
        columns: dict[str, int] | None = None
        n_fields = 0
        for line, row in _csv_rows(path, csv.reader(f)):
            if columns is None:
                n_fields = len(row)
                names = (*STORY_SENTENCES, *STORY_ENDINGS, STORY_ANSWER)
                columns = {name: _column(row, name, path, line) for name in names}
                continue
            if len(row) != n_fields:
                raise _malformed(path, line, f"{len(row)} comma-separated fields, expected {n_fields}")
            answer = row[columns[STORY_ANSWER]]
            if answer not in labels:
                raise _malformed(path, line, f"{STORY_ANSWER} {answer!r} is not one of {', '.join(labels)}")
            yield Example(
                " ".join(row[columns[name]] for name in STORY_SENTENCES),
                choices=tuple(row[columns[name]] for name in STORY_ENDINGS),
                label=labels.index(answer),
                subset=subset,
            )


def read_part(path: Path, task: Task, subset: str = "") -> Iterator[Example]:
    """The examples of one file (RACE: one folder) of `task`, read with the task's format."""
    fmt = task.format
    if fmt.reader == "tsv":
        return read_tsv(path, fmt, task.labels, subset)
    if fmt.reader == "jsonl":
        return read_jsonl(path, fmt, task.labels, subset)
    if fmt.reader == "race":
        return read_race(path, task.labels or (), subset)
    if fmt.reader == "story_cloze":
        return read_story_cloze(path, task.labels or (), subset)
    if fmt.reader == "dprd":
        return read_dprd(path, subset)
    raise ValueError(f"task {task.id!r}: unknown reader {fmt.reader!r}")


def part_exists(path: Path, task: Task) -> bool:
    """Whether a split's file is there (RACE: a folder holding at least one .txt document)."""
    path = Path(path)
    if task.format.reader == "race":
        return path.is_dir() and any(path.glob("*.txt"))
    return path.is_file()


def seeded_sample(examples: list, n: int, seed: int) -> list:
    """A seeded sample of `n` examples (all of them when n is 0 or too large), in their original order."""
    if not n or n >= len(examples):
        return examples
    keep = sorted(random.Random(seed).sample(range(len(examples)), n))
    return [examples[i] for i in keep]


def resplit(examples: list[Example], spec: Resplit) -> list[Example]:
    """The released code's seeded train/dev cut of one file's examples (see Resplit), in file order."""
    n = len(examples)
    n_dev = -(-n * spec.n_dev // spec.n_total)  # ceil, in integers
    order = np.random.RandomState(spec.seed).permutation(n)
    chosen = order[:n_dev] if spec.take == "dev" else order[n_dev:]
    return [examples[i] for i in sorted(chosen.tolist())]


def read_split(task_id: str, split: str, data_dir: Path) -> list[Example]:
    """All examples of a task's labelled split ("train", "dev" or "test") under `data_dir`.

    A split of several parts (MNLI dev: matched then mismatched; RACE: middle then high) is their
    concatenation, each Example's `subset` naming its part. Raises ValueError for an unknown task or a
    split without labels (GLUE test), TaskDataMissing when a file is not there, ValueError for a
    malformed row or a split without examples.
    """
    task = get_task(task_id)
    spec = task.split(split)
    folder = Path(data_dir) / task.folder
    for part in spec.parts:
        if not part_exists(folder / part.path, task):
            raise TaskDataMissing(f"{folder / part.path} is missing ({task.name} {split}); {where_to_get(task)}")
    examples: list[Example] = []
    for part in spec.parts:
        examples.extend(read_part(folder / part.path, task, part.subset))
    if not examples:
        raise ValueError(
            f"{', '.join(str(folder / part.path) for part in spec.parts)}: no {task.name} {split} examples "
            "(an empty file, or a header only); restore the file from the task's archive"
        )
    if spec.resplit is not None:
        examples = resplit(examples, spec.resplit)
    log.debug("%s %s: %d examples from %s", task.id, split, len(examples), folder)
    return examples


def available_splits(task_id: str, data_dir: Path) -> list[str]:
    """The task's labelled splits whose files are all present under `data_dir`, in train/dev/test order.

    Presence only: a file that holds a few rows (a format sample in a partial mirror) counts as present.
    """
    task = get_task(task_id)
    folder = Path(data_dir) / task.folder
    return [split.name for split in task.splits if all(part_exists(folder / part.path, task) for part in split.parts)]
