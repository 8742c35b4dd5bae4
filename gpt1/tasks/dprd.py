"""DPRD, the Definite Pronoun Resolution Dataset (Rahman & Ng, EMNLP 2012), which the paper's Winograd
heuristic scores zero-shot (Figure 2, right): read as its authors distribute it, and the pronoun replaced
by each candidate.

Each example of train.c.txt and test.c.txt is four lines, then a blank line:

    The cat chased the mouse because it was hungry.
    it
    The cat,the mouse
    The cat

the sentence, the definite pronoun, the two candidate antecedents (comma-separated) and the right one. The
file does not say where the pronoun is: it is its first whole-word occurrence after both candidates. In the
authors' 1,886 examples both candidates always come before the pronoun; 51 sentences hold the pronoun more
than once ("Tom said he would beat Sam, but he lost"), 4 of them before the second candidate too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from gpt1.tasks.spec import Example

LINES = ("sentence", "pronoun", "candidates", "answer")
ARTICLES = ("The ", "A ", "An ")  # a candidate's capitalised article, lower-cased inside the sentence


def read_dprd(path: Path, subset: str = "") -> Iterator[Example]:
    """Examples of a DPRD file: text = the sentence, text_b = the pronoun, choices = the two candidates,
    label = the index of the one the answer line names (compared without case or extra spaces)."""
    path = Path(path)
    for line, block in _blocks(path):
        sentence, pronoun, candidates, answer = (value.strip() for value in block)
        choices = tuple(candidate.strip() for candidate in candidates.split(","))
        if len(choices) != 2 or not all(choices):
            raise ValueError(f'{path}, line {line + 2}: {candidates!r} is not two candidates "first,second"')
        matches = [i for i, choice in enumerate(choices) if _same(choice, answer)]
        if len(matches) != 1:
            raise ValueError(f"{path}, line {line + 3}: answer {answer!r} is not one of the candidates {choices}")
        example = Example(sentence, pronoun, choices, matches[0], subset)
        try:
            pronoun_position(example)
        except ValueError as err:
            raise ValueError(f"{path}, line {line}: {err}") from None
        yield example


def _blocks(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line number, its lines) for each run of non-blank lines; every run must have four lines."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason})") from None
    block: list[str] = []
    for number, line in enumerate([*text.splitlines(), ""], 1):
        if line.strip():
            block.append(line)
            continue
        if block and len(block) != len(LINES):
            first = number - len(block)
            raise ValueError(
                f"{path}, line {first}: an example of {len(block)} lines, expected {len(LINES)} "
                f"({', '.join(LINES)}) and a blank line after them"
            )
        if block:
            yield number - len(block), block
        block = []


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _word(text: str) -> re.Pattern:
    """`text` as a whole word, in any case: not a piece of a longer one ("it" is not found in "with" or "its")."""
    return re.compile(rf"(?<!\w){re.escape(text)}(?!\w)", re.IGNORECASE)


def pronoun_position(example: Example) -> int:
    """Where the pronoun starts in the sentence: its first whole-word match after both candidates' first
    occurrences (from the start where a candidate is not written in the sentence as the candidates line
    writes it). ValueError when there is none."""
    sentence, pronoun = example.text, example.text_b or ""
    ends = [match.end() for choice in example.choices if (match := _word(choice).search(sentence))]
    match = _word(pronoun).search(sentence, max(ends, default=0))
    if match is None:
        raise ValueError(f"the pronoun {pronoun!r} is not a word of {sentence!r} after the candidates")
    return match.start()


def substitute(example: Example) -> list[tuple[str, str]]:
    """For each candidate, the sentence with the candidate in the pronoun's place, cut after the candidate:
    (the sentence up to and with the candidate, the rest of it, its leading space kept). A capitalised
    article starting a candidate ("The cat", so written as the sentence's first words) is lower-cased inside
    the sentence, "because the cat was hungry": our choice (the paper says only that the pronoun is
    replaced), which matters to a tokenizer that keeps case."""
    start = pronoun_position(example)
    before, after = example.text[:start], example.text[start + len(example.text_b or "") :]
    return [(before + _inside_sentence(choice, start), after) for choice in example.choices]


def _inside_sentence(candidate: str, start: int) -> str:
    if start > 0 and candidate.startswith(ARTICLES):
        return candidate[0].lower() + candidate[1:]
    return candidate
