"""`python -m benchmarks.bench`: gpt1 measured against transformers and the hardware, side by side in one process.

Writes to `--out`:

- pretrain_step.json: training-step throughput (forward, backward, gradient clipping, AdamW) of gpt1's GPT and
  of transformers' OpenAIGPTLMHeadModel, built at the same config with the same weights, on the same batch and
  threads; their timed repeats alternate (ABAB...) so that drift in the machine hits both alike. MFU is the
  model's FLOP/s over a matmul peak measured here, in the same process and at the same thread count.
- finetune.json: fine-tuning examples/s on SST-2 with gpt1's dynamic padding (each batch, of examples of
  similar lengths as gpt1.batching makes them, padded to its longest sequence) against the same batches
  padded to the context, repeats again alternating.
- bpe.json: BPE training and corpus-encoding throughput, and the encoding stage's peak memory at two corpus
  sizes (each encoding in a child process, so that its own peak RSS can be read).
- summary.md: the figures, the machine and the command.

Figures are medians over `--repeats`; every repeat is kept in the JSON. Throughput targets live here, never in
unit tests.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from gpt1.config import GPTConfig
from gpt1.files import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
BOOKS = Path("books") / "british-novels"  # under the data mirror
FLOP_PER_CYCLE = 32  # fp32 per core: two FMA pipes of 8 lanes (AVX2, or AVX-512 split in two as on Zen 4)


@dataclass(frozen=True)
class Sizes:
    """What the bench runs at: the sample profile's model and batch, or tiny sizes for tests (--quick)."""

    model: GPTConfig
    """The model of both pretraining and fine-tuning (fine-tuning takes the trained BPE's vocabulary)."""
    batch_size: int
    """Sequences per pretraining step."""
    steps: int
    """Timed pretraining steps per repeat."""
    finetune_batch: int
    finetune_steps: int
    """Timed fine-tuning updates per repeat."""
    finetune_examples: int
    """SST-2 training examples drawn (seeded) and encoded."""
    bpe_vocab: int
    corpus_mb: tuple[float, float]
    """The two corpus sizes encoded; the BPE model is trained on the first."""
    matmul_n: int
    """Side of the square matrices of the peak matmul."""


SAMPLE_MODEL = GPTConfig(vocab_size=8000, n_ctx=128, n_layer=4, n_head=4, n_embd=256, n_inner=1024, dropout=0.1)
FULL = Sizes(
    SAMPLE_MODEL,
    batch_size=32,
    steps=3,
    finetune_batch=32,
    finetune_steps=4,
    finetune_examples=4096,
    bpe_vocab=8000,
    corpus_mb=(10.0, 40.0),
    matmul_n=2048,
)
QUICK = Sizes(
    GPTConfig(vocab_size=400, n_ctx=32, n_layer=2, n_head=2, n_embd=32, n_inner=128, dropout=0.1),
    batch_size=4,
    steps=2,
    finetune_batch=8,
    finetune_steps=2,
    finetune_examples=64,
    bpe_vocab=400,
    corpus_mb=(0.04, 0.12),
    matmul_n=256,
)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


# --- timing ---------------------------------------------------------------------------------------


def interleaved(
    steps: dict[str, Callable[[], None]], repeats: int, per_repeat: int, sync: Callable[[], None], desc: str
) -> dict[str, list[float]]:
    """Seconds per call of each step function: two warm-up calls each (the heap grows and its pages are
    first touched there), then `repeats` rounds in which every function runs `per_repeat` times in turn
    (ABAB...), so that slow drift in the machine falls on all alike."""
    from tqdm import tqdm

    for step in steps.values():
        step()
        step()
    sync()
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in tqdm(range(repeats), desc=desc, unit="round", disable=None):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(per_repeat):
                step()
            sync()
            seconds[name].append((time.perf_counter() - start) / per_repeat)
    return seconds


