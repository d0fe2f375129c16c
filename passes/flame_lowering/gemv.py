"""GEMV and skinny matmuls (ALGORITHMS.md section 6): the matrix stays where it is, the skinny
operand is copied along the mesh axis it needs, every PE multiplies its own blocks, and the
partial sums are reduced along the axis the contraction is split over.

    y = A @ x, A [M, K] on a grid split [r, c], x [K, 1]:

    %x1 = mesh.scatter %x ... -> !mesh.tensor<Kx1 on RxC split [c, _]>     (copied along r)
    %p  = mesh.local_matmul %a, %x1 : ... -> !mesh.tensor<CxMx1 on RxC split [c, r, _]>
    %s  = mesh.allreduce sum %p dims [0] : ... -> !mesh.tensor<1xMx1 on RxC split [_, r, _]>
    %y  = mesh.reshape %s : ... -> !mesh.tensor<Mx1 on RxC split [r, _]>  (copied along c)

The result is replicated along the contraction's axis (an allreduce, not a reduce to one PE):
that copy is exactly the layout the next GEMV of a chain wants when its matrix is split the
other way round ([c, r]), so y2 = W2 @ (W1 @ x) alternates the reduction axis and needs no
transpose or redistribution. A matrix that is a lazy leaf (a program input, a creation op)
is placed at its first use with its contraction dim on the axis the vector already lies
along; a `grid(R, C)` hint fixes the grid, not which dim goes on rows.
"""

from __future__ import annotations

import math

from xdsl.dialects import func
from xdsl.dialects.builtin import StringAttr
from xdsl.ir import SSAValue

from pyflame.core.distribution import Distribution
from pyflame.dialects import flame, mesh
from pyflame.dialects.mesh import dist_of, local_matmul_problem, stored_transposed
from pyflame.passes.flame_lowering.state import Lowering, mask_pad
from pyflame.passes.layouts import ALGORITHM_ATTR

#: a matmul is skinny when its result has at most this many rows or columns: the skinny
#: operand is then small enough to copy along a mesh axis, and SUMMA would spend its steps
#: broadcasting blocks that are mostly padding
SKINNY_MAX = 16
#: ... and at least this many times smaller than the matrix's other dims (an 8x8 @ 8x8 product
#: is small, not skinny)
SKINNY_RATIO = 4


def skinny_side(op: flame.MatmulOp) -> str | None:
    """'rhs' when B is the skinny operand (A @ x: few result columns), 'lhs' when A is
    (x @ W: few result rows), None when the matmul is not a skinny one.

    Batched forms: a lhs [*B, m, k] with batch dims against a 2-D W [k, n] (nn.Linear on a
    decode step's [B, 1, d] or [1, 1, d] activations) is skinny on the lhs when its rows
    B * m are few: the lhs is copied whole along the GEMV's other axis, so its [rows, k]
    is a local reshape of every PE's block (`rows_shape`). Operands with the same batch
    dims (a decode step's attention, q [B, h, 1, d] @ K^T [B, h, d, S]) are skinny by their
    last two dims; the batch dims stay whole on every PE (mesh.local_matmul's batched form)."""
    sa, sb = flame.tensor_shape(op.lhs), flame.tensor_shape(op.rhs)
    if len(sa) < 2 or len(sb) < 2:
        return None
    if len(sb) == 2:
        rows, k = rows_shape(sa)
    elif sa[:-2] == sb[:-2]:
        rows, k = sa[-2:]
    else:
        return None
    n = sb[-1]
    if len(sa) == len(sb):
        m = sa[-2]
        if n <= SKINNY_MAX and n * SKINNY_RATIO <= max(m, k) and n <= m:
            return "rhs"
    if rows <= SKINNY_MAX and rows * SKINNY_RATIO <= max(n, k):
        return "lhs"
    return None


def rows_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """[rows, k] of a lhs [*B, m, k]: its leading dims, whole on every PE of a GEMV (only k is
    split), flattened in place."""
    return math.prod(shape[:-1]), shape[-1]


