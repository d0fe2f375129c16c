"""`pf.linalg`: torch.linalg's norms, and det / slogdet / inv / solve / cholesky computed on the
device by elimination unrolled over the (static) matrix size, built from ordinary ops:

    pf.linalg.det(a)      # a [..., n, n]: n steps of LU with partial pivoting (the pivot row
                          # found by argmax of |column|, swapped in by where, the rows below
                          # eliminated), then sign * prod(diag(U))
    pf.linalg.solve(a, b) # the same steps on [a | b], then back substitution (Gauss-Jordan)
    pf.linalg.cholesky(a) # n steps, one column of L each

Each step is a few elementwise ops and reductions over the [..., n, n] tiles, so the work is
n steps of O(n^2) per matrix (no O(n^3) matmul): meant for the small matrices models use
(covariances, small systems), not large dense solves. Values agree with PyTorch's LAPACK to
float32 rounding (the same algorithm, not the same blocking); gradients are those of the
elimination, which equal PyTorch's for nonsingular matrices. A singular matrix (solve, inv)
or one that is not positive-definite (cholesky) is PyTorch's RuntimeError, raised after the
run and naming the user's line (a runtime check: pyflame/checks.py); det of a singular matrix
is 0, as PyTorch's.
"""

from __future__ import annotations

import collections
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame import ops, tensor_methods
from pyflame.checks import add_check
from pyflame.core import shapes
from pyflame.core.dtypes import float32, int32
from pyflame.lazy_tensor import Tensor, format_location, user_location, user_stacklevel
from pyflame.ops.node import _check_tensor, _rule

SlogdetResult = collections.namedtuple("linalg_slogdet", ["sign", "logabsdet"])  # type: ignore[name-match]  # named as torch names it


def _where() -> str:
    return format_location(user_location())


def _square(a: Any, what: str) -> Tensor:
    _check_tensor(a, what)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise RuntimeError(
            f"{_where()}: {what}: A must be batches of square matrices, but they are "
            f"{a.shape[-2] if a.ndim >= 2 else 1} by {a.shape[-1] if a.ndim else 1} matrices"
        )
    if not a.dtype.is_floating_point:
        raise RuntimeError(
            f"{_where()}: {what}: Expected a floating point or complex tensor as input. Got "
            f"{a.dtype!r}"
        )
    if a.dtype is not float32:  # (PyTorch has no half LAPACK kernels either)
        raise RuntimeError(
            f"{_where()}: {what}: Low precision dtypes not supported. Got {a.dtype!r}"
        )
    return a


def _column(m: Tensor, k: int) -> Tensor:
    return ops.getitem(m, (Ellipsis, k))


def _row(m: Tensor, k: int) -> Tensor:
    return ops.getitem(m, (Ellipsis, k, slice(None)))


