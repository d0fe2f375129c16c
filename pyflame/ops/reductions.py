"""Reductions: sum, mean, prod, amax/amin, argmax/argmin, max/min, var/std, logsumexp,
softmax/log_softmax; any/all, norm and cumsum (decompositions into the others and elementwise
ops).
"""

from __future__ import annotations

import builtins
import collections
import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

import numpy as np

from pyflame.core import shapes
from pyflame.core.dtypes import DType, as_dtype, bool_, float32, int32
from pyflame.core.errors import IndexShapeError
from pyflame.dialects import flame
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.ops.convert import astype
from pyflame.ops.creation import arange
from pyflame.ops.elementwise import (
    HALF,
    abs,
    add,
    eq,
    exp,
    gt,
    isnan,
    log,
    logical_not,
    logical_or,
    maximum,
    minimum,
    mul,
    ne,
    pow,
    sign,
    sqrt,
    where,
)
from pyflame.ops.elementwise_math import logaddexp
from pyflame.ops.node import (
    _check_tensor,
    _dim_arg,
    _is_scalar,
    _node,
    _rule,
    _shape_arg,
    _shape_error,
    _shape_rule,
)
from pyflame.ops.saved import composite
from pyflame.ops.shape import broadcast_to, diagonal, pad
from pyflame.promotion import result_type

P = ParamSpec("P")
R = TypeVar("R")

#: the keyword aliases PyTorch's argument parser takes for every reduction but norm
ALIASES = {"axis": "dim", "keepdims": "keepdim"}


