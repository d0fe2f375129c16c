"""sort, argsort, topk, median and nanmedian (values and indices, PyTorch's signatures) by ranking: each element's
rank along the dim is the count of elements that sort before it (smaller, or equal with a lower
index: stable ties; NaN sorts as the largest, as PyTorch), from one pairwise comparison
[.., n, n, ..] (flame.lt/gt/eq, a flame.iota pair for the index order) and a flame.reduce_sum;
the value of rank r is then picked with flame.where + flame.reduce_sum over the dim.

    values, indices = pf.sort(x, dim=1, descending=True)

n * n compares and adds per sorted row of n elements (no data-dependent addressing on the
PEs), on any layout, the sorted dim split over PEs or not; exact for every dtype. topk picks
only the ranks below k (n * k for the values). Indices are int32 (PyTorch: int64). Gradients
flow to the values through the where (each element's gradient from its place in the result).
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from pyflame.core import shapes
from pyflame.core.dtypes import bool_, int32
from pyflame.dialects import flame
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.ops.convert import astype
from pyflame.ops.creation import arange, full
from pyflame.ops.elementwise import (
    eq,
    floor_divide,
    gt,
    isnan,
    le,
    logical_and,
    logical_not,
    logical_or,
    lt,
    maximum,
    ne,
    sub,
    where,
)
from pyflame.ops.node import _check_tensor, _dim_arg, _node, _shape_error, _shape_rule
from pyflame.ops.reductions import INT32_MIN, AtIndices, Evenly, _nonempty, amax, amin, any, sum
from pyflame.ops.shape import getitem, reshape, squeeze, unsqueeze
from pyflame.promotion import result_type

SortResult = collections.namedtuple("sort", ["values", "indices"])  # type: ignore[name-match]  # named as torch names it
TopkResult = collections.namedtuple("topk", ["values", "indices"])  # type: ignore[name-match]  # named as torch names it
MedianResult = collections.namedtuple("median", ["values", "indices"])  # type: ignore[name-match]  # named as torch names it
NanmedianResult = collections.namedtuple("nanmedian", ["values", "indices"])  # type: ignore[name-match]  # named as torch names it
_F = TypeVar("_F", bound=Callable[..., Any])


def _pairwise(n: int, m: int, d: int, ndim: int, which: int) -> Tensor:
    """The int32 index along `which` (0 or 1) of an [n, m] grid, placed at dims (d, d + 1)
    of a rank-`ndim + 1` pairwise tensor ([.., n, m, ..], 1 elsewhere) to broadcast."""
    attrs = {"dim": which, "start": 0.0, "step": 1.0}
    ramp = _node(flame.IotaOp, (), (n, m), int32, attrs)
    return ramp.reshape((1,) * d + (n, m) + (1,) * (ndim - d - 1))


def _before(a: Tensor, b: Tensor, descending: bool) -> Tensor:
    """a sorts strictly before b (NaN the largest value)."""
    if a.dtype is bool_:
        a, b = astype(a, int32), astype(b, int32)
    strict = gt(a, b) if descending else lt(a, b)
    if not a.dtype.is_floating_point:
        return strict
    a_nan, b_nan = ne(a, a), ne(b, b)
    nan_first = logical_and(a_nan, logical_not(b_nan)) if descending else None
    nan_last = logical_and(logical_not(a_nan), b_nan) if not descending else None
    return logical_or(strict, nan_first if descending else nan_last)


def _same(a: Tensor, b: Tensor) -> Tensor:
    if not a.dtype.is_floating_point:
        return eq(a, b)
    return logical_or(eq(a, b), logical_and(ne(a, a), ne(b, b)))


def _ranks(x: Tensor, d: int, descending: bool) -> Tensor:
    """Each element's place in the stable sort along d: an int32 tensor of x's shape."""
    n = x.shape[d]
    mine = unsqueeze(x, d + 1)  # element i at dim d
    other = unsqueeze(x, d)  # element j at dim d + 1
    earlier = lt(_pairwise(n, n, d, x.ndim, 1), _pairwise(n, n, d, x.ndim, 0))  # j < i
    first = logical_or(_before(other, mine, descending), logical_and(_same(other, mine), earlier))
    return sum(astype(first, int32), d + 1)


def _dim(x: Tensor, dim: Any, what: str) -> int:
    return _shape_rule(shapes.normalize_dim, _dim_arg(dim, what), max(x.ndim, 1))


def _pick(x: Tensor, d: int, descending: bool, count: int) -> tuple[Tensor, Tensor]:
    """The values and indices of the first `count` places of the stable sort along d."""
    if x.ndim == 0:
        return x * 1 if x.dtype is not bool_ else logical_and(x, x), _zero_index(x)
    n = x.shape[d]
    ranks = unsqueeze(_ranks(x, d, descending), d + 1)  # rank of element i, at dim d
    place = _pairwise(n, count, d, x.ndim, 1)  # r at dim d + 1
    hit = eq(ranks, place)  # [.., n(i), count(r), ..]
    values = unsqueeze(astype(x, int32) if x.dtype is bool_ else x, d + 1)
    picked = sum(where(hit, values, 0), d)
    if x.dtype is bool_:
        picked = astype(picked, bool_)
    indices = sum(where(hit, _pairwise(n, count, d, x.ndim, 0), 0), d)
    return picked, indices


def _zero_index(x: Tensor) -> Tensor:
    return _node(flame.FillOp, (), x.shape, int32, {"value": 0.0})


def _two_forms(what: str, stable_may_be_none: bool) -> Callable[[_F], _F]:
    """PyTorch's sort and argsort have two forms, (input, dim=-1, descending=False) and
    (input, *, stable, dim=-1, descending=False): once `stable` is given, dim and descending
    are keywords only, and `stable` is a bool (sort also takes None). PyTorch's TypeError
    otherwise (`torch.sort(x, 0, stable=True)`), naming the user's line; descending is a bool
    in both forms."""

    def wrap(fn: _F) -> _F:
        @functools.wraps(fn)
        def checked(x: Any, *args: Any, **kwargs: Any) -> Any:
            if "stable" in kwargs:
                stable = kwargs["stable"]
                if args:
                    raise TypeError(
                        f"{format_location(user_location())}: {what}(): with stable=, dim and "
                        f"descending are keyword arguments (PyTorch's forms: {what}(input, "
                        f"dim=-1, descending=False) and {what}(input, *, stable, dim=-1, "
                        f"descending=False)); got {len(args)} positional after the input"
                    )
                if not (isinstance(stable, bool) or (stable_may_be_none and stable is None)):
                    raise TypeError(
                        f"{format_location(user_location())}: {what}(): stable must be a bool"
                        f"{' or None' if stable_may_be_none else ''}, got {stable!r}"
                    )
            descending = kwargs.get("descending", args[1] if len(args) > 1 else False)
            if not isinstance(descending, bool):
                raise TypeError(
                    f"{format_location(user_location())}: {what}(): descending must be a bool, "
                    f"got {descending!r}"
                )
            return fn(x, *args, **kwargs)

        return checked  # type: ignore[return-value]  # same signature as fn, checked first

    return wrap


@_two_forms("sort", stable_may_be_none=True)
def sort(x: Tensor, dim: int = -1, descending: bool = False, *, stable: bool | None = False) -> Any:
    """(values, indices) of x sorted along `dim` (torch.sort); ties keep their order (a
    stable sort, whatever `stable` says), NaN sorts as the largest value. With `stable`, dim
    and descending are keywords (PyTorch's two forms, `_two_forms`)."""
    _check_tensor(x, "sort")
    d = _dim(x, dim, "sort")
    values, indices = _pick(x, d, bool(descending), x.shape[d] if x.ndim else 1)
    return SortResult(values, indices)


@_two_forms("argsort", stable_may_be_none=False)
def argsort(x: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
    """The indices of `sort` (torch.argsort)."""
    return sort(x, dim=dim, descending=descending, stable=stable).indices


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
    """(values, indices) of the k largest (or smallest) elements along `dim` (torch.topk),
    in sorted order; among equal values the lower index comes first."""
    _check_tensor(x, "topk")
    if x.dtype is bool_:
        raise RuntimeError(
            f"{format_location(user_location())}: topk does not support bool dtypes (as "
            "PyTorch on the CPU)"
        )
    d = _dim(x, dim, "topk")
    n = x.shape[d] if x.ndim else 1
    k = _dim_arg(k, "topk k")
    if not 0 <= k <= n:
        raise _shape_error(f"topk: selected index k out of range (k = {k}, dim size {n})")
    values, indices = _pick(x, d, bool(largest), k)
    return TopkResult(values, indices)


def median(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """torch.median: without `dim` the lower median of every element (of an even count, the
    smaller of the two middle values; NaN if there is a NaN); with `dim` the namedtuple
    (values, indices) along it (indices int32). The index is the element at place
    (n - 1) // 2 of the stable sort (the same index PyTorch's CPU kernel gives on every tie
    tested), the first NaN of a row with NaNs. Gradients as PyTorch's: to the element at the
    index, or, without dim, split among the elements equal to the median."""
    return _median(x, dim, keepdim, False)


def nanmedian(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """torch.nanmedian: `median` of the elements that are not NaN (NaN only for a row of
    NaNs, whose index is 0: PyTorch's there comes from its nth_element, arbitrary)."""
    return _median(x, dim, keepdim, True)


def _median(x: Tensor, dim: Any, keepdim: bool, skip_nan: bool) -> Any:
    what = "nanmedian" if skip_nan else "median"
    _check_tensor(x, what)
    if x.dtype is bool_:  # PyTorch's NotImplementedError: "median_cpu" not implemented for 'Bool'
        raise TypeError(f"{format_location(user_location())}: {what} is not implemented for bool")
    result = NanmedianResult if skip_nan else MedianResult
    if dim is None:
        if not x.numel():
            if not x.dtype.is_floating_point:  # (PyTorch returns an arbitrary int32)
                raise _shape_error(f"{what}() of an empty integer tensor has no value")
            return full((), float("nan"), dtype=x.dtype)
        values, _ = _middle(x.reshape(-1), 0, skip_nan)
        values = values.reshape(())
        if values.requires_grad:
            values._grad_fn = Evenly(x)
        return values
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{what}: dim must be an int (one dim), got {dim!r}")
    d = _dim(x, dim, what)
    _nonempty(x, dim, what)
    if x.ndim == 0:
        return result(x * 1, _zero_index(x))
    values, indices = _middle(x, d, skip_nan)
    if not keepdim:
        values, indices = squeeze(values, d), squeeze(indices, d)
    if values.requires_grad:
        values._grad_fn = AtIndices(x, indices, d, bool(keepdim))
    return result(values, indices)


def _middle(x: Tensor, d: int, skip_nan: bool) -> tuple[Tensor, Tensor]:
    """The (values, indices) of the median along d, keepdim: the element whose place in the
    stable sort (`_ranks`, NaN the largest) is (n - 1) // 2; a row with NaNs picks its first
    NaN (place = the count of others), or with `skip_nan` place (count - 1) // 2 of the
    count of non-NaN elements. The value is picked by a where and an amax (exact: -0.0 too)."""
    n = x.shape[d]
    ranks = _ranks(x, d, False)
    place: Any = (n - 1) // 2
    if x.dtype.is_floating_point:
        numbers = sum(astype(eq(x, x), int32), d, keepdim=True)  # the elements that are not NaN
        if skip_nan:
            place = where(gt(numbers, 0), floor_divide(sub(numbers, 1), 2), 0)
        else:
            place = where(lt(numbers, n), numbers, place)
    hit = eq(ranks, place)  # one element per row
    along = [1] * x.ndim
    along[d] = n
    index = _node(flame.IotaOp, (), (n,), int32, {"dim": 0, "start": 0.0, "step": 1.0}).reshape(
        along
    )
    indices = sum(where(hit, index, 0), d, keepdim=True)
    lowest = float("-inf") if x.dtype.is_floating_point else INT32_MIN
    values = amax(where(hit, x, lowest), d, keepdim=True)
    return values, indices


# --------------------------------------------------------------------------- torch's helpers
# (sort's results picked, and searches as counts of pairwise compares: exact, no new flame op)

KthvalueResult = collections.namedtuple("kthvalue", ["values", "indices"])  # type: ignore[name-match]  # named as torch names it


def msort(x: Tensor) -> Tensor:
    """x sorted along dim 0 (torch.msort: sort(x, 0).values)."""
    return sort(x, 0).values


def kthvalue(x: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    """The namedtuple (values, indices) of the k-th smallest element along `dim` (torch.kthvalue;
    NaN counts as the largest): the element at place k - 1 of the stable sort (among equal
    values the lower index; PyTorch's CPU kernel does not define which)."""
    _check_tensor(x, "kthvalue")
    d = _dim(x, dim, "kthvalue")
    n = x.shape[d] if x.ndim else 1
    k = _dim_arg(k, "kthvalue k")
    if not 1 <= k <= n:
        raise RuntimeError(
            f"{format_location(user_location())}: kthvalue(): selected number k out of range for "
            f"dimension {d}"
        )
    values, indices = sort(x, d)
    if not x.ndim:
        return KthvalueResult(values, indices)
    key = (slice(None),) * d + (slice(k - 1, k),)
    values, indices = getitem(values, key), getitem(indices, key)
    if not keepdim:
        values, indices = squeeze(values, d), squeeze(indices, d)
    return KthvalueResult(values, indices)


def _search(boundaries: Tensor, values: Tensor, right: bool) -> Tensor:
    """How many boundaries (the last dim) come before each value: left, those < v; right,
    those <= v; a NaN value comes after every boundary (PyTorch's binary-search predicates
    !(b >= v) and !(b > v) give that). A NaN boundary counts as the largest (sorted last):
    PyTorch's search over such a sequence depends on the path its bisection takes."""
    before = le(boundaries, values) if right else lt(boundaries, values)
    before = logical_or(before, isnan(values)) if values.dtype.is_floating_point else before
    return sum(astype(before, int32), -1)


def searchsorted(
    sorted_sequence: Tensor,
    input: Any,
    *,
    out_int32: bool = False,
    right: bool = False,
    side: str | None = None,
    sorter: Tensor | None = None,
) -> Tensor:
    """For each value, the index where it would be inserted into the sorted last dim of
    `sorted_sequence` to keep it sorted (torch.searchsorted; int32, PyTorch's int64 unless
    out_int32): the count of boundaries before it, compared pairwise (values x boundaries
    work). `side='right'` / `right=True`: after equal boundaries. `sorter`: the order that
    sorts the sequence (picked by compares, not a gather)."""
    where_ = format_location(user_location())
    _check_tensor(sorted_sequence, "searchsorted")
    if side is not None and side not in ("left", "right"):
        raise RuntimeError(
            f"{where_}: torch.searchsorted(): side can only be 'left' or 'right' but got {side}"
        )
    if side is not None and right and side == "left":
        raise RuntimeError(
            f"{where_}: torch.searchsorted(): side and right can't be set to opposites, got side "
            f"of left while right was True"
        )
    right = right or side == "right"
    seq = sorted_sequence
    if not isinstance(input, Tensor):
        if seq.ndim != 1:
            raise RuntimeError(
                f"{where_}: torch.searchsorted(): input value can be a scalar only when boundaries "
                f"tensor dimension is 1, but we got boundaries tensor dim({seq.ndim}) and input "
                "value's dim(0) numel(1)"
            )
        input = full((), input, dtype=seq.dtype)
    if seq.ndim != 1 and (seq.shape[:-1] != input.shape[:-1] or input.ndim != seq.ndim):
        raise RuntimeError(
            f"{where_}: torch.searchsorted(): boundaries tensor should be 1 dimension or the "
            "first N-1 dimensions of boundaries tensor and input value tensor must match, but we "
            f"got boundaries tensor {list(seq.shape)} and input value tensor {list(input.shape)}"
        )
    if sorter is not None:
        _check_tensor(sorter, "searchsorted sorter")
        if sorter.shape != seq.shape:
            raise RuntimeError(
                f"{where_}: torch.searchsorted(): boundary and sorter must have the same size, "
                f"but got boundary tensor {list(seq.shape)}and got sorter tensor "
                f"{list(sorter.shape)}"
            )
        n = seq.shape[-1]
        at = eq(unsqueeze(sorter, -1), arange(n, dtype=int32))  # [..., place, source]
        seq = sum(where(at, unsqueeze(seq, -2), 0), -1)
    if seq.ndim == 1:
        return _search(seq, unsqueeze(input, -1), right)
    return _search(unsqueeze(seq, -2), unsqueeze(input, -1), right)


def bucketize(
    input: Any, boundaries: Tensor, *, out_int32: bool = False, right: bool = False
) -> Tensor:
    """The bucket of each value among the 1-D sorted `boundaries` (torch.bucketize:
    searchsorted with the roles of the arguments swapped; right=False: boundaries[i-1] < v <=
    boundaries[i])."""
    _check_tensor(boundaries, "bucketize boundaries")
    if boundaries.ndim != 1:
        raise RuntimeError(
            f"{format_location(user_location())}: boundaries tensor must be 1 dimension, but got "
            f"dim({boundaries.ndim})"
        )
    return searchsorted(boundaries, input, right=right)


def isin(
    elements: Any, test_elements: Any, *, assume_unique: bool = False, invert: bool = False
) -> Tensor:
    """Whether each element of `elements` equals some element of `test_elements` (torch.isin;
    either may be a number; NaN is in nothing): every pair compared (elements x tests work),
    in the dtype PyTorch's promotion of the two tensors gives (before test_elements is
    flattened: a 0-d one does not widen the elements' dtype)."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError(
            f"{format_location(user_location())}: isin() expects elements or test_elements to be "
            "a pf.Tensor"
        )
    for v in (elements, test_elements):
        if (v.dtype is bool_) if isinstance(v, Tensor) else isinstance(v, (bool, np.bool_)):
            raise RuntimeError(  # PyTorch's check_for_unsupported_isin_dtype
                f"{format_location(user_location())}: Unsupported input type encountered for "
                "isin(): Bool"
            )
    if not isinstance(test_elements, Tensor):
        found = eq(elements, test_elements)
    else:
        if isinstance(elements, Tensor):
            # PyTorch's promotion of the two as given (a 0-d test_elements does not widen:
            # float16 elements and a float32 0-d test compare in float16), then flattened
            common = result_type([elements, test_elements], [])
            elements, test_elements = astype(elements, common), astype(test_elements, common)
        tests = reshape(test_elements, (-1,))
        if not isinstance(elements, Tensor):
            found = any(eq(tests, elements))
        else:
            found = any(eq(unsqueeze(elements, -1), tests), -1)
    return logical_not(found) if invert else found


ModeResult = collections.namedtuple("mode", ["values", "indices"])  # type: ignore[name-match]  # named as torch names it


def mode(x: Tensor, dim: int = -1, keepdim: bool = False) -> Any:
    """The namedtuple (values, indices) of the most frequent value along `dim` (torch.mode):
    among equally frequent values the smallest, and the index of its last occurrence, as
    PyTorch's CPU kernel. Counts from comparing every pair (n x n per row). NaN never equals
    itself here (each NaN counts once); PyTorch's kernel groups NaNs by its sort. A row of
    NaNs gives NaN at index 0, as PyTorch's."""
    _check_tensor(x, "mode")
    d = _dim(x, dim, "mode")
    if x.ndim == 0:
        return ModeResult(x, _zero_index(x))
    n = x.shape[d]
    if n == 0:
        raise _shape_error(f"mode(): Expected reduction dim {d} to have non-zero size.")
    work = x if d == x.ndim - 1 else x.movedim(d, -1)
    same = eq(unsqueeze(work, -1), unsqueeze(work, -2))  # [..., n, n]
    count = sum(astype(same, int32), -1)
    best = eq(count, amax(count, -1, keepdim=True))
    candidates = where(best, work, _largest(work))
    value = amin(candidates, -1, keepdim=True)
    positions = arange(n, dtype=int32)
    index = amax(where(eq(work, value), positions, -1), -1, keepdim=True)
    # a row of NaNs has no element equal to its value (NaN): index 0, as PyTorch (not -1)
    index = maximum(index, 0)
    if d != x.ndim - 1:
        value, index = value.movedim(-1, d), index.movedim(-1, d)
    if not keepdim:
        value, index = squeeze(value, d), squeeze(index, d)
    return ModeResult(value, index)


def _largest(x: Tensor) -> Any:
    """A value no element of x's dtype exceeds."""
    if x.dtype is bool_:
        return True
    if x.dtype.is_floating_point:
        return float("inf")
    return 2**31 - 1
