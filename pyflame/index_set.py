"""`index_set(x, key, value)`: the tensor `x` would be after `x[key] = value`, built from
existing flame ops (pyflame/inplace.py makes `x[key] = value` rebind `x` to it).

    x[:, 1:3] = v     # where(mask, pad(v), x): mask a bool constant over the dims the key
                      # restricts ([1, n] here), v padded into place along dim 1
    x[mask] = 0       # where(mask, 0, x)
    x[0] = 1.5        # where(mask, 1.5, x), mask True at row 0
    cache[:, t] = k   # t a 0-d int tensor: where(t == iota, k[:, None], cache): t is a runtime
                      # input, so a new position never recompiles

Keys, as PyTorch: ints (negative count from the end), slices (any step >= 1), `...`, `None`,
a bool tensor over the leading dims (`x[mask]`), and int tensors: a 0-d one (a position known
only at run time: compared with an iota on the PEs, range-checked like PyTorch's IndexError)
or one 1-D one (rows picked by a one-hot compare; a repeated index takes the last value, as
PyTorch's CPU kernel does); several index tensors, or one of rank > 1, merge the indexed dims
into one numbered by the linear position and take the 1-D path (`_put_advanced`); a bool mask
with ints or slices elsewhere puts the value over the mask's whole dims, then a where keeps it
only where the mask is True (`_put_mask_and_basic`); a mask with other index tensors or with
one value per True element is read on the host and stands for its True positions' indices. numpy arrays and lists in a key are tensors. The value is a number
or a tensor broadcast to the shape `x[key]` has (its leading size-1 dims dropped first, as in
PyTorch), converted to x's dtype; for a bool mask a value with one row per True element is
placed with a cumulative sum of the mask.

Placement never moves `x`: static positions are a bool constant (a program input, so the
positions are not part of the compiled program's structure: `cache[:, t] = k` with a Python
int t does not recompile either), values are moved into place by `pad` (a strided slice is
dilated first: unsqueeze, pad, reshape) and the result is one `where`. Gradients follow from
where/pad/reshape: the old x gets the gradient outside the key, the value inside it.
"""

from __future__ import annotations

import builtins
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyflame import checks, ops
from pyflame.core import shapes
from pyflame.core.dtypes import bool_, int32
from pyflame.core.errors import IndexShapeError
from pyflame.grad_mode import is_grad_enabled, no_grad
from pyflame.lazy_tensor import Tensor, format_location, user_location, user_stacklevel
from pyflame.ops.node import _is_scalar, _shape_error
from pyflame.ops.shape import _reshape_node

_SEQUENCE_AS_TUPLE = (
    "Using a non-tuple sequence for multidimensional indexing is deprecated and will be "
    "changed in pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will be "
    "interpreted as tensor index, x[torch.tensor(seq)], which will result either in an error "
    "or a different result"
)


@dataclass(frozen=True)
class _Select:
    """What the key does to one dim of x: `kind` "all", "int" (index `start`), "slice"
    (range(start, stop, step)), "tensor" (a 0-d int tensor) or "vector" (a 1-D int tensor)."""

    kind: str
    size: int
    start: int = 0
    stop: int = 0
    step: int = 1
    index: Tensor | None = None

    @property
    def count(self) -> int:
        """The size of this dim in the value, before int-like dims are dropped."""
        if self.kind in ("int", "tensor"):
            return 1
        if self.kind == "vector":
            assert self.index is not None
            return self.index.shape[0]
        return len(range(self.start, self.stop, self.step))

    @property
    def restricts(self) -> bool:
        return self.kind != "all"


def _as_key_tensor(item: Any) -> Any:
    """numpy arrays and lists in a key become tensors (PyTorch accepts them as indices)."""
    if isinstance(item, (list, np.ndarray)) and not isinstance(item, np.generic):
        array = np.asarray(item)
        if array.dtype.kind not in "biu":
            raise IndexError(
                "tensors used as indices must be long, int, byte or bool tensors, got "
                f"{array.dtype}"
            )
        return ops.from_numpy(array.astype(np.int32) if array.dtype.kind in "iu" else array)
    return item


