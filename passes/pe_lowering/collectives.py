"""Lowerings that move data between PEs over routes: reductions (local + chain allreduce),
transposes, local reshapes and redistribution."""

from __future__ import annotations

from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

from pyflame.core.reductions import ReductionKind
from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import dist_of
from pyflame.passes.pe_lowering.loops import LoopBody
from pyflame.passes.pe_lowering.state import (
    PELowering,
    Rect,
    chain_return,
    chain_step,
    exchange_whole,
    grid_rect,
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


def chain_allreduce(
    lw: PELowering,
    buf: SSAValue,
    grid: tuple[int, int],
    along: str,
    kind: ReductionKind | str = "sum",
) -> None:
    """Reduce `buf` with `kind` (sum, max, ...) over the PEs of each row (along='c') or column
    (along='r')."""
    rows, cols = grid
    n = cols if along == "c" else rows
    if n == 1:
        return
    step = lw.channel(chain_step(rows, cols, along))
    back = lw.channel(chain_return(rows, cols, along))

    def line(i: int, count: int = 1) -> Rect:
        return (0, i, rows, count) if along == "c" else (i, 0, count, cols)

    # a pipelined chain: line 0 sends, each middle line adds its part into the passing stream
    # and forwards it (B + s*n rather than n*(B + s)), the last line keeps the total
    # (the middle lines' stages are one pe.loop moving a line per iteration when there are
    # several)
    lw.emit(pe.SendOp(buf, color=step, pes=line(0)))
    if n - 2 >= 2:
        body = LoopBody(lw, 1, n - 1, [])
        stage = (0, 1, 0, 0) if along == "c" else (1, 0, 0, 0)
        body.emit(pe.RecvOp(buf, color=step, pes=line(1), combine=kind, forward=True), stage)
        body.finish()
    else:
        for i in range(1, n - 1):
            lw.emit(pe.RecvOp(buf, color=step, pes=line(i), combine=kind, forward=True))
    lw.emit(pe.RecvOp(buf, color=step, pes=line(n - 1), combine=kind))
    lw.emit(pe.SendOp(buf, color=back, pes=line(n - 1)))
    lw.emit(pe.RecvOp(buf, color=back, pes=line(0, n - 1)))


def lower_allreduce(op: mesh.AllReduceOp, lw: PELowering) -> SSAValue:
    src = dist_of(op.input)
    buf = lw.writable_copy(op.input, "allreduce")
    axes = "".join(src.split[d] for d in op.dims.get_values())
    for along in ("c", "r"):
        if along in axes:
            chain_allreduce(lw, buf, src.grid, along, op.kind.data)
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
    mesh.AllReduceOp: lower_allreduce,
    mesh.ReshapeOp: lower_reshape,
    mesh.TransposeOp: lower_transpose,
    mesh.RedistributeOp: lower_redistribute,
}
