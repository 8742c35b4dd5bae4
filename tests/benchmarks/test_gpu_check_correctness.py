"""benchmarks/gpu_check_correctness.py can fail: each check, run on the CPU at the tiny plan's sizes, passes on
gpt1's own code and fails on a planted fault of the kind it is there to catch (a kernel that loses precision, an
attention that loses its mask under autocast, micro-batches weighted wrongly, a resume that loses AdamW's
moments, weights imported into the wrong slots)."""

import json

import pytest
import torch
import torch.nn.functional as F

from benchmarks import gpu_check
from benchmarks import gpu_check_correctness as correctness
from gpt1.training import finetune

CPU = torch.device("cpu")
PLAN = gpu_check.TINY
real_attention = F.scaled_dot_product_attention


def attention_in_bf16(q, k, v, *args, **kwargs):
    """A kernel that computes fp32 attention in bf16 and says nothing: float64 (the reference) is left exact."""
    if q.dtype != torch.float32:
        return real_attention(q, k, v, *args, **kwargs)
    return real_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), *args, **kwargs).float()


def attention_unmasked_in_bf16(q, k, v, *args, is_causal=False, **kwargs):
    """A kernel that drops the causal mask on bf16 inputs (under autocast): each position sees the future."""
    return real_attention(q, k, v, *args, is_causal=is_causal and q.dtype != torch.bfloat16, **kwargs)


@pytest.mark.parametrize(
    ("check", "fault"),
    [(correctness.fp32_and_fused_adamw, attention_in_bf16), (correctness.bf16_autocast, attention_unmasked_in_bf16)],
    ids=["fp32", "bf16"],
)
def test_the_precision_checks_pass_and_fail_on_an_attention_kernel_that_is_wrong(check, fault, monkeypatch):
    assert check(PLAN, CPU)["passed"] is True
    monkeypatch.setattr(F, "scaled_dot_product_attention", fault)
    assert check(PLAN, CPU)["passed"] is False


def test_the_fp32_check_catches_the_kernel_on_the_device_side_too(monkeypatch):
    """The kernel's error shows against float64 even where the device is the CPU itself (the tiny mode)."""
    monkeypatch.setattr(F, "scaled_dot_product_attention", attention_in_bf16)
    result = correctness.fp32_and_fused_adamw(PLAN, CPU)
    assert result["device_vs_cpu"]["grad_rel"] == 0.0
    assert result["device_vs_float64"]["grad_rel"] > correctness.TOLERANCES["fp32_grad_rel"]


def test_the_micro_batch_check_fails_when_micro_batches_are_not_weighted_by_their_share(monkeypatch):
    passing = correctness.micro_batches(PLAN, CPU)
    assert passing["passed"] is True and passing["micro_vs_whole"]["grad_rel"] < 1e-5
    real = finetune.objective

    def unweighted(model, task, batch, lm_coef, task_share=1.0, lm_share=1.0):  # a mean per micro-batch, summed
        return real(model, task, batch, lm_coef)

    monkeypatch.setattr(finetune, "objective", unweighted)
    failing = correctness.micro_batches(PLAN, CPU)
    assert failing["passed"] is False and failing["micro_vs_whole"]["grad_rel"] > 0.1


def test_the_resume_check_fails_when_adamw_s_moments_are_not_restored(monkeypatch):
    assert correctness.resume(PLAN, CPU)["passed"] is True
    monkeypatch.setattr(torch.optim.AdamW, "load_state_dict", lambda self, state: None)  # moments start at 0
    failing = correctness.resume(PLAN, CPU)
    assert failing["passed"] is False and failing["resumed_max_abs_difference"] > 0
    assert failing["whole_runs_max_abs_difference"] == 0.0


def test_the_released_check_fails_on_query_and_key_weights_swapped_on_import(monkeypatch):
    assert correctness.released_architecture(PLAN, CPU)["passed"] is True
    real = correctness.load_pretrained

    def swapped(weights, device):
        model, variant, state = real(weights, device)
        q, k, v = model.h[-1].attn.c_attn.weight.detach().clone().chunk(3)
        model.h[-1].attn.c_attn.weight.data = torch.cat([k, q, v])
        return model, variant, state

    monkeypatch.setattr(correctness, "load_pretrained", swapped)
    failing = correctness.released_architecture(PLAN, CPU)
    assert failing["passed"] is False and failing["logits_max_abs"] > 1e-3


def test_a_failed_check_makes_the_run_exit_with_1_naming_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.optim.AdamW, "load_state_dict", lambda self, state: None)
    monkeypatch.setattr(gpu_check, "SECTIONS", {"correctness": gpu_check.SECTIONS["correctness"]})
    with pytest.raises(SystemExit, match=r"correctness failed on cpu: resume \(see gpu_check.json\)"):
        gpu_check.main(["--out", str(tmp_path), "--tiny", "--device", "cpu", "--threads", str(torch.get_num_threads())])
    report = json.loads((tmp_path / gpu_check.REPORT).read_text())
    assert report["sections"]["correctness"]["passed"] is False
    assert "correctness resume: FAILED" in capsys.readouterr().out


def test_a_check_that_raises_is_recorded_as_failed_and_the_next_still_runs(monkeypatch):
    def out_of_memory(plan, device):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 4.00 GiB")

    monkeypatch.setattr(correctness, "fp32_and_fused_adamw", out_of_memory)
    monkeypatch.setattr(correctness, "resume", lambda plan, device: {"passed": True})
    monkeypatch.setattr(correctness, "released_architecture", lambda plan, device: {"passed": True})
    result = correctness.device_matches_reference(PLAN, CPU, gpu_check.Clock(60.0), {})
    assert result["checks"]["fp32"] == {
        "passed": False,
        "error": "OutOfMemoryError: CUDA out of memory. Tried to allocate 4.00 GiB",
    }
    assert result["checks"]["bf16"]["passed"] is True and result["passed"] is False
