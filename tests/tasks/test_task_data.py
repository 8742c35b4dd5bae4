"""download_task through a real local HTTP server, safe zip extraction, the mirror, and Story Cloze."""

from __future__ import annotations

import dataclasses
import filecmp
import hashlib
import io
import json
import tarfile
import zipfile

import pytest

from conftest import FIXTURES as FIXTURES_DIR
from conftest import SHARED_DATA
from gpt1 import cli, download
from gpt1.download import DownloadError
from gpt1.tasks import TASKS, ZERO_SHOT_TASKS, TaskDataMissing, available_splits, download_task, read_split
from gpt1.tasks.data import extract_zip, origin, verify_copy
from gpt1.tasks.registry import STORY_CLOZE_REGISTRATION, STORY_CLOZE_TEST, STORY_CLOZE_VAL
from gpt1.tasks.spec import STORY_CLOZE_ENV, Source

FIXTURES = FIXTURES_DIR / "tasks"


@pytest.fixture(autouse=True)
def no_mirror_no_wait(monkeypatch):
    monkeypatch.delenv(download.MIRROR_ENV, raising=False)
    monkeypatch.delenv(STORY_CLOZE_ENV, raising=False)
    monkeypatch.setattr(download, "RETRY_DELAY_S", 0.0)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pin(monkeypatch, task_id: str, *sources: Source) -> None:
    monkeypatch.setitem(TASKS, task_id, dataclasses.replace(TASKS[task_id], sources=sources))


def _fixture_members(folder: str, archive_root: str) -> dict[str, bytes]:
    return {
        f"{archive_root}/{path.relative_to(FIXTURES / folder).as_posix()}": path.read_bytes()
        for path in sorted((FIXTURES / folder).rglob("*"))
        if path.is_file()
    }


# --------------------------------------------------------------------------------------------------
# Archives over HTTP