def matmul(device, n: int) -> tuple[Callable[[], None], float, str]:
    """One n x n matmul (fp32 on the CPU, bf16 on CUDA): the ceiling a model's matmuls can reach on this
    machine at this thread count. Returns (the call, its FLOPs, a description)."""
    import torch

    cuda = device.type == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    n = max(n, 8192) if cuda else n  # a GPU needs large matrices to reach its peak
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    calls = 10 if cuda else 1  # a CPU sgemm of 2048 takes ~0.1 s, a GPU's bf16 matmul of 8192 ~1 ms

    def call() -> None:
        for _ in range(calls):
            torch.mm(a, b)

    return call, 2.0 * n**3 * calls, f"torch.mm of two {n}x{n} {str(dtype).removeprefix('torch.')} matrices"


def theoretical_cpu_peak(threads: int) -> dict | None:
    """clock x cores x 32 fp32 FLOP/cycle, for reference (the clock /proc/cpuinfo shows, not the turbo)."""
    try:
        mhz = [
            float(line.split(":")[1])
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("cpu MHz")
        ]
    except OSError:
        return None
    if not mhz:
        return None
    ghz = max(mhz) / 1000
    return {
        "flops": ghz * 1e9 * threads * FLOP_PER_CYCLE,
        "formula": f"{ghz:.3f} GHz (/proc/cpuinfo) x {threads} cores x {FLOP_PER_CYCLE} FLOP/cycle",
    }


def sync(device) -> Callable[[], None]:
    import torch

    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


# --- pretraining step -----------------------------------------------------------------------------


def transformers_twin(model):
    """transformers' OpenAIGPTLMHeadModel holding `model`'s weights (LM head tied), in training mode."""
    from gpt1.weights import to_transformers

    return to_transformers(model).train().to(next(model.parameters()).device)


def trainer(model, device) -> Callable[[Callable[[], object]], None]:
    """An update as `gpt1 pretrain` makes one: `update(loss_fn)` runs the forward pass and loss (bf16
    autocast on CUDA), backward, gradient clipping at 1, and AdamW with decoupled weight decay."""
    import torch

    from gpt1.device import mixed_precision
    from gpt1.model import decay_groups

    cuda = device.type == "cuda"
    optimizer = torch.optim.AdamW(decay_groups(model, 0.01), lr=2.5e-4, foreach=not cuda, fused=cuda)
    model.train()

    def update(loss_fn: Callable[[], object]) -> None:
        with mixed_precision(device):
            loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return update


def bench_pretrain(sizes: Sizes, device, repeats: int) -> dict:
    import torch

    from gpt1.model import GPT

    cfg, B, T = sizes.model, sizes.batch_size, sizes.model.n_ctx
    torch.manual_seed(0)
    ours = GPT(cfg).to(device)
    theirs = transformers_twin(ours)
    x = torch.randint(0, cfg.vocab_size, (B, T), device=device)
    # transformers shifts `labels` inside: position t predicts x[t+1], the last position nothing. The same
    # targets for gpt1, so that both do the same work and their losses can be compared.
    y = torch.cat([x[:, 1:], torch.full((B, 1), -1, device=device)], dim=1)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        loss_gap = abs(ours(x, y)[1].item() - theirs(input_ids=x, labels=x).loss.item())

    update_ours, update_theirs = trainer(ours, device), trainer(theirs, device)
    peak_call, peak_flop, peak_method = matmul(device, sizes.matmul_n)
    steps = {
        "gpt1": lambda: update_ours(lambda: ours(x, y)[1]),
        "transformers": lambda: update_theirs(lambda: theirs(input_ids=x, labels=x).loss),
        "matmul": peak_call,  # in the same rounds, so that the peak sees the same machine as the models
    }
    seconds = interleaved(steps, repeats, sizes.steps, sync(device), "pretraining steps")
    peak_runs = [peak_flop / s for s in seconds.pop("matmul")]
    peak = {
        "peak_flops": median(peak_runs),
        "method": f"{peak_method}, {sizes.steps} per timing, median of {repeats} timings taken in the same "
        f"rounds as the models', {torch.get_num_threads()} threads",
        "per_repeat_flops": peak_runs,
    }
    if device.type == "cpu":
        peak["theoretical"] = theoretical_cpu_peak(torch.get_num_threads())
    tokens_per_s = {name: [B * T / s for s in runs] for name, runs in seconds.items()}
    ours_tps, theirs_tps = median(tokens_per_s["gpt1"]), median(tokens_per_s["transformers"])
    flops_per_token = ours.flops_per_token(T)
    return {
        "gpt1_tokens_per_s": ours_tps,
        "transformers_tokens_per_s": theirs_tps,
        "ratio_vs_transformers": ours_tps / theirs_tps,
        "mfu": ours_tps * flops_per_token / peak["peak_flops"],
        "transformers_mfu": theirs_tps * flops_per_token / peak["peak_flops"],
        "model_flops_per_s": ours_tps * flops_per_token,
        "flops_per_token": flops_per_token,
        "flops_formula": "6 N + 12 L d T; N: the blocks' weight matrices plus the (tied) LM head",
        "peak_flops": peak["peak_flops"],
        "peak": peak,
        "parameters": ours.num_parameters(),
        "transformers_parameters": sum(p.numel() for p in theirs.parameters()),
        "initial_loss_gap": loss_gap,
        "config": cfg.to_dict(),
        "batch": [B, T],
        "tokens_per_step": B * T,
        "steps_per_repeat": sizes.steps,
        "repeats": repeats,
        "order": "ABAB: each round times gpt1, transformers, then the peak matmul",
        "step": "forward + backward + clip_grad_norm_(1.0) + AdamW (foreach on the CPU, fused on CUDA), training mode",
        "per_repeat_tokens_per_s": tokens_per_s,
    }


