"""The corpus stage: cleaning, the split by document, the registry, prepare_corpus on fixtures and real data."""

from __future__ import annotations

import dataclasses
import json
import tarfile

import pytest

from conftest import FIXTURES as FIXTURES_DIR
from conftest import SHARED_DATA
from gpt1.download import MIRROR_ENV, sha256_file
from gpt1.text import corpora, corpus
from gpt1.text.corpus import (
    CORPORA,
    clean_document,
    prepare_corpus,
    split_documents,
    split_paragraphs,
    standardize,
)

FIXTURES = FIXTURES_DIR / "books"


def test_standardize_fixes_mojibake_quotes_dashes_and_ellipsis():
    text = "I donâ€™t know \u201cwhy\u201d \u2014 or when \u2013 or how\u2026 the cafÃ©\u00b4s ―"
    assert standardize(text) == "I don't know \"why\" - or when - or how... the café's -"


def test_standardize_does_not_pad_punctuation():
    assert standardize('"Well," she said (quietly); "no!"') == '"Well," she said (quietly); "no!"'


def test_clean_document_unwraps_paragraphs_one_per_line():
    text = (
        "  TITLE  \n"
        "\n\n"
        "The first paragraph is wrapped\n"
        "over  three\tlines, with odd\n"
        "   spacing.\n"
        "   \n"
        "Second \u2014 and last\u2026\n"
        "paragraph.\n"
    )
    assert clean_document(text) == [
        "TITLE",
        "The first paragraph is wrapped over three lines, with odd spacing.",
        "Second - and last... paragraph.",
    ]


def test_clean_document_without_unwrapping_keeps_lines():
    text = "one sentence per line .\n\nanother \u2014 one .\n"
    assert clean_document(text, unwrap=False) == ["one sentence per line .", "another - one ."]


def test_unwrapped_lines_stay_paragraphs():
    """A text whose lines are long (already one paragraph per line, no blank lines) is not joined."""
    paragraphs = [f"Paragraph {i}" + " is long enough to be a paragraph of its own." * 5 for i in range(30)]
    assert split_paragraphs("\n".join(paragraphs)) == paragraphs


def test_wrapped_text_that_lost_its_blank_lines_splits_at_short_lines():
    """Hard-wrapped text with no blank lines: a line well short of the wrap width ends a paragraph."""
    full = "x" * 65
    lines = ([full] * 5 + ["end of a paragraph."]) * 10
    paragraphs = split_paragraphs("\n".join(lines))
    assert len(paragraphs) == 10
    assert all(p == " ".join([full] * 5 + ["end of a paragraph."]) for p in paragraphs)


def test_fixture_books_clean_to_paragraph_lines():
    for path in sorted(FIXTURES.glob("*.txt")):
        raw = path.read_text(encoding="utf-8")
        paragraphs = clean_document(raw)
        # one line per blank-line block of the hard-wrapped fixture
        assert len(paragraphs) == len([b for b in raw.split("\n\n") if b.strip()])
        text = "\n".join(paragraphs)
        assert all(p and p == p.strip() and "\n" not in p and "  " not in p for p in paragraphs)
        for bad in ("\u2014", "\u2013", "\u2026", "\u201c", "\u2019", "\u00e2\u20ac", "\t"):
            assert bad not in text, (path.name, bad)
    harrowgate = "\n".join(clean_document((FIXTURES / "winter_in_harrowgate_lane.txt").read_text()))
    assert "I don't think I have slept" in harrowgate and "little café." in harrowgate


def test_split_is_deterministic_disjoint_and_complete():
    names = [f"book{i:02d}.txt" for i in range(20)]
    train, val = split_documents(names, 0.2, seed=3)
    assert (train, val) == split_documents(list(reversed(names)), 0.2, seed=3)
    assert len(val) == 4 and sorted(train + val) == names and not set(train) & set(val)
    assert any(split_documents(names, 0.2, seed=s)[1] != val for s in range(4, 10))