def key_items(key: Any) -> tuple[Any, ...]:
    """The key as a tuple of items; a list holding sequences, slices, tensors, `...` or None
    is a tuple too (PyTorch's deprecated numpy heuristic, with its warning), for reads
    (pyflame/index_get.py) and writes alike."""
    if isinstance(key, tuple):
        return key
    if isinstance(key, list) and len(key) < 32:
        for k in key:
            if (
                k is None
                or k is Ellipsis
                or isinstance(k, (Tensor, slice, list, tuple, np.ndarray))
            ):
                warnings.warn(_SEQUENCE_AS_TUPLE, UserWarning, stacklevel=user_stacklevel())
                return tuple(key)
    return (key,)


def _plan(shape: tuple[int, ...], items: tuple[Any, ...]) -> tuple[list[_Select], list[int]]:
    """Per dim of x, its `_Select`; and the shape `x[key]` has (the value's target shape)."""
    for k in items:
        ok = k is None or k is Ellipsis or isinstance(k, (slice, Tensor))
        if isinstance(k, builtins.bool) or not (ok or shapes._is_index_int(k)):
            raise TypeError(
                "only integers, slices, '...', None, bool and int tensors are valid indices, "
                f"got {type(k).__name__}"
            )
    expanded = shapes.expand_ellipsis(len(shape), items)
    selects: list[_Select] = []
    result: list[int] = []
    vectors = 0
    for k in expanded:
        if k is None:
            result.append(1)
            continue
        d = len(selects)
        n = shape[d]
        if isinstance(k, slice):
            s, e, st = shapes.normalize_slice(n, k)
            kind = "all" if (s, e, st) == (0, n, 1) else "slice"
            sel = _Select(kind, n, s, e, st)
            result.append(sel.count)
        elif isinstance(k, Tensor):
            if k.dtype.is_floating_point or k.dtype is bool_:
                raise IndexError(
                    "tensors used as indices must be long, int, byte or bool tensors, got "
                    f"{k.dtype!r}"
                )
            if k.ndim > 1:
                raise NotImplementedError(
                    f"item assignment with a {k.ndim}-D index tensor: PyFlame takes 0-d and 1-D "
                    "index tensors"
                )
            if k.ndim == 1:
                vectors += 1
                result.append(k.shape[0])
            sel = _Select("tensor" if k.ndim == 0 else "vector", n, index=k)
        else:
            i = int(k)
            if not -n <= i < n:
                raise IndexShapeError(f"index {i} is out of bounds for dimension {d} with size {n}")
            sel = _Select("int", n, i % n, i % n + 1)
        selects.append(sel)
    if vectors > 1:
        raise NotImplementedError(
            "item assignment with more than one index tensor (advanced indexing over several "
            "dims) is not supported: index one dim with a tensor, the others with ints or slices"
        )
    return selects, result


def _value(x: Tensor, value: Any) -> Any:
    """`value` in x's dtype: a Python number, or a tensor. A list (nested too) or a numpy
    array is taken as numpy takes it, converted straight to x's dtype (PyTorch refuses them:
    "can't assign a list to a torch.FloatTensor"; a float64 list must not stop at from_numpy's
    dtype check)."""
    if isinstance(value, (list, tuple, np.ndarray)) and not isinstance(value, np.generic):
        try:
            array = np.asarray(value)
        except ValueError as err:  # ragged nested lists
            raise TypeError(
                f"{format_location(user_location())}: can't assign this {type(value).__name__} "
                f"to a pf.Tensor ({err}); give a tensor or a rectangular list of numbers"
            ) from None
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"{format_location(user_location())}: can't assign a {type(value).__name__} of "
                f"{array.dtype} to a pf.Tensor: give numbers or a tensor"
            )
        with np.errstate(over="ignore"):  # float16 overflow is inf, as torch.tensor's
            value = ops.from_numpy(array.astype(x.dtype.numpy))
    if isinstance(value, Tensor):
        return value if value.dtype is x.dtype else ops.astype(value, x.dtype)
    if not _is_scalar(value):
        raise TypeError(
            f"can't assign a {type(value).__name__} to a pf.Tensor (a number or a tensor)"
        )
    if x.dtype is bool_:
        return builtins.bool(value)
    if not x.dtype.is_floating_point:
        return int(value)  # PyTorch truncates toward zero
    return float(value)


