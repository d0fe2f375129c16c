"""matmul: skinny ones (GEMV) in gemv.py; the rest by SUMMA on a square grid with both operands split [r, c] (contraction padding zeroed);
batch dims stay whole on every PE.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

from pyflame.core.distribution import Distribution
from pyflame.dialects import flame, mesh
from pyflame.passes.flame_lowering.gemv import lower_skinny_matmul
from pyflame.passes.flame_lowering.state import Lowering, mask_pad, mesh_type


def matmul_grid(
    lw: Lowering, op: flame.MatmulOp, a: Distribution | None, b: Distribution | None
) -> int:
    """The side of the square grid SUMMA runs on: the result's grid hint; else an operand's
    square [r, c] grid if it is at least what the sizes need; else the larger of what the
    sizes need (the default layout of the biggest of A, B and C) and a square grid of about as
    many PEs as a partitioned operand."""
    hint = lw.hints.get(op.result)
    if hint is not None and hint.kind.data == "grid":
        return min(hint.size_tuple)
    needed = 1
    shapes = (flame.tensor_shape(op.lhs), flame.tensor_shape(op.rhs), flame.tensor_shape(op.result))
    for shape in shapes:
        layout = lw.default(shape, 4)
        if layout.kind.data == "grid":
            needed = max(needed, layout.size_tuple[0])
    for d in (a, b):
        if (
            d is not None
            and d.split == summa_split(len(d.shape))
            and d.grid[0] == d.grid[1]
            and d.grid[0] >= needed
        ):
            return d.grid[0]  # already placed for SUMMA: no redistribution
    sides = [needed] + [math.isqrt(d.grid[0] * d.grid[1]) for d in (a, b) if d is not None]
    return max(sides)


def summa_split(rank: int) -> tuple[str, ...]:
    """SUMMA's split of a rank-`rank` operand: batch dims unsplit, the last two [r, c]."""
    return ("",) * (rank - 2) + ("r", "c")


def lower_matmul(op: flame.MatmulOp, lw: Lowering) -> SSAValue:
    """A skinny matmul (GEMV) by local products and a reduction (flame_lowering/gemv.py), the
    rest by SUMMA on a g x g grid; batch dims stay whole on every PE (one operand may have
    none).

    SUMMA stays the default over Cannon and MeshGEMM (`mesh.MatmulAlgorithm`): double-buffered,
    it was never slower in benchmarks/efficiency.py (tiles 1 to 32, grids 16 to 256; see
    benchmarks/RESULTS.md "Cannon and MeshGEMM"): its roots send resident blocks, so its
    broadcasts pipeline across steps, while a ring step waits for the previous hop and the
    ring algorithms pay an alignment. `pe_lowering.matmul.set_algorithm` forces one."""
    skinny = lower_skinny_matmul(op, lw)
    if skinny is not None:
        return skinny
    sa, sb = flame.tensor_shape(op.lhs), flame.tensor_shape(op.rhs)
    g = matmul_grid(lw, op, lw.known_dist(op.lhs), lw.known_dist(op.rhs))
    # where on the fabric: the origin place-on-fabric (or the user's hint) gave the product
    placed = lw.hinted(op.result)
    origin = placed.origin if placed is not None else (0, 0)
    da = Distribution(sa, (g, g), summa_split(len(sa)), origin)
    db = Distribution(sb, (g, g), summa_split(len(sb)), origin)
    a, b = lw.value_as(op.lhs, da), lw.value_as(op.rhs, db)
    if da.has_padding([len(sa) - 1]):
        a = mask_pad(lw, a, 0.0)
    if db.has_padding([len(sb) - 2]):
        b = mask_pad(lw, b, 0.0)
    shape = flame.tensor_shape(op.result)
    result = Distribution(shape, (g, g), summa_split(len(shape)), origin)
    return lw.emit(
        mesh.MatmulOp(a, b, mesh_type(result, mesh.elem_of(a)), mesh.MatmulAlgorithm.SUMMA)
    )


LOWERINGS: dict[type[Operation], Callable] = {flame.MatmulOp: lower_matmul}
#: ops the PEs only run on floating-point data (FMACs)
FLOAT_ONLY_OPS: tuple[type[Operation], ...] = (flame.MatmulOp,)