def test_download_task_fetches_verifies_and_extracts(serve, monkeypatch, tmp_path):
    body = _zip({**_fixture_members("glue/CoLA", "CoLA"), "__MACOSX/._junk": b"x"})
    _pin(monkeypatch, "cola", Source(serve("/glue/CoLA.zip", body), _sha(body), "CoLA.zip"))

    folder = download_task("cola", tmp_path)
    assert folder == tmp_path / "glue" / "CoLA"
    assert (folder / "train.tsv").read_bytes() == (FIXTURES / "glue/CoLA/train.tsv").read_bytes()
    assert read_split("cola", "dev", tmp_path) == read_split("cola", "dev", FIXTURES)
    assert available_splits("cola", tmp_path) == ["train", "dev"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["downloads", "glue"]  # no temporary left over
    assert (tmp_path / "downloads" / "CoLA.zip").read_bytes() == body

    assert download_task("cola", tmp_path) == folder  # the same pinned archive: reused, not fetched again
    assert serve.hits["/glue/CoLA.zip"] == 1


def test_download_task_tar_archive(serve, monkeypatch, tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in _fixture_members("RACE", "RACE").items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    body = buffer.getvalue()
    _pin(monkeypatch, "race", Source(serve("/RACE.tar.gz", body), _sha(body), "RACE.tar.gz"))

    assert download_task("race", tmp_path) == tmp_path / "RACE"
    assert read_split("race", "dev", tmp_path) == read_split("race", "dev", FIXTURES)


def test_download_task_checksum_mismatch_leaves_nothing(serve, monkeypatch, tmp_path):
    body = _zip(_fixture_members("glue/RTE", "RTE"))
    _pin(monkeypatch, "rte", Source(serve("/RTE.zip", body), "0" * 64, "RTE.zip"))
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_task("rte", tmp_path)
    assert not (tmp_path / "glue").exists()
    assert list((tmp_path / "downloads").iterdir()) == []


def test_download_task_archive_without_the_task_folder(serve, monkeypatch, tmp_path):
    body = _zip({"Something/else.tsv": b"x\n"})
    _pin(monkeypatch, "rte", Source(serve("/RTE.zip", body), _sha(body), "RTE.zip"))
    with pytest.raises(DownloadError, match="holds no folder RTE/"):
        download_task("rte", tmp_path)
    assert not (tmp_path / "glue").exists()


def test_mrpc_is_built_from_the_microsoft_files(serve, monkeypatch, tmp_path):
    sources = []
    for source in TASKS["mrpc"].sources:
        data = (FIXTURES / "glue" / "MRPC" / source.filename).read_bytes()
        sources.append(Source(serve(f"/mrpc/{source.filename}", data), _sha(data), source.filename))
    _pin(monkeypatch, "mrpc", *sources)

    folder = download_task("mrpc", tmp_path)
    # GLUE's format_mrpc: the header (BOM included) on train and dev, rows by dev id, "\n" line ends.
    for name in ("train.tsv", "dev.tsv"):
        assert (folder / name).read_bytes() == (FIXTURES / "glue" / "MRPC" / name).read_bytes()
    assert (folder / "test.tsv").read_text(encoding="utf-8").splitlines() == [
        "index\t#1 ID\t#2 ID\t#1 String\t#2 String",
        "0\t201\t202\tThe library extended its hours .\tLibrary hours were extended .",
        "1\t203\t204\tA storm hit the coast .\tThe mayor spoke on Monday .",
    ]
    assert len(read_split("mrpc", "train", tmp_path)) == 3


def _pin_dprd(monkeypatch, serve, files: dict[str, bytes], sha256: dict[str, str] | None = None) -> None:
    """DPRD's sources served locally: `files` (name -> body), pinned by their sha256 (or `sha256`'s)."""
    sources = tuple(
        Source(serve(f"/emnlp12/{name}", body), (sha256 or {}).get(name, _sha(body)), name)
        for name, body in files.items()
    )
    monkeypatch.setitem(ZERO_SHOT_TASKS, "dprd", dataclasses.replace(ZERO_SHOT_TASKS["dprd"], sources=sources))


def test_dprd_is_fetched_as_its_authors_publish_it(serve, monkeypatch, tmp_path):
    files = {name: (FIXTURES / "DPRD" / name).read_bytes() for name in ("train.c.txt", "test.c.txt")}
    _pin_dprd(monkeypatch, serve, files)

    folder = download_task("dprd", tmp_path)
    assert folder == tmp_path / "DPRD"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files  # as served, nothing else
    assert available_splits("dprd", tmp_path) == ["train", "test"]
    assert read_split("dprd", "test", tmp_path) == read_split("dprd", "test", FIXTURES)
    assert origin("dprd") == "pinned files" and verify_copy("dprd", folder) is True

    assert download_task("dprd", tmp_path) == folder  # the pinned files are there: not fetched again
    assert serve.hits["/emnlp12/test.c.txt"] == 1


def test_dprd_that_differs_from_the_pinned_file_is_refused(serve, monkeypatch, tmp_path):
    body = (FIXTURES / "DPRD" / "test.c.txt").read_bytes()
    _pin_dprd(monkeypatch, serve, {"test.c.txt": body}, {"test.c.txt": "0" * 64})
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_task("dprd", tmp_path)
    assert not (tmp_path / "DPRD" / "test.c.txt").exists()


def test_the_download_task_stage_takes_dprd_from_the_mirror(monkeypatch, tmp_path, serve):
    """`gpt1 download-task --task dprd` as the workflow runs it, from a mirror of hand-written files."""
    monkeypatch.setenv(download.MIRROR_ENV, str(FIXTURES))
    monkeypatch.setenv("GPT1_TRACKING", "0")
    cli.main(["download-task", "--task", "dprd", "--out-dir", str(tmp_path / "dprd")])
    status = json.loads((tmp_path / "dprd" / "status.json").read_text())
    assert status["status"] == "ok" and status["splits"] == ["train", "test"]
    assert status["from"] == "mirror" and status["verified"] is False  # the fixtures say they are UNOFFICIAL
    assert status["sha256"]["test.c.txt"] == _sha((FIXTURES / "DPRD" / "test.c.txt").read_bytes())
    assert not serve.hits


# --------------------------------------------------------------------------------------------------
# extract_zip


@pytest.mark.parametrize("evil", ["../evil.txt", "/tmp/evil-absolute.txt", "ok/../../evil.txt", "C:/evil.txt"])
def test_extract_zip_refuses_members_outside_target(evil, tmp_path):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(_zip({"fine/a.txt": b"a", evil: b"gotcha"}))
    target = tmp_path / "out" / "target"
    with pytest.raises(DownloadError, match="refusing to extract"):
        extract_zip(archive, target)
    assert not target.exists()
    assert not (tmp_path / "out" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_extract_zip_replaces_target_and_rejects_garbage(tmp_path):
    target = tmp_path / "target"
    (target / "old").mkdir(parents=True)
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip({"A/x.txt": b"x"}))
    assert extract_zip(archive, target) == target
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == ["A", "A/x.txt"]

    archive.write_bytes(b"not a zip")
    with pytest.raises(DownloadError, match="cannot extract"):
        extract_zip(archive, target)
    assert (target / "A" / "x.txt").is_file()  # the old contents survive a failure


# --------------------------------------------------------------------------------------------------
# Mirror


def test_mirror_copies_the_task_folder(monkeypatch, tmp_path, serve):
    monkeypatch.setenv(download.MIRROR_ENV, str(FIXTURES))
    stale = tmp_path / "data" / "glue" / "CoLA" / "stale.tsv"
    stale.parent.mkdir(parents=True)
    stale.write_text("old\n")

    folder = download_task("cola", tmp_path / "data")
    assert folder == tmp_path / "data" / "glue" / "CoLA"
    assert not stale.exists()
    assert filecmp.cmp(folder / "train.tsv", FIXTURES / "glue" / "CoLA" / "train.tsv", shallow=False)
    assert read_split("cola", "train", tmp_path / "data") == read_split("cola", "train", FIXTURES)
    assert not serve.hits  # nothing was downloaded


def test_mirror_partial_and_missing(monkeypatch, tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "glue" / "QNLI").mkdir(parents=True)
    (mirror / "glue" / "QNLI" / "dev.tsv").write_bytes((FIXTURES / "glue" / "QNLI" / "dev.tsv").read_bytes())
    monkeypatch.setenv(download.MIRROR_ENV, str(mirror))

    download_task("qnli", tmp_path / "data")
    assert available_splits("qnli", tmp_path / "data") == ["dev"]
    with pytest.raises(TaskDataMissing, match="train.tsv is missing"):
        read_split("qnli", "train", tmp_path / "data")
    with pytest.raises(DownloadError, match="mirror folder .*glue/QQP not found"):
        download_task("qqp", tmp_path / "data")


def test_mirror_serves_mrpc_files_verified(monkeypatch, tmp_path):
    sources = [
        dataclasses.replace(s, sha256=_sha((FIXTURES / "glue" / "MRPC" / s.filename).read_bytes()))
        for s in TASKS["mrpc"].sources
    ]
    _pin(monkeypatch, "mrpc", *sources)
    monkeypatch.setenv(download.MIRROR_ENV, str(FIXTURES))
    folder = download_task("mrpc", tmp_path)
    assert (folder / "dev.tsv").read_bytes() == (FIXTURES / "glue" / "MRPC" / "dev.tsv").read_bytes()

    _pin(monkeypatch, "mrpc", *[dataclasses.replace(s, sha256="0" * 64) for s in sources])
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_task("mrpc", tmp_path / "other")


# --------------------------------------------------------------------------------------------------
# Story Cloze


def test_story_cloze_missing_says_where_to_register(tmp_path):
    with pytest.raises(TaskDataMissing) as err:
        download_task("story_cloze", tmp_path)
    message = str(err.value)
    assert STORY_CLOZE_REGISTRATION in message and STORY_CLOZE_ENV in message
    assert STORY_CLOZE_VAL in message and STORY_CLOZE_TEST in message
    assert "\n" not in message
    assert not (tmp_path / "story_cloze").exists()


def test_story_cloze_dir_is_honoured_before_the_mirror(monkeypatch, tmp_path):
    monkeypatch.setenv(download.MIRROR_ENV, str(tmp_path / "no-such-mirror"))
    monkeypatch.setenv(STORY_CLOZE_ENV, str(FIXTURES / "story_cloze"))
    folder = download_task("story_cloze", tmp_path / "data")
    assert folder == tmp_path / "data" / "story_cloze"
    assert sorted(p.name for p in folder.iterdir()) == sorted([STORY_CLOZE_TEST, STORY_CLOZE_VAL])
    assert available_splits("story_cloze", tmp_path / "data") == ["train", "dev", "test"]
    assert read_split("story_cloze", "test", tmp_path / "data") == read_split("story_cloze", "test", FIXTURES)


def test_story_cloze_dir_must_hold_both_files(monkeypatch, tmp_path):
    user_dir = tmp_path / "mine"
    user_dir.mkdir()
    (user_dir / STORY_CLOZE_VAL).write_bytes((FIXTURES / "story_cloze" / STORY_CLOZE_VAL).read_bytes())
    monkeypatch.setenv(STORY_CLOZE_ENV, str(user_dir))
    with pytest.raises(TaskDataMissing, match=STORY_CLOZE_TEST.replace(" ", "\\ ")):
        download_task("story_cloze", tmp_path / "data")


def test_story_cloze_from_the_mirror(monkeypatch, tmp_path):
    monkeypatch.setenv(download.MIRROR_ENV, str(FIXTURES))
    download_task("story_cloze", tmp_path)
    assert len(read_split("story_cloze", "dev", tmp_path)) == 2


# --------------------------------------------------------------------------------------------------
# The real mirror (../shared/data), where it is there


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"no real data at {SHARED_DATA}")
def test_real_mirror_mrpc_rebuilt_as_glue_does(monkeypatch, tmp_path):
    monkeypatch.setenv(download.MIRROR_ENV, str(SHARED_DATA))
    folder = download_task("mrpc", tmp_path)  # the pinned sha256s verify the mirror's Microsoft files
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        assert filecmp.cmp(folder / name, SHARED_DATA / "glue" / "MRPC" / name, shallow=False), name
    assert len(read_split("mrpc", "train", tmp_path)) == 3668


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"no real data at {SHARED_DATA}")
def test_a_mirror_copy_is_checked_against_the_pinned_files(monkeypatch, tmp_path):
    """The official SST-2 files pass; the same folder with every dev label flipped is refused, naming the file.
    QNLI (its training file unpinned: the mirror holds a slice) is copied, unverified."""
    mirror = tmp_path / "mirror"
    for task in ("SST-2", "QNLI"):
        (mirror / "glue" / task).mkdir(parents=True)
        for name in ("train.tsv", "dev.tsv"):
            (mirror / "glue" / task / name).write_bytes((SHARED_DATA / "glue" / task / name).read_bytes())
    monkeypatch.setenv(download.MIRROR_ENV, str(mirror))
    assert origin("sst2") == "mirror"
    assert verify_copy("sst2", download_task("sst2", tmp_path / "a")) is True
    assert verify_copy("qnli", download_task("qnli", tmp_path / "a")) is False

    dev = mirror / "glue" / "SST-2" / "dev.tsv"
    header, *rows = dev.read_text().splitlines(keepends=True)
    dev.write_text(header + "".join(row[:-2] + str(1 - int(row[-2])) + "\n" for row in rows))
    folder = download_task("sst2", tmp_path / "b")
    with pytest.raises(DownloadError, match=r"glue/SST-2/dev.tsv: not the official file .*the mirror copy was changed"):
        verify_copy("sst2", folder)


