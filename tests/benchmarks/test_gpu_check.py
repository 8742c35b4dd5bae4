"""benchmarks/gpu_check.py: its tiny mode on the CPU, as a bare CUDA machine would run it (no MLflow, Snakemake
or DVC to import), writes every section with sane figures; a failing section, the budget and --dry-run."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from benchmarks import gpu_check
from benchmarks import gpu_check_sections as sections
from conftest import ROOT
from gpt1.tasks import TASKS
from gpt1.tasks.transform import sequences_per_example

# A bare CUDA machine in a Python start-up hook: mlflow, snakemake and dvc cannot be imported (as if not
# installed), and at exit the process prints which of them is in sys.modules.
BARE_MACHINE = """
import atexit, importlib.abc, json, sys

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {absent!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not on a bare CUDA machine)")

sys.meta_path.insert(0, Absent())
atexit.register(lambda: print("imported:", json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & {absent!r}))))
"""


def bare_machine(tmp_path) -> dict:
    """The environment of a process that imports as on a bare CUDA machine."""
    hook = tmp_path / "bare_machine"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(BARE_MACHINE.format(absent=set(gpu_check.ABSENT)))
    return os.environ | {"PYTHONPATH": str(hook), "PYTHON": sys.executable}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One tiny run on the CPU through the wrapper a person runs, on a stand-in bare machine; its report and
    standard output."""
    root = tmp_path_factory.mktemp("gpu_check")
    command = [ROOT / "benchmarks" / "gpu_check.sh", root / "out", "--tiny", "--device", "cpu"]
    done = subprocess.run(command, cwd=root, env=bare_machine(root), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads((root / "out" / gpu_check.REPORT).read_text()), done.stdout


def test_the_bare_machine_stand_in_refuses_mlflow_snakemake_and_dvc(tmp_path):
    env = bare_machine(tmp_path)
    for name in gpu_check.ABSENT:
        done = subprocess.run([sys.executable, "-c", f"import {name}"], env=env, capture_output=True, text=True)
        assert done.returncode != 0 and "not on a bare CUDA machine" in done.stderr, name


def test_tiny_run_imports_no_mlflow_snakemake_or_dvc(tiny):
    report, stdout = tiny
    assert "imported: []" in stdout
    assert report["absent_modules_imported"] == []


def test_tiny_run_writes_every_section_timed(tiny):
    report, stdout = tiny
    assert list(report["sections"]) == list(gpu_check.SECTIONS)
    assert list(gpu_check.SECTIONS) == ["correctness", "matmul", "mfu", "finetune", "pretrain", "openai_gpt"]
    for name, section in report["sections"].items():
        assert section["status"] == "ok", (name, section)
        assert section["wall_s"] > 0
    assert 0 < report["total_wall_s"] < report["budget_s"]
    assert report["machine"]["device"] == "cpu" and report["machine"]["torch_threads"] == 1  # --tiny's default
    assert "--tiny" in report["command"] and report["plan"]["name"] == "tiny" and report["budget_s"] == 450
    assert "gpu_check on cpu" in stdout and "loss_fell True" in stdout


def test_tiny_run_measures_matmul_and_mfu(tiny):
    report, stdout = tiny
    assert "mfu against: `mfu`: none (no datasheet peak known for cpu)" in stdout  # the denominator, named
    matmul, mfu = report["sections"]["matmul"], report["sections"]["mfu"]
    assert matmul["bf16_tflops"] > 0 and matmul["fp32_tflops"] > 0
    assert matmul["mfu_peak_tflops"] == matmul["fp32_tflops"]  # the CPU trains in fp32
    assert mfu["peak_tflops"] == matmul["fp32_tflops"] and mfu["flops_per_token"] > 0
    rows = mfu["eager"]["rows"]
    assert [row["batch"] for row in rows] == list(gpu_check.TINY.mfu_batches)
    for row in rows:  # a CPU has no datasheet peak: MFU against the measured fp32 matmul only
        assert row["tokens_per_s"] > 0 and row["mfu"] is None and 0 < row["mfu_of_measured_matmul"] < 1
        expected = row["tokens_per_s"] * mfu["flops_per_token"] / (matmul["fp32_tflops"] * 1e12)
        assert row["mfu_of_measured_matmul"] == pytest.approx(expected)
    assert mfu["datasheet_bf16_tflops"] is None
    assert mfu["mfu_denominator"] == (
        "`mfu`: none (no datasheet peak known for cpu); `mfu_of_measured_matmul`: the measured fp32 matmul"
    )
    assert mfu["eager"]["largest_batch"] == gpu_check.TINY.mfu_batches[-1]
    assert mfu["compiled"]["status"] == "skipped" and "--tiny" in mfu["compiled"]["reason"]


def test_tiny_run_passes_every_correctness_check_and_prints_each(tiny):
    report, stdout = tiny
    correctness = report["sections"]["correctness"]
    assert correctness["passed"] is True
    assert list(correctness["checks"]) == ["fp32", "bf16", "micro_batches", "resume", "released"]
    for name, check in correctness["checks"].items():
        assert check["passed"] is True, (name, check)
        assert f"correctness {name}: passed (" in stdout
    checks = correctness["checks"]
    assert 0 < checks["fp32"]["cpu_vs_float64"]["grad_rel"] < correctness["tolerances"]["fp32_grad_rel"]
    assert checks["bf16"]["autocast"].startswith("cpu bf16") and checks["bf16"]["vs_float64"]["logits_rel_rms"] > 0
    assert checks["micro_batches"]["precision"] == "fp32" and len(checks["micro_batches"]["sequence_lengths"]) > 4
    assert checks["resume"]["bit_for_bit"] and checks["resume"]["whole_runs_max_abs_difference"] == 0.0
    assert 0 < checks["released"]["logits_max_abs"] <= 1e-4 < checks["released"]["logits_max_abs_of_theirs"]


def test_tiny_run_fine_tunes_every_task_at_each_micro_batch_size_up_to_the_whole_batch(tiny):
    report, stdout = tiny
    finetune = report["sections"]["finetune"]
    plan = gpu_check.TINY
    assert list(finetune["tasks"]) == list(TASKS) and len(TASKS) == 12
    assert (finetune["batch"], finetune["profile_micro_batch"]) == (plan.finetune_batch, plan.finetune_micro)
    for task_id, part in finetune["tasks"].items():
        assert part["sequences_per_batch"] == plan.finetune_batch * sequences_per_example(TASKS[task_id])
        assert [row["micro_batch"] for row in part["rows"]] == [1, 2, 4]
        assert all(row["examples_per_s"] > 0 for row in part["rows"])
        assert part["largest_micro_batch_that_fits"] == plan.finetune_batch and part["whole_batch_fits"]
        assert f"  {task_id} ({part['sequences_per_batch']} sequences): micro-batch 1" in stdout
    assert finetune["tasks"]["race"]["sequences_per_batch"] == 16


def test_the_plan_fine_tunes_at_the_paper_profile_s_batch_and_micro_batch():
    import yaml

    paper = yaml.safe_load((ROOT / "profiles.yaml").read_text())["paper"]["finetune"]
    assert (gpu_check.GPU.finetune_batch, gpu_check.GPU.finetune_micro) == (
        paper["batch_size"],
        paper["micro_batch_size"],
    )
    assert gpu_check.GPU.finetune_tokens == gpu_check.GPU.model.n_ctx == 512
    assert gpu_check.GPU.finetune_tasks == tuple(TASKS)


@pytest.mark.parametrize(
    ("profile", "fits_below", "tried", "largest"),
    [(1, 99, [1, 2, 4], 4), (1, 3, [1, 2, 4], 2), (4, 2, [4, 2, 1], 1), (2, 1, [2, 1], None)],
)
def test_the_micro_batch_search_doubles_from_the_profile_s_and_halves_when_it_does_not_fit(
    profile, fits_below, tried, largest, monkeypatch
):
    """An update of more than `fits_below` examples a pass runs out of memory, as on a card too small."""
    import torch

    from gpt1.model import GPT

    real = sections.accumulate

    def accumulate(model, task, batch, micro, lm_coef, device):
        if (micro or len(batch)) >= fits_below:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
        return real(model, task, batch, micro, lm_coef, device)

    monkeypatch.setattr(sections, "accumulate", accumulate)
    plan = dataclasses.replace(gpu_check.TINY, finetune_micro=profile)
    part = sections.task_update(GPT(plan.model), "race", plan, torch.device("cpu"), gpu_check.Clock(60.0))
    assert [row["micro_batch"] for row in part["rows"]] == tried
    assert part["largest_micro_batch_that_fits"] == largest
    assert part["whole_batch_fits"] is (largest == plan.finetune_batch)
    assert part["profile_micro_batch_peak_gib"] is None  # a CPU has no CUDA peak


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
    assert printed["plan"]["finetune_tasks"] == list(TASKS) and printed["plan"]["micro_check"]["task"] == "race"
    assert not (tmp_path / "out").exists()


def test_the_paper_size_check_refuses_a_cpu(tmp_path):
    with pytest.raises(ValueError, match="needs a CUDA device, not cpu: use --tiny on a CPU"):
        gpu_check.run_check(gpu_check.GPU, "cpu", tmp_path / "out", 60.0, "test")
    assert not (tmp_path / "out").exists()


def test_the_batch_search_stops_at_the_first_batch_out_of_memory_and_compile_halves_until_one_fits():
    import torch

    from benchmarks.gpu_check_sections import training_steps
    from gpt1.model import GPT

    model = GPT(gpu_check.TINY.model)

    def fits_below_8(x, y):  # a GPU that holds batches of up to 4
        if len(x) >= 8:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return model(x, y)

    cpu, clock = torch.device("cpu"), gpu_check.Clock(60.0)
    eager = training_steps(model, fits_below_8, cpu, (2, 4, 8, 16), gpu_check.TINY, clock)
    assert [(row["batch"], "tokens_per_s" in row) for row in eager] == [(2, True), (4, True), (8, False)]
    assert eager[-1] == {
        "batch": 8,
        "status": "out of memory",
        "error": "CUDA out of memory. Tried to allocate 20.00 GiB",
    }
    assert all(p.grad is None for p in model.parameters())
    halving = training_steps(model, fits_below_8, cpu, (16, 8, 4, 2), gpu_check.TINY, clock, first_fit=True)
    assert [(row["batch"], "tokens_per_s" in row) for row in halving] == [(16, False), (8, False), (4, True)]


@pytest.mark.parametrize(
    ("name", "card", "tflops"),
    [
        ("NVIDIA H100 80GB HBM3", "H100", 989.0),
        ("NVIDIA H100 PCIe", "H100 PCIe", 756.0),
        ("NVIDIA H100 NVL", "H100 NVL", 835.0),
        ("NVIDIA H200", "H200", 989.0),
        ("NVIDIA A100-SXM4-80GB", "A100", 312.0),
        ("NVIDIA GeForce RTX 4090", None, None),
    ],
)
def test_mfu_is_against_the_datasheet_peak_of_a_known_card(name, card, tflops, monkeypatch):
    """The usual MFU (PaLM's, nanoGPT's) divides by the card's dense bf16 datasheet peak; an unknown card has none
    and the check reports MFU against the measured matmul only."""
    import torch

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    found = sections.datasheet_peak(torch.device("cuda"))
    assert (found["datasheet_card"], found["datasheet_bf16_tflops"]) == (card, tflops)
    rows = sections.with_mfu([{"batch": 8, "tokens_per_s": 1e5}], 1e9, {"datasheet": tflops, "measured": 500.0})["rows"]
    assert rows[0]["mfu"] == (pytest.approx(1e14 / (tflops * 1e12)) if tflops else None)
    assert rows[0]["mfu_of_measured_matmul"] == pytest.approx(0.2)
