"""One way to name a tokenizer on the command line: a path.

A file is a sentencepiece model trained by `gpt1 train-bpe`; a folder holds OpenAI's released BPE files
(encoder_bpe_40000.json, vocab_40000.bpe), which gpt1.text.openai_tokenizer reads. Both have the interface of
gpt1.text.bpe.Tokenizer: `encode(lines)`, `vocab_size`, `start_id`, `delimiter_id`, `extract_id`.
"""

from __future__ import annotations

from pathlib import Path

TOKENIZER_HELP = (
    "a sentencepiece .model file (train-bpe), or a folder of OpenAI's released encoder_bpe_40000.json "
    "and vocab_40000.bpe (see gpt1.text.tokenizers)"
)


def load_tokenizer(path: Path):
    """The tokenizer at `path`: OpenAI's released vocabulary for a folder, a sentencepiece model for a file."""
    path = Path(path)
    if path.is_dir():
        from gpt1.text.openai_tokenizer import OpenAITokenizer

        return OpenAITokenizer(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"tokenizer {path} not found: pass a sentencepiece .model file (gpt1 train-bpe) "
            "or a folder holding OpenAI's encoder_bpe_40000.json and vocab_40000.bpe"
        )
    from gpt1.text.bpe import Tokenizer

    return Tokenizer(path)
