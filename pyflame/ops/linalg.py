"""Linear algebra: matmul (torch.matmul's broadcasting and vector rules) and bmm; outer and
addmm (decompositions into matmul and elementwise ops); torch's helpers composed of them: mm,
baddbmm, addbmm, addmv, addr, tensordot, inner, kron, cross, chain_matmul, vdot, ger.

    pf.tensordot(a, b, dims=([1, 0], [0, 1]))   # a, b permuted and reshaped to matrices:
                                                 # flame.transpose, flame.reshape, flame.matmul
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from pyflame.core import shapes
from pyflame.dialects import flame
from pyflame.lazy_tensor import Tensor, format_location, user_location, user_stacklevel
from pyflame.ops.convert import astype
from pyflame.ops.creation import full_like
from pyflame.ops.elementwise import add, mul, sub
from pyflame.ops.node import _check_tensor, _node, _rule, _shape_error
from pyflame.ops.saved import composite, each_if_other
from pyflame.ops.shape import _reshape_node, broadcast_to, cat, narrow, permute, reshape, stack


@composite(each_if_other)
def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product as torch.matmul: 2-D @ 2-D; batched [..., m, k] @ [..., k, n] with
    broadcast batch dims; a 1-D lhs is a row vector and a 1-D rhs a column vector whose added
    dim is dropped from the result.

    One flame.matmul ([*B, m, k] @ [*B, k, n], where one side may have no batch dims), with
    flame.reshape around it for vectors and flame.broadcast_to for batch dims that differ."""
    _check_tensor(a, "matmul")
    _check_tensor(b, "matmul")
    if len(a.shape) == 2 and len(b.shape) == 2 and a.shape[1] == b.shape[0]:
        if a.dtype is b.dtype:  # two matrices that fit: one flame.matmul (most products)
            return _node(flame.MatmulOp, (a, b), (a.shape[0], b.shape[1]), a.dtype)
    shape = _rule(shapes.matmul_result, a.shape, b.shape)
    if a.dtype is not b.dtype:
        raise _shape_error(f"matmul: dtypes {a.dtype!r} and {b.dtype!r} differ")
    lhs = _reshape_node(a, (1,) + a.shape) if a.ndim == 1 else a
    rhs = _reshape_node(b, b.shape + (1,)) if b.ndim == 1 else b
    lhs, rhs = _matmul_batches(lhs, rhs)
    out = _node(flame.MatmulOp, (lhs, rhs), shapes.matmul(lhs.shape, rhs.shape), a.dtype)
    return out if out.shape == shape else _reshape_node(out, shape)


def _matmul_batches(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Operands whose batch dims are equal, or absent on one side (a side whose batch dims are
    all 1 drops them: it is shared by every batch entry, never copied)."""
    ba, bb = a.shape[:-2], b.shape[:-2]
    if ba == bb or not ba or not bb:
        return a, b
    if all(n == 1 for n in ba) and len(ba) <= len(bb):
        return _reshape_node(a, a.shape[-2:]), b
    if all(n == 1 for n in bb) and len(bb) <= len(ba):
        return a, _reshape_node(b, b.shape[-2:])
    batch = shapes.broadcast_shapes(ba, bb)
    if ba != batch:
        a = broadcast_to(a, batch + a.shape[-2:])
    if bb != batch:
        b = broadcast_to(b, batch + b.shape[-2:])
    return a, b


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched matrix product of two 3-D tensors with the same batch size (torch.bmm; no
    broadcasting)."""
    _check_tensor(a, "bmm")
    _check_tensor(b, "bmm")
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise _shape_error(
            f"bmm needs two 3-D tensors with the same batch size, got shapes {list(a.shape)} "
            f"and {list(b.shape)}"
        )
    return matmul(a, b)


@composite(each_if_other, "Mul")
def outer(a: Tensor, b: Tensor) -> Tensor:
    """The outer product of two vectors (torch.outer): a[:, None] * b[None, :] (flame.mul of
    two broadcasts, PyTorch's type promotion)."""
    _check_tensor(a, "outer")
    _check_tensor(b, "outer")
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"outer: expected 1-D tensors, got {a.ndim}-D and {b.ndim}-D")
    return mul(_reshape_node(a, (a.shape[0], 1)), _reshape_node(b, (1, b.shape[0])))


