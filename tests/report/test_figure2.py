"""Figure 2 from fabricated metrics and zero-shot records of both architectures, and what the flat metrics
and the summary say of it."""

import json

import pytest

from gpt1 import cli
from gpt1.report.figure2 import build_figure2, draw_heuristic
from gpt1.report.summary import zero_shot_lines


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
    write(zero_shot / "dprd.json", curve("dprd", [(0, 0.5), (100, 0.55)]))
    lstm = tmp_path / "zero_shot_lstm"
    write(lstm / "dprd.json", curve("dprd", [(0, 0.5), (50, 0.52)], "lstm"))
    written = build_figure2(metrics, zero_shot, tmp_path / "figures", "smoke", lstm)
    png, data = written
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plotted = json.loads(data.read_text())
    sst2 = plotted["transfer"]["sst2"]
    assert [p["layers"] for p in sst2] == [0, 2, 4]  # 4: the full model's runs
    assert [p["mean"] for p in sst2] == pytest.approx([55.0, 70.0, 80.0])
    assert sst2[0]["sd"] == pytest.approx(7.0711, abs=1e-4) and sst2[0]["seeds"] == 2
    assert set(plotted["transfer"]) == {"sst2"} and set(plotted["zero_shot"]) == {"cola", "dprd"}
    assert plotted["zero_shot"]["cola"]["points"][1] == {"step": 100, "value": 0.1}
    assert list(plotted["zero_shot"]) == ["dprd", "cola"]  # the panels' order: sentiment, Winograd, CoLA, RACE
    assert plotted["zero_shot_lstm"] == {
        "dprd": {
            "title": "Winograd schema (DPRD)",
            "metric": "accuracy",
            "chance": 0.5,
            "split": "test",
            "n": 564,
            "points": [{"step": 0, "value": 0.5}, {"step": 50, "value": 0.52}],
        }
    }


def test_figure2_without_any_runs_still_draws_every_panel(tmp_path):
    png, data = build_figure2(tmp_path / "none", tmp_path / "none", tmp_path / "figures", "sample", tmp_path / "none")
    assert png.stat().st_size > 0
    assert json.loads(data.read_text()) == {"profile": "sample", "transfer": {}, "zero_shot": {}, "zero_shot_lstm": {}}


def curve(task: str, points: list[tuple], architecture: str = "transformer") -> dict:
    """A zero_shot record of DPRD's shape (accuracy on the 564 test examples) with `points` (step, value)."""
    return {
        "task": task,
        "status": "done",
        "architecture": architecture,
        "metric": "accuracy",
        "chance": 0.5,
        "split": "test",
        "n": 564,
        "points": [{"step": step, "value": value} for step, value in points],
    }


def test_a_heuristic_panel_draws_the_transformer_solid_the_lstm_dashed_and_chance():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    zero_shot = {
        "transformer": {"dprd": curve("dprd", [(0, 0.5), (100, 0.6)])},
        "lstm": {"dprd": curve("dprd", [(0, 0.5), (100, 0.55)], "lstm")},
    }
    draw_heuristic(ax, "dprd", zero_shot)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert lines["Transformer"].get_linestyle() == "-" and list(lines["Transformer"].get_ydata()) == [0.5, 0.6]
    assert lines["LSTM"].get_linestyle() == "--" and list(lines["LSTM"].get_ydata()) == [0.5, 0.55]
    assert list(lines["chance"].get_ydata()) == [0.5, 0.5]
    assert ax.get_title() == "Winograd schema (DPRD)"
    plt.close(fig)


def test_the_stage_writes_the_lstm_curves_into_the_flat_metrics_and_the_summary(tmp_path, monkeypatch):
    """`gpt1 figure2` as the workflow runs it; the released weights (one point, no step) beside the LSTM."""
    monkeypatch.setenv("GPT1_TRACKING", "0")
    write(tmp_path / "zero_shot" / "dprd.json", curve("dprd", [(None, 0.61)]))
    write(tmp_path / "zero_shot_lstm" / "dprd.json", curve("dprd", [(0, 0.5), (1000, 0.5425)], "lstm"))
    results = tmp_path / "results"
    (tmp_path / "metrics").mkdir()  # no transfer runs
    argv = ["figure2", "--metrics-dir", str(tmp_path / "metrics"), "--zero-shot-dir", str(tmp_path / "zero_shot")]
    argv += ["--lstm-zero-shot-dir", str(tmp_path / "zero_shot_lstm"), "--out-dir", str(results / "figures")]
    cli.main([*argv, "--metrics", str(tmp_path / "figure2_metrics.json")])
    flat = json.loads((tmp_path / "figure2_metrics.json").read_text())
    assert flat == {"figure2": {"zero_shot_dprd": 0.61, "zero_shot_lstm_dprd": 0.5425}}
    assert zero_shot_lines(results / "figures" / "figure2.json") == [
        "- Zero-shot Winograd schema (DPRD), transformer: 0.610 with the released weights "
        "(accuracy on 564 test examples, chance 0.5).",
        "- Zero-shot Winograd schema (DPRD), LSTM: 0.500 at update 0, 0.542 at update 1,000 "
        "(accuracy on 564 test examples, chance 0.5).",
    ]
