"""The zero_shot stage: a task without data is recorded as not run, cheaply; LSTM snapshots are scored."""

import json

from conftest import FIXTURES, heavy_imports


def test_a_task_without_data_is_recorded_without_torch_or_mlflow(tmp_path):
    """RACE has no data on a mirror without it: its record is written without importing torch or MLflow,
    and without an MLflow run, as finetune's "not run" records are."""
    task_dir = tmp_path / "race"
    (task_dir / "data").mkdir(parents=True)
    (task_dir / "status.json").write_text('{"task": "race", "status": "missing", "reason": "no data", "splits": []}')
    argv = [
        "zero-shot",
        "--task",
        "race",
        "--task-dir",
        str(task_dir),
        "--snapshots",
        str(tmp_path / "snapshots"),
        "--tokenizer",
        "none.model",
        "--out",
        str(tmp_path / "z.json"),
        "--max-examples",
        "10",
        "--seed",
        "0",
        "--device",
        "auto",
    ]
    assert heavy_imports(argv, tmp_path) == []
    record = json.loads((tmp_path / "z.json").read_text())
    assert record == {"task": "race", "status": "not run", "reason": "no data"}
    assert not (tmp_path / "mlflow.db").exists()


def test_the_stage_scores_lstm_snapshots_with_the_winograd_heuristic(tmp_path, monkeypatch):
    """`gpt1 zero-shot --task dprd` on a folder of LSTM snapshots, with a BPE trained on the fixture books: one
    point per snapshot, the record marked "lstm", scored on DPRD's test split (it has no dev)."""
    import torch

    from gpt1 import cli
    from gpt1.config import LSTMConfig
    from gpt1.lstm import LSTMLM
    from gpt1.tasks import available_splits
    from gpt1.text.bpe import train_bpe

    monkeypatch.setenv("GPT1_TRACKING", "0")
    text = "\n".join(" ".join(p.read_text().split()) for p in sorted((FIXTURES / "books").glob("*.txt")))
    (tmp_path / "train.txt").write_text(text + "\n")
    train_bpe(tmp_path / "train.txt", tmp_path / "bpe.model", 400, 10_000, seed=0, text_form="raw")
    torch.manual_seed(0)
    lstm = LSTMLM(LSTMConfig(vocab_size=400, n_ctx=64, n_hidden=16, n_embd=16, dropout=0.0))
    (tmp_path / "snapshots").mkdir()
    for step in (0, 5):
        state = {"model_config": lstm.config.to_dict(), "model": lstm.state_dict(), "step": step}
        torch.save(state, tmp_path / "snapshots" / f"step{step:07d}.pt")
    task_dir = tmp_path / "dprd"
    task_dir.mkdir()
    (task_dir / "data").symlink_to(FIXTURES / "smoke_tasks")
    status = {"task": "dprd", "status": "ok", "splits": available_splits("dprd", FIXTURES / "smoke_tasks")}
    (task_dir / "status.json").write_text(json.dumps(status))

    argv = ["zero-shot", "--task", "dprd", "--task-dir", str(task_dir), "--snapshots", str(tmp_path / "snapshots")]
    argv += ["--tokenizer", str(tmp_path / "bpe.model"), "--out", str(tmp_path / "z.json")]
    cli.main([*argv, "--max-examples", "0", "--seed", "0", "--device", "cpu"])
    record = json.loads((tmp_path / "z.json").read_text())
    assert record["architecture"] == "lstm" and record["task"] == "dprd" and record["status"] == "done"
    assert (record["split"], record["n"], record["metric"], record["chance"]) == ("test", 10, "accuracy", 0.5)
    assert [point["step"] for point in record["points"]] == [0, 5]
    assert record["points"][0]["value"] == record["points"][1]["value"]  # the same weights, the same score
    assert record["points"][0]["value"] * 10 == round(record["points"][0]["value"] * 10)  # right of 10
