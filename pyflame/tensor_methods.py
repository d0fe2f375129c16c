"""Tensor's operators and op methods: `x + y`, `x.exp()`, `x.sum(1)`, `x.reshape(2, -1)`, ...

Each calls the `pyflame.ops` builder of the same name. The builders make Tensors, so
`pyflame.ops` sits above `pyflame.lazy_tensor` and cannot be imported by it: the modules that Tensor's
methods call bind themselves here when they are imported (`bind`), the way PyTorch's Python
`torch.Tensor` methods sit on top of `torch._C.TensorBase`:

    pyflame.ops       operators and op methods (`OpMethods` below)
    pyflame.runtime   `x.numpy()`, `x.item()`, `print(x)`: evaluation
    pyflame.autograd  `x.backward()`
    pyflame.indexing  `x.gather(...)`, `x.index_select(...)` (above the runtime checks)
    pyflame.index_get `x[idx]`, `x[:, [0, 2]]`, `x[mask]`: advanced indexing (reads)
    pyflame.indexed_writes  `x.scatter(...)`, `x.index_add(...)`: writes at an index along a dim
    pyflame.inplace   `x.add_(y)`, `x[key] = v`, `x += 1`, `x.data`: in-place ops, functionalised
    pyflame.data_dependent  `x.nonzero()`, `x.unique()`: results whose shape depends on the data
    pyflame.linalg    `x.det()`, `x.inverse()`, `x.cholesky()`: elimination on the device
    pyflame.special   `x.mvlgamma(p)`

`import pyflame` (any `pf.` name) loads all three; a method whose module is not loaded yet says so.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from pyflame.core import strides
from pyflame.devices import WAFER, is_device
from pyflame.dialects import flame

if TYPE_CHECKING:
    from pyflame.lazy_tensor import Tensor


def _basic_key(key: Any) -> bool:
    """ints, slices, `...` and None only (the common case, decided here without the module of
    advanced indexing)."""
    items = key if isinstance(key, tuple) else (key,)
    return all(
        k is None
        or k is Ellipsis
        or type(k) is slice
        or (isinstance(k, numbers.Integral) and not isinstance(k, bool))
        for k in items
    )


class _NotLoaded:
    """Stands for a module that has not bound itself yet."""

    def __init__(self, module: str):
        self.module = module

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            f"pf.Tensor needs {self.module}.{name}, which is not loaded yet: import {self.module} "
            "(or use any `pf.` name after `import pyflame as pf`, which loads the whole frontend)"
        )


class _Bound:
    """The modules above pyflame.lazy_tensor that Tensor's methods call, once they are imported."""

    def __init__(self) -> None:
        self.ops: Any = _NotLoaded("pyflame.ops")
        self.runtime: Any = _NotLoaded("pyflame.runtime")
        self.autograd: Any = _NotLoaded("pyflame.autograd")
        self.indexing: Any = _NotLoaded("pyflame.indexing")
        self.index_get: Any = _NotLoaded("pyflame.index_get")
        self.indexed_writes: Any = _NotLoaded("pyflame.indexed_writes")
        self.inplace: Any = _NotLoaded("pyflame.inplace")
        self.data_dependent: Any = _NotLoaded("pyflame.data_dependent")
        self.linalg: Any = _NotLoaded("pyflame.linalg")
        self.special: Any = _NotLoaded("pyflame.special")


BOUND = _Bound()


def bind(name: str, module: ModuleType) -> None:
    """Called by `pyflame.ops`, `pyflame.runtime`, `pyflame.autograd`, `pyflame.indexing`,
    `pyflame.index_get`, `pyflame.indexed_writes` and `pyflame.inplace` when imported."""
    if name not in vars(BOUND):
        raise ValueError(f"unknown Tensor method module {name!r}")
    setattr(BOUND, name, module)


