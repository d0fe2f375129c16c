"""Lowerings of convolution and pooling: halo exchanges between neighbouring PEs, then one
local op per PE."""

from __future__ import annotations

import math
from collections.abc import Callable

from xdsl.ir import Attribute, Operation, SSAValue

import pyflame.passes.scratch as scratch
from pyflame.core.distribution import Distribution
from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import dist_of
from pyflame.dialects.pe import GridAxis, Port
from pyflame.passes.pe_lowering.state import (
    PELowering,
    Rect,
    Rule,
    grid_rect,
    row_broadcast,
)

# --- convolution and pooling ---------------------------------------------------------------
# mesh.conv2d / mesh.pool2d: a halo exchange between neighbouring PEs, then one local op per PE.
# Per spatial axis (rows first, then columns, so that corners arrive in the second phase with
# the first phase's rows), unless the tile already is the window (`HaloAxis.in_place`):
#
#   %w = pe.alloc "halo_rows"; pe.fill %w (0, or -inf for max pooling)
#   pe.pack  %s, %x  (last `from_prev` rows)  on PE rows 0..P-2;  pe.send %s  (shift south)
#   pe.pack  %n, %x  (first `from_next` rows) on PE rows 1..P-1;  pe.send %n  (shift north)
#   pe.unpack %w, %x (the own block, at pad_lo + row * drift)
#   pe.recv %rs on rows 1..P-1; pe.unpack %w, %rs (above the own block)
#   pe.recv %rn on rows 0..P-2; pe.unpack %w, %rn (below it)
#
# then `pe.conv2d %out, %window, %weight[, %bias]` or `pe.pool2d`. Four channels (one per
# direction), routed like the allreduce chain steps; the IR does not grow with the grid.


def shift(rows: int, cols: int, toward: Port) -> tuple[Rule, ...]:
    """Every PE that has a neighbour `toward` sends it one message."""
    return {
        Port.SOUTH: (
            ((0, 0, rows - 1, cols), Port.RAMP, (Port.SOUTH,)),
            ((1, 0, rows - 1, cols), Port.NORTH, (Port.RAMP,)),
        ),
        Port.NORTH: (
            ((1, 0, rows - 1, cols), Port.RAMP, (Port.NORTH,)),
            ((0, 0, rows - 1, cols), Port.SOUTH, (Port.RAMP,)),
        ),
        Port.EAST: (
            ((0, 0, rows, cols - 1), Port.RAMP, (Port.EAST,)),
            ((0, 1, rows, cols - 1), Port.WEST, (Port.RAMP,)),
        ),
        Port.WEST: (
            ((0, 1, rows, cols - 1), Port.RAMP, (Port.WEST,)),
            ((0, 0, rows, cols - 1), Port.EAST, (Port.RAMP,)),
        ),
    }[toward]


