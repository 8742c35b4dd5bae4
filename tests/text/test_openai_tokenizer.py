import csv
import io
import json
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT, SHARED_DATA
from gpt1 import cli
from gpt1.text.openai_tokenizer import ENCODER_FILE, MERGES_FILE, OpenAITokenizer, text_standardize

RELEASED_VOCAB = SHARED_DATA / "openai-gpt" / "model"
RTE_DEV = SHARED_DATA / "glue" / "RTE" / "dev.tsv"

# A tiny vocabulary: the merges that make "mr.</w>", "sm", "th</w>" and "hat</w>", in rank order.
TINY_MERGES = ["h a", "ha t</w>", "m r", "mr .</w>", "s m", "t h</w>"]
TINY_PIECES = ["<unk>", "mr.</w>", "mr</w>", ".</w>", "sm", "i", "th</w>", "'", "s</w>", "hat</w>", "a</w>"]


@pytest.fixture
def tiny_vocab(tmp_path):
    (tmp_path / ENCODER_FILE).write_text(json.dumps({p: i for i, p in enumerate(TINY_PIECES)}), encoding="utf-8")
    (tmp_path / MERGES_FILE).write_text("#version: 0.2\n" + "\n".join(TINY_MERGES) + "\n", encoding="utf-8")
    return tmp_path


def ids(*pieces: str) -> list[int]:
    return [TINY_PIECES.index(p) for p in pieces]


def test_words_are_lower_cased_after_spacy_and_end_in_w(tiny_vocab):
    tok = OpenAITokenizer(tiny_vocab)
    # spaCy keeps the cased "Mr." whole; lower-casing first would have split it into "mr" and ".".
    assert tok.encode(["Mr. Smith's HAT"]) == [ids("mr.</w>", "sm", "i", "th</w>", "'", "s</w>", "hat</w>")]
    assert tok.encode(["A", "Zq", ""]) == [ids("a</w>"), [0, 0], []]  # pieces outside the vocabulary: <unk>, 0
    assert tok.pieces("smith") == ("sm", "i", "th</w>")


def test_task_tokens_follow_the_vocabulary(tiny_vocab):
    tok = OpenAITokenizer(tiny_vocab)
    n = len(TINY_PIECES)
    assert (tok.start_id, tok.delimiter_id, tok.extract_id, tok.vocab_size) == (n, n + 1, n + 2, n + 3)
    assert tok.decode(ids("mr.</w>", "sm", "i", "th</w>") + [n + 2]) == "mr. smith _classify_"


def test_released_vocabulary_gives_the_paper_task_token_ids():
    if not RELEASED_VOCAB.is_dir():
        pytest.skip(f"the released BPE files are not at {RELEASED_VOCAB} (the data mirror is absent)")
    tok = OpenAITokenizer(RELEASED_VOCAB)
    assert (tok.start_id, tok.delimiter_id, tok.extract_id, tok.vocab_size) == (40478, 40479, 40480, 40481)
    assert len(tok.ranks) == 40_000


def test_missing_vocabulary_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=ENCODER_FILE):
        OpenAITokenizer(tmp_path)


TRICKY = [
    "Dashes—en–bar―and an ellipsis… with ´quotes´",
    "Runs!!! of ?? punctuation;; (nested) [brackets] {braces} a/b\\c *stars* __under__ ~tilde~ | pipe +plus",
    "  spaces\t\tand tabs \n\n  and newlines \r\n end  ",
    'Quotes "like this" and Mr. Smith, Jr. paid $5.50 at 3 p.m.',
]


@pytest.mark.parametrize("text", TRICKY)
def test_standardisation_matches_the_released_code(text):
    reference = pytest.importorskip("transformers.models.openai.tokenization_openai")
    assert text_standardize(text) == reference.text_standardize(text)


