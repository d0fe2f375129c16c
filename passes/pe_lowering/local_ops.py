"""Lowerings where every PE works on its own tile, with no data from other PEs: host I/O
(scatter, gather), fill and random values, elementwise ops, select, convert, mask_pad, iota."""

from __future__ import annotations

from collections.abc import Callable

from xdsl.dialects.builtin import i32
from xdsl.ir import Operation, SSAValue

from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import dist_of
from pyflame.passes.pe_lowering.state import (
    PELowering,
    grid_rect,
    tile_layout,
)


def lower_scatter(op: mesh.ScatterOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "input")
    lw.emit(
        pe.HostInOp(
            op.input, buf, layout=tile_layout(op.result.type), pes=grid_rect(dist_of(op.result))
        )
    )
    return buf


def lower_gather(op: mesh.GatherOp, lw: PELowering) -> SSAValue:
    out = pe.HostOutOp(
        lw.buf(op.input),
        op.result.type,
        layout=tile_layout(op.input.type),
        pes=grid_rect(dist_of(op.input)),
    )
    return lw.emit(out).result


def lower_fill(op: mesh.FillOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "fill")
    lw.emit(pe.FillOp(buf, value=op.value, pes=grid_rect(dist_of(op.result))))
    return buf


def lower_random_normal(op: mesh.RandomNormalOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "randn")
    lw.emit(
        pe.RandomNormalOp(
            buf, op.seed, layout=tile_layout(op.result.type), pes=grid_rect(dist_of(op.result))
        )
    )
    return buf


def int32_layout(result: SSAValue) -> pe.TileLayoutAttr | None:
    """An int32 result's tile layout, carried by its elementwise op so the simulator checks
    overflow only in real lanes (padding may hold a reduction's identity, e.g. an argmax's
    INT32_MAX, where `index + 1` would wrap harmlessly)."""
    elem = result.type.element_type  # type: ignore[attr-defined]  # a mesh tensor type
    return tile_layout(result.type) if elem == i32 else None


def lower_unary(op: mesh.UnaryOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, op.fn.data)
    lw.emit(
        pe.UnaryOp(
            op.fn.data,
            buf,
            lw.buf(op.input),
            pes=grid_rect(dist_of(op.result)),
            scalar=op.scalar,
            layout=int32_layout(op.result),
        )
    )
    return buf


def lower_binary(op: mesh.BinaryOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, op.fn.data)
    lw.emit(
        pe.BinaryOp(
            op.fn.data,
            buf,
            lw.buf(op.lhs),
            lw.buf(op.rhs),
            pes=grid_rect(dist_of(op.result)),
            layout=int32_layout(op.result),
        )
    )
    return buf


def lower_select(op: mesh.SelectOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "where")
    cond, lhs, rhs = (lw.buf(v) for v in (op.cond, op.lhs, op.rhs))
    lw.emit(pe.SelectOp(buf, cond, lhs, rhs, pes=grid_rect(dist_of(op.result))))
    return buf


def lower_convert(op: mesh.ConvertOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "convert")
    rect = grid_rect(dist_of(op.result))
    lw.emit(pe.ConvertOp(buf, lw.buf(op.input), pes=rect, layout=int32_layout(op.result)))
    return buf


def lower_mask_pad(op: mesh.MaskPadOp, lw: PELowering) -> SSAValue:
    buf = lw.writable_copy(op.input, "masked")
    lw.emit(
        pe.MaskPadOp(
            buf,
            layout=tile_layout(op.input.type),
            value=op.value,
            pes=grid_rect(dist_of(op.input)),
        )
    )
    return buf


# --- creation: iota and uniform random ----------------------------------------------------
# One pe op on every PE of the grid, computing its tile from the global indices in the layout.


def lower_iota(op: mesh.IotaOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "iota")
    lw.emit(
        pe.IotaOp(
            buf,
            layout=tile_layout(op.result.type),
            dim=op.dim,
            start=op.start,
            step=op.step,
            pes=grid_rect(dist_of(op.result)),
        )
    )
    return buf


def lower_random_uniform(op: mesh.RandomUniformOp, lw: PELowering) -> SSAValue:
    buf = lw.alloc_for(op.result, "rand")
    lw.emit(
        pe.RandomUniformOp(
            buf,
            op.seed,
            layout=tile_layout(op.result.type),
            minval=op.minval,
            maxval=op.maxval,
            pes=grid_rect(dist_of(op.result)),
        )
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