def _broadcast_value(value: Tensor, target: list[int]) -> Tensor:
    """`value` broadcast to `target` as PyTorch's setitem does: leading size-1 dims beyond
    target's rank dropped first."""
    shape = list(value.shape)
    while len(shape) > len(target) and shape[0] == 1:
        shape.pop(0)
    try:
        np.broadcast_shapes(tuple(shape), tuple(target))
        if len(shape) > len(target):
            raise ValueError
        full = np.broadcast_shapes(tuple(shape), tuple(target))
        if list(full) != target:
            raise ValueError
    except ValueError:
        raise _shape_error(
            f"shape mismatch: value tensor of shape {list(value.shape)} cannot be broadcast to "
            f"indexing result of shape {target}"
        ) from None
    if tuple(shape) != value.shape:
        value = _reshape_node(value, shape)
    return value if value.shape == tuple(target) else ops.broadcast_to(value, target)


def _pad_dim(v: Tensor, d: int, low: int, high: int) -> Tensor:
    widths = [0] * (2 * v.ndim)
    k = 2 * (v.ndim - 1 - d)  # pad lists (before, after) from the last dim backwards
    widths[k], widths[k + 1] = low, high
    return ops.pad(v, widths, value=False if v.dtype is bool_ else 0)


def _place_slice(v: Tensor, d: int, sel: _Select) -> Tensor:
    """v's dim d (one element per position of the slice) spread to the dim's full size, each
    element at its position; zeros elsewhere."""
    m = sel.count
    if sel.step > 1:  # dilate: [.., m, ..] -> [.., m, step, ..] -> [.., m * step, ..]
        shape = list(v.shape)
        v = _pad_dim(
            _reshape_node(v, shape[: d + 1] + [1] + shape[d + 1 :]), d + 1, 0, sel.step - 1
        )
        v = _reshape_node(v, shape[:d] + [m * sel.step] + shape[d + 1 :])
        m *= sel.step
    return _pad_dim(v, d, sel.start, sel.size - sel.start - m)


def _hot(index: Tensor, n: int, d: int) -> Tensor:
    """[*index.shape, n] bool: True where the position equals the index (negative ones count
    from the end; out-of-range ones are PyTorch's IndexError, see `_wrapped`)."""
    return _wrapped(index, n, d).unsqueeze(-1) == ops.arange(n, dtype=int32)


def _wrapped(index: Tensor, n: int, d: int) -> Tensor:
    """`index` as int32 positions in [0, n) (negative ones count from the end). An index
    outside [-n, n) is PyTorch's IndexError: at once for data at hand, else after the run (a
    runtime check naming this line, pyflame/checks.py)."""
    location = user_location()

    def message(value: int, count: int) -> str:
        return (
            f"index {value} is out of bounds for dimension {d} with size {n} "
            f"({count} element{'s' if count != 1 else ''} out of range)"
        )

    data = index._host_data()
    if data is not None:
        checks.check_now((data < -n) | (data >= n), data, message, location=location)
        return ops.from_numpy(np.asarray(data % n if n else data, dtype=np.int32))
    with no_grad():
        index = index if index.dtype is int32 else ops.astype(index, int32)
        wrapped = ops.where(index < 0, index + n, index)
        bad = (index < -n) | (index >= n)
    checks.add_check(wrapped, bad, index, message, location=location)
    return wrapped


def _along(t: Tensor, d: int, ndim: int) -> Tensor:
    """A 1-D tensor of size n laid along dim d of a rank-`ndim` tensor: [1, .., n, .., 1]."""
    shape = [1] * ndim
    shape[d] = t.shape[0]
    return _reshape_node(t, shape)


