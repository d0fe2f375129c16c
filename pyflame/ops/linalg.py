"""Linear algebra: matmul (torch.matmul's broadcasting and vector rules) and bmm."""

from __future__ import annotations

from pyflame.core import shapes
from pyflame.dialects import flame
from pyflame.ops.node import _check_tensor, _node, _rule, _shape_error
from pyflame.ops.shape import _reshape_node, broadcast_to
from pyflame.tensor import Tensor


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