def read_rte_sentences() -> list[str]:
    with open(RTE_DEV, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [row[1] for row in rows] + [row[2] for row in rows]


def test_ids_match_transformers_slow_tokenizer_on_rte_dev():
    """transformers' slow OpenAIGPTTokenizer with spaCy and ftfy runs the released pipeline: same ids on
    both sentences of every RTE dev row (and a few strings that exercise the clean-up)."""
    transformers = pytest.importorskip("transformers")
    if not (RTE_DEV.is_file() and RELEASED_VOCAB.is_dir()):
        pytest.skip(f"RTE dev or the released BPE files are absent under {SHARED_DATA} (the data mirror)")
    texts = read_rte_sentences() + TRICKY
    assert len(texts) == 2 * 277 + len(TRICKY)
    reference = transformers.OpenAIGPTTokenizer(
        vocab_file=str(RELEASED_VOCAB / ENCODER_FILE), merges_file=str(RELEASED_VOCAB / MERGES_FILE)
    )
    assert reference.fix_text is not None, "transformers fell back to BERT's tokenizer: spacy or ftfy missing"
    expected = [reference.convert_tokens_to_ids(reference._tokenize(text)) for text in texts]
    got = OpenAITokenizer(RELEASED_VOCAB).encode(texts)
    differing = [text for text, a, b in zip(texts, got, expected) if a != b]
    assert not differing, f"{len(differing)} of {len(texts)} texts differ, first: {differing[0]!r}"


def test_cli_tokenize_openai_prints_one_line_per_input_line(tiny_vocab):
    done = subprocess.run(
        [sys.executable, "-m", "gpt1.cli", "tokenize", "--tokenizer", str(tiny_vocab)],
        input="Mr. Smith's HAT\n\na\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    expected = [ids("mr.</w>", "sm", "i", "th</w>", "'", "s</w>", "hat</w>"), [], ids("a</w>")]
    assert done.stdout == "".join(" ".join(map(str, line)) + "\n" for line in expected)


def test_cli_tokenize_sentencepiece(tmp_path, monkeypatch, capsys):
    from io import StringIO

    from gpt1.text.bpe import Tokenizer, train_bpe

    books = "\n".join(p.read_text(encoding="utf-8") for p in sorted((FIXTURES / "books").glob("*.txt")))
    paragraphs = [" ".join(block.split()) for block in books.split("\n\n") if block.strip()]
    (tmp_path / "train.txt").write_text("\n".join(paragraphs) + "\n", encoding="utf-8")
    train_bpe(
        tmp_path / "train.txt", tmp_path / "bpe.model", vocab_size=400, max_sentences=10_000, seed=0, text_form="raw"
    )
    lines = ["It was a dark night.", "", "Another line"]
    monkeypatch.setattr(sys, "stdin", StringIO("\n".join(lines) + "\n"))
    cli.main(["tokenize", "--tokenizer", str(tmp_path / "bpe.model")])
    expected = Tokenizer(tmp_path / "bpe.model").encode(lines)
    assert capsys.readouterr().out.splitlines() == [" ".join(map(str, line)) for line in expected]


def test_cli_tokenize_takes_the_issues_kind_and_folder_flags(tiny_vocab, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Mr. Smith\n"))
    cli.main(["tokenize", "--tokenizer", "openai", "--vocab-dir", str(tiny_vocab)])
    by_kind = capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO("Mr. Smith\n"))
    cli.main(["tokenize", "--tokenizer", str(tiny_vocab)])
    assert by_kind == capsys.readouterr().out and by_kind.strip()
    with pytest.raises(SystemExit, match="--tokenizer sentencepiece needs --model"):
        cli.main(["tokenize", "--tokenizer", "sentencepiece", "--model", str(tmp_path / "none.model")])


def test_cli_tokenize_names_a_missing_tokenizer(tmp_path):
    with pytest.raises(SystemExit, match=r"tokenizer .*absent.model not found: pass a sentencepiece .model file"):
        cli.main(["tokenize", "--tokenizer", str(tmp_path / "absent.model")])
