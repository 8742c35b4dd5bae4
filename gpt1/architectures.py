"""The language models a checkpoint can hold, built from its `model_config`: the one place that tells the
transformer (gpt1.model) from the LSTM baseline (gpt1.lstm). Every stage builds its model here, so that it
runs either architecture without asking which."""

from __future__ import annotations

import torch.nn as nn

from gpt1.config import GPTConfig, LSTMConfig

TRANSFORMER, LSTM = "transformer", "lstm"


def build(model_config: dict | GPTConfig | LSTMConfig) -> nn.Module:
    """A freshly initialised model of `model_config` (a checkpoint's dict, or a config), on the CPU. A dict
    without `architecture` is the transformer's (every checkpoint written before the LSTM, and the released
    weights)."""
    if isinstance(model_config, LSTMConfig):
        from gpt1.lstm import LSTMLM

        return LSTMLM(model_config)
    if isinstance(model_config, GPTConfig):
        from gpt1.model import GPT

        return GPT(model_config)
    values = dict(model_config)
    architecture = values.pop("architecture", TRANSFORMER)
    if architecture == LSTM:
        return build(LSTMConfig(**values))
    if architecture == TRANSFORMER:
        return build(GPTConfig(**values))
    raise ValueError(f"model_config: unknown architecture {architecture!r}; expected {TRANSFORMER} or {LSTM}")