def index_set(x: Tensor, key: Any, value: Any) -> Tensor:
    """The new value of `x` after `x[key] = value` (a new tensor; `x` is not changed). Returns
    `x` itself when the key selects no element."""
    items = tuple(_as_key_tensor(k) for k in key_items(key))
    masks = [k for k in items if isinstance(k, Tensor) and k.dtype is bool_]
    v = _value(x, value)
    if masks:
        return _put_masked(x, items, masks[0], v)
    vectors = [k for k in items if isinstance(k, Tensor) and k.ndim >= 1]
    if len(vectors) > 1 or any(k.ndim > 1 for k in vectors):
        return _put_advanced(x, items, v)
    try:
        selects, result = _plan(x.shape, items)
    except IndexShapeError as err:
        raise type(err)(f"{format_location(user_location())}: {err}") from None
    except shapes.ShapeError as err:
        raise ValueError(f"{format_location(user_location())}: {err}") from None
    if any(sel.count == 0 for sel in selects):
        if isinstance(v, Tensor):
            _broadcast_value(v, result)  # PyTorch still checks the value's shape
        return x
    mask = _mask(x, selects)
    if isinstance(v, Tensor) and v.numel() == 1:  # one element: the where broadcasts it
        _broadcast_value(v, result)  # (PyTorch's shape check)
        v = _reshape_node(v, ())
    elif isinstance(v, Tensor):
        v = _broadcast_value(v, result)
        v = _reshape_node(v, [sel.count for sel in selects])  # None dims out, int dims as 1
        for d, sel in enumerate(selects):
            if sel.kind == "slice":
                v = _place_slice(v, d, sel)
            elif sel.kind == "vector":
                v = _place_vector(v, d, sel)
    if mask is None:  # every element: a copy of the value
        out = v if isinstance(v, Tensor) else ops.full(x.shape, v, dtype=x.dtype)
        out = out if out.shape == x.shape else ops.broadcast_to(out, x.shape)
        if x.requires_grad and is_grad_enabled() and out.requires_grad:
            # x still takes part, with zero gradients (PyTorch's x.grad is zeros, not None);
            # a value that needs no grad gets that from inplace.rebind (`Overwritten`)
            return ops.where(ops.from_numpy(np.array(True)), out, x)
        return out
    return ops.where(mask, v, x)


def _mask(x: Tensor, selects: list[_Select]) -> Tensor | None:
    """The bool tensor, broadcastable to x, of the elements the key selects (None: all)."""
    static = [sel for sel in selects if sel.kind in ("int", "slice")]
    mask: Tensor | None = None
    if static:  # one bool constant over the restricted dims (a program input)
        shape = [sel.size if sel.kind in ("int", "slice") else 1 for sel in selects]
        array = np.ones(shape, dtype=bool)
        for d, sel in enumerate(selects):
            if sel.kind in ("int", "slice"):
                hit = np.zeros(sel.size, dtype=bool)
                hit[sel.start : sel.stop : sel.step] = True
                array &= hit.reshape([-1 if k == d else 1 for k in range(len(selects))])
        mask = ops.from_numpy(array)
    for d, sel in enumerate(selects):
        if sel.kind not in ("tensor", "vector"):
            continue
        assert sel.index is not None
        hot = _hot(sel.index, sel.size, d)  # [n] or [L, n]
        picked = hot if sel.kind == "tensor" else ops.any(hot, 0)
        along = _along(picked, d, x.ndim)
        mask = along if mask is None else ops.logical_and(mask, along)
    return mask


def _place_vector(v: Tensor, d: int, sel: _Select) -> Tensor:
    """v's dim d (one element per index) moved to the indexed positions: a one-hot [L, n]
    keeps, per position, only the last index naming it; each position sums its (at most one)
    value through a where, so no other value (NaN, inf) leaks in. The gradient is PyTorch's
    (`_PlacedVector`): every entry of v, overwritten or not, gets the gradient at its index."""
    assert sel.index is not None
    named = _hot(sel.index, sel.size, d)  # [L, n]
    count = named.shape[0]
    with no_grad():
        order = _reshape_node(ops.arange(count, dtype=int32), [count, 1])
        last = ops.where(named, order, -1).amax(0, keepdim=True)  # [1, n]
        hot = ops.logical_and(named, order == last)
    shape = list(v.shape)
    v = _reshape_node(v, shape[: d + 1] + [1] + shape[d + 1 :])  # [.., L, 1, ..]
    hot_shape = [1] * v.ndim
    hot_shape[d], hot_shape[d + 1] = count, sel.size
    picked = ops.where(_reshape_node(hot, hot_shape), v, False if v.dtype is bool_ else 0)
    out = ops.any(picked, d) if v.dtype is bool_ else ops.sum(picked, d)
    out = out if out.dtype is v.dtype else ops.astype(out, v.dtype)
    if out.requires_grad:
        out._grad_fn = _PlacedVector(v, _reshape_node(named, hot_shape), d)
    return out


