"""gather and index_select, PyTorch's signatures, as dataflow: each output element compares
its index with an index ramp (`checked_one_hot`, which also checks the range like PyTorch:
at once for indices at hand, after the run for indices computed on the device), and
`flame.where` + `flame.reduce_sum` over the source dim pick the value.

    pf.gather(src, 1, idx)   # src [a, n], idx [a, j]
    # one_hot(idx) [a, j, n] -> where(hot, src[:, None, :], 0) -> reduce_sum over n -> [a, j]

There is no data-dependent addressing on the PEs yet (a pe op and a simulator kernel would
be needed), so every output element reads the whole source dim: n compares and n adds per
element, exact for every dtype (a where, not a one-hot matmul: NaN and inf elsewhere in the
source do not leak into the result). Gradients follow from where and sum (a scatter-add).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from pyflame import ops, tensor_methods
from pyflame.core import shapes
from pyflame.core.dtypes import bool_
from pyflame.nn.sparse import checked_one_hot
from pyflame.ops.node import _check_tensor, _dim_arg, _shape_error, _shape_rule
from pyflame.tensor import Tensor, user_location


def _count(count: int) -> str:
    return f"{count} element{'s' if count != 1 else ''} out of range"


def _index_message(dim: int, size: int) -> Callable[[int, int], str]:
    def message(value: int, count: int) -> str:
        return (
            f"gather: index {value} is out of bounds for dimension {dim} with size {size} "
            f"({_count(count)})"
        )

    return message


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    return _gather(input, dim, index, None)


def _gather(
    input: Tensor, dim: int, index: Tensor, message: Callable[[int, int], str] | None
) -> Tensor:
    """out[i][j][k] = input[index[i][j][k]][j][k] for dim 0 (and so on), torch.gather: index
    has input's rank and, in every other dim, at most input's size; the result has index's
    shape. An index outside [0, size) is an IndexError (PyTorch's words; negative indices are
    refused as there)."""
    location = user_location()
    _check_tensor(input, "gather")
    _check_tensor(index, "gather index")
    if index.dtype.is_floating_point or index.dtype is bool_:
        raise RuntimeError(f"gather(): Expected dtype int64 for index, got {index.dtype!r}")
    if not index.numel():  # PyTorch accepts an empty index of any rank
        return ops.zeros(index.shape, dtype=input.dtype)
    if index.ndim != input.ndim and not (index.ndim <= 1 and input.ndim <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "gather"), max(input.ndim, 1))
    src, idx = input, index
    if input.ndim == 0:
        src = src.reshape(1)
    if index.ndim == 0:
        idx = idx.reshape(1)
    for k in range(src.ndim):
        if k != d and idx.shape[k] > src.shape[k]:
            raise RuntimeError(
                f"Size does not match at dimension {k} expected index {list(index.shape)} to "
                f"be no larger than self {list(input.shape)} apart from dimension {d}"
            )
    n = src.shape[d]
    if idx.numel() and not n:
        raise _shape_error(f"gather: index out of range: dimension {d} of the input is empty")
    # the other dims of the source cut to the index's sizes, the gathered dim moved last
    src = src[tuple(slice(0, idx.shape[k]) if k != d else slice(None) for k in range(src.ndim))]
    src = ops.unsqueeze(ops.transpose(src, d, -1) if d != src.ndim - 1 else src, d)
    message = message or _index_message(d, n)
    hot = checked_one_hot(idx, n, message, location=location).astype(bool_)
    # hot: [*idx.shape, n]; src: the idx.shape with a 1 at d, then n
    if d != src.ndim - 2:
        hot = ops.transpose(hot, d, -2)  # the index's dim d meets src's kept 1 at d
        src = ops.transpose(src, d, -2)
    picked = ops.where(hot, src, False if src.dtype is bool_ else 0).sum(-1)
    if d != idx.ndim - 1:
        picked = ops.transpose(picked, d, -1)
    if picked.dtype is not input.dtype:  # bool sums count as int32
        picked = picked.astype(input.dtype)
    return picked.reshape(index.shape) if index.ndim == 0 else picked


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices of `input` along `dim` at the positions in the 1-D (or rank-0) `index`,
    torch.index_select: gather with the index broadcast over the other dims."""
    _check_tensor(input, "index_select")
    _check_tensor(index, "index_select index")
    if index.ndim > 1:
        raise _shape_error("index_select(): Index is supposed to be a vector")
    if index.dtype.is_floating_point or index.dtype is bool_:
        raise RuntimeError(
            f"index_select(): Expected dtype int32 or int64 for index, got {index.dtype!r}"
        )
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "index_select"), max(input.ndim, 1))

    def message(value: int, count: int) -> str:
        return f"index_select(): index out of range in self: index {value} ({_count(count)})"

    if input.ndim == 0:
        return _gather(input, dim, index.reshape(()), message)
    along = [1] * input.ndim
    along[d] = index.numel()
    shape = list(input.shape)
    shape[d] = index.numel()
    return _gather(input, d, ops.broadcast_to(index.reshape(along), shape), message)


tensor_methods.bind("indexing", sys.modules[__name__])  # `x.gather(...)`, `x.index_select(...)`
