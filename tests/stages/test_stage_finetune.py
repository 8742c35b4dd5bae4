"""The finetune stage on hand-written fixtures: metrics files, "not run" records, resume, its MLflow run."""

import getpass
import json
import shlex
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from conftest import FIXTURES, heavy_imports, run
from gpt1 import tracking
from gpt1.cli import build_parser
from gpt1.config import FinetuneConfig, GPTConfig
from gpt1.model import GPT
from gpt1.params import cli_flags
from gpt1.stages.finetune import run_task
from gpt1.tasks import available_splits
from gpt1.text.bpe import train_bpe

SMOKE_TASKS = FIXTURES / "smoke_tasks"


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny 'pretrained' checkpoint and a BPE model trained on the fixture books."""
    directory = tmp_path_factory.mktemp("pretrained")
    text = "\n".join(" ".join(p.read_text().split()) for p in sorted((FIXTURES / "books").glob("*.txt")))
    (directory / "train.txt").write_text(text + "\n")
    train_bpe(
        directory / "train.txt", directory / "bpe.model", vocab_size=400, max_sentences=10_000, seed=0, text_form="raw"
    )
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=400, n_ctx=64, n_layer=2, n_head=2, n_embd=32, n_inner=64, dropout=0.0)
    torch.save(
        {"model_config": cfg.to_dict(), "model": GPT(cfg).state_dict(), "mlflow_run_id": "abc"}, directory / "model.pt"
    )
    return directory


@pytest.fixture(autouse=True)
def _profile(monkeypatch):
    monkeypatch.setenv("GPT1_PROFILE", "smoke")  # as the Snakefile exports it


CFG = FinetuneConfig(lr=1e-3, batch_size=4, epochs=2, min_train_examples=2, seed=3)


def status(task_id: str) -> dict:
    return {"task": task_id, "status": "ok", "splits": available_splits(task_id, SMOKE_TASKS), "verified": False}


@pytest.mark.parametrize("task_id", ["sst2", "rte", "stsb", "story_cloze"])
def test_each_kind_of_task_runs_and_writes_its_metrics(task_id, pretrained, tmp_path):
    out = tmp_path / "metrics.json"
    run_task(
        task_id,
        SMOKE_TASKS,
        status(task_id),
        pretrained / "model.pt",
        pretrained / "bpe.model",
        CFG,
        out,
        tmp_path / "work",
    )
    record = json.loads(out.read_text())
    assert record["status"] == "done" and record["seed"] == 3 and record["pretrain_run_id"] == "abc"
    assert record["init"] == "pretrained" and "source" not in record  # gpt1's own pretraining
    assert record["split"] == ("test" if task_id == "story_cloze" else "dev")
    assert (
        set(record["metrics"])
        == {"sst2": {"accuracy"}, "rte": {"accuracy"}, "stsb": {"pearson", "spearman"}, "story_cloze": {"accuracy"}}[
            task_id
        ]
    )
    per_epoch = -(-record["n_train"] // 4)
    assert record["updates"] == 2 * per_epoch
    if task_id == "story_cloze":  # the epoch best on the held-out stories predicts the test set
        assert record["selection"]["split"] == "dev" and [e["epoch"] for e in record["selection"]["epochs"]] == [1, 2]
    else:
        assert "selection" not in record
    assert record.get("stsb_target") == ("soft_labels" if task_id == "stsb" else None)
    steps = sorted({*range(10, 2 * per_epoch + 1, 10), per_epoch, 2 * per_epoch})  # every 10 and each epoch's end
    assert [point["step"] for point in record["curves"]] == steps


def test_missing_data_and_format_slices_are_reported_not_run(pretrained, tmp_path):
    missing = {"task": "story_cloze", "status": "missing", "reason": "register first", "splits": []}
    run_task(
        "story_cloze",
        tmp_path,
        missing,
        pretrained / "model.pt",
        pretrained / "bpe.model",
        CFG,
        tmp_path / "sc.json",
        tmp_path / "work",
        curves_out=tmp_path / "sc.csv",
    )
    assert json.loads((tmp_path / "sc.json").read_text()) | {"seed": 0} == {
        "task": "story_cloze",
        "status": "not run",
        "reason": "register first",
        "profile": "smoke",
        "seed": 0,
        "variant": "full",
    }
    assert (tmp_path / "sc.csv").read_text() == "step,epoch,train_loss,lr\n"  # the header: an empty plot
    strict = FinetuneConfig(min_train_examples=1000)
    run_task(
        "sst2",
        SMOKE_TASKS,
        status("sst2"),
        pretrained / "model.pt",
        pretrained / "bpe.model",
        strict,
        tmp_path / "sst2.json",
        tmp_path / "work2",
    )
    record = json.loads((tmp_path / "sst2.json").read_text())
    assert record["status"] == "not run" and "training examples" in record["reason"]


def test_a_rerun_resumes_from_the_epoch_checkpoint(pretrained, tmp_path):
    args = ("sst2", SMOKE_TASKS, status("sst2"), pretrained / "model.pt", pretrained / "bpe.model", CFG)
    run_task(*args, tmp_path / "a.json", tmp_path / "work")
    first = json.loads((tmp_path / "a.json").read_text())
    run_task(*args, tmp_path / "b.json", tmp_path / "work")  # both epochs already in the checkpoint
    second = json.loads((tmp_path / "b.json").read_text())
    assert second["metrics"] == first["metrics"] and second["curves"] == first["curves"]
    shutil.rmtree(tmp_path / "work")


def test_the_record_names_its_variant(pretrained, tmp_path):
    cfg = FinetuneConfig(lr=1e-3, batch_size=4, epochs=1, min_train_examples=2, variant="no_pretraining")
    run_task(
        "sst2",
        SMOKE_TASKS,
        status("sst2"),
        pretrained / "model.pt",
        pretrained / "bpe.model",
        cfg,
        tmp_path / "m.json",
        tmp_path / "work",
        curves_out=tmp_path / "curves.csv",
    )
    record = json.loads((tmp_path / "m.json").read_text())
    assert record["variant"] == "no_pretraining"
    rows = (tmp_path / "curves.csv").read_text().splitlines()
    assert rows[0] == "step,epoch,train_loss,lr" and len(rows) == 1 + len(record["curves"])
    with pytest.raises(ValueError, match="variant 'scratch'"):
        run_task(
            "sst2",
            SMOKE_TASKS,
            status("sst2"),
            pretrained / "model.pt",
            pretrained / "bpe.model",
            FinetuneConfig(variant="scratch", min_train_examples=2),
            tmp_path / "x.json",
            tmp_path / "w2",
        )


def test_the_no_pretraining_twin_differs_only_in_its_variant_and_weights(pretrained, tmp_path):
    """Table 5's ablation must compare two different models on the same data: the twin's record matches the
    full model's in everything but the variant and what its fresh weights change (losses, metrics, time)."""
    records = {}
    for variant in ("full", "no_pretraining"):
        cfg = FinetuneConfig(lr=1e-3, batch_size=4, epochs=1, min_train_examples=2, seed=3, variant=variant)
        out = tmp_path / f"{variant}.json"
        run_task(
            "sst2",
            SMOKE_TASKS,
            status("sst2"),
            pretrained / "model.pt",
            pretrained / "bpe.model",
            cfg,
            out,
            tmp_path / f"work-{variant}",
        )
        records[variant] = json.loads(out.read_text())
    full, twin = records["full"], records["no_pretraining"]
    assert full.keys() == twin.keys()
    differ = {key for key in full if full[key] != twin[key]}
    assert "variant" in differ and differ <= {"variant", "metrics", "results", "curves", "wall_s"}
    assert full["n_train"] == twin["n_train"] > 0 and full["updates"] == twin["updates"]
    assert [(p["step"], p["lr"]) for p in full["curves"]] == [(p["step"], p["lr"]) for p in twin["curves"]]
    assert full["curves"][0]["train_loss"] != twin["curves"][0]["train_loss"]  # other weights from the start


