"""The paper's Tables 2, 3 and 4 with our numbers beside the paper's: Markdown, CSV and LaTeX.

`build_tables` reads the finetune stage's metrics files (`results/metrics/*.json`, one record per task
and seed; see gpt1.finetune_stage) and writes `table2|3|4.{md,csv,tex}` and `tables.json`. Each table has
four rows: the best earlier result (with its method), GPT-1 as published, ours, and ours minus the paper.
A column whose task did not run says "not run", and a footnote gives the reason from its metrics file;
no number is ever filled in. Values in metrics files are fractions; the tables show percentages.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import pandas as pd

from gpt1.files import atomic_write_json, atomic_write_text
from gpt1.paper import GLUE_COMPONENTS, TABLES, Column, Table

ROWS = ("Best earlier (method)", "GPT-1 (paper)", "gpt1 (ours)", "Difference (ours - paper)")
NOT_RUN = "not run"
MISSING = "missing"
DASH = "–"
METRIC_NAMES = {"accuracy": "accuracy", "f1": "F1", "matthews": "Matthews corr.", "pearson": "Pearson",
                "spearman": "Spearman", "glue": "score (ours, defined below)"}
GLUE_TASKS = frozenset(task for task, _, _ in GLUE_COMPONENTS)
GLUE_DEFINITION = (
    "GLUE score (ours): mean over the GLUE tasks that ran (CoLA MCC, SST-2 acc, MRPC F1, STS-B Pearson, "
    "QQP F1, MNLI-m/mm acc, QNLI acc, RTE acc, each ×100), over {n} of {total} columns, on the dev sets; "
    "the paper's is the GLUE test server's score"
)


@dataclass(frozen=True)
class Measure:
    """Our value for one column: a percentage, or None with the reason.

    `status`: "done", "not run" (the task did not run, or has no metrics file) or "missing" (it ran but
    its metrics file lacks this value). `splits` and `seeds`: those of the runs averaged. `n_columns`:
    for the GLUE score, how many of its columns ran.
    """

    value: float | None
    status: str
    reason: str = ""
    splits: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    n_columns: int = 0


def load_records(metrics_dir: Path) -> dict[str, list[dict]]:
    """The metrics records in `metrics_dir`, grouped by task id (several per task when run with several seeds)."""
    records: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(metrics_dir.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(record, dict) and "task" in record:
            records[record["task"]].append(record)
    return dict(records)


def record_value(record: dict, subset: str | None, metric: str) -> float | None:
    """One metric (a fraction) of a done record, on its reported split and optional subset; None if absent."""
    result = record.get("results", {}).get(record.get("split"), {})
    if subset:
        result = result.get("subsets", {}).get(subset, {})
    return result.get("metrics", {}).get(metric)


def measure(task: str, subset: str | None, metric: str, records: dict[str, list[dict]]) -> Measure:
    """Our percentage for a task's metric (on a subset), averaged over the task's done runs (seeds)."""
    task_records = records.get(task, [])
    if not task_records:
        return Measure(None, NOT_RUN, "not run: no metrics file")
    done = [r for r in task_records if r.get("status") == "done"]
    if not done:
        reasons = dict.fromkeys(r.get("reason", "no reason given") for r in task_records)
        return Measure(None, NOT_RUN, "not run: " + "; ".join(reasons))
    values = [record_value(r, subset, metric) for r in done]
    if any(v is None for v in values):
        where = f"{subset} subset of the " if subset else ""
        return Measure(None, MISSING, f"missing: no {metric} for the {where}reported split in the metrics file")
    splits = tuple(dict.fromkeys(r["split"] for r in done))
    seeds = tuple(r.get("seed") for r in done)
    return Measure(100 * mean(values), "done", splits=splits, seeds=seeds)


def glue_measure(records: dict[str, list[dict]]) -> Measure:
    """Our GLUE score: the mean of the GLUE columns that ran (see GLUE_DEFINITION)."""
    parts = [measure(task, subset, metric, records) for task, subset, metric in GLUE_COMPONENTS]
    present = [p for p in parts if p.value is not None]
    if not present:
        return Measure(None, NOT_RUN, "not run: no GLUE task ran")
    splits = tuple(dict.fromkeys(s for p in present for s in p.splits))
    seeds = tuple(dict.fromkeys(s for p in present for s in p.seeds))
    return Measure(mean(p.value for p in present), "done", splits=splits, seeds=seeds, n_columns=len(present))


def column_measure(column: Column, records: dict[str, list[dict]]) -> Measure:
    """Our value for a table column: a task's metric, or the GLUE score."""
    if column.task is None:
        return glue_measure(records)
    return measure(column.task, column.subset, column.metric, records)


