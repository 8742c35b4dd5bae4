"""benchmarks/finetune_memory.py runs (on a tiny config) and gives what a micro-batch saves."""

import json
import subprocess
import sys

from conftest import ROOT


def test_the_memory_estimate_runs_and_micro_batches_need_less():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.finetune_memory", "--tiny", "--sizes", "2", "64"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["mib_per_sequence"] > 0 and report["gib_fixed_with_adam"] > 0
    race = report["tasks"]["race"]
    assert race["sequences_per_batch"] == 128
    assert race["peak_gib_micro_4"] <= race["peak_gib_micro_8"] <= race["peak_gib_whole_batch"]