def test_split_keeps_one_document_on_each_side():
    assert split_documents(["a", "b"], 0.01, seed=0)[1] != []
    assert split_documents(["a", "b"], 0.99, seed=0)[0] != []
    with pytest.raises(ValueError, match="at least 2"):
        split_documents(["only.txt"], 0.5, seed=0)
    with pytest.raises(ValueError, match="val_fraction"):
        split_documents(["a", "b"], 1.0, seed=0)


def test_prepare_local_corpus(tmp_path):
    out = tmp_path / "corpus"
    summary = prepare_corpus("local", out, val_fraction=0.3, seed=0, local_dir=FIXTURES)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "raw", "train.txt", "val.txt"]
    assert not any((out / "raw").iterdir())  # a local corpus downloads nothing
    assert json.loads((out / "manifest.json").read_text()) == summary
    assert summary["text_form"] == "raw"

    books = sorted(p.name for p in FIXTURES.glob("*.txt"))
    splits = summary["splits"]
    assert sorted(splits["train"]["document_names"] + splits["val"]["document_names"]) == books
    assert splits["val"]["documents"] == 1
    for split in ("train", "val"):
        data = (out / f"{split}.txt").read_bytes()
        lines = data.decode("utf-8").split("\n")
        assert lines[-1] == "" and all(lines[:-1])  # newline-terminated, no empty lines
        assert splits[split]["lines"] == len(lines) - 1
        assert splits[split]["bytes"] == len(data)
        assert splits[split]["characters"] == len(data.decode("utf-8"))

    # the split is by document: each book's title line sits in its own split only
    for name in books:
        title = clean_document((FIXTURES / name).read_text())[0]
        split = "val" if name in splits["val"]["document_names"] else "train"
        other = "train" if split == "val" else "val"
        assert title in (out / f"{split}.txt").read_text().split("\n")
        assert title not in (out / f"{other}.txt").read_text().split("\n")

    assert prepare_corpus("local", out, 0.3, 0, local_dir=FIXTURES) == summary  # deterministic


def test_prepare_corpus_errors(tmp_path):
    with pytest.raises(ValueError, match=r"corpus\.source.*'nope'.*british-novels"):
        prepare_corpus("nope", tmp_path, 0.1, 0)
    with pytest.raises(ValueError, match="local_dir"):
        prepare_corpus("local", tmp_path, 0.1, 0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .txt files"):
        prepare_corpus("local", tmp_path / "out", 0.1, 0, local_dir=tmp_path / "empty")
    assert not (tmp_path / "out" / "train.txt").exists()


def test_bookcorpus_is_read_in_blocks_of_lines(tmp_path, monkeypatch):
    """The archive layout: sentence-per-line files cut into fixed blocks, lines kept as they are."""
    monkeypatch.setattr(corpus, "LINES_PER_BLOCK", 3)
    extracted = tmp_path / "raw" / "bookcorpus"
    extracted.mkdir(parents=True)
    (extracted / "books_large_p1.txt").write_text("".join(f"p1 sentence {i} .\n" for i in range(7)))
    (extracted / "books_large_p2.txt").write_text("p2 only \u2014 line .")  # no final newline
    documents = corpus._block_documents([extracted / n for n in corpus.BOOKCORPUS_FILES])
    assert [(d.name, d.start, d.num_lines) for d in documents] == [
        ("books_large_p1.txt:000000", 0, 3),
        ("books_large_p1.txt:000001", 3, 3),
        ("books_large_p1.txt:000002", 6, 1),
        ("books_large_p2.txt:000000", 0, 1),
    ]
    texts = [clean_document(text, unwrap=False) for _, text in corpus._read_documents(documents)]
    assert texts == [
        ["p1 sentence 0 .", "p1 sentence 1 .", "p1 sentence 2 ."],
        ["p1 sentence 3 .", "p1 sentence 4 .", "p1 sentence 5 ."],
        ["p1 sentence 6 ."],
        ["p2 only - line ."],
    ]


def test_prepare_bookcorpus_from_a_mirrored_archive(tmp_path, monkeypatch):
    """The whole bookcorpus path on a tiny archive: fetch from the mirror, extract once, split by block."""
    monkeypatch.setattr(corpus, "LINES_PER_BLOCK", 2)
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "books_large_p1.txt").write_text("".join(f"first file , sentence {i} .\n" for i in range(5)))
    (texts / "books_large_p2.txt").write_text("".join(f"second file , sentence {i} .\n" for i in range(3)))
    archive = tmp_path / "mirror" / "bookcorpus" / "bookcorpus.tar.bz2"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:bz2") as tar:
        for name in corpus.BOOKCORPUS_FILES:
            tar.add(texts / name, arcname=name)
    source = corpora.Source("http://127.0.0.1:9/never", "bookcorpus/bookcorpus.tar.bz2", sha256_file(archive))
    monkeypatch.setitem(CORPORA, "bookcorpus", dataclasses.replace(CORPORA["bookcorpus"], sources=(source,)))
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))

    out = tmp_path / "out"
    summary = prepare_corpus("bookcorpus", out, val_fraction=0.2, seed=0)
    assert sorted(p.name for p in (out / "raw").iterdir()) == ["bookcorpus", "bookcorpus.tar.bz2"]
    names = summary["splits"]["train"]["document_names"] + summary["splits"]["val"]["document_names"]
    assert sorted(names) == [f"books_large_p1.txt:00000{i}" for i in range(3)] + [
        f"books_large_p2.txt:00000{i}" for i in range(2)
    ]
    assert summary["splits"]["val"]["documents"] == 1
    assert summary["text_form"] == "lower-tokenized"  # as the replica is: fine-tuning text is put in this form
    written = [line for split in ("train", "val") for line in (out / f"{split}.txt").read_text().splitlines()]
    sentences = [line for name in corpus.BOOKCORPUS_FILES for line in (texts / name).read_text().splitlines()]
    assert sorted(written) == sorted(sentences)
    assert prepare_corpus("bookcorpus", out, val_fraction=0.2, seed=0) == summary  # rerun reuses raw/


