"""assign-layouts' data-flow rules (passes/assign_layouts.py): which layout each modelled op
relates to its neighbours' (`implied`), and their fixed point over a function (`propagate`),
run once on a symbolic grid and regridded to each candidate side (`Assignment.regrid`).

    a = propagate(fn, SYMBOLIC_SIDE, target).regrid(32)   # every value's layout on 32x32
    write_assignment(fn, a)                                # as pf.dist / pf.why in the IR
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from xdsl.dialects import func
from xdsl.dialects.builtin import StringAttr, TensorType
from xdsl.ir import Operation, SSAValue

from pyflame.core.distribution import Distribution
from pyflame.core.elementwise import type_name
from pyflame.core.target import WSE2, Target
from pyflame.dialects import flame
from pyflame.passes.flame_lowering.gemv import skinny_side
from pyflame.passes.indexed_layouts import wants_ring
from pyflame.passes.layouts import (
    ALGORITHM_ATTR,
    collect_hints,
    dist_text,
    elem_bytes_of,
    gather_table_dist,
    last_two_dims_layout,
    layout_to_dist,
    mark_reload,
    set_assignment,
)

#: the ops whose layouts propagate (every other op is opaque)
ELEMENTWISE: tuple[type[Operation], ...] = (
    flame.ElementwiseUnaryOp,
    flame.ElementwiseBinaryOp,
    flame.WhereOp,
    flame.ConvertOp,
)
REDUCTIONS: tuple[type[flame._ReduceOp], ...] = (*flame.REDUCE_OPS.values(), flame.ReduceMeanOp)
CREATION: tuple[type[Operation], ...] = (
    flame.FillOp,
    flame.IotaOp,
    flame.RandomNormalOp,
    flame.RandomUniformOp,
)
#: indexed-row ops: their layouts follow their results' (`indexed_implied`)
INDEXED: tuple[type[Operation], ...] = (flame.GatherRowsOp, flame.ScatterAddRowsOp)
#: a program input or creation op up to this size that a moving reshape reads is placed whole
#: on every PE of the reshape's grid, so the reshape moves nothing between PEs
REPLICATED_LEAF_BYTES = 4 * 1024


#: the grid side propagation runs with, replaced by each candidate side (`Assignment.regrid`);
#: larger than any fabric, so no hint has it
SYMBOLIC_SIDE = 1 << 20


def summa_dist(shape: tuple[int, ...], g: int) -> Distribution:
    """SUMMA's layout on a g x g grid: batch dims whole, the last two over rows and columns."""
    split = ("",) * (len(shape) - 2) + ("r", "c")
    return Distribution(shape, (g, g), split)


def unsplit_ones(d: Distribution) -> Distribution:
    """Size-1 dims are never split across a mesh axis: they are replicated."""
    return d.with_(split=["" if n == 1 else a for n, a in zip(d.shape, d.split, strict=True)])


@dataclass
class Assignment:
    """The distribution chosen for each value, why, and where two choices met."""

    grid: tuple[int, int]
    dists: dict[SSAValue, Distribution] = field(default_factory=dict)
    why: dict[SSAValue, str] = field(default_factory=dict)
    #: (value, the layout another use wanted): one redistribution each in flame-to-mesh
    conflicts: list[tuple[SSAValue, Distribution]] = field(default_factory=list)
    #: program inputs wanted in several layouts: loaded from the host once per layout
    reloads: set[SSAValue] = field(default_factory=set)
    #: skinny products whose matrix the user placed: GEMV keeps it there and places the rest
    #: itself (passes/flame_lowering/gemv.py), so the pass leaves their results alone
    gemvs: set[Operation] = field(default_factory=set)
    #: skinny products laid out for the GEMV algorithm (`gemv_implied`); the other skinny
    #: products of the function are laid out for SUMMA (a candidate of each kind is ranked)
    gemv_ops: set[Operation] = field(default_factory=set)
    #: whether skinny products were modelled as GEMVs (True) or as SUMMA (False)
    skinny_as_gemv: bool = True

    def regrid(self, side: int) -> Assignment:
        """This assignment with the symbolic grid (`SYMBOLIC_SIDE`) made `side` x `side`: the
        rules never look at the grid's size, so one propagation serves every side."""
        sym = (SYMBOLIC_SIDE, SYMBOLIC_SIDE)
        dists = {
            v: d.with_(grid=(side, side)) if d.grid == sym else d for v, d in self.dists.items()
        }
        conflicts = [
            (v, d.with_(grid=(side, side)) if d.grid == sym else d) for v, d in self.conflicts
        ]
        if side == 1:  # on one PE every layout is the same
            conflicts = []
        return Assignment(
            (side, side),
            dists,
            dict(self.why),
            conflicts,
            set(self.reloads),
            set(self.gemvs),
            set(self.gemv_ops),
            self.skinny_as_gemv,
        )

    def offer(self, v: SSAValue, d: Distribution, why: str) -> bool:
        """Give `v` layout `d` unless it has one; a different one already there is a conflict.
        The results of GEMVs on a user-placed matrix are left to their lowering."""
        if v.owner in self.gemvs:
            return False
        d = unsplit_ones(d)
        old = self.dists.get(v)
        if old is None:
            self.dists[v] = d
            self.why[v] = why
            return True
        if old.normalized() != d.normalized() and (v, d) not in self.conflicts:
            self.conflicts.append((v, d))
        return False


