"""Table 5, the ablations: the full model beside fine-tuning without pre-training, without the auxiliary LM
objective, and the LSTM baseline in the transformer's place, on the same tasks and seeds, with the paper's rows
above ours.

Reads `<metrics_dir>/full/*.json` and `<metrics_dir>/ablation/<variant>/*.json` (the finetune stage's
records; `ablation/lstm/` is the LSTM's, from rule finetune_lstm) and writes `table5.{md,csv,tex}` and
`table5.json`. Values are percentages on the dev sets. The CSV is tidy: one row per row and column of the
table, ours beside the paper's (results/README.md lists them).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gpt1.files import atomic_write_json, atomic_write_text
from gpt1.report.paper import TABLE5_COLUMNS, TABLE5_ROWS, Table
from gpt1.report.records import NO_RECORD, NOT_RUN, Measure, load_records, mean_of_columns, measure
from gpt1.report.render import ours_latex, to_latex, to_markdown
from gpt1.report.tables import DASH, initialisation_line, ours_text, reason_only, rounded, training_lines

TABLE = Table(5, "Ablations (dev sets)", ())
# Our rows: (variant, folder under the metrics directory, label), in the paper's order.
OUR_ROWS = (
    ("full", "full", "gpt1 w/ aux LM (full)"),
    ("no_pretraining", "ablation/no_pretraining", "gpt1 w/o pre-training"),
    ("no_aux_lm", "ablation/no_aux_lm", "gpt1 w/o aux LM"),
    ("lstm", "ablation/lstm", "gpt1 LSTM w/ aux LM"),
)
PAPER_FULL, PAPER_NO_PRETRAINING = "Transformer w/ aux LM (full)", "Transformer w/o pre-training"
PAPER_LSTM = "LSTM w/ aux LM (1 layer, 2048 units)"
# The paper's row beside each of ours (the CSV's `paper` column).
PAPER_ROWS = {
    "full": PAPER_FULL,
    "no_pretraining": PAPER_NO_PRETRAINING,
    "no_aux_lm": "Transformer w/o aux LM",
    "lstm": PAPER_LSTM,
}
NO_GAIN = "not comparable"
NOT_ABLATED = "not run: not among params.yaml's ablation.tasks"
GAIN_PAPER, GAIN_OURS = "Pre-training's gain, paper (full - w/o)", "Pre-training's gain, gpt1 (full - w/o)"


def column_measure(task: str, metric: str, records: dict[str, list[dict]]) -> Measure:
    """A task column; MNLI is the mean of its matched and mismatched accuracies, as in the paper."""
    if task != "mnli":
        return measure(task, None, metric, records)
    halves = [measure(task, subset, metric, records) for subset in ("matched", "mismatched")]
    missing = next((h for h in halves if h.value is None), None)
    return missing or mean_of_columns(halves, "MNLI")


def row_measures(records: dict[str, list[dict]]) -> list[Measure]:
    """One measure per column of TABLE5_COLUMNS: the average of the task columns first."""
    tasks = [column_measure(task, metric, records) for _, task, metric in TABLE5_COLUMNS[1:]]
    return [mean_of_columns(tasks, "Table 5"), *tasks]


def gain(full: Measure, without: Measure) -> Measure:
    """Pre-training's gain: full minus w/o pre-training, as displayed (one decimal, so the table adds up);
    its sd is that of the per-seed differences (a seed fixes both runs' training subset, order and head).
    No value unless both ran on the same columns: a mean over other columns compares nothing."""
    if full.value is None or without.value is None or full.n_columns != without.n_columns:
        return Measure(None, NO_GAIN, f"{NO_GAIN}: needs the full model and w/o pre-training on the same columns")
    seeds = dict(without.per_seed)
    per_seed = tuple((seed, value - seeds[seed]) for seed, value in full.per_seed if seed in seeds)
    value = round(round(full.value, 1) - round(without.value, 1), 1) + 0.0  # + 0.0 turns -0.0 into 0.0
    return Measure(value, "done", per_seed=per_seed, n_columns=full.n_columns, n_total=full.n_total)


def not_ablated(m: Measure, full: Measure) -> Measure:
    """An ablation row's cell without a record where the full model ran: a task the profile does not ablate."""
    return Measure(None, NOT_RUN, NOT_ABLATED) if m.reason == NO_RECORD and full.value is not None else m


def average_gain(full: list[Measure], without: list[Measure]) -> Measure:
    """Pre-training's gain on Avg: both rows' means over the task columns both have (the `sample` ablates
    fewer tasks than it fine-tunes in full: params.yaml's ablation.tasks), then their difference."""
    shared = [f.value is not None and w.value is not None for f, w in zip(full, without)]
    skipped = Measure(None, NOT_RUN)

    def over_shared(row: list[Measure]) -> Measure:
        return mean_of_columns([m if both else skipped for m, both in zip(row, shared)], "Table 5")

    return gain(over_shared(full), over_shared(without))


def build_table5(metrics_dir: Path, out_dir: Path, profile: str) -> list[Path]:
    """Write table5.{md,csv,tex} and table5.json into `out_dir`; return the paths written."""
    headers = [header for header, _, _ in TABLE5_COLUMNS]
    records = {variant: load_records(metrics_dir / folder) for variant, folder, _ in OUR_ROWS}
    ours = {variant: row_measures(records[variant]) for variant in records}
    for variant in ours.keys() - {"full"}:
        ours[variant] = [ours[variant][0], *map(not_ablated, ours[variant][1:], ours["full"][1:])]
    rows = {name: [f"{v:.1f}" for v in values] for name, values in TABLE5_ROWS.items()}
    rows |= {label: [ours_text(m) for m in ours[variant]] for variant, _, label in OUR_ROWS}
    paper_gain = [a - b for a, b in zip(TABLE5_ROWS[PAPER_FULL], TABLE5_ROWS[PAPER_NO_PRETRAINING])]
    rows[GAIN_PAPER] = [f"{g:+.1f}" for g in paper_gain]
    full, without = ours["full"], ours["no_pretraining"]
    gains = [average_gain(full[1:], without[1:]), *(gain(f, w) for f, w in zip(full[1:], without[1:]))]
    rows[GAIN_OURS] = [DASH if g.value is None else ours_text(g, signed=True) for g in gains]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=headers)
    frame.index.name = ""
    latex = frame.copy()
    for variant, _, label in OUR_ROWS:
        latex.loc[label] = [ours_latex(m) for m in ours[variant]]
    latex.loc[GAIN_OURS] = ["--" if g.value is None else ours_latex(g, signed=True) for g in gains]

    foot = footnotes(headers, ours)
    every_run = {f"{variant}/{task}": runs for variant in records for task, runs in records[variant].items()}
    lines = notes(ours, profile, [initialisation_line(every_run), *training_lines(every_run)])
    written = {
        out_dir / "table5.md": to_markdown(TABLE, frame, foot, lines),
        out_dir / "table5.csv": tidy_frame(ours, gains, paper_gain).to_csv(index=False),
        out_dir / "table5.tex": to_latex(TABLE, latex, foot, lines),
    }
    for path, text in written.items():
        atomic_write_text(path, text)
    summary = {"profile": profile}
    for variant, _, _ in OUR_ROWS:
        summary[variant] = {
            header: {
                "ours": None if m.value is None else round(m.value, 4),
                "sd": None if m.sd is None else round(m.sd, 4),
                "seeds": len(m.seeds),
                "status": m.status,
            }
            for header, m in zip(headers, ours[variant])
        }
    summary["gain"] = {
        header: {
            "ours": None if g.value is None else round(g.value, 4),
            "sd": None if g.sd is None else round(g.sd, 4),
            "per_seed": {str(seed): round(v, 4) for seed, v in g.per_seed},
            "columns": f"{g.n_columns} of {g.n_total}" if g.n_total else None,
        }
        for header, g in zip(headers, gains)
    }
    atomic_write_json(out_dir / "table5.json", summary)
    return [*written, out_dir / "table5.json"]


