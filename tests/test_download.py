"""download.fetch against a real local HTTP server, the mirror option, and safe tar extraction."""

from __future__ import annotations

import hashlib
import http.server
import io
import logging
import tarfile
from pathlib import Path

import pytest

from gpt1 import download
from gpt1.download import DownloadError, extract_tar, fetch, sha256_file

GOOD = b"It was a bright cold day in a small hand-written test file.\n" * 100
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()
WRONG_SHA = "0" * 64


@pytest.fixture()
def server(serve):
    """A local HTTP server's base URL, serving /good.txt and a 500 at /error; and its hit counter."""
    serve("/good.txt", GOOD)
    serve("/error", 500)
    return serve.base, serve.hits


@pytest.fixture(autouse=True)
def no_mirror_no_wait(monkeypatch):
    monkeypatch.delenv(download.MIRROR_ENV, raising=False)
    monkeypatch.setattr(download, "RETRY_DELAY_S", 0.0)


def test_fetch_downloads_and_verifies(server, tmp_path):
    base, hits = server
    dest = tmp_path / "sub" / "good.txt"
    assert fetch(f"{base}/good.txt", dest, GOOD_SHA) == dest
    assert dest.read_bytes() == GOOD
    assert sha256_file(dest) == GOOD_SHA
    assert sorted(p.name for p in dest.parent.iterdir()) == ["good.txt"]

    fetch(f"{base}/good.txt", dest, GOOD_SHA)  # present and verified: no second request
    assert hits["/good.txt"] == 1


def test_fetch_replaces_a_corrupt_file(server, tmp_path):
    base, _ = server
    dest = tmp_path / "good.txt"
    dest.write_bytes(b"truncated")
    fetch(f"{base}/good.txt", dest, GOOD_SHA)
    assert dest.read_bytes() == GOOD


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    base, _ = server
    with pytest.raises(DownloadError) as err:
        fetch(f"{base}/good.txt", tmp_path / "good.txt", WRONG_SHA)
    message = str(err.value)
    assert "\n" not in message
    assert f"expected sha256 {WRONG_SHA}" in message and f"got {GOOD_SHA}" in message
    assert f"{base}/good.txt" in message
    assert list(tmp_path.iterdir()) == []


def test_server_error_is_retried_then_reported(server, tmp_path):
    base, hits = server
    with pytest.raises(DownloadError) as err:
        fetch(f"{base}/error", tmp_path / "x.txt", GOOD_SHA)
    message = str(err.value)
    assert "HTTP 500" in message and f"{base}/error" in message and download.MIRROR_ENV in message
    assert "\n" not in message
    assert hits["/error"] == download.RETRIES + 1
    assert list(tmp_path.iterdir()) == []


def test_not_found_is_not_retried(server, tmp_path):
    base, hits = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(f"{base}/missing", tmp_path / "x.txt", GOOD_SHA)
    assert hits["/missing"] == 1
    assert list(tmp_path.iterdir()) == []


def test_connection_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "RETRIES", 0)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = httpd.server_address[1]
    httpd.server_close()  # nothing listens on this port any more
    with pytest.raises(DownloadError, match="connection error"):
        fetch(f"http://127.0.0.1:{port}/good.txt", tmp_path / "x.txt", GOOD_SHA)
    assert list(tmp_path.iterdir()) == []


def test_mirror_is_used_instead_of_the_network(server, tmp_path, monkeypatch):
    base, hits = server
    mirror = tmp_path / "mirror"
    (mirror / "books" / "shelf").mkdir(parents=True)
    (mirror / "books" / "shelf" / "good.txt").write_bytes(GOOD)
    monkeypatch.setenv(download.MIRROR_ENV, str(mirror))
    dest = tmp_path / "out" / "good.txt"
    fetch(f"{base}/good.txt", dest, GOOD_SHA, mirror_path="books/shelf/good.txt")
    assert dest.read_bytes() == GOOD
    assert sum(hits.values()) == 0


def test_mirror_missing_file_is_a_clear_error(server, tmp_path, monkeypatch):
    base, hits = server
    monkeypatch.setenv(download.MIRROR_ENV, str(tmp_path / "mirror"))
    with pytest.raises(DownloadError) as err:
        fetch(f"{base}/good.txt", tmp_path / "out" / "good.txt", GOOD_SHA, mirror_path="books/absent.txt")
    assert str(tmp_path / "mirror" / "books" / "absent.txt") in str(err.value)
    assert sum(hits.values()) == 0
    assert list((tmp_path / "out").iterdir()) == []


