"""Batches for inference: examples of similar length together, so a batch pads little."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

# Sequences per forward pass when nothing is trained: no activations are kept for a backward pass.
INFERENCE_BATCH = 128


def by_length(lengths: Sequence[int], batch_size: int = INFERENCE_BATCH) -> Iterator[list[int]]:
    """Indices into `lengths`, shortest first, in batches of at most `batch_size`. Callers put each result
    back at its index, so the order of their output does not change."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]
