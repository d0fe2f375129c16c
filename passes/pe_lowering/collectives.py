"""Lowerings that move data between PEs over routes: reductions (local + chain allreduce),
SUMMA matmul, transposes, local reshapes and redistribution."""

from __future__ import annotations

import math
from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

import pyflame.passes.scratch as scratch
from pyflame.core.reductions import ReductionKind
from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import dist_of
from pyflame.passes.pe_lowering.state import (
    PELowering,
    Rect,
    chain_return,
    chain_step,
    col_broadcast,
    exchange_whole,
    grid_rect,
    row_broadcast,
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
    lw.emit(pe.SendOp(buf, color=step, pes=line(0)))
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


def lower_matmul(op: mesh.MatmulOp, lw: PELowering) -> SSAValue:
    a, b = dist_of(op.lhs), dist_of(op.rhs)
    g = a.grid[0]
    rect = (0, 0, g, g)
    (bm, bk), bn = a.block[-2:], b.block[-1]
    # batch dims are unsplit: every PE holds all batch entries of its blocks
    bl, br = math.prod(a.block[:-2]), math.prod(b.block[:-2])
    elem = op.result.type.element_type
    acc = lw.alloc_for(op.result, "matmul")
    lw.emit(pe.FillOp(acc, value=0.0, pes=rect))

    def matmul_acc(lhs: SSAValue, rhs: SSAValue) -> None:
        lw.emit(
            pe.MatmulAccOp(
                acc,
                lhs,
                rhs,
                m=bm,
                k=bk,
                n=bn,
                pes=rect,
                lhs_batch=bl if bl > 1 else None,
                rhs_batch=br if br > 1 else None,
            )
        )

    receive = scratch.summa_receive_elems(a, b)
    if receive is None:
        matmul_acc(lw.buf(op.lhs), lw.buf(op.rhs))
        return acc
    a_in = lw.alloc(rect, receive[0], elem, "summa_a")
    b_in = lw.alloc(rect, receive[1], elem, "summa_b")
    rows = lw.channel(row_broadcast(g, g))
    cols = lw.channel(col_broadcast(g, g))
    for k in range(g):
        # the roots send asynchronously: each also receives its own tile (its route includes
        # its ramp), which a synchronous send of a tile longer than the queues would deadlock
        a_root, b_root = (0, k, g, 1), (k, 0, 1, g)
        sent_a = lw.emit(pe.SendOp(lw.buf(op.lhs), color=rows, pes=a_root, asynchronous=True))
        sent_b = lw.emit(pe.SendOp(lw.buf(op.rhs), color=cols, pes=b_root, asynchronous=True))
        lw.emit(pe.RecvOp(a_in, color=rows, pes=rect))
        lw.emit(pe.RecvOp(b_in, color=cols, pes=rect))
        matmul_acc(a_in, b_in)
        lw.emit(pe.WaitOp(sent_a.results[0], pes=a_root))
        lw.emit(pe.WaitOp(sent_b.results[0], pes=b_root))
    return acc


def lower_redistribute(op: mesh.RedistributeOp, lw: PELowering) -> SSAValue:
    return exchange_whole(op, lw, "redistribute")


LOWERINGS: dict[type[Operation], Callable] = {
    mesh.LocalReduceOp: lower_local_reduce,
    mesh.AllReduceOp: lower_allreduce,
    mesh.ReshapeOp: lower_reshape,
    mesh.TransposeOp: lower_transpose,
    mesh.MatmulOp: lower_matmul,
    mesh.RedistributeOp: lower_redistribute,
}
