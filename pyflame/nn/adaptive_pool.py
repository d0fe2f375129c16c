"""`F.adaptive_avg_pool1d/2d/3d` and `F.adaptive_max_pool1d/2d`: pooling to an output size, with
PyTorch's bins (output i of a dim of n inputs and m outputs pools inputs
floor(i * n / m) .. ceil((i + 1) * n / m) - 1, so bins may overlap and differ in length).

An output size that divides the input's is one `flame.avg_pool2d` / `flame.max_pool2d` with
kernel = stride = n / m (its indices too). Any other size reads each bin's
elements at a constant index (K = the longest bin's length entries per output; a shorter bin
repeats its last element, which a max does not see and a mean masks out), by slices where
the index steps evenly, else `index_select` (pyflame/nn/row_runs.py):

    x [N, C, H, W] --rows along H, W--> [N, C, Oh, Kh, Ow, Kw]
    mean: where(mask, ., 0), sums over Kw and Kh, / bin sizes (half floats in float32)
    max:  bins moved last [N, C, Oh, Ow, Kh·Kw], the first max (the last NaN) picked by
          `gather`, so its gradient goes to that element only, as PyTorch's
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame import ops
from pyflame.core.dtypes import bfloat16, float16, float32, int32
from pyflame.indexing import gather, index_select
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.nn import row_runs
from pyflame.ops.conv import avg_pool2d, max_pool2d
from pyflame.ops.node import _check_tensor


def _where() -> str:
    return format_location(user_location())


def bins(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's adaptive bins of n inputs into m outputs: (start, end) of each (end exclusive:
    start_index (i * n) // m, end_index ((i + 1) * n + m - 1) // m)."""
    i = np.arange(m, dtype=np.int64)
    return (i * n) // m, ((i + 1) * n + m - 1) // m


def _sizes(output_size: Any, dims: int, what: str, spatial: Sequence[int]) -> list[int]:
    """`output_size` as PyTorch reads it: an int for every dim, or one entry per dim, None
    keeping the input's size; negative entries are its RuntimeError."""
    if output_size is None or isinstance(output_size, (int, np.integer)):
        entries: list[Any] = [output_size] * dims
    elif isinstance(output_size, Sequence) and not isinstance(output_size, str):
        entries = list(output_size)
        if len(entries) != dims:
            if dims == 1:
                raise RuntimeError(
                    f"{_where()}: {what}() argument 'output_size' should contain one int (got "
                    f"{len(entries)})"
                )
            raise RuntimeError(f"{_where()}: {what}: output_size must be {dims}")
    else:
        raise TypeError(
            f"{what}(): argument 'output_size' must be an int or a tuple of ints, not "
            f"{type(output_size).__name__}"
        )
    sizes = []
    for entry, n in zip(entries, spatial, strict=True):
        if entry is None:
            sizes.append(n)
            continue
        if isinstance(entry, bool):
            raise TypeError(f"{what}(): output_size entries must be ints, got {entry!r}")
        try:
            sizes.append(operator.index(entry))
        except TypeError:
            raise TypeError(f"{what}(): output_size entries must be ints, got {entry!r}") from None
    if min(sizes) < 0:
        raise RuntimeError(
            f"{_where()}: {what}: elements of output_size must be greater than or equal to 0 "
            f"but received {{{', '.join(map(str, sizes))}}}"
        )
    return sizes


def _batched_input(input: Tensor, dims: int, what: str) -> tuple[Tensor, bool]:
    """(input with a batch dim, whether one was added), PyTorch's rank, dtype and empty-dim
    checks."""
    _check_tensor(input, what)
    if input.ndim not in (dims + 1, dims + 2):
        if dims == 1:
            raise RuntimeError(
                f"{_where()}: Expected 2 to 3 dimensions, but got {input.ndim}-dimensional "
                f"tensor for argument #1 'self' (while checking arguments for {what})"
            )
        raise RuntimeError(
            f"{_where()}: {what}(): Expected {dims + 1}D or {dims + 2}D tensor, but got "
            f"{list(input.shape)}"
        )
    if not input.dtype.is_floating_point:
        name = {"bool": "Bool", "int32": "Long"}.get(input.dtype.name, input.dtype.name)
        raise NotImplementedError(f"{_where()}: \"{what}\" not implemented for '{name}'")
    unbatched = input.ndim == dims + 1
    for k in range(0 if unbatched else 1, input.ndim):  # all but a batch dim
        if input.shape[k] == 0:
            raise RuntimeError(
                f"{_where()}: {what}(): Expected input to have non-zero size for non-batch "
                f"dimensions, but input has sizes {list(input.shape)} with dimension {k} being "
                "empty"
            )
    return (input.unsqueeze(0) if unbatched else input), unbatched