def modelled(v: SSAValue) -> bool:
    """Whether the pass may choose `v`'s layout: a tensor made by a block argument or an op
    whose lowering it models."""
    if not isinstance(v.type, TensorType):
        return False
    owner = v.owner
    if isinstance(owner, flame.MatmulOp):
        return is_matrix_product(owner)
    if isinstance(owner, REDUCTIONS) and type_name(v.type.element_type) in ("i32", "i1"):
        # an integer reduction's padding lanes hold its identity (the largest int for the
        # argmin that argmax decomposes into): split, `+ k` on them would be an int32
        # overflow the simulator reports although no real element overflows
        return False
    return not isinstance(owner, Operation) or isinstance(
        owner,
        ELEMENTWISE
        + REDUCTIONS
        + CREATION
        + INDEXED
        + (flame.TransposeOp, flame.ReshapeOp, flame.BroadcastToOp, flame.MatmulOp),
    )


def squeeze_map(src: tuple[int, ...], dst: tuple[int, ...]) -> dict[int, int] | None:
    """For a reshape that only adds or drops size-1 dims: src dim -> dst dim of each non-1 dim."""
    a = [i for i, n in enumerate(src) if n != 1]
    b = [i for i, n in enumerate(dst) if n != 1]
    if [src[i] for i in a] != [dst[i] for i in b]:
        return None
    return dict(zip(a, b, strict=True))


def implied(op: Operation, known: dict[SSAValue, Distribution], grid: tuple[int, int]) -> list:
    """(value, layout) pairs that `op`'s lowering relates to the layouts already known: what
    flame-to-mesh will make of them (forward) or what its operands must be (backward)."""
    out: list[tuple[SSAValue, Distribution]] = []
    res = op.results[0] if op.results else None
    if res is None or not isinstance(res.type, TensorType):
        return out
    shape = flame.tensor_shape(res)
    if isinstance(op, ELEMENTWISE):
        full = [v for v in (*op.operands, res) if flame.tensor_shape(v) == shape]
        have = next((known[v] for v in full if v in known), None)
        if have is not None:
            out += [(v, have.with_(shape=flame.tensor_shape(v))) for v in full]
        g = have.grid if have is not None else grid
        out += [(v, Distribution((), g, ())) for v in op.operands if not flame.tensor_shape(v)]
    elif isinstance(op, flame.TransposeOp):
        perm = op.perm_tuple
        x = op.input
        if x in known:
            d = known[x]
            out.append((res, d.with_(shape=shape, split=[d.split[p] for p in perm])))
        if res in known:
            d = known[res]
            inv = [perm.index(i) for i in range(len(perm))]
            out.append((x, d.with_(shape=flame.tensor_shape(x), split=[d.split[i] for i in inv])))
    elif isinstance(op, REDUCTIONS):
        x, dims = op.input, op.dim_tuple
        keep = op.keepdim is not None
        xs = flame.tensor_shape(x)
        if x in known:
            d = known[x]
            split = [("" if i in dims else a) for i, a in enumerate(d.split)]
            if not keep:
                split = [a for i, a in enumerate(split) if i not in dims]
            out.append((res, d.with_(shape=shape, split=split)))
        if res in known and x not in known:  # a guess: only where nothing else decided
            d = known[res]
            kept = [i for i in range(len(xs)) if i not in dims]
            split = [""] * len(xs)
            for j, i in enumerate(kept):
                split[i] = d.split[i if keep else j]
            # a reduced dim takes a mesh axis the kept dims leave free (a row sum of [r, c])
            free = [
                a
                for a, n in zip(("r", "c"), d.grid, strict=True)
                if n > 1 and a not in "".join(split)
            ]
            for i in reversed(dims):
                if free and xs[i] > 1:
                    split[i] = free.pop()
            out.append((x, d.with_(shape=xs, split=split)))
    elif isinstance(op, flame.ReshapeOp):
        x = op.input
        xs = flame.tensor_shape(x)
        fwd = squeeze_map(xs, shape)
        if fwd is not None and x in known:
            d = known[x]
            split = [""] * len(shape)
            for i, j in fwd.items():
                split[j] = d.split[i]
            out.append((res, d.with_(shape=shape, split=split)))
        if fwd is not None and res in known:
            d = known[res]
            split = [""] * len(xs)
            for i, j in fwd.items():
                split[i] = d.split[j]
            out.append((x, d.with_(shape=xs, split=split)))
        elif fwd is None and res in known and small_leaf(x):
            # a moving reshape of a leaf (the targets' view(B * T)): the leaf whole on every PE,
            # so the reshape's exchange is a local copy (no network phase)
            out.append((x, replicated(x, known[res].grid)))
    elif isinstance(op, flame.BroadcastToOp):
        x = op.input
        xs = flame.tensor_shape(x)
        k = len(shape) - len(xs)
        if res in known:
            d = known[res]
            split = [d.split[k + i] if n == shape[k + i] else "" for i, n in enumerate(xs)]
            out.append((x, d.with_(shape=xs, split=split)))
    elif isinstance(op, flame.ScatterAddRowsOp) and op.src in known and res not in known:
        # the sums where the source's rows are (a gather's table layout for the source's
        # split): moving the [V, D] result later is cheaper than moving the [*I, D] source
        out.append(
            (res, gather_table_dist(shape, known[op.src], elem_bytes_of(res.type.element_type)))
        )
    elif isinstance(op, INDEXED) and res in known:
        out += indexed_implied(op, known[res])
    elif isinstance(op, flame.MatmulOp) and res in known and is_matrix_product(op):
        g = known[res].grid
        for v in op.operands:
            out.append((v, Distribution(flame.tensor_shape(v), g, _summa_split(v))))
    return out


