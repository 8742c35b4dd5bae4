"""The paper's Tables 2, 3 and 4 with our numbers beside the paper's: Markdown, CSV and LaTeX.

`build_tables` reads the finetune stage's metrics files (`results/metrics/*.json`, one record per task
and seed; gpt1.report.records) and writes `table2|3|4.{md,csv,tex}` and `tables.json`. The Markdown
and LaTeX tables have four rows: the best earlier result, GPT-1 as published, ours (mean ± sd), and ours
minus the paper. The CSV is tidy: one row per column of the paper's table, numbers in numeric columns
(results/README.md lists them). A column whose task did not run says "not run", and a footnote gives the
reason from its metrics file; no number is ever filled in. Values in metrics files are fractions; the
tables show percentages.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pandas as pd

from gpt1.files import atomic_write_json, atomic_write_text
from gpt1.report.paper import GLUE_COMPONENTS, TABLES, Column, Table
from gpt1.report.records import Measure, load_records, mean_of_columns, measure
from gpt1.report.render import ours_latex, to_latex, to_markdown

STANDIN_WARNING = (
    "STAND-IN DATA, NOT RESULTS: {tasks} ran on generated stand-ins (benchmarks/standin.py), for timing only."
)

ROWS = ("Best earlier (method)", "GPT-1 (paper)", "gpt1 (ours)", "Difference (ours - paper)")
DASH = "–"
METRIC_NAMES = {
    "accuracy": "accuracy",
    "f1": "F1",
    "matthews": "Matthews corr.",
    "pearson": "Pearson",
    "spearman": "Spearman",
    "glue": "score (ours, defined below)",
}
GLUE_TASKS = frozenset(task for task, _, _ in GLUE_COMPONENTS)
# What a run's weights started from: its record's `init` (gpt1.stages.finetune); records without one came
# from pretraining.
INITIALISATIONS = {
    "pretrained": "weights pretrained by gpt1 on the profile's corpus (the pretrain stage's model.pt)",
    "openai-gpt": "OpenAI's released GPT-1 weights (openai-community/openai-gpt, imported), not pretrained here",
}
STSB_TARGETS = {
    "soft_labels": "a distribution over the scores 0-5 (Tai et al.'s encoding, shipped in OpenAI's released code), "
    "predicting its expected score",
    "regression": "regression on the score / 5",
}
GLUE_DEFINITION = (
    "GLUE score (ours): mean over the GLUE tasks that ran (CoLA MCC, SST-2 acc, MRPC F1, STS-B Pearson, "
    "QQP F1, MNLI-m/mm acc, QNLI acc, RTE acc, each ×100), over {n} of {total} columns, on the dev sets; "
    "the paper's is the GLUE test server's score"
)


def glue_measure(records: dict[str, list[dict]]) -> Measure:
    """Our GLUE score: the mean of the GLUE columns that ran (see GLUE_DEFINITION)."""
    return mean_of_columns([measure(task, subset, metric, records) for task, subset, metric in GLUE_COMPONENTS], "GLUE")


def column_measure(column: Column, records: dict[str, list[dict]]) -> Measure:
    """Our value for a table column: a task's metric, or the GLUE score."""
    if column.task is None:
        return glue_measure(records)
    return measure(column.task, column.subset, column.metric, records)


def ours_text(m: Measure, signed: bool = False) -> str:
    """Our cell: the percentage to one decimal (with its sign when `signed`: a difference), "± sd" over
    several seeds, "(k of n)" after a mean over columns that lacks some; or why there is no value."""
    if m.value is None:
        return m.status
    value = f"{m.value:+.1f}" if signed else f"{m.value:.1f}"
    text = value if m.sd is None else f"{value} ± {m.sd:.1f}"
    if m.n_columns < m.n_total:
        text += f" ({m.n_columns} of {m.n_total})"
    return text


def rounded(value: float | None) -> float | None:
    """A number for the CSV: to one decimal, as the tables print it (raw metrics of the same runs differ in
    their last digits between Snakemake's one thread and DVC's two); None stays None (an empty cell)."""
    return None if value is None else round(value, 1) + 0.0  # + 0.0 turns -0.0 into 0.0


