"""Figure 2 from fabricated metrics and zero-shot records."""

import json

import pytest

from gpt1.report.figure2 import build_figure2


def record(task: str, metric: str, value: float, seed: int, n_layer: int = 4) -> dict:
    return {
        "task": task,
        "status": "done",
        "split": "dev",
        "metrics": {metric: value},
        "seed": seed,
        "n_layer": n_layer,
        "results": {"dev": {"metrics": {metric: value}}},
    }


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_figure2_plots_layers_transferred_and_zero_shot_curves(tmp_path):
    metrics, zero_shot = tmp_path / "metrics", tmp_path / "zero_shot"
    write(metrics / "transfer" / "layers0" / "sst2-seed1.json", record("sst2", "accuracy", 0.5, 1))
    write(metrics / "transfer" / "layers0" / "sst2-seed2.json", record("sst2", "accuracy", 0.6, 2))
    write(metrics / "transfer" / "layers2" / "sst2-seed1.json", record("sst2", "accuracy", 0.7, 1))
    write(metrics / "full" / "sst2-seed1.json", record("sst2", "accuracy", 0.8, 1))
    write(metrics / "full" / "rte-seed1.json", record("rte", "accuracy", 0.55, 1))  # no transfer runs: not drawn
    write(
        zero_shot / "cola.json",
        {
            "task": "cola",
            "status": "done",
            "metric": "matthews",
            "chance": 0.0,
            "split": "dev",
            "n": 10,
            "points": [{"step": 0, "value": 0.0}, {"step": 100, "value": 0.1}],
        },
    )
    write(zero_shot / "race.json", {"task": "race", "status": "not run", "reason": "no data"})
    written = build_figure2(metrics, zero_shot, tmp_path / "figures", "smoke")
    png, data = written
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plotted = json.loads(data.read_text())
    sst2 = plotted["transfer"]["sst2"]
    assert [p["layers"] for p in sst2] == [0, 2, 4]  # 4: the full model's runs
    assert [p["mean"] for p in sst2] == pytest.approx([55.0, 70.0, 80.0])
    assert sst2[0]["sd"] == pytest.approx(7.0711, abs=1e-4) and sst2[0]["seeds"] == 2
    assert set(plotted["transfer"]) == {"sst2"} and set(plotted["zero_shot"]) == {"cola"}
    assert plotted["zero_shot"]["cola"]["points"][1] == {"step": 100, "value": 0.1}


def test_figure2_without_any_runs_still_draws_both_panels(tmp_path):
    png, data = build_figure2(tmp_path / "none", tmp_path / "none", tmp_path / "figures", "sample")
    assert png.stat().st_size > 0 and json.loads(data.read_text())["transfer"] == {}
