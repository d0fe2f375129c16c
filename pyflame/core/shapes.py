"""Shape rules for every tensor op, shared by the frontend and the flame verifiers.

Each rule takes input shapes (tuples) and attributes and returns the result shape, or raises
`ShapeError` naming both shapes. One place for the facts, so the frontend (which raises at the
user's line) and the IR verifiers (which raise on hand-written IR) can never disagree.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pyflame.core.errors import IndexShapeError, ShapeError

Shape = tuple[int, ...]


def normalize_dim(dim: int, rank: int, what: str = "dim") -> int:
    """A dimension index in [0, rank), accepting negative indices like PyTorch (a 0-d tensor
    accepts 0 and -1, as if it had one dim)."""
    bound = rank if rank > 1 else 1  # (max(rank, 1) without a call: every dim asks)
    if not -bound <= dim < bound:
        raise ShapeError(f"{what} {dim} is out of range for a tensor of rank {rank}")
    return dim % rank if rank else 0


def normalize_dims(dims: int | Sequence[int] | None, rank: int) -> tuple[int, ...]:
    """Reduction dims as a sorted tuple; None means every dim."""
    if dims is None:
        return tuple(range(rank))
    if isinstance(dims, int):
        return (normalize_dim(dims, rank),)
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
        return tuple([1 if i in dims else n for i, n in enumerate(shape)])
    return tuple([n for i, n in enumerate(shape) if i not in dims])


def matmul(a: Shape, b: Shape) -> Shape:
    """flame.matmul: [*B, m, k] @ [*B, k, n] -> [*B, m, n], where one side may have no batch
    dims (it is then shared by every batch entry); the frontend (`matmul_result`) brings
    PyTorch's vector and broadcasting forms to this one."""
    if len(a) < 2 or len(b) < 2:
        raise ShapeError(
            f"matmul needs two tensors of rank 2 or more here, got shapes {list(a)} and {list(b)}"
        )
    if a[-1] != b[-2]:
        raise ShapeError(
            f"matmul: shapes {list(a)} and {list(b)} cannot be multiplied ({a[-1]} != {b[-2]})"
        )
    batch_a, batch_b = tuple(a[:-2]), tuple(b[:-2])
    if batch_a and batch_b and batch_a != batch_b:
        raise ShapeError(
            f"matmul: batch dims {list(batch_a)} and {list(batch_b)} of shapes {list(a)} and "
            f"{list(b)} differ (broadcast them first)"
        )
    return (batch_a or batch_b) + (a[-2], b[-1])


def matmul_result(a: Shape, b: Shape) -> Shape:
    """torch.matmul's result shape: 1-D operands are a row (lhs) or a column (rhs) vector whose
    added dim is dropped again; batch dims broadcast (numpy rules)."""
    a, b = tuple(a), tuple(b)
    if not a or not b:
        raise ShapeError(
            f"matmul: both arguments need at least 1 dim, got shapes {list(a)} and {list(b)}"
        )
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ShapeError(
            f"matmul: shapes {list(a)} and {list(b)} cannot be multiplied ({a2[-1]} != {b2[-2]})"
        )
    batch = broadcast_shapes(a2[:-2], b2[:-2], what=f"matmul of {list(a)} and {list(b)}")
    return batch + a[-2:-1] * (len(a) > 1) + b[-1:] * (len(b) > 1)


