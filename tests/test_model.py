import math

import pytest
import torch

from gpt1.model import GPT, GPTConfig
from gpt1.weights import to_transformers

TINY = GPTConfig(vocab_size=97, n_ctx=16, n_layer=2, n_head=2, n_embd=8, n_inner=32, dropout=0.0)


def test_paper_config_has_the_released_parameter_count():
    with torch.device("meta"):
        model = GPT(GPTConfig())
    assert model.num_parameters() == 116_534_784
    assert sum(p.numel() for p in model.h.parameters()) == 85_054_464
    assert model.tokens_embed.weight.numel() == 31_087_104
    assert model.positions_embed.weight.numel() == 393_216


def test_forward_shapes_and_loss():
    model = GPT(TINY)
    idx = torch.randint(0, TINY.vocab_size, (3, 10))
    logits, loss = model(idx, idx)
    assert logits.shape == (3, 10, TINY.vocab_size)
    assert model.hidden_states(idx).shape == (3, 10, TINY.n_embd)
    # Fresh N(0, 0.02) weights predict nearly uniformly.
    assert loss.item() == pytest.approx(math.log(TINY.vocab_size), rel=0.05)
    assert model(idx)[1] is None


def test_changing_a_token_changes_no_earlier_logit():
    model = GPT(TINY).eval()
    idx = torch.randint(0, TINY.vocab_size, (1, 12))
    t = 7
    changed = idx.clone()
    changed[0, t] = (idx[0, t] + 1) % TINY.vocab_size
    before, after = model(idx)[0], model(changed)[0]
    assert torch.equal(before[0, :t], after[0, :t])
    assert not torch.allclose(before[0, t:], after[0, t:])


def test_lm_head_is_tied_to_the_token_embedding():
    model = GPT(TINY)
    h = torch.randn(2, 5, TINY.n_embd)
    assert torch.allclose(model.lm_logits(h), h @ model.tokens_embed.weight.T)
    assert not any(name.startswith("lm_head") for name, _ in model.named_parameters())


def test_initialisation_is_normal_002_with_zero_biases():
    cfg = GPTConfig(vocab_size=5000, n_ctx=64, n_layer=1, n_head=4, n_embd=128, n_inner=512)
    model = GPT(cfg)
    assert model.tokens_embed.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert model.h[0].mlp.c_fc.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.count_nonzero(model.h[0].attn.c_attn.bias) == 0
    assert torch.equal(model.h[0].ln_1.weight, torch.ones(128))


def test_weight_decay_only_on_matrices_and_embeddings():
    model = GPT(TINY)
    decay, no_decay = model.param_groups(0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    not_decayed = {names[id(p)] for p in no_decay["params"]}
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert "tokens_embed.weight" in decayed and "positions_embed.weight" in decayed
    assert "h.0.attn.c_attn.weight" in decayed and "h.1.mlp.c_proj.weight" in decayed
    assert all(n.endswith(".bias") or ".ln_" in n for n in not_decayed)
    assert {n for n in not_decayed if ".ln_" in n} == {
        f"h.{i}.ln_{j}.{w}" for i in (0, 1) for j in (1, 2) for w in ("weight", "bias")
    }
    assert decayed | not_decayed == set(names.values()) and not decayed & not_decayed


def test_context_overflow_is_a_clear_error():
    with pytest.raises(ValueError, match="longer than the context"):
        GPT(TINY)(torch.zeros(1, TINY.n_ctx + 1, dtype=torch.long))


def test_bad_head_count_names_the_keys():
    with pytest.raises(ValueError, match="model.n_embd"):
        GPTConfig(n_embd=10, n_head=3)


def test_matches_transformers_openai_gpt():
    """transformers' OpenAIGPT is GPT-1's reference port: same weights, same logits."""
    pytest.importorskip("transformers")
    torch.manual_seed(0)
    # transformers' OpenAIGPT fixes the feed-forward width at 4 n_embd.
    cfg = GPTConfig(vocab_size=97, n_ctx=16, n_layer=2, n_head=2, n_embd=8, n_inner=32, dropout=0.0)
    model = GPT(cfg).eval()
    hf = to_transformers(model)
    idx = torch.randint(0, cfg.vocab_size, (2, 16))
    with torch.no_grad():
        ours = model(idx)[0]
        theirs = hf(idx).logits
    assert (ours - theirs).abs().max().item() <= 1e-5