def replicated(v: SSAValue, grid: tuple[int, int]) -> Distribution:
    shape = flame.tensor_shape(v)
    return Distribution(shape, grid, ("",) * len(shape))


def small_leaf(v: SSAValue) -> bool:
    """A program input or creation op of at most REPLICATED_LEAF_BYTES: placing it costs no
    movement on the fabric (the host loads it, or every PE makes it)."""
    owner = v.owner
    if isinstance(owner, Operation) and not isinstance(owner, CREATION):
        return False
    typ = v.type
    assert isinstance(typ, TensorType)
    size = math.prod(flame.tensor_shape(v)) * elem_bytes_of(typ.element_type)
    return size <= REPLICATED_LEAF_BYTES


def indexed_implied(op: Operation, result: Distribution) -> list[tuple[SSAValue, Distribution]]:
    """What a gather_rows or scatter_add_rows whose result has layout `result` wants of its
    operands, so that it moves only index-sized data (flame_lowering/indexed.py): the index
    whole on every PE of the grid; gather_rows' table split like the result's rows
    (`gather_table_dist`: D like the result's last dim), scatter_add_rows' source [*I, D] with
    D split like the result's columns; nothing when the replicated form would be too big for a
    PE (`wants_ring`, with WSE-2's SRAM: every preset has it). Backward (and scatter_add_rows forward, `implied`)
    only: an embedding's output is the residual stream, whose layout its other users decide."""
    assert isinstance(op, flame.GatherRowsOp | flame.ScatterAddRowsOp)
    entries = math.prod(flame.tensor_shape(op.index))
    if isinstance(op, flame.GatherRowsOp):
        table = op.table
        typ = table.type
        assert isinstance(typ, TensorType)
        shape = flame.tensor_shape(table)
        eb = elem_bytes_of(typ.element_type)
        wants = gather_table_dist(shape, result, eb)
        if wants_ring(wants, entries, eb, WSE2):
            return []  # the ring form, which places its operands itself (flame_lowering/indexed.py)
        return [(table, wants), (op.index, replicated(op.index, result.grid))]
    assert isinstance(op, flame.ScatterAddRowsOp)
    typ = op.result.type
    assert isinstance(typ, TensorType)
    if wants_ring(result, entries, elem_bytes_of(typ.element_type), WSE2):
        return []
    src = flame.tensor_shape(op.src)
    src_dist = Distribution(src, result.grid, ("",) * (len(src) - 1) + (result.split[1],))
    return [(op.src, src_dist), (op.index, replicated(op.index, result.grid))]


