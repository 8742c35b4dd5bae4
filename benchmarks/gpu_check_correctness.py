"""The device check's first section, `correctness`: the device's training path computes what the CPU's does.

The test suite checks gpt1's model against transformers and the released code on the CPU in fp32; nothing there
runs a CUDA kernel (scaled-dot-product attention's, fused AdamW's, bf16 autocast). Here the same weights and
batch go through the device and the CPU, and each comparison passes when its difference is within TOLERANCES:

- fp32: loss, logits and every parameter's gradient on the device (TF32 off) against the CPU's fp32 and against a
  float64 copy on the CPU (which is what fails on the CPU itself, the tiny mode's device); then two AdamW steps
  (fused on CUDA, as pretraining's) from the same gradients against the CPU's.
- bf16: the training step under bf16 autocast (`gpt1.device.mixed_precision` on CUDA; on the CPU, which trains
  in fp32, CPU bf16 autocast, so that the tiny mode compares something) against float64.
- micro_batches: a fine-tuning update's gradients (`gpt1.training.finetune.accumulate`, L3 with the auxiliary LM
  loss, examples of different lengths) in micro-batches against the whole batch, on the device, dropout off.
- resume: `gpt1.training.pretrain.pretrain` stopped halfway and resumed, against the same run whole, dropout
  on: bit for bit where two whole runs agree bit for bit; else within RESUME_NOISE_FACTOR times their own
  difference (kernels whose sums are ordered by the scheduler).
- released: the released architecture's logits as transformers' OpenAIGPTLMHeadModel computes them, on the
  device in fp32, against gpt1's model holding the same weights as `gpt1 import-openai-gpt` imports them.
"""

from __future__ import annotations

import contextlib
import copy
import math
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from benchmarks.gpu_check_sections import markov_chain, synthetic_examples, write_tokens
from gpt1.config import GPTConfig, PretrainConfig
from gpt1.device import mixed_precision
from gpt1.model import GPT
from gpt1.tasks import TASKS
from gpt1.tasks.transform import sequences_per_example
from gpt1.training.finetune import TaskModel, accumulate, load_pretrained
from gpt1.training.pretrain import pretrain
from gpt1.training.targets import n_outputs
from gpt1.weights import import_weights

TOLERANCES = {
    "fp32_loss_rel": 1e-5,
    "fp32_logits_max_abs": 1e-4,
    "fp32_grad_rel": 1e-4,
    "adamw_update_max_abs_over_lr": 1e-3,
    "bf16_loss_rel": 1e-2,
    "bf16_logits_rel_rms": 5e-2,
    "bf16_grad_rel": 1e-1,
    "micro_grad_rel_fp32": 1e-4,
    "micro_grad_rel_bf16": 1e-1,
    "released_logits_max_abs": 1e-4,
}
"""The stated tolerances. `*_rel`: |difference| / |reference|; for the gradients, the worst parameter's
‖difference‖ / ‖reference‖, a reference norm under GRAD_FLOOR of the typical parameter's counting as that floor
(the key biases' and a multiple-choice head's bias's gradients are zero in exact arithmetic). `logits_rel_rms`:
the RMS of the difference over the RMS of the reference. bf16 keeps 8 bits of mantissa, a relative rounding of
2^-9, about 2e-3, an operation. What they were set against: docs/device-check.md, The correctness checks."""
GRAD_FLOOR = 1e-1
RESUME_NOISE_FACTOR = 10.0
RESUME_LOSS_REL = 1e-5
"""resume's training losses, row by row, against the whole run's: fp32 values of one computation."""


def device_matches_reference(plan, device: torch.device, clock, done: dict) -> dict:
    checks = {
        "fp32": fp32_and_fused_adamw,
        "bf16": bf16_autocast,
        "micro_batches": micro_batches,
        "resume": resume,
        "released": released_architecture,
    }
    results = {}
    for name, check in checks.items():
        try:  # one check's failure (out of memory, a kernel error) must not cost the others their figures
            results[name] = check(plan, device)
        except Exception as error:
            results[name] = {"passed": False, "error": f"{type(error).__name__}: {error}"[:2000]}
    return {
        "passed": all(result["passed"] for result in results.values()),
        "tolerances": TOLERANCES | {"grad_floor": GRAD_FLOOR, "resume_noise_factor": RESUME_NOISE_FACTOR},
        "checks": results,
    }


