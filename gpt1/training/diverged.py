"""A NaN or infinite training loss stops the run at once, naming the update, before anything is written as done."""

from __future__ import annotations

import math


class Diverged(ValueError):
    """The training loss is no longer a finite number."""


def check_loss(loss: float, step: int, stage: str, advice: str) -> None:
    if not math.isfinite(loss):
        raise Diverged(f"{stage}: the training loss is {loss} at update {step}: {advice}")