def _windows(x: Tensor, dim: int, m: int) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """x with `dim` (n elements) replaced by [m, K]: bin i's elements start_i .. end_i - 1,
    the last repeated up to K (the longest bin); also each entry's input position [m, K] and
    whether it is a real element of its bin (not a repeat)."""
    n = x.shape[dim]
    start, end = bins(n, m)
    k = int((end - start).max())
    position = start[:, None] + np.arange(k)[None, :]
    real = position < end[:, None]
    position = np.minimum(position, end[:, None] - 1)
    taps = [row_runs.phases(x, dim, position[:, j]) for j in range(k)]
    if all(parts is not None for parts in taps):  # each tap's rows by slices, stacked
        rows = [row_runs.interleaved(parts, dim) for parts in taps]  # type: ignore[arg-type]  # (checked: not None)
        return ops.stack(rows, dim + 1), position, real
    picked = index_select(x, dim, ops.from_numpy(position.reshape(-1).astype(np.int32)))
    shape = list(x.shape)
    shape[dim : dim + 1] = [m, k]
    return picked.reshape(shape), position, real


def _adaptive_avg(x: Tensor, out: Sequence[int]) -> Tensor:
    """[N, C, H, W] -> [N, C, *out], the mean of each bin."""
    (h, w), (oh, ow) = x.shape[2:], tuple(out)
    if not oh or not ow or not x.shape[0] or not x.shape[1]:
        return ops.zeros(*x.shape[:2], oh, ow, dtype=x.dtype)
    if h % oh == 0 and w % ow == 0:
        return avg_pool2d(x, (h // oh, w // ow))
    if x.dtype in (float16, bfloat16):  # PyTorch sums in float32 and rounds the mean once
        return _adaptive_avg(x.astype(float32), out).astype(x.dtype)
    rows, _, real_h = _windows(x, 2, oh)  # [N, C, oh, Kh, W]
    cols, _, real_w = _windows(rows, 4, ow)  # [N, C, oh, Kh, ow, Kw]
    mask = real_h[:, :, None, None] & real_w[None, None, :, :]  # [oh, Kh, ow, Kw]
    kept = ops.where(ops.from_numpy(mask), cols, 0.0)
    sums = kept.sum(-1).sum(-2)  # [N, C, oh, ow]
    counts = real_h.sum(1)[:, None] * real_w.sum(1)[None, :]
    return sums / ops.from_numpy(counts.astype(np.float32)).astype(x.dtype)


def _adaptive_max(x: Tensor, out: Sequence[int], return_indices: bool) -> Any:
    """[N, C, H, W] -> [N, C, *out], the max of each bin (and its flat index h * W + w)."""
    (h, w), (oh, ow) = x.shape[2:], tuple(out)
    if not oh or not ow or not x.shape[0] or not x.shape[1]:
        values = ops.zeros(*x.shape[:2], oh, ow, dtype=x.dtype)
        return (values, ops.zeros(values.shape, dtype=int32)) if return_indices else values
    if h % oh == 0 and w % ow == 0:  # (max_pool2d's indices are PyTorch's pick too)
        return max_pool2d(x, (h // oh, w // ow), return_indices=return_indices)
    rows, pos_h, _ = _windows(x, 2, oh)  # [N, C, oh, Kh, W]
    cols, pos_w, _ = _windows(rows, 4, ow)  # [N, C, oh, Kh, ow, Kw]
    kh, kw = pos_h.shape[1], pos_w.shape[1]
    window = ops.permute(cols, 0, 1, 2, 4, 3, 5).reshape(*x.shape[:2], oh, ow, kh * kw)
    # the flat input index of every window entry, [oh, ow, Kh·Kw]
    flat = pos_h[:, None, :, None] * w + pos_w[None, :, None, :]
    flat = flat.reshape(oh, ow, kh * kw).astype(np.int32)
    taps = ops.arange(kh * kw, dtype=int32)
    with_values = window.detach()
    largest = with_values.amax(-1, keepdim=True)
    # PyTorch's loop takes a value when `val > max or isnan(val)`: the first max, or the last
    # NaN of the window
    first_max = ops.where(with_values == largest, taps, kh * kw).amin(-1, keepdim=True)
    last_nan = ops.where(ops.isnan(with_values), taps, -1).amax(-1, keepdim=True)
    tap = ops.where(last_nan >= 0, last_nan, first_max)
    values = gather(window, -1, tap).squeeze(-1)
    if not return_indices:
        return values
    where_from = ops.from_numpy(flat).expand(*x.shape[:2], oh, ow, kh * kw)
    return values, gather(where_from, -1, tap).squeeze(-1)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Mean pooling of (N, C, H, W) or (C, H, W) to `output_size` (an int, or (h, w) with
    None keeping that size), torch.nn.functional.adaptive_avg_pool2d."""
    x, unbatched = _batched_input(input, 2, "adaptive_avg_pool2d")
    out = _adaptive_avg(x, _sizes(output_size, 2, "adaptive_avg_pool2d", x.shape[2:]))
    return out.squeeze(0) if unbatched else out


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Mean pooling of (N, C, L) or (C, L) to `output_size` (an int or a 1-tuple),
    torch.nn.functional.adaptive_avg_pool1d."""
    x, unbatched = _batched_input(input, 1, "adaptive_avg_pool1d")
    (m,) = _sizes(output_size, 1, "adaptive_avg_pool1d", x.shape[2:])
    out = _adaptive_avg(x.unsqueeze(2), (1, m)).squeeze(2)
    return out.squeeze(0) if unbatched else out


def adaptive_avg_pool3d(input: Tensor, output_size: Any) -> Tensor:
    """Mean pooling of (N, C, D, H, W) or (C, D, H, W) to `output_size`,
    torch.nn.functional.adaptive_avg_pool3d: the 2-D pooling of H, W, then of D (a bin is a
    box, so the mean of the planes' means is its mean; half floats in float32 throughout)."""
    x, unbatched = _batched_input(input, 3, "adaptive_avg_pool3d")
    od, oh, ow = _sizes(output_size, 3, "adaptive_avg_pool3d", x.shape[2:])
    dtype = x.dtype
    if dtype in (float16, bfloat16):
        x = x.astype(float32)
    n, c, d, h, w = x.shape
    planes = _adaptive_avg(x.reshape(n, c * d, h, w), (oh, ow))  # [N, C·D, oh, ow]
    depth = _adaptive_avg(planes.reshape(n, c, d, oh * ow), (od, oh * ow))  # [N, C, od, oh·ow]
    out = depth.reshape(n, c, od, oh, ow).astype(dtype)
    return out.squeeze(0) if unbatched else out


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling of (N, C, H, W) or (C, H, W) to `output_size`; with `return_indices`
    also each max's flat index h * W + w in its plane (int32; PyTorch: int64),
    torch.nn.functional.adaptive_max_pool2d."""
    x, unbatched = _batched_input(input, 2, "adaptive_max_pool2d")
    out = _adaptive_max(
        x, _sizes(output_size, 2, "adaptive_max_pool2d", x.shape[2:]), return_indices
    )
    if not return_indices:
        return out.squeeze(0) if unbatched else out
    return tuple(t.squeeze(0) if unbatched else t for t in out)


def adaptive_max_pool1d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling of (N, C, L) or (C, L) to `output_size`; with `return_indices` also each
    max's position (int32), torch.nn.functional.adaptive_max_pool1d."""
    x, unbatched = _batched_input(input, 1, "adaptive_max_pool1d")
    (m,) = _sizes(output_size, 1, "adaptive_max_pool1d", x.shape[2:])
    out = _adaptive_max(x.unsqueeze(2), (1, m), return_indices)
    outs = out if return_indices else (out,)
    outs = tuple(t.squeeze(2) for t in outs)
    outs = tuple(t.squeeze(0) if unbatched else t for t in outs)
    return outs if return_indices else outs[0]


def adaptive_max_pool3d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) to `output_size`; with `return_indices`
    also each max's flat index d * H * W + h * W + w (int32; PyTorch: int64),
    torch.nn.functional.adaptive_max_pool3d: the 2-D pooling of H, W, then of D (a bin is a
    box), the indices the depth step's pick and the plane step's index at that depth (the
    first max in (d, h, w) order or the last NaN, as PyTorch's loop)."""
    x, unbatched = _batched_input(input, 3, "adaptive_max_pool3d")
    od, oh, ow = _sizes(output_size, 3, "adaptive_max_pool3d", x.shape[2:])
    n, c, d, h, w = x.shape
    planes = _adaptive_max(x.reshape(n, c * d, h, w), (oh, ow), return_indices)
    plane_values = planes[0] if return_indices else planes
    depth = _adaptive_max(plane_values.reshape(n, c, d, oh * ow), (od, oh * ow), return_indices)
    values = (depth[0] if return_indices else depth).reshape(n, c, od, oh, ow)
    if not return_indices:
        return values.squeeze(0) if unbatched else values
    if not d or not od or not oh * ow:
        index = ops.zeros(values.shape, dtype=int32)
    else:
        picked = (depth[1] // (oh * ow)).astype(int32)  # [N, C, od, oh·ow]
        within = gather(planes[1].reshape(n, c, d, oh * ow), 2, picked)
        index = (picked * (h * w) + within).reshape(n, c, od, oh, ow)
    if unbatched:
        return values.squeeze(0), index.squeeze(0)
    return values, index


__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
]
