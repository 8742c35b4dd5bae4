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


def from_released_weights(results_dir: Path) -> bool:
    """Whether the fine-tuning runs started from OpenAI's released weights only (finetune.init: openai-gpt),
    as tables.json records: then there was no pretraining and results/pretrain/ is not read."""
    tables = json.loads((results_dir / "tables" / "tables.json").read_text(encoding="utf-8"))
    return tables.get("init") == ["openai-gpt"]


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
    parts = [f"# gpt1 results: profile {profile}", "", f"Made {when} from commit {commit}.", "", *start, ""]
    for name in TABLE_FILES:
        parts += [demote_headings((results_dir / "tables" / name).read_text(encoding="utf-8")), ""]
    figure = (results_dir / "figures" / "figure2.png").relative_to(out.parent)
    parts += ["## Figure 2", "", f"![Figure 2: layers transferred and zero-shot scores]({figure.as_posix()})", ""]
    text = "\n".join(parts)
    atomic_write_text(out, text)
    return text


def headline_metrics(results_dir: Path) -> dict[str, float]:
    """A few numbers to compare runs by in MLflow: our GLUE score, Table 5's averages, perplexity."""
    tables = json.loads((results_dir / "tables" / "tables.json").read_text(encoding="utf-8"))
    table5 = json.loads((results_dir / "tables" / "table5.json").read_text(encoding="utf-8"))
    metrics = {"glue_score": tables["table4"]["GLUE"]["ours"]}
    if not from_released_weights(results_dir):
        pretrain = json.loads((results_dir / "pretrain" / "metrics.json").read_text(encoding="utf-8"))
        metrics["pretrain_val_ppl"] = pretrain["val_ppl"]
    for variant in ("full", "no_pretraining", "no_aux_lm"):
        metrics[f"table5_avg_{variant}"] = table5[variant]["Avg"]["ours"]
    return {k: v for k, v in metrics.items() if v is not None}
