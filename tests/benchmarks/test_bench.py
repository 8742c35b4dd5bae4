import json

import pytest
import torch

from benchmarks.bench import QUICK, main, pad_to_context
from gpt1.model import GPT, GPTConfig, dropout
from gpt1.tasks import TASKS
from gpt1.training.finetune import Encoded, TaskModel, collate, objective

TINY = GPTConfig(vocab_size=97, n_ctx=16, n_layer=2, n_head=2, n_embd=8, n_inner=32, dropout=0.0)


@pytest.fixture(scope="module")
def bench_out(tmp_path_factory):
    """One quick bench; no data mirror, so it falls back to the test fixtures (and says so)."""
    pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("bench")
    threads = torch.get_num_threads()
    main(
        [
            "--quick",
            "--repeats",
            "2",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--data-dir",
            str(root / "no-mirror"),
            "--out",
            str(root / "out"),
        ]
    )
    assert torch.get_num_threads() == threads  # --threads holds for the bench only
    return root / "out"


def read(out, name):
    return json.loads((out / name).read_text())


def test_pretrain_step_figures(bench_out):
    step = read(bench_out, "pretrain_step.json")
    for key in ("gpt1_tokens_per_s", "transformers_tokens_per_s", "ratio_vs_transformers", "mfu", "peak_flops"):
        assert step[key] > 0, key
    assert step["ratio_vs_transformers"] == pytest.approx(step["gpt1_tokens_per_s"] / step["transformers_tokens_per_s"])
    assert step["mfu"] == pytest.approx(step["gpt1_tokens_per_s"] * step["flops_per_token"] / step["peak_flops"])
    assert step["threads"] == 1 and step["repeats"] == 2 and step["config"] == QUICK.model.to_dict()
    assert all(len(runs) == 2 for runs in step["per_repeat_tokens_per_s"].values())
    assert "256x256 float32" in step["peak"]["method"]
    # The same weights in both models: the same loss before training.
    assert step["parameters"] == step["transformers_parameters"] and step["initial_loss_gap"] < 1e-4


def test_flops_per_token_by_hand(bench_out):
    cfg = read(bench_out, "pretrain_step.json")["config"]
    d, inner, L, V, T = cfg["n_embd"], cfg["n_inner"], cfg["n_layer"], cfg["vocab_size"], cfg["n_ctx"]
    per_layer = d * 3 * d + d * d + d * inner + inner * d  # qkv, attention out, the two feed-forward matrices
    by_hand = 6 * (L * per_layer + V * d) + 12 * L * d * T
    assert read(bench_out, "pretrain_step.json")["flops_per_token"] == by_hand
    assert GPT(GPTConfig(**cfg)).flops_per_token(T) == by_hand


def test_finetune_figures(bench_out):
    ft = read(bench_out, "finetune.json")
    assert ft["gpt1_examples_per_s"] > 0 and ft["padded_examples_per_s"] > 0
    assert ft["ratio_vs_padded"] == pytest.approx(ft["gpt1_examples_per_s"] / ft["padded_examples_per_s"])
    assert ft["mean_batch_width"] <= ft["n_ctx"]
    assert "fixture" in ft["note"]  # no mirror here: the fallback is named


def test_bpe_figures(bench_out):
    bpe = read(bench_out, "bpe.json")
    assert bpe["bpe_training"]["mb_per_s"] > 0
    small, large = bpe["encoding"]
    assert large["corpus_bytes"] > small["corpus_bytes"] and large["tokens"] > small["tokens"]
    assert all(e["mb_per_s"] > 0 and e["peak_rss_bytes"] > 0 for e in (small, large))
    assert bpe["peak_rss_growth"] == pytest.approx(large["peak_rss_bytes"] / small["peak_rss_bytes"])
    assert "fixture" in bpe["note"]


def test_summary_names_the_figures_and_the_command(bench_out):
    text = (bench_out / "summary.md").read_text()
    step = read(bench_out, "pretrain_step.json")
    assert f"{step['ratio_vs_transformers']:.2f}x" in text and "gpt1 bench" in text and "--quick" in text
    assert torch.__version__ in text
    assert not list(bench_out.glob("*.tmp"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here")
def test_cuda_without_a_gpu_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no CUDA device"):
        main(["--quick", "--device", "cuda", "--out", str(tmp_path)])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bench_reports_mfu_against_a_bf16_peak(tmp_path):
    main(["--quick", "--repeats", "2", "--device", "cuda", "--out", str(tmp_path)])
    step = read(tmp_path, "pretrain_step.json")
    assert "bfloat16" in step["peak"]["method"] and step["mfu"] > 0 and step["machine"]["gpu"]
    assert read(tmp_path, "finetune.json")["gpt1_examples_per_s"] > 0


def test_padded_baseline_pads_to_the_context_and_keeps_the_loss():
    torch.manual_seed(0)
    model = TaskModel(GPT(TINY), "classification", 2, clf_dropout=0.0).eval()
    batch = collate([Encoded([[1, 5, 6, 7, 3]], 0, ""), Encoded([[1, 8, 9, 3]], 1, "")], torch.device("cpu"))
    padded = pad_to_context(batch, TINY.n_ctx)
    assert batch[0].shape == (2, 5) and padded[0].shape == (2, TINY.n_ctx)
    assert torch.equal(padded[0][:, :5], batch[0]) and not padded[0][:, 5:].any()
    task = TASKS["sst2"]
    dynamic = objective(model, task, batch, 0.5).item()
    assert objective(model, task, padded, 0.5).item() == pytest.approx(dynamic, abs=1e-6)


# The CPU fast paths of gpt1.model that the bench measures keep the numerics of the plain ops.


def test_attention_with_dropout_is_sdpa_when_nothing_is_dropped():
    torch.manual_seed(0)
    attn = GPT(TINY).h[0].attn
    attn.dropout = 1e-30  # takes the dropout path, drops nothing
    x = torch.randn(3, 16, 8)
    torch.testing.assert_close(attn.train()(x), attn.eval()(x))


def test_dropout_keeps_one_minus_p_and_rescales():
    x = torch.ones(200_000)
    y = dropout(x, 0.1, training=True)
    assert y.unique().tolist() == pytest.approx([0.0, 1 / 0.9])
    assert (y > 0).float().mean().item() == pytest.approx(0.9, abs=0.005)
    assert dropout(x, 0.1, training=False) is x
