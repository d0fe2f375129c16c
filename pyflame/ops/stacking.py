"""torch's stacking, splitting and rearranging helpers, composed of shape.py's ops (no new
flame op): hstack, vstack, dstack, column_stack, row_stack, atleast_1d/2d/3d, tensor_split,
hsplit, vsplit, dsplit, fliplr, flipud, rot90, meshgrid, cartesian_prod, block_diag,
combinations, ravel, unflatten, select, tril_indices, triu_indices.

    pf.hstack([a, b])        # a, b [3, 4] and [3, 2]: flame.concat {dim = 1} -> [3, 6]
    pf.rot90(x, 1, [0, 1])   # flame.concat of x's columns in reverse order, flame.transpose
    pf.meshgrid(a, b, indexing="ij")   # flame.reshape + flame.broadcast_to of each

Each is exactly PyTorch's definition in terms of cat, reshape, flip, transpose, slicing and
broadcasting, so values, dtypes (cat's promotion) and gradients are those ops'. Index sets that
depend only on sizes (tril_indices, combinations' positions) are computed on the host.
"""

from __future__ import annotations

import builtins
import itertools
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame.core import shapes
from pyflame.core.dtypes import as_dtype, int32
from pyflame.core.errors import IndexShapeError
from pyflame.lazy_tensor import Tensor, format_location, user_location, user_stacklevel
from pyflame.ops.creation import from_numpy
from pyflame.ops.indexed import gather_rows
from pyflame.ops.node import _check_device, _check_tensor, _dim_arg, _shape_rule
from pyflame.ops.shape import (
    _tensor_list,
    broadcast_to,
    cat,
    flip,
    getitem,
    narrow,
    pad,
    reshape,
    stack,
    transpose,
)


def _tensors(args: tuple[Any, ...], what: str) -> tuple[list[Tensor], bool]:
    """`f(x)`, `f(x, y)` and `f([x, y])`: the tensors, and whether one bare tensor was given
    (then the result is a tensor, else a tuple, as PyTorch)."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        return [_check_tensor(t, what) for t in args[0]], False
    return [_check_tensor(t, what) for t in args], len(args) == 1


def _atleast(args: tuple[Any, ...], rank: int, what: str) -> Any:
    xs, single = _tensors(args, what)
    out = []
    for x in xs:
        if x.ndim >= rank:
            out.append(x)
        elif rank == 3 and x.ndim == 2:
            out.append(reshape(x, (*x.shape, 1)))
        elif rank == 3 and x.ndim == 1:
            out.append(reshape(x, (1, x.shape[0], 1)))
        else:  # 0-d, or 1-d for rank 2: ones in front
            out.append(reshape(x, (1,) * (rank - x.ndim) + x.shape))
    return out[0] if single else tuple(out)


def atleast_1d(*tensors: Any) -> Any:
    """Each tensor with at least 1 dim (a 0-d one becomes [1]); one tensor gives a tensor,
    several (or a list) a tuple, as torch.atleast_1d."""
    return _atleast(tensors, 1, "atleast_1d")


def atleast_2d(*tensors: Any) -> Any:
    """At least 2 dims: 0-d -> [1, 1], [n] -> [1, n] (torch.atleast_2d)."""
    return _atleast(tensors, 2, "atleast_2d")


def atleast_3d(*tensors: Any) -> Any:
    """At least 3 dims: 0-d -> [1, 1, 1], [n] -> [1, n, 1], [m, n] -> [m, n, 1]
    (torch.atleast_3d)."""
    return _atleast(tensors, 3, "atleast_3d")


def _stack_list(tensors: Any, what: str) -> list[Tensor]:
    xs = _tensor_list(tensors, what)
    if not xs:
        raise RuntimeError(
            f"{format_location(user_location())}: {what} expects a non-empty TensorList"
        )
    return xs


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """Tensors joined column-wise (torch.hstack): 1-D ones end to end, others along dim 1."""
    xs = list(atleast_1d(_stack_list(tensors, "hstack")))
    return cat(xs, 0 if xs[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """Tensors joined row-wise, after atleast_2d ([n] is a row [1, n]) (torch.vstack)."""
    return cat(list(atleast_2d(_stack_list(tensors, "vstack"))), 0)


row_stack = vstack


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    """Tensors joined along dim 2, after atleast_3d (torch.dstack)."""
    return cat(list(atleast_3d(_stack_list(tensors, "dstack"))), 2)


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    """0-d and 1-d tensors made columns [n, 1], then all joined along dim 1
    (torch.column_stack)."""
    xs = _stack_list(tensors, "column_stack")
    return cat([reshape(x, (x.numel(), 1)) if x.ndim <= 1 else x for x in xs], 1)


def _sections_arg(arg: Any, what: str) -> int | list[int]:
    """An int, a sequence of ints, or an int tensor holding them (its values read on the
    host, as PyTorch reads them: they decide the result's shapes)."""
    if isinstance(arg, Tensor):
        if arg.dtype is not int32 or arg.ndim > 1:
            raise RuntimeError(
                f"{format_location(user_location())}: {what} expected tensor_indices_or_sections "
                f"to be a zero-dimensional or one-dimensional tensor of integer dtype, but got "
                f"a {arg.ndim}-D tensor of {arg.dtype!r}"
            )
        values = arg.numpy()
        return int(values) if arg.ndim == 0 else [int(v) for v in values]
    if isinstance(arg, (list, tuple)):
        return [_dim_arg(i, what) for i in arg]
    return _dim_arg(arg, what)


def _split_at(x: Tensor, bounds: Sequence[int], d: int) -> tuple[Tensor, ...]:
    """Pieces of dim d between consecutive bounds, each clamped to [0, size] (an empty piece
    where they cross, as numpy.array_split and PyTorch)."""
    n = x.shape[d]
    edges = [0, *[min(max(b + n if b < 0 else b, 0), n) for b in bounds], n]
    return tuple(
        narrow(x, d, begin, builtins.max(end - begin, 0))
        for begin, end in itertools.pairwise(edges)
    )


def tensor_split(x: Tensor, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """`x` split along `dim` into `n` pieces (the first size % n one longer), or at the listed
    indices (torch.tensor_split: pieces may be empty; never an error for indices past the
    end)."""
    _check_tensor(x, "tensor_split")
    if x.ndim == 0:
        raise RuntimeError(
            f"{format_location(user_location())}: tensor_split expected at least a "
            "1-dimensional tensor, but got a tensor with 0 dims"
        )
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "tensor_split"), x.ndim)
    arg = _sections_arg(indices_or_sections, "tensor_split")
    if isinstance(arg, list):
        return _split_at(x, arg, d)
    if arg <= 0:
        raise RuntimeError(
            f"{format_location(user_location())}: number of sections must be larger than 0, "
            f"got {arg}"
        )
    size, extra = divmod(x.shape[d], arg)
    bounds = list(itertools.accumulate(size + (i < extra) for i in range(arg - 1)))
    return _split_at(x, bounds, d)


