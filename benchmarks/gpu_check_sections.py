"""The device check's measuring sections, run in order by benchmarks.gpu_check after `correctness`
(benchmarks/gpu_check_correctness.py). Each is a function of the plan, the device, the clock (for the budget) and
the sections done before it, and returns its figures as a JSON-ready dict.

Imports torch, numpy, transformers (and what it brings: tqdm, pyyaml) and gpt1's own training code: nothing of
Snakemake, DVC or MLflow, which a bare CUDA machine lacks.
"""

from __future__ import annotations

import csv
import gc
import json
import math
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch

from benchmarks.bench import sync, trainer
from gpt1.config import FinetuneConfig, PretrainConfig
from gpt1.model import GPT, decay_groups
from gpt1.tasks import TASKS, Example
from gpt1.tasks.transform import sequences_per_example
from gpt1.training.finetune import Encoded, TaskModel, accumulate, finetune
from gpt1.training.pretrain import pretrain
from gpt1.training.targets import n_outputs
from gpt1.weights import import_weights


def free_memory(device: torch.device) -> None:
    """Give back what a finished (or out-of-memory) try held, so that the next one starts from an empty GPU."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def peak_gib(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None


def measure(step: Callable[[], None], warmup: int, timed: int, device: torch.device) -> dict:
    """Seconds of the first call (torch.compile compiles there), then of each of `timed` calls after `warmup`
    calls, and the peak memory; or the out-of-memory error, with the memory given back."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        start = time.perf_counter()
        for i in range(warmup + timed):
            if i == warmup:
                sync(device)()
                timed_start = time.perf_counter()
            step()
            if i == 0:
                sync(device)()
                first_s = time.perf_counter() - start
        sync(device)()
        result = {"first_call_s": round(first_s, 3), "s_per_call": (time.perf_counter() - timed_start) / timed}
        return result | {"peak_gib": peak_gib(device)}
    except torch.cuda.OutOfMemoryError as error:
        why = str(error).splitlines()[0]
    free_memory(device)  # outside the except block: its traceback no longer holds the step's tensors
    return {"status": "out of memory", "error": why}


# --- 1. matmul peak -------------------------------------------------------------------------------


def matmul_tflops(device: torch.device, dtype: torch.dtype, n: int, calls: int, repeats: int = 5) -> float:
    """TFLOP/s of `calls` n x n matmuls in a row, the median of `repeats` timings."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    torch.mm(a, b)
    seconds = []
    for _ in range(repeats):
        sync(device)()
        start = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b)
        sync(device)()
        seconds.append(time.perf_counter() - start)
    return 2.0 * n**3 * calls / statistics.median(seconds) / 1e12


# Dense bf16 tensor-core peaks from NVIDIA's datasheets, TFLOP/s without sparsity: the usual MFU denominator
# (PaLM's definition, as nanoGPT and llm.c report it). Matched in this order against torch's device name (an H100
# SXM is "NVIDIA H100 80GB HBM3").
DATASHEET_BF16_TFLOPS = (
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("H200 NVL", 836.0),
    ("H200", 989.0),
    ("A100", 312.0),
)


def datasheet_peak(device: torch.device) -> dict:
    """The card's datasheet peak, or None for a card (or a CPU) the table does not know."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
    card, tflops = next(((card, t) for card, t in DATASHEET_BF16_TFLOPS if card.lower() in name.lower()), (None, None))
    return {"device_name": name, "datasheet_card": card, "datasheet_bf16_tflops": tflops}


def matmul_peak(plan, device: torch.device, clock, done: dict) -> dict:
    """bf16 and fp32 (and on CUDA tf32) matmul throughput; MFU is measured against bf16 on CUDA, fp32 on the
    CPU (where training runs in fp32, as benchmarks/bench.py)."""
    n, calls = plan.matmul_n, plan.matmul_calls
    tf32_before = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        dtypes = {"bf16": torch.bfloat16, "fp32": torch.float32}
        result = {f"{name}_tflops": matmul_tflops(device, dtype, n, calls) for name, dtype in dtypes.items()}
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            result["tf32_tflops"] = matmul_tflops(device, torch.float32, n, calls)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32_before
    peak = "bf16" if device.type == "cuda" else "fp32"
    return (
        result
        | datasheet_peak(device)
        | {
            "n": n,
            "calls_per_timing": calls,
            "mfu_peak_tflops": result[f"{peak}_tflops"],
            "mfu_peak": f"{peak}: the precision training runs in on this device",
        }
    )


