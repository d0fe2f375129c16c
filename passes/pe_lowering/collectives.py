"""Lowerings that move data between PEs over routes: reductions (local, then mesh.allreduce /
mesh.reduce by the line plans of pyflame.core.collectives),
transposes, local reshapes and redistribution."""

from __future__ import annotations

from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

from pyflame.core import collectives
from pyflame.core.collectives import CollectiveAlgorithm, Phase
from pyflame.core.reductions import ReductionKind
from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import dist_of, elem_of
from pyflame.passes.pe_lowering.loops import LoopBody
from pyflame.passes.pe_lowering.state import (
    PELowering,
    Rect,
    Span,
    chain_routes,
    exchange_whole,
    grid_multicast,
    grid_rect,
    line_multicast,
)


def lower_local_reduce(op: mesh.LocalReduceOp, lw: PELowering) -> SSAValue:
    src = dist_of(op.input)
    buf = lw.alloc_for(op.result, "partial")
    lw.emit(
        pe.ReduceOp(
            op.kind.data,
            buf,
            lw.buf(op.input),
            shape=src.block,
            dims=tuple(op.dims.get_values()),
            pes=grid_rect(src),
        )
    )
    return buf


def _line_rect(along: str, pos: int, cross: Span) -> Rect:
    return (cross[0], pos, cross[1], 1) if along == "c" else (pos, cross[0], 1, cross[1])


def _emit_at(lw: PELowering, along: str, lines: list[int], cross: Span, make) -> None:
    """`make(rect)` on each of `lines` (positions along `along`, in this order): one op, a
    pe.loop moving it by a fixed step when the positions are evenly spaced (so the IR does not
    grow with the line), else one op per position."""
    if not lines:
        return
    steps = {b - a for a, b in zip(lines, lines[1:], strict=False)}
    if len(lines) < 2 or len(steps) != 1 or 0 in steps:
        for pos in lines:
            lw.emit(make(_line_rect(along, pos, cross)))
        return
    (step,) = steps
    body = LoopBody(lw, 0, len(lines), [])
    body.emit(
        make(_line_rect(along, lines[0], cross)),
        (0, step, 0, 0) if along == "c" else (step, 0, 0, 0),
    )
    body.finish()


#: a line plan with at most this many channels routes them all before its first transfer
#: (they are live together, so no two share a color): the fixed plans' levels then never race
#: on a color. ktree's deeper plans route phase by phase; its search orders the arrivals
#: (pyflame/core/line_search.py `_in_order`).
PREROUTED_CHANNELS = 8


def _sides(chains: Phase) -> list[Phase]:
    """A phase's chains toward higher positions, then those toward lower ones (if any)."""
    return [
        side
        for rising in (True, False)
        if (side := tuple(c for c in chains if len(c) > 1 and (c[1] > c[0]) == rising))
    ]


def reduce_phase(
    lw: PELowering,
    buf: SSAValue,
    along: str,
    n: int,
    chains: Phase,
    cross: Span,
    kind: ReductionKind | str,
    colors: list[int] | None = None,
) -> None:
    """One phase of a line plan: its chains at once, those toward higher positions on one
    channel, those toward lower ones on another (`colors`, else routed here). Each chain's
    first position sends, the middle ones receive, combine and forward (one CE stage each), the
    last keeps the total; a position that ends two chains (one from each side) receives the
    lower side's stream first, then the higher side's. Both channels are routed before either
    is used, so they are live together and never share a color: that order then does not
    depend on which stream arrives first (float sums round the same on every engine and on the
    machine)."""
    sides = _sides(chains)
    if colors is None:
        colors = [lw.channel(chain_routes(along, n, side, cross)) for side in sides]
    for side, color in zip(sides, colors, strict=True):
        reduce_chains(lw, buf, along, side, cross, kind, color)


def reduce_chains(
    lw: PELowering,
    buf: SSAValue,
    along: str,
    chains: Phase,
    cross: Span,
    kind: ReductionKind | str,
    color: int,
) -> None:
    """Chains that all run the same way, on one channel (see `reduce_phase`)."""

    def send(rect: Rect) -> Operation:
        return pe.SendOp(buf, color=color, pes=rect)

    def forward(rect: Rect) -> Operation:
        return pe.RecvOp(buf, color=color, pes=rect, combine=kind, forward=True)

    def keep(rect: Rect) -> Operation:
        return pe.RecvOp(buf, color=color, pes=rect, combine=kind)

    if len(chains) == 1:  # one chain: spelled out, its middle stages one loop
        (c,) = chains
        _emit_at(lw, along, [c[0]], cross, send)
        _emit_at(lw, along, list(c[1:-1]), cross, forward)
        _emit_at(lw, along, [c[-1]], cross, keep)
        return
    # several (short) chains, e.g. a tree's groups: stage by stage, each stage over every chain
    for j in range(max(len(c) for c in chains)):
        for role in (send, forward, keep):
            lines = [
                c[j]
                for c in chains
                if j < len(c) and (send if j == 0 else keep if j == len(c) - 1 else forward) is role
            ]
            _emit_at(lw, along, lines, cross, role)