def matrix_dist(
    lw: Lowering, matrix: SSAValue, vector: SSAValue, k_dim: int, vector_k_dim: int
) -> Distribution:
    """Where the matrix operand is multiplied: where it already is; a lazy leaf goes where its
    hint or the default puts it, with its last two dims' axes swapped when that puts the
    contraction (dim `k_dim`) on the axis the already placed vector splits its contraction
    (dim `vector_k_dim`) over."""
    known = lw.known_dist(matrix)
    if known is not None and matrix not in lw.deferred:
        return known
    d = lw.placed(matrix)
    placed_vector = None if vector in lw.deferred else lw.known_dist(vector)
    if (
        placed_vector is None
        or placed_vector.grid != d.grid
        or sorted(d.split[-2:]) != ["c", "r"]
        or any(d.split[:-2])
    ):
        return d
    vector_k = placed_vector.split[vector_k_dim]
    if vector_k in ("r", "c") and d.split[k_dim] != vector_k:
        return d.with_(split=(*d.split[:-2], d.split[-1], d.split[-2]))
    return d


def costly_copies(lw: Lowering, vector: SSAValue, vd: Distribution, md: Distribution) -> bool:
    """Whether bringing an already placed skinny operand to its copies (a point-to-point
    redistribute) would move more than 1/SKINNY_RATIO of the matrix's elements: then SUMMA,
    which moves blocks of both, is the better bet (the gradient h^T @ dlogits of a small
    MLP). A lazy leaf is scattered straight into its copies, and a chained GEMV's vector is
    already there."""
    if vector in lw.deferred:
        return False
    known = lw.known_dist(vector)
    if known is None or known == vd or known.normalized() == vd.normalized():
        return False
    copies = vd.num_pes // math.prod(vd.parts(i) for i in range(len(vd.shape)))  # of a block
    moved = math.prod(vd.shape) * copies
    return moved * SKINNY_RATIO > math.prod(md.shape)


def place(lw: Lowering, v: SSAValue, dist: Distribution) -> SSAValue:
    """`v` in `dist`: a lazy leaf is made there (a hinted one only in its hint's grid, which
    `matrix_dist` keeps), anything else is redistributed when it is elsewhere."""
    if v in lw.deferred:
        return lw.materialize(v, dist)
    return lw.to_dist(lw.value(v), dist)


def lower_skinny_matmul(op: flame.MatmulOp, lw: Lowering) -> SSAValue | None:
    """A @ B as local block products and a sum of the partials along the contraction's axis,
    or None when the matmul is not skinny, the matrix's layout does not allow it, or
    assign-layouts chose SUMMA for it (`pf.algorithm`) (SUMMA then)."""
    side = skinny_side(op)
    if side is None or chosen_algorithm(op) == "summa":
        return None
    matrix, vector = (op.lhs, op.rhs) if side == "rhs" else (op.rhs, op.lhs)
    vshape, batch = flame.tensor_shape(vector), len(flame.tensor_shape(matrix)) - 2
    k_dim = batch + (1 if side == "rhs" else 0)  # the matrix's contraction dim ...
    v_k = len(vshape) - (2 if side == "rhs" else 1)  # ... and the skinny operand's
    md = matrix_dist(lw, matrix, vector, k_dim, v_k)
    axis = md.split[k_dim] if not any(md.split[:batch]) else "rc"
    vsplit = [""] * len(vshape)
    vsplit[v_k] = axis  # copied along the other axis
    vd = md.with_(shape=vshape, split=vsplit)
    # a batched lhs [*B, m, k] against a 2-D matrix is multiplied as its [rows, k] (a local
    # reshape of copies); operands with batch dims keep them (whole on every PE)
    flat = vd
    if side == "lhs" and batch == 0 and len(vshape) > 2:
        flat = vd.with_(shape=rows_shape(vshape), split=("", axis))
    da, db = (md, flat) if side == "rhs" else (flat, md)
    if local_matmul_problem(da, db) is not None or costly_copies(lw, vector, vd, md):
        return None
    source = folded_source(lw, op, matrix, md)
    if source is not None:  # W of x @ W.T, read in place: no transpose on any PE
        m_val = lw.value_as(source, stored_transposed(md, True))
    else:
        m_val = place(lw, matrix, md)
    v_val = lw.value_as(vector, vd)
    if flat != vd:
        v_val = lw.emit(mesh.ReshapeOp(v_val, flat))
    a, b = (m_val, v_val) if side == "rhs" else (v_val, m_val)
    if da.has_padding([len(da.shape) - 1]):  # products of padding must be zero in both
        a, b = mask_pad(lw, a, 0.0), mask_pad(lw, b, 0.0)
    folded = source is not None
    # half floats: the products and their sum over the PEs in float32, rounded once (as
    # PyTorch's half matmul; the PEs' fp16 FMACs accumulate in fp32)
    elem = mesh.elem_of(a)
    acc_elem = mesh.accumulator_elem(elem)
    partial = lw.emit(
        mesh.LocalMatmulOp(
            a,
            b,
            transpose_a=folded and side == "rhs",
            transpose_b=folded and side == "lhs",
            result_elem=acc_elem,
        )
    )
    p = dist_of(partial)
    if p.parts(0) > 1:
        partial = lw.emit(mesh.AllReduceOp("sum", partial, (0,)))
        p = dist_of(partial)
    if acc_elem != elem:
        partial = lw.emit(mesh.ConvertOp(partial, elem))
    result = lw.emit(mesh.ReshapeOp(partial, p.with_(shape=p.shape[1:], split=p.split[1:])))
    shape = flame.tensor_shape(op.result)
    if batch:
        return result
    lead_dims = [n for n in shape[:-1] if n != 1]
    if len(lead_dims) <= 1:  # [rows, n] splits back into one leading dim, see below
        result = spread_copies(lw, op, result, axis)
    if len(shape) == 2:
        return result
    # back to [*B, m, n]: the rows' split (if any) goes to the one leading dim that is not 1;
    # rows over several leading dims stay copies (a local reshape of every PE's block)
    d = dist_of(result)
    lead = ["" if n == 1 else d.split[0] for n in shape[:-1]]
    return lw.emit(mesh.ReshapeOp(result, d.with_(shape=shape, split=(*lead, d.split[1]))))