def ours_text(m: Measure) -> str:
    """Our cell: the percentage to one decimal ("(k of 9)" added to a partial GLUE score), or why not."""
    if m.value is None:
        return m.status
    text = f"{m.value:.1f}"
    if m.n_columns and m.n_columns < len(GLUE_COMPONENTS):
        text += f" ({m.n_columns} of {len(GLUE_COMPONENTS)})"
    return text


def difference(m: Measure, paper: float) -> float | None:
    """Ours minus the paper, from our value as displayed (one decimal), so the table adds up. None for a
    GLUE score over fewer than all its columns: a partial mean is not comparable with the paper's."""
    if m.value is None or 0 < m.n_columns < len(GLUE_COMPONENTS):
        return None
    return round(round(m.value, 1) - paper, 1) + 0.0  # + 0.0 turns -0.0 into 0.0


def table_frame(table: Table, measures: list[Measure]) -> pd.DataFrame:
    """The four rows of a table as text cells; columns are the paper's headers, in its order."""
    data = {}
    for column, m in zip(table.columns, measures):
        diff = difference(m, column.paper)
        data[column.header] = [
            f"{column.best:.1f} ({column.best_method})",
            f"{column.paper:.1f}",
            ours_text(m),
            DASH if diff is None else f"{diff:+.1f}",
        ]
    return pd.DataFrame(data, index=pd.Index(ROWS, name=""))


def footnotes(table: Table, measures: list[Measure]) -> list[str]:
    """One line per task (or GLUE score) without a value: its columns and the reason."""
    by_reason: dict[str, list[str]] = defaultdict(list)
    for column, m in zip(table.columns, measures):
        if m.value is None:
            by_reason[m.reason].append(column.name)
    return [f"{', '.join(names)}: {reason}" for reason, names in by_reason.items()]


def notes(table: Table, measures: list[Measure], profile: str, records: dict[str, list[dict]]) -> list[str]:
    """What every table states below it: profile, split, metric and seeds per column, GLUE definition."""
    def per_column(describe) -> str:
        return "; ".join(f"{c.name} {describe(c, m)}" for c, m in zip(table.columns, measures))

    def split(c: Column, m: Measure) -> str:
        ours = "/".join(m.splits) if m.splits else m.status
        return f"{ours} (paper: {c.paper_split})"

    def seeds(c: Column, m: Measure) -> str:
        listed = ", ".join(str(s) for s in dict.fromkeys(m.seeds))
        return f"{len(set(m.seeds))}" + (f" ({listed})" if listed else "")

    lines = [f"Profile: {profile}."]
    lines += other_profiles(table, profile, records)
    hidden = ""
    if table_tasks(table) & GLUE_TASKS:
        hidden = " GLUE test labels are hidden, so GLUE tasks are scored on dev."
    lines += [
        f"Split evaluated: {per_column(split)}.{hidden}",
        f"Metric: {per_column(lambda c, m: METRIC_NAMES.get(c.metric, c.metric))}.",
        f"Seeds (runs averaged): {per_column(seeds)}.",
    ]
    for column, m in zip(table.columns, measures):
        if column.task is None:
            lines.append(GLUE_DEFINITION.format(n=m.n_columns, total=len(GLUE_COMPONENTS)) + ".")
    return lines