def addmm(
    input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1
) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2) (torch.addmm; input broadcasts to the product's
    shape). beta = 0 ignores input (its NaN and inf do not propagate), as PyTorch."""
    for t, what in ((input, "input"), (mat1, "mat1"), (mat2, "mat2")):
        _check_tensor(t, f"addmm {what}")
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(
            f"addmm: mat1 and mat2 must be matrices, got {mat1.ndim}-D and {mat2.ndim}-D"
        )
    product = matmul(mat1, mat2)
    if alpha != 1:
        product = mul(product, alpha)
    if beta == 0:
        if np.broadcast_shapes(input.shape, product.shape) != product.shape:
            raise _shape_error(
                f"addmm: input of shape {list(input.shape)} does not broadcast to "
                f"{list(product.shape)}"
            )
        return product
    term = input if beta == 1 else mul(input, beta)
    return add(term, product)


def dot(a: Tensor, b: Tensor) -> Tensor:
    """The inner product of two 1-D tensors of one size (torch.dot)."""
    _check_tensor(a, "dot")
    _check_tensor(b, "dot")
    if a.ndim != 1 or b.ndim != 1:
        raise _shape_error(f"dot: 1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.shape != b.shape:
        raise _shape_error(
            "dot: inconsistent tensor size, expected tensor "
            f"[{a.shape[0]}] and src [{b.shape[0]}] to have the same number of elements"
        )
    return matmul(a, b)


def mv(a: Tensor, v: Tensor) -> Tensor:
    """Matrix times vector, [n, m] @ [m] -> [n] (torch.mv)."""
    _check_tensor(a, "mv")
    _check_tensor(v, "mv")
    if a.ndim != 2 or v.ndim != 1:
        raise _shape_error(f"mv: vector + matrix @ vector expected, got {a.ndim}, {v.ndim}")
    return matmul(a, v)


# --------------------------------------------------------------------------- torch's helpers
# (exact compositions of matmul, reshape, permute and elementwise ops; their gradients)


def mm(a: Tensor, b: Tensor) -> Tensor:
    """The product of two matrices (torch.mm: 2-D only, no broadcasting)."""
    _check_tensor(a, "mm")
    _check_tensor(b, "mm")
    for t, name in ((a, "self"), (b, "mat2")):
        if t.ndim != 2:
            raise RuntimeError(f"{format_location(user_location())}: {name} must be a matrix")
    if a.shape[1] != b.shape[0]:
        raise _shape_error(
            f"mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x{a.shape[1]} and "
            f"{b.shape[0]}x{b.shape[1]})"
        )
    return matmul(a, b)


def _scaled_sum(input: Tensor, product: Tensor, beta: Any, alpha: Any, what: str) -> Tensor:
    """beta * input + alpha * product, input broadcast to the product's shape (it may not
    grow it); beta = 0 leaves input out (its NaN and inf do not propagate), as PyTorch."""
    _check_tensor(input, f"{what} input")
    try:
        fits = np.broadcast_shapes(input.shape, product.shape) == product.shape
    except ValueError:
        fits = False
    if not fits:
        raise _shape_error(
            f"{what}: The expanded size of the tensor does not match: the input of shape "
            f"{list(input.shape)} does not broadcast to the product's shape {list(product.shape)}"
        )
    if alpha != 1:
        product = mul(product, alpha)
    if beta == 0:
        return product if input.dtype is product.dtype else astype(product, input.dtype)
    return add(input if beta == 1 else mul(input, beta), product)


def baddbmm(
    input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1
) -> Tensor:
    """beta * input + alpha * bmm(batch1, batch2) (torch.baddbmm)."""
    return _scaled_sum(input, bmm(batch1, batch2), beta, alpha, "baddbmm")


def addbmm(
    input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1
) -> Tensor:
    """beta * input + alpha * sum_b batch1[b] @ batch2[b] (torch.addbmm): one matmul of
    [n, B*m] @ [B*m, p] (the batch folded into the contraction)."""
    _check_tensor(batch1, "addbmm batch1")
    _check_tensor(batch2, "addbmm batch2")
    if batch1.ndim != 3 or batch2.ndim != 3:
        raise RuntimeError(
            f"{format_location(user_location())}: batch1 must be a 3D tensor, batch2 must be a "
            f"3D tensor (got {batch1.ndim}-D and {batch2.ndim}-D)"
        )
    b, n, m = batch1.shape
    if batch2.shape[:2] != (b, m):
        raise RuntimeError(
            f"{format_location(user_location())}: addbmm: Incompatible matrix sizes for bmm "
            f"({n}x{m} and {batch2.shape[1]}x{batch2.shape[2]}; batch1 {list(batch1.shape)}, "
            f"batch2 {list(batch2.shape)})"
        )
    lhs = reshape(permute(batch1, 1, 0, 2), (n, b * m))
    rhs = reshape(batch2, (b * m, batch2.shape[2]))
    return _scaled_sum(input, matmul(lhs, rhs), beta, alpha, "addbmm")


def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """beta * input + alpha * (mat @ vec) (torch.addmv)."""
    return _scaled_sum(input, mv(mat, vec), beta, alpha, "addmv")


def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """beta * input + alpha * outer(vec1, vec2) (torch.addr)."""
    return _scaled_sum(input, outer(vec1, vec2), beta, alpha, "addr")


def vdot(a: Tensor, b: Tensor) -> Tensor:
    """dot of two real vectors (torch.vdot: conjugates a, a no-op for real dtypes)."""
    return dot(a, b)


def ger(a: Tensor, b: Tensor) -> Tensor:
    """outer (torch.ger, its old name)."""
    return outer(a, b)


def _dims_pair(dims: Any, a: Tensor, b: Tensor) -> tuple[list[int], list[int]]:
    if isinstance(dims, Tensor):
        dims = dims.numpy().tolist()
    if isinstance(dims, (int, np.integer)):
        if dims < 0:
            raise RuntimeError(
                f"{format_location(user_location())}: tensordot expects dims >= 0, but got "
                f"dims={dims}"
            )
        if dims > min(a.ndim, b.ndim):
            raise RuntimeError(
                f"{format_location(user_location())}: tensordot expects dims < ndim_a or "
                f"ndim_b, but got dims={dims}"
            )
        return list(range(a.ndim - dims, a.ndim)), list(range(dims))
    left, right = dims
    left = [left] if isinstance(left, (int, np.integer)) else list(left)
    right = [right] if isinstance(right, (int, np.integer)) else list(right)
    if len(left) != len(right):
        raise RuntimeError(
            f"{format_location(user_location())}: both dimension lists should have same length"
        )
    norm = lambda ds, n: [_rule(shapes.normalize_dim, int(d), n) for d in ds]  # noqa: E731
    return norm(left, a.ndim), norm(right, b.ndim)


def tensordot(a: Tensor, b: Tensor, dims: Any = 2) -> Tensor:
    """Sum of products over a's dims `dims[0]` and b's `dims[1]` (an int n: a's last n and b's
    first n), torch.tensordot: each operand permuted and reshaped to a matrix, one matmul."""
    _check_tensor(a, "tensordot")
    _check_tensor(b, "tensordot")
    da, db = _dims_pair(dims, a, b)
    for i, j in zip(da, db, strict=True):
        if a.shape[i] != b.shape[j]:
            raise RuntimeError(
                f"{format_location(user_location())}: contracted dimensions need to match, but "
                f"first has size {a.shape[i]} in dim {i} and second has size {b.shape[j]} in "
                f"dim {j}"
            )
    free_a = [i for i in range(a.ndim) if i not in da]
    free_b = [j for j in range(b.ndim) if j not in db]
    size = lambda t, ds: int(np.prod([t.shape[i] for i in ds]))  # noqa: E731
    lhs = reshape(permute(a, *free_a, *da), (size(a, free_a), size(a, da)))
    rhs = reshape(permute(b, *db, *free_b), (size(b, db), size(b, free_b)))
    out_shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[j] for j in free_b)
    return reshape(matmul(lhs, rhs), out_shape)


def inner(a: Tensor, b: Tensor) -> Tensor:
    """Sum of products over the last dims (torch.inner): [*A, k] x [*B, k] -> [*A, *B]; a 0-d
    operand multiplies."""
    _check_tensor(a, "inner")
    _check_tensor(b, "inner")
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise RuntimeError(
            f"{format_location(user_location())}: inner() the last dimension must match on both "
            f"input tensors but got shapes {list(a.shape)} and {list(b.shape)}"
        )
    return tensordot(a, b, ([-1], [-1]))


def kron(a: Tensor, b: Tensor) -> Tensor:
    """The Kronecker product (torch.kron): a [a0, a1, ...] and b [b0, b1, ...] (the shorter
    padded with leading 1s) give [a0*b0, a1*b1, ...]: a's dims interleaved with b's by
    reshapes, one broadcast multiply."""
    _check_tensor(a, "kron")
    _check_tensor(b, "kron")
    n = max(a.ndim, b.ndim)
    sa = (1,) * (n - a.ndim) + a.shape
    sb = (1,) * (n - b.ndim) + b.shape
    x = reshape(a, tuple(v for d in sa for v in (d, 1)))
    y = reshape(b, tuple(v for d in sb for v in (1, d)))
    return reshape(mul(x, y), tuple(p * q for p, q in zip(sa, sb, strict=True)))


def chain_matmul(*matrices: Tensor) -> Tensor:
    """The product of 2-D matrices left to right (torch.chain_matmul; deprecated there, as
    here, for torch.linalg.multi_dot)."""
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    if not matrices:
        raise RuntimeError(
            f"{format_location(user_location())}: chain_matmul(): Expected one or more matrices"
        )
    for m in matrices:
        _check_tensor(m, "chain_matmul")
        if m.ndim != 2:
            raise RuntimeError(
                f"{format_location(user_location())}: Tensor dimension is {m.ndim}, expected 2 "
                "instead."
            )
    out = matrices[0]
    for m in matrices[1:]:
        out = mm(out, m)
    return out if len(matrices) > 1 else mul(out, 1)


def cross(a: Tensor, b: Tensor, dim: int | None = None) -> Tensor:
    """The cross product of 3-vectors along `dim` (torch.cross; without dim the first dim of
    size 3, PyTorch's deprecated default), broadcast together."""
    _check_tensor(a, "cross")
    _check_tensor(b, "cross")
    if a.ndim != b.ndim:
        raise RuntimeError(
            f"{format_location(user_location())}: linalg.cross: inputs must have the same number "
            "of dimensions."
        )
    shape = tuple(_rule(shapes.broadcast_shapes, a.shape, b.shape))
    if dim is None:
        warnings.warn(
            "Using torch.cross without specifying the dim arg is deprecated.\nPlease either "
            "pass the dim explicitly or simply use torch.linalg.cross.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        found = [i for i, n in enumerate(a.shape) if n == 3]
        if not found:
            raise RuntimeError(
                f"{format_location(user_location())}: no dimension of size 3 in input"
            )
        d = found[0]
    else:
        d = _rule(shapes.normalize_dim, int(dim), len(shape))
    if a.shape[d] != 3 or b.shape[d] != 3:
        raise RuntimeError(
            f"{format_location(user_location())}: linalg.cross: inputs dimension {d} must have "
            f"length 3. Got {a.shape[d]} and {b.shape[d]}"
        )
    a, b = broadcast_to(a, shape), broadcast_to(b, shape)
    part = lambda t, i: narrow(t, d, i, 1)  # noqa: E731
    pieces = [
        sub(
            mul(part(a, (i + 1) % 3), part(b, (i + 2) % 3)),
            mul(part(a, (i + 2) % 3), part(b, (i + 1) % 3)),
        )
        for i in range(3)
    ]
    return cat(pieces, d)


def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:  # noqa: N803 (PyTorch's name)
    """The Vandermonde matrix of a 1-D x, columns x^(N-1) ... x^0 (x^0 first when
    `increasing`), torch.vander: the powers as PyTorch's running product (x^k = x^(k-1) * x,
    one rounding per step); bool and integers as int32 (PyTorch: int64)."""
    _check_tensor(x, "vander")
    if x.ndim != 1:
        raise RuntimeError(
            f"{format_location(user_location())}: x must be a one-dimensional tensor."
        )
    n = x.shape[0] if N is None else int(N)
    if n < 0:
        raise RuntimeError(f"{format_location(user_location())}: N must be non-negative.")
    if x.dtype.name == "bool":
        x = astype(x, "int32")
    columns = []
    power = full_like(x, 1)
    for k in range(n):
        columns.append(power)
        if k < n - 1:
            power = mul(power, x)
    if not columns:
        return (
            reshape(x, (x.shape[0], 0)) if x.shape[0] == 0 else narrow(reshape(x, (-1, 1)), 1, 0, 0)
        )
    if not increasing:
        columns.reverse()
    return stack(columns, 1)
