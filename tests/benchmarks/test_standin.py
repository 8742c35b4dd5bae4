"""benchmarks.standin: a stand-in mirror made from the task fixtures and the fixture books, with small row
counts; and, where ../shared/data is there, one task at its official size."""

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.standin import (
    OFFICIAL_ROWS,
    RACE_PASSAGES,
    SNLI_NO_GOLD,
    STANDIN_NOTE,
    build_standin_mirror,
    is_standin_mirror,
    main,
    source_rows,
    tsv_header,
)
from conftest import FIXTURES, SHARED_DATA
from gpt1.download import MIRROR_ENV
from gpt1.tasks import TASKS, ZERO_SHOT_TASKS, download_task, read_split
from gpt1.tasks.data import STANDIN, UNOFFICIAL, standin_files, verify_copy
from gpt1.tasks.readers import part_exists, read_part
from gpt1.tasks.registry import STORY_CLOZE_TEST, STORY_CLOZE_VAL

ALL_TASKS = TASKS | ZERO_SHOT_TASKS
PARTS = {(task.id, part.path): (task, part) for task in ALL_TASKS.values() for s in task.splits for part in s.parts}

# 12 rows a part, more than any fixture holds, except where the fixture holds as many (those are linked).
SMALL = dict.fromkeys(OFFICIAL_ROWS, 12) | {
    ("sst2", "train.tsv"): 4,
    ("story_cloze", STORY_CLOZE_VAL): 10,
    ("dprd", "test.c.txt"): 6,
    ("snli", "snli_1.0_dev.jsonl"): 1_000,  # enough for some rows without a gold label: round(1000 * 158 / 10000)
}
COMPLETE_FIXTURES = {"glue/SST-2/train.tsv", f"story_cloze/{STORY_CLOZE_VAL}", "DPRD/test.c.txt"}
SNLI_DEV_NO_GOLD = 16


