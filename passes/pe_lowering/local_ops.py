"""Lowerings where every PE works on its own tile, with no data from other PEs: host I/O
(scatter, gather), fill and random values, elementwise ops, select, convert, mask_pad, iota."""

from __future__ import annotations

from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import dist_of
from pyflame.dialects.pe import dense_i64
from pyflame.passes.pe_lowering.state import (
    PELowering,
    grid_rect,
    tile_layout,
)


def lower_scatter(op: mesh.ScatterOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "input")
    lw.op(
        pe.HostInOp,
        [op.input, buf],
        grid_rect(dist_of(op.result)),
        layout=tile_layout(op.result.type),
    )
    return buf


def lower_gather(op: mesh.GatherOp, lw: PELowering) -> SSAValue:
    out = pe.HostOutOp.create(
        operands=[lw.buf(op.input)],
        attributes={
            "layout": tile_layout(op.input.type),
            "pes": dense_i64(grid_rect(dist_of(op.input))),
        },
        result_types=[op.result.type],
    )
    return lw.emit(out).results[0]


def lower_fill(op: mesh.FillOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "fill")
    lw.op(pe.FillOp, [buf], grid_rect(dist_of(op.result)), value=op.value)
    return buf


def lower_random_normal(op: mesh.RandomNormalOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "randn")
    lw.op(
        pe.RandomNormalOp,
        [buf, op.seed],
        grid_rect(dist_of(op.result)),
        layout=tile_layout(op.result.type),
    )
    return buf


def lower_unary(op: mesh.UnaryOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, op.fn.data)
    lw.op(
        pe.UnaryOp,
        [buf, lw.buf(op.input)],
        grid_rect(dist_of(op.result)),
        fn=op.fn.data,
        scalar=op.scalar,
    )
    return buf


def lower_binary(op: mesh.BinaryOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, op.fn.data)
    lw.op(
        pe.BinaryOp,
        [buf, lw.buf(op.lhs), lw.buf(op.rhs)],
        grid_rect(dist_of(op.result)),
        fn=op.fn.data,
    )
    return buf


def lower_select(op: mesh.SelectOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "where")
    lw.op(
        pe.SelectOp,
        [buf] + [lw.buf(v) for v in (op.cond, op.lhs, op.rhs)],
        grid_rect(dist_of(op.result)),
    )
    return buf


def lower_convert(op: mesh.ConvertOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "convert")
    lw.op(pe.ConvertOp, [buf, lw.buf(op.input)], grid_rect(dist_of(op.result)))
    return buf


def lower_mask_pad(op: mesh.MaskPadOp, lw: PELowering) -> SSAValue:
    buf = lw.writable_copy(op.input, "masked")
    lw.op(
        pe.MaskPadOp,
        [buf],
        grid_rect(dist_of(op.input)),
        layout=tile_layout(op.input.type),
        value=op.value,
    )
    return buf


# --- creation: iota and uniform random ----------------------------------------------------
# One pe op on every PE of the grid, computing its tile from the global indices in the layout.


def lower_iota(op: mesh.IotaOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "iota")
    lw.op(
        pe.IotaOp,
        [buf],
        grid_rect(dist_of(op.result)),
        layout=tile_layout(op.result.type),
        dim=op.dim,
        start=op.start,
        step=op.step,
    )
    return buf


def lower_random_uniform(op: mesh.RandomUniformOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "rand")
    lw.op(
        pe.RandomUniformOp,
        [buf, op.seed],
        grid_rect(dist_of(op.result)),
        layout=tile_layout(op.result.type),
        minval=op.minval,
        maxval=op.maxval,
    )
    return buf


LOWERINGS: dict[type[Operation], Callable] = {
    mesh.ScatterOp: lower_scatter,
    mesh.GatherOp: lower_gather,
    mesh.FillOp: lower_fill,
    mesh.RandomNormalOp: lower_random_normal,
    mesh.UnaryOp: lower_unary,
    mesh.BinaryOp: lower_binary,
    mesh.SelectOp: lower_select,
    mesh.ConvertOp: lower_convert,
    mesh.MaskPadOp: lower_mask_pad,
    mesh.IotaOp: lower_iota,
    mesh.RandomUniformOp: lower_random_uniform,
}
