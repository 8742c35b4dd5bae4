"""How torch's OpenMP threads wait, chosen once per process before torch starts.

By default libgomp's idle threads spin before they sleep: the fastest on cores nobody else wants, and the
slowest when other processes share them, since a spinning thread holds a core the busy ones need. Measured on
2 cores (experiments/threads/README.md), a 2-thread pretraining update takes 0.45 s alone spinning and 0.59 s
with OMP_WAIT_POLICY=PASSIVE; beside two other busy processes, 1.8-1.9 s spinning and 1.0 s passive. So a
stage that will run several threads looks at the machine as it starts: if other work already keeps more than
half a core busy, its threads wait passively; on idle cores they spin. A wait policy the user set is kept.
"""

from __future__ import annotations

import os

BUSY_CORES = 0.5  # other work above this many cores' worth at the start: threads wait passively
SAMPLE_S = 0.2  # how long the machine is watched


def choose_wait_policy() -> str | None:
    """Set OMP_WAIT_POLICY=PASSIVE when other work keeps the cores busy; return a line saying what was
    chosen and why (None when there was nothing to choose: one thread, or the user's own setting)."""
    if "OMP_WAIT_POLICY" in os.environ:
        return None
    if os.environ.get("OMP_NUM_THREADS") == "1" or (os.cpu_count() or 1) == 1:  # one thread never waits
        return None
    import psutil

    busy = psutil.cpu_percent(interval=SAMPLE_S) / 100 * psutil.cpu_count()
    if busy > BUSY_CORES:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        return f"OpenMP threads wait passively: other work kept {busy:.1f} cores busy at the start"
    return f"OpenMP threads spin while they wait: the cores were idle at the start ({busy:.1f} busy)"
