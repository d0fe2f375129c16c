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

#: intervals kept at most: past it, touching intervals of one phase on one PE are merged
#: (`merged`); only when that leaves more than half of it is the rest of the program dropped
#: (`truncated`)
MAX_EVENTS = 2_000_000


@dataclass
class Timeline:
    """Intervals of one PE row: columns, start and end cycles, phase index and op index."""

    row: int
    ops: list[str] = field(default_factory=list)
    _parts: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    _count: int = 0
    truncated: bool = False
    #: touching intervals of one phase on one PE were merged into one (named by its first op)
    merged: bool = False

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
        if self._count >= MAX_EVENTS and not self.truncated:
            self._merge()
            self.truncated = self._count > MAX_EVENTS // 2
        if self.truncated:
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

    def _merge(self) -> None:
        """Join each PE's touching intervals of one phase (a run of back-to-back ops of one
        kind, a long stall made of many waits) into one, named by its first op."""
        table = self.events()
        if len(table) < 2:
            return
        col, start, end, phase = table[:, 0], table[:, 1], table[:, 2], table[:, 3]
        joins = (col[1:] == col[:-1]) & (phase[1:] == phase[:-1]) & (start[1:] == end[:-1])
        first = np.concatenate(([True], ~joins))
        heads = np.flatnonzero(first)
        last = np.concatenate((heads[1:], [len(table)])) - 1
        out = table[heads].copy()
        out[:, 2] = end[last]
        self._parts = [tuple(np.ascontiguousarray(out[:, k]) for k in range(5))]
        self._count = len(out)
        self.merged = self.merged or len(out) < len(table)

    def events(self) -> np.ndarray:
        """(n, 5) int64: col, start, end, phase index, op index; sorted by column, then start."""
        if not self._parts:
            return np.zeros((0, 5), dtype=np.int64)
        table = np.stack([np.concatenate(c) for c in zip(*self._parts, strict=True)], axis=1)
        return table[np.lexsort((table[:, 1], table[:, 0]))]

    def raster(self, width: int) -> tuple[int, np.ndarray, int]:
        """The timeline sampled at `width` cycles spread evenly over it, for drawing a long one:
        (its first column, each column's phase index at each sample from there to its last
        column (-1: none) as (columns, width) int8, the last cycle)."""
        table = self.events()
        if not len(table):
            return 0, np.zeros((0, width), np.int8), 0
        last = int(table[:, 2].max())
        times = (np.arange(width) + 0.5) * (last / width)
        cols, first = np.unique(table[:, 0], return_index=True)
        lo = int(cols[0])
        image = np.full((int(cols[-1]) - lo + 1, width), -1, dtype=np.int8)
        bounds = [*first[1:], len(table)]
        for col, start, stop in zip(cols, first, bounds, strict=True):
            mine = table[start:stop]  # this column's intervals, by start
            at = np.searchsorted(mine[:, 1], times, side="right") - 1
            inside = (at >= 0) & (times < mine[np.maximum(at, 0), 2])
            image[int(col) - lo, inside] = mine[at[inside], 3]
        return lo, image, last

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "phases": list(PHASES),
            "events": self.events().tolist(),
            "ops": list(self.ops),
            "truncated": self.truncated,
            "merged": self.merged,
        }