class OpMethods:
    """The methods of `pf.Tensor` that build ops (every one a call of `pf.<name>`)."""

    # ---------------------------------------------------------------- arithmetic operators

    def __add__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.AddOp, self, other)

    def __radd__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.AddOp, other, self)

    def __sub__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.SubOp, self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.SubOp, other, self)

    def __mul__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.MulOp, self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.MulOp, other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.DivOp, self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        """`number / x` is PyTorch's `x.reciprocal() * number` (torch/_tensor.py's
        __rdiv__: two roundings, the number at float32 precision for a half x)."""
        if not isinstance(other, numbers.Real):  # numpy's number types are Reals too
            return BOUND.ops.binary(flame.DivOp, other, self)
        reciprocal = BOUND.ops.binary(flame.DivOp, 1, self)
        return reciprocal if other == 1 else BOUND.ops.binary(flame.MulOp, reciprocal, other)

    def __neg__(self) -> Tensor:
        return BOUND.ops.neg(self)

    def __abs__(self) -> Tensor:
        return BOUND.ops.abs(self)

    def __floordiv__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.FloorDivideOp, self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.FloorDivideOp, other, self)

    def __mod__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.RemainderOp, self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.RemainderOp, other, self)

    def __pow__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.PowOp, self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.PowOp, other, self)

    def __matmul__(self, other: Any) -> Tensor:
        if not isinstance(other, OpMethods):
            return NotImplemented
        return BOUND.ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        if not isinstance(other, OpMethods):
            return NotImplemented
        return BOUND.ops.matmul(other, self)

    # ---------------------------------------------------------------- comparisons, logic
    # comparisons give bool tensors, as in PyTorch (so Tensors hash by identity)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]  # a tensor, not a bool
        return BOUND.ops.binary(flame.EqOp, self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]  # a tensor, not a bool
        return BOUND.ops.binary(flame.NeOp, self, other)

    def __lt__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.LtOp, self, other)

    def __le__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.LeOp, self, other)

    def __gt__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.GtOp, self, other)

    def __ge__(self, other: Any) -> Tensor:
        return BOUND.ops.binary(flame.GeOp, self, other)

    __hash__ = object.__hash__

    # `&`, `|`, `^`, `~`: logical on bool tensors, bitwise on integers (as in PyTorch)

    def __and__(self, other: Any) -> Tensor:
        return BOUND.ops.operator(BOUND.ops.bitwise_and, self, other)

    def __rand__(self, other: Any) -> Tensor:
        return BOUND.ops.operator(BOUND.ops.bitwise_and, other, self)

    def __or__(self, other: Any) -> Tensor:
        return BOUND.ops.operator(BOUND.ops.bitwise_or, self, other)

    def __ror__(self, other: Any) -> Tensor:
        return BOUND.ops.operator(BOUND.ops.bitwise_or, other, self)

    def __xor__(self, other: Any) -> Tensor:
        return BOUND.ops.operator(BOUND.ops.bitwise_xor, self, other)

    def __rxor__(self, other: Any) -> Tensor:
        return BOUND.ops.operator(BOUND.ops.bitwise_xor, other, self)

    def __lshift__(self, other: Any) -> Tensor:
        return BOUND.ops.operator(BOUND.ops.bitwise_left_shift, self, other)

    def __rlshift__(self, other: Any) -> Tensor:
        return BOUND.ops.operator(BOUND.ops.bitwise_left_shift, other, self)

    def __rshift__(self, other: Any) -> Tensor:
        return BOUND.ops.operator(BOUND.ops.bitwise_right_shift, self, other)

    def __rrshift__(self, other: Any) -> Tensor:
        return BOUND.ops.operator(BOUND.ops.bitwise_right_shift, other, self)

    def __invert__(self) -> Tensor:
        if self.dtype.is_floating_point:  # type: ignore[attr-defined]  # (a Tensor's)
            raise TypeError(
                "~ (operator.invert) is only implemented on integer and Boolean-type tensors"
            )
        return BOUND.ops.bitwise_not(self)

    # ---------------------------------------------------------------- elementwise functions
    # one method per row of pyflame.core.elementwise (tests/unit/test_tensor_methods.py checks it)

    def add(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return BOUND.ops.add(self, other, alpha=alpha)

    def sub(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return BOUND.ops.sub(self, other, alpha=alpha)

    def mul(self, other: Any) -> Tensor:
        return BOUND.ops.mul(self, other)

    def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        return BOUND.ops.div(self, other, rounding_mode=rounding_mode)

    def floor_divide(self, other: Any) -> Tensor:
        return BOUND.ops.floor_divide(self, other)

    def remainder(self, other: Any) -> Tensor:
        return BOUND.ops.remainder(self, other)

    def fmod(self, other: Any) -> Tensor:
        return BOUND.ops.fmod(self, other)

    def pow(self, other: Any) -> Tensor:
        return BOUND.ops.pow(self, other)

    def maximum(self, other: Any) -> Tensor:
        return BOUND.ops.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return BOUND.ops.minimum(self, other)

    def eq(self, other: Any) -> Tensor:
        return BOUND.ops.eq(self, other)

    def ne(self, other: Any) -> Tensor:
        return BOUND.ops.ne(self, other)

    def lt(self, other: Any) -> Tensor:
        return BOUND.ops.lt(self, other)

    def le(self, other: Any) -> Tensor:
        return BOUND.ops.le(self, other)

    def gt(self, other: Any) -> Tensor:
        return BOUND.ops.gt(self, other)

    def ge(self, other: Any) -> Tensor:
        return BOUND.ops.ge(self, other)

    def logical_and(self, other: Any) -> Tensor:
        return BOUND.ops.logical_and(self, other)

    def logical_or(self, other: Any) -> Tensor:
        return BOUND.ops.logical_or(self, other)

    def logical_xor(self, other: Any) -> Tensor:
        return BOUND.ops.logical_xor(self, other)

    def bitwise_and(self, other: Any) -> Tensor:
        return BOUND.ops.bitwise_and(self, other)

    def bitwise_or(self, other: Any) -> Tensor:
        return BOUND.ops.bitwise_or(self, other)

    def bitwise_xor(self, other: Any) -> Tensor:
        return BOUND.ops.bitwise_xor(self, other)

    def bitwise_not(self) -> Tensor:
        return BOUND.ops.bitwise_not(self)

    def bitwise_left_shift(self, other: Any) -> Tensor:
        return BOUND.ops.bitwise_left_shift(self, other)

    def bitwise_right_shift(self, other: Any) -> Tensor:
        return BOUND.ops.bitwise_right_shift(self, other)

    def neg(self) -> Tensor:
        return BOUND.ops.neg(self)

    def abs(self) -> Tensor:
        return BOUND.ops.abs(self)

    def relu(self) -> Tensor:
        return BOUND.ops.relu(self)

    def exp(self) -> Tensor:
        return BOUND.ops.exp(self)

    def log(self) -> Tensor:
        return BOUND.ops.log(self)

    def sqrt(self) -> Tensor:
        return BOUND.ops.sqrt(self)

    def rsqrt(self) -> Tensor:
        return BOUND.ops.rsqrt(self)

    def tanh(self) -> Tensor:
        return BOUND.ops.tanh(self)

    def sigmoid(self) -> Tensor:
        return BOUND.ops.sigmoid(self)

    def gelu(self) -> Tensor:
        return BOUND.ops.gelu(self)

    def silu(self) -> Tensor:
        return BOUND.ops.silu(self)

    def logical_not(self) -> Tensor:
        return BOUND.ops.logical_not(self)

    def sin(self) -> Tensor:
        return BOUND.ops.sin(self)

    def cos(self) -> Tensor:
        return BOUND.ops.cos(self)

    def erf(self) -> Tensor:
        return BOUND.ops.erf(self)

    def floor(self) -> Tensor:
        return BOUND.ops.floor(self)

    def round(self, *, decimals: int = 0) -> Tensor:
        return BOUND.ops.round(self, decimals=decimals)

    def sign(self) -> Tensor:
        return BOUND.ops.sign(self)

    def log1p(self) -> Tensor:
        return BOUND.ops.log1p(self)

    def expm1(self) -> Tensor:
        return BOUND.ops.expm1(self)

    def signbit(self) -> Tensor:
        return BOUND.ops.signbit(self)

    def exp2(self) -> Tensor:
        return BOUND.ops.exp2(self)

    def log2(self) -> Tensor:
        return BOUND.ops.log2(self)

    def log10(self) -> Tensor:
        return BOUND.ops.log10(self)

    def tan(self) -> Tensor:
        return BOUND.ops.tan(self)

    def asin(self) -> Tensor:
        return BOUND.ops.asin(self)

    def acos(self) -> Tensor:
        return BOUND.ops.acos(self)

    def atan(self) -> Tensor:
        return BOUND.ops.atan(self)

    def sinh(self) -> Tensor:
        return BOUND.ops.sinh(self)

    def cosh(self) -> Tensor:
        return BOUND.ops.cosh(self)

    def asinh(self) -> Tensor:
        return BOUND.ops.asinh(self)

    def acosh(self) -> Tensor:
        return BOUND.ops.acosh(self)

    def atanh(self) -> Tensor:
        return BOUND.ops.atanh(self)

    def erfinv(self) -> Tensor:
        return BOUND.ops.erfinv(self)

    def sinc(self) -> Tensor:
        return BOUND.ops.sinc(self)

    def hardshrink(self, lambd: float = 0.5) -> Tensor:
        return BOUND.ops.hardshrink(self, lambd)

    def deg2rad(self) -> Tensor:
        return BOUND.ops.deg2rad(self)

    def rad2deg(self) -> Tensor:
        return BOUND.ops.rad2deg(self)

    def arcsin(self) -> Tensor:
        return BOUND.ops.arcsin(self)

    def arccos(self) -> Tensor:
        return BOUND.ops.arccos(self)

    def arctan(self) -> Tensor:
        return BOUND.ops.arctan(self)

    def arcsinh(self) -> Tensor:
        return BOUND.ops.arcsinh(self)

    def arccosh(self) -> Tensor:
        return BOUND.ops.arccosh(self)

    def arctanh(self) -> Tensor:
        return BOUND.ops.arctanh(self)

    def logit(self, eps: float | None = None) -> Tensor:
        return BOUND.ops.logit(self, eps)

    def atan2(self, other: Any) -> Tensor:
        return BOUND.ops.atan2(self, other)

    def arctan2(self, other: Any) -> Tensor:
        return BOUND.ops.arctan2(self, other)

    def hypot(self, other: Any) -> Tensor:
        return BOUND.ops.hypot(self, other)

    def nextafter(self, other: Any) -> Tensor:
        return BOUND.ops.nextafter(self, other)

    def xlogy(self, other: Any) -> Tensor:
        return BOUND.ops.xlogy(self, other)

    def logaddexp(self, other: Any) -> Tensor:
        return BOUND.ops.logaddexp(self, other)

    def logaddexp2(self, other: Any) -> Tensor:
        return BOUND.ops.logaddexp2(self, other)

    def copysign(self, other: Any) -> Tensor:
        return BOUND.ops.copysign(self, other)

    def heaviside(self, values: Any) -> Tensor:
        return BOUND.ops.heaviside(self, values)

    def true_divide(self, other: Any) -> Tensor:
        return BOUND.ops.true_divide(self, other)

    def trunc(self) -> Tensor:
        return BOUND.ops.trunc(self)

    def isnan(self) -> Tensor:
        return BOUND.ops.isnan(self)

    def isinf(self) -> Tensor:
        return BOUND.ops.isinf(self)

    def isposinf(self) -> Tensor:
        return BOUND.ops.isposinf(self)

    def isneginf(self) -> Tensor:
        return BOUND.ops.isneginf(self)

    def isfinite(self) -> Tensor:
        return BOUND.ops.isfinite(self)

    def isclose(
        self, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
    ) -> Tensor:
        return BOUND.ops.isclose(self, other, rtol, atol, equal_nan)

    def allclose(
        self, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
    ) -> bool:
        return bool(BOUND.ops.allclose(self, other, rtol, atol, equal_nan))

    def equal(self, other: Tensor) -> bool:
        return bool(BOUND.ops.equal(self, other))

    def ceil(self) -> Tensor:
        return BOUND.ops.ceil(self)

    def square(self) -> Tensor:
        return BOUND.ops.square(self)

    def reciprocal(self) -> Tensor:
        return BOUND.ops.reciprocal(self)

    def clamp_min(self, min: Any) -> Tensor:
        return BOUND.ops.clamp_min(self, min)

    def frac(self) -> Tensor:
        return BOUND.ops.frac(self)

    def lerp(self, end: Tensor, weight: Any) -> Tensor:
        return BOUND.ops.lerp(self, end, weight)

    def dot(self, other: Tensor) -> Tensor:
        return BOUND.ops.dot(self, other)

    def mv(self, vec: Tensor) -> Tensor:
        return BOUND.ops.mv(self, vec)

    def count_nonzero(self, dim: Any = None) -> Tensor:
        return BOUND.ops.count_nonzero(self, dim)

    def tile(self, *dims: Any) -> Tensor:
        return BOUND.ops.tile(self, dims[0] if len(dims) == 1 else dims)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        return BOUND.ops.unbind(self, dim)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        return BOUND.ops.diagonal(self, offset, dim1, dim2)

    def diag(self, diagonal: int = 0) -> Tensor:
        return BOUND.ops.diag(self, diagonal)

    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
        return BOUND.ops.diag_embed(self, offset, dim1, dim2)

    def diagonal_scatter(
        self, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1
    ) -> Tensor:
        return BOUND.ops.diagonal_scatter(self, src, offset, dim1, dim2)

    def trace(self) -> Tensor:
        return BOUND.ops.trace(self)

    def clamp_max(self, max: Any) -> Tensor:
        return BOUND.ops.clamp_max(self, max)

    def nan_to_num(
        self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
    ) -> Tensor:
        return BOUND.ops.nan_to_num(self, nan, posinf, neginf)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        return BOUND.ops.clamp(self, min, max)

    clip = clamp

    def where(self, condition: Tensor, other: Any) -> Tensor:
        """`x.where(cond, y)` is `pf.where(cond, x, y)`, as in PyTorch."""
        return BOUND.ops.where(condition, self, other)

    # ---------------------------------------------------------------- reductions
    # x.max(), x.max(dim) -> (values, indices), x.amax(dim), x.var(dim), x.softmax(dim), ...

    def sum(self, *args: Any, **kwargs: Any) -> Tensor:
        """`pf.sum(x, dim=None, keepdim=False, *, dtype=None)` (also `axis=`, `keepdims=`)."""
        return BOUND.ops.sum(self, *args, **kwargs)

    def mean(self, *args: Any, **kwargs: Any) -> Tensor:
        """`pf.mean(x, dim=None, keepdim=False, *, dtype=None)` (also `axis=`, `keepdims=`)."""
        return BOUND.ops.mean(self, *args, **kwargs)

    def prod(self, *args: Any, **kwargs: Any) -> Tensor:
        return BOUND.ops.prod(self, *args, **kwargs)

    def max(self, *args: Any, **kwargs: Any) -> Any:
        """`pf.max(x, ...)`: a tensor, or (values, indices) along a dim."""
        return BOUND.ops.max_(self, *args, **kwargs)

    def min(self, *args: Any, **kwargs: Any) -> Any:
        """`pf.min(x, ...)`: a tensor, or (values, indices) along a dim."""
        return BOUND.ops.min_(self, *args, **kwargs)

    def amax(self, *args: Any, **kwargs: Any) -> Tensor:
        return BOUND.ops.amax(self, *args, **kwargs)

    def amin(self, *args: Any, **kwargs: Any) -> Tensor:
        return BOUND.ops.amin(self, *args, **kwargs)

    def argmax(self, *args: Any, **kwargs: Any) -> Tensor:
        return BOUND.ops.argmax(self, *args, **kwargs)

    def argmin(self, *args: Any, **kwargs: Any) -> Tensor:
        return BOUND.ops.argmin(self, *args, **kwargs)

    def var(self, *args: Any, **kwargs: Any) -> Tensor:
        return BOUND.ops.var(self, *args, **kwargs)

    def std(self, *args: Any, **kwargs: Any) -> Tensor:
        return BOUND.ops.std(self, *args, **kwargs)

    def logsumexp(self, *args: Any, **kwargs: Any) -> Tensor:
        return BOUND.ops.logsumexp(self, *args, **kwargs)

    def softmax(self, *args: Any, **kwargs: Any) -> Tensor:
        return BOUND.ops.softmax(self, *args, **kwargs)

    def log_softmax(self, *args: Any, **kwargs: Any) -> Tensor:
        return BOUND.ops.log_softmax(self, *args, **kwargs)

    # ---------------------------------------------------------------- linear algebra, sampling

    def matmul(self, other: Tensor) -> Tensor:
        return BOUND.ops.matmul(self, other)

    def bmm(self, other: Tensor) -> Tensor:
        """`pf.bmm(x, other)`."""
        return BOUND.ops.bmm(self, other)

    def bernoulli(self, p: float | None = None, *, seed: int | None = None) -> Tensor:
        """`pf.bernoulli(x, p, seed=seed)`."""
        return BOUND.ops.bernoulli(self, p, seed=seed)

    # ---------------------------------------------------------------- shape

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return BOUND.ops.transpose(self, dim0, dim1)

    def flip(self, *dims: Any) -> Tensor:
        return BOUND.ops.flip(self, dims[0] if len(dims) == 1 else dims)

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        return BOUND.ops.roll(self, shifts, dims)

    def repeat(self, *sizes: Any) -> Tensor:
        return BOUND.ops.repeat(self, *sizes)

    def tril(self, diagonal: int = 0) -> Tensor:
        return BOUND.ops.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return BOUND.ops.triu(self, diagonal)

    def masked_fill(self, mask: Tensor, value: Any) -> Tensor:
        return BOUND.ops.masked_fill(self, mask, value)

    def masked_scatter(self, mask: Tensor, source: Tensor) -> Tensor:
        return BOUND.indexed_writes.masked_scatter(self, mask, source)

    def outer(self, other: Tensor) -> Tensor:
        return BOUND.ops.outer(self, other)

    def addmm(self, mat1: Tensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
        return BOUND.ops.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def any(self, *args: Any, **kwargs: Any) -> Tensor:
        return BOUND.ops.any(self, *args, **kwargs)

    def all(self, *args: Any, **kwargs: Any) -> Tensor:
        return BOUND.ops.all(self, *args, **kwargs)

    def norm(
        self,
        p: float | str | None = "fro",
        dim: int | Sequence[int] | None = None,
        keepdim: bool = False,
        dtype: Any = None,
    ) -> Tensor:
        return BOUND.ops.norm(self, p, dim, keepdim, dtype)

    def cumsum(self, dim: int, *, dtype: Any = None) -> Tensor:
        return BOUND.ops.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim: int, *, dtype: Any = None) -> Tensor:
        return BOUND.ops.cumprod(self, dim, dtype=dtype)

    def logcumsumexp(self, dim: int) -> Tensor:
        return BOUND.ops.logcumsumexp(self, dim)

    def cummax(self, dim: int) -> Any:
        return BOUND.ops.cummax(self, dim)

    def cummin(self, dim: int) -> Any:
        return BOUND.ops.cummin(self, dim)

    def median(self, dim: Any = None, keepdim: bool = False) -> Any:
        return BOUND.ops.median(self, dim, keepdim)

    def nanmedian(self, dim: Any = None, keepdim: bool = False) -> Any:
        return BOUND.ops.nanmedian(self, dim, keepdim)

    def sort(self, *args: Any, **kwargs: Any) -> Any:
        # (dim=-1, descending=False) or (*, stable, dim=-1, descending=False), as PyTorch's
        return BOUND.ops.sort(self, *args, **kwargs)

    def argsort(self, *args: Any, **kwargs: Any) -> Tensor:
        return BOUND.ops.argsort(self, *args, **kwargs)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        return BOUND.ops.topk(self, k, dim, largest, sorted)

    def gather(self, dim: int, index: Tensor) -> Tensor:
        return BOUND.indexing.gather(self, dim, index)

    def index_select(self, dim: int, index: Tensor) -> Tensor:
        return BOUND.indexing.index_select(self, dim, index)

    def take_along_dim(self, indices: Tensor, dim: int | None = None) -> Tensor:
        return BOUND.indexing.take_along_dim(self, indices, dim)

    def unfold(self, dimension: int, size: int, step: int) -> Tensor:
        return BOUND.ops.unfold(self, dimension, size, step)

    def scatter(
        self, dim: int, index: Tensor, src: Any = None, *, value: Any = None, reduce: Any = None
    ) -> Tensor:
        return BOUND.indexed_writes.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_add(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        return BOUND.indexed_writes.scatter_add(self, dim, index, src)

    def scatter_reduce(
        self, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True
    ) -> Tensor:
        return BOUND.indexed_writes.scatter_reduce(
            self, dim, index, src, reduce, include_self=include_self
        )

    def index_put(self, indices: Any, values: Tensor, accumulate: bool = False) -> Tensor:
        return BOUND.indexed_writes.index_put(self, indices, values, accumulate)

    def index_add(self, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
        return BOUND.indexed_writes.index_add(self, dim, index, source, alpha=alpha)

    def index_copy(self, dim: int, index: Tensor, source: Tensor) -> Tensor:
        return BOUND.indexed_writes.index_copy(self, dim, index, source)

    def index_fill(self, dim: int, index: Tensor, value: Any) -> Tensor:
        return BOUND.indexed_writes.index_fill(self, dim, index, value)

    def repeat_interleave(
        self, repeats: Any, dim: int | None = None, *, output_size: int | None = None
    ) -> Tensor:
        return BOUND.indexing.repeat_interleave(self, repeats, dim, output_size=output_size)

    def permute(self, *dims: Any) -> Tensor:
        return BOUND.ops.permute(self, *dims)

    def reshape(self, *shape: Any) -> Tensor:
        return BOUND.ops.reshape(self, *shape)

    def view(self, *shape: Any) -> Tensor:
        return BOUND.ops.reshape(self, *shape)

    def __getitem__(self, key: Any) -> Tensor:
        """Basic indexing (`x[1:7:2, ::3]`, `x[..., -1]`, `x[:, None]`: a view) and advanced
        indexing (`x[[0, 2]]`, `x[idx]`, `x[:, i, j]`, `x[mask]`: a copy, pyflame/index_get.py)."""
        if _basic_key(key):
            return BOUND.ops.getitem(self, key)
        return BOUND.index_get.getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        """`x[mask] = 0`, `x[:, 1:3] = v`, `x[0] = 1.5`, `cache[:, t] = k` (t a 0-d int tensor):
        x becomes a new version in the graph (pyflame/inplace.py, pyflame/index_set.py)."""
        BOUND.inplace.setitem(self, key, value)

    def unsqueeze(self, dim: int) -> Tensor:
        return BOUND.ops.unsqueeze(self, dim)

    def squeeze(self, dim: int | Sequence[int] | None = None) -> Tensor:
        return BOUND.ops.squeeze(self, dim)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return BOUND.ops.flatten(self, start_dim, end_dim)

    def expand(self, *sizes: Any) -> Tensor:
        return BOUND.ops.expand(self, *sizes)

    def expand_as(self, other: Tensor) -> Tensor:
        return BOUND.ops.expand_as(self, other)

    def view_as(self, other: Tensor) -> Tensor:
        return BOUND.ops.reshape(self, *other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return BOUND.ops.reshape(self, *other.shape)

    def movedim(self, source: Any, destination: Any) -> Tensor:
        return BOUND.ops.movedim(self, source, destination)

    moveaxis = movedim

    def swapaxes(self, axis0: int, axis1: int) -> Tensor:
        return BOUND.ops.swapaxes(self, axis0, axis1)

    swapdims = swapaxes

    @property
    def mT(self) -> Tensor:  # noqa: N802 (PyTorch's name)
        """The last two dims swapped (torch.Tensor.mT; at least 2 dims)."""
        ndim = len(cast("Tensor", self).shape)
        if ndim < 2:
            raise RuntimeError(
                f"tensor.mT is only supported on matrices or batches of matrices. Got "
                f"{ndim}-D tensor."
            )
        return BOUND.ops.transpose(self, -2, -1)

    def new_full(
        self,
        size: Any,
        fill_value: Any,
        *,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
    ) -> Tensor:
        """A tensor of `size` filled with `fill_value`, in this tensor's dtype unless `dtype`
        is given (torch.Tensor.new_full; `device=` changes nothing, as the creation ops')."""
        dtype = dtype or cast("Tensor", self).dtype
        return BOUND.ops.full(
            size, fill_value, dtype=dtype, device=device, requires_grad=requires_grad
        )

    def new_zeros(
        self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        shape = size[0] if len(size) == 1 and not isinstance(size[0], int) else size
        return self.new_full(shape, 0, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_ones(
        self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        shape = size[0] if len(size) == 1 and not isinstance(size[0], int) else size
        return self.new_full(shape, 1, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_empty(
        self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        """`new_zeros` (PyTorch leaves the values uninitialised; see `pf.empty`)."""
        shape = size[0] if len(size) == 1 and not isinstance(size[0], int) else size
        return self.new_full(shape, 0, dtype=dtype, device=device, requires_grad=requires_grad)

    @property
    def device(self) -> Any:
        """`device(type='wse')`: every tensor lives on the wafer (pyflame/devices.py); pass it
        wherever PyTorch takes a device (`pf.zeros(3, device=x.device)`, `y.to(x.device)`)."""
        return WAFER

    def broadcast_to(self, *size: Any) -> Tensor:
        return BOUND.ops.broadcast_to(self, *size)

    def split(self, split_size: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
        return BOUND.ops.split(self, split_size, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return BOUND.ops.chunk(self, chunks, dim)

    def narrow(self, dim: int, start: int | Tensor, length: int) -> Tensor:
        return BOUND.indexing.narrow(self, dim, start, length)

    # ---------------------------------------------------------------- torch's aliases

    def negative(self) -> Tensor:
        return BOUND.ops.neg(self)

    def absolute(self) -> Tensor:
        return BOUND.ops.abs(self)

    def multiply(self, other: Any) -> Tensor:
        return BOUND.ops.mul(self, other)

    def divide(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        return BOUND.ops.div(self, other, rounding_mode=rounding_mode)

    def subtract(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return BOUND.ops.sub(self, other, alpha=alpha)

    def greater(self, other: Any) -> Tensor:
        return BOUND.ops.gt(self, other)

    def greater_equal(self, other: Any) -> Tensor:
        return BOUND.ops.ge(self, other)

    def less(self, other: Any) -> Tensor:
        return BOUND.ops.lt(self, other)

    def less_equal(self, other: Any) -> Tensor:
        return BOUND.ops.le(self, other)

    def not_equal(self, other: Any) -> Tensor:
        return BOUND.ops.ne(self, other)

    def sgn(self) -> Tensor:
        return BOUND.ops.sgn(self)

    def positive(self) -> Tensor:
        return BOUND.ops.positive(self)

    def fix(self) -> Tensor:
        return BOUND.ops.fix(self)

    def fmax(self, other: Any) -> Tensor:
        return BOUND.ops.fmax(self, other)

    def fmin(self, other: Any) -> Tensor:
        return BOUND.ops.fmin(self, other)

    def ldexp(self, other: Any) -> Tensor:
        return BOUND.ops.ldexp(self, other)

    def frexp(self) -> Any:
        return BOUND.ops.frexp(self)

    def float_power(self, exponent: Any) -> Tensor:
        return BOUND.ops.float_power(self, exponent)

    def gcd(self, other: Any) -> Tensor:
        return BOUND.ops.gcd(self, other)

    def i0(self) -> Tensor:
        return BOUND.ops.i0(self)

    def i0_(self) -> Tensor:
        return BOUND.inplace.i0_(self)

    def erfc(self) -> Tensor:
        return BOUND.ops.erfc(self)

    def erfc_(self) -> Tensor:
        return BOUND.inplace.erfc_(self)

    def lgamma(self) -> Tensor:
        return BOUND.ops.lgamma(self)

    def lgamma_(self) -> Tensor:
        return BOUND.inplace.lgamma_(self)

    def digamma(self) -> Tensor:
        return BOUND.ops.digamma(self)

    def digamma_(self) -> Tensor:
        return BOUND.inplace.digamma_(self)

    def polygamma(self, n: int) -> Tensor:
        return BOUND.ops.polygamma(n, self)

    def polygamma_(self, n: int) -> Tensor:
        return BOUND.inplace.polygamma_(self, n)

    def lcm(self, other: Any) -> Tensor:
        return BOUND.ops.lcm(self, other)

    def gcd_(self, other: Any) -> Tensor:
        return BOUND.inplace.gcd_(self, other)

    def lcm_(self, other: Any) -> Tensor:
        return BOUND.inplace.lcm_(self, other)

    def isin(
        self, test_elements: Any, *, assume_unique: bool = False, invert: bool = False
    ) -> Tensor:
        return BOUND.ops.isin(self, test_elements, invert=invert)

    # ---------------------------------------------------------------- real-only complex API
    # (PyFlame has no complex dtypes: conjugation is the identity, as PyTorch's on real tensors)

    def conj(self) -> Tensor:
        return cast("Tensor", self)

    def resolve_conj(self) -> Tensor:
        return cast("Tensor", self)

    def resolve_neg(self) -> Tensor:
        return cast("Tensor", self)

    def is_conj(self) -> bool:
        return False

    def is_neg(self) -> bool:
        return False

    def is_complex(self) -> bool:
        return False

    def is_floating_point(self) -> bool:
        return cast("Tensor", self).dtype.is_floating_point

    def is_signed(self) -> bool:
        """Every PyFlame dtype but bool is signed (PyTorch: also not uint8)."""
        return cast("Tensor", self).dtype.name != "bool"

    @property
    def H(self) -> Tensor:  # noqa: N802 (PyTorch's name)
        """The (conjugate) transpose of a matrix; a 0-/1-D tensor itself, as PyTorch."""
        me = cast("Tensor", self)
        if me.ndim > 2:
            raise RuntimeError(
                f"tensor.H is only supported on matrices (2-D tensors). Got {me.ndim}-D tensor."
            )
        return me if me.ndim < 2 else BOUND.ops.transpose(me, 0, 1)

    @property
    def mH(self) -> Tensor:  # noqa: N802 (PyTorch's name)
        """mT (real dtypes: no conjugate)."""
        return self.mT

    def adjoint(self) -> Tensor:
        return self.mT

    # ---------------------------------------------------------------- sizes

    def nelement(self) -> int:
        return cast("Tensor", self).numel()

    def ndimension(self) -> int:
        return cast("Tensor", self).ndim

    def element_size(self) -> int:
        """Bytes per element as PyFlame holds it (int64 is held as int32: 4)."""
        return cast("Tensor", self).dtype.itemsize

    @property
    def itemsize(self) -> int:
        return cast("Tensor", self).dtype.itemsize

    @property
    def nbytes(self) -> int:
        me = cast("Tensor", self)
        return me.numel() * me.dtype.itemsize

    def is_same_size(self, other: Tensor) -> bool:
        return cast("Tensor", self).shape == other.shape

    def stride(self, dim: int | None = None) -> Any:
        """PyTorch's strides of this tensor over its storage (views keep their base's, as
        PyFlame tracks them to decide which reshapes alias: pyflame/core/strides.py)."""
        return BOUND.ops.stride(self, dim)

    def is_contiguous(self, memory_format: Any = None) -> bool:
        """Whether the strides are the row-major ones of the shape (size-1 dims ignored, as
        PyTorch's)."""
        me = cast("Tensor", self)
        mine = BOUND.ops.strides_of(self)
        dense = strides.contiguous(me.shape)
        return me.numel() == 0 or all(
            n == 1 or a == b for n, a, b in zip(me.shape, mine, dense, strict=True)
        )

    def sum_to_size(self, *size: Any) -> Tensor:
        """This tensor summed down to `size`, which must broadcast to its shape (the
        gradient of a broadcast: torch.Tensor.sum_to_size)."""
        return BOUND.ops.sum_to_size(self, *size)

    def new_tensor(self, data: Any, dtype: Any = None, **kwargs: Any) -> Tensor:
        """`pf.tensor(data)` in this tensor's dtype (or `dtype`), as torch.Tensor.new_tensor."""
        me = cast("Tensor", self)
        return BOUND.ops.tensor(data, dtype=me.dtype if dtype is None else dtype, **kwargs)

    def is_nonzero(self) -> bool:
        me = cast("Tensor", self)
        if me.numel() != 1:
            many = "more than one value" if me.numel() else "no values"
            raise RuntimeError(f"Boolean value of Tensor with {many} is ambiguous")
        return bool(me.item())

    def double(self) -> Tensor:
        return BOUND.ops.refuse_dtype(self, "double", "float64", "x.float()")

    def byte(self) -> Tensor:
        return BOUND.ops.refuse_dtype(self, "byte", "uint8", "x.int() or x.bool()")

    def char(self) -> Tensor:
        return BOUND.ops.refuse_dtype(self, "char", "int8", "x.int()")

    def short(self) -> Tensor:
        return BOUND.ops.refuse_dtype(self, "short", "int16", "x.int()")

    # ---------------------------------------------------------------- linear algebra (pf.linalg)

    def det(self) -> Tensor:
        return BOUND.linalg.det(self)

    def logdet(self) -> Tensor:
        return BOUND.linalg.logdet(self)

    def slogdet(self) -> Any:
        return BOUND.linalg.slogdet(self)

    def inverse(self) -> Tensor:
        return BOUND.linalg.inv(self)

    def cholesky(self, upper: bool = False) -> Tensor:
        return BOUND.linalg.torch_cholesky(self, upper=upper)

    def matrix_power(self, n: int) -> Tensor:
        return BOUND.linalg.matrix_power(self, n)

    def mvlgamma(self, p: int) -> Tensor:
        return BOUND.special.multigammaln(self, p)

    def mvlgamma_(self, p: int) -> Tensor:
        return BOUND.inplace.apply_(self, lambda x: BOUND.special.multigammaln(x, p), "Mvlgamma")

    def addmm_(self, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return BOUND.inplace.apply_(
            self, lambda x: BOUND.ops.addmm(x, mat1, mat2, beta=beta, alpha=alpha), "Addmm"
        )

    def baddbmm_(self, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return BOUND.inplace.apply_(
            self, lambda x: BOUND.ops.baddbmm(x, batch1, batch2, beta=beta, alpha=alpha), "Baddbmm"
        )

    def addbmm_(self, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return BOUND.inplace.apply_(
            self, lambda x: BOUND.ops.addbmm(x, batch1, batch2, beta=beta, alpha=alpha), "Addbmm"
        )

    def addmv_(self, mat: Tensor, vec: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return BOUND.inplace.apply_(
            self, lambda x: BOUND.ops.addmv(x, mat, vec, beta=beta, alpha=alpha), "Addmv"
        )

    def addr_(self, vec1: Tensor, vec2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return BOUND.inplace.apply_(
            self, lambda x: BOUND.ops.addr(x, vec1, vec2, beta=beta, alpha=alpha), "Addr"
        )

    def renorm_(self, p: float, dim: int, maxnorm: float) -> Tensor:
        return BOUND.inplace.apply_(self, lambda x: BOUND.ops.renorm(x, p, dim, maxnorm), "Renorm")

    def isreal(self) -> Tensor:
        """True everywhere: PyFlame's dtypes are real (torch.isreal)."""
        return BOUND.ops.ones_like(self, dtype="bool")

    @property
    def real(self) -> Tensor:
        """x itself (real dtypes), as torch's x.real of a real tensor."""
        return cast("Tensor", self)

    def narrow_copy(self, dim: int, start: int, length: int) -> Tensor:
        return BOUND.inplace.clone(BOUND.ops.narrow(self, dim, start, length))

    def unsafe_chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return BOUND.ops.chunk(self, chunks, dim)

    def unsafe_split(self, split_size: int, dim: int = 0) -> tuple[Tensor, ...]:
        return BOUND.ops.split(self, split_size, dim)

    def unsafe_split_with_sizes(
        self, split_sizes: Sequence[int], dim: int = 0
    ) -> tuple[Tensor, ...]:
        return BOUND.ops.split(self, list(split_sizes), dim)

    # ---------------------------------------------------------------- linear algebra helpers

    def mm(self, mat2: Tensor) -> Tensor:
        return BOUND.ops.mm(self, mat2)

    def baddbmm(self, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return BOUND.ops.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def addbmm(self, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return BOUND.ops.addbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def addmv(self, mat: Tensor, vec: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return BOUND.ops.addmv(self, mat, vec, beta=beta, alpha=alpha)

    def addr(self, vec1: Tensor, vec2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return BOUND.ops.addr(self, vec1, vec2, beta=beta, alpha=alpha)

    def vdot(self, other: Tensor) -> Tensor:
        return BOUND.ops.vdot(self, other)

    def ger(self, vec2: Tensor) -> Tensor:
        return BOUND.ops.ger(self, vec2)

    def inner(self, other: Tensor) -> Tensor:
        return BOUND.ops.inner(self, other)

    def kron(self, other: Tensor) -> Tensor:
        return BOUND.ops.kron(self, other)

    def cross(self, other: Tensor, dim: int | None = None) -> Tensor:
        return BOUND.ops.cross(self, other, dim)

    def addcmul(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        return BOUND.ops.addcmul(self, tensor1, tensor2, value=value)

    def addcdiv(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        return BOUND.ops.addcdiv(self, tensor1, tensor2, value=value)

    def dist(self, other: Tensor, p: float = 2) -> Tensor:
        return BOUND.ops.dist(self, other, p)

    def renorm(self, p: float, dim: int, maxnorm: float) -> Tensor:
        return BOUND.ops.renorm(self, p, dim, maxnorm)

    # ---------------------------------------------------------------- statistics, searches

    def nansum(self, *args: Any, **kwargs: Any) -> Tensor:
        return BOUND.ops.nansum(self, *args, **kwargs)

    def nanmean(self, *args: Any, **kwargs: Any) -> Tensor:
        return BOUND.ops.nanmean(self, *args, **kwargs)

    def aminmax(self, *, dim: int | None = None, keepdim: bool = False) -> Any:
        return BOUND.ops.aminmax(self, dim=dim, keepdim=keepdim)

    def quantile(
        self, q: Any, dim: int | None = None, keepdim: bool = False, **kwargs: Any
    ) -> Tensor:
        return BOUND.ops.quantile(self, q, dim, keepdim, **kwargs)

    def nanquantile(
        self, q: Any, dim: int | None = None, keepdim: bool = False, **kwargs: Any
    ) -> Tensor:
        return BOUND.ops.nanquantile(self, q, dim, keepdim, **kwargs)

    def histc(self, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
        return BOUND.ops.histc(self, bins, min, max)

    def diff(self, n: int = 1, dim: int = -1, prepend: Any = None, append: Any = None) -> Tensor:
        return BOUND.ops.diff(self, n, dim, prepend, append)

    def cov(self, **kwargs: Any) -> Tensor:
        return BOUND.ops.cov(self, **kwargs)

    def corrcoef(self) -> Tensor:
        return BOUND.ops.corrcoef(self)

    def msort(self) -> Tensor:
        return BOUND.ops.msort(self)

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False) -> Any:
        return BOUND.ops.kthvalue(self, k, dim, keepdim)

    def take(self, index: Tensor) -> Tensor:
        return BOUND.index_get.take(self, index)

    def put(self, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
        return BOUND.indexed_writes.put(self, index, source, accumulate)

    def put_(self, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
        return BOUND.inplace.put_(self, index, source, accumulate)

    def index_reduce(
        self, dim: int, index: Tensor, source: Tensor, reduce: str, *, include_self: bool = True
    ) -> Tensor:
        return BOUND.indexed_writes.index_reduce(
            self, dim, index, source, reduce, include_self=include_self
        )

    def index_reduce_(
        self, dim: int, index: Tensor, source: Tensor, reduce: str, *, include_self: bool = True
    ) -> Tensor:
        return BOUND.inplace.index_reduce_(
            self, dim, index, source, reduce, include_self=include_self
        )

    def select_scatter(self, src: Tensor, dim: int, index: int) -> Tensor:
        return BOUND.indexed_writes.select_scatter(self, src, dim, index)

    def slice_scatter(
        self,
        src: Tensor,
        dim: int = 0,
        start: int | None = None,
        end: int | None = None,
        step: int = 1,
    ) -> Tensor:
        return BOUND.indexed_writes.slice_scatter(self, src, dim, start, end, step)

    # ---------------------------------------------------------------- data-dependent shapes

    def nonzero(self, *, as_tuple: bool = False) -> Any:
        return BOUND.data_dependent.nonzero(self, as_tuple=as_tuple)

    def argwhere(self) -> Tensor:
        return BOUND.data_dependent.argwhere(self)

    def masked_select(self, mask: Tensor) -> Tensor:
        return BOUND.data_dependent.masked_select(self, mask)

    def unique(
        self,
        sorted: bool = True,
        return_inverse: bool = False,
        return_counts: bool = False,
        dim: int | None = None,
    ) -> Any:
        return BOUND.data_dependent.unique(self, sorted, return_inverse, return_counts, dim)

    def unique_consecutive(
        self, return_inverse: bool = False, return_counts: bool = False, dim: int | None = None
    ) -> Any:
        return BOUND.data_dependent.unique_consecutive(self, return_inverse, return_counts, dim)

    def bincount(self, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
        return BOUND.data_dependent.bincount(self, weights, minlength)

    def histogram(self, bins: Any = 100, **kwargs: Any) -> Any:
        return BOUND.data_dependent.histogram(self, bins, **kwargs)

    def mode(self, dim: int = -1, keepdim: bool = False) -> Any:
        return BOUND.ops.mode(self, dim, keepdim)

    def diagflat(self, offset: int = 0) -> Tensor:
        return BOUND.ops.diagflat(self, offset)

    def prelu(self, weight: Tensor) -> Tensor:
        return BOUND.ops.prelu(self, weight)

    # ---------------------------------------------------------------- stacking, splitting

    def ravel(self) -> Tensor:
        return BOUND.ops.ravel(self)

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
        return BOUND.ops.unflatten(self, dim, sizes)

    def select(self, dim: int, index: int) -> Tensor:
        return BOUND.ops.select(self, dim, index)

    def tensor_split(self, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return BOUND.ops.tensor_split(self, indices_or_sections, dim)

    def hsplit(self, indices_or_sections: Any) -> tuple[Tensor, ...]:
        return BOUND.ops.hsplit(self, indices_or_sections)

    def vsplit(self, indices_or_sections: Any) -> tuple[Tensor, ...]:
        return BOUND.ops.vsplit(self, indices_or_sections)

    def dsplit(self, indices_or_sections: Any) -> tuple[Tensor, ...]:
        return BOUND.ops.dsplit(self, indices_or_sections)

    def split_with_sizes(self, split_sizes: Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
        """split with a list of sizes (torch's name for that form)."""
        return BOUND.ops.split(self, list(split_sizes), dim)

    def fliplr(self) -> Tensor:
        return BOUND.ops.fliplr(self)

    def flipud(self) -> Tensor:
        return BOUND.ops.flipud(self)

    def rot90(self, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
        return BOUND.ops.rot90(self, k, dims)

    # ---------------------------------------------------------------- in-place ops
    # functionalised (pyflame/inplace.py): the object takes a new value, aliases see it

    def add_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return BOUND.inplace.add_(self, other, alpha=alpha)

    def sub_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return BOUND.inplace.sub_(self, other, alpha=alpha)

    def mul_(self, other: Any) -> Tensor:
        return BOUND.inplace.mul_(self, other)

    def div_(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        return BOUND.inplace.div_(self, other, rounding_mode=rounding_mode)

    def floor_divide_(self, other: Any) -> Tensor:
        return BOUND.inplace.floor_divide_(self, other)

    def remainder_(self, other: Any) -> Tensor:
        return BOUND.inplace.remainder_(self, other)

    def fmod_(self, other: Any) -> Tensor:
        return BOUND.inplace.fmod_(self, other)

    def pow_(self, exponent: Any) -> Tensor:
        return BOUND.inplace.pow_(self, exponent)

    def __iadd__(self, other: Any) -> Tensor:
        return BOUND.inplace.add_(self, other)

    def __isub__(self, other: Any) -> Tensor:
        return BOUND.inplace.sub_(self, other)

    def __imul__(self, other: Any) -> Tensor:
        return BOUND.inplace.mul_(self, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return BOUND.inplace.div_(self, other)

    def __ipow__(self, other: Any) -> Tensor:
        return BOUND.inplace.pow_(self, other)

    def __ifloordiv__(self, other: Any) -> Tensor:
        return BOUND.inplace.floor_divide_(self, other)

    def __imod__(self, other: Any) -> Tensor:
        return BOUND.inplace.remainder_(self, other)

    def __iand__(self, other: Any) -> Tensor:
        return BOUND.inplace.bitwise_and_(self, other)

    def __ior__(self, other: Any) -> Tensor:
        return BOUND.inplace.bitwise_or_(self, other)

    def __ixor__(self, other: Any) -> Tensor:
        return BOUND.inplace.bitwise_xor_(self, other)

    def __ilshift__(self, other: Any) -> Tensor:
        return BOUND.inplace.bitwise_left_shift_(self, other)

    def __irshift__(self, other: Any) -> Tensor:
        return BOUND.inplace.bitwise_right_shift_(self, other)

    def bitwise_and_(self, other: Any) -> Tensor:
        return BOUND.inplace.bitwise_and_(self, other)

    def bitwise_or_(self, other: Any) -> Tensor:
        return BOUND.inplace.bitwise_or_(self, other)

    def bitwise_xor_(self, other: Any) -> Tensor:
        return BOUND.inplace.bitwise_xor_(self, other)

    def bitwise_left_shift_(self, other: Any) -> Tensor:
        return BOUND.inplace.bitwise_left_shift_(self, other)

    def bitwise_right_shift_(self, other: Any) -> Tensor:
        return BOUND.inplace.bitwise_right_shift_(self, other)

    def bitwise_not_(self) -> Tensor:
        return BOUND.inplace.bitwise_not_(self)

    def logical_and_(self, other: Any) -> Tensor:
        return BOUND.inplace.logical_and_(self, other)

    def logical_or_(self, other: Any) -> Tensor:
        return BOUND.inplace.logical_or_(self, other)

    def logical_xor_(self, other: Any) -> Tensor:
        return BOUND.inplace.logical_xor_(self, other)

    def neg_(self) -> Tensor:
        return BOUND.inplace.neg_(self)

    def abs_(self) -> Tensor:
        return BOUND.inplace.abs_(self)

    def relu_(self) -> Tensor:
        return BOUND.inplace.relu_(self)

    def exp_(self) -> Tensor:
        return BOUND.inplace.exp_(self)

    def log_(self) -> Tensor:
        return BOUND.inplace.log_(self)

    def sqrt_(self) -> Tensor:
        return BOUND.inplace.sqrt_(self)

    def rsqrt_(self) -> Tensor:
        return BOUND.inplace.rsqrt_(self)

    def tanh_(self) -> Tensor:
        return BOUND.inplace.tanh_(self)

    def sigmoid_(self) -> Tensor:
        return BOUND.inplace.sigmoid_(self)

    def sin_(self) -> Tensor:
        return BOUND.inplace.sin_(self)

    def cos_(self) -> Tensor:
        return BOUND.inplace.cos_(self)

    def erf_(self) -> Tensor:
        return BOUND.inplace.erf_(self)

    def floor_(self) -> Tensor:
        return BOUND.inplace.floor_(self)

    def round_(self, *, decimals: int = 0) -> Tensor:
        return BOUND.inplace.round_(self, decimals=decimals)

    def sign_(self) -> Tensor:
        return BOUND.inplace.sign_(self)

    def log1p_(self) -> Tensor:
        return BOUND.inplace.log1p_(self)

    def expm1_(self) -> Tensor:
        return BOUND.inplace.expm1_(self)

    def exp2_(self) -> Tensor:
        return BOUND.inplace.exp2_(self)

    def log2_(self) -> Tensor:
        return BOUND.inplace.log2_(self)

    def log10_(self) -> Tensor:
        return BOUND.inplace.log10_(self)

    def tan_(self) -> Tensor:
        return BOUND.inplace.tan_(self)

    def asin_(self) -> Tensor:
        return BOUND.inplace.asin_(self)

    def acos_(self) -> Tensor:
        return BOUND.inplace.acos_(self)

    def atan_(self) -> Tensor:
        return BOUND.inplace.atan_(self)

    def sinh_(self) -> Tensor:
        return BOUND.inplace.sinh_(self)

    def cosh_(self) -> Tensor:
        return BOUND.inplace.cosh_(self)

    def asinh_(self) -> Tensor:
        return BOUND.inplace.asinh_(self)

    def acosh_(self) -> Tensor:
        return BOUND.inplace.acosh_(self)

    def atanh_(self) -> Tensor:
        return BOUND.inplace.atanh_(self)

    def erfinv_(self) -> Tensor:
        return BOUND.inplace.erfinv_(self)

    def sinc_(self) -> Tensor:
        return BOUND.inplace.sinc_(self)

    def deg2rad_(self) -> Tensor:
        return BOUND.inplace.deg2rad_(self)

    def rad2deg_(self) -> Tensor:
        return BOUND.inplace.rad2deg_(self)

    def arcsin_(self) -> Tensor:
        return BOUND.inplace.arcsin_(self)

    def arccos_(self) -> Tensor:
        return BOUND.inplace.arccos_(self)

    def arctan_(self) -> Tensor:
        return BOUND.inplace.arctan_(self)

    def arcsinh_(self) -> Tensor:
        return BOUND.inplace.arcsinh_(self)

    def arccosh_(self) -> Tensor:
        return BOUND.inplace.arccosh_(self)

    def arctanh_(self) -> Tensor:
        return BOUND.inplace.arctanh_(self)

    def logit_(self, eps: float | None = None) -> Tensor:
        return BOUND.inplace.logit_(self, eps)

    def atan2_(self, other: Any) -> Tensor:
        return BOUND.inplace.atan2_(self, other)

    def arctan2_(self, other: Any) -> Tensor:
        return BOUND.inplace.arctan2_(self, other)

    def hypot_(self, other: Any) -> Tensor:
        return BOUND.inplace.hypot_(self, other)

    def nextafter_(self, other: Any) -> Tensor:
        return BOUND.inplace.nextafter_(self, other)

    def xlogy_(self, other: Any) -> Tensor:
        return BOUND.inplace.xlogy_(self, other)

    def copysign_(self, other: Any) -> Tensor:
        return BOUND.inplace.copysign_(self, other)

    def heaviside_(self, values: Any) -> Tensor:
        return BOUND.inplace.heaviside_(self, values)

    def true_divide_(self, other: Any) -> Tensor:
        return BOUND.inplace.true_divide_(self, other)

    def trunc_(self) -> Tensor:
        return BOUND.inplace.trunc_(self)

    def logical_not_(self) -> Tensor:
        return BOUND.inplace.logical_not_(self)

    def nan_to_num_(
        self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
    ) -> Tensor:
        return BOUND.inplace.nan_to_num_(self, nan, posinf, neginf)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        return BOUND.inplace.clamp_(self, min, max)

    clip_ = clamp_

    def ceil_(self) -> Tensor:
        return BOUND.inplace.ceil_(self)

    def frac_(self) -> Tensor:
        return BOUND.inplace.frac_(self)

    def reciprocal_(self) -> Tensor:
        return BOUND.inplace.reciprocal_(self)

    def square_(self) -> Tensor:
        return BOUND.inplace.square_(self)

    def fix_(self) -> Tensor:
        return BOUND.inplace.fix_(self)

    def sgn_(self) -> Tensor:
        return BOUND.inplace.sgn_(self)

    def eq_(self, other: Any) -> Tensor:
        return BOUND.inplace.eq_(self, other)

    def ne_(self, other: Any) -> Tensor:
        return BOUND.inplace.ne_(self, other)

    def lt_(self, other: Any) -> Tensor:
        return BOUND.inplace.lt_(self, other)

    def le_(self, other: Any) -> Tensor:
        return BOUND.inplace.le_(self, other)

    def gt_(self, other: Any) -> Tensor:
        return BOUND.inplace.gt_(self, other)

    def ge_(self, other: Any) -> Tensor:
        return BOUND.inplace.ge_(self, other)

    def ldexp_(self, other: Any) -> Tensor:
        return BOUND.inplace.ldexp_(self, other)

    def greater_(self, other: Any) -> Tensor:
        return BOUND.inplace.gt_(self, other)

    def greater_equal_(self, other: Any) -> Tensor:
        return BOUND.inplace.ge_(self, other)

    def less_(self, other: Any) -> Tensor:
        return BOUND.inplace.lt_(self, other)

    def less_equal_(self, other: Any) -> Tensor:
        return BOUND.inplace.le_(self, other)

    def not_equal_(self, other: Any) -> Tensor:
        return BOUND.inplace.ne_(self, other)

    def multiply_(self, other: Any) -> Tensor:
        return BOUND.inplace.mul_(self, other)

    def divide_(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        return BOUND.inplace.div_(self, other, rounding_mode=rounding_mode)

    def subtract_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return BOUND.inplace.sub_(self, other, alpha=alpha)

    def negative_(self) -> Tensor:
        return BOUND.inplace.neg_(self)

    def absolute_(self) -> Tensor:
        return BOUND.inplace.abs_(self)

    def clamp_min_(self, min: Any) -> Tensor:
        return BOUND.inplace.clamp_min_(self, min)

    def clamp_max_(self, max: Any) -> Tensor:
        return BOUND.inplace.clamp_max_(self, max)

    def lerp_(self, end: Tensor, weight: Any) -> Tensor:
        return BOUND.inplace.lerp_(self, end, weight)

    def cumsum_(self, dim: int, *, dtype: Any = None) -> Tensor:
        return BOUND.inplace.cumsum_(self, dim, dtype=dtype)

    def cumprod_(self, dim: int, *, dtype: Any = None) -> Tensor:
        return BOUND.inplace.cumprod_(self, dim, dtype=dtype)

    def tril_(self, diagonal: int = 0) -> Tensor:
        return BOUND.inplace.tril_(self, diagonal)

    def triu_(self, diagonal: int = 0) -> Tensor:
        return BOUND.inplace.triu_(self, diagonal)

    def addcmul_(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        return BOUND.inplace.addcmul_(self, tensor1, tensor2, value=value)

    def addcdiv_(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        return BOUND.inplace.addcdiv_(self, tensor1, tensor2, value=value)

    def fill_diagonal_(self, fill_value: Any, wrap: bool = False) -> Tensor:
        return BOUND.inplace.fill_diagonal_(self, fill_value, wrap)

    def squeeze_(self, dim: Any = None) -> Tensor:
        return BOUND.inplace.squeeze_(self, dim)

    def unsqueeze_(self, dim: int) -> Tensor:
        return BOUND.inplace.unsqueeze_(self, dim)

    def transpose_(self, dim0: int, dim1: int) -> Tensor:
        return BOUND.inplace.transpose_(self, dim0, dim1)

    def swapaxes_(self, axis0: int, axis1: int) -> Tensor:
        return BOUND.inplace.transpose_(self, axis0, axis1)

    def swapdims_(self, dim0: int, dim1: int) -> Tensor:
        return BOUND.inplace.transpose_(self, dim0, dim1)

    def t_(self) -> Tensor:
        return BOUND.inplace.t_(self)

    def detach_(self) -> Tensor:
        return BOUND.inplace.detach_(self)

    def masked_fill_(self, mask: Tensor, value: Any) -> Tensor:
        return BOUND.inplace.masked_fill_(self, mask, value)

    def masked_scatter_(self, mask: Tensor, source: Tensor) -> Tensor:
        return BOUND.inplace.masked_scatter_(self, mask, source)

    def scatter_(
        self, dim: int, index: Tensor, src: Any = None, *, value: Any = None, reduce: Any = None
    ) -> Tensor:
        return BOUND.inplace.scatter_(self, dim, index, src, value=value, reduce=reduce)

    def scatter_add_(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        return BOUND.inplace.scatter_add_(self, dim, index, src)

    def scatter_reduce_(
        self, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True
    ) -> Tensor:
        return BOUND.inplace.scatter_reduce_(
            self, dim, index, src, reduce, include_self=include_self
        )

    def index_put_(self, indices: Any, values: Tensor, accumulate: bool = False) -> Tensor:
        return BOUND.inplace.index_put_(self, indices, values, accumulate)

    def index_add_(self, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
        return BOUND.inplace.index_add_(self, dim, index, source, alpha=alpha)

    def index_copy_(self, dim: int, index: Tensor, source: Tensor) -> Tensor:
        return BOUND.inplace.index_copy_(self, dim, index, source)

    def index_fill_(self, dim: int, index: Tensor, value: Any) -> Tensor:
        return BOUND.inplace.index_fill_(self, dim, index, value)

    def fill_(self, value: Any) -> Tensor:
        return BOUND.inplace.fill_(self, value)

    def zero_(self) -> Tensor:
        return BOUND.inplace.zero_(self)

    def copy_(self, src: Any, non_blocking: bool = False) -> Tensor:
        return BOUND.inplace.copy_(self, src, non_blocking)

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        return BOUND.inplace.normal_(self, mean, std)

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        return BOUND.inplace.uniform_(self, a, b)

    def clone(self) -> Tensor:
        """A copy that no in-place op on this tensor (or its views) reaches."""
        return BOUND.inplace.clone(self)

    def contiguous(self) -> Tensor:
        return BOUND.inplace.contiguous(self)

    @property
    def data(self) -> Tensor:
        """The values without gradient history, shared: `w.data.sub_(lr * w.grad)` changes w
        (unrecorded), `w.data = t` gives w t's values (pyflame/inplace.py)."""
        return BOUND.inplace.data(self)

    @data.setter
    def data(self, value: Any) -> None:
        BOUND.inplace.set_data(self, value)

    # ---------------------------------------------------------------- dtype conversion
    # last: `float`, `int` and `bool` would shadow the types in the annotations above

    def astype(self, dtype: Any) -> Tensor:
        return BOUND.ops.astype(self, dtype)

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """`x.to(dtype)`, `x.to(device)`, `x.to(device, dtype)`, `x.to(other)` (other's dtype),
        with `dtype=`, `device=`, `non_blocking=`, `copy=`, `memory_format=`, as torch's
        overloads. PyFlame tensors have no device: a device (a name such as "cuda:0", an index,
        a torch.device) is accepted and changes nothing, as `Module.to(device)`."""
        dtype = kwargs.pop("dtype", None)
        BOUND.ops._check_device(kwargs.pop("device", None), "to")
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        copy = bool(kwargs.pop("copy", False))
        if kwargs:
            raise TypeError(f"to() got an unexpected keyword argument {next(iter(kwargs))!r}")
        for arg in args:
            if isinstance(arg, OpMethods):  # another tensor: its dtype
                dtype = cast("Tensor", arg).dtype
            elif not is_device(arg):
                dtype = arg
        out = cast("Tensor", self) if dtype is None else BOUND.ops.astype(self, dtype)
        return BOUND.inplace.clone(out) if copy and out is self else out

    def cpu(self) -> Tensor:
        """`x` itself: PyFlame tensors have no device (`x.detach().cpu().numpy()` ports as is,
        as `Module.cpu()`)."""
        return cast("Tensor", self)

    def type_as(self, other: Tensor) -> Tensor:
        """`x` in `other`'s dtype (torch.Tensor.type_as)."""
        return BOUND.ops.astype(self, other.dtype)

    def float(self) -> Tensor:
        return BOUND.ops.astype(self, "float32")

    def half(self) -> Tensor:
        return BOUND.ops.astype(self, "float16")

    def bfloat16(self) -> Tensor:
        return BOUND.ops.astype(self, "bfloat16")

    def int(self) -> Tensor:
        return BOUND.ops.astype(self, "int32")

    def long(self) -> Tensor:
        """int64 as PyFlame holds it: int32 (the PEs compute in 32 bits)."""
        return BOUND.ops.astype(self, "int32")

    def bool(self) -> Tensor:
        return BOUND.ops.astype(self, "bool")
