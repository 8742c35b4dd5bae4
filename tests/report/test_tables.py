"""gpt1.report.paper against docs/paper.md, and the tables gpt1.report.tables builds from metrics files."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from gpt1.report.paper import (
    GLUE_BEST_EARLIER,
    GLUE_COMPONENTS,
    GLUE_SCORE,
    TABLE5_COLUMNS,
    TABLE5_ROWS,
    TABLES,
)
from gpt1.report.table5 import build_table5
from gpt1.report.tables import ROWS, build_tables
from gpt1.tasks.registry import TASKS

PAPER_MD = ROOT / "docs" / "paper.md"
OURS, DIFF = ROWS[2], ROWS[3]


# --------------------------------------------------------------------------------------------------
# docs/paper.md parsing


def paper_blocks() -> list[str]:
    """docs/paper.md's paragraphs and tables, split at blank lines."""
    return [block.strip() for block in re.split(r"\n\s*\n", PAPER_MD.read_text(encoding="utf-8"))]


def pipe_rows(block: str) -> list[list[str]]:
    """The cells of a Markdown pipe table, without its |---| separator row."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in block.splitlines()]
    return [row for row in rows if not all(set(cell) <= set("-: ") for cell in row)]


def paper_table(number: int) -> tuple[list[list[str]], str]:
    """Table `number`'s rows in docs/paper.md and the paragraph after it (its best earlier systems)."""
    blocks = paper_blocks()
    for i, block in enumerate(blocks[:-1]):
        if block.startswith(f"Table {number},") and blocks[i + 1].startswith("|"):
            return pipe_rows(blocks[i + 1]), blocks[i + 2] if i + 2 < len(blocks) else ""
    raise AssertionError(f"no Table {number} in {PAPER_MD}")


def words(text: str) -> set[str]:
    return {word.rstrip(".") for word in re.sub(r"[(),:;]", " ", text).split()}


@pytest.mark.parametrize("number", sorted(TABLES))
def test_paper_numbers_match_docs_paper_md(number):
    rows, after = paper_table(number)
    table = TABLES[number]
    header, paper, best = rows
    assert [cell.split(" (")[0] for cell in header[1:]] == [c.name if c.task else c.header for c in table.columns]
    assert paper[0] == "paper" and [float(v) for v in paper[1:]] == [c.paper for c in table.columns]
    assert best[0] == "best earlier" and [float(v) for v in best[1:]] == [c.best for c in table.columns]
    assert after.startswith("Best earlier systems")
    for column in table.columns:
        assert words(column.best_method) <= words(after), column.name
    if number == 4:  # the GLUE score: two earlier results; the column shows the better
        assert (table.columns[-1].best, table.columns[-1].best_method) == max(GLUE_BEST_EARLIER)
        assert table.columns[-1].paper == GLUE_SCORE
        assert all(str(value) in after and words(method) <= words(after) for value, method in GLUE_BEST_EARLIER[1:])


def test_table5_matches_docs_paper_md():
    rows, _ = paper_table(5)
    assert rows[0] == ["Method"] + [header for header, _, _ in TABLE5_COLUMNS]
    assert {row[0]: tuple(float(v) for v in row[1:]) for row in rows[1:]} == TABLE5_ROWS


def test_columns_name_registered_tasks_metrics_and_subsets():
    for number, table in TABLES.items():
        for column in table.columns:
            if column.task is None:
                continue
            task = TASKS[column.task]
            assert task.table == number
            assert column.metric in task.metrics
            assert column.subset is None or column.subset in task.subsets
    assert {task for task, _, _ in GLUE_COMPONENTS} == {"cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte"}


# --------------------------------------------------------------------------------------------------
# Tables built from fabricated metrics files


def done(task: str, metrics: dict, split: str = "dev", subsets: dict | None = None, seed: int = 42) -> dict:
    """A metrics record as the finetune stage writes it for a task that ran."""
    result: dict = {"n": 100, "metrics": metrics}
    if subsets:
        result["subsets"] = {name: {"n": 50, "metrics": m} for name, m in subsets.items()}
    return {
        "task": task,
        "status": "done",
        "profile": "sample",
        "split": split,
        "metrics": metrics,
        "results": {split: result},
        "seed": seed,
    }