# --- fine-tuning ----------------------------------------------------------------------------------


def pad_to_context(batch: tuple, n_ctx: int) -> tuple:
    """A collated batch padded to the full context, as fine-tuning code without dynamic padding does. The
    extra positions come after every sequence's extract token: causal attention keeps them from changing
    any output, so the loss is the same; only the work grows."""
    import torch.nn.functional as F

    idx, extract, labels, n_seq = batch
    return F.pad(idx, (0, n_ctx - idx.size(1))), extract, labels, n_seq


def sst2_examples(data_dir: Path) -> tuple[list, str, str]:
    """SST-2's training examples from `data_dir` (a mirror laid out as GLUE extracts), else from the test
    fixtures; with where they came from and a note when it was the fixtures."""
    from gpt1.tasks import TaskDataMissing, read_split

    try:
        return read_split("sst2", "train", data_dir), str(data_dir), ""
    except TaskDataMissing:
        fixtures = FIXTURES / "tasks"
        note = f"No SST-2 training data under {data_dir}: timed on the fixture in {fixtures} instead."
        log.warning("%s", note)
        return read_split("sst2", "train", fixtures), str(fixtures), note


def bench_finetune(sizes: Sizes, device, repeats: int, bpe_model: Path, data_dir: Path) -> dict:
    import numpy as np
    import torch

    from gpt1.batching import training_batches
    from gpt1.model import GPT
    from gpt1.tasks import get_task
    from gpt1.text.bpe import Tokenizer
    from gpt1.training.finetune import TaskModel, collate, encode_examples, objective
    from gpt1.training.targets import n_outputs

    task = get_task("sst2")
    examples, source, note = sst2_examples(data_dir)
    rng = np.random.default_rng(0)
    chosen = [examples[i] for i in rng.permutation(len(examples))[: sizes.finetune_examples]]
    tokenizer = Tokenizer(bpe_model)
    cfg = replace(sizes.model, vocab_size=tokenizer.vocab_size)
    data = encode_examples(task, chosen, tokenizer, cfg.n_ctx)
    bs = sizes.finetune_batch
    batches = [[data[i] for i in b] for b in training_batches([ex.width for ex in data], bs, rng) if len(b) == bs]
    batches = batches or [data]

    torch.manual_seed(0)
    model = TaskModel(GPT(cfg), task.kind, n_outputs(task, "soft_labels"), clf_dropout=0.1).to(device)

    update = trainer(model, device)

    def updates(padded: bool) -> Callable[[], None]:
        """Fine-tuning's update on the next batch, collated as gpt1 does, then padded to the context or
        not. Both variants walk through the same batches in the same order."""
        queue = itertools.cycle(batches)

        def step() -> None:
            batch = collate(next(queue), device)
            batch = pad_to_context(batch, cfg.n_ctx) if padded else batch
            update(lambda: objective(model, task, batch, lm_coef=0.5))

        return step

    steps = {"gpt1": updates(padded=False), "padded": updates(padded=True)}
    seconds = interleaved(steps, repeats, sizes.finetune_steps, sync(device), "fine-tuning updates")
    per_s = {name: [len(batches[0]) / s for s in runs] for name, runs in seconds.items()}
    ours, padded = median(per_s["gpt1"]), median(per_s["padded"])
    used = itertools.islice(itertools.cycle(batches), 2 + repeats * sizes.finetune_steps)  # warm-up + timed
    widths = [max(ex.width for ex in batch) for batch in used]
    return {
        "task": "sst2",
        "gpt1_examples_per_s": ours,
        "padded_examples_per_s": padded,
        "ratio_vs_padded": ours / padded,
        "mean_batch_width": float(np.mean(widths)),  # of the batches timed
        "n_ctx": cfg.n_ctx,
        "batch_size": len(batches[0]),
        "examples": len(data),
        "tokenizer": f"the BPE model of bpe.json ({tokenizer.vocab_size} pieces, trained on the books)",
        "data": source,
        "note": note,
        "config": cfg.to_dict(),
        "updates_per_repeat": sizes.finetune_steps,
        "repeats": repeats,
        "order": "ABAB: each round times dynamic padding, then padding to n_ctx, on the same batches",
        "step": "collate + L3 = L2 + 0.5 L1 + backward + clip_grad_norm_(1.0) + AdamW",
        "per_repeat_examples_per_s": per_s,
    }


