"""Lowerings of convolution and pooling: halo exchanges between neighbouring PEs, then one
local op per PE."""

from __future__ import annotations

import math
from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

import pyflame.passes.scratch as scratch
from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import dist_of
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


def shift(rows: int, cols: int, toward: str) -> tuple[Rule, ...]:
    """Every PE that has a neighbour `toward` sends it one message."""
    return {
        "south": (
            ((0, 0, rows - 1, cols), "ramp", ("south",)),
            ((1, 0, rows - 1, cols), "north", ("ramp",)),
        ),
        "north": (
            ((1, 0, rows - 1, cols), "ramp", ("north",)),
            ((0, 0, rows - 1, cols), "south", ("ramp",)),
        ),
        "east": (
            ((0, 0, rows, cols - 1), "ramp", ("east",)),
            ((0, 1, rows, cols - 1), "west", ("ramp",)),
        ),
        "west": (
            ((0, 1, rows, cols - 1), "ramp", ("west",)),
            ((0, 0, rows, cols - 1), "east", ("ramp",)),
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
    lo, hi = ("north", "south") if along_rows else ("west", "east")
    parts = rows if along_rows else cols

    def line(first: int, count: int) -> Rect:
        return (first, 0, count, cols) if along_rows else (0, first, rows, count)

    slab = phase.slab
    win_shape = phase.window
    win = lw.alloc(rect, math.prod(win_shape), elem, "halo_rows" if along_rows else "halo_cols")
    lw.op(pe.FillOp, [win], rect, value=fill)
    b, drift, pad = axis.in_block, axis.drift, axis.pad_lo
    placed = {"shape": win_shape, "dim": dim, "axis": "r" if along_rows else "c"}
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
        lw.op(pe.PackOp, [out, src], senders, shape=shape, dim=dim, start=start, count=count)
        color = lw.channel(shift(rows, cols, toward))
        lw.op(pe.SendOp, [out], senders, color=color)
        received.append((count, receivers, color, at, toward))
    lw.op(pe.UnpackOp, [win, src], rect, count=b, at=(pad, drift), **placed)
    for count, receivers, color, at, toward in received:
        into = lw.alloc(rect, math.prod(slab(count)), elem, f"halo_from_{toward}")
        lw.op(pe.RecvOp, [into], receivers, color=color)
        lw.op(pe.UnpackOp, [win, into], receivers, count=count, at=(at, drift), **placed)
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
    operands = [out, window, lw.buf(op.weight)]
    if op.bias is not None:
        operands.append(lw.buf(op.bias))
    lw.op(
        pe.Conv2dOp,
        operands,
        grid_rect(dist_of(op.result)),
        in_shape=shape,
        out_shape=dist_of(op.result).block,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        groups=op.groups.value.data,
    )
    return out


def lower_pool2d(op: mesh.Pool2dOp, lw: PELowering) -> SSAValue:
    kind = op.kind.data
    window, shape = halo_window(lw, op, -math.inf if kind == "max" else 0.0)
    kernel, stride, _, dilation = op.spatial()
    out = lw.alloc_for(op.result, f"{kind}_pool2d")
    lw.op(
        pe.Pool2dOp,
        [out, window],
        grid_rect(dist_of(op.result)),
        kind=kind,
        in_shape=shape,
        out_shape=dist_of(op.result).block,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
    )
    return out


LOWERINGS: dict[type[Operation], Callable] = {
    mesh.Conv2dOp: lower_conv2d,
    mesh.Pool2dOp: lower_pool2d,
}