def _split_by(x: Tensor, arg: Any, d: int, what: str, least: int) -> tuple[Tensor, ...]:
    _check_tensor(x, what)
    if x.ndim < least:
        raise RuntimeError(
            f"{format_location(user_location())}: torch.{what} requires a tensor with at least "
            f"{least} dimension, but got a tensor with {x.ndim} dimensions!"
        )
    sections = _sections_arg(arg, what)
    if isinstance(sections, int) and (sections == 0 or x.shape[d] % sections):
        raise RuntimeError(
            f"{format_location(user_location())}: torch.{what} attempted to split along "
            f"dimension {d}, but the size of the dimension {x.shape[d]} is not divisible by "
            f"the split_size {sections}!"
        )
    return tensor_split(x, sections, d)


def hsplit(x: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:
    """tensor_split along dim 1 (dim 0 for a 1-D tensor); an int must divide the size."""
    d = 1 if isinstance(x, Tensor) and x.ndim >= 2 else 0
    return _split_by(x, indices_or_sections, d, "hsplit", 1)


def vsplit(x: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:
    """tensor_split along dim 0 of a tensor of >= 2 dims; an int must divide the size."""
    return _split_by(x, indices_or_sections, 0, "vsplit", 2)


def dsplit(x: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:
    """tensor_split along dim 2 of a tensor of >= 3 dims; an int must divide the size."""
    return _split_by(x, indices_or_sections, 2, "dsplit", 3)


def fliplr(x: Tensor) -> Tensor:
    """Columns in reverse order (flip of dim 1; at least 2-D), torch.fliplr."""
    _check_tensor(x, "fliplr")
    if x.ndim < 2:
        raise RuntimeError(f"{format_location(user_location())}: Input must be >= 2-d.")
    return flip(x, (1,))


def flipud(x: Tensor) -> Tensor:
    """Rows in reverse order (flip of dim 0; at least 1-D), torch.flipud."""
    _check_tensor(x, "flipud")
    if x.ndim < 1:
        raise RuntimeError(f"{format_location(user_location())}: Input must be >= 1-d.")
    return flip(x, (0,))


def rot90(x: Tensor, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
    """`x` rotated by 90 degrees `k` times in the plane of `dims`, from the first towards the
    second (torch.rot90): a flip and a transpose."""
    _check_tensor(x, "rot90")
    dims = tuple(dims)
    where = format_location(user_location())
    if len(dims) != 2:
        raise RuntimeError(
            f"{where}: expected total rotation dims == 2, but got dims = {len(dims)}"
        )
    if x.ndim < 2:
        raise RuntimeError(f"{where}: expected total dims >= 2, but got total dims = {x.ndim}")
    d0 = _shape_rule(shapes.normalize_dim, _dim_arg(dims[0], "rot90"), x.ndim)
    d1 = _shape_rule(shapes.normalize_dim, _dim_arg(dims[1], "rot90"), x.ndim)
    if d0 == d1:
        raise RuntimeError(
            f"{where}: expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}"
        )
    k = _dim_arg(k, "rot90 k") % 4
    if k == 1:
        return transpose(flip(x, (d1,)), d0, d1)
    if k == 2:
        return flip(x, (d0, d1))
    if k == 3:
        return flip(transpose(x, d0, d1), (d1,))
    return flip(x, ())  # a copy, as PyTorch's clone


def meshgrid(*tensors: Any, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Coordinate grids of 0-d and 1-d tensors (torch.meshgrid): each reshaped and broadcast
    to [n1, n2, ...]; indexing='xy' swaps the first two dims. No indexing warns as PyTorch
    does and means 'ij'."""
    xs, _ = _tensors(tensors, "meshgrid")
    if not xs:
        raise RuntimeError(
            f"{format_location(user_location())}: meshgrid expects a non-empty TensorList"
        )
    if indexing is None:
        warnings.warn(
            "torch.meshgrid: in an upcoming release, it will be required to pass the indexing "
            "argument.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(
            f"{format_location(user_location())}: torch.meshgrid: indexing must be one of "
            f'"xy" or "ij", but received: {indexing}'
        )
    for x in xs:
        if x.ndim > 1:
            raise RuntimeError(
                f"{format_location(user_location())}: torch.meshgrid: Expected 0D or 1D tensor "
                f"in the tensor list but got: {x.ndim}D tensor"
            )
    if len({x.dtype for x in xs}) > 1:
        raise RuntimeError(
            f"{format_location(user_location())}: torch.meshgrid: expects all tensors to have "
            "the same dtype"
        )
    sizes = [x.numel() for x in xs]
    swap = indexing == "xy" and len(xs) >= 2
    if swap:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, x in enumerate(xs):
        at = {0: 1, 1: 0}.get(i, i) if swap else i
        shape = [1] * len(xs)
        shape[at] = sizes[at]
        out.append(broadcast_to(reshape(x, shape), sizes))
    return tuple(out)


def cartesian_prod(*tensors: Any) -> Tensor:
    """Every combination of one element of each 1-D tensor, [prod(n), k] (torch.cartesian_prod;
    one tensor gives itself)."""
    xs, _ = _tensors(tensors, "cartesian_prod")
    for x in xs:
        if x.ndim != 1:
            raise RuntimeError(
                f"{format_location(user_location())}: Expect a 1D vector, but got shape "
                f"{list(x.shape)}"
            )
    if len(xs) == 1:
        return xs[0]
    grids = meshgrid(*_tensor_list(xs, "cartesian_prod"), indexing="ij")
    return stack([reshape(g, (-1,)) for g in grids], 1)


def block_diag(*tensors: Any) -> Tensor:
    """The tensors (0-d, 1-d as one row, 2-d) along the diagonal of one matrix, zeros elsewhere
    (torch.block_diag; promoted dtype): each padded to the full width, rows joined."""
    xs = _tensor_list(list(tensors), "block_diag")
    blocks = []
    for i, x in enumerate(xs):
        if x.ndim > 2:
            raise RuntimeError(
                f"{format_location(user_location())}: torch.block_diag: Input tensors must have "
                f"2 or fewer dimensions. Input {i} has {x.ndim} dimensions"
            )
        blocks.append(reshape(x, (1, -1) if x.ndim == 1 else (1, 1)) if x.ndim < 2 else x)
    if not blocks:
        return from_numpy(np.zeros((1, 0), np.float32))
    width = builtins.sum(b.shape[1] for b in blocks)
    rows, at = [], 0
    for b in blocks:
        rows.append(pad(b, (at, width - at - b.shape[1])))
        at += b.shape[1]
    return cat(rows, 0)


def combinations(x: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-r combinations of a 1-D tensor's elements, [count, r] (torch.combinations,
    itertools' order): the positions are known from the size alone (host), the elements are
    gathered."""
    _check_tensor(x, "combinations")
    if x.ndim != 1:
        raise RuntimeError(
            f"{format_location(user_location())}: Expect a 1D vector, but got shape {list(x.shape)}"
        )
    r = _dim_arg(r, "combinations r")
    if r < 0:
        raise RuntimeError(
            f"{format_location(user_location())}: Expect a non-negative number, but got {r}"
        )
    if r == 0:
        return getitem(x, (slice(0, 0),))
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    positions = np.array(list(pick(range(x.shape[0]), r)), np.int32).reshape(-1, r)
    # in range by construction: the lookup needs no check
    return reshape(gather_rows(reshape(x, (-1, 1)), from_numpy(positions)), positions.shape)


def ravel(x: Tensor) -> Tensor:
    """The elements as one dim (torch.ravel: reshape(-1))."""
    _check_tensor(x, "ravel")
    return reshape(x, (-1,))


def unflatten(x: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Dim `dim` split into `sizes` (one may be -1), torch.unflatten."""
    _check_tensor(x, "unflatten")
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "unflatten"), builtins.max(x.ndim, 1))
    sizes = tuple(_dim_arg(n, "unflatten sizes") for n in sizes)
    if not sizes:
        raise RuntimeError(
            f"{format_location(user_location())}: unflatten: sizes must be non-empty"
        )
    known = int(np.prod([n for n in sizes if n != -1]))
    if (-1 not in sizes and known != x.shape[d]) or (
        -1 in sizes and (known == 0 or x.shape[d] % known)
    ):
        raise RuntimeError(
            f"{format_location(user_location())}: unflatten: Provided sizes {list(sizes)} don't "
            f"multiply up to the size of dim {dim} ({x.shape[d]}) in the input tensor"
        )
    return reshape(x, (*x.shape[:d], *sizes, *x.shape[d + 1 :]))


def select(x: Tensor, dim: int, index: int) -> Tensor:
    """`x` at `index` of `dim`, that dim removed (torch.select: x[:, ..., index]; a view)."""
    _check_tensor(x, "select")
    if x.ndim == 0:
        raise IndexShapeError(
            f"{format_location(user_location())}: select() cannot be applied to a 0-dim tensor."
        )
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "select"), x.ndim)
    i = _dim_arg(index, "select index")
    if not -x.shape[d] <= i < x.shape[d]:
        raise IndexShapeError(
            f"{format_location(user_location())}: select(): index {i} out of range for tensor "
            f"of size {list(x.shape)} at dimension {dim}"
        )
    return getitem(x, (slice(None),) * d + (i,))


def _triangle_indices(
    row: int, col: int, offset: int, lower: bool, dtype: Any, device: Any, what: str
) -> Tensor:
    _check_device(device, what)
    if dtype is not None and as_dtype(dtype) is not int32:
        raise RuntimeError(
            f"{format_location(user_location())}: {what}: dtype must be an integer type (int32/int64), got {dtype!r}"
        )
    for n, name in ((row, "row"), (col, "col")):
        if _dim_arg(n, what) < 0:
            raise RuntimeError(
                f"{format_location(user_location())}: {name} must be non-negative, got{n}"
            )
    rows, cols = np.indices((row, col))
    keep = (cols - rows <= offset) if lower else (cols - rows >= offset)
    return from_numpy(np.stack([rows[keep], cols[keep]]).astype(np.int32).reshape(2, -1))


def tril_indices(
    row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None
) -> Tensor:
    """The [2, N] coordinates of the lower triangle of a row x col matrix, row by row
    (torch.tril_indices; int32 for PyTorch's int64, computed from the sizes on the host)."""
    return _triangle_indices(
        row, col, _dim_arg(offset, "tril_indices"), True, dtype, device, "tril_indices"
    )


def triu_indices(
    row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None
) -> Tensor:
    """The [2, N] coordinates of the upper triangle (torch.triu_indices), as tril_indices."""
    return _triangle_indices(
        row, col, _dim_arg(offset, "triu_indices"), False, dtype, device, "triu_indices"
    )
