"""The released-weights path (runs.init: openai-gpt): Snakemake's DAG without corpus, BPE or pretraining,
DVC's refusal, the import from a local hub at HF_ENDPOINT, the report without pretraining, and a real run."""

import json
import os
import subprocess

import pytest
import torch

from conftest import BIN, FIXTURES, SHARED_DATA, project_copy, snakemake_jobs
from gpt1 import cli, released
from gpt1.config import FinetuneConfig, GPTConfig
from gpt1.model import GPT
from gpt1.report.figure2 import build_figure2
from gpt1.report.summary import build_summary, headline_metrics
from gpt1.report.table5 import build_table5
from gpt1.report.tables import build_tables
from gpt1.stages.finetune import run_task
from gpt1.tasks import available_splits
from gpt1.text.tokenizers import load_tokenizer

PRETRAINING_RULES = {"download_corpus", "train_bpe", "encode_corpus", "pretrain"}
RELEASED = SHARED_DATA / "openai-gpt"
SMOKE_TASKS = FIXTURES / "smoke_tasks"
# Snakemake 9 takes no dotted keys in --config (runs.init=...): a group is given as YAML, merged deeply.
RELEASED_WEIGHTS_CONFIG = "runs={init: openai-gpt}"


@pytest.mark.parametrize("config", [["profile=openai-gpt"], ["profile=smoke", RELEASED_WEIGHTS_CONFIG]])
def test_snakemake_starts_from_the_released_weights_without_pretraining(config):
    """The transformer is the released one; the LSTM baseline (Table 5, Figure 2), of which no weights were
    released, is still gpt1's own: its corpus, BPE and pretraining run for it alone."""
    jobs = snakemake_jobs("--config", *config)
    rules = {name.split("@")[0] for name in jobs}
    assert "pretrain" not in rules
    assert {"import_openai_gpt", "finetune", "finetune_ablation", "finetune_transfer", "zero_shot", "summary"} <= rules
    assert PRETRAINING_RULES - {"pretrain"} | {"pretrain_lstm", "finetune_lstm", "zero_shot_lstm"} <= rules
    finetunes = [job for name, job in jobs.items() if name.startswith("finetune") and "finetune_lstm" not in name]
    start = "--checkpoint results/openai-gpt/model.pt --tokenizer results/openai-gpt/vocab"
    assert all(start in job["cmd"] for job in finetunes)
    lstm = [job for name, job in jobs.items() if name.startswith("finetune_lstm@")]
    own = "--checkpoint results/pretrain_lstm/model.pt --tokenizer results/bpe/bpe.model"
    assert lstm and all(own in job["cmd"] for job in lstm)
    zero_shot = [job for name, job in jobs.items() if name.startswith("zero_shot@")]
    assert zero_shot and all("--snapshots results/openai-gpt/model.pt" in job["cmd"] for job in zero_shot)
    assert "results/pretrain/metrics.json" not in jobs["summary"]["inputs"]


def test_dvc_profile_refuses_the_released_weights_path():
    with pytest.raises(SystemExit) as refused:
        cli.main(["profile", "openai-gpt"])
    message = str(refused.value)
    assert "runs.init openai-gpt" in message and "runs under Snakemake only" in message
    assert "`snakemake --cores all --config profile=openai-gpt`" in message and "\n" not in message


@pytest.fixture(scope="module")
def tiny_release(tmp_path_factory):
    """A random OpenAIGPT in the Hugging Face layout: the released vocabulary size, a tiny model."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.OpenAIGPTConfig(vocab_size=40478, n_positions=64, n_embd=16, n_layer=2, n_head=2)
    directory = tmp_path_factory.mktemp("release")
    transformers.OpenAIGPTLMHeadModel(config).save_pretrained(directory, safe_serialization=True)
    return directory


def serve_as_hub(hub, release) -> dict[str, str]:
    """Serve `release`'s files on the local hub at the pinned revision; return the environment that uses it."""
    for name in ("config.json", "model.safetensors"):
        hub(released.HF_REPO, released.HF_REVISION, name, (release / name).read_bytes())
    return hub.env


@pytest.fixture
def mirror(tmp_path):
    """A data mirror with the smoke tasks' fixtures and the released tokenizer files (the weights are not there)."""
    if not RELEASED.is_dir():
        pytest.skip(f"{RELEASED} is absent (the data mirror): the released tokenizer files come from there")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for entry in SMOKE_TASKS.iterdir():
        (mirror / entry.name).symlink_to(entry)
    (mirror / "openai-gpt").symlink_to(RELEASED)
    return mirror


