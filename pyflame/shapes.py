"""Shape rules for every tensor op, shared by the frontend and the flame verifiers.

Each rule takes input shapes (tuples) and attributes and returns the result shape, or raises
`ShapeError` naming both shapes. One place for the facts, so the frontend (which raises at the
user's line) and the IR verifiers (which raise on hand-written IR) can never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyflame.errors import ShapeError

Shape = tuple[int, ...]


def normalize_dim(dim: int, rank: int, what: str = "dim") -> int:
    """A dimension index in [0, rank), accepting negative indices like PyTorch."""
    if not -rank <= dim < max(rank, 1):
        raise ShapeError(f"{what} {dim} is out of range for a tensor of rank {rank}")
    return dim % rank if rank else 0


def normalize_dims(dims: int | Sequence[int] | None, rank: int) -> tuple[int, ...]:
    """Reduction dims as a sorted tuple; None means every dim."""
    if dims is None:
        return tuple(range(rank))
    if isinstance(dims, int):
        dims = (dims,)
    out = sorted({normalize_dim(d, rank) for d in dims})
    if len(out) != len(tuple(dims)):
        raise ShapeError(f"dims {tuple(dims)} name the same dimension twice")
    return tuple(out)


def elementwise(a: Shape, b: Shape, op: str = "elementwise op") -> Shape:
    if tuple(a) != tuple(b):
        raise ShapeError(f"{op}: shapes {list(a)} and {list(b)} differ")
    return tuple(a)


def reduce(shape: Shape, dims: Sequence[int], keepdim: bool) -> Shape:
    for d in dims:
        if not 0 <= d < len(shape):
            raise ShapeError(f"reduction dim {d} is out of range for shape {list(shape)}")
    if keepdim:
        return tuple(1 if i in dims else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in dims)


def matmul(a: Shape, b: Shape) -> Shape:
    if len(a) != 2 or len(b) != 2:
        raise ShapeError(
            f"matmul needs two 2-D tensors here, got shapes {list(a)} and {list(b)}"
        )
    if a[1] != b[0]:
        raise ShapeError(
            f"matmul: shapes {list(a)} and {list(b)} cannot be multiplied "
            f"({a[1]} != {b[0]})"
        )
    return (a[0], b[1])


def transpose_perm(rank: int, dim0: int, dim1: int) -> tuple[int, ...]:
    d0, d1 = normalize_dim(dim0, rank), normalize_dim(dim1, rank)
    perm = list(range(rank))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return tuple(perm)


def permute(shape: Shape, perm: Sequence[int]) -> Shape:
    if sorted(perm) != list(range(len(shape))):
        raise ShapeError(f"permutation {list(perm)} does not fit shape {list(shape)}")
    return tuple(shape[p] for p in perm)


def reshape(shape: Shape, new: Sequence[int]) -> Shape:
    new = list(new)
    total = math.prod(shape)
    if new.count(-1) > 1:
        raise ShapeError(f"reshape to {new}: only one dimension can be -1")
    if -1 in new:
        known = math.prod(n for n in new if n != -1)
        if known == 0 or total % known:
            raise ShapeError(f"cannot reshape {list(shape)} ({total} elements) to {new}")
        new[new.index(-1)] = total // known
    if any(n < 0 for n in new) or math.prod(new) != total:
        raise ShapeError(f"cannot reshape {list(shape)} ({total} elements) to {new}")
    return tuple(new)
