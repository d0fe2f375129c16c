"""torch's statistics and differences composed of reductions, sorting and elementwise ops (no
new flame op): nansum, nanmean, var_mean, std_mean, aminmax, cov, corrcoef, quantile,
nanquantile, histc, diff, trapezoid, cumulative_trapezoid.

    pf.nansum(x, 1)          # flame.isnan -> flame.select (0 there) -> flame.reduce_sum
    pf.quantile(x, 0.3, 1)   # sort along dim 1 (pairwise ranks), two slices, lerp
    pf.diff(x, dim=0)        # flame.slice [1:] - flame.slice [:-1]

Values and gradients are the composed ops'; where PyTorch's formula has an order (quantile's
ranks, histc's bin position), it is followed.
"""

from __future__ import annotations

import builtins
import collections
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame.core import shapes
from pyflame.core.dtypes import as_dtype, bool_, float32, int32
from pyflame.lazy_tensor import Tensor, format_location, user_location, user_stacklevel
from pyflame.ops.convert import astype
from pyflame.ops.creation import arange, full
from pyflame.ops.elementwise import (
    add,
    ceil,
    clamp,
    div,
    eq,
    floor,
    ge,
    isnan,
    le,
    lerp,
    logical_and,
    logical_not,
    logical_xor,
    mul,
    round,
    sqrt,
    sub,
    where,
)
from pyflame.ops.linalg import matmul
from pyflame.ops.masking import diag
from pyflame.ops.node import _check_tensor, _dim_arg, _rule
from pyflame.ops.reductions import (
    ReductionRule,
    _correction,
    _nonempty,
    amax,
    amin,
    any,
    cumsum,
    mean,
    std,
    sum,
    var,
)
from pyflame.ops.shape import (
    broadcast_to,
    cat,
    flatten,
    movedim,
    narrow,
    reshape,
    squeeze,
    stack,
    transpose,
)
from pyflame.ops.sorting import sort

AminmaxResult = collections.namedtuple("aminmax", ["min", "max"])  # type: ignore[name-match]  # named as torch names it


def _where() -> str:
    return format_location(user_location())


# --------------------------------------------------------------------------- NaN-skipping


def nansum(
    x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False, *, dtype: Any = None
) -> Tensor:
    """sum treating NaN as 0 (torch.nansum): NaN elements replaced by 0 (flame.select), then
    `sum`; integer tensors are summed as they are."""
    _check_tensor(x, "nansum")
    if dtype is not None:
        x = astype(x, as_dtype(dtype))
    if not x.dtype.is_floating_point:
        return sum(x, dim, keepdim)
    out = sum(where(isnan(x), 0.0, x), dim, keepdim)
    if out.requires_grad:
        dims = tuple(range(x.ndim)) if dim is None else _rule(shapes.normalize_dims, dim, x.ndim)
        out._grad_fn = NanSum(x, dims, keepdim)
    return out


class NanSum(ReductionRule):
    """Gradient rule of a float nansum (attached by `nansum`), torch's: g times 1 where x is
    not NaN and 0 where it is. The select's own rule gave an exact 0 at the NaN elements,
    where torch's product gives NaN for an inf or NaN g (nanmean over only NaNs: g / 0)."""

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        g = self.kept(g)
        return (g * astype(logical_not(isnan(self.inputs[0])), g.dtype),)


def nanmean(
    x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False, *, dtype: Any = None
) -> Tensor:
    """The mean of the elements that are not NaN (torch.nanmean: nansum / their count; NaN
    where every element is NaN). Floating-point input only, as PyTorch."""
    _check_tensor(x, "nanmean")
    if not x.dtype.is_floating_point:
        raise RuntimeError(
            f"{_where()}: nanmean(): expected input to have floating point or complex dtype but "
            f"got {x.dtype!r}"
        )
    count = sum(astype(logical_not(isnan(x)), int32), dim, keepdim)
    return div(nansum(x, dim, keepdim, dtype=dtype), count)


