"""Does a run show the paper's effects? python scripts/pretraining_effect.py [results]

Reads the run's results/tables/table5.json and results/figures/figure2.json and prints, one line each, the
tests of issue 12 with their numbers and a verdict:
- Table 5: pre-training's gain on the average is more than twice its sd over seeds;
- Table 5: at least 3 tasks have a gain above their own sd (the sd of the per-seed differences);
- Figure 2, left: all layers transferred beat none by more than the larger of the two seeds' sds;
- Figure 2, right: each zero-shot heuristic (the transformer's, then the LSTM's), last snapshot against the
  first, beyond twice the standard error of the difference (binomial for accuracy; (1 - r^2) / sqrt(n - 1) for a
  Matthews correlation).
Exits 1 when one of the first three fails, so that a script can check a run.

A run on stand-in data (benchmarks/standin.py, for timing) is checked on its real tasks only: Table 5 is
rebuilt, in a temporary folder, from the records of the tasks that ran on real data. Those records are what a
run without the stand-ins makes (each fine-tuning depends only on its own task, the pretraining and the seed).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
from pathlib import Path


def standard_error(metric: str, value: float, n: int) -> float:
    if metric == "accuracy":
        return math.sqrt(value * (1 - value) / n)
    return (1 - value**2) / math.sqrt(n - 1)


def real_table5(results: Path, standin: list[str]) -> dict:
    """table5.json of the run, or, when some tasks ran on stand-ins, of the run without them."""
    if not standin:
        return json.loads((results / "tables" / "table5.json").read_text())
    from gpt1.report.table5 import build_table5

    with tempfile.TemporaryDirectory() as tmp:
        for record in (results / "metrics").rglob("*.json"):
            if json.loads(record.read_text()).get("task") not in standin:
                copy = Path(tmp, "metrics", record.relative_to(results / "metrics"))
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(record, copy)
        build_table5(Path(tmp, "metrics"), Path(tmp, "tables"), "real tasks")
        return json.loads(Path(tmp, "tables", "table5.json").read_text())


def checks(results: Path) -> list[tuple[bool | None, str]]:
    standin = json.loads((results / "tables" / "tables.json").read_text()).get("standin", [])  # older runs: none
    table5 = real_table5(results, standin)
    figure2 = json.loads((results / "figures" / "figure2.json").read_text())
    lines: list[tuple[bool | None, str]] = []
    if standin:
        lines.append((None, f"Stand-in data (left out of Table 5's tests): {', '.join(standin)}"))

    avg = table5["gain"]["Avg"]
    ok = avg["ours"] is not None and avg["sd"] is not None and avg["ours"] > 2 * avg["sd"]
    shown = "none" if avg["ours"] is None else f"{avg['ours']:+.1f} ± {avg['sd'] or 0.0:.1f}"
    lines.append((ok, f"Table 5 Avg ({avg['columns']}): gain {shown}, above twice its sd"))

    tasks = {k: g for k, g in table5["gain"].items() if k != "Avg" and g["ours"] is not None}
    above = [k for k, g in tasks.items() if g["sd"] is not None and g["ours"] > g["sd"]]
    shown = ", ".join(f"{k} {g['ours']:+.1f} ± {g['sd']:.1f}" for k, g in tasks.items())
    lines.append((len(above) >= 3, f"Table 5 tasks above their sd: {len(above)} of {len(tasks)} ({shown})"))

    for task, points in figure2["transfer"].items():
        none, every = points[0], points[-1]
        spread = max(none["sd"] or 0.0, every["sd"] or 0.0)
        rise = every["mean"] - none["mean"]
        lines.append(
            (
                rise > spread,
                f"Figure 2 transfer, {task}: {every['layers']} layers {every['mean']:.1f} ± {every['sd']:.1f} "
                f"against 0 layers {none['mean']:.1f} ± {none['sd']:.1f}: {rise:+.1f}, spread {spread:.1f}",
            )
        )
    curves = [(task, "", c) for task, c in figure2["zero_shot"].items() if not c.get("standin_data")]
    curves += [(task, "LSTM ", c) for task, c in figure2.get("zero_shot_lstm", {}).items() if not c.get("standin_data")]
    for task, architecture, curve in curves:
        first, last = curve["points"][0], curve["points"][-1]
        n, metric = curve["n"], curve["metric"]
        se = math.hypot(standard_error(metric, first["value"], n), standard_error(metric, last["value"], n))
        rise = last["value"] - first["value"]
        lines.append(
            (
                None,
                f"Figure 2 zero-shot, {architecture}{task} ({metric}, n {n}): step {first['step']} "
                f"{first['value']:.3f} -> step {last['step']} {last['value']:.3f}: {rise:+.3f}, 2 se {2 * se:.3f}: "
                + ("rises beyond sampling error" if rise > 2 * se else "within sampling error"),
            )
        )
    return lines


if __name__ == "__main__":
    lines = checks(Path(sys.argv[1] if len(sys.argv) > 1 else "results"))
    for ok, text in lines:
        print({True: "yes ", False: "no  ", None: "    "}[ok] + text)
    sys.exit(0 if all(ok is not False for ok, _ in lines) else 1)