def _summa_split(v: SSAValue) -> tuple[str, ...]:
    return ("",) * (len(flame.tensor_shape(v)) - 2) + ("r", "c")


def propagate(
    fn: func.FuncOp, g: int, target: Target, use_hints: bool = True, gemv: bool = True
) -> Assignment:
    """Hints first, then matmul anchors on g x g, then the data-flow rules to a fixed point.

    With `gemv`, skinny products (flame_lowering/gemv.py `skinny_side`, batched rows
    included) are laid out for the GEMV algorithm instead of SUMMA (`gemv_implied`): no
    anchor of their own; when propagation leaves one undecided, the first such product in
    program order is anchored (its matrix split [r, c], the contraction on the rows) and
    propagation runs again, so a chain of GEMVs alternates its reduction axis."""
    block = fn.body.block
    a = Assignment((g, g), skinny_as_gemv=gemv)
    hints = collect_hints(fn) if use_hints else {}
    for v, hint in hints.items():
        if modelled(v) or isinstance(v.owner, Operation):
            a.offer(v, layout_to_dist(hint, flame.tensor_shape(v), target), "hint")
    ops = [op for op in block.ops if isinstance(op, flame.FlameOp)]
    a.gemvs = {op for op in ops if isinstance(op, flame.MatmulOp) and user_placed_gemv(op, hints)}
    if gemv:
        a.gemv_ops = {
            op
            for op in ops
            if isinstance(op, flame.MatmulOp) and op not in a.gemvs and skinny_side(op)
        }
    for op in ops:
        if (
            isinstance(op, flame.MatmulOp)
            and op.result not in a.dists
            and op not in a.gemv_ops
            and is_matrix_product(op)
        ):
            side, why = hinted_side(op, a, target) or (g, "matmul")
            a.offer(op.result, summa_dist(flame.tensor_shape(op.result), side), why)
    gemv_ops = [op for op in ops if isinstance(op, flame.MatmulOp) and op in a.gemv_ops]
    anchored: set[Operation] = set()
    while True:
        changed = True
        while changed:
            changed = False
            for op in ops:
                if isinstance(op, flame.MatmulOp) and op in a.gemv_ops:
                    pairs, why = gemv_implied(op, a.dists), "gemv"
                else:
                    pairs = implied(op, a.dists, a.grid)
                    why = "matmul" if isinstance(op, flame.MatmulOp) else "propagated"
                for v, d in pairs:
                    if modelled(v) and a.offer(v, d, why):
                        changed = True
        undecided = next(
            (op for op in gemv_ops if op not in anchored and not gemv_implied(op, a.dists)),
            None,
        )
        if undecided is None:
            break
        anchored.add(undecided)  # once: a matrix placed otherwise (a hint) keeps its layout
        matrix, _, k_dim = gemv_roles(undecided)
        mshape = flame.tensor_shape(matrix)
        core = ("r", "c") if k_dim == 0 else ("c", "r")  # the contraction on the rows
        split = ("",) * (len(mshape) - 2) + core  # batch dims whole on every PE
        a.offer(matrix, Distribution(mshape, a.grid, split), "gemv")
    hinted = set(hints)
    moved = []
    for v, d in a.conflicts:
        root = input_behind_transposes(v)
        if root is not None and root not in hinted:
            a.reloads.add(root)
        else:
            moved.append((v, d))
    a.conflicts = moved
    return a


def gemv_roles(op: flame.MatmulOp) -> tuple[SSAValue, SSAValue, int]:
    """(matrix, skinny operand, which of the matrix's last two dims is the contraction) of a
    skinny product."""
    if skinny_side(op) == "rhs":
        return op.lhs, op.rhs, 1
    return op.rhs, op.lhs, 0


