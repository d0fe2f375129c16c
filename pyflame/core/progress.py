"""Progress lines while a long compile or plan runs: a GEMM on 720x720 PEs compiles and
plans for many minutes, and a `pf.eval` that prints nothing for that long looks hung.

On stderr, when it is a terminal: a pass of the compiler still running after `PASS_QUIET`
seconds is named (`PassProgress`, pyflame/compiler.py `run_pipeline`), and a plan of at least
`MIN_OPS` ops (a loop's body once per iteration) shows how far it is, rewritten in place about
once a second, then how long it took (`PlanProgress`, pyflame/sim/planner.py).
`PYFLAME_PROGRESS=0` turns them off; `PYFLAME_PROGRESS=1` shows them whatever stderr is (a
log file gets one line per update) and for any plan.

    compiling: flame-to-mesh ... 2m 24s
    planning 720x720 PEs: 151,220 of 406,940 ops (37%), 2m 41s, about 4m 33s left
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, TextIO

#: the environment variable that turns the line on ("1") or off ("0")
ENV = "PYFLAME_PROGRESS"

#: plans with fewer ops to run than this show no progress (a few seconds at most)
MIN_OPS = 20_000

#: ops between looks at the clock (a look costs more than an op's bookkeeping here)
CHECK_EVERY = 256


#: seconds a compiler pass runs before it is named
PASS_QUIET = 3.0


def _setting() -> bool | None:
    """PYFLAME_PROGRESS: True (show), False (never), None (on a terminal, when long)."""
    setting = os.environ.get(ENV, "").strip().lower()
    if setting in ("0", "off", "no", "false"):
        return False
    if setting in ("1", "on", "yes", "true"):
        return True
    return None


def wanted(total: int, stream: TextIO) -> bool:
    """Whether a plan of `total` ops shows its progress on `stream`."""
    setting = _setting()
    if setting is not None:
        return setting
    return total >= MIN_OPS and stream.isatty()


class PassProgress:
    """A `PassPipeline` callback: a pass still running after `PASS_QUIET` seconds is named on
    the stream (a timer thread writes the line, so a single long pass shows while it runs),
    and when it ends, how long it took. Quick passes say nothing."""

    def __init__(self, stream: TextIO | None = None, quiet: float | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = PASS_QUIET if quiet is None else quiet
        self._timer: threading.Timer | None = None
        self._started = 0.0
        self._shown = threading.Event()
        self._terminal = self.stream.isatty()

    @staticmethod
    def wanted(stream: TextIO) -> bool:
        setting = _setting()
        return setting if setting is not None else stream.isatty()

    def __call__(self, previous: Any, module: Any, following: Any) -> None:
        self._end()
        if following is not None:
            self._start(following.name)

    def _start(self, name: str) -> None:
        self._started = time.monotonic()
        self._shown.clear()
        self._name = name
        self._timer = threading.Timer(self.quiet, self._show)
        self._timer.daemon = True
        self._timer.start()

    def _show(self) -> None:
        self._shown.set()
        self._write(f"compiling: {self._name} ...")

    def _end(self) -> None:
        if self._timer is None:
            return
        self._timer.cancel()
        self._timer.join()
        self._timer = None
        if self._shown.is_set():
            elapsed = time.monotonic() - self._started
            self._write(f"compiling: {self._name} ... {_duration(elapsed)}", end=True)

    def close(self) -> None:
        """The pipeline stopped (an error): no line is left waiting for its end."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()
            self._timer = None
            if self._shown.is_set() and self._terminal:
                self.stream.write("\n")
                self.stream.flush()

    def _write(self, text: str, end: bool = False) -> None:
        if self._terminal:
            self.stream.write("\r\x1b[2K" + text + ("\n" if end else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


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


__all__ = ["CHECK_EVERY", "ENV", "MIN_OPS", "PASS_QUIET", "PassProgress", "PlanProgress", "wanted"]
