"""What a task's head predicts and is trained against: classes, a softmax across answers, or a similarity score.

STS-B's 0-5 score has two targets (`finetune.stsb_target`):
- `soft_labels`: six classes 0..5, trained against Tai, Socher and Manning's (2015, Tree-LSTM) encoding of the
  score as a distribution over its two nearest integers (3.6 -> 0.4 on 3, 0.6 on 4); the prediction is the
  expected score. OpenAI's released code ships this encoding for STS-B (`stsb_label_encoding`, 6 classes), the
  only trace of how the paper's 82.0 was trained: the `paper` and `openai-gpt` profiles use it.
- `regression`: one output trained with squared error against score/5, as transformers' GLUE scripts do; the
  sample profile's, where it measured better (experiments/stsb_target/README.md).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from gpt1.tasks import Task

STSB_TARGETS = ("soft_labels", "regression")
MAX_SCORE = 5.0
SCORE_CLASSES = torch.arange(int(MAX_SCORE) + 1, dtype=torch.float32)  # 0, 1, ..., 5


def scored(task: Task) -> bool:
    """A task whose label is a score, not a class (STS-B)."""
    return task.labels is None


def n_outputs(task: Task, stsb_target: str) -> int:
    if task.kind == "multiple_choice":
        return 1  # a score per answer
    if scored(task):
        return len(SCORE_CLASSES) if stsb_target == "soft_labels" else 1
    return len(task.labels)


def soft_labels(scores: torch.Tensor) -> torch.Tensor:
    """(B,) scores in [0, 5] -> (B, 6) distributions: the weight of each of the two nearest integers is one minus
    its distance to the score (a whole score puts all its weight on itself)."""
    scores = scores.float().clamp(0, MAX_SCORE)
    below = scores.floor().clamp(max=MAX_SCORE - 1)  # 5.0 -> all weight on 5, none on the missing 6
    above_share = scores - below
    target = torch.zeros(len(scores), len(SCORE_CLASSES), device=scores.device)
    target.scatter_(1, below.long()[:, None], (1 - above_share)[:, None])
    target.scatter_(1, below.long()[:, None] + 1, above_share[:, None])
    return target


def as_distribution(task: Task, outputs: torch.Tensor) -> bool:
    """Whether a scored task's head predicts a distribution over the scores: its width says which target it
    was built for (n_outputs)."""
    return scored(task) and outputs.size(-1) == len(SCORE_CLASSES)


def task_loss(task: Task, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over the batch's examples."""
    if as_distribution(task, outputs):
        # Cross-entropy with the soft target: KL(target || prediction) up to the target's fixed entropy.
        return F.cross_entropy(outputs.float(), soft_labels(labels))
    if scored(task):
        return F.mse_loss(outputs.squeeze(-1).float(), labels.float() / MAX_SCORE)
    return F.cross_entropy(outputs, labels.long())  # classes, or a softmax across the answers


def predictions(task: Task, outputs: torch.Tensor) -> np.ndarray:
    """The answer per example: a class or answer index, or a 0-5 score."""
    if as_distribution(task, outputs):
        expected = outputs.float().softmax(-1) @ SCORE_CLASSES.to(outputs.device)
        return expected.cpu().numpy()
    if scored(task):
        return (outputs.squeeze(-1).float() * MAX_SCORE).cpu().numpy()
    return outputs.argmax(-1).cpu().numpy()