class _PlacedVector:
    """Gradient rule of `_place_vector`, PyTorch's for index_put without accumulate
    (`values.grad = grad[indices]`): each of v's L entries gets the gradient at the position
    its index names, also an entry a later repeat of its index overwrote (the forward keeps
    the last one), so the gradient does not depend on which write wins. v is [.., L, 1, ..]
    and `named` the one-hot of every index, [.., L, n, ..] broadcastable."""

    def __init__(self, v: Tensor, named: Tensor, d: int):
        self.v, self.named, self.d = v, named, d
        self.inputs = (v,)

    def __call__(self, node: Tensor, g: Tensor) -> list[Tensor | None]:
        spread = ops.where(self.named, g.unsqueeze(self.d), 0)  # [.., L, n, ..]
        return [ops.sum(spread, self.d + 1, keepdim=True)]


def _put_masked(x: Tensor, items: tuple[Any, ...], mask: Tensor, v: Any) -> Tensor:
    """`x[mask] = v` with a bool mask over x's leading dims: where(mask, v, x), v a number, one
    element, a tensor broadcast over the trailing dims, or one row per True element."""
    if len(items) != 1:
        return _put_mask_and_basic(x, items, mask, v)
    if mask.ndim > x.ndim or mask.shape != x.shape[: mask.ndim]:
        raise IndexShapeError(
            f"{format_location(user_location())}: The shape of the mask {list(mask.shape)} does "
            f"not match the shape of the indexed tensor {list(x.shape)}"
        )
    rest = list(x.shape[mask.ndim :])
    along = _reshape_node(mask, list(mask.shape) + [1] * len(rest))
    if not isinstance(v, Tensor) or v.numel() == 1 and v.ndim <= len(rest) + 1:
        return ops.where(along, v if not isinstance(v, Tensor) else _reshape_node(v, ()), x)
    shape = list(v.shape)
    while len(shape) > len(rest) + 1 and shape[0] == 1:
        shape.pop(0)
    if len(shape) <= len(rest) or shape[0] == 1:  # broadcast over the selected rows
        # one row (a [1, 1] value of a 1-D x too: the where must not broadcast x up to it)
        return ops.where(along, _reshape_node(_broadcast_value(v, [1] + rest), rest), x)
    return _put_rows(x, mask, along, _reshape_node(v, shape), rest)


def _put_rows(x: Tensor, mask: Tensor, along: Tensor, v: Tensor, rest: list[int]) -> Tensor:
    """`x[mask] = v` with one row of v per True element, in row-major order: the k-th True
    element takes row k, found by a cumulative sum of the mask and a one-hot pick. The count
    must equal v's rows (checked now for a mask at hand, else after the run)."""
    rows = v.shape[0]
    v = _broadcast_value(v, [rows] + rest)

    def message(count: int, _: int) -> str:
        return (
            f"shape mismatch: value tensor of shape {list(v.shape)} cannot be broadcast to "
            f"indexing result of shape {[count] + rest}"
        )

    data = mask._host_data()
    if data is not None and int(data.sum()) != rows:
        raise _shape_error(message(int(data.sum()), 1))
    with no_grad():
        flat = _reshape_node(mask, [mask.numel()])
        position = ops.cumsum(ops.astype(flat, int32), 0) - 1  # row of each True element
        hot = (position.unsqueeze(-1) == ops.arange(rows, dtype=int32)) & flat.unsqueeze(-1)
    # [numel(mask), rows] x v [rows, *rest] -> [numel(mask), *rest], one nonzero term each
    hot = _reshape_node(hot, [mask.numel(), rows] + [1] * len(rest))
    picked = ops.where(hot, v.unsqueeze(0), False if v.dtype is bool_ else 0)
    placed = ops.any(picked, 1) if v.dtype is bool_ else ops.sum(picked, 1)
    placed = placed if placed.dtype is v.dtype else ops.astype(placed, v.dtype)
    out = ops.where(along, _reshape_node(placed, list(x.shape)), x)
    if data is None:  # the mask is computed on the device: count its True elements after the run
        with no_grad():
            count = ops.sum(ops.astype(flat, int32))
        checks.add_check(out, count != rows, count, message, error=ValueError)
    return out


