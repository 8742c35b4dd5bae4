"""Wall time per rule of a Snakemake run, from its log: python scripts/stage_times.py snakemake.log

Prints a Markdown table: per rule the jobs, the time its jobs took together (job-seconds: two jobs at once
count twice) and the span from its first start to its last end; then the run's wall time. Snakemake writes
a job's start as "[date]" then "rule NAME:" ... "jobid: N", and its end as "[date]" then "Finished jobid: N".
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from datetime import datetime

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$")
START = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
END = re.compile(r"^Finished jobid: (\d+) ")


def job_times(lines: list[str]) -> list[tuple[str, datetime, datetime]]:
    """(rule, start, end) of every finished job."""
    stamp = rule = None
    started: dict[str, tuple[str, datetime]] = {}
    jobs = []
    for line in lines:
        line = line.rstrip("\n")
        if m := STAMP.match(line):
            stamp = datetime.strptime(m[1], "%a %b %d %H:%M:%S %Y")
        elif m := START.match(line):
            rule = (m[1], stamp)
        elif (m := JOBID.match(line)) and rule:
            started[m[1]], rule = rule, None
        elif (m := END.match(line)) and m[1] in started:
            name, start = started.pop(m[1])
            jobs.append((name, start, stamp))
    return jobs


def table(jobs: list[tuple[str, datetime, datetime]]) -> str:
    by_rule: dict[str, list] = defaultdict(list)
    for name, start, end in jobs:
        by_rule[name].append((start, end))
    rows = ["| rule | jobs | job time (min) | span (min) |", "|---|---:|---:|---:|"]
    for name, spans in sorted(by_rule.items(), key=lambda item: min(s for s, _ in item[1])):
        if name == "all":  # the target rule: no command
            continue
        total = sum((end - start).total_seconds() for start, end in spans) / 60
        span = (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds() / 60
        rows.append(f"| {name} | {len(spans)} | {total:.1f} | {span:.1f} |")
    wall = (max(e for _, _, e in jobs) - min(s for _, s, _ in jobs)).total_seconds() / 60
    rows.append(f"| whole run | {len(jobs)} | | {wall:.1f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    with open(sys.argv[1]) as log:
        print(table(job_times(log.readlines())))
