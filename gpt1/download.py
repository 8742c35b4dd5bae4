"""Fetch a file reliably: checksum-verified, atomic, from the network or a local mirror.

Set GPT1_DATA_MIRROR to a directory laid out like the official sources (e.g. `books/british-novels/...`)
to read files from there instead of the network, on machines without internet.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import ssl
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from gpt1.files import DiskFull, naming_a_full_disk
from gpt1.progress import Progress

log = logging.getLogger(__name__)

MIRROR_ENV = "GPT1_DATA_MIRROR"
TIMEOUT_S = 60.0
RETRIES = 2  # extra attempts after a transient failure (connection error, timeout, HTTP 5xx or 429)
RETRY_DELAY_S = 2.0  # doubled after each failed attempt
CHUNK_BYTES = 1 << 20
USER_AGENT = "gpt1-downloader"
ADVICE = f"check your network or set {MIRROR_ENV} to a directory holding a local copy"


class DownloadError(RuntimeError):
    """A file could not be fetched, verified or extracted; the message is one line saying what to do."""


class _TransientError(Exception):
    """A failure worth retrying; carries the one-line reason."""


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    url: str,
    dest: Path,
    sha256: str | None,
    mirror_path: str | None = None,
    check: Callable[[Path], None] | None = None,
    source: Callable[[], Path] | None = None,
) -> Path:
    """Make `dest` hold the file at `url` whose sha256 is `sha256`, and return `dest`.

    A `dest` that already matches is reused. With GPT1_DATA_MIRROR set and `mirror_path` given, the file is
    copied from `$GPT1_DATA_MIRROR/<mirror_path>` instead of downloaded. The data goes to `<dest>.part`
    and is renamed onto `dest` only once it is verified: on any failure neither file remains.

    `source`, when given, replaces the download of `url`: called only when `dest` is missing or bad, it
    returns a local copy of the file (e.g. the one huggingface_hub keeps in its cache), which is copied.

    `sha256=None` is for a file whose checksum is not known yet: `check(path)`, which raises on a bad file
    (e.g. one that does not parse), verifies it instead, and the computed sha256 is logged as a warning so
    that it can be pinned. Raises DownloadError, or what `check` raises.
    """
    dest = Path(dest)
    expected = sha256.lower() if sha256 else None
    if dest.is_file():
        if verified(dest, expected, check):
            log.debug("%s is present and verified", dest)
            return dest
        log.warning("%s does not match its sha256 or fails its check; fetching it again", dest)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    mirror = os.environ.get(MIRROR_ENV)
    try:
        with naming_a_full_disk(dest):
            if mirror and mirror_path:
                origin = str(Path(mirror) / mirror_path)
                got = _copy_from_mirror(Path(origin), part)
            elif source:
                local = source()
                origin = str(local)
                got = _copy_file(local, part)
            else:
                origin = url
                got = _download_with_retries(url, part)
        if expected and got != expected:
            raise DownloadError(
                f"checksum mismatch for {origin}: expected sha256 {expected}, got {got}; "
                "the source changed or the transfer was corrupted: retry, or fetch the pinned version"
            )
        if check:
            check(part)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if not expected:
        log.warning("%s has no pinned sha256 (verified by its check only); its sha256 is %s: pin it", dest, got)
    log.info("fetched %s -> %s", origin, dest)
    return dest


def verified(path: Path, sha256: str | None, check: Callable[[Path], None] | None) -> bool:
    """Whether a file already present has the expected sha256 (when one is given) and passes `check`."""
    if sha256 and sha256_file(path) != sha256:
        return False
    if check:
        try:
            check(path)
        except Exception as err:  # whatever the check raises means the same: fetch the file again
            log.warning("%s: %s", path, err)
            return False
    return True


def _copy_from_mirror(source: Path, part: Path) -> str:
    """Copy a mirror file to `part`; return its sha256."""
    if not source.is_file():
        raise DownloadError(
            f"mirror file {source} not found ({MIRROR_ENV}={os.environ.get(MIRROR_ENV)}); "
            f"add it there, or unset {MIRROR_ENV} to download from the network"
        )
    log.info("copying %s from the mirror", source)
    return _copy_file(source, part)


def _copy_file(source: Path, part: Path) -> str:
    """Copy a local file to `part`; return its sha256."""
    with open(source, "rb") as src:
        return _copy_hashing(src, part, source.stat().st_size, source.name)


def _download_with_retries(url: str, part: Path) -> str:
    """Download `url` to `part`, retrying transient failures; return its sha256."""
    delay = RETRY_DELAY_S
    for attempt in range(1, RETRIES + 2):
        try:
            return _download(url, part)
        except _TransientError as err:
            if attempt > RETRIES:
                message = f"download of {url} failed after {attempt} attempts: {err}; {ADVICE}"
                raise DownloadError(message) from None
            log.warning("download of %s failed (%s); retrying in %.0f s", url, err, delay)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _download(url: str, part: Path) -> str:
    """One attempt at streaming `url` into `part`; return its sha256."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            size = response.headers.get("Content-Length")
            return _copy_hashing(response, part, int(size) if size else None, url.rsplit("/", 1)[-1])
    except urllib.error.HTTPError as err:
        err.close()
        reason = f"HTTP {err.code} {err.reason}"
        if err.code >= 500 or err.code == 429:
            raise _TransientError(reason) from None
        raise DownloadError(f"download of {url} failed: {reason}; the file may have moved; {ADVICE}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, ssl.SSLError, http.client.HTTPException) as e:
        raise _TransientError(f"connection error: {getattr(e, 'reason', None) or e}") from None
    except DiskFull:
        raise
    except OSError as err:  # not the network: the local disk
        raise DownloadError(f"download of {url} failed: cannot write {part}: {err}") from None


def _copy_hashing(src: BinaryIO, part: Path, size: int | None, label: str) -> str:
    """Copy a stream into `part` with a progress bar, hashing on the fly; return the sha256."""
    digest = hashlib.sha256()
    with (
        naming_a_full_disk(part, size),
        open(part, "wb") as out,
        Progress(label, size, unit="B", unit_scale=True, unit_divisor=1024, short=True) as bar,
    ):
        while chunk := src.read(CHUNK_BYTES):
            digest.update(chunk)
            out.write(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def extract_tar(archive: Path, target: Path) -> Path:
    """Extract a tar archive (any compression) into the directory `target` and return `target`.

    Members that would land outside `target` (`..`, links pointing outside, device files) are refused by
    tarfile's "data" filter; leading slashes are stripped, so absolute names land inside `target`.
    Extraction goes to a temporary directory beside `target`, renamed over it at the end: a failed or
    interrupted extraction leaves nothing behind, and an existing `target` is replaced only on success.
    """
    archive, target = Path(archive), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        with naming_a_full_disk(target), tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except tarfile.FilterError as err:
        member = err.tarinfo.name if err.tarinfo is not None else "?"
        raise DownloadError(f"refusing to extract {archive}: unsafe member {member!r} ({err})") from None
    except DiskFull:
        raise
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DownloadError(f"cannot extract {archive}: {err}; delete it and fetch it again") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("extracted %s -> %s", archive, target)
    return target


def _unsafe_member(name: str) -> bool:
    """Whether a zip member name would land outside the extraction directory."""
    name = name.replace("\\", "/")
    path = PurePosixPath(name)
    return path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name) is not None


def extract_zip(archive: Path, target: Path) -> Path:
    """Extract a zip archive into the directory `target` and return `target`.

    An archive with a member that would land outside `target` (an absolute name, a drive letter, a `..`
    component) is refused whole, before anything is written. Extraction goes to a temporary directory
    beside `target`, renamed over it at the end: a failed extraction leaves nothing behind, and an
    existing `target` is replaced only on success. Raises DownloadError.
    """
    archive, target = Path(archive), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if _unsafe_member(info.filename):
                    raise DownloadError(
                        f"refusing to extract {archive}: member {info.filename!r} would land outside {target}"
                    )
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
            try:
                with naming_a_full_disk(target):
                    zf.extractall(tmp)
                if target.exists():
                    shutil.rmtree(target)
                os.replace(tmp, target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except DiskFull:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as err:
        raise DownloadError(f"cannot extract {archive}: {err}; delete it and fetch it again") from None
    log.info("extracted %s -> %s", archive, target)
    return target
