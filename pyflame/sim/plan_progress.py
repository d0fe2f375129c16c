"""A progress line while a long plan runs: a GEMM on 720x720 PEs plans for minutes, and a
`pf.eval` that prints nothing for that long looks hung.

Shown on stderr, rewritten in place about once a second, when stderr is a terminal and the
plan has at least `MIN_OPS` ops to run (a loop's body once per iteration); the last line says
how long the plan took. `PYFLAME_PROGRESS=0` turns it off; `PYFLAME_PROGRESS=1` shows it
whatever stderr is (a log file gets one line per update).

    planning 720x720 PEs: 151,220 of 406,940 ops (37%), 2m 41s, about 4m 33s left
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

#: the environment variable that turns the line on ("1") or off ("0")
ENV = "PYFLAME_PROGRESS"

#: plans with fewer ops to run than this show no progress (a few seconds at most)
MIN_OPS = 20_000

#: ops between looks at the clock (a look costs more than an op's bookkeeping here)
CHECK_EVERY = 256


def wanted(total: int, stream: TextIO) -> bool:
    """Whether a plan of `total` ops shows its progress on `stream`."""
    setting = os.environ.get(ENV, "").strip().lower()
    if setting in ("0", "off", "no", "false"):
        return False
    if setting in ("1", "on", "yes", "true"):
        return True
    return total >= MIN_OPS and stream.isatty()


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


class PlanProgress:
    """Counts the ops a plan has run (`tick`, once per op) and shows how far it is."""

    def __init__(self, total: int, what: str, stream: TextIO | None = None):
        self.total, self.what = total, what
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self._next_check = CHECK_EVERY
        self._start = self._shown = time.monotonic()
        self._terminal = self.stream.isatty()

    def tick(self) -> None:
        self.done += 1
        if self.done >= self._next_check:
            self._next_check = self.done + CHECK_EVERY
            now = time.monotonic()
            if now - self._shown >= 1.0:
                self._shown = now
                self._write(self.line(now))

    def line(self, now: float) -> str:
        elapsed = now - self._start
        share = self.done / self.total if self.total else 1.0
        text = (
            f"planning {self.what}: {self.done:,} of {self.total:,} ops ({share:.0%}), "
            f"{_duration(elapsed)}"
        )
        if 0 < share < 1:
            text += f", about {_duration(elapsed * (1 - share) / share)} left"
        return text

    def close(self) -> None:
        """The last line: how long the plan took (it stays on the terminal)."""
        elapsed = time.monotonic() - self._start
        self._write(f"planned {self.what}: {self.done:,} ops in {_duration(elapsed)}")
        if self._terminal:
            self.stream.write("\n")
        self.stream.flush()

    def stop(self) -> None:
        """The plan failed: end the line, so that the error starts on its own."""
        if self._terminal:
            self.stream.write("\n")
            self.stream.flush()

    def _write(self, text: str) -> None:
        if self._terminal:  # rewrite the line in place
            self.stream.write("\r\x1b[2K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


__all__ = ["CHECK_EVERY", "ENV", "MIN_OPS", "PlanProgress", "wanted"]
