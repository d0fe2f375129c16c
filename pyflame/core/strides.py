"""PyTorch's strides of views, to decide which reshapes are views (and so alias their input).

PyFlame tensors have no storage of their own, but an in-place op must change exactly the
tensors PyTorch's would (pyflame/inplace.py): the views of the tensor it modifies. Whether
`x.t().reshape(-1)` is a view (no: PyTorch copies) or `x[0].reshape(2, -1)` is one (yes) depends
on the strides the view has over its base's storage, so view ops carry them along:

    contiguous((2, 3, 4))                        -> (12, 4, 1)
    reshape_strides((3, 2), (1, 3), (6,))        -> None (a transposed matrix cannot be
                                                    flattened without a copy)
    reshape_strides((2, 3), (3, 1), (3, 2))      -> (2, 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Strides = tuple[int, ...]


def contiguous(shape: Sequence[int]) -> Strides:
    """Row-major strides of a tensor that owns its storage."""
    out = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        out[d] = out[d + 1] * max(shape[d + 1], 1)
    return tuple(out)


def reshape_strides(
    shape: Sequence[int], strides: Sequence[int], new_shape: Sequence[int]
) -> Strides | None:
    """The strides of `new_shape` viewing the same elements, or None when no strides can
    (PyTorch's `computeStride`: then `reshape` copies and `view` refuses)."""
    if not shape:
        return tuple(1 for _ in new_shape)
    numel = math.prod(shape)
    if numel == 0 and tuple(shape) == tuple(new_shape):
        return tuple(strides)
    new_strides = [0] * len(new_shape)
    if numel == 0:
        for d in range(len(new_shape) - 1, -1, -1):
            last = d == len(new_shape) - 1
            new_strides[d] = 1 if last else max(new_shape[d + 1], 1) * new_strides[d + 1]
        return tuple(new_strides)
    view_d = len(new_shape) - 1
    chunk_base = strides[-1]
    tensor_numel = view_numel = 1
    for tensor_d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[tensor_d]
        if tensor_d == 0 or (
            shape[tensor_d - 1] != 1 and strides[tensor_d - 1] != tensor_numel * chunk_base
        ):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base = strides[tensor_d - 1]
                tensor_numel = view_numel = 1
    if view_d != -1:
        return None
    return tuple(new_strides)


def index_strides(
    strides: Sequence[int], step: Sequence[int], sliced: Sequence[int], final: Sequence[int]
) -> Strides:
    """Strides of basic indexing (`sliced`: the shape after the slice, one entry per input dim;
    `final`: after int dims are dropped and `None` dims added): each sliced dim's stride times
    its step. Size-1 dims get stride 1; no reshape rule looks at them."""
    kept = iter([s * k for s, k, n in zip(strides, step, sliced, strict=True) if n != 1])
    return tuple(1 if n == 1 else next(kept) for n in final)


def permute_strides(strides: Sequence[int], perm: Sequence[int]) -> Strides:
    return tuple(strides[p] for p in perm)


def expand_strides(
    shape: Sequence[int], strides: Sequence[int], new_shape: Sequence[int]
) -> Strides:
    """Stride 0 for the dims `expand` repeats (new leading dims and size-1 dims grown)."""
    lead = len(new_shape) - len(shape)
    out = [0] * lead
    for n, s, m in zip(shape, strides, new_shape[lead:], strict=True):
        out.append(s if n == m else 0)
    return tuple(out)


def is_contiguous(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """Row-major over the storage (PyTorch's is_contiguous: size-1 dims do not count)."""
    expected = 1
    for n, s in zip(reversed(shape), reversed(strides), strict=True):
        if n == 0:
            return True
        if n != 1 and s != expected:
            return False
        expected *= n
    return True