@contextlib.contextmanager
def exact_fp32():
    """fp32 matmuls in fp32, not TF32 (pretraining turns TF32 on for CUDA; this puts back what it found)."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def bf16(device: torch.device):
    """The training step's bf16 autocast on CUDA; CPU bf16 autocast on the CPU, where training runs in fp32."""
    return mixed_precision(device) if device.type == "cuda" else torch.autocast("cpu", dtype=torch.bfloat16)


def lm_batch(cfg: GPTConfig, batch: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids and their next tokens as targets, a few of them ignored (-1) as padding is."""
    generator = torch.Generator().manual_seed(seed)
    seq = torch.randint(0, cfg.vocab_size, (batch, cfg.n_ctx + 1), generator=generator)
    targets = seq[:, 1:].clone()
    targets[:, -cfg.n_ctx // 8 :] = -1
    return seq[:, :-1], targets


def step_figures(model: GPT, idx: torch.Tensor, targets: torch.Tensor, autocast=None) -> dict:
    """Loss, logits and gradients of one training step (dropout off), as float64 on the CPU."""
    device = next(model.parameters()).device
    model.zero_grad(set_to_none=True)
    with autocast or contextlib.nullcontext():
        logits, loss = model(idx.to(device), targets.to(device))
    loss.backward()
    return {
        "loss": loss.item(),
        "logits": logits.detach().to("cpu", torch.float64),
        "grads": {name: p.grad.detach().to("cpu", torch.float64) for name, p in model.named_parameters()},
    }


def grad_difference(grads: dict, reference: dict) -> dict:
    norms = {name: g.norm().item() for name, g in reference.items()}
    floor = GRAD_FLOOR * math.sqrt(sum(n * n for n in norms.values()) / len(norms))
    rel = {name: (grads[name] - g).norm().item() / max(norms[name], floor) for name, g in reference.items()}
    worst = max(rel, key=rel.get)
    total = math.sqrt(sum((grads[name] - g).norm().item() ** 2 for name, g in reference.items()))
    return {
        "grad_rel": rel[worst],
        "grad_rel_worst_parameter": worst,
        "grad_rel_all": total / math.sqrt(sum(n * n for n in norms.values())),
    }


def difference(figures: dict, reference: dict) -> dict:
    delta = figures["logits"] - reference["logits"]
    return {
        "loss": figures["loss"],
        "loss_rel": abs(figures["loss"] - reference["loss"]) / abs(reference["loss"]),
        "logits_max_abs": delta.abs().max().item(),
        "logits_rel_rms": (delta.norm() / reference["logits"].norm()).item(),
        **grad_difference(figures["grads"], reference["grads"]),
    }


def within(figures: dict, prefix: str, keys: tuple[str, ...]) -> bool:
    return all(figures[key] <= TOLERANCES[f"{prefix}_{key}"] for key in keys)


def reference_model(plan) -> GPT:
    torch.manual_seed(0)
    return lively(GPT(replace(plan.model, dropout=0.0)))  # dropout draws differ between devices: off


def lively(model: torch.nn.Module, fan_in_dim: int = 1) -> torch.nn.Module:
    """The model with its blocks' weight matrices redrawn so that every sublayer's output counts: std
    sqrt(1 / fan-in), sqrt(2 / width) for queries and keys, so that on a block's normalised input the attention
    scores have a std of about 2 and each position attends to a few others (the first block reads the embeddings,
    std 0.02, and stays near uniform). At the usual init (std 0.02) attention is near uniform in every block and
    adds about 1% to the residual stream: a kernel that misplaces the mask, or queries and keys swapped, would
    hardly change the output. `fan_in_dim`: 1 for gpt1's nn.Linear weights [out, in], 0 for transformers' Conv1D
    [in, out]."""
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if weight.dim() != 2 or ".h." not in f".{name}":
                continue  # embeddings (the tied LM head) and LayerNorms keep their init
            fan_in = weight.shape[fan_in_dim]
            weight.copy_(torch.randn(weight.shape, generator=generator) / fan_in**0.5)
            if name.endswith("attn.c_attn.weight"):  # queries and keys: the first two thirds of the outputs
                weight.narrow(1 - fan_in_dim, 0, 2 * fan_in).mul_(2**0.5)
    return model


def fp32_and_fused_adamw(plan, device: torch.device) -> dict:
    idx, targets = lm_batch(plan.model, plan.correctness_batch)
    cpu_model = reference_model(plan)
    reference = step_figures(copy.deepcopy(cpu_model).double(), idx, targets)
    with exact_fp32():
        cpu = step_figures(cpu_model, idx, targets)
        device_model = copy.deepcopy(cpu_model).to(device)
        on_device = step_figures(device_model, idx, targets)
    result = {
        "batch": list(idx.shape),
        "device_vs_cpu": difference(on_device, cpu),
        "device_vs_float64": difference(on_device, reference),
        "cpu_vs_float64": difference(cpu, reference),
    }
    del reference, on_device
    result["adamw"] = adamw_steps(cpu_model, device_model, cpu["grads"], device)
    fp32_keys = ("loss_rel", "logits_max_abs", "grad_rel")
    result["passed"] = (
        within(result["device_vs_cpu"], "fp32", fp32_keys)
        and within(result["device_vs_float64"], "fp32", fp32_keys)
        and result["adamw"]["passed"]
    )
    return result


def adamw_steps(cpu_model: GPT, device_model: GPT, grads: dict, device: torch.device, lr: float = 2.5e-4) -> dict:
    """Two AdamW steps from the same gradients: the device's (fused on CUDA, as pretraining's) against the CPU's."""
    optimizers = [
        torch.optim.AdamW(model.param_groups(0.01), lr=lr, fused=fused)
        for model, fused in ((cpu_model, False), (device_model, device.type == "cuda"))
    ]
    for _ in range(2):
        for model, optimizer in zip((cpu_model, device_model), optimizers, strict=True):
            for name, p in model.named_parameters():
                p.grad = grads[name].to(p.device, torch.float32)
            optimizer.step()
    worst = max(
        (p.detach().cpu() - q.detach()).abs().max().item()
        for p, q in zip(device_model.parameters(), cpu_model.parameters(), strict=True)
    )
    figure = worst / lr  # both started from the same weights: the difference of the two updates
    return {
        "fused": device.type == "cuda",
        "steps": 2,
        "lr": lr,
        "update_max_abs_over_lr": figure,
        "passed": figure <= TOLERANCES["adamw_update_max_abs_over_lr"],
    }


