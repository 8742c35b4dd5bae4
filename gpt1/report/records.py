"""The finetune stage's metrics records, read: one JSON file per task and seed (`results/metrics/*.json`; see
gpt1.stages.finetune), grouped by task, and a column's value averaged over a task's runs (a `Measure`).
Tables 2-5 (gpt1.report.tables, gpt1.report.table5) and Figure 2 (gpt1.report.figure2) read them through here.
Values in the files are fractions; a Measure holds percentages.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, stdev

NOT_RUN = "not run"
MISSING = "missing"
NO_RECORD = "not run: no metrics file"


@dataclass(frozen=True)
class Measure:
    """Our value for one column: a percentage, or None with the reason.

    `status`: "done", "not run" (the task did not run, or has no metrics file) or "missing" (it ran but
    its metrics file lacks this value). `splits`: those of the runs averaged. `per_seed`: (seed, value)
    of each run; `value` is their mean and `sd` their sample standard deviation (None for one run).
    `n_columns` of `n_total`: for a mean over columns (the GLUE score, Table 5's average), how many ran.
    """

    value: float | None
    status: str
    reason: str = ""
    splits: tuple[str, ...] = ()
    per_seed: tuple[tuple[int, float], ...] = ()
    n_columns: int = 0
    n_total: int = 0

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(seed for seed, _ in self.per_seed)

    @property
    def sd(self) -> float | None:
        return stdev(v for _, v in self.per_seed) if len(self.per_seed) > 1 else None


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
        return Measure(None, NOT_RUN, NO_RECORD)
    done = [r for r in task_records if r.get("status") == "done"]
    if not done:
        reasons = dict.fromkeys(r.get("reason", "no reason given") for r in task_records)
        return Measure(None, NOT_RUN, "not run: " + "; ".join(reasons))
    values = [record_value(r, subset, metric) for r in done]
    if any(v is None for v in values):
        where = f"{subset} subset of the " if subset else ""
        return Measure(None, MISSING, f"missing: no {metric} for the {where}reported split in the metrics file")
    splits = tuple(dict.fromkeys(r["split"] for r in done))
    per_seed = tuple((r.get("seed"), 100 * v) for r, v in zip(done, values))
    return Measure(mean(v for _, v in per_seed), "done", splits=splits, per_seed=per_seed)


def mean_of_columns(parts: list[Measure], what: str) -> Measure:
    """The mean of the columns that have a value; per seed, over the seeds every such column ran with."""
    present = [p for p in parts if p.value is not None]
    if not present:
        return Measure(None, NOT_RUN, f"not run: no {what} task ran")
    common = [seed for seed in present[0].seeds if all(seed in p.seeds for p in present)]
    per_seed = tuple((seed, mean(dict(p.per_seed)[seed] for p in present)) for seed in common)
    splits = tuple(dict.fromkeys(s for p in present for s in p.splits))
    value = mean(p.value for p in present)
    return Measure(value, "done", splits=splits, per_seed=per_seed, n_columns=len(present), n_total=len(parts))
