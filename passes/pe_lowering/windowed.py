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
    b, drift, pad = axis.in_block, axis.drift, axis.pad_lo
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
