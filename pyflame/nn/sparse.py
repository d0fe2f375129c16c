"""`one_hot` and `embedding`, as dataflow: a comparison with an index ramp made on the PEs,
and a one-hot matrix product (no gather: random access is what a mesh does worst). The
embedding costs batch * vocabulary * dim FMACs; fine for the vocabularies of the examples."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pyflame import checks, ops
from pyflame.autograd import no_grad
from pyflame.core.dtypes import bool_, int32
from pyflame.core.errors import ShapeError
from pyflame.dialects import flame
from pyflame.tensor import Location, Tensor, format_location, user_location


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """(…) int indices -> (…, num_classes) int32 with a 1 at each index. As in PyTorch, a value
    < 0 or >= num_classes is an error: at once for data at hand, after the run (naming this
    line) for indices computed on the device. `num_classes=-1` takes the largest value + 1 of
    data at hand; lazy indices need it (PyFlame compiles static shapes)."""
    location = user_location()
    if not isinstance(tensor, Tensor):
        raise TypeError(
            f"{format_location(location)}: one_hot expects a pf.Tensor, got {type(tensor).__name__}"
        )
    if tensor.dtype.is_floating_point or tensor.dtype is bool_:
        raise TypeError(
            f"{format_location(location)}: one_hot needs integer indices, got {tensor.dtype!r}"
        )
    if num_classes == -1 and tensor._data is not None and tensor.numel():
        num_classes = max(int(tensor._data.max()) + 1, 0)
    if num_classes is None or isinstance(num_classes, bool) or num_classes < 0:
        raise ValueError(
            f"{format_location(location)}: one_hot needs num_classes >= 0, got {num_classes!r} "
            "(PyFlame compiles static shapes, so it cannot read the largest index from lazy "
            "data: pass num_classes)"
        )

    def message(value: int, count: int) -> str:
        if value < 0:
            return (
                f"one_hot: Class values must be non-negative, got {value} "
                f"({_elements(count)} out of range)"
            )
        return (
            f"one_hot: Class values must be smaller than num_classes ({num_classes}), got "
            f"{value} ({_elements(count)} out of range)"
        )

    return checked_one_hot(tensor, num_classes, message, location=location)


def _elements(count: int) -> str:
    return f"{count} element{'s' if count != 1 else ''}"


def _data_at_hand(t: Tensor) -> np.ndarray | None:
    """The values of `t` when they are known without running: a leaf's data, also through
    reshapes (embedding flattens its indices) and broadcasts (index_select spreads its
    indices over the other dims)."""
    if t._data is None and t.op in (flame.ReshapeOp, flame.BroadcastToOp):
        inner = _data_at_hand(t.inputs[0])
        if inner is None:
            return None
        if t.op is flame.ReshapeOp:
            return inner.reshape(t.shape)
        return np.broadcast_to(inner, t.shape)
    return t._data


def checked_one_hot(
    indices: Tensor,
    classes: int,
    message: Callable[[int, int], str],
    *,
    ignore_index: int | None = None,
    location: Location | None = None,
) -> Tensor:
    """one_hot of indices that must lie in [0, classes) (or equal `ignore_index`, which gives a
    zero row): checked now when `indices` holds data, else by a runtime check (pyflame/checks.py)
    on the result. `message(value, count)` words the error."""
    location = location or user_location()
    ramp = ops.arange(classes, dtype=int32)
    hot = (indices.unsqueeze(-1) == ramp).astype(int32)
    data = _data_at_hand(indices)
    if data is not None:
        bad_now = (data < 0) | (data >= classes)
        if ignore_index is not None:
            bad_now &= data != ignore_index
        checks.check_now(bad_now, data, message, location=location)
        return hot
    with no_grad():
        bad = (indices < 0) | (indices >= classes)
        if ignore_index is not None:
            bad = bad & (indices != ignore_index)
    checks.add_check(hot, bad, indices.astype(int32), message, location=location)
    return hot


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of `weight` (num_embeddings, dim) picked by the int indices in `input`; an index
    outside [0, num_embeddings) is an IndexError, as in PyTorch (at once for data at hand, after
    the run for lazy indices). The `padding_idx` row gets no gradient (PyTorch's rule)."""
    location = user_location()
    if weight.ndim != 2:
        raise ShapeError(
            f"{format_location(location)}: embedding weight must be 2-D, got {list(weight.shape)}"
        )
    if input.dtype.is_floating_point or input.dtype is bool_:
        raise TypeError(
            f"{format_location(location)}: embedding needs integer indices, got {input.dtype!r}"
        )
    vocab, dim = weight.shape
    if padding_idx is not None:
        if not -vocab <= padding_idx < vocab:
            raise ValueError(
                f"{format_location(location)}: Padding_idx must be within "
                f"num_embeddings ({vocab}), got {padding_idx}"
            )
        padding_idx %= vocab
        if weight.requires_grad:  # same values; no gradient reaches the padding row
            keep = np.ones((vocab, 1), weight.dtype.numpy)
            keep[padding_idx] = 0
            mask = ops.from_numpy(keep)
            weight = weight * mask + weight.detach() * (1 - mask)

    def message(value: int, count: int) -> str:
        return (
            f"embedding: index out of range in self: index {value} is not in "
            f"[0, {vocab}) ({_elements(count)} out of range; num_embeddings is {vocab})"
        )

    flat = input.reshape(-1)
    hot = checked_one_hot(flat, vocab, message, location=location)
    rows = hot.astype(weight.dtype) @ weight
    return rows.reshape(*input.shape, dim)