def finetune_argv(task_dir, variant: str, seed: int, out_dir, cfg: FinetuneConfig, checkpoint, tokenizer) -> list[str]:
    """`gpt1 finetune`'s command line, as the orchestrators write it (`cfg`'s params.yaml keys as flags)."""
    flags = cli_flags({k: v for k, v in asdict(cfg).items() if k not in FinetuneConfig.NOT_PARAMS})
    return [
        "finetune",
        *("--task", task_dir.name, "--seed", str(seed), "--variant", variant, "--task-dir", str(task_dir)),
        *("--checkpoint", str(checkpoint), "--tokenizer", str(tokenizer)),
        *("--out", str(out_dir / f"{task_dir.name}-seed{seed}.json")),
        *("--curves", str(out_dir / f"{task_dir.name}-seed{seed}.csv")),
        *("--work-dir", str(out_dir / "work"), *shlex.split(flags)),
    ]


@pytest.mark.parametrize(("variant", "seed"), [("full", 42), ("layers1", 43)])
def test_the_mlflow_run_is_named_for_what_ran_and_keeps_the_record_and_curve(
    variant, seed, pretrained, tmp_path, monkeypatch
):
    """A fine-tuning run in a real MLflow store: named task/variant/seed; hyperparameters and settings as
    params, paths as tags; MLflow's source tags (command, the working directory's commit, user); the metrics
    record and the curve as artifacts. Run by hand, it belongs to no group."""
    monkeypatch.chdir(tmp_path)  # a git repository of its own, and MLflow's artifacts in ./mlruns
    run(["git", "init", "-q"], tmp_path)
    run(["git", "commit", "-q", "--allow-empty", "-m", "start"], tmp_path)
    commit = run(["git", "rev-parse", "HEAD"], tmp_path).stdout.strip()
    task_dir = tmp_path / "tasks" / "sst2"
    task_dir.mkdir(parents=True)
    (task_dir / "data").symlink_to(SMOKE_TASKS)
    (task_dir / "status.json").write_text(json.dumps(status("sst2")))
    cfg = FinetuneConfig(lr=1e-3, batch_size=4, epochs=1, min_train_examples=2)
    out_dir = tmp_path / "results"
    args = build_parser().parse_args(
        finetune_argv(task_dir, variant, seed, out_dir, cfg, pretrained / "model.pt", pretrained / "bpe.model")
    )
    args.run(args)

    from mlflow import MlflowClient

    client = MlflowClient(tracking.tracking_uri())
    (mlflow_run,) = client.search_runs([client.get_experiment_by_name(tracking.EXPERIMENT).experiment_id])
    assert mlflow_run.info.run_name == f"finetune/sst2/{variant}/seed{seed}"
    params, tags = mlflow_run.data.params, mlflow_run.data.tags
    assert (params["task"], params["variant"], params["seed"], params["lr"]) == ("sst2", variant, str(seed), "0.001")
    assert set(params) == {"task", "variant", "seed"} | {k for k in asdict(cfg) if k not in cfg.NOT_PARAMS}
    # paths in the working directory, the project, relative to it; the checkpoint's, elsewhere, as given
    assert tags["path.out"] == f"results/sst2-seed{seed}.json" and tags["path.task_dir"] == "tasks/sst2"
    assert tags["path.checkpoint"] == str(pretrained / "model.pt")
    assert (tags["task"], tags["seed"], tags["ablation"], tags["profile"]) == ("sst2", str(seed), variant, "smoke")
    assert tags[tracking.SOURCE_NAME_TAG] == "gpt1 finetune" and tags[tracking.SOURCE_TYPE_TAG] == "LOCAL"
    assert tags[tracking.GIT_COMMIT_TAG] == commit and tags[tracking.USER_TAG] == getpass.getuser()
    assert tracking.PIPELINE_TAG not in tags and tracking.PARENT_RUN_TAG not in tags
    artifacts = {a.path for a in client.list_artifacts(mlflow_run.info.run_id)}
    assert artifacts == {f"sst2-seed{seed}.json", f"sst2-seed{seed}.csv"}
    for name in artifacts:
        logged = client.download_artifacts(mlflow_run.info.run_id, name, str(tmp_path))
        assert Path(logged).read_bytes() == (out_dir / name).read_bytes()
    assert json.loads((out_dir / f"sst2-seed{seed}.json").read_text())["status"] == "done"


