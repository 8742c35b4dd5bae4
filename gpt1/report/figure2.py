"""Figure 2 of the paper, from our runs: (left) dev score against the number of pretrained layers
transferred; (right) the four zero-shot heuristics over pretraining, the transformer solid and the LSTM
baseline dashed, as the paper draws them, each against its chance score. The paper normalises each task's
score between chance and the state of the art; these panels show the scores themselves.

Reads `<metrics_dir>/transfer/layers<K>/*.json` (Figure 2's fine-tuning runs), `<metrics_dir>/full/*.json`
(K = all layers), `<zero_shot_dir>/<task>.json` (the transformer's snapshots, or the released weights) and
`<lstm_zero_shot_dir>/<task>.json` (the LSTM's); writes figure2.png and figure2.json (the plotted numbers).
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from pathlib import Path
from statistics import mean, stdev

from gpt1.files import atomic_write_bytes, atomic_write_json
from gpt1.report.records import load_records
from gpt1.tasks import TASKS

NAMES = {"cola": "CoLA", "sst2": "SST-2", "race": "RACE", "mnli": "MNLI", "dprd": "DPRD"}
# The paper's four zero-shot heuristics, in its legend's order, each drawn in a panel of its own.
HEURISTICS = ("sst2", "dprd", "cola", "race")
PANELS = {
    "sst2": "Sentiment analysis (SST-2)",
    "dprd": "Winograd schema (DPRD)",
    "cola": "Linguistic acceptability (CoLA)",
    "race": "Question answering (RACE)",
}
# As the paper draws them: the transformer solid, the LSTM dashed.
ARCHITECTURES = {
    "transformer": ("Transformer", {"color": "tab:blue", "linestyle": "-"}),
    "lstm": ("LSTM", {"color": "tab:orange", "linestyle": "--"}),
}


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


def zero_shot_curves(zero_shot_dir: Path | None) -> dict[str, dict]:
    """task -> the zero_shot stage's record, for the tasks that ran (none for a missing folder)."""
    curves = {}
    for path in sorted(zero_shot_dir.glob("*.json")) if zero_shot_dir else ():
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("status") == "done":
            curves[record["task"]] = record
    return curves


def plot(transfer: dict[str, list[dict]], zero_shot: dict[str, dict[str, dict]], profile: str) -> bytes:
    """The figure as a PNG: layers transferred on the left; on the right one small panel per heuristic, its
    score over pretraining updates for each architecture (`zero_shot`: architecture -> task -> record)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(14, 5.6))
    grid = fig.add_gridspec(2, 3, width_ratios=(1.3, 1, 1))
    draw_transfer(fig.add_subplot(grid[:, 0]), transfer)
    for number, task in enumerate(HEURISTICS):
        draw_heuristic(fig.add_subplot(grid[number // 2, 1 + number % 2]), task, zero_shot)
    fig.suptitle(f"Figure 2, profile {profile}")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def draw_transfer(ax, transfer: dict[str, list[dict]]) -> None:
    from matplotlib.ticker import MaxNLocator

    for task, points in transfer.items():
        ax.errorbar(
            [p["layers"] for p in points],
            [p["mean"] for p in points],
            yerr=[p["sd"] for p in points],
            marker="o",
            capsize=3,
            label=f"{NAMES.get(task, task)} dev {TASKS[task].metrics[0]}",
        )
    ax.set(
        xlabel="pretrained layers transferred (0: embeddings only)",
        ylabel="dev score (x100)",
        title="Transfer: layers from pretraining",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole layers, no 0.5
    finish(ax)


def draw_heuristic(ax, task: str, zero_shot: dict[str, dict[str, dict]]) -> None:
    """One heuristic's panel: each architecture's curve (the released weights: a level line, as their
    updates are unknown) and the chance score."""
    records = {arch: curves[task] for arch, curves in zero_shot.items() if task in curves}
    for architecture, record in records.items():
        label, style = ARCHITECTURES[architecture]
        steps, values = [p["step"] for p in record["points"]], [p["value"] for p in record["points"]]
        if steps == [None]:  # the released weights (gpt1.training.zero_shot): one score, no updates to place it at
            ax.axhline(values[0], label=f"{label}, released weights", **style)
        else:
            ax.plot(steps, values, marker="o", markersize=3, label=label, **style)
    if records:
        record = next(iter(records.values()))
        ax.axhline(record["chance"], color="grey", linestyle=":", linewidth=1, label="chance")
        ax.set_ylabel(record["metric"])
    standin = any(record.get("standin_data") for record in records.values())
    ax.set(xlabel="pretraining updates", title=PANELS.get(task, task) + (" (STAND-IN DATA)" if standin else ""))
    finish(ax, fontsize=7)


def finish(ax, fontsize: int = 8) -> None:
    if ax.has_data():
        ax.legend(fontsize=fontsize)
    else:
        ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
    ax.grid(alpha=0.3)


def build_figure2(
    metrics_dir: Path, zero_shot_dir: Path, out_dir: Path, profile: str, lstm_zero_shot_dir: Path | None = None
) -> list[Path]:
    """Write figure2.png and figure2.json into `out_dir`; return their paths. figure2.json's `zero_shot`
    holds the transformer's curves (or the released weights' points), `zero_shot_lstm` the LSTM's."""
    transfer = transfer_points(metrics_dir)
    zero_shot = {"transformer": zero_shot_curves(zero_shot_dir), "lstm": zero_shot_curves(lstm_zero_shot_dir)}
    png = out_dir / "figure2.png"
    atomic_write_bytes(png, plot(transfer, zero_shot, profile))
    data = {
        "profile": profile,
        "transfer": transfer,
        "zero_shot": plotted(zero_shot["transformer"]),
        "zero_shot_lstm": plotted(zero_shot["lstm"]),
    }
    atomic_write_json(out_dir / "figure2.json", data)
    return [png, out_dir / "figure2.json"]


def plotted(curves: dict[str, dict]) -> dict[str, dict]:
    """What figure2.json keeps of each zero_shot record, with its panel's title, in the panels' order."""
    order = sorted(curves, key=lambda task: (HEURISTICS.index(task) if task in HEURISTICS else len(HEURISTICS), task))
    keep = ("metric", "chance", "split", "n", "points", "standin_data")
    return {
        task: {"title": PANELS.get(task, task)} | {k: curves[task][k] for k in keep if k in curves[task]}
        for task in order
    }