def small_mirror(root: Path) -> Path:
    """The task fixtures and the fixture books, laid out as a mirror."""
    mirror = root / "mirror"
    shutil.copytree(FIXTURES / "tasks", mirror)
    shutil.copytree(FIXTURES / "books", mirror / "books" / "british-novels")
    return mirror


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(source mirror, stand-in mirror, its stand-ins), built once for the module."""
    root = tmp_path_factory.mktemp("standin")
    mirror = small_mirror(root)
    standins = build_standin_mirror(root / "out", mirror, seed=3, counts=SMALL)
    return mirror, root / "out", standins


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def test_the_tables_cover_every_registered_part():
    assert set(OFFICIAL_ROWS) == set(PARTS)
    assert set(RACE_PASSAGES) == {path for task_id, path in PARTS if task_id == "race"}
    assert set(SNLI_NO_GOLD) == {path for task_id, path in PARTS if task_id == "snli"}
    # the brief's totals: RACE's questions and passages by split
    for split, questions, passages in (("train", 87_866, 25_137), ("dev", 4_887, 1_389), ("test", 4_934, 1_407)):
        assert OFFICIAL_ROWS["race", f"{split}/middle"] + OFFICIAL_ROWS["race", f"{split}/high"] == questions
        assert RACE_PASSAGES[f"{split}/middle"] + RACE_PASSAGES[f"{split}/high"] == passages


def test_short_and_missing_parts_get_standins(built):
    mirror, out, standins = built
    expected = {str(Path(task.folder) / part.path) for task, part in PARTS.values()} - COMPLETE_FIXTURES
    assert {str(standin.path) for standin in standins} == expected
    qnli_train = next(s for s in standins if str(s.path) == "glue/QNLI/train.tsv")
    assert qnli_train.found == 2 and qnli_train.rows == 12  # a slice of the fixture, replaced
    assert not (mirror / "snli_1.0" / "snli_1.0_test.jsonl").exists()  # a missing part, written
    for standin in standins:
        assert all(not path.is_symlink() for path in [out / standin.path, *files_under(out / standin.path)])


def test_every_other_file_links_to_the_mirror(built):
    mirror, out, standins = built
    replaced = {mirror / standin.path for standin in standins}
    for source in files_under(mirror):
        if source == mirror / UNOFFICIAL or replaced & {source, *source.parents}:
            continue
        link = out / source.relative_to(mirror)
        assert link.is_symlink() and link.resolve() == source.resolve(), link
    assert (out / "glue" / "SST-2").is_dir() and not (out / "glue" / "SST-2").is_symlink()


def test_standins_read_back_with_the_rows_asked_for(built):
    _, out, standins = built
    for standin in standins:
        task, part = standin.task, standin.part
        examples = list(read_part(out / standin.path, task, part.subset))
        if task.id == "snli":  # a row without a gold label is read past
            lines = (out / standin.path).read_text(encoding="utf-8").splitlines()
            assert len(lines) == standin.rows == SMALL[task.id, part.path]
            unlabelled = SNLI_DEV_NO_GOLD if part.path == "snli_1.0_dev.jsonl" else 0
            assert sum('"gold_label": "-"' in line for line in lines) == unlabelled
            assert len(examples) == standin.rows - unlabelled
        else:
            assert len(examples) == standin.rows == SMALL[task.id, part.path], standin.path
        if task.labels is None:
            assert all(0.0 <= example.label <= 5.0 for example in examples)
        else:
            assert {example.label for example in examples} == set(range(len(task.labels))), standin.path
    for task in ALL_TASKS.values():
        for split in task.split_names:
            assert read_split(task.id, split, out)


def test_race_questions_are_spread_over_passages(built):
    _, out, _ = built
    folder = out / "RACE" / "train" / "middle"  # 12 questions, about 3.97 a passage as in the official split
    documents = [json.loads((folder / f"{n}.txt").read_text(encoding="utf-8")) for n in (1, 2, 3)]
    assert sorted(path.name for path in folder.iterdir()) == ["1.txt", "2.txt", "3.txt"]
    assert [len(doc["questions"]) for doc in documents] == [4, 4, 4]
    assert list(documents[0]) == ["answers", "options", "questions", "article", "id"]
    assert documents[0]["id"] == "middle1.txt" and all(len(options) == 4 for options in documents[0]["options"])


def test_markers_say_what_is_a_standin(built):
    _, out, standins = built
    assert is_standin_mirror(out)
    by_folder = {}
    for standin in standins:
        by_folder.setdefault(standin.task.folder, []).append(standin.part.path)
    assert {str(path.parent.relative_to(out)) for path in out.rglob(STANDIN)} == set(by_folder)
    for folder, paths in by_folder.items():
        first, *listed = (out / folder / STANDIN).read_text(encoding="utf-8").splitlines()
        assert first == STANDIN_NOTE and listed == paths


def test_the_pipeline_copies_a_standin_unverified(built, monkeypatch, tmp_path):
    _, out, _ = built
    monkeypatch.setenv(MIRROR_ENV, str(out))
    folder = download_task("qnli", tmp_path / "data")
    assert not (folder / "train.tsv").is_symlink()
    assert len(read_split("qnli", "train", tmp_path / "data")) == 12
    assert verify_copy("qnli", folder) is False
    assert standin_files(folder) == (out / "glue" / "QNLI" / STANDIN).read_text().splitlines()[1:]
    assert "train.tsv" in standin_files(folder)
    # Story Cloze is copied file by file (gpt1.tasks.data._copy_registered): its marker comes along
    cloze = download_task("story_cloze", tmp_path / "data")
    assert standin_files(cloze) == [STORY_CLOZE_TEST]
    assert standin_files(FIXTURES / "tasks" / "glue" / "CoLA") == []  # real data: no marker


def test_the_same_seed_writes_the_same_bytes(built, tmp_path):
    mirror, out, standins = built
    again = build_standin_mirror(tmp_path / "again", mirror, seed=3, counts=SMALL)
    other = build_standin_mirror(tmp_path / "other", mirror, seed=4, counts=SMALL)
    assert again == standins
    differ = False
    for standin in standins:
        for path in files_under(out / standin.path):
            twin = tmp_path / "again" / path.relative_to(out)
            assert twin.read_bytes() == path.read_bytes(), path
            differ |= (tmp_path / "other" / path.relative_to(out)).read_bytes() != path.read_bytes()
    assert differ and len(other) == len(standins)


def test_no_fixture_text_in_a_standin(built):
    mirror, out, standins = built
    fixture_texts = set()
    for task, part in PARTS.values():
        path = mirror / task.folder / part.path
        if part_exists(path, task):
            for example in read_part(path, task, part.subset):
                fixture_texts |= {text for text in (example.text, example.text_b, *example.choices) if text}
    for document in (mirror / "RACE").rglob("*.txt"):
        fixture_texts.add(json.loads(document.read_text(encoding="utf-8"))["article"])
    fixture_texts = {text for text in fixture_texts if len(text.split()) >= 3}  # not DPRD's pronouns
    written = "\n".join(path.read_text(encoding="utf-8") for s in standins for path in files_under(out / s.path))
    assert fixture_texts and not [text for text in fixture_texts if text in written]


def test_an_earlier_standin_mirror_is_rebuilt(tmp_path):
    mirror = small_mirror(tmp_path)
    out = tmp_path / "out"
    build_standin_mirror(out, mirror, seed=1, counts=SMALL)
    (out / "stray.txt").write_text("left over")
    build_standin_mirror(out, mirror, seed=2, counts=SMALL)
    assert not (out / "stray.txt").exists() and "(seed 2)" in (out / UNOFFICIAL).read_text()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".out.")]  # no temporary folder left


def test_refusals(built, tmp_path):
    mirror = small_mirror(tmp_path)
    with pytest.raises(ValueError, match="must not hold one another"):
        build_standin_mirror(mirror / "glue" / "out", mirror, counts=SMALL)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="neither empty nor an earlier stand-in mirror"):
        build_standin_mirror(tmp_path / "busy", mirror, counts=SMALL)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="itself a stand-in mirror"):
        build_standin_mirror(tmp_path / "fresh", built[1], counts=SMALL)
    (tmp_path / "empty").mkdir()
    build_standin_mirror(tmp_path / "empty", mirror, counts=SMALL)
    assert is_standin_mirror(tmp_path / "empty")


def test_the_command_line_says_what_is_wrong_in_one_line(monkeypatch, tmp_path):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    with pytest.raises(SystemExit) as no_mirror:
        main([str(tmp_path / "out")])
    assert MIRROR_ENV in str(no_mirror.value) and "\n" not in str(no_mirror.value)
    mirror = small_mirror(tmp_path)
    with pytest.raises(SystemExit) as inside:
        main([str(mirror / "out"), "--mirror", str(mirror)])
    assert str(inside.value).startswith("standin: ") and "\n" not in str(inside.value)


# --------------------------------------------------------------------------------------------------
# The real mirror (../shared/data), where it is there

needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"no real data at {SHARED_DATA}")

# Parts the mirror holds complete (its README): their rows are the table's.
COMPLETE_IN_SHARED = [key for key in OFFICIAL_ROWS if key[0] in ("cola", "sst2", "mrpc", "stsb", "rte", "dprd")]
COMPLETE_IN_SHARED += [("qnli", "dev.tsv"), ("race", "dev/middle"), ("race", "dev/high")]
COMPLETE_IN_SHARED += [key for key in OFFICIAL_ROWS if key[0] == "story_cloze"]


@needs_shared
@pytest.mark.parametrize("task_id, path", COMPLETE_IN_SHARED)
def test_the_table_counts_the_real_files(task_id, path):
    task, _ = PARTS[task_id, path]
    assert source_rows(SHARED_DATA / task.folder / path, task) == OFFICIAL_ROWS[task_id, path]


@needs_shared
def test_the_headers_are_the_real_files():
    for (task_id, path), (task, _) in PARTS.items():
        real = SHARED_DATA / task.folder / path
        if task.format.reader == "tsv" and real.is_file():
            with open(real, encoding="utf-8-sig") as f:
                first = f.readline().rstrip("\n").split("\t")
            header = tsv_header(task_id, path)
            assert (first == list(header)) if task.format.header else (len(first) == len(header)), real


@needs_shared
def test_scitail_at_its_official_size_from_the_real_mirror(tmp_path):
    """SciTail at full size, every other part at one row (so the real ones are linked, the missing ones one row)."""
    scitail = {key: rows for key, rows in OFFICIAL_ROWS.items() if key[0] == "scitail"}
    counts = dict.fromkeys(OFFICIAL_ROWS, 1) | scitail
    out = tmp_path / "out"
    standins = build_standin_mirror(out, SHARED_DATA, seed=0, counts=counts)
    assert {(s.task.id, s.part.path) for s in standins if s.task.id == "scitail"} == set(scitail)
    for split, rows in zip(("train", "dev", "test"), scitail.values()):
        assert len(read_split("scitail", split, out)) == rows
    assert (out / "glue" / "SST-2" / "train.tsv").is_symlink()
    # The stand-ins' keys are the real files' (SNLI's lines, RACE's documents)
    real_snli = json.loads((SHARED_DATA / "snli_1.0" / "snli_1.0_dev.jsonl").open().readline())
    standin_snli = json.loads((out / "snli_1.0" / "snli_1.0_train.jsonl").open().readline())
    assert list(standin_snli) == list(real_snli)
    real_race = json.loads(next((SHARED_DATA / "RACE" / "dev" / "high").glob("*.txt")).read_text())
    standin_race = json.loads((out / "RACE" / "train" / "high" / "1.txt").read_text())
    assert list(standin_race) == list(real_race)