def write_metrics(directory: Path, records: dict[str, dict]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, record in records.items():
        (directory / f"{name}.json").write_text(json.dumps(record))
    return directory


def build(tmp_path: Path, records: dict[str, dict]) -> Path:
    out = tmp_path / "tables"
    build_tables(write_metrics(tmp_path / "metrics", records), out, "sample")
    return out


def read_md(out: Path, number: int) -> pd.DataFrame:
    """The cells of table<number>.md's table, as text, indexed by its first column."""
    lines = [line for line in (out / f"table{number}.md").read_text().splitlines() if line.startswith("|")]
    header, *rows = pipe_rows("\n".join(lines))
    return pd.DataFrame([row[1:] for row in rows], index=[row[0] for row in rows], columns=header[1:])


def test_layout_and_files(tmp_path):
    metrics = write_metrics(tmp_path / "metrics", {"sst2": done("sst2", {"accuracy": 0.5})})
    out = tmp_path / "tables"
    written = build_tables(metrics, out, "sample")
    expected = {out / f"table{n}.{ext}" for n in (2, 3, 4) for ext in ("md", "csv", "tex")} | {out / "tables.json"}
    assert set(written) == expected and all(path.is_file() for path in expected)
    for number, table in TABLES.items():
        frame = read_md(out, number)
        assert list(frame.columns) == [c.header for c in table.columns]
        assert list(frame.index) == list(ROWS)
        md = (out / f"table{number}.md").read_text()
        assert "| " + " | ".join(c.header for c in table.columns) in re.sub(r" +", " ", md)
        assert "Profile: sample." in md
        assert "- Initialisation: " in md
        tex = (out / f"table{number}.tex").read_text()
        assert r"\begin{tabular}" in tex and r"\end{tabular}" in tex and tex.count(r"\begin{") == tex.count(r"\end{")
    assert "- Initialisation: none (no run finished)." in (out / "table2.md").read_text()
    # a record without `init` (written before it existed) came from gpt1's own pretraining
    assert "- Initialisation: weights pretrained by gpt1 on the profile's corpus" in (out / "table4.md").read_text()
    assert list(read_md(out, 2)["MNLI-m"]) == ["80.6 (Stochastic Answer Network, 3x ensemble)", "82.1", "not run", "–"]


def test_notes_name_the_released_weights_when_the_runs_started_from_them(tmp_path):
    released = done("sst2", {"accuracy": 0.9}) | {"init": "openai-gpt", "source": "openai-gpt"}
    out = build(tmp_path, {"sst2": released, "rte": done("rte", {"accuracy": 0.6}) | {"init": "openai-gpt"}})
    assert (
        "- Initialisation: OpenAI's released GPT-1 weights (openai-community/openai-gpt, imported), not "
        "pretrained here." in (out / "table2.md").read_text()
    )
    assert json.loads((out / "tables.json").read_text())["init"] == ["openai-gpt"]


def test_notes_say_which_weights_were_evaluated_and_stsb_s_target(tmp_path):
    selection = {"split": "dev", "metric": "accuracy", "epochs": [{"epoch": 1, "accuracy": 0.6}], "best_epoch": 1}
    records = {
        "story_cloze": done("story_cloze", {"accuracy": 0.7}, split="test") | {"selection": selection},
        "stsb": done("stsb", {"pearson": 0.8, "spearman": 0.8}) | {"stsb_target": "soft_labels"},
        "sst2": done("sst2", {"accuracy": 0.9}),
    }
    out = build(tmp_path, records)
    selected = (
        "- Weights evaluated: the final epoch's; the epoch that scored best on story_cloze's dev split (held out), "
        "as OpenAI's released code."
    )
    assert selected in (out / "table3.md").read_text()
    assert "- Weights evaluated: the final epoch's.\n" in (out / "table2.md").read_text()  # SST-2, STS-B
    assert "- STS-B trained as a distribution over the scores 0-5 (Tai et al." in (out / "table4.md").read_text()
    assert "STS-B trained" not in (out / "table3.md").read_text()


def test_notes_name_the_tasks_whose_data_no_pinned_hash_checked(tmp_path):
    records = {
        "sst2": done("sst2", {"accuracy": 0.9}) | {"data_verified": False},
        "cola": done("cola", {"mcc": 0.1}) | {"data_verified": True},
    }
    out = build(tmp_path, records)
    unchecked = "- Data copied from a mirror folder or a registered copy: no pinned sha256 checked them: sst2."
    assert unchecked in (out / "table4.md").read_text()
    assert "no pinned sha256" not in (out / "table2.md").read_text()  # no SST-2 or CoLA column there


def test_notes_name_sampled_evaluation_splits_and_standin_data(tmp_path):
    sampled = done("sst2", {"accuracy": 0.9}) | {"n_eval_available": {"dev": 872}}  # done() evaluates 100
    whole = done("cola", {"mcc": 0.1}) | {"n_eval_available": {"dev": 100}}
    out = build(tmp_path, {"sst2": sampled, "cola": whole})
    table4 = (out / "table4.md").read_text()
    assert (
        "- Evaluated on a seeded sample, the same for every run (finetune.max_eval_examples): sst2 dev (100 of 872)."
        in table4
    )
    assert "seeded sample" not in (out / "table2.md").read_text()
    assert "STAND-IN" not in table4 and json.loads((out / "tables.json").read_text())["standin"] == []

    standin = done("qnli", {"accuracy": 0.5}) | {"standin_data": ["train.tsv"]}
    out = build(tmp_path / "standin", {"qnli": standin, "sst2": done("sst2", {"accuracy": 0.9})})
    warning = "STAND-IN DATA, NOT RESULTS: qnli ran on generated stand-ins (benchmarks/standin.py), for timing only."
    assert f"- {warning}" in (out / "table2.md").read_text()
    assert "STAND-IN" not in (out / "table3.md").read_text()  # no QNLI column there
    assert json.loads((out / "tables.json").read_text())["standin"] == ["qnli"]


def test_not_run_cells_and_footnotes(tmp_path):
    reason = "only 3 training examples in results/tasks/mnli/data (a format slice?)"
    not_run = {"task": "mnli", "status": "not run", "reason": reason, "profile": "sample", "seed": 42}
    out = build(tmp_path, {"mnli": not_run})
    frame = read_md(out, 2)
    for header in ("MNLI-m", "MNLI-mm", "SNLI"):
        assert frame.loc[OURS, header] == "not run"
        assert frame.loc[DIFF, header] == "–"
    md = (out / "table2.md").read_text()
    assert f"- MNLI-m, MNLI-mm: not run: {reason}" in md
    assert "- SNLI, SciTail, QNLI, RTE: not run: no metrics file" in md  # one line per reason
    tex = (out / "table2.tex").read_text()
    assert "results/tasks/mnli/data" in tex and " & -- & " in tex
    summary = json.loads((out / "tables.json").read_text())
    assert summary["table2"]["MNLI-m"]["ours"] is None and summary["table2"]["MNLI-m"]["status"] == "not run"


def test_fabricated_metrics_give_exact_percentages_and_differences(tmp_path):
    out = build(
        tmp_path,
        {
            "sst2": done("sst2", {"accuracy": 0.5}),
            "cola": done("cola", {"matthews": 0.3}),
            "mnli": done(
                "mnli", {"accuracy": 0.75}, subsets={"matched": {"accuracy": 0.8}, "mismatched": {"accuracy": 0.7}}
            ),
            "race": done(
                "race",
                {"accuracy": 0.6},
                split="test",
                subsets={"middle": {"accuracy": 0.65}, "high": {"accuracy": 0.55}},
            ),
            "story_cloze": done("story_cloze", {"accuracy": 0.865}, split="test"),
        },
    )
    t2, t3, t4 = read_md(out, 2), read_md(out, 3), read_md(out, 4)
    assert (t4.loc[OURS, "SST-2 (acc.)"], t4.loc[DIFF, "SST-2 (acc.)"]) == ("50.0", "-41.3")
    assert (t4.loc[OURS, "CoLA (Matthews corr.)"], t4.loc[DIFF, "CoLA (Matthews corr.)"]) == ("30.0", "-15.4")
    assert (t2.loc[OURS, "MNLI-m"], t2.loc[DIFF, "MNLI-m"]) == ("80.0", "-2.1")
    assert (t2.loc[OURS, "MNLI-mm"], t2.loc[DIFF, "MNLI-mm"]) == ("70.0", "-11.4")
    assert list(t3.loc[OURS]) == ["86.5", "65.0", "55.0", "60.0"]
    assert list(t3.loc[DIFF]) == ["+0.0", "+2.1", "-2.4", "+1.0"]
    md3 = (out / "table3.md").read_text()
    assert "Story Cloze test (paper: test)" in md3 and "RACE-m test (paper: test)" in md3
    assert "SST-2 dev (paper: test)" in (out / "table4.md").read_text()
    summary = json.loads((out / "tables.json").read_text())
    assert summary["table4"]["SST-2"]["ours"] == 50.0
    assert summary["table4"]["SST-2"]["difference"] == pytest.approx(-41.3)
    assert summary["table3"]["RACE-h"] == {
        "ours": 55.0,
        "paper": 57.4,
        "best_earlier": 50.3,
        "difference": pytest.approx(-2.4),
        "status": "done",
        "split": "test",
        "sd": None,
        "seeds": 1,
    }


def test_glue_score_is_the_mean_of_present_columns(tmp_path):
    out = build(
        tmp_path,
        {
            "sst2": done("sst2", {"accuracy": 0.5}),
            "cola": done("cola", {"matthews": 0.3}),
            "mnli": done(
                "mnli", {"accuracy": 0.75}, subsets={"matched": {"accuracy": 0.8}, "mismatched": {"accuracy": 0.7}}
            ),
            "race": done("race", {"accuracy": 0.6}, split="test"),  # not a GLUE task
        },
    )
    t4 = read_md(out, 4)
    assert t4.loc[OURS, "GLUE score"] == "57.5 (4 of 9)"  # (50 + 30 + 80 + 70) / 4
    assert t4.loc[DIFF, "GLUE score"] == "–"  # a partial mean is not comparable with the paper's
    assert "over 4 of 9 columns" in (out / "table4.md").read_text()
    glue = json.loads((out / "tables.json").read_text())["table4"]["GLUE"]
    assert glue["ours"] == 57.5 and glue["columns"] == 4


def test_glue_score_over_all_nine_and_none(tmp_path):
    every_metric = {"accuracy": 0.5, "f1": 0.5, "matthews": 0.5, "pearson": 0.5}
    records = {t: done(t, every_metric) for t in ("cola", "sst2", "mrpc", "stsb", "qqp", "qnli", "rte")}
    records["mnli"] = done(
        "mnli", {"accuracy": 0.5}, subsets={"matched": {"accuracy": 0.6}, "mismatched": {"accuracy": 0.6}}
    )
    t4 = read_md(build(tmp_path / "all", records), 4)
    assert t4.loc[OURS, "GLUE score"] == f"{(7 * 50 + 2 * 60) / 9:.1f}"  # 52.2, no "(k of 9)"
    t4 = read_md(build(tmp_path / "none", {}), 4)
    assert (t4.loc[OURS, "GLUE score"], t4.loc[DIFF, "GLUE score"]) == ("not run", "–")


def test_several_seeds_give_mean_and_standard_deviation(tmp_path):
    out = build(
        tmp_path,
        {
            "sst2": done("sst2", {"accuracy": 0.5}, seed=1),
            "sst2.seed2": done("sst2", {"accuracy": 0.6}, seed=2),
            "sst2.seed3": done("sst2", {"accuracy": 0.8}, seed=3),
        },
    )
    # mean 63.33; sample sd sqrt(((50-63.33)^2 + (60-63.33)^2 + (80-63.33)^2) / 2) = 15.28
    assert read_md(out, 4).loc[OURS, "SST-2 (acc.)"] == "63.3 ± 15.3"
    assert read_md(out, 4).loc[DIFF, "SST-2 (acc.)"] == "-28.0"
    assert "SST-2 3 (1, 2, 3)" in (out / "table4.md").read_text()
    sst2 = json.loads((out / "tables.json").read_text())["table4"]["SST-2"]
    assert sst2["sd"] == pytest.approx(15.2753, abs=1e-4) and sst2["seeds"] == 3


def test_glue_score_spread_is_over_per_seed_scores(tmp_path):
    out = build(
        tmp_path,
        {
            "sst2": done("sst2", {"accuracy": 0.5}, seed=1),
            "sst2.2": done("sst2", {"accuracy": 0.7}, seed=2),
            "cola": done("cola", {"matthews": 0.1}, seed=1),
            "cola.2": done("cola", {"matthews": 0.1}, seed=2),
        },
    )
    # per seed: (50 + 10) / 2 = 30 and (70 + 10) / 2 = 40 -> 35.0 ± 7.1
    assert read_md(out, 4).loc[OURS, "GLUE score"] == "35.0 ± 7.1 (2 of 9)"


def test_a_value_missing_from_a_done_record_is_not_invented(tmp_path):
    out = build(tmp_path, {"mnli": done("mnli", {"accuracy": 0.75})})  # no subsets
    frame = read_md(out, 2)
    assert frame.loc[OURS, "MNLI-m"] == "missing" and frame.loc[DIFF, "MNLI-m"] == "–"
    assert "matched subset" in (out / "table2.md").read_text()


# --------------------------------------------------------------------------------------------------
# The CSV (tidy, numeric) and LaTeX (booktabs, $\pm$) forms

CSV_NUMBERS = ["mean", "sd", "paper", "columns_ran", "columns_total"]
SST2_ACCURACIES = {1: 0.512, 2: 0.634, 3: 0.803}  # seed -> accuracy, a fraction as in a metrics file
COLA_MCCS = {1: 0.117, 2: 0.208, 3: 0.25}


def several_seeds() -> dict[str, dict]:
    records = {f"sst2.{seed}": done("sst2", {"accuracy": a}, seed=seed) for seed, a in SST2_ACCURACIES.items()}
    return records | {f"cola.{seed}": done("cola", {"matthews": m}, seed=seed) for seed, m in COLA_MCCS.items()}


def test_csv_has_one_numeric_row_per_column_with_mean_and_sd_apart(tmp_path):
    out = build(tmp_path, several_seeds())
    for number, table in TABLES.items():
        frame = pd.read_csv(out / f"table{number}.csv")
        assert list(frame["column"]) == [c.header for c in table.columns]
        for name in [*CSV_NUMBERS, "difference", "best_earlier"]:
            assert frame[name].dtype == np.float64, (number, name)
        assert frame["seeds"].dtype == np.int64
        assert list(frame["paper"]) == [c.paper for c in table.columns]
        assert list(frame["best_earlier"]) == [c.best for c in table.columns]
    t4 = pd.read_csv(out / "table4.csv").set_index("column")
    sst2 = 100 * np.array(list(SST2_ACCURACIES.values()))
    assert t4.loc["SST-2 (acc.)", "mean"] == pytest.approx(sst2.mean(), abs=0.05)
    assert t4.loc["SST-2 (acc.)", "sd"] == pytest.approx(sst2.std(ddof=1), abs=0.05)
    assert t4.loc["SST-2 (acc.)", "seeds"] == 3 and t4.loc["SST-2 (acc.)", "status"] == "done"
    assert t4.loc["SST-2 (acc.)", "difference"] == pytest.approx(round(sst2.mean(), 1) - 91.3, abs=1e-9)
    glue = [statistics.mean([100 * SST2_ACCURACIES[s], 100 * COLA_MCCS[s]]) for s in SST2_ACCURACIES]
    assert t4.loc["GLUE score", "mean"] == pytest.approx(statistics.mean(glue), abs=0.05)
    assert t4.loc["GLUE score", "sd"] == pytest.approx(statistics.stdev(glue), abs=0.05)
    assert (t4.loc["GLUE score", "columns_ran"], t4.loc["GLUE score", "columns_total"]) == (2, 9)
    assert np.isnan(t4.loc["GLUE score", "difference"])  # a partial mean is not comparable with the paper's
    mrpc = t4.loc["MRPC (F1)"]
    assert np.isnan(mrpc["mean"]) and np.isnan(mrpc["sd"]) and mrpc["seeds"] == 0
    assert (mrpc["status"], mrpc["reason"]) == ("not run", "no metrics file")


def test_latex_uses_pm_booktabs_and_short_cells(tmp_path):
    metrics = tmp_path / "metrics"
    write_metrics(metrics / "full", several_seeds())
    write_metrics(metrics / "ablation" / "no_pretraining", several_seeds())
    build_tables(metrics / "full", tmp_path / "tables", "sample")
    build_table5(metrics, tmp_path / "tables", "sample")
    for number in (2, 3, 4, 5):
        tex = (tmp_path / "tables" / f"table{number}.tex").read_text()
        assert "±" not in tex and "–" not in tex and "×" not in tex, number
        assert all(rule in tex for rule in (r"\toprule", r"\midrule", r"\bottomrule")), number
        assert r"\begin{adjustbox}{max width=\linewidth}" in tex and r"\small" in tex
        body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0]
        for line in body.strip().splitlines():
            label, *cells = line.removesuffix(r"\\").split(" & ")
            # a number, its sd in small type, "(k of n)": a page holds Table 5's ten columns of these
            visible = [re.sub(r"\\[a-z]+|[${}\\,]", "", cell).strip() for cell in cells]
            assert all(len(cell) <= 20 for cell in visible), (number, visible)
    table4 = (tmp_path / "tables" / "table4.tex").read_text()
    assert r"65.0\,{\scriptsize $\pm$\,14.6}" in table4  # SST-2: 51.2, 63.4 and 80.3
    assert "Best earlier (method): CoLA Single-task BiLSTM+ELMo+Attn;" in table4


