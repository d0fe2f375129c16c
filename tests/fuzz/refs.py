"""float64 numpy references of the registry entries numpy has no one-liner for (tests/fuzz/
programs.py: reference expressions call them as `fz.<name>(...)`). Semantics are PyTorch's;
arrays are float64 (bools as 0.0 / 1.0, indices as whole numbers)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _along(x: np.ndarray, axis: int) -> np.ndarray:
    """x with `axis` moved last (a 0-d x becomes [1])."""
    return np.moveaxis(np.atleast_1d(x), axis if x.ndim else 0, -1)


def _back(y: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    y = np.moveaxis(y, -1, axis if ndim else 0)
    return y.reshape(()) if ndim == 0 else y


def cum_extreme_indices(x: np.ndarray, axis: int, largest: bool) -> np.ndarray:
    """cummax / cummin indices: the LAST index of the running extreme (torch's `>=`)."""
    a = _along(x, axis)
    out = np.zeros(a.shape)
    best = a[..., 0].copy()
    idx = np.zeros(a.shape[:-1])
    for i in range(a.shape[-1]):
        take = a[..., i] >= best if largest else a[..., i] <= best
        best = np.where(take, a[..., i], best)
        idx = np.where(take, i, idx)
        out[..., i] = idx
    return _back(out, axis, x.ndim)


def sort(x: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    a = _along(x, axis)
    s = np.sort(a, axis=-1)
    return _back(s[..., ::-1] if descending else s, axis, x.ndim)


def argsort_stable(x: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """Stable sort indices: among ties the lower index first, ascending or descending."""
    a = _along(x, axis)
    idx = np.argsort(-a if descending else a, axis=-1, kind="stable")
    return _back(idx.astype(np.float64), axis, x.ndim)


def topk(x: np.ndarray, k: int, axis: int, largest: bool) -> np.ndarray:
    s = _along(sort(x, axis, largest), axis)[..., :k]
    return _back(s, axis, x.ndim)


def kthvalue(x: np.ndarray, k: int, axis: int, keepdims: bool) -> np.ndarray:
    s = _along(sort(x, axis, False), axis)[..., k - 1 : k]
    out = _back(s, axis, x.ndim)
    return out if keepdims or x.ndim == 0 else np.squeeze(out, axis)


def median(x: np.ndarray, axis: int | None, keepdims: bool) -> np.ndarray:
    """torch.median: the lower of the two middle values."""
    if axis is None:
        flat = np.sort(x.reshape(-1))
        return np.asarray(flat[(flat.size - 1) // 2])
    n = x.shape[axis] if x.ndim else 1
    return kthvalue(x, (n - 1) // 2 + 1, axis, keepdims)


def mode(x: np.ndarray, axis: int, keepdims: bool) -> np.ndarray:
    """torch.mode's values: the smallest of the most frequent values along axis."""
    a = _along(x, axis)
    counts = (a[..., :, None] == a[..., None, :]).sum(-1)
    top = counts.max(-1, keepdims=True)
    value = np.where(counts == top, a, np.inf).min(-1, keepdims=True)
    out = _back(value, axis, x.ndim)
    return out if keepdims or x.ndim == 0 else np.squeeze(out, axis)


def diag_embed(x: np.ndarray, offset: int, dim1: int, dim2: int) -> np.ndarray:
    n = x.shape[-1] + abs(offset)
    rank = x.ndim + 1
    d1, d2 = dim1 % rank, dim2 % rank
    out = np.zeros(x.shape[:-1] + (n, n))
    i = np.arange(x.shape[-1])
    rows, cols = (i, i + offset) if offset >= 0 else (i - offset, i)
    out[..., rows, cols] = x
    # out's last two dims are (dim1, dim2): move them into place
    return np.moveaxis(out, (-2, -1), (d1, d2))


def norm(x: np.ndarray, p: Any, axis: Any, keepdims: bool) -> np.ndarray:
    """torch.norm(x, p, dim, keepdim) for vector p-norms ('fro' is 2)."""
    a = np.abs(x)
    if p == "fro" or p == 2:
        return np.sqrt((a * a).sum(axis=axis, keepdims=keepdims))
    if p == float("inf"):
        return a.max(axis=axis, keepdims=keepdims)
    if p == float("-inf"):
        return a.min(axis=axis, keepdims=keepdims)
    if p == 0:
        return (a != 0).sum(axis=axis, keepdims=keepdims).astype(np.float64)
    if p == 1:
        return a.sum(axis=axis, keepdims=keepdims)
    return ((a**p).sum(axis=axis, keepdims=keepdims)) ** (1.0 / p)


def _positions(index: np.ndarray, axis: int) -> Any:
    """For each element of `index`: its full position with `axis` replaced by its value."""
    for pos in np.ndindex(*index.shape):
        target = list(pos)
        target[axis] = int(index[pos])
        yield pos, tuple(target)


def scatter(
    x: np.ndarray,
    axis: int,
    index: np.ndarray,
    src: Any,
    reduce: str = "none",
    include_self: bool = True,
) -> np.ndarray:
    """scatter / scatter_add / scatter_reduce (src an array indexed like `index`, or a number).
    "mean" of integers rounds toward -inf, as PyTorch's floor division."""
    out = np.array(x, dtype=np.float64, copy=True)
    if out.ndim == 0:
        out, index = out.reshape(1), np.asarray(index).reshape(1)
        src = np.asarray(src).reshape(1) if np.ndim(src) else src
        return scatter(out, 0, index, src, reduce, include_self).reshape(())
    axis %= out.ndim
    value = (lambda pos: src[pos]) if np.ndim(src) else (lambda pos: src)
    if reduce == "none":
        for pos, target in _positions(index, axis):
            out[target] = value(pos)
        return out
    groups: dict[tuple[int, ...], list[float]] = {}
    for pos, target in _positions(index, axis):
        groups.setdefault(target, []).append(float(value(pos)))
    for target, values in groups.items():
        vals = ([out[target]] if include_self else []) + values
        if reduce == "sum":
            out[target] = np.sum(vals)
        elif reduce == "prod":
            out[target] = np.prod(vals)
        elif reduce == "amax":
            out[target] = np.max(vals)
        elif reduce == "amin":
            out[target] = np.min(vals)
        elif reduce == "mean":
            out[target] = np.sum(vals) / len(vals)
        else:
            raise ValueError(reduce)
    return out


def index_add(x: np.ndarray, axis: int, index: np.ndarray, src: np.ndarray, alpha: Any) -> Any:
    out = np.array(x, dtype=np.float64, copy=True)
    if out.ndim == 0:
        return index_add(out.reshape(1), 0, index, np.reshape(src, (-1,)), alpha).reshape(())
    a, s = np.moveaxis(out, axis, 0), np.moveaxis(np.asarray(src, np.float64), axis, 0)
    for j, i in enumerate(index.reshape(-1)):
        a[int(i)] += alpha * s[j]
    return out


def index_copy(x: np.ndarray, axis: int, index: np.ndarray, src: np.ndarray) -> np.ndarray:
    out = np.array(x, dtype=np.float64, copy=True)
    if out.ndim == 0:
        return index_copy(out.reshape(1), 0, index, np.reshape(src, (-1,))).reshape(())
    a, s = np.moveaxis(out, axis, 0), np.moveaxis(np.asarray(src, np.float64), axis, 0)
    for j, i in enumerate(index.reshape(-1)):
        a[int(i)] = s[j]
    return out


def index_fill(x: np.ndarray, axis: int, index: np.ndarray, value: Any) -> np.ndarray:
    out = np.array(x, dtype=np.float64, copy=True)
    if out.ndim == 0:
        return np.asarray(float(value) if index.size else out)
    np.moveaxis(out, axis, 0)[index.reshape(-1).astype(int)] = value
    return out


def take_along_dim(x: np.ndarray, index: np.ndarray, axis: int | None) -> np.ndarray:
    if axis is None:
        return np.take(x.reshape(-1), index)
    return np.take_along_axis(x, index, axis=axis)


def searchsorted(boundaries: np.ndarray, values: np.ndarray, right: bool) -> np.ndarray:
    """1-D sorted boundaries: for each value the count of boundaries < value (<= if right)."""
    side = "right" if right else "left"
    return np.searchsorted(boundaries, values, side=side).astype(np.float64)
