"""Arrival order per (PE, color): the fast engine matches messages in the order the planner
posts them, the machine in the order their heads reach the receiver (docs/simulator.md,
"Messages and matching").

A PE has one input queue per color, so its receives on a color take messages in the order
their heads arrive. The planner posts a message when it executes the send (program order, an
op waiting for an earlier blocked op that overlaps it), so a message posted later whose sender
is ready early (a PE that took no part in the traffic before it and runs ahead) can reach the
receiver before one posted earlier: on the machine the receiver takes it first (a wrong value,
or a wrong size: the wavelet engine's `RoutingError`, or a deadlock). Such a program is racy,
and this check makes the fast engine say so instead of delivering in program order: a message
that could arrive (its sender ready, its path free, `ready + latency`) before the latest head
already posted to the same (PE, color) is a `RoutingError` naming both transfers.
"""

from __future__ import annotations

import numpy as np

from pyflame.core.errors import RoutingError
from pyflame.sim.fabric import pe_str

#: no message has reached this (PE, color) yet
_NONE = np.iinfo(np.int64).min


class ArrivalOrder:
    """Per color, lazily: the latest head arrival posted to each PE and the transfer it
    belongs to (op description and sending PE), to name both in the error."""

    def __init__(self, rows: int, cols: int):
        self.R, self.C = rows, cols
        self.head: dict[int, np.ndarray] = {}
        self.source: dict[int, np.ndarray] = {}  # flat sending PE
        self.op: dict[int, np.ndarray] = {}  # index into self.whats
        self.whats: list[str] = []

    def post(
        self,
        color: int,
        what: str,
        dst_r: np.ndarray,
        dst_c: np.ndarray,
        src_r: np.ndarray,
        src_c: np.ndarray,
        earliest: np.ndarray,
        head: np.ndarray,
    ) -> None:
        """Deliveries of one op (`what`) on `color`: to (dst_r, dst_c) from (src_r, src_c),
        whose heads could arrive at `earliest` (the sender ready, its path free) and do at
        `head` in the fast engine's timing. Each is checked against the messages of earlier
        ops only: one op's messages to one PE are ordered by the fast engine's own link
        arbitration (a send's mailbox order is by head, `Mailboxes.push`; an exchange phase's
        messages are separate streams)."""
        if dst_r.size == 0:
            return
        if color not in self.head:
            shape = (self.R, self.C)
            self.head[color] = np.full(shape, _NONE, dtype=np.int64)
            self.source[color] = np.zeros(shape, dtype=np.int64)
            self.op[color] = np.zeros(shape, dtype=np.int32)
        heads, sources, ops = self.head[color], self.source[color], self.op[color]
        before = heads[dst_r, dst_c]
        early = earliest < before
        if early.any():
            k = int(np.argmax(early))
            r, c = int(dst_r[k]), int(dst_c[k])
            pr, pc = divmod(int(sources[r, c]), self.C)
            self._race(
                color,
                (r, c),
                (what, (int(src_r[k]), int(src_c[k])), int(earliest[k])),
                (self.whats[int(ops[r, c])], (pr, pc), int(before[k])),
            )
        self.whats.append(what)
        # the latest head per PE (np.maximum.at, then who holds it)
        np.maximum.at(heads, (dst_r, dst_c), head)
        mine = head == heads[dst_r, dst_c]
        sources[dst_r[mine], dst_c[mine]] = src_r[mine] * self.C + src_c[mine]
        ops[dst_r[mine], dst_c[mine]] = len(self.whats) - 1

    @staticmethod
    def _race(color: int, dst, late, first) -> None:
        what, src, at = late
        f_what, f_src, f_at = first
        raise RoutingError(
            f"{what}: its message from {pe_str(*src)} on color {color} can reach "
            f"{pe_str(*dst)} at cycle {at}, before the message of {f_what} from "
            f"{pe_str(*f_src)} that reaches it at cycle {f_at} and is meant to be received "
            f"first: {pe_str(*dst)} would take them in the other order (a race between two "
            f"transfers on one color; order them, e.g. with a barrier, or give them different "
            "colors)"
        )


__all__ = ["ArrivalOrder"]