def test_table5_csv_is_tidy_and_numeric(tmp_path):
    metrics = tmp_path / "metrics"
    write_metrics(metrics / "full", several_seeds())
    without = {seed: a - 0.1 * seed for seed, a in SST2_ACCURACIES.items()}
    records = {f"sst2.{seed}": done("sst2", {"accuracy": a}, seed=seed) for seed, a in without.items()}
    write_metrics(metrics / "ablation" / "no_pretraining", records)
    build_table5(metrics, tmp_path / "tables", "sample")
    frame = pd.read_csv(tmp_path / "tables" / "table5.csv")
    assert all(frame[name].dtype == np.float64 for name in CSV_NUMBERS) and frame["seeds"].dtype == np.int64
    rows = ["full", "no_pretraining", "no_aux_lm", "lstm", "pretraining_gain"]
    assert list(frame["row"]) == [row for row in rows for _ in TABLE5_COLUMNS]
    assert list(frame["column"]) == [header for header, _, _ in TABLE5_COLUMNS] * len(rows)
    cell = frame.set_index(["row", "column"])
    assert list(cell.loc["lstm", "paper"]) == list(TABLE5_ROWS["LSTM w/ aux LM (1 layer, 2048 units)"])
    assert cell.loc[("lstm", "SST2"), "status"] == "not run"  # no LSTM records here
    assert cell.loc[("full", "SST2"), "paper"] == 91.3 and cell.loc[("no_pretraining", "SST2"), "paper"] == 84.0
    assert cell.loc[("pretraining_gain", "SST2"), "paper"] == 7.3  # 91.3 - 84.0
    full, wo = (100 * np.array(list(values.values())) for values in (SST2_ACCURACIES, without))
    assert cell.loc[("full", "SST2"), "mean"] == pytest.approx(full.mean(), abs=0.05)
    assert cell.loc[("no_pretraining", "SST2"), "sd"] == pytest.approx(wo.std(ddof=1), abs=0.05)
    # the gain's sd is that of the per-seed differences: 10, 20 and 30 points
    assert cell.loc[("pretraining_gain", "SST2"), "sd"] == pytest.approx(10.0, abs=0.05)
    assert cell.loc[("pretraining_gain", "SST2"), "mean"] == pytest.approx(
        round(full.mean(), 1) - round(wo.mean(), 1), abs=1e-9
    )
    cola_gain = cell.loc[("pretraining_gain", "CoLA")]
    assert np.isnan(cola_gain["mean"]) and cola_gain["status"] == "not comparable"
    assert (cell.loc[("full", "Avg"), "columns_ran"], cell.loc[("full", "Avg"), "columns_total"]) == (2, 8)
    assert cell.loc[("no_aux_lm", "RTE"), "status"] == "not run" and cell.loc[("no_aux_lm", "RTE"), "seeds"] == 0