# --- BPE and corpus encoding ----------------------------------------------------------------------


def write_corpus(paragraphs: Callable[[], Iterator[str]], mb: float, directory: Path) -> int:
    """A corpus directory as download-corpus leaves it (train.txt and val.txt, one cleaned paragraph a line)
    of about `mb` MB, the paragraphs read again from the start if they hold less. Returns its bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    target = int(mb * 1e6)
    written = 0
    with open(directory / "train.txt", "w", encoding="utf-8") as train:
        while written < target:
            before = written
            for paragraph in paragraphs():
                written += train.write(paragraph + "\n")
                if written >= target:
                    break
            if written == before:
                raise ValueError(f"no text to write a corpus from for {directory}")
    with open(directory / "train.txt", encoding="utf-8") as train:
        (directory / "val.txt").write_text("".join(itertools.islice(train, 50)), encoding="utf-8")
    return sum(os.path.getsize(directory / name) for name in ("train.txt", "val.txt"))


def book_paragraphs(books: list[Path]) -> Callable[[], Iterator[str]]:
    """The books' cleaned paragraphs (corpus.clean_document), cleaned once and replayed on every call."""
    from gpt1.text.corpus import clean_document

    cleaned: list[list[str]] = []

    def paragraphs() -> Iterator[str]:
        for i, book in enumerate(books):
            if i == len(cleaned):
                cleaned.append(clean_document(book.read_text(encoding="utf-8", errors="replace")))
            yield from cleaned[i]

    return paragraphs


def encode_child() -> None:
    """In a child process (argv: bpe model, corpus dir, out dir, or `--load-only`): encode the corpus and
    print the seconds it took and the process's peak memory, as JSON. `--load-only` only loads the
    tokenizer: the footprint before any text."""
    from gpt1.text.bpe import Tokenizer
    from gpt1.text.encode import encode_corpus

    bpe_model, corpus_dir, out_dir = (Path(a) for a in sys.argv[1:4])
    result: dict = {"seconds": 0.0, "tokens": 0}
    if "--load-only" in sys.argv:
        Tokenizer(bpe_model)
    else:
        start = time.perf_counter()
        meta = encode_corpus(bpe_model, corpus_dir, out_dir)
        result = {"seconds": time.perf_counter() - start, "tokens": meta["train_tokens"] + meta["val_tokens"]}
    print(json.dumps(result | {"peak_rss_bytes": peak_rss()}))


def peak_rss() -> int:
    """This process's peak resident memory in bytes. VmHWM belongs to the address space made at exec; the
    rusage figure would also count the parent's memory copied at the fork."""
    import resource

    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KB; an upper bound