def broadcast_shapes(a: Shape, b: Shape, what: str = "broadcast") -> Shape:
    """numpy broadcasting of two shapes."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b, strict=True):
        if x != y and 1 not in (x, y):
            raise ShapeError(f"{what}: batch dims {list(a)} and {list(b)} cannot be broadcast")
        out.append(y if x == 1 else x)
    return tuple(out)


def broadcast_all(*shapes: Shape) -> Shape:
    """numpy's `np.broadcast_shapes(*shapes)` of int tuples, ValueError as numpy's, without its
    ~3 us of array machinery (elementwise ops ask at every build)."""
    first = shapes[0] if shapes else ()
    n = 0
    same = True
    for s in shapes:  # (loops, not generators: two or three shapes at every build)
        if s != first:
            same = False
        if len(s) > n:
            n = len(s)
    if same:
        return tuple(first)
    out = [1] * n
    for s in shapes:
        offset = n - len(s)
        for i, d in enumerate(s):
            have = out[offset + i]
            if d != have:
                if have == 1:
                    out[offset + i] = d
                elif d != 1:
                    raise ValueError(f"shapes {[list(s) for s in shapes]} cannot be broadcast")
    return tuple(out)


def transpose_perm(rank: int, dim0: int, dim1: int) -> tuple[int, ...]:
    d0, d1 = normalize_dim(dim0, rank), normalize_dim(dim1, rank)
    if rank == 0:
        return ()
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
        raise ShapeError(f"reshape to {new}: only one dimension can be inferred (-1)")
    for i, n in enumerate(new):
        if n < -1:
            raise ShapeError(f"reshape: invalid shape dimension {n} at index {i} of shape {new}")
    if -1 in new:
        known = math.prod(n for n in new if n != -1)
        if known == 0:
            raise ShapeError(
                f"cannot reshape tensor of {total} elements into shape {new} because the "
                "unspecified dimension size -1 can be any value and is ambiguous"
            )
        if total % known:
            raise ShapeError(f"cannot reshape {list(shape)} ({total} elements) to {new}")
        new[new.index(-1)] = total // known
    if min(new, default=0) < 0 or math.prod(new) != total:
        raise ShapeError(f"cannot reshape {list(shape)} ({total} elements) to {new}")
    return tuple(new)


# --------------------------------------------------------------------------- shape ops
# unsqueeze/squeeze/flatten (flame.reshape), broadcast_to/expand, slice, concat/stack, pad,
# split/chunk and basic indexing. Messages follow PyTorch's where it has one.


def unsqueeze(shape: Shape, dim: int) -> Shape:
    """A size-1 dim inserted at `dim` (in [-rank-1, rank], like torch.unsqueeze)."""
    d = normalize_dim(dim, len(shape) + 1)
    return tuple(shape[:d]) + (1,) + tuple(shape[d:])


def squeeze(shape: Shape, dims: int | Sequence[int] | None = None) -> Shape:
    """Size-1 dims removed: all of them (dims=None) or those of `dims` that have size 1."""
    if dims is None:
        return tuple(n for n in shape if n != 1)
    chosen = normalize_dims(dims, len(shape))
    return tuple(n for i, n in enumerate(shape) if not (i in chosen and n == 1))


def flatten(shape: Shape, start_dim: int = 0, end_dim: int = -1) -> Shape:
    """Dims start_dim..end_dim (inclusive) merged into one; a rank-0 tensor becomes [1]."""
    if not shape:
        normalize_dim(start_dim, 1)
        normalize_dim(end_dim, 1)
        return (1,)
    s, e = normalize_dim(start_dim, len(shape)), normalize_dim(end_dim, len(shape))
    if s > e:
        raise ShapeError(
            f"flatten of {list(shape)}: start_dim {start_dim} cannot come after end_dim {end_dim}"
        )
    return tuple(shape[:s]) + (math.prod(shape[s : e + 1]),) + tuple(shape[e + 1 :])


def broadcast_to(shape: Shape, target: Sequence[int]) -> Shape:
    """numpy/PyTorch broadcasting of `shape` to exactly `target` (dims aligned on the right;
    every dim of `shape` equals its target dim or is 1)."""
    target = tuple(target)
    k = len(target) - len(shape)
    if k < 0 or min(target, default=0) < 0:
        raise ShapeError(f"cannot broadcast {list(shape)} to {list(target)}")
    for d, n in enumerate(shape):
        if n != 1 and n != target[k + d]:
            raise ShapeError(
                f"cannot broadcast {list(shape)} to {list(target)}: size {n} of dim {d} is "
                f"neither 1 nor {target[k + d]}"
            )
    return target


def expand(shape: Shape, sizes: Sequence[int], what: str = "expand") -> Shape:
    """torch.expand / broadcast_to sizes: -1 keeps an existing dim's size; new dims lead."""
    sizes = tuple(sizes)
    k = len(sizes) - len(shape)
    if k < 0:
        raise ShapeError(f"cannot {what} {list(shape)} to {list(sizes)}: fewer sizes than dims")
    target = []
    for i, n in enumerate(sizes):
        if n == -1:
            if i < k:
                raise ShapeError(
                    f"cannot {what} {list(shape)} to {list(sizes)}: -1 is not allowed for the "
                    f"new leading dim {i}"
                )
            n = shape[i - k]
        target.append(n)
    return broadcast_to(shape, target)