# --------------------------------------------------------------------------- moments


def var_mean(
    x: Tensor,
    dim: int | Sequence[int] | None = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> tuple[Tensor, Tensor]:
    """(var, mean) over `dim` (torch.var_mean; var's forms and correction)."""
    _check_tensor(x, "var_mean")
    d, c = _correction(dim, unbiased, correction, "var_mean")
    return var(x, d, keepdim=keepdim, correction=c), mean(x, d, keepdim)


def std_mean(
    x: Tensor,
    dim: int | Sequence[int] | None = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> tuple[Tensor, Tensor]:
    """(std, mean) over `dim` (torch.std_mean)."""
    _check_tensor(x, "std_mean")
    d, c = _correction(dim, unbiased, correction, "std_mean")
    return std(x, d, keepdim=keepdim, correction=c), mean(x, d, keepdim)


def aminmax(x: Tensor, *, dim: int | None = None, keepdim: bool = False) -> Any:
    """The namedtuple (min, max) over `dim` (every element without it), torch.aminmax."""
    _check_tensor(x, "aminmax")
    if x.numel() == 0:
        raise RuntimeError(
            f"{_where()}: aminmax(): cannot compute aminmax over an empty dimension as the "
            "operation has no identity."
        )
    if dim is None:
        low, high = amin(x), amax(x)
        if keepdim:
            low, high = reshape(low, (1,) * x.ndim), reshape(high, (1,) * x.ndim)
        return AminmaxResult(low, high)
    d = _dim_arg(dim, "aminmax")
    _nonempty(x, d, "aminmax")
    return AminmaxResult(amin(x, d, keepdim), amax(x, d, keepdim))


# --------------------------------------------------------------------------- covariance


def cov(
    x: Tensor,
    *,
    correction: int = 1,
    fweights: Tensor | None = None,
    aweights: Tensor | None = None,
) -> Tensor:
    """The covariance matrix of the variables in x's rows, observations in its columns
    (torch.cov; a 1-D x is one variable, giving a 0-d tensor): (x - mean) @ (x - mean).T /
    (N - correction), N - correction below 0 taken as 0 (inf/NaN, PyTorch's warning aside).
    Observation weights are not supported (an error, never ignored)."""
    _check_tensor(x, "cov")
    if x.ndim > 2:
        raise RuntimeError(
            f"{_where()}: cov(): expected input to have two or fewer dimensions but got an input with {x.ndim} dimensions"
        )
    if fweights is not None or aweights is not None:
        raise NotImplementedError(
            f"{_where()}: cov(): fweights and aweights are not supported in PyFlame"
        )
    rows = reshape(x, (1, -1)) if x.ndim < 2 else x
    if not rows.dtype.is_floating_point:
        rows = astype(rows, float32)
    n = rows.shape[1]
    centred = sub(rows, mean(rows, 1, keepdim=True))
    factor = n - correction
    if factor <= 0:
        warnings.warn(
            "cov(): degrees of freedom is <= 0. Correction should be strictly less than the "
            "number of observations.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        factor = 0
    product = matmul(centred, transpose(centred, 0, 1))
    out = div(product, full((), float(factor), dtype=rows.dtype))
    return squeeze(out) if rows.shape[0] == 1 else out


def corrcoef(x: Tensor) -> Tensor:
    """Pearson's correlation coefficients of x's rows (torch.corrcoef): cov / (std_i std_j),
    clipped to [-1, 1]."""
    _check_tensor(x, "corrcoef")
    c = cov(x)
    if c.ndim == 0:
        return div(c, c)
    deviation = sqrt(diag(c))
    c = div(div(c, reshape(deviation, (-1, 1))), reshape(deviation, (1, -1)))
    return clamp(c, -1, 1)


# --------------------------------------------------------------------------- quantiles


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _q_values(q: Any, x: Tensor, what: str) -> tuple[list[float], bool]:
    """q as floats (a tensor's values read on the host: they pick the ranks) and whether the
    result has a q dim."""
    if isinstance(q, Tensor):
        if q.dtype is not x.dtype:
            raise RuntimeError(
                f"{_where()}: {what}() q tensor must be same dtype as the input tensor"
            )
        if q.ndim > 1:
            raise RuntimeError(f"{_where()}: {what}() q must be a scalar or 1D tensor")
        values = np.asarray(q.numpy(), np.float64).reshape(-1).tolist()
        vector = q.ndim == 1
    elif isinstance(q, (list, tuple)):
        values, vector = [float(v) for v in q], True
    else:
        values, vector = [float(q)], False
    bad = [v for v in values if not 0 <= v <= 1]
    if bad and isinstance(q, (Tensor, list, tuple)):
        raise RuntimeError(f"{_where()}: {what}() q values must be in the range [0, 1]")
    if bad:
        raise RuntimeError(f"{_where()}: {what}() q must be in the range [0, 1] but got {bad[0]}")
    return values, vector


def _quantile(
    x: Tensor, q: Any, dim: int | None, keepdim: bool, interpolation: str, skip_nan: bool
) -> Tensor:
    what = "nanquantile" if skip_nan else "quantile"
    _check_tensor(x, what)
    if x.dtype is not float32:  # (PyTorch's quantile has no half kernel)
        raise RuntimeError(
            f"{_where()}: {what}() input tensor must be either float or double dtype"
        )
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(
            f"{_where()}: {what}() interpolation must be one of linear, lower, higher, midpoint "
            f"or nearest. Got {interpolation}"
        )
    qs, vector = _q_values(q, x, what)
    if x.numel() == 0 and dim is None:
        raise RuntimeError(f"{_where()}: {what}() input tensor must be non-empty")
    if dim is None:
        work = flatten(x)
        kept = (1,) * x.ndim if keepdim else ()
    else:
        d = _rule(shapes.normalize_dim, _dim_arg(dim, what), builtins.max(x.ndim, 1))
        work = movedim(x, d, -1) if x.ndim else reshape(x, (1,))
        kept = (
            tuple(1 if i == d else s for i, s in enumerate(x.shape))
            if keepdim
            else (tuple(s for i, s in enumerate(x.shape) if i != d))
        )
        if x.ndim and x.shape[d] == 0:
            raise RuntimeError(f"{_where()}: {what}() input tensor must be non-empty")
    n = work.shape[-1]
    ordered = sort(work, -1).values  # NaN last
    nan_row = any(isnan(ordered), -1, keepdim=True)
    positions = arange(n, dtype=int32)
    numbers = logical_not(isnan(ordered))
    count = sum(astype(numbers, float32), -1, keepdim=True) if skip_nan else None
    outs = []
    for value in qs:
        if count is not None:  # PyTorch's q * (count - 1), negative ranks (no numbers) 0
            rank = clamp(mul(sub(count, 1.0), value), min=0.0)
        else:  # PyTorch's q * (n - 1) in the input's dtype
            rank = full((), float(np.float32(value) * np.float32(n - 1)), dtype=float32)
        below, above, weight = _rank_parts(rank, interpolation)
        out = _at(ordered, below, positions)
        if weight is not None:
            out = lerp(out, _at(ordered, above, positions), weight)
        if not skip_nan:
            out = where(nan_row, math.nan, out)
        outs.append(reshape(out, out.shape[:-1]))
    results = [reshape(o, kept) for o in outs]
    return stack(results, 0) if vector else results[0]


def _rank_parts(rank: Tensor, interpolation: str) -> tuple[Tensor, Tensor, Tensor | None]:
    """(rank below, rank above, lerp weight or None: take the rank below) as PyTorch's
    quantile: linear lerps by the fraction, midpoint by 0.5; lower / higher / nearest take
    floor / ceil / round half to even."""
    below, above = floor(rank), ceil(rank)
    if interpolation == "linear":
        return below, above, sub(rank, below)
    if interpolation == "midpoint":
        return below, above, full((), 0.5, dtype=float32)
    picked = {"lower": below, "higher": above}.get(interpolation)
    return (picked if picked is not None else round(rank)), above, None


def _at(ordered: Tensor, rank: Tensor, positions: Tensor) -> Tensor:
    """ordered[..., rank] for a float rank tensor broadcast over the rows: the element whose
    position equals it, others as 0 (a select, so a NaN elsewhere does not spread)."""
    hit = eq(positions, astype(rank, int32))
    picked = where(hit, ordered, 0.0)
    return sum(picked, -1, keepdim=True)


def quantile(
    x: Tensor,
    q: Any,
    dim: int | None = None,
    keepdim: bool = False,
    *,
    interpolation: str = "linear",
) -> Tensor:
    """The q-th quantiles of x over `dim` (every element without it), torch.quantile: x
    sorted, the ranks q * (n - 1) interpolated (`interpolation`); NaN where a row holds NaN.
    A vector q gives a leading dim of len(q); q's values are read on the host."""
    return _quantile(x, q, dim, keepdim, interpolation, False)


def nanquantile(
    x: Tensor,
    q: Any,
    dim: int | None = None,
    keepdim: bool = False,
    *,
    interpolation: str = "linear",
) -> Tensor:
    """quantile of the elements that are not NaN (torch.nanquantile: the ranks q * (count -
    1) of each row, computed on the device; NaN for a row of NaNs)."""
    return _quantile(x, q, dim, keepdim, interpolation, True)


# --------------------------------------------------------------------------- histogram


def histc(x: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """Counts of x's elements in `bins` equal bins over [min, max] (torch.histc; min = max =
    0: the data's own min and max, widened by 1 each side when equal); elements outside are
    not counted, `max` itself goes in the last bin. A bin is PyTorch's
    int((x - min) * bins / (max - min)); the counts come from comparing every element with
    every bin (N x bins work)."""
    _check_tensor(x, "histc")
    if not x.dtype.is_floating_point:
        raise NotImplementedError(f'{_where()}: "histogram_cpu" not implemented for {x.dtype!r}')
    bins = _dim_arg(bins, "histc bins")
    if bins <= 0:
        raise RuntimeError(
            f"{_where()}: torch.histc(): bins must be > 0, but got {bins} for dimension 0"
        )
    if min > max:
        raise RuntimeError(f"{_where()}: torch.histc(): max must be larger than min")
    values = flatten(x)  # (in x's dtype: PyTorch's kernel rounds each step to it)
    if min == max and values.numel():
        low, high = amin(values), amax(values)
        same = eq(low, high)
        low, high = where(same, sub(low, 1.0), low), where(same, add(high, 1.0), high)
    else:
        low = full((), float(min) - (1 if min == max else 0), dtype=x.dtype)
        high = full((), float(max) + (1 if min == max else 0), dtype=x.dtype)
    inside = logical_and(ge(values, low), le(values, high))
    pos = astype(div(mul(sub(values, low), float(bins)), sub(high, low)), int32)
    pos = where(eq(pos, bins), bins - 1, pos)
    hit = logical_and(
        eq(reshape(pos, (-1, 1)), arange(bins, dtype=int32)), reshape(inside, (-1, 1))
    )
    return astype(sum(astype(hit, int32), 0), x.dtype)


# --------------------------------------------------------------------------- differences


def diff(
    x: Tensor,
    n: int = 1,
    dim: int = -1,
    prepend: Tensor | None = None,
    append: Tensor | None = None,
) -> Tensor:
    """The n-th forward difference along `dim` (torch.diff): x[1:] - x[:-1], n times, after
    joining `prepend` and `append`; bool tensors give x[1:] != x[:-1]."""
    _check_tensor(x, "diff")
    if x.ndim == 0:
        raise RuntimeError(f"{_where()}: diff expects input to be at least one-dimensional")
    n = _dim_arg(n, "diff n")
    if n < 0:
        raise RuntimeError(f"{_where()}: order must be non-negative but got {n}")
    d = _rule(shapes.normalize_dim, _dim_arg(dim, "diff"), x.ndim)
    parts = []
    for extra, name in ((prepend, "prepend"), (append, "append")):
        if extra is None:
            continue
        _check_tensor(extra, f"diff {name}")
        if extra.ndim != x.ndim:
            raise RuntimeError(
                f"{_where()}: diff expects prepend or append to be the same dimension as input"
            )
    parts = [t for t in (prepend, x, append) if t is not None]
    out = cat(parts, d) if len(parts) > 1 else x
    for _ in range(n):
        size = out.shape[d]
        if size == 0:
            break
        later, earlier = narrow(out, d, 1, size - 1), narrow(out, d, 0, size - 1)
        out = logical_xor(later, earlier) if out.dtype is bool_ else sub(later, earlier)
    return out


def _spacing(y: Tensor, x: Tensor | None, dx: Any, d: int, what: str) -> Tensor | float:
    if x is None:
        return 1.0 if dx is None else float(dx)
    _check_tensor(x, f"{what} x")
    if x.ndim == 1:
        if x.shape[0] != y.shape[d]:
            raise RuntimeError(
                f"{_where()}: {what}: There must be one `x` value for each sample point"
            )
        shape = [1] * y.ndim
        shape[d] = x.shape[0] - 1 if x.shape[0] else 0
        return reshape(diff(x), shape) if x.shape[0] else reshape(x, shape)
    return diff(broadcast_to(x, y.shape) if x.shape != y.shape else x, dim=d)


def trapezoid(
    y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1
) -> Tensor:
    """The trapezoid rule along `dim` (torch.trapezoid): sum of (y[1:] + y[:-1]) / 2 times the
    spacing (`dx`, default 1, or diff(x))."""
    return _trapezoid(y, x, dx, dim, "trapezoid", cumulative=False)


def cumulative_trapezoid(
    y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1
) -> Tensor:
    """The running trapezoid rule along `dim` (torch.cumulative_trapezoid): cumsum of the
    trapezoids, one element fewer than y."""
    return _trapezoid(y, x, dx, dim, "cumulative_trapezoid", cumulative=True)


def _trapezoid(
    y: Tensor, x: Tensor | None, dx: Any, dim: int, what: str, cumulative: bool
) -> Tensor:
    """PyTorch's formulas: with a number spacing, (sum(y) - (y[0] + y[-1]) * 0.5) * dx and
    cumsum(dx / 2 * (y[:-1] + y[1:])); with x, sum or cumsum of (diff(x) * (y[:-1] + y[1:]))
    / 2."""
    _check_tensor(y, what)
    if x is not None and dx is not None:
        raise TypeError(f"{_where()}: {what}: give x or dx, not both")
    d = _rule(shapes.normalize_dim, _dim_arg(dim, what), builtins.max(y.ndim, 1))
    if not y.dtype.is_floating_point and not (
        isinstance(x, Tensor) and x.dtype.is_floating_point
    ):  # integer y over float x: PyTorch adds y's pairs as integers, then takes x's dtype
        y = astype(y, float32)
    n = y.shape[d]
    spacing = _spacing(y, x, dx, d, what)
    if n == 0:
        return y if cumulative else sum(y, d)
    pairs = add(narrow(y, d, 0, n - 1), narrow(y, d, 1, n - 1))
    if isinstance(spacing, Tensor):
        areas = div(mul(spacing, pairs), 2.0)
        return cumsum(areas, d) if cumulative else sum(areas, d)
    if cumulative:
        return cumsum(mul(pairs, spacing / 2.0), d)
    ends = add(narrow(y, d, 0, 1), narrow(y, d, n - 1, 1))
    return mul(squeeze(sub(sum(y, d, keepdim=True), mul(ends, 0.5)), d), spacing)
