"""The progress line of an epoch: a tqdm bar when tqdm is installed, else a text line."""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """A tqdm bar when tqdm is installed (else one rewritten text line on stderr)."""

    def __init__(self, enabled: bool, total: int | None, desc: str, initial: int = 0):
        self.enabled, self.total, self.desc, self.n = enabled, total, desc, initial
        self.bar: Any = None
        self._last = 0.0
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(
            total=total, desc=desc, unit="step", initial=initial, dynamic_ncols=True, leave=True
        )

    def update(self, logs: dict[str, float]) -> None:
        self.n += 1
        if not self.enabled:
            return
        shown = {k: f"{v:.4f}" for k, v in logs.items()}
        if self.bar is not None:
            self.bar.set_postfix(shown, refresh=False)
            self.bar.update(1)
            return
        now = time.monotonic()
        if now - self._last >= 0.1 or self.n == self.total:
            self._last = now
            of = f"/{self.total}" if self.total is not None else ""
            text = " ".join(f"{k} {v}" for k, v in shown.items())
            sys.stderr.write(f"\r{self.desc} {self.n}{of} {text}")
            sys.stderr.flush()

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line)
        else:
            if self.enabled and self.n:
                sys.stderr.write("\n")
            print(line, flush=True)

    def close(self, logs: dict[str, float]) -> None:
        if not self.enabled:
            return
        shown = {k: f"{v:.4f}" for k, v in logs.items()}
        if self.bar is not None:
            self.bar.set_postfix(shown, refresh=False)
            self.bar.close()
            return
        of = f"/{self.total}" if self.total is not None else ""
        text = " ".join(f"{k} {v}" for k, v in shown.items())
        sys.stderr.write(f"\r{self.desc} {self.n}{of} {text}\n")
        sys.stderr.flush()