def table_tasks(table: Table) -> set[str]:
    """The task ids a table's columns read (the GLUE score reads all GLUE tasks)."""
    tasks = {c.task for c in table.columns if c.task}
    if any(c.task is None for c in table.columns):
        tasks |= GLUE_TASKS
    return tasks


def other_profiles(table: Table, profile: str, records: dict[str, list[dict]]) -> list[str]:
    """A note for each of the table's tasks whose metrics files were made under another profile."""
    lines = []
    for task in sorted(table_tasks(table)):
        found = sorted({r.get("profile", "?") for r in records.get(task, [])} - {profile})
        if found:
            lines.append(f"Note: {task}'s metrics file was made with profile {', '.join(found)}.")
    return lines


def markdown_grid(frame: pd.DataFrame) -> str:
    """The frame as a GitHub Markdown table (pandas' to_markdown uses tabulate)."""
    return frame.reset_index().to_markdown(index=False)


def to_markdown(table: Table, frame: pd.DataFrame, foot: list[str], lines: list[str]) -> str:
    parts = [f"# Table {table.number}: {table.title}", "", markdown_grid(frame), ""]
    if foot:
        parts += ["Without a value:", ""] + [f"- {line}" for line in foot] + [""]
    parts += ["Notes:", ""] + [f"- {line}" for line in lines]
    return "\n".join(parts) + "\n"


def latex_escape(text: str) -> str:
    """Text safe to put in LaTeX: its special characters escaped."""
    special = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "×": r"$\times$"}
    return "".join(special.get(ch, ch) for ch in text)


def to_latex(table: Table, frame: pd.DataFrame, foot: list[str], lines: list[str]) -> str:
    """A LaTeX table (needs booktabs): the tabular from pandas, then the footnotes and notes."""
    tabular = frame.replace(DASH, "--").reset_index().to_latex(
        index=False, escape=True, column_format="l" + "r" * len(frame.columns)
    )
    notes_tex = [latex_escape(line) for line in foot + lines]
    return "\n".join([
        "% Written by gpt1.tables; do not edit.",
        r"\begin{table}[ht]",
        r"\centering",
        rf"\caption{{Table {table.number}: {latex_escape(table.title)}}}",
        rf"\label{{tab:table{table.number}}}",
        tabular.rstrip("\n"),
        r"\par\smallskip\footnotesize",
        "\n\\par\n".join(notes_tex),
        r"\end{table}",
        "",
    ])


def table_json(table: Table, measures: list[Measure]) -> dict:
    """Our numbers per column, for DVC metrics: percentages (None when not run) and the paper's."""
    out = {}
    for column, m in zip(table.columns, measures):
        out[column.name] = {
            "ours": None if m.value is None else round(m.value, 4),
            "paper": column.paper,
            "best_earlier": column.best,
            "difference": None if m.value is None else round(m.value - column.paper, 4),
            "status": m.status,
            "split": "/".join(m.splits) or None,
            "seeds": len(set(m.seeds)),
        }
        if column.task is None:
            out[column.name]["columns"] = m.n_columns
    return out


def build_tables(metrics_dir: Path, out_dir: Path, profile: str) -> list[Path]:
    """Write table2|3|4.{md,csv,tex} and tables.json into `out_dir`; return the paths written."""
    records = load_records(metrics_dir)
    written = []
    summary: dict = {"profile": profile}
    for table in TABLES.values():
        measures = [column_measure(c, records) for c in table.columns]
        frame = table_frame(table, measures)
        foot = footnotes(table, measures)
        lines = notes(table, measures, profile, records)
        stem = out_dir / f"table{table.number}"
        outputs = {
            stem.with_suffix(".md"): to_markdown(table, frame, foot, lines),
            stem.with_suffix(".csv"): frame.to_csv(),
            stem.with_suffix(".tex"): to_latex(table, frame, foot, lines),
        }
        for path, text in outputs.items():
            atomic_write_text(path, text)
            written.append(path)
        summary[f"table{table.number}"] = table_json(table, measures)
    atomic_write_json(out_dir / "tables.json", summary)
    written.append(out_dir / "tables.json")
    return written
