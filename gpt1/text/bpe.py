"""Byte-pair encoding with sentencepiece, reserving GPT-1's three task tokens.

sentencepiece's own normalisation is off (`identity`, spaces kept as they are): the corpus stage already put
the text in its corpus's form, and a lossless tokenizer lets `decode(encode(text)) == text`. That form is
recorded beside the model (`<model>.json`), and `Tokenizer.encode` puts every other text into it first
(gpt1.text.forms). Byte fallback keeps characters unseen in training encodable instead of mapping them to <unk>.
"""

from __future__ import annotations

import io
import logging
import os
import time
from pathlib import Path

from gpt1.text.task_tokens import TASK_TOKENS

log = logging.getLogger(__name__)

# Paragraphs longer than this many bytes are skipped in BPE training (not in encoding).
MAX_SENTENCE_BYTES = 1 << 16


def form_file(model_file: Path) -> Path:
    """The JSON file beside a BPE model that names the text form it was trained on."""
    return Path(model_file).with_suffix(".json")


def train_bpe(
    text_file: Path, model_file: Path, vocab_size: int, max_sentences: int, seed: int, text_form: str
) -> None:
    """Train a BPE model on `text_file` (one paragraph per line, in `text_form`) and write `model_file` and
    its form file atomically."""
    import sentencepiece as spm

    from gpt1.files import atomic_write_bytes, atomic_write_json
    from gpt1.text.forms import FORMS

    if text_form not in FORMS:
        raise ValueError(f"text form {text_form!r}: choose one of {', '.join(FORMS)}")

    log.info(
        "training a %d-piece BPE on %s (%.1f MB; at most %d paragraphs sampled), %d threads, sentencepiece %s",
        vocab_size,
        text_file,
        text_file.stat().st_size / 1e6,
        max_sentences,
        os.cpu_count() or 1,
        spm.__version__,
    )
    started = time.perf_counter()
    spm.set_random_generator_seed(seed)
    model = io.BytesIO()  # not a file of sentencepiece's own: it says nothing when the disk is full
    try:
        spm.SentencePieceTrainer.train(
            input=str(text_file),
            model_writer=model,
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
            control_symbols=list(TASK_TOKENS["bpe"]),  # ids 1-3
            input_sentence_size=max_sentences,
            shuffle_input_sentence=True,
            max_sentence_length=MAX_SENTENCE_BYTES,
            num_threads=os.cpu_count() or 1,
            minloglevel=2,  # its errors only: its progress is hundreds of lines, mostly one per byte piece
        )
    except RuntimeError as error:  # "INTERNAL: src/trainer_interface.cc(744) [...] Vocabulary size too high"
        why = str(error).split("] ", 1)[-1].strip() or str(error)
        raise ValueError(
            f"bpe.vocab_size {vocab_size}: sentencepiece cannot train on {text_file}: {why} "
            "(lower bpe.vocab_size, or give it more text)"
        ) from None
    atomic_write_bytes(model_file, model.getvalue())
    atomic_write_json(form_file(model_file), {"text_form": text_form})
    log.info(
        "trained a %d-piece BPE model on %s in %.1f s -> %s",
        vocab_size,
        text_file,
        time.perf_counter() - started,
        model_file,
    )


class Tokenizer:
    """A trained BPE model: text to ids and back, and the ids of the task tokens."""

    def __init__(self, model_file: Path):
        import json

        import sentencepiece as spm

        from gpt1.text.forms import Normalizer

        if not form_file(model_file).is_file():
            raise FileNotFoundError(
                f"{form_file(model_file)} not found: it names the text form of {model_file}; "
                "train the model again with gpt1 train-bpe"
            )
        self.text_form = json.loads(form_file(model_file).read_text())["text_form"]
        self.normalize = Normalizer(self.text_form)
        self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        self.vocab_size = self.sp.get_piece_size()
        start, delim, extract = (self.sp.piece_to_id(t) for t in TASK_TOKENS["bpe"])
        self.start_id, self.delimiter_id, self.extract_id = start, delim, extract

    def encode(self, lines: list[str], normalized: bool = False) -> list[list[int]]:
        """Each line's ids, the line first put into the model's text form; `normalized`: the lines are in it
        already (the corpus stage's output), and are encoded as they are."""
        return self.sp.encode(lines if normalized else self.normalize(lines), num_threads=os.cpu_count() or 1)

    def decode(self, ids: list[int]) -> str:
        return self.sp.decode(ids)
