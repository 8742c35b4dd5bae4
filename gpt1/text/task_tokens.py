"""GPT-1's three task tokens (docs/paper.md, Input transformations: <s>, $, <e>), as each tokenizer spells them.

Both vocabularies hold the same three, in the same order: start, delimiter, extract. The spellings are in trained
models and in the released files: they never change.
"""

from __future__ import annotations

from typing import NamedTuple


class TaskTokenNames(NamedTuple):
    start: str
    delimiter: str
    extract: str


TASK_TOKENS = {
    # gpt1.text.bpe: sentencepiece control symbols, ids 1-3, that never come out of encoding text, whatever it says
    "bpe": TaskTokenNames("<start>", "<delim>", "<extract>"),
    # gpt1.text.openai_tokenizer: the released code's names (train.py), appended after the 40,478 BPE tokens
    "openai": TaskTokenNames("_start_", "_delimiter_", "_classify_"),
}
N_TASK_TOKENS = len(TaskTokenNames._fields)