# --------------------------------------------------------------------------------------------------
# Table 5


def test_table5_columns_use_the_metrics_of_tables_2_and_4():
    full = dict(zip([h for h, _, _ in TABLE5_COLUMNS], TABLE5_ROWS["Transformer w/ aux LM (full)"]))
    paper_values = {(c.task, c.metric): c.paper for t in TABLES.values() for c in t.columns if c.task and not c.subset}
    for header, task, metric in TABLE5_COLUMNS[1:]:
        if task == "mnli":  # the mean of matched and mismatched
            assert full[header] == pytest.approx((82.1 + 81.4) / 2, abs=0.05)
        else:
            assert full[header] == paper_values[(task, metric)], header


def test_table5_puts_our_ablations_under_the_papers_rows(tmp_path):
    metrics = tmp_path / "metrics"
    write_metrics(
        metrics / "full",
        {
            "sst2": done("sst2", {"accuracy": 0.7}, seed=1),
            "sst2.2": done("sst2", {"accuracy": 0.8}, seed=2),
            "mnli": done(
                "mnli", {"accuracy": 0.6}, subsets={"matched": {"accuracy": 0.62}, "mismatched": {"accuracy": 0.6}}
            ),
        },
    )
    write_metrics(
        metrics / "ablation" / "no_pretraining",
        {"sst2": done("sst2", {"accuracy": 0.6}, seed=1), "sst2.2": done("sst2", {"accuracy": 0.6}, seed=2)},
    )
    write_metrics(  # the LSTM's row (rule finetune_lstm)
        metrics / "ablation" / "lstm",
        {"sst2": done("sst2", {"accuracy": 0.65}, seed=1), "sst2.2": done("sst2", {"accuracy": 0.71}, seed=2)},
    )
    out = tmp_path / "tables"
    written = build_table5(metrics, out, "sample")
    assert {p.name for p in written} == {"table5.md", "table5.csv", "table5.tex", "table5.json"}
    frame = read_md(out, 5)
    assert list(frame.columns) == [h for h, _, _ in TABLE5_COLUMNS]
    assert list(frame.index[:4]) == list(TABLE5_ROWS)
    assert frame.loc["gpt1 w/ aux LM (full)", "SST2"] == "75.0 ± 7.1"
    assert frame.loc["gpt1 w/ aux LM (full)", "MNLI"] == "61.0"
    assert frame.loc["gpt1 w/o pre-training", "SST2"] == "60.0 ± 0.0"
    assert frame.loc["gpt1 w/o pre-training", "MNLI"] == "not run"
    assert frame.loc["gpt1 w/o aux LM", "CoLA"] == "not run"
    assert frame.loc["gpt1 LSTM w/ aux LM", "SST2"] == "68.0 ± 4.2"  # 65 and 71
    assert frame.loc["gpt1 LSTM w/ aux LM", "Avg"] == "68.0 ± 4.2 (1 of 8)"
    assert list(frame.index).index("gpt1 LSTM w/ aux LM") == list(frame.index).index("gpt1 w/o aux LM") + 1
    assert frame.loc["Pre-training's gain, paper (full - w/o)", "Avg"] == "+14.8"  # 74.7 - 59.9
    # per seed 70 - 60 and 80 - 60: the sd is that of the paired differences, 10 and 20
    assert frame.loc["Pre-training's gain, gpt1 (full - w/o)", "SST2"] == "+15.0 ± 7.1"
    # on Avg, over the columns both rows have (SST2; the full row's MNLI is left out)
    assert frame.loc["Pre-training's gain, gpt1 (full - w/o)", "Avg"] == "+15.0 ± 7.1 (1 of 8)"
    assert frame.loc["gpt1 w/ aux LM (full)", "Avg"].endswith("(2 of 8)")
    md = (out / "table5.md").read_text()
    labels = "gpt1 w/ aux LM (full), gpt1 w/o pre-training, gpt1 w/o aux LM, gpt1 LSTM w/ aux LM"
    assert f"- CoLA ({labels}): not run: no metrics file" in md
    # the full model ran MNLI, the other rows did not: a task the profile does not ablate
    assert (
        "- MNLI (gpt1 w/o pre-training, gpt1 w/o aux LM, gpt1 LSTM w/ aux LM): not run: not among params.yaml's "
        "ablation.tasks" in md
    )
    assert "Profile: sample." in md
    assert "Initialisation: weights pretrained by gpt1" in md
    summary = json.loads((out / "table5.json").read_text())
    assert summary["full"]["SST2"] == {
        "ours": 75.0,
        "sd": pytest.approx(7.0711, abs=1e-4),
        "seeds": 2,
        "status": "done",
    }
    assert summary["gain"]["SST2"] == {
        "ours": 15.0,
        "sd": pytest.approx(7.0711, abs=1e-4),
        "per_seed": {"1": 10.0, "2": 20.0},
        "columns": None,
    }
    assert summary["gain"]["Avg"]["ours"] == 15.0 and summary["gain"]["Avg"]["columns"] == "1 of 8"


