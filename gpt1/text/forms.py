"""The form of a corpus's text, and the normalisation that puts any text into it.

A corpus declares its form (gpt1.text.corpora); the BPE model trained on it records the form in a JSON file
beside the .model; and every text that model encodes, task texts and zero-shot prompts alike, is first
normalised into that form. Pre-training, BPE training, fine-tuning and zero-shot scoring thus all see the
same kind of text: a model trained on lower-cased text never meets a capital letter it has no piece for.

- `raw`: text as published, standardised (`standardize`) with its white space collapsed: british-novels
  and local corpora.
- `lower-tokenized`: as the BooksCorpus replica is: the same, then split into words by spaCy's English rules
  ("doesn't" -> "does n't", "said." -> "said ."), the words joined by single spaces, lower-cased.

Normalising text already in a form leaves it unchanged, so the corpus stage's output (already in its form)
is encoded as it is.
"""

from __future__ import annotations

import re

FORMS = ("raw", "lower-tokenized")

# text_standardize() of the released code (finetune-transformer-lm/text_utils.py), minus its padding of
# punctuation with spaces.
_PUNCTUATION = {"\u2014": "-", "\u2013": "-", "\u2015": "-", "\u2026": "...", "\u00b4": "'"}
_SPACES = re.compile(r"\s+")


def standardize(text: str) -> str:
    """ftfy.fix_text, then the released code's punctuation standardisation (dashes to "-", "…" to "...",
    "´" to "'").

    ftfy repairs mojibake ("donâ€™t" to "don't"), straightens curly quotes and normalises line breaks.
    Unlike the released code, punctuation is not padded with spaces: that was for spaCy's tokenizer,
    ours is a sentencepiece BPE that needs none, and padding would make decoding lossy.
    """
    import ftfy

    text = ftfy.fix_text(text)
    for old, new in _PUNCTUATION.items():
        text = text.replace(old, new)
    return text


def collapse_spaces(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


class Normalizer:
    """Puts lines of text into one form: `normalizer(lines) -> lines`."""

    def __init__(self, form: str):
        if form not in FORMS:
            raise ValueError(f"text form {form!r}: choose one of {', '.join(FORMS)}")
        self.form = form
        self._words = None
        if form == "lower-tokenized":
            self._words = lower_case_tokenizer()

    def __call__(self, lines: list[str]) -> list[str]:
        lines = [collapse_spaces(standardize(line)) for line in lines]
        if self._words is None:
            return lines
        return [" ".join(word.text for word in doc if not word.is_space).lower() for doc in self._words.pipe(lines)]


def lower_case_tokenizer():
    """spaCy's English word splitting (rules only: no model to download), made to leave text in the form as
    it is: the lower-cased spellings of its exceptions stay whole ("mr." as "Mr."), and so do the words it
    splits them into ("'ve" of "they've", "n't" of "doesn't")."""
    import spacy
    from spacy.symbols import ORTH

    words = spacy.blank("en").tokenizer
    pieces = {piece[ORTH] for split in words.rules.values() for piece in split}
    for text, split in list(words.rules.items()):
        if text.lower() not in words.rules:
            words.add_special_case(text.lower(), [{ORTH: piece[ORTH].lower()} for piece in split])
    for piece in pieces | {piece.lower() for piece in pieces}:
        if piece not in words.rules and piece.strip():
            words.add_special_case(piece, [{ORTH: piece}])
    return words
