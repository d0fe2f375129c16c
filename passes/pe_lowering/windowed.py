"""Lowerings of convolution and pooling: halo exchanges between neighbouring PEs, then one
local op per PE."""

from __future__ import annotations

import math
from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

import pyflame.passes.scratch as scratch
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
            groups=op.groups.value.data,
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
#   pe.pack %s, %x (channel l) on PE column k      (none when a column holds one channel)
#   pe.send %s (multicast along the rows, async) on PE column k
#   pe.recv %slab on every PE                      (N, 1, bh, W): channel ch of H block i
#   the slab's halo exchange with the row neighbours (as mesh.conv2d's spatial form, rows;
#   then the W padding on one part)
#   pe.pack %wc, %w (input channel ch of the PE's filters)
#   pe.conv2d %y, %window, %wc [, %b on the first step] {accumulate from the second step}
#   pe.wait (the send) on PE column k
#
# No PE ever holds the whole weight or every input channel: the SRAM a PE needs shrinks with
# the grid along both axes.


def lower_channel_split_conv2d(op: mesh.Conv2dOp, lw: PELowering) -> SSAValue:
    x, w, y = dist_of(op.input), dist_of(op.weight), dist_of(op.result)
    rows, cols = x.grid
    rect = (0, 0, rows, cols)
    elem = op.result.type.element_type  # type: ignore[attr-defined]  # a mesh tensor type
    kernel, stride, _, dilation = op.spatial()
    slab_shape = scratch.channel_slab(x.block)
    axes = op.axes()
    phases = scratch.halo_phases(slab_shape, axes)
    in_shape = phases[-1].window if phases else slab_shape
    wb = w.block
    out = lw.alloc_for(op.result, "conv2d")
    color = lw.channel(row_broadcast(rows, cols))
    tile = lw.buf(op.input)
    for n, step in enumerate(scratch.channel_steps(x)):
        owner = (0, step.column, rows, 1)
        if x.block[1] > 1:
            sent_buf = lw.alloc(rect, math.prod(slab_shape), elem, "conv_slab_out")
            lw.emit(
                pe.PackOp(
                    sent_buf, tile, shape=x.block, dim=1, start=step.index, count=1, pes=owner
                )
            )
        else:
            sent_buf = tile
        # asynchronous: the owner receives its own multicast too
        sent = lw.emit(pe.SendOp(sent_buf, color=color, pes=owner, asynchronous=True))
        slab = lw.alloc(rect, math.prod(slab_shape), elem, "conv_slab")
        lw.emit(pe.RecvOp(slab, color=color, pes=rect))
        window = slab
        for phase in phases:
            window = halo_phase(lw, window, phase, x.grid, 0.0)
        filters = lw.alloc(rect, wb[0] * math.prod(wb[2:]), elem, "conv_filters")
        lw.emit(pe.PackOp(filters, lw.buf(op.weight), shape=wb, dim=1, start=n, count=1, pes=rect))
        first = n == 0
        lw.emit(
            pe.Conv2dOp(
                out,
                window,
                filters,
                None if op.bias is None or not first else lw.buf(op.bias),
                in_shape=in_shape,
                out_shape=y.block,
                kernel=kernel,
                stride=stride,
                dilation=dilation,
                groups=1,
                pes=rect,
                accumulate=not first,
            )
        )
        lw.emit(pe.WaitOp(sent.results[0], pes=owner))
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
    mesh.Pool2dOp: lower_pool2d,
}
