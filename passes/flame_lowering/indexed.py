"""Indexed rows (gather_rows, scatter_add_rows): the table stays where it is placed; the index
goes, as a copy, to every PE of the table's grid.

    %e = flame.gather_rows %w, %i : (tensor<4096x128xf32>, tensor<64xi32>) -> tensor<64x128xf32>
becomes (the table on 8x8 split [r, c])
    %i1 = mesh.redistribute %i0 : ... -> !mesh.tensor<64xi32 on 8x8 split [_]>
    %p  = mesh.gather_rows %w, %i1 : ... -> !mesh.tensor<8x64x128xf32 on 8x8 split [r, _, c]>
    %s  = mesh.allreduce sum %p dims [0] : ... -> !mesh.tensor<1x64x128xf32 on 8x8 split [_, _, c]>
    %e  = mesh.reshape %s : ... -> !mesh.tensor<64x128xf32 on 8x8 split [_, c]>

Each PE's partial holds the rows it owns and zeros, so the sum across the row split is each
row exactly (x + 0 == x; only the sign of a -0.0 row is lost). Only index-sized and
output-sized data moves. scatter_add_rows, the transpose, sends its source [N, D] split like
the result's columns to every PE of the result's grid, and each PE adds the rows it owns.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.dialects.builtin import TensorType
from xdsl.ir import Operation, SSAValue

from pyflame.core.distribution import Distribution
from pyflame.dialects import flame, mesh
from pyflame.dialects.mesh import dist_of
from pyflame.passes.flame_lowering.state import Lowering
from pyflame.passes.layouts import elem_bytes_of, gather_table_dist


def _index_everywhere(lw: Lowering, index: SSAValue, on: Distribution) -> SSAValue:
    """The index (any shape) as a copy on every PE of `on`'s grid."""
    shape = flame.tensor_shape(index)
    return lw.value_as(index, on.with_(shape=shape, split=("",) * len(shape)))


def _table(op: flame.GatherRowsOp, lw: Lowering) -> SSAValue:
    """The table where it is, or, when assign-layouts placed the result and the table can be
    loaded anywhere without moving it on the fabric (a program input or a creation op not yet
    placed, or an input loaded once per layout), in the layout whose gather gives the result's
    layout in place (`layouts.gather_table_dist`)."""
    result = lw.assigned.get(op.result)
    free = op.table in lw.remakes or (op.table in lw.deferred and op.table not in lw.hints)
    if result is None or not free:
        return lw.value(op.table)
    typ = op.table.type
    assert isinstance(typ, TensorType)
    shape = flame.tensor_shape(op.table)
    return lw.value_as(op.table, gather_table_dist(shape, result, elem_bytes_of(typ.element_type)))


def lower_gather_rows(op: flame.GatherRowsOp, lw: Lowering) -> SSAValue:
    table = _table(op, lw)
    td = dist_of(table)
    index = _index_everywhere(lw, op.index, td)
    x = lw.emit(mesh.GatherRowsOp(table, index))
    if td.parts(0) > 1:
        x = lw.emit(mesh.AllReduceOp("sum", x, (0,)))
    shape = flame.tensor_shape(op.result)  # [*I, D]
    split = ("",) * (len(shape) - 1) + (td.split[1],)
    rows = lw.emit(mesh.ReshapeOp(x, td.with_(shape=shape, split=split)))
    # a small table sits on a few PEs, and its rows gathered for a whole batch (the residual
    # stream of a transformer) must not stay there: they go where the result is placed when
    # that spreads them over more PEs
    placed = lw.placed(op.result)
    if placed.grid[0] * placed.grid[1] > td.grid[0] * td.grid[1]:
        return lw.to_dist(rows, placed)
    return rows


def lower_scatter_add_rows(op: flame.ScatterAddRowsOp, lw: Lowering) -> SSAValue:
    out = lw.placed(op.result)
    index = _index_everywhere(lw, op.index, out)
    shape = flame.tensor_shape(op.src)  # [*I, D]
    src_dist = out.with_(shape=shape, split=("",) * (len(shape) - 1) + (out.split[1],))
    src = lw.value_as(op.src, src_dist)
    return lw.emit(mesh.ScatterAddRowsOp(index, src, out))


LOWERINGS: dict[type[Operation], Callable] = {
    flame.GatherRowsOp: lower_gather_rows,
    flame.ScatterAddRowsOp: lower_scatter_add_rows,
}