def reduce_line(
    lw: PELowering,
    buf: SSAValue,
    along: str,
    plan: collectives.LinePlan,
    cross: Span,
    kind: ReductionKind | str,
) -> None:
    """Every line along `along` (on the lines `cross` of the other axis) reduced by `plan`;
    the total then moved to the plan's root if the plan says so."""
    sides = [_sides(phase) for phase in plan.phases]
    if sum(map(len, sides)) <= PREROUTED_CHANNELS:
        colors = [[lw.channel(chain_routes(along, plan.n, s, cross)) for s in ss] for ss in sides]
        for phase, phase_colors in zip(plan.phases, colors, strict=True):
            reduce_phase(lw, buf, along, plan.n, phase, cross, kind, phase_colors)
    else:
        for phase in plan.phases:
            reduce_phase(lw, buf, along, plan.n, phase, cross, kind)
    if plan.moved_from is None:
        return
    color = lw.channel(chain_routes(along, plan.n, [(plan.moved_from, plan.root)], cross))
    lw.emit(pe.SendOp(buf, color=color, pes=_line_rect(along, plan.moved_from, cross)))
    lw.emit(pe.RecvOp(buf, color=color, pes=_line_rect(along, plan.root, cross)))


def multicast_back(
    lw: PELowering, buf: SSAValue, grid: tuple[int, int], roots: dict[str, int]
) -> None:
    """The total, on PE (roots['r'], roots['c']) of every reduced line, multicast to the
    lines' other PEs: one stream per line, or one stream over the grid when both axes were
    reduced."""
    rows, cols = grid
    if "r" in roots and "c" in roots:
        r0, c0 = roots["r"], roots["c"]
        color = lw.channel(grid_multicast(rows, cols, (r0, c0)))
        lw.emit(pe.SendOp(buf, color=color, pes=(r0, c0, 1, 1)))
        others = [
            (0, 0, r0, cols),
            (r0 + 1, 0, rows - r0 - 1, cols),
            (r0, 0, 1, c0),
            (r0, c0 + 1, 1, cols - c0 - 1),
        ]
        for rect in others:
            if rect[2] > 0 and rect[3] > 0:
                lw.emit(pe.RecvOp(buf, color=color, pes=rect))
        return
    ((along, root),) = roots.items()
    n, cross = (cols, (0, rows)) if along == "c" else (rows, (0, cols))
    color = lw.channel(line_multicast(along, n, root, cross))
    lw.emit(pe.SendOp(buf, color=color, pes=_line_rect(along, root, cross)))
    for first, count in ((0, root), (root + 1, n - root - 1)):
        if count > 0:
            rect = (
                (cross[0], first, cross[1], count)
                if along == "c"
                else (first, cross[0], count, cross[1])
            )
            lw.emit(pe.RecvOp(buf, color=color, pes=rect))


def op_wavelets(op: mesh.AllReduceOp | mesh.ReduceOp) -> int:
    """B: the wavelets of one PE's partials."""
    return collectives.wavelets_per_pe(
        dist_of(op.input), getattr(elem_of(op.input), "bitwidth", 32)
    )


def op_algorithm(op: mesh.AllReduceOp | mesh.ReduceOp, lw: PELowering) -> CollectiveAlgorithm:
    """The op's `algorithm`, else the cheapest by the cost model."""
    if op.algorithm is not None:
        return op.algorithm.data
    src = dist_of(op.input)
    wavelets = op_wavelets(op)
    lines = collectives.reduced_lines(src, tuple(op.dims.get_values()))
    return collectives.choose(lines, wavelets, lw.target, isinstance(op, mesh.ReduceOp))


def lower_combine(op: mesh.AllReduceOp | mesh.ReduceOp, lw: PELowering) -> SSAValue:
    """Reduce every row (when the dims were split over columns) to its root column, then that
    column (or every column) to its root row, each line by the op's algorithm's plan; an
    allreduce then multicasts the total back from the root, a reduce leaves it on PE row/column
    0, where its result's (collapsed) grid is."""
    src = dist_of(op.input)
    to_root = isinstance(op, mesh.ReduceOp)
    algorithm = op_algorithm(op, lw)
    wavelets = op_wavelets(op)
    buf = lw.writable_copy(op.input, "allreduce")
    axes = "".join(src.split[d] for d in op.dims.get_values())
    rows, cols = src.grid
    roots: dict[str, int] = {}
    if "c" in axes and cols > 1:
        plan = collectives.plan_for(cols, algorithm, to_root, wavelets, lw.target)
        reduce_line(lw, buf, "c", plan, (0, rows), op.kind.data)
        roots["c"] = plan.root
    if "r" in axes and rows > 1:
        # only the root column holds row totals when the columns were reduced too
        cross = (roots["c"], 1) if "c" in roots else (0, cols)
        plan = collectives.plan_for(rows, algorithm, to_root, wavelets, lw.target)
        reduce_line(lw, buf, "r", plan, cross, op.kind.data)
        roots["r"] = plan.root
    if roots and not to_root:
        multicast_back(lw, buf, src.grid, roots)
    return buf


def lower_reshape(op: mesh.ReshapeOp, lw: PELowering) -> SSAValue:
    return lw.buf(op.input)  # the tile bytes do not change


def lower_transpose(op: mesh.TransposeOp, lw: PELowering) -> SSAValue:
    src = dist_of(op.input)
    buf = lw.alloc_for(op.result, "transpose")
    lw.emit(
        pe.TransposeOp(
            buf,
            lw.buf(op.input),
            shape=src.block,
            perm=tuple(op.perm.get_values()),
            pes=grid_rect(src),
        )
    )
    return buf


def lower_redistribute(op: mesh.RedistributeOp, lw: PELowering) -> SSAValue:
    return exchange_whole(op, lw, "redistribute")


LOWERINGS: dict[type[Operation], Callable] = {
    mesh.LocalReduceOp: lower_local_reduce,
    mesh.AllReduceOp: lower_combine,
    mesh.ReduceOp: lower_combine,
    mesh.ReshapeOp: lower_reshape,
    mesh.TransposeOp: lower_transpose,
    mesh.RedistributeOp: lower_redistribute,
}
