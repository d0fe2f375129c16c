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

When that copy of the index and rows would take more than a quarter of a PE's SRAM
(passes/indexed_layouts.py `wants_ring`), the ring form splits them over the PEs instead:
    %i1 = mesh.redistribute %i0 : ... -> !mesh.tensor<10000xi32 on 16x8 split [rc]>
    %i2 = mesh.mask_pad %i1 value -1 : ...      (padding entries read and add nothing)
    %e  = mesh.ring_gather_rows %w1, %i2 : (!mesh.tensor<10000x1xf32 on 16x8 split [r, _]>,
        ...) -> !mesh.tensor<10000x1xf32 on 16x8 split [rc, _]>
with the table moved to the layout `ring_table` chooses (pe_lowering/ring_rows.py has the steps).
An index of several dims is flattened on the way (mesh.relayout), and so are the rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from xdsl.dialects.builtin import TensorType
from xdsl.ir import Operation, SSAValue

from pyflame.core.distribution import Distribution
from pyflame.dialects import flame, mesh
from pyflame.dialects.mesh import dist_of, ring_index_dist, ring_partials_dist, ring_rows_dist
from pyflame.passes.flame_lowering.state import Lowering
from pyflame.passes.indexed_layouts import (
    INDEX_BYTES,
    RING_SHARE,
    replicated_bytes,
    ring_candidates,
    wants_ring,
)
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


def _elem_bytes(v: SSAValue) -> int:
    typ = v.type
    assert isinstance(typ, TensorType)
    return elem_bytes_of(typ.element_type)


#: of the cheapest rings by their own estimate, how many are compared with their moves counted
RING_CANDIDATES = 4


def _move(lw: Lowering, src: Distribution | None, dst: Distribution, eb: int) -> int:
    """Estimated cycles of moving a value from `src` (None: a lazy leaf, loaded in place), with
    the share of route-switch barriers its exchange's phases add."""
    if src is None or src.normalized() == dst.normalized():
        return 0
    from pyflame.passes.cost_model.barriers import barrier_share  # (numpy: on first use)
    from pyflame.passes.cost_model.data_movement import redistribute_cost

    cost = redistribute_cost(lw.target, src, dst, eb)
    # an exchange of many phases takes many colors, and the program then switches routes
    rows = max(src.origin[0] + src.grid[0], dst.origin[0] + dst.grid[0])
    cols = max(src.origin[1] + src.grid[1], dst.origin[1] + dst.grid[1])
    return cost.cycles + barrier_share(lw.target, cost.channels, rows, cols)


def _source(lw: Lowering, v: SSAValue) -> Distribution | None:
    """Where `v` will come from: None for a lazy 1-D leaf (placed directly where it is
    wanted); the layout it has, or will be made in, otherwise."""
    known = lw.known_dist(v)
    if known is None and len(flame.tensor_shape(v)) > 1:
        return lw.placed(v)
    return known


def _ring(
    lw: Lowering,
    table: SSAValue,
    index: SSAValue,
    rows_v: SSAValue,
    known: Distribution | None,
    out: Distribution,
    scatter: bool,
) -> Distribution | None:
    """The table layout of the ring form when the replicated form over `known` (the table's
    layout, when it has one) holds more than a quarter of a PE's data SRAM and no ring is
    estimated slower than it (counting the moves of the table, the index and the rows, `out`
    being where the result is wanted); else None, the replicated form. A table no ring fits
    is left to the replicated form (plan-memory then says what fits)."""
    rows, width = flame.tensor_shape(table)
    entries = math.prod(flame.tensor_shape(index))
    eb, target = _elem_bytes(table), lw.target
    if known is None:
        known = Distribution((rows, width), (1, 1), ("", ""))
    if not wants_ring(known, entries, eb, target):
        return None
    table_from = None if scatter else lw.known_dist(table)
    grids = (out.grid,) + (() if table_from is None else (table_from.grid,))
    found = ring_candidates(rows, width, entries, eb, target, scatter, grids)
    from pyflame.passes.cost_model.collectives import chain_allreduce_cycles  # (numpy)
    from pyflame.passes.cost_model.registry import CostContext

    if not found:
        return None
    on_grids = [ct for ct in found if ct[1].grid in grids][:4]
    index_from, rows_from = _source(lw, index), None if scatter else out
    rows_at = _source(lw, rows_v) if scatter else None

    def total(cycles: int, layout: Distribution) -> int:
        rows_dist = ring_rows_dist(layout, entries)
        cycles += _move(lw, index_from, ring_index_dist(layout, entries), INDEX_BYTES)
        cycles += _move(lw, table_from, layout, eb)
        if scatter:
            cycles += _move(lw, rows_at, rows_dist, eb) + _move(lw, layout, out, eb)
            copies = ring_partials_dist(layout).shape[0]
            cycles += chain_allreduce_cycles(CostContext(target), copies, layout.local_elems, eb)
        else:
            assert rows_from is not None
            cycles += _move(lw, rows_dist, rows_from.with_(shape=rows_dist.shape), eb)
        return cycles

    best_cycles, best = min(
        ((total(c, t), t) for c, t in found[:RING_CANDIDATES] + on_grids),
        key=lambda ct: (ct[0], ct[1].num_pes),
    )
    if replicated_bytes(known, entries, eb) > target.usable_sram_bytes // RING_SHARE:
        return best  # the replicated form would crowd out everything else
    if _replicated_cycles(lw, known, index_from, entries, eb, scatter) < best_cycles:
        return None
    return best


