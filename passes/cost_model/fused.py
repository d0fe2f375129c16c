"""Costs of the groups fuse-elementwise makes (passes/fuse_elementwise.py), predicted on the mesh
program by `mesh_groups`: the group's root costs the one pass pe.fused makes over its tile
(`fused_expr.fused_cycles`, what the simulator charges: every step's ALU passes, each input
read once, the result written once, an issue per pass); the other members cost nothing, their
values never being tiles.

    %4 = mesh.broadcast %3 ...            -> 0 (a stride-0 read inside the fused op)
    %5 = mesh.binary sub %0, %4 ...       -> 1 pass over the tile, x and the row read once
"""

from __future__ import annotations

from xdsl.dialects import func
from xdsl.ir import Operation

from pyflame.core import fused_expr
from pyflame.core.target import Target
from pyflame.dialects import mesh
from pyflame.passes.cost_model.registry import Cost
from pyflame.passes.fuse_elementwise import mesh_groups
from pyflame.passes.layouts import elem_bytes_of
from pyflame.passes.plan_memory import tile_bytes


def fused_costs(fn: func.FuncOp, target: Target) -> dict[Operation, Cost]:
    """Every op of `fn` that fuse-elementwise will fuse, with its cost (the root's: the group's)."""
    out: dict[Operation, Cost] = {}
    for group in mesh_groups(fn):
        result = group.root.results[0]
        n = mesh.dist_of(result).local_elems
        sizes = [mesh.dist_of(v).local_elems for v in group.inputs]
        types = [str(mesh.elem_of(v)) for v in group.inputs]
        cycles, _ = fused_expr.fused_cycles(target, group.steps, n, sizes, types)
        for m in group.members:
            out[m] = Cost(0, detail=f"fused into the {group.root.name} below")
        out[group.root] = Cost(
            cycles,
            tile_bytes(mesh.dist_of(result), elem_bytes_of(mesh.elem_of(result))),
            algorithm="fused",
            detail=f"{len(group.members)} ops in one pass over {n} elements: "
            + fused_expr.format_steps(group.steps),
        )
    return out
