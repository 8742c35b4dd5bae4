"""Byte-pair encoding with sentencepiece, reserving GPT-1's three task tokens.

Normalisation is off (`identity`, spaces kept as they are): the corpus stage already cleaned the text as
the paper did, and a lossless tokenizer lets `decode(encode(text)) == text`. Byte fallback keeps
characters unseen in training encodable instead of mapping them to <unk>.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

# Fine-tuning's start, delimiter and extract tokens (docs/paper.md, Input transformations: <s>, $, <e>).
# As sentencepiece control symbols they own ids 1-3 and never come out of encoding text, whatever it says.
TASK_TOKENS = ("<start>", "<delim>", "<extract>")
# Paragraphs longer than this many bytes are skipped in BPE training (not in encoding).
MAX_SENTENCE_BYTES = 1 << 16


def train_bpe(text_file: Path, model_file: Path, vocab_size: int, max_sentences: int, seed: int) -> None:
    """Train a BPE model on `text_file` (one paragraph per line) and write `model_file` atomically."""
    import sentencepiece as spm

    spm.set_random_generator_seed(seed)
    model_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=model_file.parent) as tmp:
        prefix = Path(tmp) / "bpe"
        spm.SentencePieceTrainer.train(
            input=str(text_file),
            model_prefix=str(prefix),
            model_type="bpe",
            vocab_size=vocab_size,
            character_coverage=1.0,
            byte_fallback=True,
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            unk_id=0,
            bos_id=-1,
            eos_id=-1,
            pad_id=-1,
            control_symbols=list(TASK_TOKENS),
            input_sentence_size=max_sentences,
            shuffle_input_sentence=True,
            max_sentence_length=MAX_SENTENCE_BYTES,
            num_threads=os.cpu_count() or 1,
            minloglevel=2,
        )
        os.replace(prefix.with_suffix(".model"), model_file)
    log.info("trained a %d-piece BPE model on %s -> %s", vocab_size, text_file, model_file)


class Tokenizer:
    """A trained BPE model: text to ids and back, and the ids of the task tokens."""

    def __init__(self, model_file: Path):
        import sentencepiece as spm

        self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        self.vocab_size = self.sp.get_piece_size()
        start, delim, extract = (self.sp.piece_to_id(t) for t in TASK_TOKENS)
        self.start_id, self.delimiter_id, self.extract_id = start, delim, extract

    def encode(self, lines: list[str]) -> list[list[int]]:
        return self.sp.encode(lines, num_threads=os.cpu_count() or 1)

    def decode(self, ids: list[int]) -> str:
        return self.sp.decode(ids)
