"""A stage stops the moment its orchestrator is gone.

torchrun starts its workers in a Unix session of their own, so a kill of Snakemake's or DVC's process group
(kill -9, or a cluster's job being cancelled) misses them, and they would go on training and write outputs
nobody asked for. Each stage watches its parent process: when the parent changes (the stage was re-parented
after its parent died), the stage kills itself before it can write anything else.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

log = logging.getLogger(__name__)


# Set for a stage its orchestrator started: Snakemake (our Snakefile exports the profile), DVC, torchrun.
# A stage run by hand (`nohup gpt1 finetune ... &`, then logging out) is left alone.
ORCHESTRATED_BY = ("GPT1_PROFILE", "DVC_ROOT", "TORCHELASTIC_RUN_ID")


def watch_parent(interval_s: float = 1.0) -> None:
    """Kill this process within `interval_s` of its parent's death, when an orchestrator started it."""
    parent = os.getppid()
    if parent == 1 or not any(name in os.environ for name in ORCHESTRATED_BY):
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        log.error("parent process %d is gone (Snakemake, DVC or torchrun was stopped): stopping too", parent)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()