def test_table5_gain_on_a_partial_average_when_both_rows_have_the_same_columns(tmp_path):
    """The sample has 5 of Table 5's 8 columns: the gain on their average is ours to compare, with the
    sd of its per-seed differences, and says over how many columns it is."""
    metrics = tmp_path / "metrics"
    full, without = {}, {}
    for seed, (sst2, cola, sst2_w, cola_w) in enumerate([(0.7, 0.2, 0.6, 0.0), (0.8, 0.1, 0.5, 0.1)], start=1):
        full |= {f"sst2.{seed}": done("sst2", {"accuracy": sst2}, seed=seed)}
        full |= {f"cola.{seed}": done("cola", {"matthews": cola}, seed=seed)}
        without |= {f"sst2.{seed}": done("sst2", {"accuracy": sst2_w}, seed=seed)}
        without |= {f"cola.{seed}": done("cola", {"matthews": cola_w}, seed=seed)}
    write_metrics(metrics / "full", full)
    write_metrics(metrics / "ablation" / "no_pretraining", without)
    build_table5(metrics, tmp_path / "tables", "sample")
    summary = json.loads((tmp_path / "tables" / "table5.json").read_text())
    # Avg per seed: full 45 and 45, w/o 30 and 30 -> +15.0, sd 0; SST2 +10 and +30, CoLA +20 and 0
    assert summary["gain"]["Avg"] == {
        "ours": 15.0,
        "sd": 0.0,
        "per_seed": {"1": 15.0, "2": 15.0},
        "columns": "2 of 8",
    }
    frame = read_md(tmp_path / "tables", 5)
    assert frame.loc["Pre-training's gain, gpt1 (full - w/o)", "Avg"] == "+15.0 ± 0.0 (2 of 8)"
    assert frame.loc["Pre-training's gain, gpt1 (full - w/o)", "CoLA"] == "+10.0 ± 14.1"
