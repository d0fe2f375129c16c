"""The timing of pipelined reduction chains on a line of PEs, and the search for the tree of
chains with the fewest cycles (the `ktree` collective of pyflame/core/collectives.py).

Pure arithmetic (no dialect, no plan type): `StageCosts` holds the figures a chain stage pays,
`search_line` returns the chains of the best tree, level by level.

Timing (the simulator's, docs/simulator.md "Streams, queues and back-pressure"; every PE starts
at 0 with its partial in its buffer; `c` the vector issue, `lat(h) = 2 ramp + h hops`):
- a chain's first position sends at `ready + c` (its stream's start `S`);
- a middle position receives, combines and forwards: its outgoing stream starts at
  `max(ready + c, S + lat(h)) + ce_forward` (h the hops from the previous position);
- the last position keeps the total: `ready = max(ready + c, S + lat(h)) + B + activation`
  (its combine streams the B wavelets, then its task wakes up).

Search. A segment of m positions is reduced to its end position by one chain that visits some
of its positions, the routers in between passing the stream through; each visited position
first reduces the sub-segment it owns (the positions up to the previous visited one) on a
deeper level, with the same rule. `best[m]` is the segment's least ready time; `start[s]` the
least start of the stream leaving a chain once it has covered the s positions farthest from the
root. Both grow together:

    start[s] = min(best[s] + c,                                      (s's owner starts the chain)
                   min over s' < s of max(best[s - s'] + c, start[s'] + lat(s - s')) + fwd)
    best[m]  = min over m0 < m of max(best[m0] + c, start[m - m0] + lat(m0)) + B + activation

O(n^2) in numpy. Segments far from the root get short chains, near ones long ones (they have
until the chain passing them arrives), so all levels run at once: on 64 positions with B = 1,
116 cycles against 63 hops (a single chain: about 440).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from pyflame.core.target import Target

if TYPE_CHECKING:  # numpy is imported where the search runs: the passes load without it
    import numpy as np

#: chains of one level (each from its first position to the position that keeps the total)
Level = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class StageCosts:
    """What one stage of a reduction chain costs, in cycles (from a Target and B)."""

    issue: int  #: a fabric transfer's vector-instruction issue
    ramps: int  #: down and up a ramp (2 ramp latencies)
    hop: int  #: one router-to-router hop
    forward: int  #: a receive-combine-forward's compute-engine time per wavelet
    stream: int  #: B: cycles to stream the vector (one wavelet per cycle)
    wake: int  #: a completed receive waking its task

    @staticmethod
    def of(target: Target, wavelets: int) -> StageCosts:
        bw = target.link_wavelets_per_cycle
        return StageCosts(
            issue=int(target.vector_issue_cycles),
            ramps=2 * int(target.ramp_latency_cycles),
            hop=int(target.hop_latency_cycles),
            forward=int(target.ce_forward_cycles),
            stream=-(-max(1, wavelets) // bw),
            wake=int(target.task_activation_cycles),
        )

    def latency(self, hops: int) -> int:
        """Head of a stream from the sender's ramp into the receiver's input queue."""
        return self.ramps + hops * self.hop

    @property
    def keep(self) -> int:
        """A chain's last receive: the combine streams B wavelets, then the task wakes."""
        return self.stream + self.wake


def chain_times(
    chains: Level,
    ready: list[int],
    costs: StageCosts,
    clock: list[int] | None = None,
    open_end: bool = False,
) -> int:
    """Advance `ready` (per position: when its buffer holds its partial and it may issue) over
    one level's chains, in the order given (a position ending two chains keeps them in that
    order). `clock`, when given, gets every position's end (senders' streams included).
    `open_end`: the last chain's last position forwards the total instead of keeping it (an
    allreduce's root streaming it back); returns that stream's start (else 0)."""
    start = 0
    for i, chain in enumerate(chains):
        start = ready[chain[0]] + costs.issue
        if clock is not None:
            clock[chain[0]] = max(clock[chain[0]], start + costs.stream)
        last = chain[-1] if not (open_end and i == len(chains) - 1) else None
        for u, v in zip(chain, chain[1:], strict=False):
            head = start + costs.latency(abs(v - u))
            if v != last:
                start = max(ready[v] + costs.issue, head) + costs.forward
                ready[v] = start + costs.stream + costs.wake
            else:
                ready[v] = max(ready[v] + costs.issue, head) + costs.keep
            if clock is not None:
                clock[v] = max(clock[v], ready[v])
    return start if open_end else 0


