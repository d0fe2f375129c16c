"""A redistribution that changes both sides of the grid, in two stages when that is cheaper.

Moving a tensor from a g0 x g0 grid to a g1 x g1 one (the guide's 4096^2 operands hinted on
40x40 and multiplied on 256x256) in one exchange sends each source's tile to about
(g1/g0 + 1)^2 destinations, and an exchange phase carries at most one message per source and
routes that agree on one color (pyflame/core/exchange_plan.py): 1,824 phases for each operand
at 40 -> 256. The phases beyond the free colors reuse colors, each reuse fenced by a barrier over
the program's PEs (passes/cost_model/barriers.py). Two exchanges that each change one side,
g0 x g0 -> g0 x g1 -> g1 x g1, send each tile to about g1/g0 + 1 destinations per stage:
247 + 247 phases there. The data moves twice, so this is chosen by estimate: each way's
exchanges (passes/cost_model/data_movement.py) plus its share of barriers.

The intermediate grid sits where its tiles do not share PEs with the source's when those are
big (a source tile of 42 KiB leaves no room on its PEs for a second one); plan-memory undoes a
staging whose intermediate does not fit (`unstage`).
"""

from __future__ import annotations

import functools

from xdsl.ir import Operation

from pyflame.core.distribution import Distribution
from pyflame.core.target import Target
from pyflame.dialects import mesh, pe

#: the attribute marking a mesh.redistribute as the first stage of a staged one
STAGED_ATTR = "pf.staged"

#: both grid sides change by at least this factor before staging is considered (a small
#: change has few destinations per source: one exchange is as good)
MIN_FACTOR = 2

#: a source tile of more than this share of the usable SRAM keeps the intermediate grid off
#: its PEs
SHARED_PES_SHARE = 0.25


def _factor(a: int, b: int) -> float:
    return max(a, b) / max(1, min(a, b))


def candidates(src: Distribution, dst: Distribution, target: Target, eb: int) -> list[Distribution]:
    """Intermediate distributions for a two-stage move from `src` to `dst`: the source's rows
    with the destination's columns, or the other way round, at the destination's origin, or
    beside the source grid when its tiles are big."""
    usable = target.usable_sram_bytes
    big = src.local_elems * eb > SHARED_PES_SHARE * usable
    out = []
    for grid in ((src.grid[0], dst.grid[1]), (dst.grid[0], src.grid[1])):
        sr, sc, nr, nc = src.rect
        origins = [dst.origin]
        if big:  # below the source grid, or to its right
            origins = [(sr + nr, dst.origin[1]), (dst.origin[0], sc + nc)]
        for origin in origins:  # the first that fits (each candidate is two estimates)
            mid = dst.with_(grid=grid, origin=origin)
            r0, c0, mr, mc = mid.rect
            if r0 + mr > target.fabric_rows or c0 + mc > target.fabric_cols:
                continue
            if big and pe.rects_overlap(mid.rect, src.rect):
                continue
            if mid.local_elems * eb > SHARED_PES_SHARE * usable:
                continue
            out.append(mid)
            break
    return out


@functools.lru_cache(maxsize=256)
def staged_regrid(
    src: Distribution, dst: Distribution, target: Target, eb: int
) -> Distribution | None:
    """The intermediate distribution of a two-stage move from `src` to `dst`, when the
    estimate says two stages are cheaper than one; None otherwise. Kept per move:
    assign-layouts lowers a program once per candidate layout and placement."""
    if src.split != dst.split or len(src.split) < 2:
        return None
    if (
        _factor(src.grid[0], dst.grid[0]) < MIN_FACTOR
        or _factor(src.grid[1], dst.grid[1]) < MIN_FACTOR
    ):
        return None
    if max(src.local_elems, dst.local_elems) * eb > target.usable_sram_bytes:
        # a tile that cannot fit fails plan-memory whatever the stages: no estimates (each
        # is an exchange plan; the guide's failing 4x4 hint made dozens of them)
        return None
    from pyflame.passes.cost_model.barriers import barrier_share
    from pyflame.passes.cost_model.data_movement import redistribute_cost

    def box(*dists: Distribution) -> tuple[int, int]:
        return (
            max(d.origin[0] + d.grid[0] for d in dists),
            max(d.origin[1] + d.grid[1] for d in dists),
        )

    # (the plans of moves that may never be lowered stay out of the plan cache: at 4096^2
    # five of them held 2.5 GB through the guide's compile)
    direct = redistribute_cost(target, src, dst, eb, keep_plan=False)
    best, best_cycles = None, direct.cycles + barrier_share(target, direct.channels, *box(src, dst))
    for mid in candidates(src, dst, target, eb):
        first = redistribute_cost(target, src, mid, eb, keep_plan=False)
        second = redistribute_cost(target, mid, dst, eb, keep_plan=False)
        phases = first.channels + second.channels
        cycles = first.cycles + second.cycles + barrier_share(target, phases, *box(src, mid, dst))
        if cycles < best_cycles:
            best, best_cycles = mid, cycles
    return best


def unstage(fn_ops: list[Operation]) -> int:
    """Undo every staged move among `fn_ops`: the second stage reads the first stage's input
    again, and the first stage goes. Returns how many."""
    undone = 0
    for op in fn_ops:
        if not (isinstance(op, mesh.RedistributeOp) and STAGED_ATTR in op.attributes):
            continue
        for use in list(op.result.uses):
            use.operation.operands[use.index] = op.input
        op.detach()
        op.erase()
        undone += 1
    return undone


__all__ = ["STAGED_ATTR", "candidates", "staged_regrid", "unstage"]