def test_import_takes_the_weights_from_hf_endpoint_and_the_tokenizer_from_the_mirror(
    tiny_release, hub, mirror, tmp_path
):
    # the mirror lacks the hub's files: those come from HF_ENDPOINT, read by huggingface_hub in a fresh gpt1
    env = os.environ | {"PATH": f"{BIN}:{os.environ['PATH']}", "GPT1_DATA_MIRROR": str(mirror), "GPT1_TRACKING": "0"}
    command = ["gpt1", "import-openai-gpt", "--model", "model.pt", "--vocab-dir", "vocab", "--download-dir", "download"]
    done = subprocess.run(
        command, cwd=tmp_path, env=env | serve_as_hub(hub, tiny_release), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-4000:]
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert saved["source"] == "openai-gpt"
    assert saved["model_config"]["vocab_size"] == 40478 + 3 and saved["model_config"]["n_layer"] == 2
    assert load_tokenizer(tmp_path / "vocab").vocab_size == saved["model_config"]["vocab_size"]
    resolve = f"/{released.HF_REPO}/resolve/{released.HF_REVISION}"
    assert {path for _, path in hub.hits if path.startswith(resolve)} == {
        f"{resolve}/config.json",
        f"{resolve}/model.safetensors",
    }


def test_finetuning_refuses_a_tokenizer_the_checkpoint_has_no_embeddings_for(tmp_path):
    if not RELEASED.is_dir():
        pytest.skip(f"{RELEASED} is absent (the data mirror): the released tokenizer files come from there")
    cfg = GPTConfig(vocab_size=400, n_ctx=32, n_layer=1, n_head=2, n_embd=8, n_inner=16)
    torch.save({"model_config": cfg.to_dict(), "model": GPT(cfg).state_dict()}, tmp_path / "model.pt")
    status = {"task": "sst2", "status": "ok", "splits": available_splits("sst2", SMOKE_TASKS), "verified": False}
    with pytest.raises(ValueError, match=r"the tokenizer has 40481 tokens, .*model.pt's model only 400"):
        run_task(
            "sst2",
            SMOKE_TASKS,
            status,
            tmp_path / "model.pt",
            RELEASED / "model",
            FinetuneConfig(min_train_examples=2),
            tmp_path / "m.json",
            tmp_path / "work",
        )


def released_weights_record(task: str, value: float) -> dict:
    return {
        "task": task,
        "status": "done",
        "profile": "openai-gpt",
        "split": "dev",
        "seed": 42,
        "metrics": {"accuracy": value},
        "results": {"dev": {"metrics": {"accuracy": value}}},
        "init": "openai-gpt",
        "source": "openai-gpt",
    }


def test_the_report_says_released_weights_and_reads_no_pretraining(tmp_path):
    results = tmp_path / "results"  # no results/pretrain/ at all
    (results / "metrics" / "full").mkdir(parents=True)
    (results / "metrics" / "full" / "sst2-seed42.json").write_text(json.dumps(released_weights_record("sst2", 0.9)))
    build_tables(results / "metrics" / "full", results / "tables", "openai-gpt")
    build_table5(results / "metrics", results / "tables", "openai-gpt")
    (results / "figures").mkdir()
    (results / "figures" / "figure2.png").write_bytes(b"")
    text = build_summary(results, results / "summary.md", "openai-gpt", "abc123")
    assert "## Released weights" in text and "## Pretraining" not in text
    assert text.count("- Initialisation: OpenAI's released GPT-1 weights") == 2  # Tables 4 and 5, which have SST-2
    assert headline_metrics(results) == {"glue_score": 90.0, "table5_avg_full": 90.0}


def test_figure2_draws_the_released_weights_zero_shot_score(tmp_path):
    point = {"step": None, "value": 0.75}  # gpt1.training.zero_shot's one point for an imported checkpoint
    (tmp_path / "zero_shot").mkdir()
    (tmp_path / "zero_shot" / "sst2.json").write_text(
        json.dumps(
            {
                "task": "sst2",
                "status": "done",
                "metric": "accuracy",
                "chance": 0.5,
                "split": "dev",
                "n": 4,
                "points": [point],
            }
        )
    )
    png, data = build_figure2(tmp_path / "metrics", tmp_path / "zero_shot", tmp_path / "figures", "openai-gpt")
    assert png.read_bytes().startswith(b"\x89PNG")
    assert json.loads(data.read_text())["zero_shot"]["sst2"]["points"] == [point]


@pytest.mark.slow
def test_snakemake_fine_tunes_and_scores_the_released_weights(tiny_release, hub, mirror, tmp_path):
    project = project_copy(tmp_path)
    env = os.environ | {"PATH": f"{BIN}:{os.environ['PATH']}", "GPT1_DATA_MIRROR": str(mirror)}
    env |= serve_as_hub(hub, tiny_release)
    targets = ["results/metrics/full/sst2-seed42.json", "results/zero_shot/sst2.json"]
    done = subprocess.run(
        ["snakemake", *targets, "--cores", "2", "--config", "profile=smoke", RELEASED_WEIGHTS_CONFIG],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    record = json.loads((project / targets[0]).read_text())
    assert record["status"] == "done" and record["init"] == "openai-gpt" and record["source"] == "openai-gpt"
    assert record["checkpoint"] == "results/openai-gpt/model.pt"
    zero_shot = json.loads((project / targets[1]).read_text())
    assert zero_shot["status"] == "done" and [p["step"] for p in zero_shot["points"]] == [None]
    assert not (project / "results" / "pretrain").exists() and not (project / "results" / "bpe").exists()
