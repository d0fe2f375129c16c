"""Lowerings that move data between PEs over routes: reductions (local, then mesh.allreduce /
mesh.reduce by the line plans of pyflame.core.collectives),
transposes, local reshapes and redistribution."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xdsl.ir import Operation, SSAValue

from pyflame.core import collectives
from pyflame.core.collectives import CollectiveAlgorithm, Phase
from pyflame.core.reductions import ReductionKind
from pyflame.core.target import Target
from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import dist_of, elem_of
from pyflame.passes.pe_lowering.loops import LoopBody
from pyflame.passes.pe_lowering.state import (
    PELowering,
    Rect,
    Rule,
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
    sides: list[Phase],
    cross: Span,
    kind: ReductionKind | str,
    colors: list[int],
    open_end: bool = False,
) -> None:
    """One phase of a line plan: its chains at once, those toward higher positions on one
    channel, those toward lower ones on another (`colors`, routed by `reduce_line`). Each
    chain's first position sends, the middle ones receive, combine and forward (one CE stage
    each), the last keeps the total; a position that ends two chains (one from each side)
    receives the lower side's stream first, then the higher side's. Both channels are routed
    before either is used, so they are live together and never share a color: that order then
    does not depend on which stream arrives first (float sums round the same on every engine
    and on the machine). `open_end`: the last side's chain ends in a forward (the root streams
    the total back)."""
    for k, (side, color) in enumerate(zip(sides, colors, strict=True)):
        reduce_chains(lw, buf, along, side, cross, kind, color, open_end and k == len(sides) - 1)


def reduce_chains(
    lw: PELowering,
    buf: SSAValue,
    along: str,
    chains: Phase,
    cross: Span,
    kind: ReductionKind | str,
    color: int,
    open_end: bool = False,
    window: tuple[int, int] | None = None,
) -> None:
    """Chains that all run the same way, on one channel (see `reduce_phase`); `open_end`: the
    one chain's last position forwards instead of keeping; `window`: the chains move that
    slice of the buffer only (a part of a split allreduce)."""

    def send(rect: Rect) -> Operation:
        return pe.SendOp(buf, color=color, pes=rect, window=window)

    def forward(rect: Rect) -> Operation:
        return pe.RecvOp(buf, color=color, pes=rect, combine=kind, forward=True, window=window)

    def keep(rect: Rect) -> Operation:
        return pe.RecvOp(buf, color=color, pes=rect, combine=kind, window=window)

    if len(chains) == 1:  # one chain: spelled out, its middle stages one loop
        (c,) = chains
        _emit_at(lw, along, [c[0]], cross, send)
        _emit_at(lw, along, list(c[1:-1]), cross, forward)
        _emit_at(lw, along, [c[-1]], cross, forward if open_end else keep)
        return
    assert not open_end, "a stream back starts from one chain's end"
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
    back: tuple[Rule, ...] | None = None,
) -> int | None:
    """Every line along `along` (on the lines `cross` of the other axis) reduced by `plan`;
    the total then moved to the plan's root if the plan says so. `back`: the routes of a
    multicast from the root; its last receive then forwards the total onto them as it arrives
    (on the last chain's channel, whose routes gain them); returns that channel."""
    sides = [_sides(phase) for phase in plan.phases]
    configs = line_configs(along, plan, cross, back)
    prerouted = sum(map(len, sides)) <= PREROUTED_CHANNELS
    routed = [[lw.channel(c) for c in cs] for cs in configs] if prerouted else []
    colors: list[int] = []
    for k, ss in enumerate(sides):
        colors = routed[k] if prerouted else [lw.channel(c) for c in configs[k]]
        reduce_phase(
            lw, buf, along, ss, cross, kind, colors, back is not None and k == len(sides) - 1
        )
    if plan.moved_from is not None:
        color = lw.channel(moved_routes(along, plan, cross))
        lw.emit(pe.SendOp(buf, color=color, pes=_line_rect(along, plan.moved_from, cross)))
        lw.emit(pe.RecvOp(buf, color=color, pes=_line_rect(along, plan.root, cross)))
    return colors[-1] if back is not None else None


def line_configs(
    along: str, plan: collectives.LinePlan, cross: Span, back: tuple[Rule, ...] | None = None
) -> list[list[tuple[Rule, ...]]]:
    """The route configuration of each side of each phase of `plan` (one channel each), the
    last one with `back`'s routes added when the root streams the total back on it."""
    sides = [_sides(phase) for phase in plan.phases]
    configs = [[chain_routes(along, plan.n, side, cross) for side in ss] for ss in sides]
    if back is not None:
        assert len(sides[-1][-1]) == 1 and sides[-1][-1][0][-1] == plan.root, plan
        configs[-1][-1] = configs[-1][-1] + back
    return configs


def moved_routes(along: str, plan: collectives.LinePlan, cross: Span) -> tuple[Rule, ...]:
    """The routes of the move of a plan's total to its root (`plan.moved_from` set)."""
    assert plan.moved_from is not None
    return chain_routes(along, plan.n, [(plan.moved_from, plan.root)], cross)


def back_routes(grid: tuple[int, int], roots: dict[str, int]) -> tuple[Rule, ...]:
    """The multicast from PE (roots['r'], roots['c']) to every other PE of the reduced lines:
    over the grid when both axes were reduced, else along each line."""
    rows, cols = grid
    if "r" in roots and "c" in roots:
        return grid_multicast(rows, cols, (roots["r"], roots["c"]))
    ((along, root),) = roots.items()
    n, cross = (cols, (0, rows)) if along == "c" else (rows, (0, cols))
    return line_multicast(along, n, root, cross)


def root_rect(grid: tuple[int, int], roots: dict[str, int]) -> Rect:
    """The PEs holding the totals: one PE when both axes were reduced, else the root line."""
    rows, cols = grid
    if len(roots) == 2:
        return (roots["r"], roots["c"], 1, 1)
    ((along, root),) = roots.items()
    return _line_rect(along, root, (0, rows) if along == "c" else (0, cols))


def receive_back(
    lw: PELowering,
    buf: SSAValue,
    grid: tuple[int, int],
    roots: dict[str, int],
    color: int,
    window: tuple[int, int] | None = None,
) -> None:
    """Every PE of the reduced lines but the root receives the total the root streams back
    on `color` (`back_routes`); `window`: that slice of it."""
    rows, cols = grid
    if "r" in roots and "c" in roots:
        r0, c0 = roots["r"], roots["c"]
        others = [
            (0, 0, r0, cols),
            (r0 + 1, 0, rows - r0 - 1, cols),
            (r0, 0, 1, c0),
            (r0, c0 + 1, 1, cols - c0 - 1),
        ]
        for rect in others:
            if rect[2] > 0 and rect[3] > 0:
                lw.emit(pe.RecvOp(buf, color=color, pes=rect, window=window))
        return
    ((along, root),) = roots.items()
    n, cross = (cols, (0, rows)) if along == "c" else (rows, (0, cols))
    for first, count in ((0, root), (root + 1, n - root - 1)):
        if count > 0:
            rect = (
                (cross[0], first, cross[1], count)
                if along == "c"
                else (first, cross[0], count, cross[1])
            )
            lw.emit(pe.RecvOp(buf, color=color, pes=rect, window=window))


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


@dataclass(frozen=True)
class CombineLayout:
    """How lower_combine reduces an op: its lines (axis, plan, the cross span of its lines)
    in order, the roots, and the multicast back (None for a reduce) and whether the last
    line's root streams into it."""

    lines: tuple[tuple[str, collectives.LinePlan, Span], ...]
    roots: dict[str, int]
    back: tuple[Rule, ...] | None
    streamed: bool


def combine_layout(
    op: mesh.AllReduceOp | mesh.ReduceOp, algorithm: CollectiveAlgorithm, target: Target
) -> CombineLayout:
    src = dist_of(op.input)
    axes = "".join(src.split[d] for d in op.dims.get_values())
    to_root = isinstance(op, mesh.ReduceOp)
    return layout_over(src.grid, axes, to_root, op_wavelets(op), algorithm, target)


def layout_over(
    grid: tuple[int, int],
    axes: str,
    to_root: bool,
    wavelets: int,
    algorithm: CollectiveAlgorithm,
    target: Target,
    plan_wavelets: int | None = None,
) -> CombineLayout:
    """The CombineLayout of a reduction of `wavelets` per PE over the mesh `axes` of `grid`,
    its line plans made for `plan_wavelets` (default: `wavelets`)."""
    rows, cols = grid
    shaped = wavelets if plan_wavelets is None else plan_wavelets
    # the plans of the reduced axes, rows first (their lines: every row; then the root column)
    plans: list[tuple[str, collectives.LinePlan]] = []
    if "c" in axes and cols > 1:
        plans.append(("c", collectives.plan_for(cols, algorithm, to_root, shaped, target)))
    if "r" in axes and rows > 1:
        plans.append(("r", collectives.plan_for(rows, algorithm, to_root, shaped, target)))
    roots = {along: plan.root for along, plan in plans}
    back = None if to_root or not plans else back_routes(grid, roots)
    streamed = back is not None and collectives.streams_back(wavelets, target)
    lines = tuple(
        # only the root column holds row totals when the rows were reduced first
        (along, plan, (0, rows) if along == "c" else (roots["c"], 1) if "c" in roots else (0, cols))
        for along, plan in plans
    )
    return CombineLayout(lines, roots, back, streamed)


def channel_configs(
    op: mesh.AllReduceOp | mesh.ReduceOp, algorithm: CollectiveAlgorithm, target: Target
) -> list[tuple[Rule, ...]]:
    """The route configurations lower_combine opens a channel for, in its order (relative to
    the op's anchor): what choose-collectives counts the colors of an assignment with."""
    if algorithm in collectives.SPLIT and isinstance(op, mesh.AllReduceOp):
        return split_channel_configs(split_layout(op, algorithm, target))
    return layout_configs(combine_layout(op, algorithm, target))


def layout_configs(layout: CombineLayout) -> list[tuple[Rule, ...]]:
    """The route configurations `reduce_by_layout` opens a channel for, in its order."""
    out: list[tuple[Rule, ...]] = []
    for k, (along, plan, cross) in enumerate(layout.lines):
        last = layout.back if layout.streamed and k == len(layout.lines) - 1 else None
        out += [c for cs in line_configs(along, plan, cross, last) for c in cs]
        if plan.moved_from is not None:
            out.append(moved_routes(along, plan, cross))
    if layout.back is not None and not layout.streamed:
        out.append(layout.back)
    return out


@dataclass(frozen=True)
class SplitLayout:
    """How lower_split reduces an allreduce by parts (two_way, rsag): the reduced axes
    (along, n) in order, the parts, each part's element window, the span of the lines each
    part's chains run on per axis, and its roots."""

    axes: tuple[tuple[str, int], ...]
    parts: tuple[collectives.Part, ...]
    windows: tuple[tuple[int, int], ...]
    crosses: tuple[tuple[Span, ...], ...]  # [part][axis]
    roots: tuple[dict[str, int], ...]  # [part]
    grid: tuple[int, int]


def split_layout(
    op: mesh.AllReduceOp, algorithm: CollectiveAlgorithm, target: Target
) -> SplitLayout:
    src = dist_of(op.input)
    rows, cols = src.grid
    axes_used = "".join(src.split[d] for d in op.dims.get_values())
    axes = tuple(
        (along, n) for along, n in (("c", cols), ("r", rows)) if along in axes_used and n > 1
    )
    wavelets = op_wavelets(op)
    parts = collectives.split_parts(tuple(n for _, n in axes), algorithm, wavelets)
    per = 4 // pe.ELEM_BYTES[str(elem_of(op.input))]  # elements per 32-bit wavelet
    elems = src.local_elems
    ends = [min(elems, (p.first + p.wavelets) * per) for p in parts[:-1]] + [elems]
    windows = tuple(
        (p.first * per, end - p.first * per) for p, end in zip(parts, ends, strict=True)
    )
    full = {"c": (0, rows), "r": (0, cols)}
    crosses = tuple(
        tuple(full[along] if k == 0 else (p.plans[0].root, 1) for k, (along, _) in enumerate(axes))
        for p in parts
    )
    roots = tuple(
        {along: plan.root for (along, _), plan in zip(axes, p.plans, strict=True)} for p in parts
    )
    return SplitLayout(axes, parts, windows, crosses, roots, src.grid)


def _chain_group(layout: SplitLayout, k: int, j: int, chain: collectives.Chain) -> int:
    """The channel (of axis k's) a part's chain runs on: on the first axis of rsag's halves,
    the first half's rising chain and the second half's falling one share one (their routes
    touch different router inputs), the other two another (each passes by the owner the
    first two end at: another rule for the same input); otherwise all rising chains on one,
    all falling ones on another."""
    rising = chain[1] > chain[0]
    if k == 0 and layout.parts[j].partial_from is not None:
        return 0 if rising == (j == 0) else 1
    return 0 if rising else 1


def split_channel_configs(layout: SplitLayout) -> list[tuple[Rule, ...]]:
    """The route configurations of a split allreduce, in the order lower_split opens them:
    the owners' partials (one hop each way), then per axis each chain group's (one rule per
    router input: the chains of a group differ only where they end), then one multicast per
    part."""
    out: list[tuple[Rule, ...]] = []
    along0, n0 = layout.axes[0]
    moves = [(p.partial_from, p.plans[0].root) for p in layout.parts if p.partial_from is not None]
    if moves:
        out.append(chain_routes(along0, n0, moves, layout.crosses[0][0]))
    for k, (along, n) in enumerate(layout.axes):
        groups: dict[int, dict[Span, list[collectives.Chain]]] = {}
        for j, chain in collectives.split_order(layout.parts, k):
            group = groups.setdefault(_chain_group(layout, k, j, chain), {})
            group.setdefault(layout.crosses[j][k], []).append(chain)
        for g in sorted(groups):
            config: tuple[Rule, ...] = ()
            for cross, chains in groups[g].items():
                config += chain_routes(along, n, chains, cross)
            out.append(config)
    out += [back_routes(layout.grid, roots) for roots in layout.roots]
    return out


def lower_split(op: mesh.AllReduceOp, lw: PELowering, algorithm: CollectiveAlgorithm) -> SSAValue:
    """An allreduce by parts (two_way, rsag; pyflame.core.collectives.split_parts): rsag's
    owners first send each other their partials of the other's half (asynchronously) and
    combine what they get; on each reduced axis every part's chains move its window of the
    buffer, in `collectives.split_order`, on the channels of `_chain_group` (all routed
    first); the owners wait for their partials' sends; then each part's root sends its part
    back asynchronously by a multicast of its own, every other PE receives the parts in
    order, and the roots wait."""
    src = dist_of(op.input)
    layout = split_layout(op, algorithm, lw.target)
    buf = lw.writable_copy(op.input, "allreduce")
    if not layout.parts:
        return buf
    configs = split_channel_configs(layout)
    kind = op.kind.data
    along0, _ = layout.axes[0]
    cross0 = layout.crosses[0][0]
    moving = [(j, p) for j, p in enumerate(layout.parts) if p.partial_from is not None]
    waits: list[tuple[SSAValue, Rect]] = []
    c = 0
    if moving:
        color = lw.channel(configs[0])
        c = 1
        for j, part in moving:
            assert part.partial_from is not None
            rect = _line_rect(along0, part.partial_from, cross0)
            send = pe.SendOp(
                buf, color=color, pes=rect, asynchronous=True, window=layout.windows[j]
            )
            lw.emit(send)
            waits.append((send.results[0], rect))
        for j, part in moving:
            rect = _line_rect(along0, part.plans[0].root, cross0)
            lw.emit(pe.RecvOp(buf, color=color, pes=rect, combine=kind, window=layout.windows[j]))
    for k, (along, _n) in enumerate(layout.axes):
        order = collectives.split_order(layout.parts, k)
        groups = sorted({_chain_group(layout, k, j, ch) for j, ch in order})
        colors = {g: lw.channel(configs[c + i]) for i, g in enumerate(groups)}
        c += len(groups)
        for j, chain in order:
            color = colors[_chain_group(layout, k, j, chain)]
            cross = layout.crosses[j][k]
            reduce_chains(lw, buf, along, (chain,), cross, kind, color, window=layout.windows[j])
    for token, rect in waits:  # the partials have long gone; the back overwrites them
        lw.emit(pe.WaitOp(token, pes=rect))
    waits = []
    back = [lw.channel(cfg) for cfg in configs[c:]]
    for j, roots in enumerate(layout.roots):
        rect = root_rect(src.grid, roots)
        send = pe.SendOp(buf, color=back[j], pes=rect, asynchronous=True, window=layout.windows[j])
        lw.emit(send)
        waits.append((send.results[0], rect))
    for j, roots in enumerate(layout.roots):
        receive_back(lw, buf, src.grid, roots, back[j], layout.windows[j])
    for token, rect in waits:
        lw.emit(pe.WaitOp(token, pes=rect))
    return buf


def lower_combine(op: mesh.AllReduceOp | mesh.ReduceOp, lw: PELowering) -> SSAValue:
    """Reduce every row (when the dims were split over columns) to its root column, then that
    column (or every column) to its root row, each line by the op's algorithm's plan; in an
    allreduce the root's last receive forwards the total as it arrives onto a multicast back to
    every PE (which receive it), a reduce leaves it on PE row/column 0, where its result's
    (collapsed) grid is."""
    src = dist_of(op.input)
    algorithm = op_algorithm(op, lw)
    if algorithm in collectives.SPLIT and isinstance(op, mesh.AllReduceOp):
        return lower_split(op, lw, algorithm)
    layout = combine_layout(op, algorithm, lw.target)
    buf = lw.writable_copy(op.input, "allreduce")
    reduce_by_layout(lw, buf, src.grid, layout, op.kind.data)
    return buf


def reduce_by_layout(
    lw: PELowering,
    buf: SSAValue,
    grid: tuple[int, int],
    layout: CombineLayout,
    kind: ReductionKind | str,
) -> None:
    """Reduce every PE's `buf` by `layout`'s lines, then (an allreduce) multicast the total
    back from the roots into every PE's `buf`."""
    back, roots = layout.back, layout.roots
    color = None
    for k, (along, plan, cross) in enumerate(layout.lines):
        last = back if layout.streamed and k == len(layout.lines) - 1 else None
        color = reduce_line(lw, buf, along, plan, cross, kind, last)
    if back is not None and not layout.streamed:  # the root sends the total once it has it
        color = lw.channel(back)
        lw.emit(pe.SendOp(buf, color=color, pes=root_rect(grid, roots)))
    if color is not None and back is not None:
        receive_back(lw, buf, grid, roots, color)


def group_layout(
    op: mesh.AllReduceGroupOp, algorithm: CollectiveAlgorithm, target: Target
) -> CombineLayout:
    """The CombineLayout of a group's packed buffer: its inputs' axes on its B, the line plans
    made for `plan_b` (a plan of `collectives.plan_for` depends on B for ktree only: the
    members' own B, set by combine-collectives where the packed buffer's would differ)."""
    src = dist_of(op.inputs[0])
    axes = mesh.reduced_axes(src, op.member_dims[0])
    return layout_over(src.grid, axes, False, op.packed_wavelets, algorithm, target, op.plan_b)


def group_algorithm(op: mesh.AllReduceGroupOp, target: Target) -> CollectiveAlgorithm:
    """The group's `algorithm`, else the cheapest line-plan one for the packed buffer."""
    if op.algorithm is not None:
        return op.algorithm.data
    return collectives.choose(op.reduced_lines, op.packed_wavelets, target, False, split=False)


#: the mesh ops whose lowering makes their result in one buffer of its own (`alloc_for`) and
#: writes all of it: a group's operand made by one is made straight into the packed buffer
MADE_IN_PLACE = (
    mesh.LocalReduceOp,
    mesh.LocalMatmulOp,
    mesh.UnaryOp,
    mesh.BinaryOp,
    mesh.SelectOp,
    mesh.ConvertOp,
    mesh.BroadcastOp,
)


def made_in_place(v: SSAValue) -> bool:
    """Whether a group's operand `v` is made straight into its window of the packed buffer:
    its producer is one of MADE_IN_PLACE and nothing else reads it."""
    return isinstance(v.owner, MADE_IN_PLACE) and sum(1 for _ in v.uses) == 1


def plan_windows(ops: list[Operation], lw: PELowering) -> None:
    """Before lowering: the operands of each mesh.allreduce_group that its producer can make
    straight into the packed buffer (`MADE_IN_PLACE`, read by nothing else: the reduction
    overwrites them), and so need no copy in."""
    for op in ops:
        if not isinstance(op, mesh.AllReduceGroupOp):
            continue
        for v, at in zip(op.inputs, op.member_offsets, strict=True):
            if made_in_place(v):
                lw.windows[v] = (op, at)


def lower_allreduce_group(op: mesh.AllReduceGroupOp, lw: PELowering) -> list[SSAValue]:
    """One buffer holds every PE's tiles of the inputs one after the other (`member_offsets`):
    an input made straight into its window (`plan_windows`) is there already, another is
    copied in (`pe.unpack` at its offset); the lines reduce that buffer as one allreduce would
    (`reduce_by_layout`: one message per stage for all the inputs), and each result is its
    window of it (no copy out). Each value is combined over the same PEs in the same order as
    by its own allreduce with the same plan: the same numbers."""
    src = dist_of(op.inputs[0])
    total = op.packed_elems
    rect = grid_rect(src)
    packed = lw.packed_buffer(op)
    outs = []
    for v, at, n in zip(op.inputs, op.member_offsets, op.member_elems, strict=True):
        buf = lw.buf(v)
        owner = buf.owner
        if isinstance(owner, pe.AllocOp) and owner.whole is packed and owner.window_start == at:
            outs.append(buf)  # made in place: the result is the same window
            continue
        lw.emit(
            pe.UnpackOp(packed, buf, axis="r", shape=(total,), dim=0, count=n, at=(at, 0), pes=rect)
        )
        outs.append(lw.window(op, at, n, "allreduce"))
    layout = group_layout(op, group_algorithm(op, lw.target), lw.target)
    reduce_by_layout(lw, packed, src.grid, layout, op.kind.data)
    return outs


def lower_reshape(op: mesh.ReshapeOp, lw: PELowering) -> SSAValue:
    return lw.buf(op.input)  # the tile bytes do not change


def lower_transpose(op: mesh.TransposeOp, lw: PELowering) -> SSAValue:
    if op in lw.folded_transposes:  # SUMMA reads the tiles transposed (matmul.tile_transposes)
        return lw.buf(op.input)
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
    mesh.AllReduceGroupOp: lower_allreduce_group,
    mesh.ReduceOp: lower_combine,
    mesh.ReshapeOp: lower_reshape,
    mesh.TransposeOp: lower_transpose,
    mesh.RedistributeOp: lower_redistribute,
}
