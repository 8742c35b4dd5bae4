"""benchmarks/gpu_check.py: its tiny mode on the CPU, as a bare CUDA machine would run it (no MLflow, Snakemake
or DVC to import), writes every section with sane figures; a failing section, the budget and --dry-run."""

import dataclasses
import json
import subprocess
import sys

import pytest

from benchmarks import gpu_check
from conftest import ROOT

# The check as a bare CUDA machine runs it: mlflow, snakemake and dvc cannot be imported (as if not installed),
# and at the end none of them is in sys.modules.
BARE_MACHINE = """
import importlib.abc, json, runpy, sys

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {absent!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not on a bare CUDA machine)")

sys.meta_path.insert(0, Absent())
{body}
print("imported:", json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & {absent!r})))
"""
RUN_CHECK = 'sys.argv = ["gpu_check", *sys.argv[1:]]\nrunpy.run_module("benchmarks.gpu_check", run_name="__main__")'


def bare_machine(body: str, *args: str) -> subprocess.CompletedProcess:
    code = BARE_MACHINE.format(absent=set(gpu_check.ABSENT), body=body)
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One tiny run on the CPU (one thread: the figures are steadier on a shared machine); its report and
    standard output."""
    out = tmp_path_factory.mktemp("gpu_check")
    done = bare_machine(RUN_CHECK, "--tiny", "--device", "cpu", "--threads", "1", "--out", str(out))
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads((out / gpu_check.REPORT).read_text()), done.stdout


def test_the_bare_machine_stand_in_refuses_mlflow_snakemake_and_dvc():
    for name in gpu_check.ABSENT:
        done = bare_machine(f"import {name}")
        assert done.returncode != 0 and "not on a bare CUDA machine" in done.stderr, name


def test_tiny_run_imports_no_mlflow_snakemake_or_dvc(tiny):
    report, stdout = tiny
    assert "imported: []" in stdout
    assert report["absent_modules_imported"] == []


def test_tiny_run_writes_every_section_timed(tiny):
    report, stdout = tiny
    assert (
        list(report["sections"]) == list(gpu_check.SECTIONS) == ["matmul", "mfu", "finetune", "pretrain", "openai_gpt"]
    )
    for name, section in report["sections"].items():
        assert section["status"] == "ok", (name, section)
        assert section["wall_s"] > 0
    assert 0 < report["total_wall_s"] < report["budget_s"]
    assert report["machine"]["device"] == "cpu" and report["machine"]["torch"]
    assert "--tiny" in report["command"] and report["plan"]["name"] == "tiny"
    assert "gpu_check on cpu" in stdout and "loss_fell True" in stdout


def test_tiny_run_measures_matmul_and_mfu(tiny):
    report, _ = tiny
    matmul, mfu = report["sections"]["matmul"], report["sections"]["mfu"]
    assert matmul["bf16_tflops"] > 0 and matmul["fp32_tflops"] > 0
    assert matmul["mfu_peak_tflops"] == matmul["fp32_tflops"]  # the CPU trains in fp32
    assert mfu["peak_tflops"] == matmul["fp32_tflops"] and mfu["flops_per_token"] > 0
    rows = mfu["eager"]["rows"]
    assert [row["batch"] for row in rows] == list(gpu_check.TINY.mfu_batches)
    for row in rows:
        assert row["tokens_per_s"] > 0 and 0 < row["mfu"] < 1
    assert mfu["eager"]["largest_batch"] == gpu_check.TINY.mfu_batches[-1]
    assert mfu["compiled"]["status"] == "skipped" and "--tiny" in mfu["compiled"]["reason"]


def test_tiny_run_fine_tunes_at_both_shapes_whole_and_in_micro_batches(tiny):
    report, _ = tiny
    finetune = report["sections"]["finetune"]
    for shape in gpu_check.TINY.finetune_shapes:
        part = finetune[shape.name]
        assert (part["examples"], part["sequences_per_example"]) == (shape.examples, shape.sequences)
        assert [row["micro_batch"] for row in part["rows"]] == [m or shape.examples for m in shape.micro]
        assert all(row["examples_per_s"] > 0 and row["tokens_per_s"] > 0 for row in part["rows"])


def test_tiny_run_pretrains_until_the_loss_falls_below_the_unigram_loss(tiny):
    report, _ = tiny
    pretrain = report["sections"]["pretrain"]
    assert pretrain["updates"] == gpu_check.TINY.pretrain_steps and pretrain["tokens_per_s"] > 0
    assert pretrain["loss_fell"] is True
    assert pretrain["chain_loss"] < pretrain["unigram_loss"] < pretrain["uniform_loss"]
    assert abs(pretrain["loss_start"] - pretrain["uniform_loss"]) < 0.5  # a fresh model guesses uniformly
    assert pretrain["loss_end"] < pretrain["unigram_loss"] - 1.0


def test_tiny_run_fine_tunes_an_imported_release_shaped_checkpoint(tiny):
    report, _ = tiny
    path = report["sections"]["openai_gpt"]
    assert path["source"] == "openai-gpt" and path["produced_metrics"]
    assert path["checkpoint_vocab_size"] == gpu_check.TINY.released.vocab_size + 3  # the task tokens' rows
    assert path["updates"] == gpu_check.TINY.openai_examples // gpu_check.TINY.openai_batch
    assert 0 <= path["dev_metrics"]["accuracy"] <= 1


def fails(plan, device, clock, done):
    raise RuntimeError("CUDA error: out of memory at batch 128")


def measures(plan, device, clock, done):
    return {"seen": sorted(done)}


def test_a_failing_section_records_its_error_and_the_next_still_runs(tmp_path):
    chosen = {"first": fails, "second": measures}
    report = gpu_check.run_check(gpu_check.TINY, "cpu", tmp_path, 60.0, "test", chosen)
    assert report["sections"] == json.loads((tmp_path / gpu_check.REPORT).read_text())["sections"]
    first, second = report["sections"]["first"], report["sections"]["second"]
    assert first["status"] == "error" and first["error"] == "RuntimeError: CUDA error: out of memory at batch 128"
    assert second == {"status": "ok", "seen": ["first"], "wall_s": second["wall_s"]}


def test_sections_are_skipped_with_the_reason_once_the_budget_is_short(tmp_path):
    plan = dataclasses.replace(gpu_check.TINY, estimate_s={"second": 1000.0})
    report = gpu_check.run_check(plan, "cpu", tmp_path, 60.0, "test", {"first": measures, "second": measures})
    assert report["sections"]["first"]["status"] == "ok"
    skipped = report["sections"]["second"]
    assert skipped["status"] == "skipped" and "needs about 1000 s" in skipped["reason"]
    spent = gpu_check.run_check(gpu_check.TINY, "cpu", tmp_path, 0.0, "test", {"first": measures})
    assert spent["sections"]["first"]["status"] == "skipped" and "budget left" in spent["sections"]["first"]["reason"]


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path, capsys):
    gpu_check.main(["--dry-run", "--out", str(tmp_path / "out")])
    printed = json.loads(capsys.readouterr().out)
    assert printed["plan"]["name"] == "paper" and printed["plan"]["model"]["n_layer"] == 12
    assert printed["sections"] == list(gpu_check.SECTIONS)
    assert not (tmp_path / "out").exists()