#: whether a GEMV reads a transposed matrix (nn.Linear's W.T) in place; off, the transpose is
#: a local mesh.transpose of every PE's block (benchmarks/gemv.py measures both)
FOLD_TRANSPOSED_MATRIX = True


def folded_source(
    lw: Lowering, op: flame.MatmulOp, matrix: SSAValue, md: Distribution
) -> SSAValue | None:
    """W when the matrix is W with its last two dims swapped (flame.transpose) and W is, or
    can be placed, where the transpose of `md` says: a lazy leaf (scattered there), or
    already there. The local mesh.transpose made for the matrix, if any and read by nothing
    else, is dropped. None when the product should read the matrix as it is."""
    # matmul.py imports this module: its transpose helpers are imported at the call
    from pyflame.passes.flame_lowering.matmul import drop_unread_transpose, transposed_source

    source = transposed_source(matrix, lw) if FOLD_TRANSPOSED_MATRIX else None
    if source is None:
        return None
    want = stored_transposed(md, True)
    if source in lw.deferred and source not in lw.hints:
        pass  # a lazy leaf: placed where the product reads it
    else:
        have = lw.known_dist(source) if source not in lw.deferred else lw.placed(source)
        if have is None or have.normalized() != want.normalized():
            return None
    drop_unread_transpose(matrix, op, lw)
    return source


def chosen_algorithm(op: flame.MatmulOp) -> str | None:
    """The algorithm assign-layouts chose for `op` ("gemv" or "summa", `pf.algorithm`), if
    it chose one (passes/layout_rules.py)."""
    attr = op.attributes.get(ALGORITHM_ATTR)
    return attr.data if isinstance(attr, StringAttr) else None


def spread_copies(lw: Lowering, op: flame.MatmulOp, result: SSAValue, axis: str) -> SSAValue:
    """The result as the reduction left it (a copy along `axis` on every PE) when only matmuls
    use it (a chained GEMV wants those copies) or the host (which reads one copy); else, when its skinny dim has more than one
    element, split that dim over `axis` (every PE keeps its own block of its copy: no data
    crosses the fabric), so that elementwise users (a bias, a softmax) do not bring their other
    operands to every copy."""
    users = [use.operation for use in op.result.uses]
    d = dist_of(result)
    if lw.hinted(op.result) is not None:
        return result  # assign-layouts chose the result's layout: finish() puts it there
    skinny = next((i for i in range(2) if d.split[i] == ""), None)
    if (
        axis not in ("r", "c")
        or skinny is None
        or d.shape[skinny] == 1
        or all(isinstance(u, flame.MatmulOp | func.ReturnOp) for u in users)
    ):
        return result
    split = list(d.split)
    split[skinny] = axis
    return lw.to_dist(result, d.with_(split=split))  # no move at all on one PE
