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
    sizes need (the last two dims' default layout of the biggest of A, B and C) and a square
    grid of about as many PEs as a partitioned operand."""
    hint = lw.hints.get(op.result)
    if hint is not None and hint.kind.data == "grid":
        return min(hint.size_tuple)
    needed = 1
    shapes = (flame.tensor_shape(op.lhs), flame.tensor_shape(op.rhs), flame.tensor_shape(op.result))
    for shape in shapes:
        layout = lw.matrix_layout(shape, 4)
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


def operands_origin(
    lw: Lowering, g: int, a: Distribution | None, b: Distribution | None
) -> tuple[int, int]:
    """The product's origin when nothing places it: its operands' common origin (a user's
    hints put both there, or one of them when the other is not placed yet), so a product of
    tensors hinted at (7, 3) runs there instead of moving both to PE (0, 0) and back; (0, 0)
    when they sit at different origins or a g x g grid would not fit on the fabric from
    theirs."""
    origins = {d.origin for d in (a, b) if d is not None}
    if len(origins) != 1:
        return (0, 0)
    (r, c) = origins.pop()
    if r + g > lw.target.fabric_rows or c + g > lw.target.fabric_cols:
        return (0, 0)
    return (r, c)


def summa_split(rank: int) -> tuple[str, ...]:
    """SUMMA's split of a rank-`rank` operand: batch dims unsplit, the last two [r, c]."""
    return ("",) * (rank - 2) + ("r", "c")


def lower_matmul(op: flame.MatmulOp, lw: Lowering) -> SSAValue:
    """A skinny matmul (GEMV) by local products and a reduction (flame_lowering/gemv.py), the
    rest by SUMMA on a g x g grid; batch dims stay whole on every PE (one operand may have
    none).

    The algorithm is SUMMA or the 2.5D SUMMA, by estimated cycles (`cheapest_algorithm`); SUMMA
    stays the default over Cannon and MeshGEMM (`mesh.MatmulAlgorithm`): double-buffered,
    it was never slower in benchmarks/efficiency.py (tiles 1 to 32, grids 16 to 256; see
    benchmarks/RESULTS.md "Cannon and MeshGEMM"): its roots send resident blocks, so its
    broadcasts pipeline across steps, while a ring step waits for the previous hop and the
    ring algorithms pay an alignment. `pe_lowering.matmul.set_algorithm` forces one.

    An operand that is a flame.transpose of its last two dims (`x.T @ dy`, `dy @ w.T`, `q @
    k.T`) is consumed in place (mesh.matmul's `transpose_a` / `transpose_b`: SUMMA turns its
    blocks at the diagonal) when the cost model estimates that cheaper than moving the
    transpose to SUMMA's layout (`fold_transposes`); the local mesh.transpose is then dropped
    if nothing else reads it."""
    skinny = lower_skinny_matmul(op, lw)
    if skinny is not None:
        return skinny
    sa, sb = flame.tensor_shape(op.lhs), flame.tensor_shape(op.rhs)
    g = matmul_grid(lw, op, lw.known_dist(op.lhs), lw.known_dist(op.rhs))
    # where on the fabric: the origin place-on-fabric (or the user's hint) gave the product,
    # else where its operands already are
    placed = lw.hinted(op.result)
    if placed is not None:
        origin = placed.origin
    else:
        origin = operands_origin(lw, g, lw.known_dist(op.lhs), lw.known_dist(op.rhs))
    shape = flame.tensor_shape(op.result)
    result = Distribution(shape, (g, g), summa_split(len(shape)), origin)
    ta, tb = fold_transposes(op, lw, result)
    lhs = transposed_source(op.lhs, lw) if ta else op.lhs
    rhs = transposed_source(op.rhs, lw) if tb else op.rhs
    assert lhs is not None and rhs is not None
    sa, sb = flame.tensor_shape(lhs), flame.tensor_shape(rhs)
    da = Distribution(sa, (g, g), summa_split(len(sa)), origin)
    db = Distribution(sb, (g, g), summa_split(len(sb)), origin)
    a, b = lw.value_as(lhs, da), lw.value_as(rhs, db)
    # the contraction dim: A's last (its second last when transposed), B's second last (last)
    if da.has_padding([len(sa) - (2 if ta else 1)]):
        a = mask_pad(lw, a, 0.0)
    if db.has_padding([len(sb) - (1 if tb else 2)]):
        b = mask_pad(lw, b, 0.0)
    for folded, v in ((ta, op.lhs), (tb, op.rhs)):
        if folded:
            drop_unread_transpose(v, op, lw)
    # half floats accumulate in float32 (the PEs' fp16 FMACs with fp32 accumulation, as
    # PyTorch's half matmul), rounded to the half type once, after the last step
    elem = mesh.elem_of(a)
    acc_elem = mesh.accumulator_elem(elem)
    product = lw.emit(
        mesh.MatmulOp(
            a,
            b,
            mesh_type(result, acc_elem),
            mesh.MatmulAlgorithm.SUMMA,
            transpose_a=ta,
            transpose_b=tb,
        )
    )
    matmul = product.owner
    assert isinstance(matmul, mesh.MatmulOp)
    if not (ta or tb):  # the 2.5D SUMMA reads A's block columns in place: not transposed
        matmul.properties["algorithm"] = mesh.MatmulAlgorithmAttr(cheapest_algorithm(matmul, lw))
    if acc_elem != elem:
        product = lw.emit(mesh.ConvertOp(product, elem))
    return product


def transposed_source(v: SSAValue, lw: Lowering) -> SSAValue | None:
    """`x` when flame value `v` is `x` with its last two dims swapped (flame.transpose, batch
    dims in place); None otherwise, or when `v` can be made again in any layout for free (a
    transposed program input reloaded from the host, `lw.remakes`: nothing to save)."""
    owner = v.owner
    if not isinstance(owner, flame.TransposeOp) or v in lw.remakes:
        return None
    perm = owner.perm_tuple
    rank = len(perm)
    if rank < 2 or perm != (*range(rank - 2), rank - 1, rank - 2):
        return None
    return owner.input


#: whether flame-to-mesh may fold transposes into mesh.matmul (benchmarks/transposed.py turns
#: it off to measure the materialised form side by side)
FOLD_TRANSPOSES = True


def fold_transposes(op: flame.MatmulOp, lw: Lowering, result: Distribution) -> tuple[bool, bool]:
    """Which operands of `op` (on `result`'s grid) to consume transposed: of the foldable ones,
    the choice (folded or not, each) with the fewest estimated cycles for moving the operands
    to SUMMA's layout (what is not there yet: a redistribution each) plus the product
    (double-buffered SUMMA, or the 2.5D SUMMA where it applies and is cheaper)."""
    sources = (transposed_source(op.lhs, lw), transposed_source(op.rhs, lw))
    if sources == (None, None) or not FOLD_TRANSPOSES:
        return False, False
    from pyflame.passes.cost_model import matmul as cost_model_matmul

    elem = op.result.type.element_type
    options = [
        (ta, tb)
        for ta in ((False, True) if sources[0] is not None else (False,))
        for tb in ((False, True) if sources[1] is not None else (False,))
    ]
    best: tuple[int, tuple[bool, bool]] | None = None
    for ta, tb in options:
        operands = [
            s if t else v for s, t, v in zip(sources, (ta, tb), (op.lhs, op.rhs), strict=True)
        ]
        dists = []
        moves = 0
        for v in operands:
            assert v is not None
            shape = flame.tensor_shape(v)
            want = result.with_(shape=shape, split=summa_split(len(shape)))
            dists.append(want)
            have = lw.known_dist(v)
            if have is not None:
                moves += cost_model_matmul.redistribute_cycles(lw.target, have, want, elem)
        cycles = moves + cost_model_matmul.matmul_cycles(
            lw.target, dists[0], dists[1], result, elem, (ta, tb)
        )
        if best is None or cycles <= best[0]:  # ties: fold (the local transpose goes)
            best = (cycles, (ta, tb))
    assert best is not None
    return best[1]


def drop_unread_transpose(v: SSAValue, op: flame.MatmulOp, lw: Lowering) -> None:
    """Erase the local mesh.transpose lowered for flame value `v` when `op` was its only reader
    (it now reads the source): nothing will ask for `v` again."""
    if any(use.operation is not op for use in v.uses):
        return
    lowered = lw.values.get(v)
    owner = lowered.owner if lowered is not None else None
    if isinstance(owner, mesh.TransposeOp) and not lowered.uses:  # type: ignore[union-attr]  # lowered is set when owner is
        del lw.values[v]
        owner.detach()
        owner.erase()


#: how much cheaper (estimated) the 2.5D SUMMA must be to replace SUMMA: its estimate counts
#: no other live tensors, and plan-memory sends it back to SUMMA where it would not fit
LAYERED_MARGIN = 0.97


def cheapest_algorithm(op: mesh.MatmulOp, lw: Lowering) -> mesh.MatmulAlgorithm:
    """SUMMA (double-buffered, as lower-mesh-to-pe makes it where it fits) or the 2.5D SUMMA,
    whichever the cost model (passes/cost_model/matmul.py) estimates faster. Cannon and
    MeshGEMM are never chosen: double-buffered SUMMA was never slower (benchmarks/RESULTS.md
    "Cannon and MeshGEMM")."""
    # the cost model loads numpy (its cost table): imported when a matmul is lowered, so the
    # passes still load without numpy (tests/unit/test_import_graph.py)
    from pyflame.passes.cost_model import matmul as cost_model_matmul
    from pyflame.passes.cost_model.registry import CostContext

    ctx = CostContext(lw.target, double_buffered={op})
    summa_cycles = cost_model_matmul.summa(op, ctx).cycles
    if cost_model_matmul.layered_plan_of(op, lw.target) is None:
        return mesh.MatmulAlgorithm.SUMMA
    layered_cycles = cost_model_matmul.summa25d(op, ctx).cycles
    if layered_cycles < LAYERED_MARGIN * summa_cycles:
        return mesh.MatmulAlgorithm.SUMMA25D
    return mesh.MatmulAlgorithm.SUMMA


LOWERINGS: dict[type[Operation], Callable] = {flame.MatmulOp: lower_matmul}
#: ops the PEs only run on floating-point data (FMACs)
FLOAT_ONLY_OPS: tuple[type[Operation], ...] = (flame.MatmulOp,)