def gemv_implied(
    op: flame.MatmulOp, known: dict[SSAValue, Distribution]
) -> list[tuple[SSAValue, Distribution]]:
    """The GEMV's layouts (flame_lowering/gemv.py) from whichever of its matrix, result or
    skinny operand already has one: the matrix split over both mesh axes (batch dims whole),
    the skinny operand split like the contraction and copied along the other axis, the result
    split like the matrix's other dim and copied along the contraction's axis (the allreduce
    leaves a copy on every PE of the line). Empty when none of them decides the axes."""
    matrix, vector, k_dim = gemv_roles(op)
    mshape, vshape = flame.tensor_shape(matrix), flame.tensor_shape(vector)
    rshape = flame.tensor_shape(op.result)
    m_k, m_o = len(mshape) - 2 + k_dim, len(mshape) - 1 - k_dim  # the matrix's dims ...
    v_k = len(vshape) - 1 - k_dim  # ... the skinny operand's contraction dim ...
    r_o = len(rshape) - 1 - k_dim  # ... and the result's dim the matrix spans
    axes: tuple[str, str] | None = None
    grid: tuple[int, int] | None = None
    m = known.get(matrix)
    if m is not None and {m.split[m_k], m.split[m_o]} == {"r", "c"}:
        axes, grid = (m.split[m_k], m.split[m_o]), m.grid
    for v, dim, pos in ((op.result, r_o, 1), (vector, v_k, 0)):
        d = known.get(v)
        if axes is None and d is not None and d.split[dim] in ("r", "c"):
            axis = d.split[dim]
            flip = "c" if axis == "r" else "r"
            axes, grid = ((flip, axis) if pos else (axis, flip)), d.grid
    if axes is None or grid is None:
        return []

    def split(shape: tuple[int, ...], dims: dict[int, str]) -> tuple[str, ...]:
        return tuple(dims.get(i, "") for i in range(len(shape)))

    k_axis, o_axis = axes
    return [
        (matrix, Distribution(mshape, grid, split(mshape, {m_k: k_axis, m_o: o_axis}))),
        (vector, Distribution(vshape, grid, split(vshape, {v_k: k_axis}))),
        (op.result, Distribution(rshape, grid, split(rshape, {r_o: o_axis}))),
    ]


def user_placed_gemv(op: flame.MatmulOp, hints: dict) -> bool:
    """A skinny product (flame_lowering/gemv.py) whose matrix operand, or the tensor it is a
    transpose of (`x @ W.T` of a placed W), carries a user hint: the issue's `A on
    grid(64, 64) @ x` keeps A's layout and is no SUMMA."""
    side = skinny_side(op)
    if side is None:
        return False
    matrix = op.lhs if side == "rhs" else op.rhs
    while matrix not in hints and isinstance(matrix.owner, flame.TransposeOp):
        matrix = matrix.owner.input
    return matrix in hints


def is_matrix_product(op: flame.MatmulOp) -> bool:
    """Operands and result of rank 2 or more (the rules place nothing else)."""
    return all(len(flame.tensor_shape(v)) >= 2 for v in (op.lhs, op.rhs, op.result))


def hinted_side(op: flame.MatmulOp, a: Assignment, target: Target) -> tuple[int, str] | None:
    """The grid side of an operand the user placed for SUMMA (square, split [r, c]) when it is
    at least what the sizes need (flame-to-mesh's rule, `matmul_grid`): the product runs
    there, so the hinted operand does not move."""
    needed = 1
    for v in (op.lhs, op.rhs, op.result):
        layout = last_two_dims_layout(flame.tensor_shape(v), 4, target)
        if layout.kind.data == "grid":
            needed = max(needed, *layout.size_tuple)
    for v in op.operands:
        d = a.dists.get(v)
        if (
            d is not None
            and a.why.get(v) == "hint"
            and d.grid[0] == d.grid[1] >= needed
            and d.split[-2:] == ("r", "c")
        ):
            return d.grid[0], "hint"
    return None


def input_behind_transposes(v: SSAValue) -> SSAValue | None:
    """The program input `v` is a transpose (of a transpose ...) of, if it is one."""
    while isinstance(v.owner, flame.TransposeOp):
        v = v.owner.input
    return None if isinstance(v.owner, Operation) else v


def write_assignment(
    fn: func.FuncOp, a: Assignment, mapper: dict[SSAValue, SSAValue] | None = None
) -> None:
    """Record `a` in `fn` as pf.dist / pf.why (and pf.reload); `mapper` maps the values `a`
    was made for to `fn`'s (a copy of their function)."""
    mapper = mapper or {}
    for v, d in a.dists.items():
        if flame.tensor_shape(v) or isinstance(v.owner, Operation):
            set_assignment(fn, mapper.get(v, v), dist_text(d), a.why[v])
    for arg in a.reloads:
        mark_reload(fn, mapper.get(arg, arg))
    # the algorithm of every skinny product, which flame-to-mesh follows (`pf.algorithm`)
    gemv_ops = {mapper.get(op.results[0], op.results[0]).owner for op in a.gemv_ops}
    user_placed = {mapper.get(op.results[0], op.results[0]).owner for op in a.gemvs}
    for op in fn.body.block.ops:
        if isinstance(op, flame.MatmulOp) and op not in user_placed and skinny_side(op):
            algorithm = "gemv" if op in gemv_ops else "summa"
            op.attributes[ALGORITHM_ATTR] = StringAttr(algorithm)