def halo_phase(
    lw: PELowering, src: SSAValue, phase: scratch.HaloPhase, grid: tuple[int, int], fill: float
) -> SSAValue:
    """The window of every PE along tile dim `phase.dim` (2: over the grid's rows, 3: its
    columns), in the buffers passes/scratch.py describes."""
    axis, dim, shape = phase.axis, phase.dim, phase.shape
    rows, cols = grid
    rect = (0, 0, rows, cols)
    elem = src.type.element_type  # type: ignore[attr-defined]  # SSAValue.type is an Attribute; here a mesh tensor type
    along_rows = dim == 2
    lo, hi = (Port.NORTH, Port.SOUTH) if along_rows else (Port.WEST, Port.EAST)
    parts = rows if along_rows else cols

    def line(first: int, count: int) -> Rect:
        return (first, 0, count, cols) if along_rows else (0, first, rows, count)

    slab = phase.slab
    win_shape = phase.window
    win = lw.alloc(rect, math.prod(win_shape), elem, "halo_rows" if along_rows else "halo_cols")
    lw.emit(pe.FillOp(win, value=fill, pes=rect))
    # along an axis of one part (the channel-split conv's W) every PE's window starts alike
    b, drift, pad = axis.in_block, axis.drift if axis.parts > 1 else 0, axis.pad_lo
    grid_axis = GridAxis.ROWS if along_rows else GridAxis.COLS

    def unpack(into: SSAValue, part: SSAValue, count: int, at: int, pes: Rect) -> None:
        """Write `part` (`count` rows or columns) into `into` at `at` + the PE's index * drift."""
        lw.emit(
            pe.UnpackOp(
                into,
                part,
                axis=grid_axis,
                shape=win_shape,
                dim=dim,
                count=count,
                at=(at, drift),
                pes=pes,
            )
        )

    # (count, pack start, senders, receivers, toward, position of the strip in the window)
    moves = []
    if phase.from_prev:
        moves.append(
            (
                phase.from_prev,
                b - phase.from_prev,
                line(0, parts - 1),
                line(1, parts - 1),
                hi,
                pad - phase.from_prev,
            )
        )
    if phase.from_next:
        moves.append((phase.from_next, 0, line(1, parts - 1), line(0, parts - 1), lo, b + pad))
    received = []
    for count, start, senders, receivers, toward, at in moves:
        out = lw.alloc(rect, math.prod(slab(count)), elem, f"halo_to_{toward}")
        lw.emit(pe.PackOp(out, src, shape=shape, dim=dim, start=start, count=count, pes=senders))
        color = lw.channel(shift(rows, cols, toward))
        # asynchronous: every PE sends before it receives, and a halo longer than the queues
        # would otherwise stall each sender on a neighbour that is itself still sending
        sent = lw.emit(pe.SendOp(out, color=color, pes=senders, asynchronous=True))
        received.append((count, receivers, color, at, toward, sent.results[0], senders))
    unpack(win, src, b, pad, rect)
    for count, receivers, color, at, toward, _, _ in received:
        into = lw.alloc(rect, math.prod(slab(count)), elem, f"halo_from_{toward}")
        lw.emit(pe.RecvOp(into, color=color, pes=receivers))
        unpack(win, into, count, at, receivers)
    for *_, token, senders in received:
        lw.emit(pe.WaitOp(token, pes=senders))
    return win


def halo_window(lw: PELowering, op: mesh._WindowedOp, fill: float) -> tuple[SSAValue, tuple]:
    """Every PE's input window (halo included) of a windowed op: (buffer, NCHW shape)."""
    x = dist_of(op.input)  # type: ignore[attr-defined]  # the windowed ops declare input
    buf, shape = lw.buf(op.input), x.block  # type: ignore[attr-defined]  # the windowed ops declare input
    for phase in scratch.halo_phases(x.block, op.axes()):
        buf, shape = halo_phase(lw, buf, phase, x.grid, fill), phase.window
    return buf, shape


def lower_conv2d(op: mesh.Conv2dOp, lw: PELowering) -> SSAValue:
    if op.channel_split:
        return lower_channel_split_conv2d(op, lw)
    window, shape = halo_window(lw, op, 0.0)
    kernel, stride, _, dilation = op.spatial()
    out = lw.alloc_for(op.result, "conv2d")
    lw.emit(
        pe.Conv2dOp(
            out,
            window,
            lw.buf(op.weight),
            None if op.bias is None else lw.buf(op.bias),
            in_shape=shape,
            out_shape=dist_of(op.result).block,
            kernel=kernel,
            stride=stride,
            dilation=dilation,
            groups=op.group_count,
            pes=grid_rect(dist_of(op.result)),
        )
    )
    return out


# --- the channel-split conv2d ----------------------------------------------------------------
# Input [_, c, r, _], weight [c, _, _, _], result [_, c, r, _] on a grid of R x C PEs: PE (i, j)
# holds input channels block j and output channels block j, for H block i and every column
# (W). The output is a sum over input channels, so it is computed SUMMA-like, one step per
# input channel ch (held by PE column k at index l of its block):
#
#   first, per channel index l: its window, once (pe.pack of the channel's slab when a block
#   holds more than one; the halo exchange with the row neighbours as the spatial form's,
#   rows, then the W padding on one part): %win_l (N, 1, wh, W + pads)
#   then per step, double-buffered like SUMMA (two receive buffers, a channel per parity):
#   pe.wait (step ch's receive); pe.wait (step ch-1's send, on its column)
#   pe.send %win_l' / pe.recv %r[(ch+1) % 2] (step ch+1: its column multicasts along the
#   rows, async) -- streaming while this step computes
#   pe.pack %f, %w (input channel ch of the PE's filters)
#   pe.conv2d %y, %r[ch % 2], %f [, %b on the first step] {accumulate from the second step}
#
# No PE ever holds the whole weight or every input channel: the SRAM a PE needs shrinks with
# the grid along both axes.