def test_mirror_with_wrong_content_is_rejected(tmp_path, monkeypatch):
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "good.txt").write_bytes(b"something else")
    monkeypatch.setenv(download.MIRROR_ENV, str(tmp_path / "mirror"))
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch("http://127.0.0.1:9/good.txt", tmp_path / "out" / "good.txt", GOOD_SHA, mirror_path="good.txt")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_local_source_replaces_the_download_only_when_the_file_is_missing_or_bad(tmp_path):
    """`source` (e.g. huggingface_hub's cache, gpt1.released.hub_download) instead of the URL."""
    cached, calls = tmp_path / "cache" / "good.txt", []
    cached.parent.mkdir()
    cached.write_bytes(GOOD)

    def source() -> Path:
        calls.append(cached)
        return cached

    dest = tmp_path / "out" / "good.txt"
    for _ in range(2):  # the second finds dest verified: no call
        assert fetch("http://127.0.0.1:9/good.txt", dest, GOOD_SHA, source=source).read_bytes() == GOOD
    assert len(calls) == 1
    dest.write_bytes(b"truncated")
    fetch("http://127.0.0.1:9/good.txt", dest, GOOD_SHA, source=source)
    assert dest.read_bytes() == GOOD and len(calls) == 2

    with pytest.raises(DownloadError, match=f"checksum mismatch for {cached}"):
        fetch("http://127.0.0.1:9/good.txt", tmp_path / "other" / "good.txt", WRONG_SHA, source=source)
    assert list((tmp_path / "other").iterdir()) == []


def starts_with_it(path: Path) -> None:
    """A format check for files without a pinned sha256: raises unless the file looks like GOOD."""
    if not path.read_bytes().startswith(b"It was"):
        raise ValueError(f"{path.name} is not the expected text")


def test_unpinned_file_is_verified_by_its_check_and_its_sha256_logged(server, tmp_path, caplog):
    base, hits = server
    dest = tmp_path / "good.txt"
    with caplog.at_level(logging.WARNING, logger="gpt1.download"):
        fetch(f"{base}/good.txt", dest, None, check=starts_with_it)
    assert dest.read_bytes() == GOOD
    assert "no pinned sha256" in caplog.text and GOOD_SHA in caplog.text  # so that it can be pinned
    fetch(f"{base}/good.txt", dest, None, check=starts_with_it)  # present and passing its check: reused
    assert hits["/good.txt"] == 1

    dest.write_bytes(b"<html>an error page</html>")  # present but failing its check: fetched again
    fetch(f"{base}/good.txt", dest, None, check=starts_with_it)
    assert dest.read_bytes() == GOOD and hits["/good.txt"] == 2


def test_unpinned_file_failing_its_check_leaves_nothing(serve, tmp_path):
    url = serve("/page.html", b"<html>not found</html>")
    with pytest.raises(ValueError, match="page.html.part is not the expected text"):
        fetch(url, tmp_path / "page.html", None, check=starts_with_it)
    assert list(tmp_path.iterdir()) == []


def _make_tar(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:bz2") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, link_target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = link_target
            tar.addfile(info)
    return path


def test_extract_tar(tmp_path):
    archive = _make_tar(tmp_path / "a.tar.bz2", {"books_1.txt": b"one\n", "deep/books_2.txt": b"two\n"})
    target = extract_tar(archive, tmp_path / "out")
    assert (target / "books_1.txt").read_bytes() == b"one\n"
    assert (target / "deep" / "books_2.txt").read_bytes() == b"two\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.bz2", "out"]


@pytest.mark.parametrize(
    "members, links, bad",
    [
        ({"fine.txt": b"ok\n", "../evil": b"gotcha\n"}, None, "../evil"),
        ({"fine.txt": b"ok\n"}, {"escape": "../../outside"}, "escape"),
    ],
)
def test_extract_tar_refuses_members_outside_target(tmp_path, members, links, bad):
    archive = _make_tar(tmp_path / "bad.tar.bz2", members, links)
    with pytest.raises(DownloadError) as err:
        extract_tar(archive, tmp_path / "out")
    assert str(archive) in str(err.value) and repr(bad) in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.bz2"]  # no target, temp dir or evil


def test_extract_tar_corrupt_archive(tmp_path):
    archive = tmp_path / "broken.tar.bz2"
    archive.write_bytes(b"not a tar at all")
    with pytest.raises(DownloadError, match="cannot extract"):
        extract_tar(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.tar.bz2"]
