"""The paper's published numbers (Radford et al. 2018, Tables 2-5) as data: the one source of truth.

Values are percentages as the paper prints them. Tables 2-4 report the GLUE test server, SNLI, SciTail,
RACE and Story Cloze test sets; Table 5 reports dev sets. "Best earlier" is the best result the paper lists
for the column, with the method's name as the paper gives it. tests/report/test_tables.py checks every number
here against docs/paper.md, Results.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column of a results table.

    `task`: the task id (gpt1.tasks.registry); None for the GLUE score. `subset`: the subset reported
    (MNLI "matched"/"mismatched", RACE "middle"/"high"), None for the whole split. `metric`: the metric's
    name in a metrics file ("glue" for the GLUE score). `name`: the short name the paper's text uses,
    `header`: the column header as the paper prints it. `paper`: the paper's GPT-1 value; `best` and
    `best_method`: the best earlier result and its method. `paper_split`: the split the paper scored.
    """

    task: str | None
    subset: str | None
    metric: str
    name: str
    header: str
    paper: float
    best: float
    best_method: str
    paper_split: str = "test"


@dataclass(frozen=True)
class Table:
    """One of the paper's results tables: its number, title and columns in the paper's order."""

    number: int
    title: str
    columns: tuple[Column, ...]


TABLE2 = Table(
    2,
    "Natural language inference",
    (
        Column("mnli", "matched", "accuracy", "MNLI-m", "MNLI-m", 82.1, 80.6, "Stochastic Answer Network, 3x ensemble"),
        Column(
            "mnli", "mismatched", "accuracy", "MNLI-mm", "MNLI-mm", 81.4, 80.1, "Stochastic Answer Network, 3x ensemble"
        ),
        Column("snli", None, "accuracy", "SNLI", "SNLI", 89.9, 89.3, "ESIM+ELMo 5x, CAFE 5x"),
        Column("scitail", None, "accuracy", "SciTail", "SciTail", 88.3, 83.3, "CAFE"),
        Column("qnli", None, "accuracy", "QNLI", "QNLI", 88.1, 82.3, "GenSen"),
        Column("rte", None, "accuracy", "RTE", "RTE", 56.0, 61.7, "Multi-task BiLSTM+Attn"),
    ),
)

TABLE3 = Table(
    3,
    "Question answering and commonsense reasoning",
    (
        Column("story_cloze", None, "accuracy", "Story Cloze", "Story Cloze", 86.5, 77.6, "Hidden Coherence Model"),
        Column("race", "middle", "accuracy", "RACE-m", "RACE-m", 62.9, 60.2, "BiAttention MRU, 9x"),
        Column("race", "high", "accuracy", "RACE-h", "RACE-h", 57.4, 50.3, "BiAttention MRU, 9x"),
        Column("race", None, "accuracy", "RACE", "RACE", 59.0, 53.3, "BiAttention MRU, 9x"),
    ),
)

# The GLUE score as the paper reports it, and the best earlier results listed beside it (Table 4).
GLUE_SCORE = 72.8
GLUE_BEST_EARLIER = (
    (68.9, "Multi-task BiLSTM+ELMo+Attn"),
    (64.8, "Single-task BiLSTM+ELMo+Attn"),
)

TABLE4 = Table(
    4,
    "Semantic similarity and classification",
    (
        Column("cola", None, "matthews", "CoLA", "CoLA (Matthews corr.)", 45.4, 35.0, "Single-task BiLSTM+ELMo+Attn"),
        Column("sst2", None, "accuracy", "SST-2", "SST-2 (acc.)", 91.3, 93.2, "Sparse byte mLSTM"),
        Column("mrpc", None, "f1", "MRPC", "MRPC (F1)", 82.3, 86.0, "TF-KLD"),
        Column("stsb", None, "pearson", "STS-B", "STS-B (Pearson)", 82.0, 81.0, "ECNU"),
        Column("qqp", None, "f1", "QQP", "QQP (F1)", 70.3, 66.1, "Single-task BiLSTM+ELMo+Attn"),
        Column(None, None, "glue", "GLUE", "GLUE score", GLUE_SCORE, *GLUE_BEST_EARLIER[0]),
    ),
)

TABLES = {table.number: table for table in (TABLE2, TABLE3, TABLE4)}

# Our GLUE score: the mean of these nine columns (task, subset, metric), each x100, over those that ran.
# (The official GLUE score also averages WNLI and the second metric of MRPC, STS-B and QQP; no GLUE test
# labels are public, so ours is a dev-set stand-in and says so.)
GLUE_COMPONENTS = (
    ("cola", None, "matthews"),
    ("sst2", None, "accuracy"),
    ("mrpc", None, "f1"),
    ("stsb", None, "pearson"),
    ("qqp", None, "f1"),
    ("mnli", "matched", "accuracy"),
    ("mnli", "mismatched", "accuracy"),
    ("qnli", None, "accuracy"),
    ("rte", None, "accuracy"),
)

# Table 5, ablations on the dev sets. Columns: (header, task id, metric), the metrics of Tables 2 and 4;
# "Avg" is the unweighted mean of the eight task columns, and MNLI is the mean of matched and mismatched.
TABLE5_COLUMNS = (
    ("Avg", None, None),
    ("CoLA", "cola", "matthews"),
    ("SST2", "sst2", "accuracy"),
    ("MRPC", "mrpc", "f1"),
    ("STSB", "stsb", "pearson"),
    ("QQP", "qqp", "f1"),
    ("MNLI", "mnli", "accuracy"),
    ("QNLI", "qnli", "accuracy"),
    ("RTE", "rte", "accuracy"),
)
TABLE5_ROWS = {
    "Transformer w/ aux LM (full)": (74.7, 45.4, 91.3, 82.3, 82.0, 70.3, 81.8, 88.1, 56.0),
    "Transformer w/o pre-training": (59.9, 18.9, 84.0, 79.4, 30.9, 65.5, 75.7, 71.2, 53.8),
    "Transformer w/o aux LM": (75.0, 47.9, 92.0, 84.9, 83.2, 69.8, 81.1, 86.9, 54.4),
    "LSTM w/ aux LM (1 layer, 2048 units)": (69.1, 30.3, 90.5, 83.2, 71.8, 68.1, 73.7, 81.1, 54.6),
}
