"""The fine-tuning curves by task, for `dvc plots show`: one CSV per task, `<task>.csv`, a row per logged point
of each seed's run (`step, seed, epoch, train_loss, lr`), from the runs' metrics records (gpt1.stages.finetune
keeps each run's curve there). dvc.yaml plots each file as one panel with a line per seed
(workflow/plots/seeds.json); a task that did not run has no file.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from gpt1.files import atomic_write_text
from gpt1.report.records import load_records

FIELDS = ("step", "seed", "epoch", "train_loss", "lr")


def write_curves_by_task(metrics_dir: Path, out_dir: Path) -> list[Path]:
    """Each task's done runs' curves, seeds in order, into `out_dir/<task>.csv`; the files written (an earlier
    run's file of a task that no longer ran is removed: the folder is one output)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for task, records in sorted(load_records(metrics_dir).items()):
        done = sorted((r for r in records if r.get("status") == "done" and r.get("curves")), key=lambda r: r["seed"])
        if not done:
            continue
        text = io.StringIO()
        writer = csv.DictWriter(text, FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(point | {"seed": record["seed"]} for record in done for point in record["curves"])
        atomic_write_text(out_dir / f"{task}.csv", text.getvalue())
        written.append(out_dir / f"{task}.csv")
    for stale in set(out_dir.glob("*.csv")) - set(written):
        stale.unlink()
    return written