def reason_only(m: Measure) -> str:
    """A measure's reason without the status it starts with ("not run: no metrics file" -> "no metrics file")."""
    return m.reason.removeprefix(f"{m.status}: ")


def difference(m: Measure, paper: float) -> float | None:
    """Ours minus the paper, from our value as displayed (one decimal), so the table adds up. None for a
    mean over fewer than all its columns (GLUE score): a partial mean is not comparable with the paper's."""
    if m.value is None or m.n_columns < m.n_total:
        return None
    return round(round(m.value, 1) - paper, 1) + 0.0  # + 0.0 turns -0.0 into 0.0


def table_frame(table: Table, measures: list[Measure], latex: bool = False) -> pd.DataFrame:
    """The four rows of a table as cells; columns are the paper's headers, in its order. In LaTeX, numbers
    only (the best earlier methods go to a note, see best_earlier_line) and our sd small after the mean."""
    data = {}
    for column, m in zip(table.columns, measures):
        diff = difference(m, column.paper)
        data[column.header] = [
            f"{column.best:.1f}" if latex else f"{column.best:.1f} ({column.best_method})",
            f"{column.paper:.1f}",
            ours_latex(m) if latex else ours_text(m),
            f"{diff:+.1f}" if diff is not None else "--" if latex else DASH,
        ]
    return pd.DataFrame(data, index=pd.Index(ROWS, name=""))


def best_earlier_line(table: Table) -> str:
    """The best earlier result's method per column, for the LaTeX table's notes."""
    methods = "; ".join(f"{c.name} {c.best_method}" for c in table.columns)
    return f"Best earlier (method): {methods}."


def tidy_frame(table: Table, measures: list[Measure]) -> pd.DataFrame:
    """The table for the CSV: one row per column of the paper's table, numbers in their own columns
    (percentages to one decimal; empty where there is no value). results/README.md lists the columns."""
    rows = []
    for column, m in zip(table.columns, measures):
        rows.append(
            {
                "column": column.header,
                "task": column.task,
                "subset": column.subset,
                "metric": column.metric,
                "mean": rounded(m.value),
                "sd": rounded(m.sd),
                "seeds": len(set(m.seeds)),
                "paper": column.paper,
                "difference": difference(m, column.paper),
                "best_earlier": column.best,
                "best_method": column.best_method,
                "split": "/".join(m.splits) or None,
                "paper_split": column.paper_split,
                "columns_ran": m.n_columns if m.n_total else None,
                "columns_total": m.n_total or None,
                "status": m.status,
                "reason": reason_only(m),
            }
        )
    return pd.DataFrame(rows)


def footnotes(table: Table, measures: list[Measure]) -> list[str]:
    """One line per task (or GLUE score) without a value: its columns and the reason."""
    by_reason: dict[str, list[str]] = defaultdict(list)
    for column, m in zip(table.columns, measures):
        if m.value is None:
            by_reason[m.reason].append(column.name)
    return [f"{', '.join(names)}: {reason}" for reason, names in by_reason.items()]


def notes(table: Table, measures: list[Measure], profile: str, records: dict[str, list[dict]]) -> list[str]:
    """What every table states below it: profile, split, metric and seeds per column, GLUE definition, and
    which tasks' data no pinned hash checked."""

    def per_column(describe) -> str:
        return "; ".join(f"{c.name} {describe(c, m)}" for c, m in zip(table.columns, measures))

    def split(c: Column, m: Measure) -> str:
        ours = "/".join(m.splits) if m.splits else m.status
        return f"{ours} (paper: {c.paper_split})"

    def seeds(c: Column, m: Measure) -> str:
        listed = ", ".join(str(s) for s in dict.fromkeys(m.seeds))
        return f"{len(set(m.seeds))}" + (f" ({listed})" if listed else "")

    own = {t: records.get(t, []) for t in table_tasks(table)}
    lines = [f"Profile: {profile}.", initialisation_line(own), *training_lines(own)]
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
    unverified = dict.fromkeys(
        c.task for c in table.columns if any(r.get("data_verified") is False for r in records.get(c.task or "", []))
    )
    if unverified:
        checked = "copied from a mirror folder or a registered copy: no pinned sha256 checked them"
        lines.append(f"Data {checked}: {', '.join(unverified)}.")
    return lines