# --- 2. MFU of the paper config -------------------------------------------------------------------


def training_steps(model: GPT, train_model, device, batches, plan, clock, first_fit: bool = False) -> list[dict]:
    """gpt1's training step (forward under bf16 autocast on CUDA, backward, clip, fused AdamW on CUDA) at each
    batch size, until one runs out of memory (or, with `first_fit`, until one fits)."""
    update = trainer(model, device)
    T, V = model.config.n_ctx, model.config.vocab_size
    rows = []
    for B in batches:
        if clock.left() <= 0:
            rows.append({"batch": B, "status": "skipped", "reason": "the budget is spent"})
            break
        x, y = (torch.randint(0, V, (B, T), device=device) for _ in range(2))
        row = {"batch": B, **measure(partial(update, partial(lm_loss, train_model, x, y)), 2, plan.timed_steps, device)}
        if "s_per_call" in row:
            row["tokens_per_s"] = B * T / row.pop("s_per_call")
        rows.append(row)
        if "error" in row:
            for p in model.parameters():
                p.grad = None
        if ("error" in row) != first_fit:
            break
    return rows


def lm_loss(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return model(x, y)[1]


def with_mfu(rows: list[dict], flops_per_token: float, peaks: dict) -> dict:
    """Each fitted row's MFU against the datasheet peak (`mfu`, None for a card the table does not know) and
    against the measured matmul rate (`mfu_of_measured_matmul`)."""
    fitted = [row for row in rows if "tokens_per_s" in row]
    for row in fitted:
        flops = row["tokens_per_s"] * flops_per_token
        for key, peak in (("mfu", peaks["datasheet"]), ("mfu_of_measured_matmul", peaks["measured"])):
            row[key] = flops / (peak * 1e12) if peak else None
    largest = max(fitted, key=lambda row: row["batch"], default={})
    return {"largest_batch": largest.get("batch"), "largest_batch_mfu": largest.get("mfu"), "rows": rows}


def mfu_denominator(device: torch.device, datasheet: float | None, measured: str | None) -> str:
    first = (
        f"`mfu`: the datasheet's dense bf16 peak, {datasheet:g} TFLOP/s"
        if datasheet
        else (f"`mfu`: none (no datasheet peak known for {datasheet_peak(device)['device_name']})")
    )
    second = f"the measured {measured.split(':')[0]} matmul" if measured else "none (section matmul did not finish)"
    return f"{first}; `mfu_of_measured_matmul`: {second}"


def model_flops_utilisation(plan, device: torch.device, clock, done: dict) -> dict:
    matmul = done.get("matmul", {})
    peak = matmul.get("mfu_peak_tflops")
    peaks = {"datasheet": datasheet_peak(device)["datasheet_bf16_tflops"], "measured": peak}
    torch.manual_seed(0)
    model = GPT(plan.model).to(device)
    flops_per_token = model.flops_per_token(plan.model.n_ctx)
    eager = with_mfu(training_steps(model, model, device, plan.mfu_batches, plan, clock), flops_per_token, peaks)
    result = {
        "config": plan.model.to_dict(),
        "parameters": model.num_parameters(),
        "flops_per_token": flops_per_token,
        "flops_formula": "6 N + 12 L d T; N: the blocks' weight matrices plus the tied LM head (gpt1.model, "
        "as benchmarks/bench.py)",
        "peak_tflops": peak,
        **datasheet_peak(device),
        "mfu_denominator": mfu_denominator(device, peaks["datasheet"], matmul.get("mfu_peak")),
        "step": "forward + backward + clip_grad_norm_(1.0) + AdamW (fused on CUDA), bf16 autocast on CUDA, dropout on",
        "eager": eager,
    }
    largest = eager["largest_batch"]
    if not plan.compile:
        result["compiled"] = {"status": "skipped", "reason": "torch.compile is off in this plan (--tiny)"}
    elif largest is None:
        result["compiled"] = {"status": "skipped", "reason": "no batch fitted without compile"}
    else:  # compiling takes a minute or more per shape: the largest eager batch, halved while out of memory
        halvings = [largest >> k for k in range(largest.bit_length()) if largest >> k >= plan.mfu_batches[0]]
        try:  # a compiler error (no C compiler, an Inductor bug) costs the compiled figures, not the eager ones
            compiled = torch.compile(model, dynamic=False)  # a static graph per batch size: pretraining has one
            rows = training_steps(model, compiled, device, halvings, plan, clock, first_fit=True)
            result["compiled"] = with_mfu(rows, flops_per_token, peaks)
        except Exception as error:
            result["compiled"] = {"status": "error", "reason": f"{type(error).__name__}: {error}"[:2000]}
    return result


# --- 3. fine-tuning every task at the paper's batch ------------------------------------------------


def synthetic_examples(task_id: str, vocab_size: int, examples: int, tokens: tuple[int, int], seed: int = 0):
    """`examples` examples of the task's shape (its sequences per example) with random ids, each sequence of
    `tokens[0]` to `tokens[1]` tokens, laid out as gpt1.tasks.transform lays them out (start ... extract), with
    labels the task's loss takes (a class, an answer's index, a 0-5 score)."""
    task = TASKS[task_id]
    per_example = sequences_per_example(task)
    rng = np.random.default_rng(seed)
    start, extract = vocab_size - 3, vocab_size - 1
    batch = []
    for _ in range(examples):
        lengths = rng.integers(tokens[0], tokens[1] + 1, per_example)
        seqs = [[start, *rng.integers(0, start, n - 2).tolist(), extract] for n in lengths]
        if task.kind == "multiple_choice":
            label = int(rng.integers(0, per_example))
        else:
            label = float(rng.uniform(0, 5)) if task.labels is None else int(rng.integers(0, len(task.labels)))
        batch.append(Encoded(seqs, label, ""))
    return batch


def micro_batch_sizes(profile: int, batch: int) -> list[int]:
    """The profile's micro-batch size, then doubling up to the whole batch: the order the fit is searched in."""
    sizes = [min(profile, batch)]
    while sizes[-1] < batch:
        sizes.append(min(2 * sizes[-1], batch))
    return sizes


def finetune_tasks(plan, device: torch.device, clock, done: dict) -> dict:
    """One fine-tuning update (gpt1.training.finetune.accumulate: L3 with the auxiliary LM loss; then clipping and
    AdamW) of the paper's model for every task, at the paper's batch with every sequence of `finetune_tokens`: the
    peak a batch of the longest examples reaches (a batch is padded to its own longest). Peak memory and
    examples/s at the profile's micro-batch size, then at double that while it fits, up to the whole batch."""
    torch.manual_seed(0)
    gpt = GPT(plan.model).to(device)
    tasks = {}
    for task_id in plan.finetune_tasks:
        if clock.left() <= 0:
            tasks[task_id] = {"status": "skipped", "reason": "the budget is spent"}
            continue
        tasks[task_id] = task_update(gpt, task_id, plan, device, clock)
        free_memory(device)
    return {
        "batch": plan.finetune_batch,
        "tokens_per_sequence": plan.finetune_tokens,
        "profile_micro_batch": plan.finetune_micro,
        "precision": "bf16 autocast" if device.type == "cuda" else "fp32",
        "tasks": tasks,
    }


def task_update(gpt: GPT, task_id: str, plan, device: torch.device, clock) -> dict:
    task = TASKS[task_id]
    model = TaskModel(gpt, task.kind, n_outputs(task, "soft_labels"), 0.1).to(device)
    optimizer = torch.optim.AdamW(decay_groups(model, 0.01), lr=6.25e-5, fused=device.type == "cuda")
    tokens = (plan.finetune_tokens, plan.finetune_tokens)
    batch = synthetic_examples(task_id, plan.model.vocab_size, plan.finetune_batch, tokens)

    def update(micro: int) -> None:
        accumulate(model, task, batch, micro, 0.5, device)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    rows, sizes = [], micro_batch_sizes(plan.finetune_micro, plan.finetune_batch)
    while sizes:
        micro = sizes.pop(0)
        if clock.left() <= 0:
            rows.append({"micro_batch": micro, "status": "skipped", "reason": "the budget is spent"})
            break
        row = {"micro_batch": micro, **measure(partial(update, micro), 1, plan.finetune_steps, device)}
        rows.append(row)
        if "s_per_call" in row:
            row["examples_per_s"] = plan.finetune_batch / row.pop("s_per_call")
            continue
        optimizer.zero_grad(set_to_none=True)
        fitted_before = any("examples_per_s" in row for row in rows)
        sizes = [] if fitted_before or micro == 1 else [micro // 2]  # the profile's does not fit: halve
    fitted = [row["micro_batch"] for row in rows if "examples_per_s" in row]
    at_profile = rows[0]
    return {
        "sequences_per_example": sequences_per_example(task),
        "sequences_per_batch": plan.finetune_batch * sequences_per_example(task),
        "profile_micro_batch_peak_gib": at_profile.get("peak_gib"),
        "profile_micro_batch_examples_per_s": at_profile.get("examples_per_s"),
        "largest_micro_batch_that_fits": max(fitted, default=None),
        "whole_batch_fits": plan.finetune_batch in fitted,
        "rows": rows,
    }


# --- 4. pretraining updates on a learnable chain --------------------------------------------------


def markov_chain(states: int, successors: int, n_tokens: int, seed: int) -> np.ndarray:
    """`n_tokens` steps of a fixed random Markov chain: each state moves to one of its `successors` random
    next states, uniformly. A model that learns the transitions gets far below the unigram loss."""
    rng = np.random.default_rng(seed)
    table = rng.integers(0, states, size=(states, successors)).tolist()
    picks = rng.integers(0, successors, size=n_tokens).tolist()
    chain, state = [], 0
    for pick in picks:
        state = table[state][pick]
        chain.append(state)
    return np.array(chain, dtype=np.int64)


def entropies(chain: np.ndarray, states: int) -> tuple[float, float]:
    """(unigram entropy, entropy of the next state given the current one), in nats, as counted in `chain`."""
    unigram = np.bincount(chain, minlength=states) / len(chain)
    h_unigram = -float(np.sum(unigram[unigram > 0] * np.log(unigram[unigram > 0])))
    pairs = np.bincount(chain[:-1] * states + chain[1:], minlength=states * states).reshape(states, states)
    joint = pairs / pairs.sum()
    current = joint.sum(1, keepdims=True)
    nonzero = joint > 0
    h_next = -float(np.sum(joint[nonzero] * np.log((joint / np.where(current > 0, current, 1))[nonzero])))
    return h_unigram, h_next


def write_tokens(directory: Path, train: np.ndarray, val: np.ndarray, vocab_size: int) -> None:
    """A token folder as `gpt1 encode-corpus` writes it (gpt1.text.encode)."""
    directory.mkdir(parents=True)
    train.astype(np.uint16).tofile(directory / "train.bin")
    val.astype(np.uint16).tofile(directory / "val.bin")
    meta = {"dtype": "uint16", "vocab_size": vocab_size, "train_tokens": len(train), "val_tokens": len(val)}
    (directory / "meta.json").write_text(json.dumps(meta))


def pretraining_updates(plan, device: torch.device, clock, done: dict) -> dict:
    """gpt1.training.pretrain.pretrain itself (its schedule, step, validation and checkpoint) for a few hundred
    updates on a Markov chain over a random subset of the vocabulary."""
    states, successors = plan.chain
    chain = markov_chain(states, successors, plan.chain_tokens + plan.chain_tokens // 8, seed=0)
    h_unigram, h_next = entropies(chain, states)
    token_ids = np.random.default_rng(1).choice(plan.model.vocab_size, states, replace=False)
    tokens = token_ids[chain]
    steps = plan.pretrain_steps
    cfg = PretrainConfig(
        batch_size=plan.pretrain_batch,
        micro_batch_size=plan.pretrain_micro,
        lr=plan.pretrain_lr,
        warmup_steps=max(1, steps // 10),
        max_steps=steps,
        eval_interval=steps,
        eval_batches=4,
        log_interval=1,
        device=str(device),
        compile="none",
    )
    with tempfile.TemporaryDirectory(prefix="gpu_check_pretrain_") as work:
        write_tokens(
            Path(work) / "tokens", tokens[: plan.chain_tokens], tokens[plan.chain_tokens :], plan.model.vocab_size
        )
        metrics = pretrain(plan.model, cfg, Path(work) / "tokens", Path(work) / "out")
        with open(Path(work) / "out" / "train_curve.csv") as file:
            curve = [
                {key: float(value) for key, value in row.items()} | {"step": int(row["step"])}
                for row in csv.DictReader(file)
            ]
    start, end = curve[0]["train_loss"], metrics["val_loss"]
    halfway = h_unigram - (h_unigram - h_next) / 2
    return {
        "updates": steps,
        "batch": [cfg.batch_size, plan.model.n_ctx],
        "micro_batch": cfg.micro_batch_size,
        "lr": cfg.lr,
        "schedule": f"linear warm-up over {cfg.warmup_steps} updates, then cosine to 0 (the paper's shape)",
        "data": f"a random Markov chain over {states} of the {plan.model.vocab_size} token ids, "
        f"{successors} random successors per state; {plan.chain_tokens:,} training tokens",
        "uniform_loss": math.log(plan.model.vocab_size),
        "unigram_loss": h_unigram,
        "chain_loss": h_next,
        "loss_start": start,
        "loss_end_train": curve[-1]["train_loss"],
        "loss_end": end,
        "loss_fell": end < halfway,
        "loss_fell_means": f"validation loss at the end below {halfway:.3f}, halfway from the unigram loss to the "
        "chain's own entropy: the model learnt the transitions, not only the token frequencies",
        "tokens_per_s": metrics["tokens_per_s"],
        "curve": [row for row in curve if row["step"] == 1 or row["step"] % max(1, steps // 20) == 0],
    }


# --- 5. the openai-gpt path on a random checkpoint of the released shapes ---------------------------


class WordTokenizer:
    """A tokenizer with gpt1.text.bpe.Tokenizer's interface for synthetic text: a word's id is its CRC32 modulo
    the vocabulary; the three task tokens take the last ids, as gpt1.weights appends them to the release."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size
        self.start_id, self.delimiter_id, self.extract_id = vocab_size - 3, vocab_size - 2, vocab_size - 1

    def encode(self, lines: list[str]) -> list[list[int]]:
        return [[zlib.crc32(word.encode()) % self.start_id for word in line.split()] for line in lines]


def sentiment_examples(n: int, seed: int) -> list[Example]:
    """SST-2-like examples: random words, labelled by which of two cue words the sentence holds."""
    rng = np.random.default_rng(seed)
    examples = []
    for _ in range(n):
        label = int(rng.integers(0, 2))
        words = [f"w{i}" for i in rng.integers(0, 500, int(rng.integers(8, 30)))]
        words.insert(int(rng.integers(0, len(words))), ("dull", "great")[label])
        examples.append(Example(" ".join(words), label=label))
    return examples


def openai_gpt_path(plan, device: torch.device, clock, done: dict) -> dict:
    """A random OpenAIGPTLMHeadModel of the release's shapes saved in Hugging Face's layout, imported by
    gpt1.weights.import_weights (as `gpt1 import-openai-gpt` does), then fine-tuned on SST-2-like examples by
    gpt1.training.finetune.finetune: the `openai-gpt` profile's path without the download and the BPE files."""
    import transformers

    cfg = plan.released
    hf = transformers.OpenAIGPTConfig(
        vocab_size=cfg.vocab_size, n_positions=cfg.n_ctx, n_embd=cfg.n_embd, n_layer=cfg.n_layer, n_head=cfg.n_head
    )
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="gpu_check_openai_gpt_") as work:
        work = Path(work)
        started = time.perf_counter()
        transformers.OpenAIGPTLMHeadModel(hf).save_pretrained(work / "release", safe_serialization=True)
        about = import_weights(work / "release", work / "model.pt")
        import_s = time.perf_counter() - started
        tune = FinetuneConfig(
            batch_size=plan.openai_batch, micro_batch_size=plan.openai_batch // 2, epochs=1, device=str(device)
        )
        train, dev = sentiment_examples(plan.openai_examples, 0), sentiment_examples(plan.openai_examples // 2, 1)
        tokenizer = WordTokenizer(about["model_config"]["vocab_size"])
        result = finetune(TASKS["sst2"], train, {"dev": dev}, work / "model.pt", tokenizer, tune, work / "finetune")
    return {
        "released_shapes": cfg.to_dict(),
        "checkpoint_vocab_size": about["model_config"]["vocab_size"],
        "parameters": about["parameters"],
        "source": result["source"],
        "build_and_import_s": import_s,
        "finetune_wall_s": result["wall_s"],
        "updates": result["updates"],
        "batch": [tune.batch_size, tune.micro_batch_size],
        "n_train": result["n_train"],
        "dev_metrics": result["results"]["dev"]["metrics"],
        "produced_metrics": bool(result["results"]["dev"]["metrics"]),
    }