@lru_cache(maxsize=64)
def _tables(n: int, costs: StageCosts) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """best[m], start[s] for m, s < n+1, with their choices: for best, the root's own
    sub-segment m0; for start, the covered count s' before the last visited position (0: the
    chain starts there)."""
    import numpy as np

    big = np.iinfo(np.int64).max // 4
    best = np.zeros(n + 1, dtype=np.int64)
    start = np.full(n + 1, big, dtype=np.int64)
    root_own = np.zeros(n + 1, dtype=np.int64)
    before = np.zeros(n + 1, dtype=np.int64)
    c, fwd = costs.issue, costs.forward
    for s in range(1, n + 1):
        if s > 1:  # the root keeps its own sub-segment m0, then the chain covering the rest
            own = np.arange(1, s)
            head = start[s - own] + _lat(costs, own)
            keep = np.maximum(best[own] + c, head) + costs.keep
            keep[~_in_order(head, best[own], own, costs)] = big
            k = int(np.argmin(keep))
            best[s], root_own[s] = keep[k], own[k]
        # the chain's last visited position owns the s - s' nearest of the s positions (s' = 0:
        # it is the chain's first position)
        prev = np.arange(1, s)
        head = start[prev] + _lat(costs, s - prev)
        via = np.maximum(best[s - prev] + c, head) + fwd
        via[~_in_order(head, best[s - prev], s - prev, costs)] = big
        options = np.concatenate(([best[s] + c], via))
        k = int(np.argmin(options))
        start[s], before[s] = options[k], k
    return best, start, root_own, before


def _in_order(
    head: np.ndarray, ready: np.ndarray, own: np.ndarray, costs: StageCosts
) -> np.ndarray:
    """Whether a chain's stream reaches a visited position after the stream of that position's
    own sub-segment (which arrived at the latest `keep` before the position was ready): the
    levels may share a color (allocate-colors reuses one whose rules agree), and a PE takes the
    messages of a color in arrival order, so they must arrive in program order."""
    return (own <= 1) | (head > ready - costs.keep)


def _lat(costs: StageCosts, hops: np.ndarray) -> np.ndarray:
    return costs.ramps + hops * costs.hop


def _owned(s: int, before: np.ndarray) -> list[int]:
    """The sub-segment sizes of a chain covering s positions, from the farthest."""
    sizes: list[int] = []
    while s > 0:
        prev = int(before[s])
        sizes.append(s - prev)
        s = prev
    return sizes[::-1]


def _segment(
    base: int, m: int, sign: int, tables, level: int, out: dict[int, list[tuple[int, ...]]]
) -> None:
    """The chains reducing positions base, base + sign, ..., base + sign (m - 1) to `base`."""
    if m <= 1:
        return
    _, _, root_own, before = tables
    own = int(root_own[m])
    _cover(base + sign * own, m - own, sign, tables, level, out, end=base)
    _segment(base, own, sign, tables, level + 1, out)


def _cover(
    near: int,
    s: int,
    sign: int,
    tables,
    level: int,
    out: dict[int, list[tuple[int, ...]]],
    end: int,
) -> None:
    """The chain covering the s positions near, near + sign, ... (farthest first), ending at
    `end`; each visited position's own sub-segment reduced a level deeper."""
    _, _, _, before = tables
    sizes = _owned(s, before)
    far = near + sign * (s - 1)
    chain, pos = [], far + sign
    for size in sizes:
        pos -= sign * size
        chain.append(pos)
        _segment(pos, size, sign, tables, level + 1, out)
    out.setdefault(level, []).append((*chain, end))


def search_line(
    n: int, costs: StageCosts, to_root: bool, streamed: bool = False
) -> tuple[tuple[Level, ...], int, int]:
    """(levels deepest first, root, estimated cycles) of the best tree of chains on a line of
    n positions: to position 0 when `to_root`, else to the root that minimises the reduction
    plus a multicast back from it to its farthest position (`streamed`: the root forwards the
    total onto the multicast as it arrives, instead of keeping it and then sending it)."""
    if n <= 1:
        return (), 0, 0
    import numpy as np

    tables = _tables(n, costs)
    best, start = tables[0], tables[1]
    out: dict[int, list[tuple[int, ...]]] = {}
    if to_root:
        _segment(0, n, 1, tables, 0, out)
        root, cycles = 0, int(best[n])
    else:
        # left part [0, a) reduced to a - 1 (a mirrored segment), then the chain covering the
        # right part (a, n) ends there too; a = n: the whole line toward n - 1
        a = np.arange(1, n + 1)
        right = n - a
        head = np.maximum(best[a] + costs.issue, start[right] + costs.latency(1))
        done = np.where(right > 0, head + costs.keep, best[a])
        far = np.maximum(a - 1, n - a)
        if streamed:  # the last receive forwards: its stream starts instead of the keep
            out_start = np.where(right > 0, head, best[a] - costs.keep) + costs.forward
            total = out_start + _lat(costs, far) + costs.keep
        else:
            total = done + costs.issue + _lat(costs, far) + costs.keep
        k = int(np.argmin(total))
        root = k
        _segment(root, root + 1, -1, tables, 0, out)
        if n - 1 - root > 0:
            _cover(root + 1, n - 1 - root, 1, tables, 0, out, end=root)
        cycles = int(done[k])
    levels = tuple(tuple(out[lv]) for lv in sorted(out, reverse=True))
    return levels, root, cycles
