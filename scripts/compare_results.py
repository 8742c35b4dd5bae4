"""Compare two results/ folders (before and after a change that must not change results).

Every table, metrics record, zero-shot record, Figure 2's data and pretraining's metrics and curves must be
equal, except what measures the machine or names the run: wall times, throughput, MLflow run ids, the commit
and date of the summary, and the module name in the LaTeX header. Prints each difference; exits 1 if any.

    python scripts/compare_results.py /path/to/before/results /path/to/after/results
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

VOLATILE_KEYS = {"wall_s", "wall_s_this_run", "tokens_per_s", "pretrain_run_id"}
VOLATILE_COLUMNS = {"tokens_per_s"}
VOLATILE_LINES = (
    re.compile(r"^Made .* from commit \w+\.$"),
    re.compile(r"^% Written by gpt1\.[\w.]+; do not edit\.$"),
    re.compile(r"tokens/s\)\.$"),
)
PATTERNS = (
    "tables/*",
    "figures/figure2.json",
    "metrics/**/*.json",
    "zero_shot/*.json",
    "pretrain/metrics.json",
    "pretrain/*_curve.csv",
    "summary.md",
)


def without_volatile(value):
    if isinstance(value, dict):
        return {k: without_volatile(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [without_volatile(v) for v in value]
    return value


def comparable(path: Path):
    text = path.read_text()
    if path.suffix == ".json":
        return without_volatile(json.loads(text))
    if path.suffix == ".csv" and "tokens_per_s" in text.splitlines()[0]:
        rows = list(csv.DictReader(io.StringIO(text)))
        return [{k: v for k, v in row.items() if k not in VOLATILE_COLUMNS} for row in rows]
    return [line for line in text.splitlines() if not any(p.search(line) for p in VOLATILE_LINES)]


def main(before: Path, after: Path) -> int:
    names = sorted(
        {
            p.relative_to(root)
            for root in (before, after)
            for pattern in PATTERNS
            for p in root.glob(pattern)
            if p.is_file() and p.suffix != ".png"
        }
    )
    differences = 0
    for name in names:
        if not (before / name).is_file() or not (after / name).is_file():
            print(f"only in one: {name}")
            differences += 1
        elif comparable(before / name) != comparable(after / name):
            print(f"differs: {name}")
            differences += 1
    print(f"{len(names)} files compared, {differences} differ")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
