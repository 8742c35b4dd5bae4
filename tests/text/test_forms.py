"""One text form end to end (gpt1.text.forms): the BPE model is trained on its corpus's form and every other
text it encodes is put into that form first, so task sentences meet the pieces pre-training trained."""

import re

import pytest

from conftest import FIXTURES
from gpt1.tasks import read_split
from gpt1.text.bpe import Tokenizer, train_bpe
from gpt1.text.corpus import clean_document
from gpt1.text.forms import FORMS, Normalizer

SENTENCE = "The Louvre doesn't open on Tuesdays, Mr. Smith said."
# Ordinary task sentences: capitals, contractions, punctuation (the RTE fixtures, written for the tests).
TASK_SENTENCES = [
    SENTENCE,
    "It's a shame they didn't come; we'd have liked that!",
    *[ex.text for ex in read_split("rte", "dev", FIXTURES / "smoke_tasks")],
    *[ex.text_b for ex in read_split("rte", "dev", FIXTURES / "smoke_tasks")],
]


def book_paragraphs() -> list[str]:
    return [p for book in sorted((FIXTURES / "books").glob("*.txt")) for p in clean_document(book.read_text())]


@pytest.fixture(scope="module", params=FORMS)
def tokenizer(request, tmp_path_factory) -> Tokenizer:
    """A BPE model trained on the fixture books put in one form, as the corpus stage writes a corpus."""
    directory = tmp_path_factory.mktemp(request.param)
    lines = Normalizer(request.param)(book_paragraphs())
    (directory / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    train_bpe(directory / "train.txt", directory / "bpe.model", 400, 10_000, seed=0, text_form=request.param)
    return Tokenizer(directory / "bpe.model")


def byte_pieces(tokenizer: Tokenizer, ids: list[int]) -> list[str]:
    return [tokenizer.sp.id_to_piece(i) for i in ids if re.fullmatch(r"<0x[0-9A-F]{2}>", tokenizer.sp.id_to_piece(i))]


def test_the_replicas_form_is_lower_cased_and_split_into_words():
    assert Normalizer("lower-tokenized")([SENTENCE]) == ["the louvre does n't open on tuesdays , mr. smith said ."]
    assert Normalizer("raw")(["  “Curly” quotes —\tand  spaces "]) == ['"Curly" quotes - and spaces']


@pytest.mark.parametrize("form", FORMS)
def test_text_in_a_form_stays_as_it_is(form):
    once = Normalizer(form)(TASK_SENTENCES + book_paragraphs()[:200])
    assert Normalizer(form)(once) == once


def test_task_sentences_need_no_byte_fallback(tokenizer):
    for sentence, ids in zip(TASK_SENTENCES, tokenizer.encode(TASK_SENTENCES)):
        assert byte_pieces(tokenizer, ids) == [], sentence
    if tokenizer.text_form == "lower-tokenized":  # the bug this guards against: raw text into a lower-cased model
        unnormalised = tokenizer.encode([SENTENCE], normalized=True)[0]
        assert {"<0x54>", "<0x4C>", "<0x4D>", "<0x53>"} <= set(byte_pieces(tokenizer, unnormalised))  # T L M S


def test_a_sentence_gets_the_same_ids_from_the_corpus_and_from_a_task_reader(tokenizer, tmp_path):
    """The corpus path: the sentence in a book (raw: hard-wrapped in a paragraph) or as the replica holds it
    (lower-tokenized: one line, already in the form), cleaned by the corpus stage, encoded as the corpus is.
    The task path: the same sentence in an SST-2 file, read by the task reader, encoded as fine-tuning does."""
    if tokenizer.text_form == "raw":
        book = "Chapter 1\n\n" + SENTENCE.replace(" on ", " on\n") + "\n"
        corpus_lines = clean_document(book)[1:]
    else:
        corpus_lines = clean_document(Normalizer("lower-tokenized")([SENTENCE])[0], unwrap=False)
    folder = tmp_path / "glue" / "SST-2"
    folder.mkdir(parents=True)
    for split in ("train", "dev"):
        (folder / f"{split}.tsv").write_text(f"sentence\tlabel\n{SENTENCE}\t1\n", encoding="utf-8")
    task_text = read_split("sst2", "dev", tmp_path)[0].text
    assert tokenizer.encode(corpus_lines, normalized=True) == tokenizer.encode([task_text])
