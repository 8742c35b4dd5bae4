"""Put a task's data into `<data_dir>/<Task.folder>/`: from its pinned official archive, a local mirror,
or (Story Cloze, registration only) a directory the user names.

- Archive tasks: the archive is fetched into `<data_dir>/downloads/` (sha256-verified, reused by a rerun)
  and its task folder (e.g. `CoLA/` of CoLA.zip) becomes `<data_dir>/glue/CoLA/`. A folder that came
  from the same pinned archive (its `.source` file says so) is reused as it is.
- MRPC: GLUE does not host it; like GLUE's download_glue_data.py, the Microsoft files and GLUE's dev ids
  are fetched into the task folder and cut into train.tsv / dev.tsv / test.tsv (build_mrpc).
- DPRD (scored zero-shot only): its authors' two plain files are fetched into the task folder as they are.
- With GPT1_DATA_MIRROR set, the task folder is copied from the mirror's extracted layout instead
  (`$GPT1_DATA_MIRROR/glue/CoLA/` -> `<data_dir>/glue/CoLA/`). No archive is involved: the files with a
  pinned sha256 of their own (gpt1.tasks.pinned, DPRD's among them; MRPC's plain files) are checked
  (verify_copy), the rest are copied unverified. Whatever the mirror's folder holds is copied; a file it
  lacks is simply missing (see available_splits). A mirror of other files (the tests' fixtures) says so
  with an UNOFFICIAL file.
- Story Cloze: copied from $GPT1_STORY_CLOZE_DIR, else from `$GPT1_DATA_MIRROR/story_cloze/`, else
  TaskDataMissing says where to register.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from gpt1.download import MIRROR_ENV, DownloadError, extract_tar, extract_zip, fetch, sha256_file
from gpt1.files import atomic_output, naming_a_full_disk
from gpt1.tasks.pinned import PINNED_FILES
from gpt1.tasks.registry import get_task, where_to_get
from gpt1.tasks.spec import STORY_CLOZE_ENV, Task, TaskDataMissing

log = logging.getLogger(__name__)

DOWNLOADS = "downloads"  # archives, under data_dir
UNOFFICIAL = "UNOFFICIAL"  # at a mirror's root: its files are not the official ones; copied unverified, unchecked
STANDIN = "STANDIN"  # in a mirror's task folder: which of its files are generated stand-ins (benchmarks.standin)
SOURCE_FILE = ".source"  # in a task folder: the archive (URL and sha256) it was extracted from


# --------------------------------------------------------------------------------------------------
# Archives and folders


def _extract(archive: Path, target: Path) -> Path:
    if archive.name.endswith(".zip"):
        return extract_zip(archive, target)
    return extract_tar(archive, target)


def _replace_dir(src: Path, dest: Path) -> None:
    """Move the directory `src` to `dest` (same file system), replacing what was there."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
        os.replace(dest, old / dest.name)
    os.replace(src, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _copy_files(src: Path, dest: Path, names: list[str] | None = None) -> None:
    """Copy the files under `src` (or just `names`) into `dest`, contents only: a read-only mirror's
    permissions are not carried over."""
    paths = [src / name for name in names] if names is not None else sorted(src.rglob("*"))
    for path in paths:
        out = dest / path.relative_to(src)
        if path.is_dir():
            out.mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)