def bf16_autocast(plan, device: torch.device) -> dict:
    idx, targets = lm_batch(plan.model, plan.correctness_batch)
    cpu_model = reference_model(plan)
    reference = step_figures(copy.deepcopy(cpu_model).double(), idx, targets)
    figures = difference(step_figures(cpu_model.to(device), idx, targets, bf16(device)), reference)
    return {
        "autocast": f"{device.type} bf16" + ("" if device.type == "cuda" else " (the CPU trains in fp32)"),
        "vs_float64": figures,
        "passed": within(figures, "bf16", ("loss_rel", "logits_rel_rms", "grad_rel")),
    }


def micro_batches(plan, device: torch.device) -> dict:
    check = plan.micro_check
    task_id, examples, max_tokens, micro = check.task, check.examples, check.max_tokens, check.micro
    task = TASKS[task_id]
    batch = synthetic_examples(task_id, plan.model.vocab_size, examples, (max(3, max_tokens // 8), max_tokens), seed=2)
    torch.manual_seed(0)
    gpt = lively(GPT(replace(plan.model, dropout=0.0)))
    cpu_model = TaskModel(gpt, task.kind, n_outputs(task, "soft_labels"), 0.0)
    model = copy.deepcopy(cpu_model).to(device)

    def gradients(model: TaskModel, micro: int, where: torch.device) -> tuple[float, dict]:
        model.zero_grad(set_to_none=True)
        loss = accumulate(model, task, batch, micro, 0.5, where)
        return loss, {name: p.grad.detach().to("cpu", torch.float64) for name, p in model.named_parameters()}

    with exact_fp32():
        cpu_loss, cpu_grads = gradients(cpu_model, 0, torch.device("cpu"))
        whole_loss, whole = gradients(model, 0, device)
        micro_loss, in_micro = gradients(model, micro, device)
    autocast = device.type == "cuda"  # accumulate runs under gpt1.device.mixed_precision: bf16 on CUDA only
    tolerance = TOLERANCES["micro_grad_rel_bf16" if autocast else "micro_grad_rel_fp32"]
    vs_whole = grad_difference(in_micro, whole)
    return {
        "task": task_id,
        "examples": examples,
        "sequences_per_example": sequences_per_example(task),
        "sequence_lengths": sorted({len(seq) for ex in batch for seq in ex.seqs}),
        "micro_batch": micro,
        "precision": "bf16 autocast" if autocast else "fp32",
        "loss_whole": whole_loss,
        "loss_micro": micro_loss,
        "loss_rel": abs(micro_loss - whole_loss) / whole_loss,
        "micro_vs_whole": vs_whole,
        "whole_vs_cpu_fp32": grad_difference(whole, cpu_grads) | {"loss_rel": abs(whole_loss - cpu_loss) / cpu_loss},
        "micro_vs_cpu_fp32": grad_difference(in_micro, cpu_grads),
        "tolerance": tolerance,
        "passed": vs_whole["grad_rel"] <= tolerance,
    }


RUNS = ("whole", "again", "split")


def resume(plan, device: torch.device) -> dict:
    cfg = plan.resume_model
    steps = plan.resume_steps
    run = PretrainConfig(
        batch_size=plan.resume_batch[0],
        micro_batch_size=plan.resume_batch[1],
        lr=plan.pretrain_lr,
        warmup_steps=max(1, steps // 4),
        max_steps=steps,
        eval_interval=steps,
        eval_batches=2,
        log_interval=1,
        device=str(device),
    )
    with tempfile.TemporaryDirectory(prefix="gpu_check_resume_") as work:
        work = Path(work)
        tokens = markov_chain(cfg.vocab_size, 4, 50 * cfg.n_ctx * run.batch_size, seed=3)
        write_tokens(work / "tokens", tokens[: len(tokens) * 9 // 10], tokens[len(tokens) * 9 // 10 :], cfg.vocab_size)
        for name in RUNS[:2]:
            pretrain(cfg, run, work / "tokens", work / name)
        pretrain(cfg, run, work / "tokens", work / "split", stop_after=steps // 2)
        pretrain(cfg, run, work / "tokens", work / "split")
        weights = {name: torch.load(work / name / "model.pt", weights_only=True)["model"] for name in RUNS}
        losses = {name: train_losses(work / name) for name in ("whole", "split")}
    noise = max_difference(weights["again"], weights["whole"])
    split = max_difference(weights["split"], weights["whole"])
    loss_rel = max(abs(a - b) / abs(b) for a, b in zip(losses["split"], losses["whole"], strict=True))
    bound = 0.0 if noise == 0.0 else RESUME_NOISE_FACTOR * noise
    return {
        "model": cfg.to_dict(),
        "updates": steps,
        "stopped_after": steps // 2,
        "batch": list(plan.resume_batch),
        "dropout": cfg.dropout,
        "whole_runs_max_abs_difference": noise,
        "resumed_max_abs_difference": split,
        "bit_for_bit": split == 0.0,
        "train_loss_max_rel": loss_rel,
        "passed": split <= bound and (noise > 0.0 or loss_rel <= RESUME_LOSS_REL),
    }


def max_difference(state: dict, reference: dict) -> float:
    return max((state[name].double() - t.double()).abs().max().item() for name, t in reference.items())


def train_losses(out_dir: Path) -> list[float]:
    rows = (out_dir / "train_curve.csv").read_text().splitlines()
    column = rows[0].split(",").index("train_loss")
    return [float(row.split(",")[column]) for row in rows[1:]]


def released_architecture(plan, device: torch.device) -> dict:
    import transformers

    cfg = plan.released
    hf_config = transformers.OpenAIGPTConfig(
        vocab_size=cfg.vocab_size, n_positions=cfg.n_ctx, n_embd=cfg.n_embd, n_layer=cfg.n_layer, n_head=cfg.n_head
    )
    torch.manual_seed(0)
    hf = lively(transformers.OpenAIGPTLMHeadModel(hf_config).eval(), fan_in_dim=0)
    with tempfile.TemporaryDirectory(prefix="gpu_check_released_") as work:
        hf.save_pretrained(Path(work) / "release", safe_serialization=True)
        import_weights(Path(work) / "release", Path(work) / "model.pt")
        ours = load_pretrained(Path(work) / "model.pt", device)[0].eval()
    hf = hf.to(device)
    idx, _ = lm_batch(cfg, plan.correctness_batch, seed=4)
    with exact_fp32(), torch.no_grad():
        theirs = hf(idx.to(device)).logits
        mine = ours(idx.to(device))[0][..., : cfg.vocab_size]
        figure = (mine - theirs).abs().max().item()
        scale = theirs.abs().max().item()
    return {
        "shapes": cfg.to_dict(),
        "batch": list(idx.shape),
        "transformers": transformers.__version__,
        "logits_max_abs": figure,
        "logits_max_abs_of_theirs": scale,
        "passed": figure <= TOLERANCES["released_logits_max_abs"],
    }
