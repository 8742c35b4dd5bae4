import json
import math
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import TINY, tiny_run
from gpt1.config import GPTConfig, PretrainConfig
from gpt1.params import cli_flags
from gpt1.training import checkpoint
from gpt1.training.pretrain import batch_offsets, pretrain, total_steps
from gpt1.training.schedules import warmup_cosine


def test_learning_rate_follows_the_papers_schedule():
    max_lr, warmup, total = 2.5e-4, 2000, 10_000
    assert warmup_cosine(1, max_lr, warmup, total) == pytest.approx(max_lr / 2000)
    assert warmup_cosine(1000, max_lr, warmup, total) == pytest.approx(max_lr / 2)  # linear from 0
    assert warmup_cosine(2000, max_lr, warmup, total) == pytest.approx(max_lr)
    for step in (2500, 6000, 9000):
        cosine = 0.5 * max_lr * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
        assert warmup_cosine(step, max_lr, warmup, total) == pytest.approx(cosine)
    assert warmup_cosine(6000, max_lr, warmup, total) == pytest.approx(max_lr / 2)  # half-way down the cosine
    assert warmup_cosine(total, max_lr, warmup, total) == pytest.approx(0.0, abs=1e-15)


def test_total_steps_from_epochs_and_cap():
    cfg = PretrainConfig(batch_size=64, epochs=100.0, max_steps=0)
    assert total_steps(cfg, train_tokens=64 * 512 * 10, n_ctx=512) == 1000
    assert total_steps(PretrainConfig(batch_size=64, epochs=100.0, max_steps=30), 64 * 512 * 10, 512) == 30


def test_batches_depend_only_on_seed_and_step():
    a = batch_offsets(5, seed=1, batch_size=64, n_tokens=10_000, n_ctx=128)
    assert np.array_equal(a, batch_offsets(5, 1, 64, 10_000, 128))
    assert not np.array_equal(a, batch_offsets(6, 1, 64, 10_000, 128))
    assert a.min() >= 0 and a.max() + 128 + 1 <= 10_000


def test_loss_falls_on_a_small_corpus(pattern_tokens, tmp_path):
    metrics = pretrain(TINY, tiny_run(lr=1e-2, max_steps=60, eval_interval=20), pattern_tokens, tmp_path / "out")
    curves = (tmp_path / "out" / "train_curve.csv").read_text().splitlines()
    first_loss = float(curves[1].split(",")[1])
    assert first_loss > 3.5  # about ln(64) = 4.16 at the start
    assert metrics["val_loss"] < 0.5 * math.log(64)
    assert metrics["val_ppl"] == pytest.approx(math.exp(metrics["val_loss"]))
    saved = torch.load(tmp_path / "out" / "model.pt", weights_only=True)
    assert saved["model_config"] == TINY.to_dict() and saved["step"] == 60


def test_snapshots_keep_the_initial_weights_every_interval_and_the_end(pattern_tokens, tmp_path):
    pretrain(TINY, tiny_run(max_steps=10, snapshot_interval=4), pattern_tokens, tmp_path)
    names = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
    assert names == ["step0000000.pt", "step0000004.pt", "step0000008.pt", "step0000010.pt"]
    first, last = (torch.load(tmp_path / "snapshots" / n, weights_only=True) for n in (names[0], names[-1]))
    final = torch.load(tmp_path / "model.pt", weights_only=True)
    assert first["step"] == 0 and last["step"] == 10 and first["model_config"] == TINY.to_dict()
    assert all(torch.equal(last["model"][k], v) for k, v in final["model"].items())
    assert not torch.equal(first["model"]["h.0.attn.c_attn.weight"], last["model"]["h.0.attn.c_attn.weight"])


def test_resume_after_interruption_gives_the_same_weights(pattern_tokens, tmp_path):
    cfg = tiny_run(max_steps=12, eval_interval=4, log_interval=1, snapshot_interval=5)
    tiny = GPTConfig(**(TINY.to_dict() | {"dropout": 0.1}))  # dropout masks must replay too
    pretrain(tiny, cfg, pattern_tokens, tmp_path / "whole")
    assert pretrain(tiny, cfg, pattern_tokens, tmp_path / "split", stop_after=6) is None
    assert not (tmp_path / "split" / "model.pt").exists()
    assert torch.load(tmp_path / "split" / checkpoint.FILE, weights_only=True)["done"] == 6
    assert not (tmp_path / "split" / "snapshots").exists()  # an output Snakemake or DVC would delete
    pretrain(tiny, cfg, pattern_tokens, tmp_path / "split")
    whole = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["model"]
    split = torch.load(tmp_path / "split" / "model.pt", weights_only=True)["model"]
    for name in whole:
        assert torch.equal(whole[name], split[name]), name

    def losses(d):
        train = [line.split(",")[:2] for line in (tmp_path / d / "train_curve.csv").read_text().splitlines()]
        return train, (tmp_path / d / "val_curve.csv").read_text()

    assert losses("whole") == losses("split")  # train and validation losses, row by row

    def snapshots(d):
        return sorted(p.name for p in (tmp_path / d / "snapshots").iterdir())

    assert (
        snapshots("split")
        == snapshots("whole")
        == ["step0000000.pt", "step0000005.pt", "step0000010.pt", "step0000012.pt"]
    )


