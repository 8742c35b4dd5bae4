"""Progress that shows on a terminal and in a log: a tqdm bar on the one, tqdm's meter as log lines in the other.

Wherever the output is kept (stderr not a terminal: nohup, CI, a cluster; or a stage's log file, gpt1.logfile)
a log line comes every GPT1_PROGRESS_INTERVAL seconds (default 30) with done/total, rate, time elapsed and
left: `pretrain:  40% 800/2000 [05:20<08:00,  2.50step/s, loss=4.213]`; and one when the work ends.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import sys
import weakref

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from gpt1.logfile import stderr_is_terminal, teeing

log = logging.getLogger(__name__)

INTERVAL_ENV = "GPT1_PROGRESS_INTERVAL"
DEFAULT_INTERVAL_S = 30.0

_open: weakref.WeakSet[Progress] = weakref.WeakSet()


def interval_s() -> float:
    """Seconds between progress lines in the log (GPT1_PROGRESS_INTERVAL; 0: at every update)."""
    value = os.environ.get(INTERVAL_ENV)
    if value is None:
        return DEFAULT_INTERVAL_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(
            f"{INTERVAL_ENV}={value!r}: give the seconds between progress lines in the log, a number >= 0 "
            f"(default {DEFAULT_INTERVAL_S:.0f}), or unset it"
        )
    return seconds


class LogLines:
    """A file for tqdm in which each redraw of its meter becomes a log line (a repeat of the last one does not)."""

    def __init__(self):
        self.last = ""

    def write(self, text: str) -> None:
        for line in re.split(r"[\r\n]", text):
            if line.strip() and line.strip() != self.last:
                self.last = line.strip()
                log.info("%s", self.last)

    def flush(self) -> None:
        pass


class Progress:
    """Counts work done: `update(n)`, `set_postfix(loss=...)`, `close()` (or use it as a context manager).

    `short`: work that usually takes seconds (one file's download, one evaluation): its log lines start only
    once it has run for the interval, and its bar is cleared when it ends. `meter`: tqdm's unit_scale,
    unit_divisor. `enabled=False`: nothing anywhere (torchrun's processes other than the first).
    """

    def __init__(
        self,
        desc: str,
        total: int | None = None,
        *,
        unit: str = "it",
        initial: int = 0,
        short: bool = False,
        enabled: bool = True,
        **meter,
    ):
        self.bars: list[tqdm] = []
        self.redirect = contextlib.ExitStack()
        if not enabled:
            return
        _open.add(self)
        counts = {"desc": desc, "total": total, "initial": initial, "unit": unit, **meter}
        terminal = stderr_is_terminal()
        if terminal:
            self.bars.append(tqdm(**counts, file=sys.stderr, leave=not short))
            self.redirect.enter_context(logging_redirect_tqdm())  # log lines print above the bar, not into it
        if not terminal or teeing():
            every = interval_s()
            delay = every if short else 0
            # ncols=0: the meter without a bar; position=0: never moved up or down, as stacked terminal bars are
            self.bars.append(
                tqdm(**counts, file=LogLines(), mininterval=every, miniters=1, delay=delay, ncols=0, position=0)
            )

    def update(self, n: int = 1) -> None:
        for bar in self.bars:
            bar.update(n)

    def set_postfix(self, **values) -> None:
        """Values shown after the meter (the loss), from its next redraw on."""
        for bar in self.bars:
            bar.set_postfix(values, refresh=False)

    def close(self) -> None:
        for bar in self.bars:
            bar.close()
        self.redirect.close()
        _open.discard(self)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def close_open() -> None:
    """Close the progress of work an error cut short, so that its last line comes before the error's, not
    after it (when the interpreter would close it on exit)."""
    for progress in list(_open):
        progress.close()