def test_a_task_without_data_is_recorded_without_torch_or_mlflow(tmp_path):
    """36 of the sample's fine-tuning jobs have no data: each writes its "not run" record in a fraction of
    a second, importing neither torch nor MLflow (and leaving no MLflow run)."""
    task_dir = tmp_path / "qqp"
    (task_dir / "data").mkdir(parents=True)
    (task_dir / "status.json").write_text('{"task": "qqp", "status": "missing", "reason": "no data", "splits": []}')
    flags = cli_flags({k: v for k, v in asdict(FinetuneConfig()).items() if k not in FinetuneConfig.NOT_PARAMS})
    argv = [
        "finetune",
        "--task",
        "qqp",
        "--seed",
        "42",
        "--variant",
        "full",
        "--task-dir",
        str(task_dir),
        "--checkpoint",
        "none.pt",
        "--tokenizer",
        "none.model",
        "--out",
        str(tmp_path / "m.json"),
        "--curves",
        str(tmp_path / "c.csv"),
        "--work-dir",
        str(tmp_path / "work"),
        *shlex.split(flags),
    ]
    assert heavy_imports(argv, tmp_path) == []
    assert json.loads((tmp_path / "m.json").read_text())["status"] == "not run"
    assert (tmp_path / "c.csv").read_text() == "step,epoch,train_loss,lr\n"
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "work").exists()