def run_child(args: list[str]) -> dict:
    """Run `encode_child` in a fresh interpreter; its JSON."""
    code = "from benchmarks.bench import encode_child; encode_child()"
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, env=env, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_bpe(sizes: Sizes, data_dir: Path, work: Path) -> tuple[dict, Path]:
    """BPE training on the smaller corpus; encoding of both; returns the figures and the trained model."""
    from gpt1.text.bpe import train_bpe
    from gpt1.text.encode import CHUNK_CHARS

    books = sorted((data_dir / BOOKS).glob("*.txt"))
    source, note = str(data_dir / BOOKS), ""
    if not books:
        books = sorted((FIXTURES / "books").glob("*.txt"))
        source, note = str(FIXTURES / "books"), f"No books under {data_dir / BOOKS}: the fixture books instead."
        log.warning("%s", note)
    corpora = []
    paragraphs = book_paragraphs(books)
    for mb in sizes.corpus_mb:
        directory = work / f"corpus_{mb:g}mb"
        log.info("writing a %.3g MB corpus to %s", mb, directory)
        corpora.append((directory, write_corpus(paragraphs, mb, directory)))
    book_bytes = sum(len(p.encode()) + 1 for p in paragraphs())

    bpe_model = work / "bpe.model"
    train_text = corpora[0][0] / "train.txt"
    start = time.perf_counter()
    train_bpe(train_text, bpe_model, sizes.bpe_vocab, max_sentences=10_000_000, seed=0, text_form="raw")
    train_s = time.perf_counter() - start

    baseline_rss = run_child([str(bpe_model), "-", "-", "--load-only"])["peak_rss_bytes"]
    encodings = []
    for directory, size in corpora:
        log.info("encoding %s (%d bytes) in a child process", directory, size)
        result = run_child([str(bpe_model), str(directory), str(work / f"tokens_{directory.name}")])
        peak = result["peak_rss_bytes"]
        with open(directory / "train.txt", encoding="utf-8") as train:
            lines = sum(1 for _ in train)
        encodings.append(
            {
                "corpus_bytes": size,
                "train_lines": lines,
                "tokens": result["tokens"],
                "seconds": result["seconds"],
                "mb_per_s": size / 1e6 / result["seconds"],
                "peak_rss_bytes": peak,
                "peak_rss_mb": peak / 2**20,
            }
        )
    return {
        "bpe_training": {
            "corpus_bytes": os.path.getsize(train_text),
            "vocab_size": sizes.bpe_vocab,
            "seconds": train_s,
            "mb_per_s": os.path.getsize(train_text) / 1e6 / train_s,
        },
        "encoding": encodings,
        "peak_rss_growth": encodings[-1]["peak_rss_bytes"] / encodings[0]["peak_rss_bytes"],
        "baseline_rss_mb": baseline_rss / 2**20,
        "baseline": "a child that only imports gpt1.text.encode and loads the tokenizer",
        "peak_memory_method": "each encoding runs encode_corpus in a fresh child process, which reports its VmHWM",
        "books": source,
        "books_cleaned_bytes": book_bytes,
        "note": " ".join(
            filter(
                None,
                [
                    note,
                    "The books were read more than once to reach the larger size."
                    if corpora[-1][1] > book_bytes
                    else "",
                ],
            )
        ),
        "chunking": f"encode_corpus encodes about {CHUNK_CHARS:,} characters at a time, so its peak memory "
        "follows that chunk, not the corpus size",
    }, bpe_model


# --- the run --------------------------------------------------------------------------------------


def machine(device) -> dict:
    import sentencepiece
    import torch
    import transformers

    cpu = platform.processor() or "unknown"
    with_cpuinfo = Path("/proc/cpuinfo")
    if with_cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in with_cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentencepiece": sentencepiece.__version__,
        "python": platform.python_version(),
    }


def run_bench(
    out_dir: Path,
    repeats: int = 5,
    threads: int | None = None,
    quick: bool = False,
    device_name: str = "auto",
    data_dir: Path | None = None,
) -> dict:
    """Run every part of the bench and write its files to `out_dir`; returns what was written. The torch
    thread count and transformers' log level are put back afterwards."""
    if repeats < 1:
        raise ValueError(f"--repeats must be at least 1, got {repeats}")
    import torch
    import transformers

    threads_before, verbosity_before = torch.get_num_threads(), transformers.logging.get_verbosity()
    try:
        if threads:
            torch.set_num_threads(threads)
        transformers.logging.set_verbosity_error()  # its "loss_type=None" notice on every forward
        return _run(out_dir, repeats, threads, quick, device_name, data_dir)
    finally:
        torch.set_num_threads(threads_before)
        transformers.logging.set_verbosity(verbosity_before)


