"""The run's one-page report: pretraining figures (or a line saying the runs started from OpenAI's released
weights), Tables 2-5 and Figure 2 in results/summary.md, with the commit and date that made them. The summary
stage logs the same files to one MLflow run."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

from gpt1.files import atomic_write_text

TABLE_FILES = ("table2.md", "table3.md", "table4.md", "table5.md")
PAPER_PERPLEXITY = 18.4  # BooksCorpus (docs/paper.md, Pre-training)
RELEASED_WEIGHTS = (
    "- Fine-tuning started from OpenAI's released GPT-1 weights (openai-community/openai-gpt, "
    "imported by `gpt1 import-openai-gpt`) and its BPE vocabulary; no pretraining was run here."
)


def pretraining_lines(metrics_file: Path) -> list[str]:
    m = json.loads(metrics_file.read_text(encoding="utf-8"))
    return [
        f"- Model: {m['parameters']:,} parameters; {m['steps']:,} updates, {m['tokens']:,} tokens "
        f"({m['tokens_per_s']:,.0f} tokens/s).",
        f"- Validation loss {m['val_loss']:.4f}, perplexity {m['val_ppl']:.1f} (the paper: {PAPER_PERPLEXITY} on "
        "BooksCorpus, a different corpus and tokenizer: not comparable).",
    ]


def lstm_lines(metrics_file: Path) -> list[str]:
    """The LSTM baseline's pretraining (Table 5's LSTM row, Figure 2's dashed curves), when it ran."""
    if not metrics_file.is_file():
        return []
    m = json.loads(metrics_file.read_text(encoding="utf-8"))
    return [
        "",
        "## The LSTM baseline's pretraining",
        "",
        f"- Model: {m['parameters']:,} parameters; {m['steps']:,} updates, {m['tokens']:,} tokens "
        f"({m['tokens_per_s']:,.0f} tokens/s).",
        f"- Validation loss {m['val_loss']:.4f}, perplexity {m['val_ppl']:.1f} (the same tokens as the transformer's).",
    ]


def from_released_weights(results_dir: Path) -> bool:
    """Whether the fine-tuning runs started from OpenAI's released weights only (finetune.init: openai-gpt),
    as tables.json records: then there was no pretraining and results/pretrain/ is not read."""
    tables = json.loads((results_dir / "tables" / "tables.json").read_text(encoding="utf-8"))
    return tables.get("init") == ["openai-gpt"]


def standin_warning(results_dir: Path) -> list[str]:
    """The tables' stand-in warning at the top of the report, when any task ran on stand-in data."""
    from gpt1.report.tables import STANDIN_WARNING

    tables = json.loads((results_dir / "tables" / "tables.json").read_text(encoding="utf-8"))
    if not tables["standin"]:
        return []
    return [f"**{STANDIN_WARNING.format(tasks=', '.join(tables['standin']))}**", ""]


def demote_headings(markdown: str) -> str:
    """A table file's own '# Table N' heading becomes '## Table N' under the report's title."""
    return re.sub(r"^# ", "## ", markdown, flags=re.M)


def build_summary(results_dir: Path, out: Path, profile: str, commit: str) -> str:
    """Write the report to `out` and return it. Paths inside it are relative to `out`'s folder."""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if from_released_weights(results_dir):
        start = ["## Released weights", "", RELEASED_WEIGHTS]
    else:
        start = ["## Pretraining", "", *pretraining_lines(results_dir / "pretrain" / "metrics.json")]
    start += lstm_lines(results_dir / "pretrain_lstm" / "metrics.json")
    parts = [f"# gpt1 results: profile {profile}", "", f"Made {when} from commit {commit}.", ""]
    parts += [*standin_warning(results_dir), *start, ""]
    for name in TABLE_FILES:
        parts += [demote_headings((results_dir / "tables" / name).read_text(encoding="utf-8")), ""]
    figure = (results_dir / "figures" / "figure2.png").relative_to(out.parent)
    picture = "Figure 2: layers transferred, and zero-shot scores over pretraining, transformer and LSTM"
    parts += ["## Figure 2", "", f"![{picture}]({figure.as_posix()})", ""]
    parts += [*zero_shot_lines(results_dir / "figures" / "figure2.json"), ""]
    text = "\n".join(parts)
    atomic_write_text(out, text)
    return text


def zero_shot_lines(figure2_file: Path) -> list[str]:
    """Figure 2 (right) in words: each heuristic's score per architecture at its first and last snapshot,
    beside chance (none when figure2.json is not there)."""
    if not figure2_file.is_file():
        return []
    data = json.loads(figure2_file.read_text(encoding="utf-8"))
    architectures = {"transformer": data.get("zero_shot", {}), "LSTM": data.get("zero_shot_lstm", {})}
    tasks = dict.fromkeys(task for curves in architectures.values() for task in curves)
    return [
        f"- Zero-shot {curves[task]['title']}, {name}: {curve_in_words(curves[task])}."
        for task in tasks
        for name, curves in architectures.items()
        if task in curves and curves[task]["points"]
    ]


def curve_in_words(curve: dict) -> str:
    first, last = curve["points"][0], curve["points"][-1]
    where = f"{curve['metric']} on {curve['n']:,} {curve['split']} examples, chance {curve['chance']:g}"
    if curve.get("standin_data"):
        where += "; STAND-IN DATA, for timing only"
    if last["step"] is None:
        return f"{last['value']:.3f} with the released weights ({where})"
    return f"{first['value']:.3f} at update {first['step']:,}, {last['value']:.3f} at update {last['step']:,} ({where})"


def headline_metrics(results_dir: Path) -> dict[str, float]:
    """A few numbers to compare runs by in MLflow: our GLUE score, Table 5's averages (the LSTM's among them),
    perplexity."""
    tables = json.loads((results_dir / "tables" / "tables.json").read_text(encoding="utf-8"))
    table5 = json.loads((results_dir / "tables" / "table5.json").read_text(encoding="utf-8"))
    metrics = {"glue_score": tables["table4"]["GLUE"]["ours"]}
    if not from_released_weights(results_dir):
        pretrain = json.loads((results_dir / "pretrain" / "metrics.json").read_text(encoding="utf-8"))
        metrics["pretrain_val_ppl"] = pretrain["val_ppl"]
    for variant in ("full", "no_pretraining", "no_aux_lm", "lstm"):
        if variant in table5:
            metrics[f"table5_avg_{variant}"] = table5[variant]["Avg"]["ours"]
    return {k: v for k, v in metrics.items() if v is not None}
