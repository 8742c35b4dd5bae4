"""The few numbers a person compares across runs, as flat JSON files for `dvc exp show` and `dvc metrics diff`.

Each report stage's detailed JSON (tables.json, table5.json, figure2.json, pretraining's metrics.json) holds
paper numbers, statuses and curves; these files hold one number per key, only for what ran, and are small
enough to commit to git, as DVC's example projects do (results/ is not committed).
"""

from __future__ import annotations

import re
from pathlib import Path

from gpt1.files import atomic_write_json

DIGITS = 4


def key(name: str) -> str:
    """A column's name as a metric key: `STS-B` -> `sts_b`, `Story Cloze` -> `story_cloze`."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def from_pretraining(metrics: dict) -> dict[str, float]:
    return {name: round(metrics[name], DIGITS) for name in ("val_loss", "val_ppl")} | {"tokens": metrics["tokens"]}


def from_tables(summary: dict) -> dict[str, float]:
    """Tables 2-4: each column's mean over seeds."""
    return {
        key(column): cell["ours"]
        for table in ("table2", "table3", "table4")
        for column, cell in summary[table].items()
        if cell["ours"] is not None
    }


def from_table5(summary: dict) -> dict[str, float]:
    """Table 5's average for each row that ran, and pre-training's gain on it (full minus no_pretraining)."""
    names = {name: f"avg_{name}" for name, cells in summary.items() if isinstance(cells, dict) and "Avg" in cells}
    names["gain"] = "pretraining_gain"
    return {
        flat: summary[name]["Avg"]["ours"] for name, flat in names.items() if summary[name]["Avg"]["ours"] is not None
    }


def from_figure2(data: dict) -> dict[str, float]:
    """Figure 2: the score by layers transferred, and each zero-shot heuristic at the last snapshot of the
    transformer (`zero_shot_<task>`) and of the LSTM (`zero_shot_lstm_<task>`)."""
    flat = {
        f"{task}_layers{point['layers']}": round(point["mean"], DIGITS)
        for task, points in data["transfer"].items()
        for point in points
    }
    for curves in ("zero_shot", "zero_shot_lstm"):
        for task, curve in data.get(curves, {}).items():
            if curve["points"]:
                flat[f"{curves}_{task}"] = round(curve["points"][-1]["value"], DIGITS)
    return flat


def write(path: Path, numbers: dict[str, float]) -> Path:
    atomic_write_json(path, numbers)
    return path
