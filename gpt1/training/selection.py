"""Model selection as OpenAI's released code does it for Story Cloze: after each epoch, score the held-out
split; the test set is predicted with the weights of the best epoch.

The released code (finetune-transformer-lm, train.py) scores its 374 held-out stories after every epoch (and
at updates 1,000, 2,000, 4,000, ... of the first epoch, which 1,497 stories in batches of 32 never reach),
keeps the weights whenever the accuracy beats the best so far (strictly: the earliest of equal epochs wins),
and loads the kept weights before predicting the test set.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


class BestEpoch:
    """Every epoch's held-out score, and the weights of the best one (kept on the CPU)."""

    def __init__(self, split: str, metric: str, saved: dict | None = None):
        self.split, self.metric = split, metric
        saved = saved or {}
        self.epochs: list[dict] = saved.get("epochs", [])
        self.weights: dict[str, torch.Tensor] | None = saved.get("weights")

    @property
    def best(self) -> dict | None:
        """The first epoch with the highest score."""
        return max(self.epochs, key=lambda e: e[self.metric], default=None)

    def after_epoch(self, epoch: int, metrics: dict, model: torch.nn.Module) -> None:
        best = self.best
        self.epochs.append({"epoch": epoch, **metrics})
        if best is None or metrics[self.metric] > best[self.metric]:
            self.weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        score, best_epoch = metrics[self.metric], self.best["epoch"]
        log.info("epoch %d: %s %s %.4f; best epoch %d", epoch, self.split, self.metric, score, best_epoch)

    def state(self) -> dict:
        """What a checkpoint keeps, so that a resumed run selects among all its epochs."""
        return {"epochs": self.epochs, "weights": self.weights}

    def load_best(self, model: torch.nn.Module) -> None:
        if self.weights is not None:
            model.load_state_dict(self.weights)

    def summary(self) -> dict:
        """For the metrics record: the split and metric selected on, every epoch's score, the epoch chosen."""
        return {"split": self.split, "metric": self.metric, "epochs": self.epochs, "best_epoch": self.best["epoch"]}