def test_a_rerun_of_a_finished_pretraining_rebuilds_its_outputs(pattern_tokens, tmp_path):
    """As `snakemake --forcerun pretrain` does: the declared outputs deleted, the checkpoint kept."""
    cfg = tiny_run(max_steps=6, eval_interval=3, snapshot_interval=3)
    pretrain(TINY, cfg, pattern_tokens, tmp_path)
    first = {p.name: p.read_bytes() for p in (tmp_path / "snapshots").iterdir()}
    metrics = (tmp_path / "metrics.json").read_text()
    for output in ("model.pt", "metrics.json", "train_curve.csv", "val_curve.csv"):
        (tmp_path / output).unlink()
    shutil.rmtree(tmp_path / "snapshots")
    pretrain(TINY, cfg, pattern_tokens, tmp_path)
    assert {p.name: p.read_bytes() for p in (tmp_path / "snapshots").iterdir()} == first
    assert sorted(first) == ["step0000000.pt", "step0000003.pt", "step0000006.pt"]
    assert json.loads((tmp_path / "metrics.json").read_text())["val_loss"] == json.loads(metrics)["val_loss"]
    assert (tmp_path / "model.pt").exists()


@pytest.mark.parametrize("change", [{"lr": 1e-3}, {"snapshot_interval": 2}])
def test_a_checkpoint_from_other_settings_is_set_aside_with_its_snapshots(change, pattern_tokens, tmp_path):
    before = {"max_steps": 8, "snapshot_interval": 4}
    pretrain(TINY, tiny_run(**before), pattern_tokens, tmp_path, stop_after=4)
    old_checkpoint = (tmp_path / checkpoint.FILE).read_bytes()
    old_weights = torch.load(tmp_path / checkpoint.FILE, weights_only=True)["model"]
    old_snapshots = sorted(p.name for p in (tmp_path / "checkpoint.snapshots").iterdir())
    result = pretrain(TINY, tiny_run(**(before | change)), pattern_tokens, tmp_path)
    assert result["steps"] == 8
    assert len((tmp_path / "train_curve.csv").read_text().splitlines()[1:]) == 4
    (aside,) = tmp_path.glob("set-aside-*")
    assert (aside / checkpoint.FILE).read_bytes() == old_checkpoint
    assert sorted(p.name for p in (aside / "checkpoint.snapshots").iterdir()) == old_snapshots
    assert old_snapshots == ["step0000000.pt", "step0000004.pt"]
    # back to the first settings, then the second again: each set-aside folder holds its run's latest state
    pretrain(TINY, tiny_run(**before), pattern_tokens, tmp_path, stop_after=4)
    pretrain(TINY, tiny_run(**(before | change)), pattern_tokens, tmp_path, stop_after=2)
    assert len(list(tmp_path.glob("set-aside-*"))) == 2
    again = torch.load(aside / checkpoint.FILE, weights_only=True)  # the first settings' run, redone
    assert again["done"] == 4 and all(torch.equal(again["model"][k], v) for k, v in old_weights.items())


def test_batch_must_split_into_micro_batches(pattern_tokens, tmp_path):
    with pytest.raises(ValueError, match="pretrain.micro_batch_size"):
        pretrain(TINY, tiny_run(batch_size=6, micro_batch_size=4), pattern_tokens, tmp_path)


def pretrain_command(tokens_dir, out_dir, nproc: int) -> list[str]:
    model = {k: v for k, v in asdict(TINY).items() if k != "vocab_size"}
    run = asdict(
        tiny_run(
            batch_size=8,
            micro_batch_size=4,
            lr=3e-3,
            warmup_steps=3,
            max_steps=8,
            eval_interval=4,
            eval_batches=2,
            log_interval=2,
            seed=7,
            processes=nproc,
        )
    )
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "gpt1",
        "pretrain",
        "--tokens-dir",
        str(tokens_dir),
        "--out-dir",
        str(out_dir),
        "--metrics",
        str(out_dir / "flat.json"),
        *shlex.split(cli_flags(model)),
        *shlex.split(cli_flags(run)),
    ]


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(pattern_tokens, tmp_path):
    env = os.environ | {"GPT1_TRACKING": "0"}
    for nproc in (1, 2):
        done = subprocess.run(
            pretrain_command(pattern_tokens, tmp_path / f"p{nproc}", nproc),
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    one = torch.load(tmp_path / "p1" / "model.pt", weights_only=True)["model"]
    two = torch.load(tmp_path / "p2" / "model.pt", weights_only=True)["model"]
    for name in one:
        torch.testing.assert_close(one[name], two[name], rtol=1e-4, atol=1e-5, msg=name)
    m1, m2 = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("p1", "p2"))
    assert m1["val_loss"] == pytest.approx(m2["val_loss"], rel=1e-4)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_fused_compiled_run(pattern_tokens, tmp_path):
    metrics = pretrain(
        TINY,
        tiny_run(lr=1e-2, max_steps=60, eval_interval=20, device="cuda", compile="default"),
        pattern_tokens,
        tmp_path,
    )
    assert metrics["val_loss"] < 0.5 * math.log(64)


def test_the_curves_have_no_blank_cells(pattern_tokens, tmp_path):
    """Training and validation rows in files of their own: a plot never reads a missing value as 0."""
    pretrain(TINY, tiny_run(max_steps=8, eval_interval=4, log_interval=2), pattern_tokens, tmp_path)
    train = pd.read_csv(tmp_path / "train_curve.csv")
    val = pd.read_csv(tmp_path / "val_curve.csv")
    assert list(train["step"]) == [2, 4, 6, 8] and list(val["step"]) == [4, 8]
    assert list(val.columns) == ["step", "val_loss", "val_ppl"]
    assert not train.isna().any().any() and not val.isna().any().any()
