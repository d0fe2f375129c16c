"""Costs of the ring forms of the indexed-row ops (mesh.ring_gather_rows,
mesh.ring_scatter_add_rows; pe_lowering/ring_rows.py): the steps as passes/indexed_layouts.py
`ring_cycles` counts them (the same estimate chose the ring's layout), after the fill of the
rows (or of the table) and the copies of operands a later op still reads.

    mesh.ring_gather_rows on 64x32 split [r, _], 10000 entries: 5 a PE, 64 steps of
    (gather 5 rows, move the index and the rows one ring step) ~ 64 * 76 cycles
"""

from __future__ import annotations

from pyflame.core.vector_costs import CostKind
from pyflame.dialects import mesh
from pyflame.dialects.mesh import dist_of, ring_length
from pyflame.passes.cost_model.registry import Cost, CostContext, cost_rule
from pyflame.passes.indexed_layouts import ring_cycles


def _copies(ctx: CostContext, op: mesh.RingGatherRowsOp | mesh.RingScatterAddRowsOp) -> int:
    """The copies lower-mesh-to-pe makes of the travelling operands a later op reads."""
    moving = [op.index] + ([op.src] if isinstance(op, mesh.RingScatterAddRowsOp) else [])
    return sum(
        ctx.compute_on(CostKind.COPY, v, dist_of(v).local_elems)
        for v in moving
        if ctx.read_later(v, op)
    )


@cost_rule(mesh.RingGatherRowsOp)
def ring_gather_rows(op: mesh.RingGatherRowsOp, ctx: CostContext) -> Cost:
    table, entries = dist_of(op.table), dist_of(op.index).shape[0]
    eb = ctx.elem_bytes(op.table)
    cycles = ring_cycles(table, entries, ctx.target, eb)
    if ring_length(table) > 1:
        cycles += ctx.compute_on(CostKind.FILL, op.result, dist_of(op.result).local_elems)
        cycles += _copies(ctx, op)
    steps = ring_length(table)
    return Cost(cycles, ctx.tile_bytes(op.result), detail=f"{steps} ring steps")


@cost_rule(mesh.RingScatterAddRowsOp)
def ring_scatter_add_rows(op: mesh.RingScatterAddRowsOp, ctx: CostContext) -> Cost:
    table, entries = op.table_dist(), dist_of(op.index).shape[0]
    eb = ctx.elem_bytes(op.result)
    cycles = ctx.compute_on(CostKind.FILL, op.result, dist_of(op.result).local_elems)
    cycles += ring_cycles(table, entries, ctx.target, eb, scatter=True)
    if ring_length(table) > 1:
        cycles += _copies(ctx, op)
    steps = ring_length(table)
    return Cost(cycles, ctx.tile_bytes(op.result), detail=f"{steps} ring steps")