def normalize_slice(size: int, s: slice) -> tuple[int, int, int]:
    """(start, stop, step) of a python slice on a dim of `size`, in the canonical form
    flame.slice takes: 0 <= start <= stop <= size, step >= 1."""
    if s.step is not None and s.step <= 0:
        raise ShapeError(f"slice step must be greater than zero, got {s.step}")
    start, stop, step = s.indices(size)
    return start, max(start, stop), step


def slice_shape(
    shape: Shape, start: Sequence[int], stop: Sequence[int], step: Sequence[int]
) -> Shape:
    """The shape of flame.slice: per dim, the elements start, start + step, ... below stop."""
    rank = len(shape)
    if not len(start) == len(stop) == len(step) == rank:
        raise ShapeError(
            f"slice of {list(shape)} needs one start, stop and step per dim, got "
            f"{len(start)}, {len(stop)} and {len(step)}"
        )
    for d, n in enumerate(shape):
        if not (0 <= start[d] <= stop[d] <= n and step[d] >= 1):
            raise ShapeError(
                f"slice of {list(shape)}: dim {d} needs 0 <= start <= stop <= {n} and step >= 1, "
                f"got start {start[d]}, stop {stop[d]}, step {step[d]}"
            )
    return tuple(-(-(e - s) // k) for s, e, k in zip(start, stop, step, strict=True))


def concat(shapes: Sequence[Shape], dim: int) -> Shape:
    """torch.cat: one rank (at least 1), equal sizes except along `dim` (already normalized)."""
    if not shapes:
        raise ShapeError("cat needs at least one tensor")
    first = tuple(shapes[0])
    for i, s in enumerate(shapes):
        if not s:
            raise ShapeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
        if len(s) != len(first):
            raise ShapeError(
                f"cat: tensors must have the same rank, got shapes {list(first)} and {list(s)} "
                f"(tensor {i})"
            )
    if not 0 <= dim < len(first):
        raise ShapeError(f"cat dim {dim} is out of range for a tensor of rank {len(first)}")
    for i, s in enumerate(shapes):
        if any(a != b for d, (a, b) in enumerate(zip(first, s, strict=True)) if d != dim):
            raise ShapeError(
                f"cat: shapes {list(first)} and {list(s)} (tensor {i}) differ outside dim {dim}"
            )
    return first[:dim] + (sum(s[dim] for s in shapes),) + first[dim + 1 :]


def stack(shapes: Sequence[Shape], dim: int) -> Shape:
    """torch.stack: equal shapes, a new dim of size len(shapes) at `dim` (in [-rank-1, rank])."""
    if not shapes:
        raise ShapeError("stack needs at least one tensor")
    first = tuple(shapes[0])
    for i, s in enumerate(shapes):
        if tuple(s) != first:
            raise ShapeError(
                f"stack expects each tensor to be equal size, but got {list(first)} at entry 0 "
                f"and {list(s)} at entry {i}"
            )
    d = normalize_dim(dim, len(first) + 1)
    return first[:d] + (len(shapes),) + first[d:]


def pad_widths(shape: Shape, pad: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """PyTorch's pad list (last dim first: (left, right, top, bottom, ...)) as per-dim
    (low, high) tuples over every dim."""
    pad = tuple(pad)
    rank = len(shape)
    if len(pad) % 2:
        raise ShapeError(f"pad {list(pad)}: padding length must be divisible by 2")
    if len(pad) // 2 > rank:
        raise ShapeError(
            f"pad {list(pad)}: padding length should be at most twice the rank of "
            f"{list(shape)} ({2 * rank})"
        )
    low, high = [0] * rank, [0] * rank
    for i in range(len(pad) // 2):
        low[rank - 1 - i], high[rank - 1 - i] = pad[2 * i], pad[2 * i + 1]
    return tuple(low), tuple(high)


def pad(shape: Shape, low: Sequence[int], high: Sequence[int]) -> Shape:
    """flame.pad: `low[d]` elements before and `high[d]` after each dim d; negative widths
    crop, but never more than the dim holds."""
    if not len(low) == len(high) == len(shape):
        raise ShapeError(
            f"pad of {list(shape)} needs one low and one high width per dim, got {len(low)} and "
            f"{len(high)}"
        )
    for d, n in enumerate(shape):
        if n + min(low[d], 0) + min(high[d], 0) < 0:
            raise ShapeError(
                f"pad of {list(shape)}: widths ({low[d]}, {high[d]}) crop more than the "
                f"{n} elements of dim {d}"
            )
    return tuple(n + lo + hi for n, lo, hi in zip(shape, low, high, strict=True))


def split_sizes(size: int, split: int | Sequence[int], dim: int = 0) -> tuple[int, ...]:
    """torch.split: pieces of `split` elements (the last may be shorter), or exactly the sizes
    of a list (which must sum to `size`)."""
    if isinstance(split, int):  # PyTorch's words
        if split < 0:
            raise ShapeError(
                f"split expects split_size be non-negative, but got split_size={split}"
            )
        if split == 0 and size != 0:
            raise ShapeError(
                f"split_size can only be 0 if dimension size is 0, but got dimension size of {size}"
            )
        if size == 0:
            return (0,)
        return tuple(min(split, size - i) for i in range(0, size, split))
    sizes = tuple(split)
    if any(n < 0 for n in sizes) or sum(sizes) != size:
        raise ShapeError(
            f"split_with_sizes expects split_sizes to sum exactly to {size} (the size of dim "
            f"{dim}), but got split_sizes={list(sizes)}"
        )
    return sizes


def chunk_sizes(size: int, chunks: int, dim: int = 0) -> tuple[int, ...]:
    """torch.chunk: pieces of ceil(size / chunks) elements (so possibly fewer than `chunks`);
    a dim of size 0 gives `chunks` empty pieces, as PyTorch."""
    if chunks <= 0:
        raise ShapeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    if size == 0:
        return (0,) * chunks
    return split_sizes(size, max(1, -(-size // chunks)), dim)


@dataclass(frozen=True)
class IndexPlan:
    """Basic indexing (`x[key]`) as one flame.slice and one flame.reshape."""

    start: tuple[int, ...]
    stop: tuple[int, ...]
    step: tuple[int, ...]
    sliced: Shape  # shape after the slice (one entry per input dim)
    shape: Shape  # final shape: int-indexed dims dropped, None dims added


def expand_ellipsis(
    rank: int, items: tuple[Any, ...], width: Callable[[Any], int] | None = None
) -> list[Any]:
    """An index key with its `...` written out as full slices (one at the end when it has
    none). `width(k)`: how many dims an item consumes (default: None 0, anything else 1; a
    bool mask consumes its rank). IndexError (as `IndexShapeError`) for two ellipses or more
    indices than dims."""
    consumed = width or (lambda k: 0 if k is None else 1)
    if sum(k is Ellipsis for k in items) > 1:
        raise IndexShapeError("an index can only have a single ellipsis ('...')")
    used = sum(consumed(k) for k in items if k is not Ellipsis)
    if used > rank:
        raise IndexShapeError(f"too many indices for tensor of dimension {rank}")
    if Ellipsis not in items:
        items = items + (Ellipsis,)
    expanded: list[Any] = []
    for k in items:
        expanded.extend([slice(None)] * (rank - used) if k is Ellipsis else [k])
    return expanded


def index(shape: Shape, key: object) -> IndexPlan:
    """Plan `x[key]` for ints, slices (step >= 1), `...` and None; raises IndexError (as
    `IndexShapeError`) for out-of-range ints or too many indices, TypeError for anything else."""
    items = key if isinstance(key, tuple) else (key,)
    for k in items:
        if isinstance(k, bool) or not (
            k is None or k is Ellipsis or isinstance(k, slice) or _is_index_int(k)
        ):
            raise TypeError(
                "PyFlame tensors support basic indexing only (ints, slices, '...', None), got "
                f"{type(k).__name__}"
            )
    expanded = expand_ellipsis(len(shape), items)
    start, stop, step, final = [], [], [], []
    d = 0
    for k in expanded:
        if k is None:
            final.append(1)
            continue
        n = shape[d]
        if isinstance(k, slice):
            s, e, st = normalize_slice(n, k)
            final.append(-(-(e - s) // st))
        else:
            i = int(k)  # an int-like key (checked above)
            if not -n <= i < n:
                raise IndexShapeError(f"index {i} is out of bounds for dimension {d} with size {n}")
            s, e, st = i % n, i % n + 1, 1
        start.append(s)
        stop.append(e)
        step.append(st)
        d += 1
    sliced = slice_shape(shape, start, stop, step)
    return IndexPlan(tuple(start), tuple(stop), tuple(step), sliced, tuple(final))


def _is_index_int(k: object) -> bool:
    return isinstance(k, numbers.Integral)  # python and numpy ints


# --------------------------------------------------------------------------- convolution and pooling
# --- convolution and pooling ---
# Spatial ops on NCHW tensors. `padding` is always explicit here: four ints (top, bottom, left,
# right); the frontend resolves PyTorch's int / pair / 'same' / 'valid' forms first.


def conv_out_size(n: int, k: int, stride: int, pad_lo: int, pad_hi: int, dilation: int) -> int:
    """Output length of a sliding window of `k` taps (spaced `dilation`) with `stride` over `n`
    elements padded by pad_lo / pad_hi (floor mode, as PyTorch)."""
    return (n + pad_lo + pad_hi - dilation * (k - 1) - 1) // stride + 1


def _spatial_attrs(
    what: str,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> None:
    if len(kernel) != 2 or len(stride) != 2 or len(dilation) != 2 or len(padding) != 4:
        raise ShapeError(
            f"{what} takes 2 kernel sizes, 2 strides, 2 dilations and 4 paddings (top, bottom, "
            f"left, right), got {list(kernel)}, {list(stride)}, {list(dilation)}, {list(padding)}"
        )
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ShapeError(
            f"{what}: kernel size {list(kernel)}, stride {list(stride)} and dilation "
            f"{list(dilation)} must be positive"
        )
    if min(padding) < 0:
        raise ShapeError(f"{what}: padding {list(padding)} must not be negative")


def _spatial_out(
    what: str,
    x: Shape,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> tuple[int, int]:
    h, w = x[2], x[3]
    ho = conv_out_size(h, kernel[0], stride[0], padding[0], padding[1], dilation[0])
    wo = conv_out_size(w, kernel[1], stride[1], padding[2], padding[3], dilation[1])
    if ho < 1 or wo < 1:
        eff = [dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1]
        raise ShapeError(
            f"{what}: input {list(x)} padded by {list(padding)} (top, bottom, left, right) is "
            f"{h + padding[0] + padding[1]}x{w + padding[2] + padding[3]}, smaller than the "
            f"(dilated) kernel {eff[0]}x{eff[1]}"
        )
    return ho, wo


def conv2d(
    x: Shape,
    w: Shape,
    b: Shape | None,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> Shape:
    """NCHW input, (O, C/groups, kh, kw) weight, optional (O,) bias -> (N, O, Ho, Wo)."""
    if len(x) != 4:
        raise ShapeError(f"conv2d expects a 4-D (N, C, H, W) input, got shape {list(x)}")
    if len(w) != 4:
        raise ShapeError(f"conv2d expects a 4-D (O, C/groups, kh, kw) weight, got shape {list(w)}")
    if groups < 1:
        raise ShapeError(f"conv2d: groups must be positive, got {groups}")
    _spatial_attrs("conv2d", w[2:], stride, padding, dilation)
    if x[1] != w[1] * groups:
        raise ShapeError(
            f"conv2d: input {list(x)} has {x[1]} channels but weight {list(w)} with "
            f"groups={groups} expects {w[1] * groups}"
        )
    if w[0] % groups:
        raise ShapeError(
            f"conv2d: weight {list(w)} has {w[0]} output channels, not divisible by groups={groups}"
        )
    if b is not None and tuple(b) != (w[0],):
        raise ShapeError(
            f"conv2d: bias of shape {list(b)} should have shape [{w[0]}] for weight {list(w)}"
        )
    ho, wo = _spatial_out("conv2d", x, w[2:], stride, padding, dilation)
    return (x[0], w[0], ho, wo)


def conv2d_weight_grad(
    x: Shape,
    dy: Shape,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> Shape:
    """conv2d's weight gradient: NCHW input x and output gradient dy (N, O, Ho, Wo) of a conv2d
    with a (kh, kw) `kernel` -> (O, C/groups, kh, kw)."""
    what = "conv2d_weight_grad"
    if len(x) != 4 or len(dy) != 4:
        raise ShapeError(
            f"{what} expects a 4-D (N, C, H, W) input and a 4-D (N, O, Ho, Wo) gradient, got "
            f"shapes {list(x)} and {list(dy)}"
        )
    if groups < 1 or x[1] % groups or dy[1] % groups:
        raise ShapeError(
            f"{what}: groups={groups} must divide the {x[1]} input and {dy[1]} output channels"
        )
    _spatial_attrs(what, kernel, stride, padding, dilation)
    expected = (x[0], dy[1], *_spatial_out(what, x, kernel, stride, padding, dilation))
    if tuple(dy) != expected:
        raise ShapeError(
            f"{what}: the gradient of a conv2d of input {list(x)} with a {kernel[0]}x{kernel[1]} "
            f"kernel has shape {list(expected)}, got {list(dy)}"
        )
    return (dy[1], x[1] // groups, kernel[0], kernel[1])


def pool2d(
    x: Shape,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    what: str = "pool2d",
) -> Shape:
    """NCHW input -> (N, C, Ho, Wo). Padding is any non-negative width here (max pooling pads
    with -inf, average pooling with zeros); `pool_padding` is PyTorch's stricter rule."""
    if len(x) != 4:
        raise ShapeError(f"{what} expects a 4-D (N, C, H, W) input, got shape {list(x)}")
    _spatial_attrs(what, kernel, stride, padding, dilation)
    return (x[0], x[1]) + _spatial_out(what, x, kernel, stride, padding, dilation)


def pool_padding(
    kernel: Sequence[int], padding: Sequence[int], dilation: Sequence[int], what: str
) -> None:
    """PyTorch's rule for pooling: each padding at most half the (dilated) kernel, so that every
    window holds an element of the input."""
    for i, p in enumerate(padding):
        eff = dilation[i // 2] * (kernel[i // 2] - 1) + 1
        if 2 * p > eff:
            raise ShapeError(
                f"{what}: padding {list(padding)} should be at most half of the effective kernel "
                f"size {eff} (kernel {list(kernel)}, dilation {list(dilation)})"
            )


# --- reductions ---
# Dims of reductions (sum, mean, max, min, prod, argmax, var, logsumexp, ...) and softmax.


def check_dims(dims: Sequence[int], rank: int) -> tuple[int, ...]:
    """Reduction dims as the IR holds them: sorted, unique, in [0, rank)."""
    dims = tuple(dims)
    if list(dims) != sorted(set(dims)) or any(not 0 <= d < rank for d in dims):
        raise ShapeError(f"dims {list(dims)} must be sorted, unique and in [0, {rank})")
    return dims


def reduced_count(shape: Shape, dims: Sequence[int]) -> int:
    """How many input elements each result element of a reduction over `dims` combines."""
    return math.prod(shape[d] for d in dims)


def nonempty_reduction(
    shape: Shape, dims: Sequence[int], what: str, every_dim: bool = False
) -> None:
    """max, min, argmax and argmin have no value on an empty dim: refused in PyTorch's words
    (`every_dim`: no dim was given, the reduction is over the whole tensor)."""
    if every_dim and math.prod(shape) == 0:
        raise ShapeError(
            f"{what}(): Expected reduction dim to be specified for input.numel() == 0 (shape "
            f"{list(shape)} has no elements). Specify the reduction dim with the 'dim' argument."
        )
    for d in dims:
        if shape[d] == 0:
            raise IndexShapeError(
                f"{what}(): Expected reduction dim {d} to have non-zero size (dim {d} of shape "
                f"{list(shape)} has size 0: a max or min of no elements)"
            )


# --------------------------------------------------------------------------- creation

#: element types iota and random_uniform make
NUMERIC_ELEMENTS = ("f32", "f16", "bf16", "i32")
INT32_RANGE = (-(2**31), 2**31 - 1)


def uniform_range_problem(elem: str, low: float, high: float) -> str | None:
    """Why random_uniform cannot make `elem` values in [low, high), or None (the flame, mesh and
    pe verifiers share it)."""
    if elem not in NUMERIC_ELEMENTS:
        return f"random_uniform makes {', '.join(NUMERIC_ELEMENTS)} tensors, not {elem}"
    if not low < high or not all(abs(v) < float("inf") for v in (low, high)):
        return f"random_uniform needs finite bounds with minval < maxval, got [{low}, {high})"
    if elem == "i32" and not (
        low == int(low)
        and high == int(high)
        and INT32_RANGE[0] <= low
        and high - 1 <= INT32_RANGE[1]
    ):
        return f"random_uniform on i32 needs integer bounds within int32, got [{low}, {high})"
    return None


# --------------------------------------------------------------------------- indexed rows


def gather_rows(table: Shape, index: Shape) -> Shape:
    """table [V, D] and an index of any shape I -> [*I, D]: the rows of `table` at the indices."""
    if len(table) != 2:
        raise ShapeError(f"gather_rows needs a 2-D table [V, D], got shape {list(table)}")
    return (*index, table[1])


def scatter_add_rows(index: Shape, src: Shape, rows: int) -> Shape:
    """An index of shape I and src [*I, D] -> [rows, D]: src[k] added into row index[k]."""
    if len(src) != len(index) + 1 or tuple(src[:-1]) != tuple(index):
        raise ShapeError(
            f"scatter_add_rows needs a source of the index's shape plus one dim [*I, D], got "
            f"index {list(index)} and source {list(src)}"
        )
    if rows < 0:
        raise ShapeError(f"scatter_add_rows needs rows >= 0, got {rows}")
    return (rows, src[-1])
