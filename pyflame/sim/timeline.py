"""What one row of PEs did over time: the planner's record of every op on that row, split into
phases, for `Report.timeline` and the timeline panel of `Report.plot`.

For each executed op that covers the row, every PE of the row contributes up to two intervals:
the cycles it waited (`stall`: its clock advanced by more than the op kept it busy, e.g. a receive
before its message arrived, a send whose links were taken) and then the op's own phase
(`compute`, `send`, `receive`, `exchange`, `route`). Intervals are stored as numpy arrays per op
and joined once, so recording costs O(row width) per op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: the phases, in the order their indices appear in `Timeline.to_dict()["events"]`
PHASES = ("compute", "send", "receive", "exchange", "route", "stall")
STALL = PHASES.index("stall")

#: intervals kept at most (the rest of a very long program is dropped, and says so)
MAX_EVENTS = 200_000


@dataclass
class Timeline:
    """Intervals of one PE row: columns, start and end cycles, phase index and op index."""

    row: int
    ops: list[str] = field(default_factory=list)
    _parts: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    _count: int = 0
    truncated: bool = False

    def record(
        self,
        first_col: int,
        before: np.ndarray,
        after: np.ndarray,
        busy: np.ndarray,
        phase: str,
        what: str,
    ) -> None:
        """One op on columns first_col.. of the row: clocks `before` and `after` it, and the
        cycles it kept each PE `busy`; the rest of the elapsed time is a stall before it."""
        cols = np.arange(first_col, first_col + before.size, dtype=np.int64)
        self.record_cols(cols, before, after, busy, phase, what)

    def record_cols(
        self,
        cols: np.ndarray,
        before: np.ndarray,
        after: np.ndarray,
        busy: np.ndarray,
        phase: str,
        what: str,
    ) -> None:
        """As `record`, for the given columns of the row."""
        if self._count >= MAX_EVENTS:
            self.truncated = True
            return
        elapsed = after - before
        waited = np.clip(elapsed - busy, 0, None)
        op = len(self.ops)
        self.ops.append(what)
        stalled = waited > 0
        worked = elapsed > waited
        stall_end = before + waited
        for mask, start, end, index in (
            (stalled, before, stall_end, STALL),
            (worked, stall_end, after, PHASES.index(phase)),
        ):
            if mask.any():
                n = int(mask.sum())
                self._parts.append(
                    (
                        cols[mask],
                        start[mask].astype(np.int64),
                        end[mask].astype(np.int64),
                        np.full(n, index, dtype=np.int64),
                        np.full(n, op, dtype=np.int64),
                    )
                )
                self._count += n

    def events(self) -> np.ndarray:
        """(n, 5) int64: col, start, end, phase index, op index; sorted by column, then start."""
        if not self._parts:
            return np.zeros((0, 5), dtype=np.int64)
        table = np.stack([np.concatenate(c) for c in zip(*self._parts, strict=True)], axis=1)
        return table[np.lexsort((table[:, 1], table[:, 0]))]

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "phases": list(PHASES),
            "events": self.events().tolist(),
            "ops": list(self.ops),
            "truncated": self.truncated,
        }
