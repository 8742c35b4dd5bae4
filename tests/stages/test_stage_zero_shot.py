"""The zero_shot stage: a task without data is recorded as not run, cheaply."""

import json

from conftest import heavy_imports


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
