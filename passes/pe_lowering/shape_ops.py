"""Lowerings of the mesh shape ops: broadcast, slice, pad, concat, relayout."""

from __future__ import annotations

from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import MeshTensorType, dist_of
from pyflame.passes.pe_lowering.state import (
    PELowering,
    emit_exchange,
    exchange_whole,
    grid_rect,
    tile_layout,
)

# --- shape ops ---------------------------------------------------------------------------
# mesh.broadcast -> pe.broadcast on every PE of the grid. mesh.slice, mesh.pad and mesh.concat
# -> one exchange per operand with an index map (dst index i takes src index
# offset + stride * i per dim): its local part and its network phases, each phase on a channel
# of its own with its routes; pad fills its result with the pad value first (the exchange leaves
# elements without a source alone).


def exchange_into(
    lw: PELowering,
    dst: SSAValue,
    dst_type: MeshTensorType,
    src: SSAValue,
    offset: tuple[int, ...],
    stride: tuple[int, ...],
    window: tuple[int, ...] | None = None,
) -> None:
    """Move mesh value `src` into buffer `dst` (laid out as `dst_type`) through the index map
    (left out when it is the identity between equal shapes: a plain redistribution; with the
    window's shape when dst is the window reshaped)."""
    s, d = dist_of(src), dst_type.dist
    index_map = mesh.slice_index_map(s.shape, d.shape, offset, stride, window)
    emit_exchange(lw, dst, lw.buf(src), tile_layout(src.type), tile_layout(dst_type), index_map)


def lower_broadcast(op: mesh.BroadcastOp, lw: PELowering) -> SSAValue:
    src, dst = dist_of(op.input), dist_of(op.result)
    buf = lw.alloc_for(op.result, "broadcast")
    lead = (1,) * (len(dst.shape) - len(src.shape))
    lw.emit(
        pe.BroadcastOp(
            buf,
            lw.buf(op.input),
            src_shape=lead + src.block,
            dst_shape=dst.block,
            pes=grid_rect(dst),
        )
    )
    return buf


def lower_slice(op: mesh.SliceOp, lw: PELowering) -> SSAValue:
    start, _, step = op.bounds
    buf = lw.alloc_for(op.result, "slice")
    exchange_into(lw, buf, op.result.type, op.input, start, step, op.window_shape)
    return buf


def lower_pad(op: mesh.PadOp, lw: PELowering) -> SSAValue:
    low, high = op.widths
    buf = lw.alloc_for(op.result, "pad")
    if any(w > 0 for w in low + high):
        lw.emit(pe.FillOp(buf, value=op.value, pes=lw.rect_of(dist_of(op.result))))
    exchange_into(lw, buf, op.result.type, op.input, tuple(-w for w in low), (1,) * len(low))
    return buf


def lower_concat(op: mesh.ConcatOp, lw: PELowering) -> SSAValue:
    dim = op.dim_index
    buf = lw.alloc_for(op.result, "cat")
    rank = len(dist_of(op.result).shape)
    begin = 0
    for v in op.inputs:
        n = dist_of(v).shape[dim]
        if n:
            offset = tuple(-begin if d == dim else 0 for d in range(rank))
            exchange_into(lw, buf, op.result.type, v, offset, (1,) * rank)
        begin += n
    return buf


def lower_relayout(op: mesh.RelayoutOp, lw: PELowering) -> SSAValue:
    """A reshape that moves data: one pe.exchange without an index map (row-major order)."""
    return exchange_whole(op, lw, "reshape")


LOWERINGS: dict[type[Operation], Callable] = {
    mesh.RelayoutOp: lower_relayout,
    mesh.BroadcastOp: lower_broadcast,
    mesh.SliceOp: lower_slice,
    mesh.PadOp: lower_pad,
    mesh.ConcatOp: lower_concat,
}