def tidy_frame(ours: dict[str, list[Measure]], gains: list[Measure], paper_gain: list[float]) -> pd.DataFrame:
    """Table 5 for the CSV: one row per row and column, in the paper's row order (`row`: full,
    no_pretraining, no_aux_lm, lstm, pretraining_gain), our mean and sd (to one
    decimal, empty where there is none) beside the paper's number."""
    rows = []

    def add(row: str, paper_values, measures: list[Measure]) -> None:
        for (header, task, metric), paper, m in zip(TABLE5_COLUMNS, paper_values, measures):
            rows.append(
                {
                    "row": row,
                    "column": header,
                    "task": task,
                    "metric": metric,
                    "mean": rounded(m.value),
                    "sd": rounded(m.sd),
                    "seeds": len(set(m.seeds)),
                    "paper": rounded(paper),
                    "columns_ran": m.n_columns if m.n_total else None,
                    "columns_total": m.n_total or None,
                    "status": m.status,
                    "reason": reason_only(m),
                }
            )

    for variant, _, _ in OUR_ROWS:
        add(variant, TABLE5_ROWS[PAPER_ROWS[variant]], ours[variant])
    add("pretraining_gain", paper_gain, gains)
    return pd.DataFrame(rows)


def footnotes(headers: list[str], ours: dict[str, list[Measure]]) -> list[str]:
    """One line per column and reason without a value, naming our rows it applies to."""
    rows: dict[tuple[str, str], list[str]] = {}
    for variant, _, label in OUR_ROWS:
        for header, m in zip(headers, ours[variant]):
            if m.value is None:
                rows.setdefault((header, m.reason), []).append(label)
    return [f"{header} ({', '.join(labels)}): {reason}" for (header, reason), labels in rows.items()]


def notes(ours: dict[str, list[Measure]], profile: str, how_trained: list[str]) -> list[str]:
    seeds = "; ".join(
        f"{label} {', '.join(str(s) for s in dict.fromkeys(ours[v][0].seeds)) or 'none'}" for v, _, label in OUR_ROWS
    )
    return [
        f"Profile: {profile}. Every value is on the task's dev set, as in the paper's Table 5.",
        *how_trained,
        "Metrics: CoLA Matthews corr., SST2 acc., MRPC F1, STSB Pearson, QQP F1, MNLI acc. (mean of "
        "matched and mismatched), QNLI acc., RTE acc., each ×100; mean ± sd over seeds.",
        'Avg: the unweighted mean of the task columns that ran; "(k of 8)" when some did not, and then '
        "it is not comparable with the paper's.",
        f"Seeds behind Avg: {seeds}.",
        "w/o pre-training: the same model, every weight freshly initialised; w/o aux LM: lambda = 0; LSTM: the "
        "LSTM baseline (params.yaml's lstm group; docs/lstm.md) pretrained on the same tokens with the same schedule, "
        "fine-tuned as the full model.",
        "Pre-training's gain, gpt1: full minus w/o pre-training; ± the sd over seeds of the per-seed difference "
        "(a seed fixes both runs' training subset and order); on Avg, over the columns both rows have.",
    ]