def _drops_dim(k: Any) -> bool:
    """An int or a 0-d index tensor selects one position: its dim leaves `x[key]`."""
    return not isinstance(k, slice) and (not isinstance(k, Tensor) or k.ndim == 0)


def _put_advanced(x: Tensor, items: tuple[Any, ...], v: Any) -> Tensor:
    """`x[i, j] = v` with several int index tensors (broadcast together) or one of rank > 1,
    as PyTorch: the indexed dims are moved to the front and merged into one dim numbered by
    the linear position `sum(i_k * stride_k)`; the one-index path places the value there and
    the result is reshaped and permuted back. Ints and 0-d tensors select first (as in
    PyTorch), so the broadcast index dims sit in `x[key]` where the indexed dims were when
    those are adjacent, else in front."""
    location = user_location()
    if any(k is None for k in items):
        raise NotImplementedError(
            f"{format_location(location)}: item assignment with None and several index "
            "tensors is not supported: unsqueeze the value instead of indexing with None"
        )
    try:
        expanded = shapes.expand_ellipsis(x.ndim, items)
    except IndexShapeError as err:
        raise IndexShapeError(f"{format_location(location)}: {err}") from None
    # the other keys' errors, each checked against its own dim (a tensor's dim as a full slice)
    try:
        _plan(x.shape, tuple(slice(None) if isinstance(k, Tensor) else k for k in expanded))
    except IndexShapeError as err:
        raise IndexShapeError(f"{format_location(location)}: {err}") from None
    indexed = [d for d, k in enumerate(expanded) if isinstance(k, Tensor) and k.ndim >= 1]
    for d in indexed:
        if expanded[d].dtype.is_floating_point:
            raise IndexError(
                "tensors used as indices must be long, int, byte or bool tensors, got "
                f"{expanded[d].dtype!r}"
            )
    shapes_given = [list(expanded[d].shape) for d in indexed]
    try:
        batch = list(np.broadcast_shapes(*(tuple(sh) for sh in shapes_given)))
    except ValueError:
        raise IndexShapeError(
            f"{format_location(location)}: shape mismatch: indexing tensors could not be "
            f"broadcast together with shapes {', '.join(str(sh) for sh in shapes_given)}"
        ) from None
    kept = [d for d, k in enumerate(expanded) if not _drops_dim(k)]
    places = [kept.index(d) for d in indexed]
    adjacent = places == list(range(places[0], places[0] + len(places)))
    counts = {
        d: len(range(*shapes.normalize_slice(x.shape[d], expanded[d])))
        for d in kept
        if d not in indexed
    }
    before = [counts[d] for d in kept[: places[0]] if d not in indexed] if adjacent else []
    after = [counts[d] for d in kept if d not in indexed][len(before) :]
    target = before + batch + after  # the shape x[key] has
    count = int(np.prod(batch))
    if isinstance(v, Tensor):
        v = _broadcast_value(v, target) if v.numel() != 1 else _checked_one(v, target)
    if count == 0:
        return x
    position: Tensor | None = None  # the linear position over the indexed dims
    stride = 1
    for d in reversed(indexed):
        wrapped = _wrapped(expanded[d], x.shape[d], d)
        term = wrapped if stride == 1 else wrapped * stride
        position = term if position is None else term + position
        stride *= x.shape[d]
    assert position is not None
    if list(position.shape) != batch:
        position = ops.broadcast_to(position, batch)
    position = _reshape_node(position, [count])
    others = [d for d in range(x.ndim) if d not in indexed]
    perm = indexed + others
    moved = x if perm == list(range(x.ndim)) else ops.permute(x, *perm)
    merged = _reshape_node(moved, [stride] + [x.shape[d] for d in others])
    if isinstance(v, Tensor) and v.ndim:
        if before:  # the batch dims to the front, as the merged dim is
            n = len(batch)
            front = list(range(len(before), len(before) + n))
            v = ops.permute(
                v, *(front + list(range(len(before))) + list(range(len(before) + n, v.ndim)))
            )
        v = _reshape_node(v, [count] + list(v.shape[len(batch) :]))
    out = index_set(merged, (position, *(expanded[d] for d in others)), v)
    out = _reshape_node(out, [x.shape[d] for d in indexed] + [x.shape[d] for d in others])
    if perm == list(range(x.ndim)):
        return out
    return ops.permute(out, *np.argsort(perm).tolist())