def _eliminate(m: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """LU with partial pivoting of the first n columns of m [..., n, w] (w >= n), its row
    operations applied to all w columns: (U | transformed rest, the permutation's sign, the
    zero pivots as bool [..., n])."""
    rows = ops.arange(n, dtype=int32)
    sign = ops.ones(m.shape[:-2], dtype=m.dtype)
    zeros = []
    for k in range(n):
        candidates = ops.abs(ops.getitem(_column(m, k), (Ellipsis, slice(k, n))))
        pivot_row = ops.add(ops.argmax(candidates, -1), k)  # [...]; the first largest, as LAPACK
        at_k = ops.reshape(ops.eq(rows, k), (n, 1))
        at_p = ops.unsqueeze(ops.eq(rows, ops.unsqueeze(pivot_row, -1)), -1)  # [..., n, 1]
        row_k = ops.unsqueeze(_row(m, k), -2)
        row_p = ops.sum(ops.where(at_p, m, 0.0), -2, keepdim=True)
        m = ops.where(at_k, row_p, ops.where(at_p, row_k, m))
        sign = ops.where(ops.eq(pivot_row, k), sign, ops.neg(sign))
        pivot = ops.getitem(m, (Ellipsis, k, k))
        zero = ops.eq(pivot, 0.0)
        zeros.append(zero)
        safe = ops.unsqueeze(ops.where(zero, 1.0, pivot), -1)
        below = ops.gt(rows, k)
        factors = ops.where(below, ops.div(_column(m, k), safe), 0.0)  # 0 under a zero pivot
        m = ops.sub(m, ops.mul(ops.unsqueeze(factors, -1), ops.unsqueeze(_row(m, k), -2)))
    return m, sign, ops.stack(zeros, -1)


def _first_zero(zeros: Tensor, n: int) -> Tensor:
    """The 1-based order of the first zero pivot (a value for the error message)."""
    order = ops.add(ops.arange(n, dtype=int32), 1)
    return ops.amin(ops.where(zeros, order, n + 1), -1)


def det(a: Tensor) -> Tensor:
    """The determinant of square matrices [..., n, n] (torch.linalg.det): LU with partial
    pivoting, sign * prod(diag(U)); 0 for a singular matrix."""
    a = _square(a, "linalg.det")
    n = a.shape[-1]
    if n == 0:
        return ops.ones(a.shape[:-2], dtype=a.dtype)
    u, sign, _ = _eliminate(a, n)
    return ops.mul(sign, ops.prod(ops.diagonal(u, 0, -2, -1), -1))


def slogdet(a: Tensor) -> Any:
    """The namedtuple (sign, logabsdet) of the determinant (torch.linalg.slogdet): the log of
    |det| as the sum of log |U_kk| (no overflow of the product); sign 0 and -inf when singular."""
    a = _square(a, "linalg.slogdet")
    n = a.shape[-1]
    if n == 0:
        one = ops.ones(a.shape[:-2], dtype=a.dtype)
        return SlogdetResult(one, ops.mul(one, 0.0))
    u, sign, _ = _eliminate(a, n)
    diagonal = ops.diagonal(u, 0, -2, -1)
    signs = ops.mul(sign, ops.prod(ops.sign(diagonal), -1))
    return SlogdetResult(signs, ops.sum(ops.log(ops.abs(diagonal)), -1))


def logdet(a: Tensor) -> Tensor:
    """log det (torch.logdet): NaN for a negative determinant, -inf for 0."""
    sign, logabs = slogdet(a)
    return ops.where(ops.lt(sign, 0.0), float("nan"), logabs)


def _check_singular(out: Tensor, zeros: Tensor, n: int, what: str) -> None:
    order = ops.broadcast_to(ops.unsqueeze(_first_zero(zeros, n), -1), zeros.shape)
    add_check(
        out,
        zeros,
        order,
        lambda k, count: (
            f"{what}: The diagonal element {k} is zero, the "
            f"{'inversion' if what == 'linalg.inv' else 'solve'} could not be completed "
            f"because the input matrix is singular."
        ),
        error=RuntimeError,
    )


def _solve_square(a: Tensor, b: Tensor, what: str) -> Tensor:
    """X with a @ X = b for a [..., n, n], b [..., n, k] (batch dims broadcast)."""
    n = a.shape[-1]
    batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    a = ops.broadcast_to(a, (*batch, n, n)) if a.shape[:-2] != batch else a
    b = ops.broadcast_to(b, (*batch, *b.shape[-2:])) if b.shape[:-2] != batch else b
    if n == 0:
        return b
    m, _, zeros = _eliminate(ops.cat([a, b], -1), n)
    rows = ops.arange(n, dtype=int32)
    for k in reversed(range(n)):  # Gauss-Jordan: row k scaled to 1, removed from the rows above
        pivot = ops.getitem(m, (Ellipsis, k, k))
        safe = ops.unsqueeze(ops.where(ops.eq(pivot, 0.0), 1.0, pivot), -1)
        row = ops.unsqueeze(ops.div(_row(m, k), safe), -2)
        above = ops.unsqueeze(ops.lt(rows, k), -1)
        factors = ops.unsqueeze(_column(m, k), -1)
        m = ops.where(
            ops.reshape(ops.eq(rows, k), (n, 1)),
            row,
            ops.where(above, ops.sub(m, ops.mul(factors, row)), m),
        )
    out = ops.getitem(m, (Ellipsis, slice(None), slice(n, None)))
    _check_singular(out, zeros, n, what)
    return out


def solve(a: Tensor, b: Tensor, *, left: bool = True) -> Tensor:
    """X with a @ X = b (X @ a = b when not `left`), torch.linalg.solve: b a matrix batch
    [..., n, k] or a vector batch [..., n] (batch dims broadcast). A singular a is PyTorch's
    RuntimeError after the run."""
    a = _square(a, "linalg.solve")
    _check_tensor(b, "linalg.solve")
    if b.dtype is not a.dtype:
        raise RuntimeError(
            f"{_where()}: linalg.solve: Expected A and B to have the same dtype, but found A of "
            f"type {a.dtype!r} and B of type {b.dtype!r} instead"
        )
    vector = b.ndim == 1 or (left and b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    if not left:
        if vector:
            raise RuntimeError(
                f"{_where()}: linalg.solve: Vector broadcasting of the left hand side is not supported for left=False. In this case linalg.solve is equivalent to B / A.squeeze(-1)"
            )
        return ops.transpose(solve(ops.transpose(a, -2, -1), ops.transpose(b, -2, -1)), -2, -1)
    rhs = ops.unsqueeze(b, -1) if vector else b
    if rhs.shape[-2] != a.shape[-1]:
        raise RuntimeError(
            f"{_where()}: linalg.solve: Incompatible shapes of A and B for the equation AX = B "
            f"({a.shape[-2]}x{a.shape[-1]} and {rhs.shape[-2]}x{rhs.shape[-1]})"
        )
    out = _solve_square(a, rhs, "linalg.solve")
    return ops.squeeze(out, -1) if vector else out


def inv(a: Tensor) -> Tensor:
    """The inverse of square matrices (torch.linalg.inv): solve(a, I). A singular matrix is
    PyTorch's RuntimeError after the run."""
    a = _square(a, "linalg.inv")
    eye = ops.eye(a.shape[-1], dtype=a.dtype)
    return _solve_square(a, eye, "linalg.inv")


def cholesky(a: Tensor, *, upper: bool = False) -> Tensor:
    """L with a = L L^T for symmetric positive-definite a (torch.linalg.cholesky; only a's
    lower triangle is read, as LAPACK's), one column per step; `upper` gives L^T. A matrix
    that is not positive-definite is PyTorch's RuntimeError after the run, naming the
    order of the first failing leading minor."""
    a = _square(a, "linalg.cholesky")
    n = a.shape[-1]
    rows = ops.arange(n, dtype=int32)
    lower = ops.zeros(a.shape, dtype=a.dtype)
    bad = []
    for j in range(n):
        row_j = ops.unsqueeze(_row(lower, j), -2)  # L[j, :] ([..., 1, n]; zeros from j on)
        v = ops.sub(_column(a, j), ops.sum(ops.mul(lower, row_j), -1))  # [..., n]
        d2 = ops.getitem(v, (Ellipsis, j))
        fails = ops.logical_not(ops.gt(d2, 0.0))  # (NaN fails too)
        bad.append(fails)
        d = ops.sqrt(ops.where(fails, 1.0, d2))
        column = ops.where(
            ops.gt(rows, j),
            ops.div(v, ops.unsqueeze(d, -1)),
            ops.where(ops.eq(rows, j), ops.unsqueeze(d, -1), 0.0),
        )
        lower = ops.add(
            lower,
            ops.mul(
                ops.unsqueeze(column, -1), ops.reshape(ops.eq(rows, j).astype(a.dtype), (1, n))
            ),
        )
    out = ops.transpose(lower, -2, -1) if upper else lower
    if n:
        failed = ops.stack(bad, -1)
        order = ops.broadcast_to(ops.unsqueeze(_first_zero(failed, n), -1), failed.shape)
        add_check(
            out,
            failed,
            order,
            lambda k, count: (
                "linalg.cholesky: The factorization could not be completed because the input "
                f"is not positive-definite (the leading minor of order {k} is not "
                "positive-definite)."
            ),
            error=RuntimeError,
        )
    return out


# --------------------------------------------------------------------------- norms


def vector_norm(
    x: Tensor,
    ord: float = 2,
    dim: int | Sequence[int] | None = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """The vector ord-norm over `dim` (every element without it), torch.linalg.vector_norm."""
    _check_tensor(x, "linalg.vector_norm")
    if isinstance(ord, str):
        raise RuntimeError(f"{_where()}: linalg.vector_norm: ord must be a number, got {ord!r}")
    return ops.norm(x, ord, dim, keepdim, dtype)


def matrix_norm(
    a: Tensor,
    ord: float | str = "fro",
    dim: tuple[int, int] = (-2, -1),
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """The matrix norm over the two dims `dim` (torch.linalg.matrix_norm): 'fro', and the
    induced 1 / -1 (max / min column sum of |a|) and inf / -inf (row sums). 'nuc', 2 and -2
    need singular values, which PyFlame does not compute: a NotImplementedError."""
    _check_tensor(a, "linalg.matrix_norm")
    if a.ndim < 2:
        raise RuntimeError(
            f"{_where()}: linalg.matrix_norm: The input tensor A must have at least 2 dimensions."
        )
    if dtype is not None:
        a = a.astype(dtype)
    d0, d1 = (_rule(shapes.normalize_dim, int(d), a.ndim) for d in dim)
    if d0 == d1:
        raise RuntimeError(
            f"{_where()}: linalg.matrix_norm: dims must be different. Got ({d0}, {d1})"
        )
    if ord == "fro":
        return ops.norm(a, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(
            f"{_where()}: linalg.matrix_norm: ord={ord!r} needs singular values, which PyFlame "
            "does not compute"
        )
    if ord not in (1, -1, float("inf"), float("-inf")):
        raise RuntimeError(f"{_where()}: linalg.matrix_norm: Order {ord} not supported.")
    summed, other = (d0, d1) if ord in (1, -1) else (d1, d0)
    sums = ops.sum(ops.abs(a), summed, keepdim=True)
    pick = ops.amax if ord in (1, float("inf")) else ops.amin
    out = pick(sums, other, keepdim=True)
    return out if keepdim else ops.squeeze(out, (d0, d1))


def norm(
    a: Tensor,
    ord: Any = None,
    dim: int | Sequence[int] | None = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """torch.linalg.norm: without ord, the 2-norm of every element (dim None) or over `dim`;
    with ord, a vector norm over one dim (or a 1-D a) and a matrix norm over two (or a 2-D a)."""
    _check_tensor(a, "linalg.norm")
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        return ops.norm(a, 2, dim, keepdim, dtype)
    if dim is None:
        if a.ndim not in (1, 2):
            raise RuntimeError(
                f"{_where()}: linalg.norm: If dim is not specified but ord is, the input must be "
                f"1D or 2D. Got {a.ndim}D."
            )
        dim = tuple(range(a.ndim))
    if len(dim) == 1:
        return vector_norm(a, ord, dim, keepdim, dtype=dtype)
    return matrix_norm(a, ord, (dim[0], dim[1]), keepdim, dtype=dtype)


def multi_dot(tensors: Sequence[Tensor]) -> Tensor:
    """The product of the matrices left to right (torch.linalg.multi_dot; the first may be a
    1-D row and the last a 1-D column)."""
    if not tensors:
        raise RuntimeError(f"{_where()}: multi_dot(): expected at least 2 tensors but got 0")
    out = tensors[0]
    for t in tensors[1:]:
        out = ops.matmul(out, t)
    return out


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """sum(x * y) over `dim` (torch.linalg.vecdot, real dtypes), broadcast together."""
    return ops.sum(ops.mul(x, y), dim)


def cross(a: Tensor, b: Tensor, *, dim: int = -1) -> Tensor:
    """torch.linalg.cross: pf.cross along `dim` (default the last)."""
    return ops.cross(a, b, dim)


matmul = ops.matmul
diagonal = ops.diagonal

__all__ = [
    "cholesky",
    "matrix_power",
    "cross",
    "det",
    "diagonal",
    "inv",
    "matmul",
    "matrix_norm",
    "multi_dot",
    "norm",
    "slogdet",
    "solve",
    "vecdot",
    "vector_norm",
]


def matrix_power(a: Tensor, n: int) -> Tensor:
    """a multiplied by itself n times (torch.linalg.matrix_power, x.matrix_power): n = 0 the
    identity, n < 0 the power of inv(a); by repeated squaring (`matmul`)."""
    _check_tensor(a, "linalg.matrix_power")
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise RuntimeError(
            f"{_where()}: linalg.matrix_power: A must be batches of square matrices, but they "
            f"are {a.shape[-2] if a.ndim >= 2 else 1} by {a.shape[-1] if a.ndim else 1} matrices"
        )
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{_where()}: matrix_power: n must be an int, got {n!r}")
    if n == 0:
        return ops.broadcast_to(ops.eye(a.shape[-1], dtype=a.dtype), a.shape)
    base = inv(a) if n < 0 else a
    out: Tensor | None = None
    k = abs(n)
    while k:
        if k & 1:
            out = base if out is None else ops.matmul(out, base)
        k >>= 1
        if k:
            base = ops.matmul(base, base)
    assert out is not None
    return out if out is not a else ops.mul(out, 1)


def torch_cholesky(a: Tensor, upper: bool = False) -> Tensor:
    """torch.cholesky(a, upper=False), x.cholesky(): linalg.cholesky, with PyTorch's
    deprecation warning."""
    warnings.warn(
        "torch.cholesky is deprecated in favor of torch.linalg.cholesky and will be removed in "
        "a future PyTorch release.",
        UserWarning,
        stacklevel=user_stacklevel(),
    )
    return cholesky(a, upper=upper)


tensor_methods.bind("linalg", sys.modules[__name__])