def test_british_novels_registry_matches_shared_checksums():
    sources = CORPORA["british-novels"].sources
    assert len(sources) == 25 and len({s.filename for s in sources}) == 25
    for source in sources:
        assert source.url.endswith("/data/british-novels/" + source.filename)
        assert "9bab604c96fcfd00e309051fe9badbcb19ddb61a" in source.url
    sums_file = SHARED_DATA / "SHA256SUMS"
    if not sums_file.is_file():
        pytest.skip(f"{sums_file} absent: the shared data mirror is only on development machines")
    sums = {}
    for line in sums_file.read_text().splitlines():
        digest, path = line.split(maxsplit=1)
        sums[path.removeprefix("./")] = digest
    assert {s.mirror_path: s.sha256 for s in sources} == {
        path: digest for path, digest in sums.items() if path.startswith("books/british-novels/")
    }


@pytest.mark.skipif(
    not (SHARED_DATA / "books" / "british-novels").is_dir(),
    reason=f"{SHARED_DATA} absent: the shared data mirror is only on development machines",
)
def test_prepare_british_novels_from_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, str(SHARED_DATA))
    summary = prepare_corpus("british-novels", tmp_path, val_fraction=0.1, seed=0)
    novels = sorted(s.filename for s in CORPORA["british-novels"].sources)
    train, val = (summary["splits"][s]["document_names"] for s in ("train", "val"))
    assert sorted(train + val) == novels and len(val) == 2 and not set(train) & set(val)
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == novels

    # split by book: a line from the middle of each novel appears only in its own split
    split_text = {s: (tmp_path / f"{s}.txt").read_text(encoding="utf-8") for s in ("train", "val")}
    for name in novels:
        lines = (SHARED_DATA / "books" / "british-novels" / name).read_text(encoding="utf-8").split("\n")
        probe = next(
            " ".join(line.split())
            for line in lines[len(lines) // 2 :]
            if len(line) > 50 and line.isascii() and "&" not in line
        )
        own, other = ("val", "train") if name in val else ("train", "val")
        assert probe in split_text[own], name
        assert probe not in split_text[other], name
