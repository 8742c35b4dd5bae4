import numpy as np
import pytest

from conftest import FIXTURES
from gpt1.text import encode
from gpt1.text.bpe import Tokenizer, train_bpe
from gpt1.text.task_tokens import TASK_TOKENS


@pytest.fixture(scope="module")
def paragraphs() -> list[str]:
    """The fixture books' text, one line per paragraph as the corpus stage writes it."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((FIXTURES / "books").glob("*.txt")))
    return [" ".join(block.split()) for block in text.split("\n\n") if block.strip()]


@pytest.fixture(scope="module")
def bpe_model(tmp_path_factory, paragraphs):
    directory = tmp_path_factory.mktemp("bpe")
    (directory / "train.txt").write_text("\n".join(paragraphs) + "\n", encoding="utf-8")
    train_bpe(
        directory / "train.txt", directory / "bpe.model", vocab_size=400, max_sentences=10_000, seed=0, text_form="raw"
    )
    return directory / "bpe.model"


def test_vocabulary_size_and_reserved_task_tokens(bpe_model):
    tok = Tokenizer(bpe_model)
    assert tok.vocab_size == 400
    assert (tok.start_id, tok.delimiter_id, tok.extract_id) == (1, 2, 3)
    assert [tok.sp.id_to_piece(i) for i in (1, 2, 3)] == list(TASK_TOKENS["bpe"])
    assert tok.sp.is_control(1) and tok.sp.is_control(3)


def test_text_never_encodes_to_a_task_token(bpe_model):
    tok = Tokenizer(bpe_model)
    ids = tok.encode(["<start> a $ b <extract> <delim>"])[0]
    assert not {1, 2, 3} & set(ids)


def test_round_trip_is_lossless_for_text_in_the_models_form(bpe_model, paragraphs):
    tok = Tokenizer(bpe_model)
    lines = paragraphs[:50] + ["Unseen characters: Ωμέγα, 漢字, emoji 🙂, double  spaces and tabs\tkept."]
    for line, ids in zip(lines, tok.encode(lines, normalized=True)):
        assert tok.decode(ids) == line
    assert 0 not in tok.encode(lines[-1:])[0]  # byte fallback, not <unk>
    assert (
        tok.decode(tok.encode(lines[-1:])[0])
        == "Unseen characters: Ωμέγα, 漢字, emoji 🙂, double spaces and tabs kept."
    )


def test_encoding_streams_in_chunks_and_matches_whole_encoding(bpe_model, paragraphs, tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "train.txt").write_text("\n".join(paragraphs) + "\n", encoding="utf-8")
    (corpus / "val.txt").write_text("\n".join(paragraphs[:3]) + "\n", encoding="utf-8")
    monkeypatch.setattr(encode, "CHUNK_CHARS", 500)  # many chunks
    meta = encode.encode_corpus(bpe_model, corpus, tmp_path / "tokens")
    tokens = encode.load_tokens(tmp_path / "tokens" / "train.bin")
    expected = [i for ids in Tokenizer(bpe_model).encode(paragraphs, normalized=True) for i in ids]
    assert tokens.dtype == np.uint16
    assert tokens.tolist() == expected
    assert meta["train_tokens"] == len(expected) and meta["vocab_size"] == 400
    assert not list((tmp_path / "tokens").glob("*.tmp"))
