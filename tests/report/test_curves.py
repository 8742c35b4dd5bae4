"""The fine-tuning curves by task that dvc.yaml plots: a file per task, a row per logged point of each seed."""

import pandas as pd
from report.test_tables import done, write_metrics

from gpt1.report.curves import write_curves_by_task


def curve(*losses: float) -> list[dict]:
    return [{"step": 10 * (i + 1), "epoch": 1, "train_loss": loss, "lr": 1e-4} for i, loss in enumerate(losses)]


def test_each_task_gets_one_file_with_every_seeds_points(tmp_path):
    runs = {
        "sst2-seed43": done("sst2", {"accuracy": 0.5}, seed=43) | {"curves": curve(0.9, 0.7)},
        "sst2-seed42": done("sst2", {"accuracy": 0.6}, seed=42) | {"curves": curve(1.0, 0.8, 0.6)},
        "rte-seed42": {"task": "rte", "status": "not run", "seed": 42},  # no file: nothing to plot
    }
    out = tmp_path / "curves"
    out.mkdir()
    (out / "cola.csv").write_text("step\n")  # an earlier run's task that no longer ran
    assert write_curves_by_task(write_metrics(tmp_path / "metrics", runs), out) == [out / "sst2.csv"]
    assert sorted(p.name for p in out.iterdir()) == ["sst2.csv"]
    sst2 = pd.read_csv(out / "sst2.csv")
    assert list(sst2.columns) == ["step", "seed", "epoch", "train_loss", "lr"]
    assert list(zip(sst2["seed"], sst2["step"])) == [(42, 10), (42, 20), (42, 30), (43, 10), (43, 20)]
    assert list(sst2["train_loss"]) == [1.0, 0.8, 0.6, 0.9, 0.7]