@pytest.mark.parametrize(
    ("task_id", "folder", "test_file"),
    [("snli", "snli_1.0", "snli_1.0_test.jsonl"), ("scitail", "SciTailV1.1", "tsv_format/scitail_1.0_test.tsv")],
)
def test_snli_and_scitail_report_their_labelled_test_sets_as_the_paper(task_id, folder, test_file, tmp_path):
    """The paper's SNLI and SciTail numbers are on the test sets, whose labels are public: ours too, never dev,
    which is not scored at all (nothing reports it)."""
    from gpt1.stages.finetune import NotRun, task_data

    shutil.copytree(FIXTURES / "tasks" / folder, tmp_path / folder)
    cfg = FinetuneConfig(min_train_examples=1)
    with pytest.raises(NotRun, match="no labelled test split .*the split the paper reports"):
        task_data(task_id, tmp_path, {"status": "ok", "splits": ["train", "dev"], "verified": False}, cfg)
    dev = (tmp_path / folder / test_file.replace("_test", "_dev")).read_text().splitlines(keepends=True)
    (tmp_path / folder / test_file).write_text("".join(dev[:1]))  # a test set of one example, to tell it apart
    status = {"status": "ok", "splits": ["train", "dev", "test"], "verified": False}
    data = task_data(task_id, tmp_path, status, cfg)
    assert list(data.evals) == ["test"] and len(data.evals["test"]) == 1


def test_evaluation_is_capped_to_one_seeded_sample_for_every_run():
    """finetune.max_eval_examples: every seed and variant is scored on the same examples, in file order."""
    from gpt1.stages.finetune import task_data
    from gpt1.tasks import read_split

    dev = read_split("sst2", "dev", SMOKE_TASKS)
    cap = len(dev) // 2
    samples = [
        task_data(
            "sst2", SMOKE_TASKS, status("sst2"), FinetuneConfig(min_train_examples=2, seed=s, max_eval_examples=cap)
        )
        for s in (42, 43)
    ]
    first, second = (data.evals["dev"] for data in samples)
    assert first == second and len(first) == cap
    assert [dev.index(example) for example in first] == sorted(dev.index(example) for example in first)
    assert samples[0].eval_available == {"dev": len(dev)}
    whole = task_data("sst2", SMOKE_TASKS, status("sst2"), FinetuneConfig(min_train_examples=2, max_eval_examples=0))
    assert whole.evals["dev"] == dev and whole.standin == []
    standin = task_data("sst2", SMOKE_TASKS, status("sst2") | {"standin": ["dev.tsv"]}, CFG)
    assert standin.standin == ["dev.tsv"]