def channel_windows(
    lw: PELowering, x: Distribution, tile: SSAValue, plan: scratch.ChannelSplitConv
) -> list[SSAValue]:
    """Per channel of a PE's block of a [_, c, r, _] input: its window, made once (the slab
    packed out of the tile when the block holds more than one, then the halo phases)."""
    rows, cols = x.grid
    rect = (0, 0, rows, cols)
    elem = tile.type.element_type  # type: ignore[attr-defined]  # a pe buffer type
    windows = []
    for index in range(x.block[1]):
        window = tile
        if x.block[1] > 1:
            window = lw.alloc(rect, math.prod(plan.slab), elem, "conv_slab")
            lw.emit(pe.PackOp(window, tile, shape=x.block, dim=1, start=index, count=1, pes=rect))
        for phase in plan.phases:
            window = halo_phase(lw, window, phase, x.grid, 0.0)
        windows.append(window)
    return windows


def channel_steps_multicast(
    lw: PELowering,
    x: Distribution,
    windows: list[SSAValue],
    plan: scratch.ChannelSplitConv,
    elem: Attribute,
    name: str,
    compute: Callable[[int, SSAValue], None],
    buffers: Callable[[], None],
) -> None:
    """One step per input channel, double-buffered like SUMMA: wait for this step's window
    (and the previous step's send, on its column), post the next step's multicast along the
    rows (async, a channel and a receive buffer per parity), then `compute(step, received)`;
    `buffers()` allocates the steps' own buffers, after the receive buffers."""
    rows, cols = x.grid
    rect = (0, 0, rows, cols)
    steps = scratch.channel_steps(x)
    routes = row_broadcast(rows, cols)
    # one channel per parity: step ch+1's column starts multicasting while step ch's stream
    # may still pass through its router
    colors = [lw.channel(routes)] + ([lw.fresh_channel(routes)] if len(steps) > 1 else [])
    received = [
        lw.alloc(rect, math.prod(plan.window), elem, f"{name}_recv{p}") for p in range(len(colors))
    ]
    buffers()

    def owner(n: int) -> Rect:
        return (0, steps[n].column, rows, 1)

    def post(n: int) -> tuple[SSAValue, SSAValue]:
        color, into = colors[n % 2], received[n % 2]
        sent = lw.emit(
            pe.SendOp(windows[steps[n].index], color=color, pes=owner(n), asynchronous=True)
        )
        got = lw.emit(pe.RecvOp(into, color=color, pes=rect, asynchronous=True))
        return sent.results[0], got.results[0]

    tokens = [post(0)] if steps else []
    for n in range(len(steps)):
        lw.emit(pe.WaitOp(tokens[n][1], pes=rect))
        if n:
            lw.emit(pe.WaitOp(tokens[n - 1][0], pes=owner(n - 1)))
        if n + 1 < len(steps):
            tokens.append(post(n + 1))
        compute(n, received[n % 2])
    if steps:
        lw.emit(pe.WaitOp(tokens[-1][0], pes=owner(len(steps) - 1)))


def lower_channel_split_conv2d(op: mesh.Conv2dOp, lw: PELowering) -> SSAValue:
    x, w, y = dist_of(op.input), dist_of(op.weight), dist_of(op.result)
    rows, cols = x.grid
    rect = (0, 0, rows, cols)
    elem = mesh.elem_of(op.input)  # (a half conv's output accumulates in f32)
    kernel, stride, _, dilation = op.spatial()
    plan = scratch.ChannelSplitConv.of(x.block, op.axes(), w.block)
    windows = channel_windows(lw, x, lw.buf(op.input), plan)
    out = lw.alloc_for(op.result, "conv2d")
    filters: list[SSAValue] = []

    def buffers() -> None:
        filters.append(lw.alloc(rect, plan.filter_elems, elem, "conv_filters"))

    def compute(n: int, received: SSAValue) -> None:
        lw.emit(
            pe.PackOp(
                filters[0], lw.buf(op.weight), shape=w.block, dim=1, start=n, count=1, pes=rect
            )
        )
        first = n == 0
        lw.emit(
            pe.Conv2dOp(
                out,
                received,
                filters[0],
                None if op.bias is None or not first else lw.buf(op.bias),
                in_shape=plan.window,
                out_shape=y.block,
                kernel=kernel,
                stride=stride,
                dilation=dilation,
                groups=1,
                pes=rect,
                accumulate=not first,
            )
        )

    channel_steps_multicast(lw, x, windows, plan, elem, "conv", compute, buffers)
    return out


