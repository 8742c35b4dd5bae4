"""The paper's input transformations (Figure 1; docs/paper.md, Input transformations): every task as token
sequences for one model.

classification   <s> text <e>
entailment       <s> premise $ hypothesis <e>
similarity       <s> A $ B <e>  and  <s> B $ A <e>    (two sequences; the head adds their states)
multiple choice  <s> context $ answer_k <e>  for each answer k

When a sequence would exceed the context, the context is shortened, never the answer or hypothesis; it
keeps its last tokens, nearest the delimiter (RACE's question ends its context). A single text keeps its
first tokens, as the released code did. The two sentences of a similarity pair are peers: the longer one
is shortened, and both orders read the same tokens, so that the summed head stays symmetric.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpt1.tasks.spec import Example, Task


@dataclass(frozen=True)
class TaskTokens:
    start: int
    delimiter: int
    extract: int


def truncate_pair(a: list[int], b: list[int], room: int) -> tuple[list[int], list[int]]:
    """Shorten `a` (from its start) to fit `room` tokens together with `b`; `b` only if `a` alone cannot."""
    if len(a) + len(b) <= room:
        return a, b
    keep_a = max(0, room - len(b))
    return (a[len(a) - keep_a :] if keep_a else []), b[: room - keep_a]


def truncate_longest(a: list[int], b: list[int], room: int) -> tuple[list[int], list[int]]:
    """Cut the end of the longer of `a` and `b`, a token at a time, until both fit `room` tokens."""
    a, b = list(a), list(b)
    while len(a) + len(b) > room:
        (a if len(a) >= len(b) else b).pop()
    return a, b


def single(text: list[int], tok: TaskTokens, n_ctx: int) -> list[int]:
    return [tok.start, *text[: n_ctx - 2], tok.extract]


def pair(a: list[int], b: list[int], tok: TaskTokens, n_ctx: int) -> list[int]:
    a, b = truncate_pair(a, b, n_ctx - 3)
    return [tok.start, *a, tok.delimiter, *b, tok.extract]


def sequences_per_example(task: Task) -> int:
    """How many sequences `sequences` gives for one of the task's examples: 2 for a similarity pair (both
    orders), one per answer for multiple choice (RACE 4, Story Cloze 2), else 1."""
    if task.kind == "similarity":
        return 2
    return len(task.labels) if task.kind == "multiple_choice" else 1


def sequences(kind: str, example: Example, encode, tok: TaskTokens, n_ctx: int) -> list[list[int]]:
    """The token sequences the model reads for one example; `encode` maps a list of strings to id lists."""
    if n_ctx < 3:
        raise ValueError(f"model.n_ctx {n_ctx} leaves no room for the start, delimiter and extract tokens")
    if kind == "classification":
        (text,) = encode([example.text])
        return [single(text, tok, n_ctx)]
    if kind == "entailment":
        premise, hypothesis = encode([example.text, example.text_b])
        return [pair(premise, hypothesis, tok, n_ctx)]
    if kind == "similarity":
        a, b = truncate_longest(*encode([example.text, example.text_b]), n_ctx - 3)
        return [pair(a, b, tok, n_ctx), pair(b, a, tok, n_ctx)]
    if kind == "multiple_choice":
        context, *answers = encode([example.text, *example.choices])
        return [pair(context, answer, tok, n_ctx) for answer in answers]
    raise ValueError(f"unknown task kind {kind!r}")
