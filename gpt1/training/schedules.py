"""Learning-rate schedules, named by their shape. `step` is the 1-based update about to be taken."""

from __future__ import annotations

import math


def warmup_cosine(step: int, max_lr: float, warmup_steps: int, total_steps: int) -> float:
    """Pretraining's (the paper's): linear warm-up from 0 over `warmup_steps`, then cosine to 0."""
    if step <= warmup_steps:
        return max_lr * step / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return max_lr * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def warmup_linear(step: int, max_lr: float, warmup_steps: int, total_steps: int) -> float:
    """Fine-tuning's (the released code's): linear warm-up over `warmup_steps`, then linear decay to 0."""
    if step <= warmup_steps:
        return max_lr * step / max(1, warmup_steps)
    return max_lr * max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def set_lr(optimizer, lr: float) -> None:
    """The learning rate of every parameter group, for the next update."""
    for group in optimizer.param_groups:
        group["lr"] = lr
