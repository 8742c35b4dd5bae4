"""Figure 2 of the paper, from our runs: (left) dev score against the number of pretrained layers
transferred; (right) the zero-shot heuristics over pretraining.

Reads `<metrics_dir>/transfer/layers<K>/*.json` (Figure 2's fine-tuning runs), `<metrics_dir>/full/*.json`
(K = all layers) and `<zero_shot_dir>/<task>.json`; writes figure2.png and figure2.json (the plotted numbers).
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from pathlib import Path
from statistics import mean, stdev

from gpt1.files import atomic_write_bytes, atomic_write_json
from gpt1.report.tables import load_records
from gpt1.tasks import TASKS

NAMES = {"cola": "CoLA", "sst2": "SST-2", "race": "RACE", "mnli": "MNLI"}


def transfer_points(metrics_dir: Path) -> dict[str, list[dict]]:
    """task -> [{layers, mean, sd, seeds}] in layer order, from the transfer runs and the full runs
    (all layers) of the same tasks; the value is the task's first metric on its reported split, x100."""
    runs: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for folder in sorted((metrics_dir / "transfer").glob("layers*")):
        for task, records in load_records(folder).items():
            for r in records:
                if r.get("status") == "done":
                    runs[task][int(folder.name.removeprefix("layers"))].append(100 * first_metric(r))
    for task, records in load_records(metrics_dir / "full").items():
        for r in records:
            if task in runs and r.get("status") == "done":
                runs[task][r["n_layer"]].append(100 * first_metric(r))
    return {
        task: [
            {"layers": k, "mean": mean(v), "sd": stdev(v) if len(v) > 1 else 0.0, "seeds": len(v)}
            for k, v in sorted(by_layers.items())
        ]
        for task, by_layers in sorted(runs.items())
    }


def first_metric(record: dict) -> float:
    return record["metrics"][TASKS[record["task"]].metrics[0]]


def zero_shot_curves(zero_shot_dir: Path) -> dict[str, dict]:
    """task -> the zero_shot stage's record, for the tasks that ran."""
    curves = {}
    for path in sorted(zero_shot_dir.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("status") == "done":
            curves[record["task"]] = record
    return curves


def plot(transfer: dict[str, list[dict]], zero_shot: dict[str, dict], profile: str) -> bytes:
    """The two panels as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for task, points in transfer.items():
        left.errorbar(
            [p["layers"] for p in points],
            [p["mean"] for p in points],
            yerr=[p["sd"] for p in points],
            marker="o",
            capsize=3,
            label=f"{NAMES.get(task, task)} dev {TASKS[task].metrics[0]}",
        )
    left.set(
        xlabel="pretrained layers transferred (0: embeddings only)",
        ylabel="dev score (x100)",
        title="Transfer: layers from pretraining",
    )
    left.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole layers, no 0.5
    for task, record in zero_shot.items():
        label = f"{NAMES.get(task, task)} {record['metric']}"
        steps, values = [p["step"] for p in record["points"]], [p["value"] for p in record["points"]]
        if steps == [None]:  # the released weights (gpt1.tasks.zero_shot): one score, no updates to place it at
            line = right.axhline(values[0], label=f"{label}, released weights")
        else:
            line = right.plot(steps, values, marker="o", label=label)[0]
        right.axhline(record["chance"], color=line.get_color(), linestyle="--", linewidth=0.8)
    right.set(
        xlabel="pretraining updates",
        ylabel="zero-shot score (dashed: chance)",
        title="Zero-shot heuristics over pretraining",
    )
    for ax in (left, right):
        if ax.has_data():
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Figure 2, profile {profile}")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def build_figure2(metrics_dir: Path, zero_shot_dir: Path, out_dir: Path, profile: str) -> list[Path]:
    """Write figure2.png and figure2.json into `out_dir`; return their paths."""
    transfer, zero_shot = transfer_points(metrics_dir), zero_shot_curves(zero_shot_dir)
    png = out_dir / "figure2.png"
    atomic_write_bytes(png, plot(transfer, zero_shot, profile))
    data = {
        "profile": profile,
        "transfer": transfer,
        "zero_shot": {t: {k: r[k] for k in ("metric", "chance", "split", "n", "points")} for t, r in zero_shot.items()},
    }
    atomic_write_json(out_dir / "figure2.json", data)
    return [png, out_dir / "figure2.json"]