def training_lines(records: dict[str, list[dict]]) -> list[str]:
    """Which weights were evaluated (the final epoch's, or the epoch a held-out split chose) and, where STS-B
    ran, its training target (finetune.stsb_target)."""
    done = [r for runs in records.values() for r in runs if r.get("status") == "done"]
    selected = sorted({f"{r['task']}'s {r['selection']['split']} split" for r in done if r.get("selection")})
    weights = "the final epoch's"
    if selected:
        weights += f"; the epoch that scored best on {', '.join(selected)} (held out), as OpenAI's released code"
    lines = [f"Weights evaluated: {weights}."]
    targets = sorted({r["stsb_target"] for r in done if "stsb_target" in r})
    if targets:
        lines.append(f"STS-B trained as {'; '.join(STSB_TARGETS.get(t, t) for t in targets)}.")
    return lines + evaluation_sample_lines(done) + standin_lines(records)


def evaluation_sample_lines(done: list[dict]) -> list[str]:
    """Where a split was evaluated on a seeded sample (finetune.max_eval_examples), not whole."""
    sampled = {
        f"{r['task']} {split} ({r['results'][split]['n']:,} of {available:,})": None
        for r in done
        for split, available in r.get("n_eval_available", {}).items()
        if r["results"][split]["n"] < available
    }
    if not sampled:
        return []
    return [f"Evaluated on a seeded sample, the same for every run (finetune.max_eval_examples): {', '.join(sampled)}."]


def standin_lines(records: dict[str, list[dict]]) -> list[str]:
    """A warning naming the tasks whose data were generated stand-ins (benchmarks/standin.py): timing, not results."""
    tasks = standin_tasks(records)
    return [STANDIN_WARNING.format(tasks=", ".join(tasks))] if tasks else []


def standin_tasks(records: dict[str, list[dict]]) -> list[str]:
    return sorted({r["task"] for runs in records.values() for r in runs if r.get("standin_data")})


def initialisations(records: dict[str, list[dict]]) -> list[str]:
    """The `init` of the runs that finished (see INITIALISATIONS), sorted."""
    return sorted({r.get("init", "pretrained") for runs in records.values() for r in runs if r.get("status") == "done"})


def initialisation_line(records: dict[str, list[dict]]) -> str:
    inits = initialisations(records)
    described = "; ".join(INITIALISATIONS.get(init, init) for init in inits) or "none (no run finished)"
    return f"Initialisation: {described}."


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
            "sd": None if m.sd is None else round(m.sd, 4),
            "seeds": len(set(m.seeds)),
        }
        if column.task is None:
            out[column.name]["columns"] = m.n_columns
    return out


def build_tables(metrics_dir: Path, out_dir: Path, profile: str) -> list[Path]:
    """Write table2|3|4.{md,csv,tex} and tables.json into `out_dir`; return the paths written."""
    records = load_records(metrics_dir)
    written = []
    summary: dict = {"profile": profile, "init": initialisations(records), "standin": standin_tasks(records)}
    for table in TABLES.values():
        measures = [column_measure(c, records) for c in table.columns]
        frame = table_frame(table, measures)
        foot = footnotes(table, measures)
        lines = notes(table, measures, profile, records)
        stem = out_dir / f"table{table.number}"
        outputs = {
            stem.with_suffix(".md"): to_markdown(table, frame, foot, lines),
            stem.with_suffix(".csv"): tidy_frame(table, measures).to_csv(index=False),
            stem.with_suffix(".tex"): to_latex(
                table, table_frame(table, measures, latex=True), foot, [*lines, best_earlier_line(table)]
            ),
        }
        for path, text in outputs.items():
            atomic_write_text(path, text)
            written.append(path)
        summary[f"table{table.number}"] = table_json(table, measures)
    atomic_write_json(out_dir / "tables.json", summary)
    written.append(out_dir / "tables.json")
    return written
