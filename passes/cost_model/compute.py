"""Costs of the mesh ops where every PE works on its own tile: elementwise (unary, binary,
select, convert), creation (fill, iota, random values), mask_pad, local_reduce, the tile-local
shape ops (transpose, broadcast, reshape) and indexed rows (gather_rows, scatter_add_rows).

Each lowers to one pe op (or two) on every PE of its grid, and a PE's cycles are the vector
instructions the simulator charges for it (pyflame/core/vector_costs.py): elements / lanes or
the SRAM ports' limit, plus `Target.vector_issue_cycles` per instruction. Every PE does the same
work on a tile of the same size (padding included), so the op's cycles are one PE's.

    mesh.unary exp %x : !mesh.tensor<40x40xf32 on 4x4 split [r, c]>
    -> 8 passes (exp's cost in pyflame/core/elementwise.py) over a 10x10 tile:
       8 * (max(100 / 1 lane, 100*4 / 16, 100*4 / 8) + 5) = 840 cycles
"""

from __future__ import annotations

import math

from xdsl.ir import Operation, SSAValue

from pyflame.core import elementwise, reductions
from pyflame.core.distribution import Distribution
from pyflame.core.vector_costs import CostKind
from pyflame.dialects import mesh
from pyflame.dialects.mesh import dist_of
from pyflame.passes.cost_model.registry import Cost, CostContext, cost_rule


def copy_if_read_later(
    op: mesh.MaskPadOp | mesh.AllReduceOp | mesh.ReduceOp, ctx: CostContext
) -> int:
    """Cycles of the copy an in-place op makes of its operand when a later op reads it."""
    if not ctx.read_later(op.input, op):
        return 0
    return ctx.compute_on(CostKind.COPY, op.input, dist_of(op.input).local_elems)


@cost_rule(mesh.UnaryOp)
def unary(op: mesh.UnaryOp, ctx: CostContext) -> Cost:
    fn = op.fn.data
    passes = 1 if fn == "scale" else elementwise.UNARY[fn].flops
    n = dist_of(op.result).local_elems
    cycles = ctx.compute_on(CostKind.UNARY, op.input, n, passes)
    return Cost(cycles, ctx.tile_bytes(op.result), detail=f"{passes} pass(es) over {n} elements")


@cost_rule(mesh.BinaryOp)
def binary(op: mesh.BinaryOp, ctx: CostContext) -> Cost:
    passes = elementwise.BINARY[op.fn.data].flops
    n = dist_of(op.result).local_elems
    cycles = ctx.compute_on(CostKind.BINARY, op.lhs, n, passes)
    return Cost(cycles, ctx.tile_bytes(op.result), detail=f"{passes} pass(es) over {n} elements")


@cost_rule(mesh.ConvertOp)
def convert(op: mesh.ConvertOp, ctx: CostContext) -> Cost:
    n = dist_of(op.result).local_elems
    wider = max(ctx.elem_bytes(op.input), ctx.elem_bytes(op.result))
    cycles = ctx.compute(CostKind.CONVERT, n, elem_bytes=wider)
    return Cost(cycles, ctx.tile_bytes(op.result))


def most_padding(dist: Distribution) -> int:
    """The most padding elements any PE's tile holds: per PE the tile less its real elements,
    the product over dims of the block's part below the dim's size (per PE, not per element:
    a 2**31-element tensor costs a (rows, cols) array, not 16 GiB of coordinates)."""
    import numpy as np

    rows, cols = dist.grid
    r = np.arange(rows, dtype=np.int64)[:, None]
    c = np.arange(cols, dtype=np.int64)[None, :]
    real = np.ones((rows, cols), dtype=np.int64)
    for d, n in enumerate(dist.shape):
        first = np.asarray(dist.block_index(d, r, c), dtype=np.int64) * dist.block[d]
        real = real * np.clip(n - first, 0, dist.block[d])
    return int((dist.local_elems - real).max())


@cost_rule(mesh.MaskPadOp)
def mask_pad(op: mesh.MaskPadOp, ctx: CostContext) -> Cost:
    # one fill of the padding of the tile; the PE with the most padding (the grid's last row
    # and column) is the last to finish
    most = most_padding(dist_of(op.input))
    copy = copy_if_read_later(op, ctx)
    cycles = copy + ctx.compute_on(CostKind.MASK_PAD, op.input, most)
    return Cost(cycles, ctx.tile_bytes(op.result) if copy else 0)


@cost_rule(mesh.LocalReduceOp)
def local_reduce(op: mesh.LocalReduceOp, ctx: CostContext) -> Cost:
    src, out = dist_of(op.input), dist_of(op.result)
    flops = reductions.KINDS[op.kind.data].flops
    cycles = ctx.compute_on(CostKind.REDUCE, op.input, src.local_elems, out.local_elems, flops)
    return Cost(cycles, ctx.tile_bytes(op.result))


@cost_rule(mesh.ReshapeOp)
def reshape(op: mesh.ReshapeOp, ctx: CostContext) -> Cost:
    return Cost(0, detail="the tile's bytes stay as they are")


def _rows(op: mesh.GatherRowsOp | mesh.ScatterAddRowsOp, table: SSAValue) -> tuple[int, int]:
    """Index entries per PE and the width of a row of the table's tile."""
    return dist_of(op.index).local_elems, math.prod(dist_of(table).block[1:])


@cost_rule(mesh.GatherRowsOp)
def gather_rows(op: mesh.GatherRowsOp, ctx: CostContext) -> Cost:
    n, width = _rows(op, op.table)
    cycles = ctx.compute_on(CostKind.GATHER_ROWS, op.result, n, width)
    return Cost(cycles, ctx.tile_bytes(op.result), detail=f"{n} rows of {width}")


@cost_rule(mesh.ScatterAddRowsOp)
def scatter_add_rows(op: mesh.ScatterAddRowsOp, ctx: CostContext) -> Cost:
    n, width = _rows(op, op.result)
    zero = ctx.compute_on(CostKind.FILL, op.result, dist_of(op.result).local_elems)
    cycles = zero + ctx.compute_on(CostKind.SCATTER_ADD_ROWS, op.result, n, width)
    return Cost(cycles, ctx.tile_bytes(op.result), detail=f"{n} rows of {width}")


#: ops that write each element of their result tile once, by one vector pass of this kind: the
#: creation ops, select, and the tile-local transpose and broadcast (no data crosses the fabric)
ONE_PASS_OPS: dict[type[Operation], CostKind] = {
    mesh.FillOp: CostKind.FILL,
    mesh.RandomNormalOp: CostKind.RANDOM_NORMAL,
    mesh.RandomUniformOp: CostKind.RANDOM_UNIFORM,
    mesh.IotaOp: CostKind.IOTA,
    mesh.SelectOp: CostKind.SELECT,
    mesh.TransposeOp: CostKind.TRANSPOSE,
    mesh.BroadcastOp: CostKind.BROADCAST,
}


def one_pass(op: Operation, ctx: CostContext) -> Cost:
    """One vector pass of the op's kind over its result tile."""
    n = dist_of(op.results[0]).local_elems
    kind = ONE_PASS_OPS[type(op)]
    return Cost(ctx.compute_on(kind, op.results[0], n), ctx.tile_bytes(op.results[0]))


for _op_class in ONE_PASS_OPS:
    cost_rule(_op_class)(one_pass)
