import json
import logging

import numpy as np
import pytest
import torch

from conftest import SHARED_DATA
from gpt1 import cli, released, weights
from gpt1.model import GPT, GPTConfig
from gpt1.training.finetune import load_pretrained

transformers = pytest.importorskip("transformers")
from transformers.modeling_utils import no_init_weights  # noqa: E402

TINY = GPTConfig(vocab_size=97, n_ctx=16, n_layer=2, n_head=2, n_embd=8, n_inner=32)
PAPER = GPTConfig()
RELEASED_SHAPES = SHARED_DATA / "openai-gpt" / "model" / "params_shapes.json"
CPU = torch.device("cpu")


def random_hf_model(cfg: GPTConfig, seed: int = 0):
    """A transformers OpenAIGPTLMHeadModel of shape `cfg` with every weight random (LayerNorm gains near 1)."""
    torch.manual_seed(seed)
    with no_init_weights():  # transformers' own init would be overwritten: skip it (seconds at paper size)
        hf = transformers.OpenAIGPTLMHeadModel(transformers.OpenAIGPTConfig(**weights.hf_config(cfg))).eval()
    hf.tie_weights()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            p.normal_(1.0 if ".ln_" in name and name.endswith("weight") else 0.0, 0.02)
    return hf


def max_logit_difference(ours: GPT, hf, cfg: GPTConfig) -> float:
    idx = torch.randint(0, cfg.vocab_size, (2, min(cfg.n_ctx, 24)), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return (ours.eval()(idx)[0] - hf(idx).logits).abs().max().item()


@pytest.mark.parametrize("cfg", [TINY, PAPER], ids=["tiny", "paper"])
def test_hugging_face_weights_import_and_export_with_the_same_logits(tmp_path, cfg):
    hf = random_hf_model(cfg)
    hf.save_pretrained(tmp_path / "hf")
    summary = weights.import_weights(tmp_path / "hf", tmp_path / "model.pt", task_tokens=0)
    assert summary["source_format"] == "hf" and summary["parameters"] == hf.transformer.num_parameters()

    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert saved["model_config"] == cfg.to_dict()
    assert (saved["source"], saved["mlflow_run_id"], saved["task_token_rows"]) == ("openai-gpt", None, 0)
    gpt = load_pretrained(tmp_path / "model.pt", CPU)[0]  # fine-tuning's loader takes it
    with torch.device("meta"):
        GPT(cfg).load_state_dict(saved["model"], assign=True)  # strict: exactly gpt1's keys and shapes
    assert max_logit_difference(gpt, hf, cfg) <= 1e-5

    weights.export_hf(tmp_path / "model.pt", tmp_path / "exported")
    reloaded, info = transformers.OpenAIGPTLMHeadModel.from_pretrained(tmp_path / "exported", output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched weights, no errors
    assert max_logit_difference(gpt, reloaded.eval(), cfg) <= 1e-5
    assert not list((tmp_path / "exported").glob("*.tmp"))


def test_task_token_rows_are_appended_and_leave_the_released_logits_alone(tmp_path):
    hf = random_hf_model(TINY)
    hf.save_pretrained(tmp_path / "hf")
    weights.import_weights(tmp_path / "hf", tmp_path / "a.pt", task_tokens=3, seed=5)
    weights.import_weights(tmp_path / "hf", tmp_path / "b.pt", task_tokens=3, seed=5)
    a, b = (torch.load(tmp_path / name, weights_only=True) for name in ("a.pt", "b.pt"))
    assert a["model_config"]["vocab_size"] == TINY.vocab_size + 3 and a["task_token_rows"] == 3
    embed = a["model"]["tokens_embed.weight"]
    assert torch.equal(embed, b["model"]["tokens_embed.weight"])  # seeded
    assert torch.equal(embed[: TINY.vocab_size], hf.transformer.tokens_embed.weight)
    assert embed[TINY.vocab_size :].abs().max() > 0

    gpt = load_pretrained(tmp_path / "a.pt", CPU)[0].eval()
    idx = torch.randint(0, TINY.vocab_size, (2, 10))
    with torch.no_grad():
        assert (gpt(idx)[0][..., : TINY.vocab_size] - hf(idx).logits).abs().max() <= 1e-5


def release_shapes(cfg: GPTConfig) -> list[list[int]]:
    """params_shapes.json for `cfg`, in the release's order (the real file's for the paper model)."""
    d, f = cfg.n_embd, cfg.n_inner
    block = [[1, d, 3 * d], [3 * d], [1, d, d], [d], [d], [d], [1, d, f], [f], [1, f, d], [d], [d], [d]]
    return [[cfg.n_ctx, d], [cfg.vocab_size, d]] + block * cfg.n_layer


def tf_variable_names(n_layer: int) -> list[str]:
    """The TensorFlow names transformers' converter reads from parameters_names.json (not part of the release)."""
    block = [
        f"{scope}/{var}"
        for scope in ("attn/c_attn", "attn/c_proj", "ln_1", "mlp/c_fc", "mlp/c_proj", "ln_2")
        for var in (("g", "b") if scope.startswith("ln") else ("w", "b"))
    ]
    return ["model/we:0"] + [f"model/h{i}/{name}:0" for i in range(n_layer) for name in block]


def write_release(directory, cfg: GPTConfig, seed: int = 0):
    """Random weights in the original release's layout: all tensors concatenated, cut into ten .npy files."""
    directory.mkdir()
    shapes = release_shapes(cfg)
    flat = np.random.default_rng(seed).standard_normal(sum(int(np.prod(s)) for s in shapes)).astype(np.float32)
    for i, part in enumerate(np.array_split(flat, 10)):
        np.save(directory / f"params_{i}.npy", part)
    (directory / "params_shapes.json").write_text(json.dumps(shapes))
    return directory


def test_original_layout_lands_where_transformers_converter_puts_it(tmp_path):
    release = write_release(tmp_path / "release", TINY)
    (release / "parameters_names.json").write_text(json.dumps(tf_variable_names(TINY.n_layer)))
    reference = transformers.OpenAIGPTModel(transformers.OpenAIGPTConfig(**weights.hf_config(TINY)))
    transformers.models.openai.modeling_openai.load_tf_weights_in_openai_gpt(reference, reference.config, str(release))

    weights.import_weights(release, tmp_path / "model.pt", task_tokens=0, n_head=TINY.n_head)
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert saved["model_config"] == TINY.to_dict() and saved["source_format"] == "original"
    ours = {name.removeprefix(weights.HF_PREFIX): t for name, t in weights.hf_state(saved["model"]).items()}
    theirs = reference.state_dict()
    assert ours.keys() == theirs.keys()
    for name, tensor in theirs.items():
        assert torch.equal(ours[name], tensor), name


def test_released_shapes_describe_the_paper_model():
    if not RELEASED_SHAPES.is_file():
        pytest.skip(f"{RELEASED_SHAPES} is absent (the data mirror)")
    shapes = weights.read_shapes(RELEASED_SHAPES)
    assert [list(s) for s in shapes] == release_shapes(PAPER)
    assert len(shapes) == 146 and sum(int(np.prod(s)) for s in shapes) == 116_534_784
    # No task-token rows in the release: 40,478 BPE tokens; train.py appends the three at fine-tuning.
    assert weights.config_from_shapes(shapes, 12, RELEASED_SHAPES) == PAPER


def test_original_layout_errors_name_the_problem(tmp_path):
    release = write_release(tmp_path / "release", TINY)
    (release / "params_9.npy").unlink()
    with pytest.raises(FileNotFoundError, match="params_9.npy"):
        weights.read_released(release, n_head=2)
    np.save(release / "params_9.npy", np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match="params_\\*.npy files hold"):
        weights.read_released(release, n_head=2)
    shapes = release_shapes(TINY)
    shapes[3] = [5]
    (release / "params_shapes.json").write_text(json.dumps(shapes))
    with pytest.raises(ValueError, match="tensor 3 has shape"):
        weights.read_released(release, n_head=2)


def test_format_detection(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither config.json"):
        weights.detect_format(tmp_path)
    (tmp_path / "params_shapes.json").write_text("[]")
    assert weights.detect_format(tmp_path) == "original"
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="holds both"):
        weights.detect_format(tmp_path)
    (tmp_path / "params_shapes.json").unlink()
    assert weights.detect_format(tmp_path) == "hf"


def test_pytorch_bin_without_safetensors_is_read_as_plain_tensors(tmp_path):
    hf = random_hf_model(TINY)
    hf.save_pretrained(tmp_path / "hf", safe_serialization=False)
    assert not (tmp_path / "hf" / "model.safetensors").exists()
    cfg, state, fmt = weights.read_released(tmp_path / "hf")
    assert fmt == "hf" and cfg == TINY
    assert torch.equal(state["h.1.mlp.c_fc.weight"], hf.transformer.h[1].mlp.c_fc.weight.T)


def test_export_refuses_a_feed_forward_width_transformers_cannot_hold(tmp_path):
    cfg = GPTConfig(vocab_size=11, n_ctx=4, n_layer=1, n_head=1, n_embd=4, n_inner=8)
    torch.save({"model_config": cfg.to_dict(), "model": GPT(cfg).state_dict()}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="n_inner 8 is not 4 x n_embd"):
        weights.export_hf(tmp_path / "model.pt", tmp_path / "out")


def test_cli_import_and_export(tmp_path):
    hf = random_hf_model(TINY)
    hf.save_pretrained(tmp_path / "hf")
    cli.main(["import-weights", str(tmp_path / "hf"), str(tmp_path / "model.pt"), "--task-tokens", "3"])
    assert torch.load(tmp_path / "model.pt", weights_only=True)["model_config"]["vocab_size"] == TINY.vocab_size + 3
    cli.main(["export-hf", str(tmp_path / "model.pt"), str(tmp_path / "exported")])
    reloaded, info = transformers.OpenAIGPTLMHeadModel.from_pretrained(tmp_path / "exported", output_loading_info=True)
    assert not any(info.values()) and reloaded.config.vocab_size == TINY.vocab_size + 3
    with pytest.raises(SystemExit, match="neither config.json"):
        cli.main(["import-weights", str(tmp_path), str(tmp_path / "other.pt")])


def test_unpinned_download_is_checked_by_format(tmp_path, serve, caplog):
    good = tmp_path / "good.npy"
    np.save(good, np.arange(6, dtype=np.float32))
    file = released.ReleasedFile("params_0.npy", serve("/params_0.npy", good.read_bytes()), "x/params_0.npy")
    with caplog.at_level(logging.WARNING, logger="gpt1.weights"):
        path = released.fetch_released(file, tmp_path / "out")
    assert np.array_equal(np.load(path), np.arange(6, dtype=np.float32))
    assert "no pinned sha256" in caplog.text

    bad = released.ReleasedFile("params_1.npy", serve("/params_1.npy", b"<html>not found</html>"), "x/params_1.npy")
    with pytest.raises(ValueError, match="params_1.npy .* is not a valid .npy file"):
        released.fetch_released(bad, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["params_0.npy"]


def test_tokenizer_files_come_verified_from_the_mirror(tmp_path, monkeypatch):
    if not (SHARED_DATA / "openai-gpt").is_dir():
        pytest.skip(f"{SHARED_DATA / 'openai-gpt'} is absent (the data mirror)")
    monkeypatch.setenv("GPT1_DATA_MIRROR", str(SHARED_DATA))
    for file in released.TOKENIZER_FILES + released.WEIGHT_FILES["original"][:1]:
        assert file.sha256 and released.fetch_released(file, tmp_path).is_file()
    assert weights.read_shapes(tmp_path / "params_shapes.json") == weights.read_shapes(RELEASED_SHAPES)
