"""A full disk, for real: each stage writes onto a small filesystem of its own (a tmpfs, mounted in a mount
namespace of the command's own by `unshare -rm`) with only so much room left. It must end in one line naming
the file it was writing, leave the previous copy of that file as it was, and leave no temporary file."""

import hashlib
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, project_env, write_token_dir
from gpt1.config import GPTConfig, PretrainConfig
from gpt1.params import cli_flags, load
from gpt1.report.tables import build_tables
from gpt1.text.bpe import train_bpe
from gpt1.text.corpus import prepare_corpus
from gpt1.text.encode import encode_corpus
from gpt1.training.pretrain import pretrain

SMOKE = load(profile="smoke")
PAGE = 4096  # tmpfs hands out room a page at a time

SMALL_DISK = """
set -e
mount -t tmpfs -o size=64m tmpfs "$DISK"
cp -a "$SEED/." "$DISK/"
avail=$(df -B1 --output=avail "$DISK" | tail -n 1)
head -c $((avail - FREE)) /dev/zero > "$DISK/.ballast"
set +e
"$@"
status=$?
rm "$DISK/.ballast"
cp -a "$DISK/." "$AFTER/"
exit $status
"""
"""Mount the small disk on DISK, copy SEED's files onto it, fill it up to FREE bytes, run the command, copy what
the disk holds then into AFTER."""


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory):
    """run(command, disk, free, cwd) -> (its result, a copy of the disk after it): `command` runs with the
    folder `disk` a small filesystem of its own, holding the files `disk` held before, `free` bytes left."""
    probe = tmp_path_factory.mktemp("probe")
    mount = ["unshare", "-rm", "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)]
    tried = subprocess.run(mount, capture_output=True, text=True) if shutil.which("unshare") else None
    if tried is None or tried.returncode != 0:
        why = tried.stderr.strip() if tried else "no unshare command"
        pytest.skip(f"a small filesystem of the test's own needs `unshare -rm` and a tmpfs mount: {why}")

    def run(command: list, disk: Path, free: int, cwd: Path) -> tuple[subprocess.CompletedProcess, Path]:
        seed, after = disk.with_name(disk.name + ".before"), disk.with_name(disk.name + ".after")
        disk.rename(seed)
        disk.mkdir()
        after.mkdir()
        env = project_env(cwd) | {"DISK": str(disk), "SEED": str(seed), "AFTER": str(after), "FREE": str(free)}
        shell = ["unshare", "-rm", "sh", "-c", SMALL_DISK, "sh", *map(str, command)]
        return subprocess.run(shell, cwd=cwd, env=env, capture_output=True, text=True, timeout=300), after

    return run


def gpt1(*argv, groups: tuple[str, ...] = (), **changes) -> list:
    """`gpt1 <argv>` with the smoke profile's flags of the parameter groups `groups`, `changes` over them."""
    values = [SMOKE[group] | {k: v for k, v in changes.items() if k in SMOKE[group]} for group in groups]
    return [sys.executable, "-m", "gpt1", *argv, *(flag for group in values for flag in shlex.split(cli_flags(group)))]


def pages(size: int) -> int:
    return -(-size // PAGE) * PAGE


def digests(folder: Path) -> dict[str, str]:
    """Each file under `folder` (locks aside) -> its sha256."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.endswith(".lock")
    }


def assert_disk_full(done: subprocess.CompletedProcess, path: Path, after: Path) -> str:
    """It failed, its last line names `path` and the full disk, with no traceback, and no temporary file was
    left behind; returns that line."""
    assert done.returncode != 0, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert str(path) in last and "no space left on device" in last, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert not [p for p in after.rglob("*") if p.name.endswith((".tmp", ".part"))]
    return last


def test_a_checkpoint_that_does_not_fit_keeps_the_previous_one(small_disk, tmp_path):
    repeated = np.arange(11_000) % 400
    tokens = write_token_dir(tmp_path / "tokens", repeated, repeated[:2000], vocab_size=400)
    out = tmp_path / "disk" / "pretrain"
    model, run = GPTConfig(vocab_size=400, **SMOKE["model"]), PretrainConfig(**SMOKE["pretrain"])
    pretrain(model, run, tokens, out, stop_after=run.eval_interval)  # the checkpoint the next run resumes
    checkpoint, snapshot = out / "checkpoint.pt", out / "checkpoint.snapshots" / "step0000000.pt"
    previous = digests(out)
    free = pages(snapshot.stat().st_size) + pages(checkpoint.stat().st_size // 2)  # a snapshot, half a checkpoint

    paths = ["--tokens-dir", tokens, "--out-dir", out, "--metrics", tmp_path / "flat.json"]
    done, after = small_disk(gpt1("pretrain", *paths, groups=("model", "pretrain")), tmp_path / "disk", free, tmp_path)

    assert " more than the " in assert_disk_full(done, checkpoint, after)  # how much room it needs
    assert digests(after / "pretrain")["checkpoint.pt"] == previous["checkpoint.pt"]
    assert not (after / "pretrain" / "model.pt").exists()


def test_tables_that_do_not_fit_keep_the_previous_tables(small_disk, tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    out = tmp_path / "disk" / "tables"
    build_tables(metrics, out, "smoke")  # every cell "not run"
    previous = digests(out)
    scores = {"accuracy": 0.75}
    record = {"task": "sst2", "status": "done", "profile": "smoke", "split": "dev", "seed": 42, "metrics": scores}
    (metrics / "sst2.json").write_text(json.dumps(record | {"results": {"dev": {"n": 100, "metrics": scores}}}))

    command = gpt1("tables", "--metrics-dir", metrics, "--out-dir", out, "--metrics", tmp_path / "flat.json")
    done, after = small_disk(command, tmp_path / "disk", PAGE, tmp_path)  # room for the stage's lock file

    assert_disk_full(done, out / "table2.md", after)
    assert digests(after / "tables") == previous


WRITE_JSON = """
import sys
from pathlib import Path
from gpt1.files import atomic_write_json
try:
    atomic_write_json(Path(sys.argv[1]), {"numbers": list(range(100_000))})
except OSError as error:
    sys.exit(str(error))
"""


def test_a_json_record_that_does_not_fit_keeps_the_previous_one(small_disk, tmp_path):
    record = tmp_path / "disk" / "record.json"
    record.parent.mkdir()
    record.write_text('{"numbers": []}\n')

    done, after = small_disk([sys.executable, "-c", WRITE_JSON, record], record.parent, PAGE, tmp_path)

    assert_disk_full(done, record, after)
    assert (after / "record.json").read_text() == '{"numbers": []}\n'


@pytest.fixture(scope="module")
def books(tmp_path_factory) -> Path:
    """A folder of books, the fixture books 20 times over: about 0.5 MB of text."""
    directory = tmp_path_factory.mktemp("books")
    for book in (FIXTURES / "books").glob("*.txt"):
        (directory / book.name).write_text(book.read_text(encoding="utf-8") * 20, encoding="utf-8")
    return directory


def test_a_corpus_that_does_not_fit_keeps_the_previous_corpus(small_disk, books, tmp_path):
    out = tmp_path / "disk" / "corpus"
    prepare_corpus("local", out, 0.3, 0, local_dir=FIXTURES / "books")
    previous = digests(out)

    command = gpt1("download-corpus", "--out-dir", out, groups=("corpus",), source=str(books))
    done, after = small_disk(command, tmp_path / "disk", 8 * PAGE, tmp_path)

    assert_disk_full(done, out / "train.txt", after)
    assert digests(after / "corpus") == previous


def test_tokens_that_do_not_fit_keep_the_previous_tokens(small_disk, books, tmp_path):
    corpus = tmp_path / "corpus"
    prepare_corpus("local", corpus, 0.3, 0, local_dir=books)
    train_bpe(corpus / "train.txt", tmp_path / "bpe.model", 400, 10_000, seed=0, text_form="raw")
    out = tmp_path / "disk" / "tokens"
    encode_corpus(tmp_path / "bpe.model", corpus, out)
    (out / "train.bin").write_bytes((out / "train.bin").read_bytes()[::-1])  # as an older encoding would differ
    previous = digests(out)
    free = pages((out / "train.bin").stat().st_size // 2)

    command = gpt1("encode-corpus", "--bpe-model", tmp_path / "bpe.model", "--corpus-dir", corpus, "--out-dir", out)
    done, after = small_disk(command, tmp_path / "disk", free, tmp_path)

    assert_disk_full(done, out / "train.bin", after)
    assert digests(after / "tokens") == previous


def test_a_bpe_model_that_does_not_fit_keeps_the_previous_one(small_disk, tmp_path):
    corpus = tmp_path / "corpus"
    prepare_corpus("local", corpus, 0.3, 0, local_dir=FIXTURES / "books")
    model = tmp_path / "disk" / "bpe.model"
    train_bpe(corpus / "train.txt", model, 350, 10_000, seed=0, text_form="raw")  # the smoke one has 400
    previous = digests(model.parent)
    free = PAGE + pages(model.stat().st_size // 4)  # the lock, a quarter of the model

    paths = ["--text", corpus / "train.txt", "--manifest", corpus / "manifest.json", "--model", model]
    done, after = small_disk(gpt1("train-bpe", *paths, groups=("bpe",)), model.parent, free, tmp_path)

    assert_disk_full(done, model, after)
    assert digests(after) == previous


FETCH = """
import sys
from pathlib import Path
from gpt1.download import fetch
try:
    fetch("https://example.org/big.bin", Path(sys.argv[1]), None, source=lambda: Path(sys.argv[2]))
except OSError as error:
    sys.exit(str(error))
"""


def test_a_download_that_does_not_fit_names_the_file(small_disk, tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(np.random.default_rng(0).bytes(1_000_000))
    (tmp_path / "disk").mkdir()

    done, after = small_disk(
        [sys.executable, "-c", FETCH, tmp_path / "disk" / "big.bin", source], tmp_path / "disk", 0, tmp_path
    )

    assert " more than the " in assert_disk_full(done, tmp_path / "disk" / "big.bin", after)
    assert not list(after.iterdir())


TEED = """
import sys
from pathlib import Path
from gpt1.logfile import teed
with teed(Path(sys.argv[1])):
    print("the stage's output", flush=True)
"""


def test_a_log_file_that_does_not_fit_leaves_the_output_on_its_streams(small_disk, tmp_path):
    (tmp_path / "disk").mkdir()

    done, _ = small_disk([sys.executable, "-c", TEED, tmp_path / "disk" / "stage.log"], tmp_path / "disk", 0, tmp_path)

    assert done.returncode == 0 and done.stdout == "the stage's output\n"
    assert f"{tmp_path / 'disk' / 'stage.log'}: no space left on device" in done.stderr
    assert "Traceback" not in done.stderr