def _replicated_cycles(
    lw: Lowering,
    table: Distribution,
    index_from: Distribution | None,
    entries: int,
    eb: int,
    scatter: bool,
) -> int:
    """A rough estimate of the replicated form over `table`: the index copied to every PE,
    each PE's pass over all of it, and (gathers) the sum of the partial rows."""
    from pyflame.core import vector_costs  # (numpy: on first use)
    from pyflame.core.vector_costs import CostKind
    from pyflame.passes.cost_model.collectives import chain_allreduce_cycles
    from pyflame.passes.cost_model.registry import CostContext

    width, parts = table.block[1], table.parts(0)
    copy = table.with_(shape=(entries,), split=("",))
    cycles = _move(lw, index_from, copy, INDEX_BYTES)
    kind = CostKind.SCATTER_ADD_ROWS if scatter else CostKind.GATHER_ROWS
    work, _ = vector_costs.op_cycles(lw.target, kind, entries, width, elem_bytes=eb, half=eb == 2)
    cycles += int(work)
    if not scatter:
        cycles += chain_allreduce_cycles(CostContext(lw.target), parts, entries * width, eb)
    return cycles


def _ring_index(lw: Lowering, index: SSAValue, dist: Distribution) -> SSAValue:
    """The index as one flat vector in `dist`, its padding -1 (an index no PE holds)."""
    if len(flame.tensor_shape(index)) == 1:
        x = lw.value_as(index, dist)
    else:
        x = lw.emit(mesh.RelayoutOp(lw.value(index), dist))
    if dist.has_padding():
        x = lw.emit(mesh.MaskPadOp(x, -1.0))
    return x


def _flat_rows(lw: Lowering, v: SSAValue, dist: Distribution) -> SSAValue:
    """Rows [*I, D] as [N, D] in `dist`."""
    if len(flame.tensor_shape(v)) == 2:
        return lw.value_as(v, dist)
    return lw.emit(mesh.RelayoutOp(lw.value(v), dist))


def _ring_gather(op: flame.GatherRowsOp, lw: Lowering, layout: Distribution) -> SSAValue:
    entries = math.prod(flame.tensor_shape(op.index))
    table = lw.value_as(op.table, layout)
    index = _ring_index(lw, op.index, ring_index_dist(layout, entries))
    rows = lw.emit(mesh.RingGatherRowsOp(table, index))
    if len(flame.tensor_shape(op.result)) == 2:
        return rows
    return lw.emit(mesh.RelayoutOp(rows, lw.placed(op.result)))


def lower_gather_rows(op: flame.GatherRowsOp, lw: Lowering) -> SSAValue:
    out = lw.placed(op.result)
    flat = flame.tensor_shape(op.result)
    out = (
        out.with_(shape=(math.prod(flat[:-1]), flat[-1]), split=out.split[-2:])
        if len(flat) > 2
        else out
    )
    ring = _ring(lw, op.table, op.index, op.result, lw.known_dist(op.table), out, scatter=False)
    if ring is not None:
        return _ring_gather(op, lw, ring)
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


def _ring_scatter_add(
    op: flame.ScatterAddRowsOp, lw: Lowering, layout: Distribution, out: Distribution
) -> SSAValue:
    entries = math.prod(flame.tensor_shape(op.index))
    index = _ring_index(lw, op.index, ring_index_dist(layout, entries))
    src = _flat_rows(lw, op.src, ring_rows_dist(layout, entries))
    x = lw.emit(mesh.RingScatterAddRowsOp(index, src, layout))
    if dist_of(x).shape[0] > 1:  # one partial table per copy of the table: add them
        x = lw.emit(mesh.AllReduceOp("sum", x, (0,)))
    x = lw.emit(mesh.ReshapeOp(x, layout))
    return lw.to_dist(x, out)


def lower_scatter_add_rows(op: flame.ScatterAddRowsOp, lw: Lowering) -> SSAValue:
    out = lw.placed(op.result)
    ring = _ring(lw, op.result, op.index, op.src, out, out, scatter=True)
    if ring is not None:
        return _ring_scatter_add(op, lw, ring, out)
    index = _index_everywhere(lw, op.index, out)
    shape = flame.tensor_shape(op.src)  # [*I, D]
    src_dist = out.with_(shape=shape, split=("",) * (len(shape) - 1) + (out.split[1],))
    src = lw.value_as(op.src, src_dist)
    return lw.emit(mesh.ScatterAddRowsOp(index, src, out))


LOWERINGS: dict[type[Operation], Callable] = {
    flame.GatherRowsOp: lower_gather_rows,
    flame.ScatterAddRowsOp: lower_scatter_add_rows,
}
