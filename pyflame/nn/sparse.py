"""`one_hot` and `embedding`, as dataflow: a comparison with an index ramp made on the PEs,
and a one-hot matrix product (no gather: random access is what a mesh does worst). The
embedding costs batch * vocabulary * dim FMACs; fine for the vocabularies of the examples."""

from __future__ import annotations

from pyflame import ops
from pyflame.dtypes import int32
from pyflame.errors import ShapeError
from pyflame.tensor import Tensor, format_location, user_location


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """(…) int indices -> (…, num_classes) int32 with a 1 at each index (0 where the index is
    out of range, e.g. an ignore_index). `num_classes` is required: shapes are static."""
    if num_classes is None or num_classes < 0:
        raise ValueError(
            f"{format_location(user_location())}: one_hot needs num_classes (PyFlame compiles "
            "static shapes, so it cannot read the largest index from the data)"
        )
    if tensor.dtype.is_floating_point:
        raise TypeError(f"{format_location(user_location())}: one_hot needs integer indices")
    classes = ops.arange(num_classes, dtype=int32)
    return (tensor.unsqueeze(-1) == classes).astype(int32)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of `weight` (num_embeddings, dim) picked by the int indices in `input`."""
    if weight.ndim != 2:
        raise ShapeError(
            f"{format_location(user_location())}: embedding weight must be 2-D, got "
            f"{list(weight.shape)}"
        )
    vocab, dim = weight.shape
    flat = input.reshape(-1)
    rows = one_hot(flat, vocab).astype(weight.dtype) @ weight
    return rows.reshape(*input.shape, dim)