# --- conv2d's weight gradient ----------------------------------------------------------------
# mesh.conv2d_weight_grad: per PE, the partial dW[o, c, ky, kx] = sum over its pixels of
# dy[n, o, y, x] * window[n, c, y * s + ky * d, x * s + kx * d] (per tap, the dy tile as
# [o, pixels] times the shifted window as [pixels, c]); the sum over the grid is the
# mesh.allreduce that follows.
#
#   spatial:        the halo exchange of mesh.conv2d, then one pe.conv2d_weight_grad %p,
#                   %window, %dy into the PE's whole [O, C/groups, kh, kw] partial
#   channel-split:  every channel's window made once and multicast along the rows step by
#                   step, as the channel-split conv2d; per step ch
#                   pe.conv2d_weight_grad %s, %r[ch % 2], %dy  (the PE's ob filters' taps)
#                   pe.unpack %p, %s  (at channel ch of the PE's [ob, C, kh, kw] partial)


def lower_conv2d_weight_grad(op: mesh.Conv2dWeightGradOp, lw: PELowering) -> SSAValue:
    kernel, stride, _, dilation = op.spatial()
    x, dy, p = dist_of(op.input), dist_of(op.grad), dist_of(op.result)
    out = lw.alloc_for(op.result, "conv2d_weight_grad")
    if not op.channel_split:
        window, shape = halo_window(lw, op, 0.0)
        lw.emit(
            pe.Conv2dWeightGradOp(
                out,
                window,
                lw.buf(op.grad),
                in_shape=shape,
                out_shape=dy.block,
                kernel=kernel,
                stride=stride,
                dilation=dilation,
                groups=op.group_count,
                pes=grid_rect(p),
            )
        )
        return out
    rows, cols = x.grid
    rect = (0, 0, rows, cols)
    elem = mesh.elem_of(op.input)  # the windows'; a half input's partials are f32
    ob, taps = dy.block[1], kernel[0] * kernel[1]
    plan = scratch.ChannelSplitConv.of(x.block, op.axes(), (ob, 1, *kernel))
    windows = channel_windows(lw, x, lw.buf(op.input), plan)
    step_dw: list[SSAValue] = []
    partial_shape = (ob, x.shape[1], *kernel)  # the PE's [1, ob, C, kh, kw] block

    def buffers() -> None:
        step_dw.append(lw.alloc(rect, ob * taps, mesh.elem_of(op.result), "wgrad_step"))

    def compute(n: int, received: SSAValue) -> None:
        lw.emit(
            pe.Conv2dWeightGradOp(
                step_dw[0],
                received,
                lw.buf(op.grad),
                in_shape=plan.window,
                out_shape=dy.block,
                kernel=kernel,
                stride=stride,
                dilation=dilation,
                groups=1,
                pes=rect,
            )
        )
        lw.emit(
            pe.UnpackOp(
                out,
                step_dw[0],
                axis=GridAxis.ROWS,
                shape=partial_shape,
                dim=1,
                count=1,
                at=(n, 0),
                pes=rect,
            )
        )

    channel_steps_multicast(lw, x, windows, plan, elem, "wgrad", compute, buffers)
    return out


def lower_pool2d(op: mesh.Pool2dOp, lw: PELowering) -> SSAValue:
    kind = op.kind.data
    window, shape = halo_window(lw, op, -math.inf if kind == "max" else 0.0)
    kernel, stride, _, dilation = op.spatial()
    out = lw.alloc_for(op.result, f"{kind}_pool2d")
    lw.emit(
        pe.Pool2dOp(
            kind,
            out,
            window,
            in_shape=shape,
            out_shape=dist_of(op.result).block,
            kernel=kernel,
            stride=stride,
            dilation=dilation,
            pes=grid_rect(dist_of(op.result)),
        )
    )
    return out


LOWERINGS: dict[type[Operation], Callable] = {
    mesh.Conv2dOp: lower_conv2d,
    mesh.Conv2dWeightGradOp: lower_conv2d_weight_grad,
    mesh.Pool2dOp: lower_pool2d,
}