def _run(
    out_dir: Path, repeats: int, threads: int | None, quick: bool, device_name: str, data_dir: Path | None
) -> dict:
    import torch

    from gpt1.device import resolve_device, tune_cpu_allocator

    started = time.perf_counter()
    sizes = QUICK if quick else FULL
    device = resolve_device(device_name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda, but torch sees no CUDA device here")
    if device.type == "cpu":
        tune_cpu_allocator()  # as `gpt1 pretrain` does; both models share the process, so both gain
    command = shlex.join(
        [
            "python",
            "-m",
            "benchmarks.bench",
            "--out",
            str(out_dir),
            "--repeats",
            str(repeats),
            *(["--threads", str(threads)] if threads else []),
            *(["--quick"] if quick else []),
            "--device",
            device_name,
            *(["--data-dir", str(data_dir)] if data_dir else []),
        ]
    )
    data_dir = data_dir or default_data_dir()
    about = machine(device)
    log.info("bench on %s, %d threads, torch %s", about["cpu"], about["threads"], about["torch"])

    pretrain = bench_pretrain(sizes, device, repeats)
    log.info(
        "pretraining: gpt1 %.0f tok/s, transformers %.0f tok/s (x%.2f); matmul peak %.1f GFLOP/s, MFU %.2f",
        pretrain["gpt1_tokens_per_s"],
        pretrain["transformers_tokens_per_s"],
        pretrain["ratio_vs_transformers"],
        pretrain["peak_flops"] / 1e9,
        pretrain["mfu"],
    )
    with tempfile.TemporaryDirectory(prefix="gpt1-bench-") as tmp:
        bpe, bpe_model = bench_bpe(sizes, data_dir, Path(tmp))
        log.info(
            "BPE: training %.2f MB/s, encoding peak RSS %s MB",
            bpe["bpe_training"]["mb_per_s"],
            " / ".join(f"{e['peak_rss_mb']:.0f}" for e in bpe["encoding"]),
        )
        finetune = bench_finetune(sizes, device, repeats, bpe_model, data_dir)
    log.info(
        "fine-tuning: %.1f examples/s dynamic, %.1f padded (x%.2f)",
        finetune["gpt1_examples_per_s"],
        finetune["padded_examples_per_s"],
        finetune["ratio_vs_padded"],
    )

    common = {"machine": about, "command": command, "quick": quick}
    results = {
        "pretrain_step.json": pretrain | {"threads": about["threads"]} | common,
        "finetune.json": finetune | {"threads": about["threads"]} | common,
        "bpe.json": bpe | common,
    }
    for name, data in results.items():
        atomic_write_json(out_dir / name, data)
    wall = time.perf_counter() - started
    atomic_write_text(out_dir / "summary.md", summary(pretrain, finetune, bpe, about, command, wall))
    log.info("bench done in %.0f s: %s", wall, out_dir)
    return results


def default_data_dir() -> Path:
    """The data mirror: $GPT1_DATA_MIRROR, else ../shared/data beside the repository."""
    from gpt1.download import MIRROR_ENV

    return Path(os.environ.get(MIRROR_ENV) or ROOT.parent / "shared" / "data")


def spread(values: list[float], digits: int = 0) -> str:
    return f"{min(values):,.{digits}f} - {max(values):,.{digits}f}"


def summary(pretrain: dict, finetune: dict, bpe: dict, about: dict, command: str, wall_s: float) -> str:
    cfg = pretrain["config"]
    peak = pretrain["peak"]
    theory = peak.get("theoretical")
    enc, train = bpe["encoding"], bpe["bpe_training"]
    runs, ft_runs = pretrain["per_repeat_tokens_per_s"], finetune["per_repeat_examples_per_s"]
    lines = [
        "# gpt1 bench",
        "",
        f"Machine: {about['cpu']}, {about['logical_cpus']} logical CPUs, {about['threads']} torch threads"
        + (f", {about['gpu']}" if about["gpu"] else "")
        + f"; torch {about['torch']}, transformers {about['transformers']}, Python {about['python']}.",
        f"Command: `{command}` ({wall_s:.0f} s). Medians of {pretrain['repeats']} interleaved repeats.",
        "",
        "## Pretraining step",
        "",
        f"Model: {cfg['n_layer']} layers, {cfg['n_embd']} wide, {cfg['n_head']} heads, n_inner {cfg['n_inner']}, "
        f"vocab {cfg['vocab_size']}, context {cfg['n_ctx']}, dropout {cfg['dropout']}; batch "
        f"{pretrain['batch'][0]}x{pretrain['batch'][1]}; {pretrain['step']}.",
        "",
        "| | tokens/s | repeats ranged | MFU |",
        "|---|---:|---:|---:|",
        f"| gpt1 | {pretrain['gpt1_tokens_per_s']:,.0f} | {spread(runs['gpt1'])} | {pretrain['mfu']:.2f} |",
        f"| transformers OpenAIGPTLMHeadModel | {pretrain['transformers_tokens_per_s']:,.0f} | "
        f"{spread(runs['transformers'])} | {pretrain['transformers_mfu']:.2f} |",
        f"| **gpt1 / transformers** | **{pretrain['ratio_vs_transformers']:.2f}x** | | |",
        "",
        f"MFU: {pretrain['flops_per_token'] / 1e6:.1f} MFLOP per token ({pretrain['flops_formula']}) times tokens/s, "
        f"over a measured peak of {peak['peak_flops'] / 1e9:.0f} GFLOP/s ({peak['method']})"
        + (f"; theoretical {theory['flops'] / 1e9:.0f} GFLOP/s = {theory['formula']}" if theory else "")
        + ".",
        "",
        "## Fine-tuning (SST-2)",
        "",
        "| | examples/s | repeats ranged |",
        "|---|---:|---:|",
        f"| gpt1, dynamic padding (mean batch width {finetune['mean_batch_width']:.1f}) | "
        f"{finetune['gpt1_examples_per_s']:,.1f} | {spread(ft_runs['gpt1'], 1)} |",
        f"| padded to the context ({finetune['n_ctx']}) | {finetune['padded_examples_per_s']:,.1f} | "
        f"{spread(ft_runs['padded'], 1)} |",
        f"| **ratio** | **{finetune['ratio_vs_padded']:.2f}x** | |",
        "",
        f"Batch {finetune['batch_size']}, {finetune['examples']} examples from {finetune['data']}. {finetune['note']}",
        "",
        "## BPE and corpus encoding",
        "",
        f"BPE training: {train['mb_per_s']:.2f} MB/s ({train['corpus_bytes'] / 1e6:.3g} MB, "
        f"vocab {train['vocab_size']}).",
        "",
        "| corpus | lines | encoding MB/s | peak RSS |",
        "|---:|---:|---:|---:|",
        *(
            f"| {e['corpus_bytes'] / 1e6:.3g} MB | {e['train_lines']:,} | {e['mb_per_s']:.2f} | "
            f"{e['peak_rss_mb']:.0f} MB |"
            for e in enc
        ),
        "",
        f"Peak memory grows x{bpe['peak_rss_growth']:.2f} for x{enc[-1]['corpus_bytes'] / enc[0]['corpus_bytes']:.1f} "
        f"the text (a process that only loads the tokenizer: {bpe['baseline_rss_mb']:.0f} MB); {bpe['chunking']}. "
        f"Each encoding ran in its own process. Books: {bpe['books']}. {bpe['note']}",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """The bench's command line; run it from the repository root: `python -m benchmarks.bench --out DIR`."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench",
        description=__doc__.splitlines()[0],
        epilog="Needs the dev extra (transformers) and the test fixtures.",
    )
    parser.add_argument("--out", type=Path, required=True, help="directory for the JSON files and summary.md")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per contender; medians are reported")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for tests")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="data mirror with glue/SST-2 and books/british-novels "
        "(default: $GPT1_DATA_MIRROR, else ../shared/data; the test fixtures when absent)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        run_bench(args.out, args.repeats, args.threads, args.quick, args.device, args.data_dir)
    except ValueError as error:
        sys.exit(f"bench: {error}")


if __name__ == "__main__":
    main()