def _checked_one(v: Tensor, target: list[int]) -> Tensor:
    """A one-element value: PyTorch's shape check, then a 0-d tensor the where broadcasts."""
    _broadcast_value(v, target)
    return _reshape_node(v, ())


def _put_mask_and_basic(x: Tensor, items: tuple[Any, ...], mask: Tensor, v: Any) -> Tensor:
    """`x[mask, 1:3] = v`: a bool mask with ints, slices, `...` or None elsewhere. The value
    goes in as for full slices over the mask's dims (broadcast over them), then a where keeps
    it only where the mask is True. A mask with other index tensors, or with one value per
    True element, stands for the index tensors of its True positions (`_mask_as_indices`)."""
    location = user_location()
    if sum(k is mask for k in items) > 1:
        raise NotImplementedError(
            f"{format_location(location)}: item assignment with the same mask twice"
        )
    is_mask = lambda k: isinstance(k, Tensor) and k.dtype is bool_  # noqa: E731
    width = lambda k: k.ndim if is_mask(k) else (0 if k is None else 1)  # noqa: E731
    expanded = shapes.expand_ellipsis(x.ndim, items, width)
    for at, m in enumerate(expanded):
        if not is_mask(m):
            continue
        first = sum(width(k) for k in expanded[:at])  # x's dim of the mask's first
        if list(m.shape) != list(x.shape[first : first + m.ndim]):
            raise IndexShapeError(
                f"{format_location(location)}: The shape of the mask {list(m.shape)} at index "
                f"{first} does not match the shape of the indexed tensor {list(x.shape)}"
            )
    if any(isinstance(k, Tensor) and k is not mask for k in items):
        return _put_advanced(x, _mask_as_indices(items), v)
    at = next(i for i, k in enumerate(items) if k is mask)
    first = sum(width(k) for k in expanded[: expanded.index(mask)])
    basic = items[:at] + (slice(None),) * mask.ndim + items[at + 1 :]
    _, full_target = _plan(x.shape, basic)
    before = sum(
        1
        for k in shapes.expand_ellipsis(x.ndim, basic)[: expanded.index(mask)]
        if not _drops_dim(k)
    )
    before += sum(1 for k in items[:at] if k is None)
    if isinstance(v, Tensor) and v.numel() != 1:
        one_row = full_target[:before] + [1] + full_target[before + mask.ndim :]
        try:
            v = _broadcast_value(v, one_row)
        except (ValueError, shapes.ShapeError):  # one value per True element: its positions
            return _put_advanced(x, _mask_as_indices(items), v)
        v = _reshape_node(
            v, full_target[:before] + [1] * mask.ndim + full_target[before + mask.ndim :]
        )
    elif isinstance(v, Tensor):
        v = _reshape_node(v, ())
    filled = index_set(x, basic, v)
    along = _reshape_node(mask, [1] * first + list(mask.shape) + [1] * (x.ndim - first - mask.ndim))
    return ops.where(along, filled, x)


def _mask_as_indices(items: tuple[Any, ...]) -> tuple[Any, ...]:
    """The key with each bool mask replaced by the index tensors of its True positions
    (PyTorch's rule: a k-D mask stands for k index tensors, broadcast with the other index
    tensors). A mask is read on the host, a sync point as `x[mask]`'s read
    (pyflame/index_get.py); only keys that pair a mask's elements with other indices or with
    values come here, a mask alone stays on the device."""
    key: list[Any] = []
    for k in items:
        if not (isinstance(k, Tensor) and k.dtype is bool_):
            key.append(k)
            continue
        data = checks.data_at_hand(k)
        array = np.asarray(data if data is not None else k.numpy(), dtype=bool)
        if array.ndim == 0:
            raise NotImplementedError(
                f"{format_location(user_location())}: item assignment with a 0-d bool index "
                "and index tensors is not supported: unsqueeze x and index the new dim with [0]"
            )
        key.extend(ops.from_numpy(p.astype(np.int32)) for p in np.nonzero(array))
    return tuple(key)
