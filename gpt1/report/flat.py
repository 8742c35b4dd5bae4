"""The few numbers a person compares across runs, as flat JSON files for `dvc exp show` and `dvc metrics diff`.

Each report stage's detailed JSON (tables.json, table5.json, figure2.json, pretraining's metrics.json) holds
paper numbers, statuses and curves; these files hold one number per key, only for what ran, and are small
enough to commit to git, as DVC's example projects do (results/ is not committed).

Each file's numbers sit under the name of what they come from, `{"table4": {"sst2": 62.5}}`: DVC joins nested
keys with a dot, so `dvc exp show` heads the column `table4.sst2` (and `pretrain.val_ppl` beside
`pretrain_lstm.val_ppl`, where two bare `val_ppl` would need their file's path to tell them apart).
"""

from __future__ import annotations

import re
from pathlib import Path

from gpt1.files import atomic_write_json

DIGITS = 4


def key(name: str) -> str:
    """A column's name as a metric key: `SST-2` -> `sst2`, `STS-B` -> `stsb` (as the task ids), `MNLI-m` ->
    `mnli_m`, `Story Cloze` -> `story_cloze`."""
    return re.sub(r"[^a-z0-9]+", "_", re.sub(r"-(?=[A-Z0-9])", "", name).lower()).strip("_")


def from_pretraining(stage: str, metrics: dict) -> dict[str, dict[str, float]]:
    """`stage` (pretrain, pretrain_lstm): the validation loss and perplexity at the last evaluation, and the
    tokens trained on."""
    numbers = {name: round(metrics[name], DIGITS) for name in ("val_loss", "val_ppl")} | {"tokens": metrics["tokens"]}
    return {stage: numbers}


def from_tables(summary: dict) -> dict[str, dict[str, float]]:
    """Tables 2-4: each column's mean over seeds, under its table (`table4.sst2`, `table4.glue`)."""
    numbers = {
        table: {key(column): cell["ours"] for column, cell in summary[table].items() if cell["ours"] is not None}
        for table in ("table2", "table3", "table4")
    }
    return {table: columns for table, columns in numbers.items() if columns}


def from_table5(summary: dict) -> dict[str, dict[str, float]]:
    """Table 5's average for each row that ran (`table5.avg_full`, `table5.avg_lstm`), and pre-training's gain
    on it (`table5.pretraining_gain`: full minus no_pretraining)."""
    names = {name: f"avg_{name}" for name, cells in summary.items() if isinstance(cells, dict) and "Avg" in cells}
    names["gain"] = "pretraining_gain"
    numbers = {
        flat: summary[name]["Avg"]["ours"] for name, flat in names.items() if summary[name]["Avg"]["ours"] is not None
    }
    return {"table5": numbers} if numbers else {}


def from_figure2(data: dict) -> dict[str, dict[str, float]]:
    """Figure 2: the score by layers transferred (`figure2.sst2_layers0`), and each zero-shot heuristic at the
    last snapshot of the transformer (`figure2.zero_shot_<task>`) and of the LSTM (`figure2.zero_shot_lstm_<task>`)."""
    numbers = {
        f"{task}_layers{point['layers']}": round(point["mean"], DIGITS)
        for task, points in data["transfer"].items()
        for point in points
    }
    for curves in ("zero_shot", "zero_shot_lstm"):
        for task, curve in data.get(curves, {}).items():
            if curve["points"]:
                numbers[f"{curves}_{task}"] = round(curve["points"][-1]["value"], DIGITS)
    return {"figure2": numbers} if numbers else {}


def write(path: Path, numbers: dict[str, dict[str, float]]) -> Path:
    atomic_write_json(path, numbers)
    return path
