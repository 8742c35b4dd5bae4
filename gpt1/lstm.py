"""The paper's LSTM baseline (Table 5, Figure 2): "a single layer 2048 unit LSTM using the same framework".

The paper says nothing else about it. Our choices, each what an LSTM language model of the time would use
(docs/lstm.md): token embeddings of width `n_embd`, no position embeddings (the recurrence orders the
tokens); an `n_layer` x `n_hidden` LSTM whose output is projected down to `n_embd` (torch's `proj_size`,
Sak et al. 2014), so that the output layer can be tied to the embedding as the transformer's is (Press & Wolf
2017); dropout on the embeddings and on the LSTM's output. The state at the extract token (the projected
output, `n_embd` wide) is what task heads read, as they read the transformer's final state.

It shares gpt1.model.LanguageModel (tied LM head, loss, optimizer groups) with the transformer, and so the
interface the training loops, task heads, checkpoints and zero-shot scoring use: `config` (n_ctx, n_embd,
n_layer, init_std, vocab_size), `hidden_states`, `lm_logits`, `forward`, `num_parameters`, `param_groups`.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from gpt1.config import LSTMConfig
from gpt1.model import Dropout, LanguageModel

__all__ = ["LSTMLM", "LSTMConfig"]


class LSTMLM(LanguageModel):
    def __init__(self, cfg: LSTMConfig):
        super().__init__()
        self.config = cfg
        self.tokens_embed = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.drop = Dropout(cfg.dropout)
        projected = cfg.n_hidden != cfg.n_embd
        self.lstm = nn.LSTM(
            cfg.n_embd, cfg.n_hidden, cfg.n_layer, batch_first=True, proj_size=cfg.n_embd if projected else 0
        )
        self.out_drop = Dropout(cfg.dropout)
        nn.init.normal_(self.tokens_embed.weight, std=cfg.init_std)
        # torch's LSTM default, U(-1/sqrt(n_hidden), 1/sqrt(n_hidden)), with the forget gate's bias at 1
        # (Jozefowicz et al. 2015): the state is kept, not forgotten, until training says otherwise.
        for name, param in self.lstm.named_parameters():
            if name.startswith("bias_ih"):
                with torch.no_grad():
                    param[cfg.n_hidden : 2 * cfg.n_hidden].fill_(1.0)  # gates are ordered input, forget, cell, output

    def hidden_states(self, idx: torch.Tensor) -> torch.Tensor:
        """The LSTM's (projected) output at every position, (B, T, n_embd): what task heads read."""
        T = idx.size(1)
        if self.config.n_ctx < T:
            raise ValueError(f"sequence of {T} tokens is longer than the context ({self.config.n_ctx})")
        out, _ = self.lstm(self.drop(self.tokens_embed(idx)))
        return self.out_drop(out)

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token: 6 N over the LSTM's matrices and the tied output layer."""
        n = sum(p.numel() for p in self.lstm.parameters() if p.dim() >= 2) + self.tokens_embed.weight.numel()
        return 6 * n