def _install_copy(src: Path, folder: Path, names: list[str] | None = None) -> Path:
    """Copy `src` (or its files `names`) into a temporary folder beside `folder`, then swap it in."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        with naming_a_full_disk(folder):
            _copy_files(src, tmp / "copy", names)
        (tmp / "copy").mkdir(exist_ok=True)
        _replace_dir(tmp / "copy", folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


# --------------------------------------------------------------------------------------------------
# MRPC


def build_mrpc(folder: Path) -> None:
    """Write MRPC's train.tsv, dev.tsv and test.tsv in `folder` from msr_paraphrase_train.txt,
    msr_paraphrase_test.txt and dev_ids.tsv, exactly as GLUE's download_glue_data.py (format_mrpc) does:
    the training pairs listed in dev_ids.tsv go to dev.tsv, the others to train.tsv, both under the
    training file's header (its UTF-8 BOM included); test.tsv numbers the test pairs, without labels.
    """
    folder = Path(folder)
    with open(folder / "dev_ids.tsv", encoding="utf-8") as f:
        dev_ids = {tuple(line.strip().split("\t")) for line in f if line.strip()}
    text = {"encoding": "utf-8", "newline": "\n"}
    with contextlib.ExitStack() as outputs:  # the three files appear when all three are written
        train, dev, test = (
            outputs.enter_context(atomic_output(folder / name, "w", **text))
            for name in ("train.tsv", "dev.tsv", "test.tsv")
        )
        with open(folder / "msr_paraphrase_train.txt", encoding="utf-8") as data:
            header = data.readline()
            train.write(header)
            dev.write(header)
            for label, id1, id2, s1, s2 in _mrpc_rows(folder / "msr_paraphrase_train.txt", data):
                out = dev if (id1, id2) in dev_ids else train
                out.write(f"{label}\t{id1}\t{id2}\t{s1}\t{s2}\n")
        with open(folder / "msr_paraphrase_test.txt", encoding="utf-8") as data:
            data.readline()
            test.write("index\t#1 ID\t#2 ID\t#1 String\t#2 String\n")
            for index, (_, id1, id2, s1, s2) in enumerate(_mrpc_rows(folder / "msr_paraphrase_test.txt", data)):
                test.write(f"{index}\t{id1}\t{id2}\t{s1}\t{s2}\n")
        for file in (train, dev, test):
            file.flush()  # a full disk is found before any of them replaces its previous file
    log.info("built MRPC train/dev/test in %s", folder)


def _mrpc_rows(path: Path, lines: Iterable[str]) -> Iterator[list[str]]:
    """The 5 fields of each data line of a Microsoft paraphrase file (its header already read)."""
    for line_no, line in enumerate(lines, 2):
        if not line.strip():
            continue
        fields = line.strip().split("\t")
        if len(fields) != 5:
            raise ValueError(f"{path}, line {line_no}: {len(fields)} tab-separated fields, expected 5")
        yield fields


# --------------------------------------------------------------------------------------------------
# Download


def download_task(task_id: str, data_dir: Path) -> Path:
    """Make `<data_dir>/<task folder>` hold the task's data (see the module docstring) and return it.

    Raises DownloadError (network, checksum, unsafe archive, a mirror without the task's folder),
    TaskDataMissing (Story Cloze not provided) and ValueError (unknown task).
    """
    task = get_task(task_id)
    data_dir = Path(data_dir)
    folder = data_dir / task.folder
    mirror = os.environ.get(MIRROR_ENV)
    how = origin(task_id)
    if how == "registered":
        return _copy_registered(task, folder, mirror)
    if how == "pinned files":
        return _fetch_files(task, folder)
    if how == "mirror":
        return _copy_from_mirror(task, Path(mirror), folder)
    return _fetch_archive(task, data_dir, folder)


def origin(task_id: str) -> str:
    """Where download_task takes the task's data from: "pinned archive" (an official archive, sha256-checked),
    "pinned files" (MRPC's files, checked, also from the mirror; DPRD's, from the network), "mirror" (a
    mirror's extracted folder) or "registered" (Story Cloze's CSVs, from the user or the mirror)."""
    task = get_task(task_id)
    if task.access == "registration":
        return "registered"
    if task.access == "files":
        return "pinned files"
    if os.environ.get(MIRROR_ENV):
        return "mirror"
    return "pinned files" if task.access == "plain" else "pinned archive"


def verify_copy(task_id: str, folder: Path) -> bool:
    """Whether a pinned sha256 vouches for every split file in `folder`. An archive's or MRPC's files were
    checked as they were fetched. In a mirror's or registered copy, each file with a pin (gpt1.tasks.pinned)
    is checked here, a changed one being an error; the copy counts as verified when every file has one."""
    how = origin(task_id)
    if how in ("pinned archive", "pinned files"):
        return True
    source = os.environ.get(STORY_CLOZE_ENV) if how == "registered" else None
    source = source or os.environ.get(MIRROR_ENV)
    if source and (Path(source) / UNOFFICIAL).exists():
        return False  # a mirror of hand-written or modified files (the tests' fixtures) says so
    task, pins = get_task(task_id), PINNED_FILES.get(task_id, {})
    names = sorted({part.path for split in task.splits for part in split.parts if (folder / part.path).is_file()})
    for name in names:
        if name in pins and sha256_file(folder / name) != pins[name]:
            raise DownloadError(
                f"{folder / name}: not the official file (its sha256 differs from the pinned {pins[name][:16]}...): "
                f"the {how} copy was changed; restore the file, or {where_to_get(task)}"
            )
    return bool(names) and all(name in pins for name in names)


def standin_files(folder: Path) -> list[str]:
    """The files of a task folder that are generated stand-ins for timing (its STANDIN marker, written by
    benchmarks/standin.py: a sentence, then one path per line); none for real data."""
    marker = Path(folder) / STANDIN
    return marker.read_text(encoding="utf-8").splitlines()[1:] if marker.is_file() else []


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file of a task folder (its path inside the folder -> hash), for the status record: a
    changed file changes the record, and so reruns what reads it."""
    return {
        str(path.relative_to(folder)): sha256_file(path)
        for path in sorted(Path(folder).rglob("*"))
        if path.is_file() and path.name != SOURCE_FILE
    }


def _fetch_archive(task: Task, data_dir: Path, folder: Path) -> Path:
    (source,) = task.sources
    origin = f"{source.url} sha256={source.sha256}\n"
    marker = folder / SOURCE_FILE
    if marker.is_file() and marker.read_text(encoding="utf-8") == origin:
        log.info("%s: %s already holds %s", task.name, folder, source.url)
        return folder
    archive = fetch(source.url, data_dir / DOWNLOADS / source.filename, source.sha256)
    tmp = Path(tempfile.mkdtemp(prefix=f".{task.id}.", suffix=".tmp", dir=data_dir))
    try:
        with naming_a_full_disk(folder):  # not the temporary folder it is unpacked into
            unpacked = _extract(archive, tmp / "archive")
            root = unpacked / task.archive_root
            if not root.is_dir():
                found = ", ".join(sorted(path.name for path in unpacked.iterdir())) or "nothing"
                raise DownloadError(f"{archive} holds no folder {task.archive_root}/ (it holds {found})")
            (root / SOURCE_FILE).write_text(origin, encoding="utf-8")
        _replace_dir(root, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s: %s -> %s", task.name, source.url, folder)
    return folder


def _fetch_files(task: Task, folder: Path) -> Path:
    """Fetch a task's pinned plain files into its folder (MRPC's from the mirror, verified, when
    GPT1_DATA_MIRROR is set); MRPC's are then cut into its splits."""
    for source in task.sources:
        fetch(source.url, folder / source.filename, source.sha256, f"{task.folder}/{source.filename}")
    if task.id == "mrpc":
        build_mrpc(folder)
    return folder


def _copy_from_mirror(task: Task, mirror: Path, folder: Path) -> Path:
    source = mirror / task.folder
    if not source.is_dir():
        urls = ", ".join(s.url for s in task.sources)
        raise DownloadError(
            f"mirror folder {source} not found ({MIRROR_ENV}={mirror}); add it there, "
            f"or unset {MIRROR_ENV} to download {urls}"
        )
    log.info("%s: copying %s from the mirror (no checksum: the mirror holds no archive)", task.name, source)
    return _install_copy(source, folder)


def _copy_registered(task: Task, folder: Path, mirror: str | None) -> Path:
    """Story Cloze: copy its CSVs from $GPT1_STORY_CLOZE_DIR (both required) or the mirror (what is there)."""
    names = sorted({part.path for split in task.splits for part in split.parts})
    user_dir = os.environ.get(STORY_CLOZE_ENV)
    if user_dir:
        source = Path(user_dir)
        for name in names:
            if not (source / name).is_file():
                raise TaskDataMissing(
                    f"{source / name} is missing ({STORY_CLOZE_ENV}={user_dir}); {where_to_get(task)}"
                )
        present = names
    elif mirror and (Path(mirror) / task.folder).is_dir():
        source = Path(mirror) / task.folder
        present = [name for name in names if (source / name).is_file()]
        if not present:
            raise TaskDataMissing(f"the mirror folder {source} holds no {task.name} CSV; {where_to_get(task)}")
    else:
        raise TaskDataMissing(f"no {task.name} data: {where_to_get(task)}")
    if (source / STANDIN).is_file():  # which files are stand-ins (benchmarks/standin.py)
        present = [*present, STANDIN]
    log.info("%s: copying %s from %s", task.name, ", ".join(present), source)
    return _install_copy(source, folder, present)
