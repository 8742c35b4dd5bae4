"""GPT-1 as in Radford et al. (2018) and the released code (openai/finetune-transformer-lm).

Unlike GPT-2 (and nanoGPT), GPT-1 normalises *after* each residual addition and has no final
LayerNorm: ``x = ln_1(x + attn(x)); x = ln_2(x + mlp(x))``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from gpt1.config import GPTConfig

__all__ = ["GPT", "GPTConfig", "LanguageModel"]


def fast_path(x: torch.Tensor) -> bool:
    """Whether the CPU versions of dropout and attention below apply: eager CPU only. CUDA has fused
    dropout and attention kernels of its own, and torch.compile generates its own."""
    return x.device.type == "cpu" and not torch.compiler.is_compiling()


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """F.dropout. On the CPU the mask comes from torch.rand rather than bernoulli_, which draws nearly
    twice as slowly there (both draw serially): same distribution, same 1/(1-p) scaling."""
    if not training or p == 0.0:
        return x
    if not fast_path(x) or p >= 1.0:
        return F.dropout(x, p, True)
    return x * torch.rand_like(x).ge_(p).mul_(1.0 / (1.0 - p))  # 1/(1-p) where kept, 0 where dropped


class Dropout(nn.Dropout):
    """nn.Dropout with the cheaper CPU mask of `dropout`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.dropout = cfg.dropout
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)  # q, k, v in that order, as the release
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.resid_dropout = Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        if self.training and self.dropout > 0 and fast_path(x):
            y = self.attention_with_dropout(q, k, v)
        else:  # flash attention on the CPU (no dropout) and on CUDA
            y = F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
            )
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))

    def attention_with_dropout(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """softmax(q k^T / sqrt(hs) + causal mask), dropped out, times v. SDPA computes the same on the CPU
        when dropout is on (its flash kernel has none) with extra passes over the (T, T) scores; here the
        scale and the mask go into the matmul (baddbmm), and the dropout mask is the cheaper one above."""
        B, nh, T, hs = q.shape
        q, k, v = (t.reshape(B * nh, T, hs) for t in (q, k, v))
        mask = torch.full((T, T), float("-inf"), dtype=q.dtype, device=q.device).triu_(1)  # -inf above the diagonal
        scores = torch.baddbmm(mask, q, k.transpose(1, 2), alpha=hs**-0.5)  # (B*nh, T, T)
        att = dropout(torch.softmax(scores, dim=-1), self.dropout, True)
        return torch.bmm(att, v).view(B, nh, T, hs)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, cfg.n_inner)
        self.c_proj = nn.Linear(cfg.n_inner, cfg.n_embd)
        self.dropout = Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.attn = CausalSelfAttention(cfg)
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_eps)
        self.mlp = MLP(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln_1(x + self.attn(x))  # post-LN: normalise after the residual sum
        return self.ln_2(x + self.mlp(x))


class LanguageModel(nn.Module):
    """What the transformer and the LSTM baseline (gpt1.lstm) share: an LM head tied to `tokens_embed`, the
    loss, the optimizer groups. A subclass gives `hidden_states(idx)`, (B, T, width): what task heads read."""

    def lm_logits(self, h: torch.Tensor) -> torch.Tensor:
        """The language-model head, tied to the token embedding."""
        return F.linear(h, self.tokens_embed.weight)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, vocab) and, given targets (B, T; -1 ignored), the mean cross-entropy."""
        logits = self.lm_logits(self.hidden_states(idx))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1)
        return logits, loss

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def param_groups(self, weight_decay: float) -> list[dict]:
        return decay_groups(self, weight_decay)


class GPT(LanguageModel):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.config = cfg
        self.tokens_embed = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.positions_embed = nn.Embedding(cfg.n_ctx, cfg.n_embd)
        self.drop = Dropout(cfg.dropout)
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.init_std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        # nn.LayerNorm already starts at gain 1, bias 0.

    def hidden_states(self, idx: torch.Tensor) -> torch.Tensor:
        """Final transformer states, (B, T, n_embd): what task heads read."""
        T = idx.size(1)
        if self.config.n_ctx < T:
            raise ValueError(f"sequence of {T} tokens is longer than the context ({self.config.n_ctx})")
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.tokens_embed(idx) + self.positions_embed(pos))
        for block in self.h:
            x = block(x)
        return x

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token: 6 N (forward + backward) plus attention's 12 L d T (PaLM's count)."""
        cfg = self.config
        n = sum(p.numel() for p in self.h.parameters() if p.dim() >= 2) + self.tokens_embed.weight.numel()
        return 6 * n + 12 * cfg.n_layer * cfg.n_embd * seq_len


def decay_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """Optimizer groups with decoupled weight decay on matrices and embeddings only, never on biases or
    LayerNorm gains."""
    decay = [p for p in module.parameters() if p.dim() >= 2]
    no_decay = [p for p in module.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0))
