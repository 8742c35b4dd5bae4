"""GPT-1's own tokenizer, as the released code (openai/finetune-transformer-lm, text_utils.py) ran it.

Each text is repaired by ftfy, standardised (dashes, ellipses and accents rewritten; runs of punctuation
padded with spaces; white space collapsed), split into words by spaCy's English tokenizer on the cased
text (so "Mr." stays one word), and each word lower-cased and cut by the 40,000 released BPE merges, a
word's last symbol marked with "</w>". The three task tokens follow the 40,478 BPE tokens, as train.py
appended them: ids 40478-40480 (start, delimiter, extract).

`OpenAITokenizer` has the interface of gpt1.text.bpe.Tokenizer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from gpt1.text.task_tokens import N_TASK_TOKENS, TASK_TOKENS

ENCODER_FILE = "encoder_bpe_40000.json"
MERGES_FILE = "vocab_40000.bpe"
END_OF_WORD = "</w>"
UNKNOWN_ID = 0  # the released code's id for a symbol outside the vocabulary ("<unk>" in the encoder)

_REPLACEMENTS = (("—", "-"), ("–", "-"), ("―", "-"), ("…", "..."), ("´", "'"))
# A run of one of these characters becomes a separate word: -, ~, !, ", ;, ?, +, ",", ), (, \, /, *, [, ], }, {, |, _
_PUNCTUATION_RUN = re.compile(r"""(-+|~+|!+|"+|;+|\?+|\++|,+|\)+|\(+|\\+|/+|\*+|\[+|\]+|}+|{+|\|+|_+)""")
_AROUND_NEWLINE = re.compile(r"\s*\n\s*")
_SPACES = re.compile(r"[^\S\n]+")


def text_standardize(text: str) -> str:
    """The released code's clean-up before spaCy (it fixed spaCy's troubles with BooksCorpus)."""
    for old, new in _REPLACEMENTS:
        text = text.replace(old, new)
    text = _PUNCTUATION_RUN.sub(r" \1 ", text)
    text = _AROUND_NEWLINE.sub(" \n ", text)
    return _SPACES.sub(" ", text).strip()


def read_merges(path: Path) -> dict[tuple[str, str], int]:
    """Each merge's rank (its line, from 0), the "#version" header line skipped."""
    lines = path.read_text(encoding="utf-8").split("\n")[1:]
    merges = [tuple(line.split()) for line in lines if line.strip()]
    bad = next((m for m in merges if len(m) != 2), None)
    if bad is not None:
        raise ValueError(f"{path}: merge line {' '.join(bad)!r} is not two symbols: is this vocab_40000.bpe?")
    return {merge: rank for rank, merge in enumerate(merges)}


class OpenAITokenizer:
    """The released BPE vocabulary in `vocab_dir` (encoder_bpe_40000.json and vocab_40000.bpe)."""

    def __init__(self, vocab_dir: Path):
        import ftfy
        import spacy

        vocab_dir = Path(vocab_dir)
        for name in (ENCODER_FILE, MERGES_FILE):
            if not (vocab_dir / name).is_file():
                raise FileNotFoundError(
                    f"{vocab_dir / name} not found: the vocabulary folder must hold the released "
                    f"{ENCODER_FILE} and {MERGES_FILE}"
                )
        self.encoder: dict[str, int] = json.loads((vocab_dir / ENCODER_FILE).read_text(encoding="utf-8"))
        self.ranks = read_merges(vocab_dir / MERGES_FILE)
        n = len(self.encoder)
        self.start_id, self.delimiter_id, self.extract_id = n, n + 1, n + 2
        self.vocab_size = n + N_TASK_TOKENS
        appended = dict(zip(range(n, n + N_TASK_TOKENS), TASK_TOKENS["openai"]))  # as train.py appended them
        self.decoder = {i: piece for piece, i in self.encoder.items()} | appended
        self._fix_text = ftfy.fix_text
        self._split_words = spacy.blank("en").tokenizer  # rules only: no model to download
        self._cache: dict[str, tuple[str, ...]] = {}

    def encode(self, lines: list[str]) -> list[list[int]]:
        texts = (text_standardize(self._fix_text(line)) for line in lines)
        return [self._encode_words(doc) for doc in self._split_words.pipe(texts)]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.decoder.get(i, "") for i in ids).replace(END_OF_WORD, " ").strip()

    def _encode_words(self, words) -> list[int]:
        ids = []
        for word in words:
            ids.extend(self.encoder.get(piece, UNKNOWN_ID) for piece in self.pieces(word.text.lower()))
        return ids

    def pieces(self, word: str) -> tuple[str, ...]:
        """The BPE pieces of one lower-cased word, cached."""
        if word not in self._cache:
            joined = " ".join(self.merge(word))
            if joined == "\n  </w>":  # spaCy's "\n " word: the released code gives it the "\n</w>" token
                joined = "\n</w>"
            # As the released code, pieces are joined by spaces and split again, so a piece holding a
            # space (only white-space words have one) falls apart into unknown pieces.
            self._cache[word] = tuple(joined.split(" "))
        return self._cache[word]

    def merge(self, word: str) -> list[str]:
        """Apply the merges to `word`'s characters, lowest rank first, until none applies."""
        symbols = list(word[:-1]) + [word[-1] + END_OF_WORD] if word else []
        while len(symbols) > 1:
            pairs = set(zip(symbols, symbols[1:]))
            best = min(pairs, key=lambda pair: self.ranks.get(pair, len(self.ranks)))
            if best not in self.ranks:
                break
            symbols = _merge_pair(symbols, best)
        return symbols


def _merge_pair(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    """Every non-overlapping occurrence of `pair`, left to right, joined into one symbol."""
    merged = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            merged.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return merged
