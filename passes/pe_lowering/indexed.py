"""Indexed rows: mesh.gather_rows and mesh.scatter_add_rows become one pe op on every PE of the
table's grid, reading its tile through the index (the tile layout says which rows it holds).

    %p = mesh.gather_rows %w, %i : ... -> !mesh.tensor<8x64x128xf32 on 8x8 split [r, _, c]>
becomes
    %p = pe.alloc {name = "gather_rows@...", pes = array<i64: 0, 0, 8, 8>} : !pe.buf<1024xf32>
    pe.gather_rows %p, %w, %i {layout = #pe.layout<4096x128xf32 on 8x8 split [r, c]>, ...}

scatter_add_rows zeroes its result first (pe.fill), then adds the rows into it.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

from pyflame.dialects import mesh, pe
from pyflame.dialects.mesh import dist_of
from pyflame.passes.pe_lowering.state import PELowering, grid_rect, tile_layout


def lower_gather_rows(op: mesh.GatherRowsOp, lw: PELowering) -> SSAValue:
    rect = grid_rect(dist_of(op.table))
    dst = lw.alloc_for(op.result, "gather_rows")
    layout = tile_layout(op.table.type)
    lw.emit(pe.GatherRowsOp(dst, lw.buf(op.table), lw.buf(op.index), layout=layout, pes=rect))
    return dst


def lower_scatter_add_rows(op: mesh.ScatterAddRowsOp, lw: PELowering) -> SSAValue:
    rect = grid_rect(dist_of(op.result))
    table = lw.alloc_for(op.result, "scatter_add_rows")
    lw.emit(pe.FillOp(table, value=0.0, pes=rect))
    layout = tile_layout(op.result.type)
    lw.emit(pe.ScatterAddRowsOp(table, lw.buf(op.src), lw.buf(op.index), layout=layout, pes=rect))
    return table


LOWERINGS: dict[type[Operation], Callable] = {
    mesh.GatherRowsOp: lower_gather_rows,
    mesh.ScatterAddRowsOp: lower_scatter_add_rows,
}