@pytest.mark.skipif(not (SHARED_DATA / "DPRD").is_dir(), reason=f"no real DPRD at {SHARED_DATA / 'DPRD'}")
def test_a_mirror_copy_of_dprd_is_checked_against_the_pinned_sha256(monkeypatch, tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "DPRD").mkdir(parents=True)
    for name in ("train.c.txt", "test.c.txt"):
        (mirror / "DPRD" / name).write_bytes((SHARED_DATA / "DPRD" / name).read_bytes())
    monkeypatch.setenv(download.MIRROR_ENV, str(mirror))
    assert verify_copy("dprd", download_task("dprd", tmp_path / "a")) is True

    test = mirror / "DPRD" / "test.c.txt"
    test.write_bytes(test.read_bytes().replace(b"\n\n", b"\n \n", 1))
    with pytest.raises(DownloadError, match=r"DPRD/test.c.txt: not the official file"):
        verify_copy("dprd", download_task("dprd", tmp_path / "b"))


def test_a_mirror_that_says_it_is_unofficial_is_copied_unverified(monkeypatch, tmp_path):
    monkeypatch.setenv(download.MIRROR_ENV, str(FIXTURES))
    assert (FIXTURES / "UNOFFICIAL").is_file()
    assert verify_copy("cola", download_task("cola", tmp_path)) is False


def test_where_each_task_comes_from():
    assert origin("cola") == "pinned archive" and origin("mrpc") == "pinned files" and origin("dprd") == "pinned files"
    assert origin("story_cloze") == "registered"
