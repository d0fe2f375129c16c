"""Linear algebra: matmul (torch.matmul's broadcasting and vector rules) and bmm; outer and
addmm (decompositions into matmul and elementwise ops)."""

from __future__ import annotations

import numpy as np

from pyflame.core import shapes
from pyflame.dialects import flame
from pyflame.lazy_tensor import Tensor
from pyflame.ops.elementwise import add, mul
from pyflame.ops.node import _check_tensor, _node, _rule, _shape_error
from pyflame.ops.saved import composite, each_if_other
from pyflame.ops.shape import _reshape_node, broadcast_to


@composite(each_if_other)
def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product as torch.matmul: 2-D @ 2-D; batched [..., m, k] @ [..., k, n] with
    broadcast batch dims; a 1-D lhs is a row vector and a 1-D rhs a column vector whose added
    dim is dropped from the result.

    One flame.matmul ([*B, m, k] @ [*B, k, n], where one side may have no batch dims), with
    flame.reshape around it for vectors and flame.broadcast_to for batch dims that differ."""
    _check_tensor(a, "matmul")
    _check_tensor(b, "matmul")
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