def _torch_aliases(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Accept `axis=` for `dim=` and `keepdims=` for `keepdim=`, as torch.sum(x, axis=0,
    keepdims=True) does; both names at once is PyTorch's TypeError."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            if not kwargs:  # (most calls)
                return fn(*args, **kwargs)
            for alias, own in ALIASES.items():
                if alias not in kwargs:
                    continue
                if own in kwargs:
                    raise TypeError(f"{name}() got an unexpected keyword argument '{alias}'")
                kwargs[own] = kwargs.pop(alias)
            return fn(*args, **kwargs)

        return call

    return wrap


# dim: an int, a tuple or list (negative allowed), or None for every dim; a bad one is a
# pf.ShapeError at the user's line. A rank-0 tensor takes dim 0, -1 or None (nothing to reduce).
# Integer results are int32 where PyTorch gives int64 (PyFlame's widest int): argmax/argmin
# indices and sums/products of bool. max/min/argmax/argmin of no elements are refused.
# Composites (argmax, argmin, var, std, logsumexp, softmax, log_softmax) are single flame ops
# that the `decompose` pass spells out; max(x, dim) is (amax, argmax).


def _reduce_dims(x: Tensor, dim: int | Sequence[int] | None, what: str) -> tuple[int, ...]:
    if isinstance(dim, builtins.bool) or not (
        dim is None or isinstance(dim, (int, np.integer, list, tuple))
    ):
        raise TypeError(f"{what}: dim must be an int, a tuple of ints or None, got {dim!r}")
    if x.ndim == 0:  # torch accepts 0 and -1 on a scalar
        for d in (dim,) if isinstance(dim, (int, np.integer)) else dim or ():
            if d not in (0, -1):
                raise _shape_error(f"{what}: dim {d} is out of range for a tensor of rank 0")
        return ()
    given = int(dim) if isinstance(dim, (int, np.integer)) else dim
    return _rule(shapes.normalize_dims, given, x.ndim)


def _reduce(
    op: type[flame.FlameOp],
    x: Tensor,
    dim: int | Sequence[int] | None,
    keepdim: bool,
    what: str = "",
    dtype: DType | None = None,
    **attrs: Any,
) -> Tensor:
    dim = _all_if_empty(dim)
    dims = _reduce_dims(x, dim, what or op.name.removeprefix("flame."))
    shape = _rule(shapes.reduce, x.shape, dims, keepdim)
    attrs.update(dims=dims, keepdim=builtins.bool(keepdim))
    return _node(op, (x,), shape, dtype or x.dtype, attrs)


def _nonempty(x: Tensor, dim: int | Sequence[int] | None, what: str) -> None:
    _shape_rule(shapes.nonempty_reduction, x.shape, _reduce_dims(x, dim, what), what, dim is None)


def _all_if_empty(dim: Any) -> Any:
    """An empty dim list reduces every dim, as in PyTorch: `sum(x, dim=())` is `sum(x)`
    (sum, mean, prod, amax, amin, var, std, logsumexp, norm; not any/all, which keep every
    element there, as PyTorch)."""
    return None if isinstance(dim, (list, tuple)) and not dim else dim


def _counted(x: Tensor) -> Tensor:
    """bool counts as int32 in sums and products (PyTorch: int64)."""
    return astype(x, int32) if x.dtype is bool_ else x


def _floating(x: Tensor, what: str) -> Tensor:
    if not x.dtype.is_floating_point:
        raise TypeError(
            f"{format_location(user_location())}: {what} needs a floating-point tensor, got "
            f"{x.dtype!r} (as in PyTorch; convert with .float())"
        )
    return x


@_torch_aliases("sum")
def sum(
    x: Tensor,
    dim: int | Sequence[int] | None = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """Sum over `dim` (an int, a tuple, or None for every dim), like torch.sum; `dtype`
    converts the input first."""
    _check_tensor(x, "sum")
    if dtype is not None:
        x = astype(x, as_dtype(dtype))
    return _reduce(flame.ReduceSumOp, _counted(x), dim, keepdim, "sum")


def count_nonzero(x: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """The number of nonzero elements over `dim` (torch.count_nonzero; int32, PyTorch: int64)."""
    _check_tensor(x, "count_nonzero")
    return sum(astype(ne(x, 0), int32), dim)


def trace(x: Tensor) -> Tensor:
    """The sum of a matrix's main diagonal (torch.trace; a non-square one's too): `sum` of
    `diagonal(x)`, so integers give int32 (PyTorch: int64) and halves add in float32."""
    _check_tensor(x, "trace")
    if x.ndim != 2:
        raise _shape_error(f"trace: expected a matrix, but got tensor with dim {x.ndim}")
    if x.dtype is bool_:  # PyTorch's NotImplementedError: "trace" not implemented for 'Bool'
        raise TypeError(f"{format_location(user_location())}: trace is not implemented for bool")
    return sum(diagonal(x))


@_torch_aliases("mean")
def mean(
    x: Tensor,
    dim: int | Sequence[int] | None = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """Mean over `dim` (an int, a tuple, or None for every dim), like torch.mean; `dtype` (a
    floating-point one) converts the input first. An integer tensor without `dtype` is
    PyTorch's RuntimeError."""
    _check_tensor(x, "mean")
    if dtype is not None:
        dtype = as_dtype(dtype)
        if not dtype.is_floating_point:
            raise RuntimeError(
                f"{format_location(user_location())}: mean(): could not infer output dtype. "
                f"Optional dtype must be either a floating point or complex dtype. Got: {dtype!r}"
            )
        x = astype(x, dtype)
    if not x.dtype.is_floating_point:
        raise RuntimeError(
            f"{format_location(user_location())}: mean(): could not infer output dtype. Input "
            f"dtype must be either a floating point or complex dtype. Got: {x.dtype!r}"
        )
    return _reduce(flame.ReduceMeanOp, x, dim, keepdim, "mean")


@_torch_aliases("prod")
def prod(
    x: Tensor,
    dim: int | Sequence[int] | None = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """Product over `dim` (an int, a tuple, or None for every dim), like torch.prod; `dtype`
    converts the input first."""
    _check_tensor(x, "prod")
    if dtype is not None:
        x = astype(x, as_dtype(dtype))
    dim = _all_if_empty(dim)  # PyTorch's prod takes one int; a tuple () is every dim, as sum's
    out = _reduce(flame.ReduceProdOp, _counted(x), dim, keepdim, "prod")
    if dim is None and out.requires_grad:  # torch.prod without dim: a backward of its own
        out._grad_fn = ProdOfAll(out.inputs[0])
    return out


class ProdOfAll:
    """Gradient rule of `prod(x)` without dim (the rule of a flame.reduce_prod is
    pyflame/gradients.py `_prod`; the rules import the ops, so this one lives here). PyTorch's
    `prod_backward`: g * product / x without zeros; with one zero, g times the product of the
    others at the zero and g * 0 elsewhere; with two or more, zeros whatever g is (inf or NaN
    included: differential fuzzer seed 18, program 793), where a product over given dims
    gives g * 0 (`_prod`, torch's `prod_safe_zeros_backward`)."""

    def __init__(self, x: Tensor):
        self.inputs = (x,)

    def __call__(self, node: Tensor, g: Tensor) -> tuple[Tensor]:
        x = node.inputs[0]
        if x.ndim == 0:
            return (g,)
        zero = eq(x, 0)
        zeros = zero.astype(g.dtype).sum()
        grow = broadcast_to(g.reshape(()), x.shape)
        nonzero = where(zero, 1.0, x)
        no_zero = broadcast_to(node.reshape(()), x.shape) / nonzero
        at_zero = where(zero, broadcast_to(nonzero.prod(), x.shape), 0.0)
        dx = grow * where(broadcast_to(eq(zeros, 0), x.shape), no_zero, at_zero)
        return (where(broadcast_to(gt(zeros, 1), x.shape), 0.0, dx),)


@_torch_aliases("amax")
def amax(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    """Max over `dim` (an int, a tuple, or None / () for every dim); NaN wins (torch.amax)."""
    _check_tensor(x, "amax")
    dim = _all_if_empty(dim)
    _nonempty(x, dim, "amax")
    return _reduce(flame.ReduceMaxOp, x, dim, keepdim, "amax")


@_torch_aliases("amin")
def amin(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    """Min over `dim` (an int, a tuple, or None / () for every dim); NaN wins (torch.amin)."""
    _check_tensor(x, "amin")
    dim = _all_if_empty(dim)
    _nonempty(x, dim, "amin")
    return _reduce(flame.ReduceMinOp, x, dim, keepdim, "amin")


def _refuse_bool(x: Tensor, what: str) -> None:
    """PyTorch's RuntimeError: argmax and argmin do not take bool (an index of "the first
    True" is `x.int().argmax()`)."""
    _check_tensor(x, what)
    if x.dtype is bool_:
        raise RuntimeError(
            f"{format_location(user_location())}: {what}(): does not support bool input "
            "(as PyTorch; convert first, e.g. x.int())"
        )


def _arg(op: type[flame.FlameOp], x: Tensor, dim: int | None, keepdim: bool, what: str) -> Tensor:
    _check_tensor(x, what)
    if isinstance(dim, builtins.bool) or not (dim is None or isinstance(dim, (int, np.integer))):
        raise TypeError(f"{what}: dim must be an int or None, got {dim!r}")
    _nonempty(x, dim, what)
    return _reduce(op, x, dim, keepdim, what, dtype=int32)


@_torch_aliases("argmax")
def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the first max along `dim` (of the flattened tensor for None), as pf.int32
    (PyTorch returns int64); NaN counts as the max, like torch.argmax."""
    _refuse_bool(x, "argmax")
    return _arg(flame.ArgmaxOp, x, dim, keepdim, "argmax")


@_torch_aliases("argmin")
def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the first min along `dim` (of the flattened tensor for None), as pf.int32."""
    _refuse_bool(x, "argmin")
    return _arg(flame.ArgminOp, x, dim, keepdim, "argmin")


#: what max(x, dim) and min(x, dim) return, like torch.return_types.max / .min
MaxResult = collections.namedtuple("max", ["values", "indices"])  # type: ignore[name-match]  # named as torch names it
MinResult = collections.namedtuple("min", ["values", "indices"])  # type: ignore[name-match]  # named as torch names it


def _extreme(kind: str, x: Tensor, dim: Any, keepdim: bool) -> Any:
    """max/min: over everything (dim=None), the elementwise max/min with another tensor, or
    (values, indices) along one dim."""
    what = "max" if kind == "max" else "min"
    _check_tensor(x, what)
    if isinstance(dim, Tensor):
        return (maximum if kind == "max" else minimum)(x, dim)
    if dim is None:
        out = (amax if kind == "max" else amin)(x, None, keepdim)
        if out.requires_grad:  # to the NaNs when the result is NaN, as torch
            out._grad_fn = Evenly(x)
        return out
    if isinstance(dim, builtins.bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{what}: dim must be an int (one dim), got {dim!r}")
    dim = int(dim)
    _nonempty(x, dim, what)
    # the values through a keepdim reduction, which argmax's decomposition then reuses
    reduce_op, arg_op = (
        (flame.ReduceMaxOp, flame.ArgmaxOp)
        if kind == "max"
        else (flame.ReduceMinOp, flame.ArgminOp)
    )
    values = _reduce(reduce_op, x, dim, True, what)
    shape = shapes.reduce(x.shape, _reduce_dims(x, dim, what), keepdim)
    if values.shape != shape:
        values = _node(flame.ReshapeOp, (values,), shape, values.dtype)
    indices = _reduce(arg_op, x, dim, keepdim, what, dtype=int32)
    if values.requires_grad:  # the gradient goes to the returned index only, as in PyTorch
        d = _reduce_dims(x, dim, what)
        if d:
            values._grad_fn = AtIndices(x, indices, d[0], keepdim)
    return (MaxResult if kind == "max" else MinResult)(values, indices)


@_torch_aliases("max")
def max_(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """`pf.max(x)`: the largest element; `pf.max(x, dim, keepdim=False)`: the namedtuple
    (values, indices) along `dim` (indices pf.int32); `pf.max(x, other)`: pf.maximum."""
    return _extreme("max", x, dim, keepdim)


@_torch_aliases("min")
def min_(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """`pf.min(x)`, `pf.min(x, dim, keepdim=False)` -> (values, indices), `pf.min(x, other)`."""
    return _extreme("min", x, dim, keepdim)


max_.__name__ = max_.__qualname__ = "max"
min_.__name__ = min_.__qualname__ = "min"


def _correction(
    dim: Any, unbiased: builtins.bool | None, correction: float | None, what: str
) -> tuple[Any, float]:
    """PyTorch's forms: var(x), var(x, unbiased), var(x, dim, unbiased), var(x, dim,
    correction=c). Default: the unbiased estimate (correction 1)."""
    if isinstance(dim, builtins.bool):
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{what}: give unbiased or correction, not both")
    if correction is None:
        return dim, 0.0 if unbiased is False else 1.0
    if not _is_scalar(correction) or isinstance(correction, builtins.bool):
        raise TypeError(f"{what}: correction must be a number, got {correction!r}")
    return dim, float(correction)


@_torch_aliases("var")
def var(
    x: Tensor,
    dim: int | Sequence[int] | None = None,
    unbiased: builtins.bool | None = None,
    keepdim: builtins.bool = False,
    *,
    correction: float | None = None,
) -> Tensor:
    """Variance over `dim`: sum of squared deviations / max(0, N - correction); unbiased
    (correction 1) by default, like torch.var."""
    _check_tensor(x, "var")
    dim, c = _correction(dim, unbiased, correction, "var")
    return _reduce(flame.VarOp, _floating(x, "var"), dim, keepdim, "var", correction=c)


@_torch_aliases("std")
def std(
    x: Tensor,
    dim: int | Sequence[int] | None = None,
    unbiased: builtins.bool | None = None,
    keepdim: builtins.bool = False,
    *,
    correction: float | None = None,
) -> Tensor:
    """Standard deviation: sqrt(var(...)), unbiased by default, like torch.std."""
    _check_tensor(x, "std")
    dim, c = _correction(dim, unbiased, correction, "std")
    return _reduce(flame.StdOp, _floating(x, "std"), dim, keepdim, "std", correction=c)


@_torch_aliases("logsumexp")
def logsumexp(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over `dim`, computed stably (the max is subtracted first); integer
    inputs become float32, like torch.logsumexp."""
    _check_tensor(x, "logsumexp")
    x = x if x.dtype.is_floating_point else astype(x, float32)
    return _reduce(flame.LogsumexpOp, x, dim, keepdim, "logsumexp")


def _softmax(op: type[flame.FlameOp], x: Tensor, dim: int | None, dtype: Any, what: str) -> Tensor:
    _check_tensor(x, what)
    if dtype is not None:
        x = astype(x, dtype)
    _floating(x, what)
    if dim is None:  # PyTorch's deprecated implicit choice
        dim = 0 if x.ndim in (0, 1, 3) else 1
        warnings.warn(
            f"Implicit dimension choice for {what} has been deprecated. Change the "
            "call to include dim=X as an argument.",
            UserWarning,
            stacklevel=3,
        )
    if isinstance(dim, builtins.bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{what}: dim must be an int, got {dim!r}")
    d = _reduce_dims(x, int(dim), what)
    return _node(op, (x,), x.shape, x.dtype, {"dim": d[0] if d else 0})


def softmax(x: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`, computed stably (the max is subtracted first); a row
    that is all -inf gives NaN, as in PyTorch. `dtype` converts the input first."""
    return _softmax(flame.SoftmaxOp, x, dim, dtype, "softmax")


def log_softmax(x: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """log(softmax(x)) along `dim`, computed as (x - max) - log(sum(exp(x - max)))."""
    return _softmax(flame.LogSoftmaxOp, x, dim, dtype, "log_softmax")


def _truth(x: Tensor, dim: Any, keepdim: bool, what: str, want_all: bool) -> Tensor:
    _check_tensor(x, what)
    off = logical_not(x) if x.dtype is bool_ else eq(x, 0)  # NaN counts as True
    if isinstance(dim, (list, tuple)) and not dim:
        # PyTorch 2.13's any/all over no dims: each element on its own (x != 0), not all dims
        return logical_not(off)
    hit = off if want_all else logical_not(off)
    count = _reduce(flame.ReduceSumOp, astype(hit, int32), dim, keepdim, what)
    return eq(count, 0) if want_all else gt(count, 0)


@_torch_aliases("any")
def any(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    """Whether any element over `dim` is nonzero (torch.any), a bool tensor: the int32 count
    of nonzero elements (flame.reduce_sum) > 0; False over no elements."""
    return _truth(x, dim, keepdim, "any", want_all=False)


@_torch_aliases("all")
def all(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    """Whether every element over `dim` is nonzero (torch.all), a bool tensor: the int32
    count of zeros (flame.reduce_sum) == 0; True over no elements."""
    return _truth(x, dim, keepdim, "all", want_all=True)


@composite(lambda out, x, *args, **kwargs: (x, out), "LinalgVectorNorm")
def norm(
    x: Tensor,
    p: float | str | None = "fro",
    dim: int | Sequence[int] | None = None,
    keepdim: bool = False,
    dtype: Any = None,
) -> Tensor:
    """The vector p-norm over `dim` (every dim by default), torch.norm: p = 2 and 'fro':
    sqrt(sum(x * x)) (gradient 0 where the norm is 0, as PyTorch); 1: sum(|x|); inf / -inf:
    amax / amin(|x|); 0: the count of nonzeros; other p: sum(|x|^p)^(1/p)."""
    _check_tensor(x, "norm")
    if dtype is not None:
        x = astype(x, as_dtype(dtype))
    _floating(x, "norm")
    if x.dtype in HALF:
        # torch computes a half norm in float32 and rounds it once: |x|^p in the half dtype
        # overflows from |x| = 256 (p = 2) and a sum of squares beyond 65504 is no norm's
        return astype(norm(astype(x, float32), p, dim, keepdim), x.dtype)
    if p is None or p == "fro":
        p = 2
    if isinstance(p, str):
        raise NotImplementedError(f"norm: p={p!r} is not supported (matrix norms: only 'fro')")
    p = float(p)
    dim = _all_if_empty(dim)
    if p == 2:
        squares = _reduce(flame.ReduceSumOp, mul(x, x), dim, keepdim, "norm")
        out = sqrt(squares)
        if out.requires_grad:
            out._grad_fn = TwoNorm(x, _reduce_dims(x, dim, "norm"), keepdim)
        return out
    if p == 1:
        return _reduce(flame.ReduceSumOp, abs(x), dim, keepdim, "norm")
    if p in (float("inf"), float("-inf")):
        out = (amax if p > 0 else amin)(abs(x), dim, keepdim)
        if out.requires_grad:
            out._grad_fn = InfNorm(x, _reduce_dims(x, dim, "norm"), keepdim)
        return out
    if p == 0:
        return _reduce(flame.ReduceSumOp, astype(ne(x, 0), x.dtype), dim, keepdim, "norm")
    out = pow(_reduce(flame.ReduceSumOp, pow(abs(x), p), dim, keepdim, "norm"), 1.0 / p)
    if out.requires_grad:
        out._grad_fn = PNorm(x, p, _reduce_dims(x, dim, "norm"), keepdim)
    return out


class ReductionRule:
    """A gradient rule of its own for a reduction of x over `dims` (attached to the result as
    `_grad_fn`): `kept` gives the result or its gradient the reduced dims back as size 1,
    so that they broadcast against x."""

    def __init__(self, x: Tensor, dims: tuple[int, ...], keepdim: bool):
        self.inputs = (x,)
        self.dims, self.keepdim = dims, keepdim

    def kept(self, t: Tensor) -> Tensor:
        if self.keepdim:
            return t
        x = self.inputs[0]
        return t.reshape(tuple(1 if i in self.dims else n for i, n in enumerate(x.shape)))


class TwoNorm(ReductionRule):
    """Gradient rule of the 2-norm (attached by `norm`): g * x / norm, 0 where the norm is 0
    (sqrt's rule would give NaN there), as torch's norm_backward."""

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        node, g = self.kept(node), self.kept(g)
        return (where(node == 0, 0.0, self.inputs[0] * (g / node)),)


class InfNorm(ReductionRule):
    """Gradient rule of the inf and -inf norms (attached by `norm`), torch's norm_backward:
    g shared by the elements where |x| is the norm or NaN, times sgn(x) (0 at NaN). Through
    amax(abs(x)) a NaN anywhere along the dims made every element's gradient NaN (amax's
    own rule, as torch.amax's); torch's norm gives 0 to the others and to the NaN itself."""

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        x, node, g = self.inputs[0], self.kept(node), self.kept(g)
        size = abs(x)
        mask = astype(logical_or(eq(size, node), isnan(size)), x.dtype)
        count = _reduce(flame.ReduceSumOp, mask, self.dims, True, "norm")
        return (sign(x) * (g / count * mask),)


class PNorm(ReductionRule):
    """Gradient rule of the p-norm for p other than 0, 1, 2 and +-inf (attached by `norm`),
    torch's norm_backward: p < 1 (negative p too): sgn(x) |x|^(p-1) g norm^(1-p), 0 where x
    is 0; p > 1: sgn(x) |x|^(p-1) g / norm^(p-1), 0 where the norm is 0. The chain rule
    through pow(abs(x), p) gave NaN there (abs's zero gradient times |x|^(p-1) = inf at 0, or
    the outer pow's inf at a zero norm): F.normalize(x, p=3) of a zero row was NaN."""

    def __init__(self, x: Tensor, p: float, dims: tuple[int, ...], keepdim: bool):
        super().__init__(x, dims, keepdim)
        self.p = p

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        x, p, node, g = self.inputs[0], self.p, self.kept(node), self.kept(g)
        scaled = sign(x) * pow(abs(x), p - 1.0)
        if p < 1.0:
            return (where(x == 0, 0.0, scaled) * (g * pow(node, 1.0 - p)),)
        return (scaled * where(node == 0, 0.0, g / pow(node, p - 1.0)),)


def _float_pair(x1: Tensor, x2: Tensor, what: str) -> None:
    for t, name in ((x1, "X1"), (x2, "X2")):
        _check_tensor(t, what)
        if not t.dtype.is_floating_point:
            raise RuntimeError(
                f"{format_location(user_location())}: {what} only supports floating-point "
                f"dtypes, {name} got: {t.dtype!r}"
            )


_TORCH_HALF_NAMES = {"float16": "Half", "bfloat16": "BFloat16"}


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode: str | None = None) -> Tensor:
    """The p-norm distance between each row of x1 [*B, P, M] and each row of x2 [*B, R, M]:
    [*B, P, R] (torch.cdist; batch dims broadcast): the norm over M of x1[..., :, None, :] -
    x2[..., None, :, :], so gradients are the norm's (0 at a zero 2-norm distance, as torch).
    PyTorch computes p = 2 through a matmul when P or R > 25 (`compute_mode`): the values
    agree to rounding; PyFlame always takes differences (exact for equal rows)."""
    _float_pair(x1, x2, "cdist")
    where_ = format_location(user_location())
    if x1.dtype in HALF:  # (PyTorch has no half cdist kernel)
        raise NotImplementedError(
            f"{where_}: \"cdist\" not implemented for '{_TORCH_HALF_NAMES[x1.dtype.name]}'"
        )
    for t, name in ((x1, "X1"), (x2, "X2")):
        if t.ndim < 2:
            raise RuntimeError(
                f"{where_}: cdist only supports at least 2D tensors, {name} got: {t.ndim}D"
            )
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(
            f"{where_}: X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} "
            f"X2: {x2.shape[-1]}"
        )
    if not isinstance(p, (int, float)) or p < 0:
        raise RuntimeError(f"{where_}: cdist only supports non-negative p values")
    if x1.dtype is not x2.dtype:
        raise RuntimeError(
            f"{where_}: cdist: X1 and X2 must have the same dtype, got {x1.dtype!r} and "
            f"{x2.dtype!r}"
        )
    a = x1.reshape(*x1.shape[:-1], 1, x1.shape[-1])
    b = x2.reshape(*x2.shape[:-2], 1, *x2.shape[-2:])
    return norm(a - b, p, dim=-1)


def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:
    """The p-norm of input - other (broadcast), a 0-d tensor (torch.dist): the operands promote
    first (an int32 and a float32 tensor: float32), their promoted dtype must be a float."""
    for t in (input, other):
        _check_tensor(t, "dist")
    dtype = result_type([input, other], [])
    if not dtype.is_floating_point:
        raise RuntimeError(
            f"{format_location(user_location())}: dist: norm(): input dtype should be either "
            f"floating point or complex. Got {dtype!r} instead."
        )
    return norm(astype(input, dtype) - astype(other, dtype), p)


def renorm(x: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice of `x` along `dim` whose p-norm exceeds maxnorm scaled to norm maxnorm
    (torch.renorm: the factor maxnorm / (norm + 1e-7), as PyTorch's)."""
    _check_tensor(x, "renorm")
    _floating(x, "renorm")
    where_ = format_location(user_location())
    if p <= 0:
        raise RuntimeError(f"{where_}: renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"{where_}: renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if x.ndim <= 1:
        raise RuntimeError(
            f"{where_}: renorm: input needs at least 2 dimensions, got {x.ndim} dimensions"
        )
    d = _rule(shapes.normalize_dim, _dim_arg(dim, "renorm"), x.ndim)
    others = [i for i in range(x.ndim) if i != d]
    wide = astype(x, float32) if x.dtype in HALF else x
    n = norm(wide, p, others, keepdim=True)
    factor = where(gt(n, maxnorm), maxnorm / (n + 1e-7), 1.0)
    return mul(x, astype(factor, x.dtype) if x.dtype in HALF else factor)


def cumsum(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running sums along `dim` (torch.cumsum; bool sums as int32, PyTorch: int64), `dtype`
    converts first; float16/bfloat16 accumulate in float32 and round each sum once. A Hillis-Steele scan: log2(n) steps y += y shifted by 1, 2, 4, ... along
    dim (flame.pad with widths (k, -k): k zeros in front, k elements cropped at the end), so
    exact for integers and one add per step, whatever the dim's distribution."""
    return _scan(x, dim, dtype, "cumsum", add, None)


def cumprod(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running products along `dim` (torch.cumprod; bool multiplies as int32, PyTorch: int64),
    `dtype` converts first; float16/bfloat16 multiply in float32 and round each product once.
    The scan of `cumsum` with multiplies: log2(n) steps y *= y shifted by 1, 2, 4, ... (the
    shift pads with ones). Gradients follow the multiplies, so zeros need no special case (an
    inf factor gives NaN / inf gradients in other places than PyTorch's formula does);
    PyTorch's CPU kernel multiplies in order in double for float32, so a product may differ in
    its last bit."""
    return _scan(x, dim, dtype, "cumprod", mul, 1)


def logcumsumexp(x: Tensor, dim: int) -> Tensor:
    """log(cumsum(exp(x))) along `dim` without overflow (torch.logcumsumexp): the scan of
    `cumsum` with `logaddexp` (PyTorch's kernel: -inf with -inf is -inf, inf with inf is inf,
    NaN spreads to the end), shifts padded with -inf; float dtypes only, float16/bfloat16 in
    float32 with each result rounded once. The scan adds in another order than PyTorch's
    running sum: floats may differ in the last bits. Gradients through logaddexp's rule."""
    _check_tensor(x, "logcumsumexp")
    if not x.dtype.is_floating_point:
        name = {"bool": "Bool", "int32": "Long"}.get(x.dtype.name, x.dtype.name)
        raise NotImplementedError(
            f'{format_location(user_location())}: "logcumsumexp_out_cpu" not implemented for '
            f"'{name}'"
        )
    given, rank = _dim_arg(dim, "logcumsumexp"), max(x.ndim, 1)
    if not -rank <= given < rank:
        raise IndexShapeError(
            f"{format_location(user_location())}: Dimension out of range (expected to be in "
            f"range of [{-rank}, {rank - 1}], but got {given})"
        )
    out = _scan(x, given, None, "logcumsumexp", logaddexp, float("-inf"))
    if out.requires_grad and x.ndim:
        out._grad_fn = LogCumSumExp(x, given % rank)
    return out


#: the most negative finite value of each float dtype (PyTorch's `lowest()`)
_LOWEST = {
    "float32": -3.4028234663852886e38,
    "float16": -65504.0,
    "bfloat16": -3.3895313892515355e38,
}


class LogCumSumExp:
    """Gradient rule of `logcumsumexp`, PyTorch's (logcumsumexp_backward, after TensorFlow's):
    exp(x_i) sum_{j >= i} g_j / exp(out_j), in log space, the positive and negative g apart
    (a reversed logcumsumexp of log|g| - out, the other sign's entries the dtype's lowest;
    both in one scan).
    The scan's own chain rule (logaddexp's at -inf with -inf: NaN) gave NaN to an element
    of -inf, where PyTorch's gradient is 0 (a -inf mask in log space)."""

    def __init__(self, x: Tensor, dim: int):
        self.inputs, self.dim = (x,), dim

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        from pyflame.ops.shape import flip
        from pyflame.ops.stacking import stack

        x, d = self.inputs[0], self.dim
        lowest = _LOWEST[g.dtype.name]
        log_abs = log(abs(g))

        # both signs in one scan: stacked on a new leading dim
        signs = stack([where(g > 0, log_abs, lowest), where(g < 0, log_abs, lowest)]) - node
        sums = flip(logcumsumexp(flip(signs, [d + 1]), d + 1), [d + 1])
        both = exp(sums + x)
        return (both[0] - both[1],)


def _scan(
    x: Tensor,
    dim: int,
    dtype: Any,
    what: str,
    combine: Callable[..., Tensor],
    identity: float | None,
) -> Tensor:
    """The Hillis-Steele scan of `cumsum` / `cumprod`: log2(n) steps y = combine(y, y shifted
    by 1, 2, 4, ... along dim, the shift padded with `identity`, None: zeros); half floats
    in float32, each result rounded once, as PyTorch."""
    _check_tensor(x, what)
    if dtype is not None:
        x = astype(x, as_dtype(dtype))
    x = _counted(x)
    if x.dtype in HALF:
        return astype(_scan(astype(x, float32), dim, None, what, combine, identity), x.dtype)
    if x.ndim == 0:
        _reduce_dims(x, dim, what)
        return x * 1
    d = _rule(shapes.normalize_dim, _dim_arg(dim, what), x.ndim)
    n, out, k = x.shape[d], x, 1
    while k < n:
        after = (0, 0) * (x.ndim - 1 - d)
        out = combine(out, pad(out, (*after, k, -k), value=identity))
        k *= 2
    return out if out is not x else x * 1


CummaxResult = collections.namedtuple("cummax", ["values", "indices"])  # type: ignore[name-match]  # named as torch names it
CumminResult = collections.namedtuple("cummin", ["values", "indices"])  # type: ignore[name-match]  # named as torch names it

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def cummax(x: Tensor, dim: int) -> Any:
    """(values, indices): the running maximum along `dim` and where it is (torch.cummax;
    indices int32, PyTorch: int64). PyTorch's CPU rule: a tie moves the index to the later
    element (the last occurrence of the running max); a NaN is the max from there on, the
    index at the latest NaN."""
    return _running_extreme(x, dim, True)


def cummin(x: Tensor, dim: int) -> Any:
    """(values, indices): the running minimum along `dim` (torch.cummin), as `cummax`."""
    return _running_extreme(x, dim, False)


def _running_extreme(x: Tensor, dim: int, largest: bool) -> Any:
    """The scan of `cumsum` with a (value, index) pair: log2(n) steps where each element
    meets the result of the k elements before it (flame.pad shifts both, the shift padded
    with a value that never wins) and the later one is kept when it is NaN, or when the
    earlier is not NaN and the later >= (<=) it; the combine is associative, so the result
    is the last NaN, else the last occurrence of the extreme. Values are picked by
    flame.where (exact: -0.0 too), so gradients reach the element at the index."""
    what = "cummax" if largest else "cummin"
    result = CummaxResult if largest else CumminResult
    _check_tensor(x, what)
    if x.ndim == 0:
        _reduce_dims(x, dim, what)
        copy = logical_not(logical_not(x)) if x.dtype is bool_ else x * 1
        return result(copy, _node(flame.FillOp, (), (), int32, {"value": 0.0}))
    d = _rule(shapes.normalize_dim, _dim_arg(dim, what), x.ndim)
    n = x.shape[d]
    values = astype(x, int32) if x.dtype is bool_ else x
    floating = values.dtype.is_floating_point
    if floating:
        never = float("-inf") if largest else float("inf")
    else:
        never = INT32_MIN if largest else INT32_MAX
    along = tuple(n if k == d else 1 for k in range(x.ndim))
    indices = broadcast_to(arange(n, dtype=int32).reshape(along), x.shape)
    k = 1
    while k < n:
        widths = (0, 0) * (x.ndim - 1 - d) + (k, -k)
        earlier, earlier_at = pad(values, widths, value=never), pad(indices, widths, value=0)
        later = values >= earlier if largest else values <= earlier
        if floating:
            later = (values != values) | ((earlier == earlier) & later)
        values, indices = where(later, values, earlier), where(later, indices, earlier_at)
        k *= 2
    if values is x:  # (n <= 1: a copy, as PyTorch's result)
        values = x * 1 if x.dtype is not bool_ else logical_not(logical_not(x))
    if x.dtype is bool_:
        values = astype(values, bool_)
    return result(values, indices)


class AtIndices:
    """Gradient rule of `max(x, dim).values` / `min(x, dim).values` (attached to the values
    node by the op builder): the whole gradient goes to the element at the returned index,
    as in PyTorch, where `amax` (the values' own op) would split it among tied elements."""

    def __init__(self, x: Tensor, indices: Tensor, dim: int, keepdim: bool):
        self.inputs = (x,)
        self.indices, self.dim, self.keepdim = indices, dim, keepdim

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        x, d, index = self.inputs[0], self.dim, self.indices
        if not self.keepdim:  # put the reduced dim back as size 1
            kept = tuple(1 if i == d else n for i, n in enumerate(x.shape))
            index, g = index.reshape(kept), g.reshape(kept)
        along = tuple(n if i == d else 1 for i, n in enumerate(x.shape))
        position = arange(x.shape[d]).reshape(along)  # each element's index along dim
        return (where(position == index, g, 0.0),)


class Evenly:
    """Gradient rule of `pf.max(x)` / `pf.min(x)` over every element (attached by the op
    builder), as torch's evenly_distribute_backward: split among the elements equal to the
    result, or among the NaNs when the result is NaN (`amax`'s rule would give NaN)."""

    def __init__(self, x: Tensor):
        self.inputs = (x,)

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        x = self.inputs[0]
        hit = where(node != node, x != x, x == node)
        count = hit.astype(g.dtype).sum()
        return (where(hit, g / count, 0.0),)


def sum_to_size(x: Tensor, *size: Any) -> Tensor:
    """x summed down to `size`, which must broadcast to x's shape (torch.Tensor.sum_to_size:
    the leading dims x has beyond size summed away, and the dims where size is 1)."""
    _check_tensor(x, "sum_to_size")
    target = _shape_arg(size, "sum_to_size")
    lead = x.ndim - len(target)
    fits = lead >= 0 and builtins.all(
        t in (n, 1) for t, n in zip(target, x.shape[lead:], strict=True)
    )
    if not fits:
        raise RuntimeError(
            f"{format_location(user_location())}: size {{{', '.join(map(str, target))}}} is not "
            f"expandable to size {{{', '.join(map(str, x.shape))}}}."
        )
    out = sum(x, tuple(range(lead))) if lead else x
    kept = tuple(
        d for d, (t, n) in enumerate(zip(target, out.shape, strict=True)) if t == 1 and n != 1
    )
    return sum(out, kept, keepdim=True) if kept else out
