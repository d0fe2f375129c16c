"""Op builders: each checks shapes at the user's line and returns a new lazy `Tensor`.

One builder per flame op; the shape facts come from `pyflame.ir.shapes` (shared with the flame
verifiers). A bad shape raises `pf.ShapeError` naming both shapes and the user's `file:line`.

    pf.relu(a @ b).sum(dim=0)
    # flame.matmul -> flame.relu -> flame.reduce_sum {dims = array<i64: 0>}
"""

from __future__ import annotations

import builtins
import collections
import numbers
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import ml_dtypes
import numpy as np

from pyflame import promotion
from pyflame.autograd import requires_grad_of
from pyflame.gradients import NOT_DIFFERENTIABLE
from pyflame.ir import elementwise, shapes
from pyflame.ir.dtypes import DType, as_dtype, bool_, float32, from_numpy_dtype, int32
from pyflame.ir.errors import IntegerOverflowError, ShapeError
from pyflame.layout import MeshLayout
from pyflame.random import draw_seed
from pyflame.tensor import Location, Tensor, format_location, user_location

T = TypeVar("T")

# --------------------------------------------------------------------------- helpers


def _node(
    op: str,
    inputs: Sequence[Tensor],
    shape: Sequence[int],
    dtype: DType,
    attrs: dict[str, Any] | None = None,
    layout: MeshLayout | None = None,
    location: Location | None = None,
) -> Tensor:
    if any(n < 0 for n in shape):  # every builder checks its sizes; this is the safety net
        raise _shape_error(
            f"{op.removeprefix('flame.')}: negative dimension in the result shape {list(shape)}",
            location,
        )
    out = Tensor(
        shape,
        dtype,
        op,
        inputs,
        attrs,
        layout=_check_layout(layout),
        location=location or user_location(),
    )
    if (inputs and dtype.is_floating_point and op not in NOT_DIFFERENTIABLE
            and requires_grad_of(tuple(inputs))):
        out._requires_grad = out._grad_node = True
    for i, t in enumerate(inputs):
        if t._pending_value is not None:  # stepped, not yet evaluated: read the new value
            if out._reads is None:
                out._reads = {}
            out._reads[i] = t._pending_value
        elif t._data is not None:  # a leaf holding data: remember this user (see runtime)
            if t._users is None:
                t._users = {}
            t._users[id(out)] = weakref.ref(out)
    return out


def _shape_error(message: str, location: Location | None = None) -> ShapeError:
    return ShapeError(f"{format_location(location or user_location())}: {message}")


def _rule(rule: Callable[..., T], *args: Any) -> T:
    """Apply a shape rule; its ShapeError gets the user's file:line."""
    try:
        return rule(*args)
    except ShapeError as err:
        raise _shape_error(str(err)) from None


def _check_layout(layout: object) -> MeshLayout | None:
    if layout is None or isinstance(layout, MeshLayout):
        return layout
    raise TypeError(f"layout= expects a pf.MeshLayout or None, got {type(layout).__name__}")


def _check_tensor(x: object, what: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{what} expects a pf.Tensor, got {type(x).__name__}")
    return x


def _shape_arg(size: tuple[Any, ...], what: str) -> tuple[int, ...]:
    """`f([2, 3])`, `f((2, 3))` and `f(2, 3)` all mean shape (2, 3)."""
    if len(size) == 1 and isinstance(size[0], (list, tuple)):
        size = tuple(size[0])
    out = []
    for n in size:
        if isinstance(n, builtins.bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"{what}: sizes must be ints, got {n!r} in {list(size)}")
        out.append(int(n))
    return tuple(out)


def _sizes(size: tuple[Any, ...], what: str) -> tuple[int, ...]:
    """A creation op's shape (as `_shape_arg`): a negative size is a pf.ShapeError at the
    user's line, in PyTorch's words."""
    shape = _shape_arg(size, what)
    for n in shape:
        if n < 0:
            raise _shape_error(
                f"{what}: Trying to create tensor with negative dimension {n}: {list(shape)}"
            )
    return shape


def _is_scalar(x: object) -> bool:
    return isinstance(x, (numbers.Number, np.number, np.bool_)) and not isinstance(
        x, (complex, np.complexfloating)
    )


def _fits(value: float, dtype: DType, what: str) -> float:
    """`value` when `dtype` holds it; else an OverflowError at the user's line, as PyTorch
    refuses `torch.full([2], 2**40, dtype=torch.int32)` (never a wrapped or infinite value)."""
    if dtype is bool_ or not np.isfinite(value):
        return value
    if dtype.is_floating_point:
        high = float(ml_dtypes.finfo(dtype.numpy).max)
        if builtins.abs(value) <= high:
            return value
    elif -(2**31) <= value <= 2**31 - 1:
        return value
    if dtype.is_floating_point:  # a plain OverflowError, as the integer one is also one
        raise OverflowError(f"{format_location(user_location())}: {what}: value {value:g} "
                            f"cannot be converted to {dtype!r} without overflow")
    raise IntegerOverflowError(
        f"{format_location(user_location())}: {what}: value {int(value)} cannot be converted to "
        f"{dtype!r} without overflow (PyFlame's widest integer is pf.int32: use a float dtype "
        "for larger values)"
    )


# --------------------------------------------------------------------------- creation


def from_numpy(
    array: np.ndarray, layout: MeshLayout | None = None, *, name: str | None = None
) -> Tensor:
    """A leaf holding a copy of `array`; keeps its dtype (float32, float16, bfloat16, int32,
    bool). Integer arrays of other widths are stored as int32 when their values fit. `name`
    names the program input it becomes (`%name` in `pf.ir`, `--input name=...` in pyflame-run)."""
    if name is not None and not isinstance(name, str):
        raise TypeError(f"from_numpy: name= expects a str, got {type(name).__name__}")
    if not isinstance(array, (np.ndarray, np.generic)):
        raise TypeError(f"from_numpy expects a numpy array, got {type(array).__name__}")
    array = np.asarray(array)
    dtype = from_numpy_dtype(array.dtype)
    if dtype is None and array.dtype.kind in "iu":
        info = np.iinfo(np.int32)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise IntegerOverflowError(
                f"{format_location(user_location())}: from_numpy: {array.dtype} values in "
                f"[{array.min()}, {array.max()}] do not fit pf.int32, the widest integer type "
                "PyFlame holds (convert to float32 for larger values)"
            )
        dtype = int32
    if dtype is None:
        hint = " (use a.astype(np.float32))" if array.dtype.kind == "f" else ""
        raise TypeError(
            f"from_numpy: PyFlame cannot hold {array.dtype} data{hint}; "
            "supported: float32, float16, bfloat16, int32, bool"
        )
    data = np.array(array, dtype=dtype.numpy, copy=True, order="C")
    out = Tensor(
        data.shape, dtype, layout=_check_layout(layout), data=data, location=user_location()
    )
    if name is not None:
        out.name = name  # type: ignore[attr-defined]  # read by pyflame.trace (argument names)
    return out


def full(
    size: Sequence[int] | int,
    fill_value: float | bool,
    *,
    dtype: DType = float32,
    layout: MeshLayout | None = None,
) -> Tensor:
    """A tensor with every element `fill_value` (default dtype pf.float32)."""
    shape = _sizes((size,), "full")
    if not _is_scalar(fill_value):
        raise TypeError(f"full: fill_value must be a number, got {type(fill_value).__name__}")
    dtype = as_dtype(dtype)
    value = float(fill_value)
    if not dtype.is_floating_point and not (np.isfinite(value) and value == int(value)):
        raise TypeError(f"full: {fill_value!r} is not a {dtype!r} value")
    _fits(value, dtype, "full")
    return _node("flame.fill", (), shape, dtype, {"value": value}, layout)


def zeros(*size: Any, dtype: DType = float32, layout: MeshLayout | None = None) -> Tensor:
    return full(_sizes(size, "zeros"), 0.0, dtype=dtype, layout=layout)


def ones(*size: Any, dtype: DType = float32, layout: MeshLayout | None = None) -> Tensor:
    return full(_sizes(size, "ones"), 1.0, dtype=dtype, layout=layout)


def randn(*size: Any, dtype: DType = float32, layout: MeshLayout | None = None) -> Tensor:
    """Standard normal samples; the seed is drawn now and fed to the program at run time."""
    shape = _sizes(size, "randn")
    dtype = as_dtype(dtype)
    if not dtype.is_floating_point:
        raise TypeError(f"randn needs a floating-point dtype, got {dtype!r}")
    return _node("flame.random_normal", (), shape, dtype, {"seed": draw_seed()}, layout)


def full_like(
    x: Tensor,
    fill_value: float | bool,
    *,
    dtype: DType | None = None,
    layout: MeshLayout | None = None,
) -> Tensor:
    _check_tensor(x, "full_like")
    return full(x.shape, fill_value, dtype=dtype or x.dtype, layout=layout)


def zeros_like(
    x: Tensor, *, dtype: DType | None = None, layout: MeshLayout | None = None
) -> Tensor:
    return full_like(x, 0.0, dtype=dtype, layout=layout)


def ones_like(x: Tensor, *, dtype: DType | None = None, layout: MeshLayout | None = None) -> Tensor:
    return full_like(x, 1.0, dtype=dtype, layout=layout)


def randn_like(
    x: Tensor, *, dtype: DType | None = None, layout: MeshLayout | None = None
) -> Tensor:
    _check_tensor(x, "randn_like")
    return randn(x.shape, dtype=dtype or x.dtype, layout=layout)


# --------------------------------------------------------------------------- elementwise


def astype(x: Tensor, dtype: Any) -> Tensor:
    """`x` converted to `dtype` (also `x.to(dtype)`); a no-op when it already has it."""
    _check_tensor(x, "astype")
    dtype = as_dtype(dtype)
    if x.dtype is dtype:
        return x
    return _node("flame.convert", (x,), x.shape, dtype)


def _scalar(value: Any, dtype: DType) -> Tensor:
    """A Python scalar operand: a rank-0 `flame.fill` (one element per PE, broadcast)."""
    value = float(value)
    if not dtype.is_floating_point:  # floats round to inf as in PyTorch; ints never wrap
        _fits(value, dtype, "scalar operand")
    return _node("flame.fill", (), (), dtype, {"value": value})


def _operands(name: str, args: Sequence[Any], kind: str) -> tuple[list[Tensor], DType]:
    """Promote (PyTorch's rules), convert and broadcast the operands of an elementwise op."""
    tensors = [a for a in args if isinstance(a, Tensor)]
    scalars = [a for a in args if not isinstance(a, Tensor)]
    if not tensors:
        raise TypeError(f"{name} needs at least one pf.Tensor operand")
    for s in scalars:
        if not _is_scalar(s):
            raise TypeError(f"{name}: unsupported operand of type {type(s).__name__}")
    dtype = promotion.result_type(tensors, scalars)
    if kind == "float" and not dtype.is_floating_point:
        dtype = float32  # integer and bool operands of float functions, as in PyTorch
    if kind == "bool" and dtype is not bool_:
        raise TypeError(
            f"{format_location(user_location())}: {name} takes bool tensors, got {dtype!r} "
            "(compare first, e.g. x > 0)"
        )
    if kind == "number" and dtype is bool_:
        raise TypeError(
            f"{format_location(user_location())}: {name} is not supported on bool tensors "
            "(as in PyTorch); convert with .int() or .float()"
        )
    try:
        shape = tuple(np.broadcast_shapes(*(t.shape for t in tensors)))
    except ValueError:
        raise _shape_error(
            f"{name}: shapes " + ", ".join(str(list(t.shape)) for t in tensors)
            + " cannot be broadcast together"
        ) from None
    out = []
    for a in args:
        if not isinstance(a, Tensor):
            out.append(_scalar(a, dtype))
            continue
        a = astype(a, dtype)
        if a.ndim and a.shape != shape:
            a = broadcast_to(a, shape)
        out.append(a)
    return out, dtype


def elementwise_op(name: str, *args: Any) -> Tensor:
    """Build the flame op of elementwise function `name` (a row of pyflame.ir.elementwise)."""
    entry = elementwise.ALL[name]
    operands, dtype = _operands(name, args, entry.operands)
    shape = tuple(np.broadcast_shapes(*(t.shape for t in operands)))
    result = bool_ if entry.result == "bool" else dtype
    return _node(f"flame.{name}", operands, shape, result)


def binary(op: str, a: Any, b: Any) -> Tensor:
    """An elementwise op on tensors and python scalars (either side); NotImplemented for other
    operand types, so Python can try the other operand's operator."""
    if not all(isinstance(x, Tensor) or _is_scalar(x) for x in (a, b)):
        return NotImplemented
    return elementwise_op(op.removeprefix("flame."), a, b)


def _unary_function(name: str) -> Callable[[Tensor], Tensor]:
    def fn(x: Tensor) -> Tensor:
        _check_tensor(x, name)
        return elementwise_op(name, x)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {elementwise.UNARY[name].doc or name}."
    return fn


def _binary_function(name: str) -> Callable[[Any, Any], Tensor]:
    def fn(a: Any, b: Any) -> Tensor:
        return elementwise_op(name, a, b)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {elementwise.BINARY[name].doc or name}, with broadcasting."
    return fn


neg, abs, relu, exp, log, sqrt, rsqrt, tanh, sigmoid, gelu, silu, logical_not = (
    _unary_function(n) for n in elementwise.UNARY
)
(add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, logical_and,
 logical_or) = (_binary_function(n) for n in elementwise.BINARY)


def where(condition: Tensor, x: Any, y: Any) -> Tensor:
    """`x` where `condition` holds, else `y` (tensors or scalars, broadcast)."""
    _check_tensor(condition, "where")
    if condition.dtype is not bool_:
        raise TypeError(
            f"{format_location(user_location())}: where's condition must be a bool tensor, "
            f"got {condition.dtype!r}"
        )
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):  # two scalars
        x = _scalar(x, promotion.result_type([], [x, y]))
    (a, b), dtype = _operands("where", (x, y), "any")
    try:
        shape = tuple(np.broadcast_shapes(condition.shape, a.shape, b.shape))
    except ValueError:
        raise _shape_error(
            f"where: shapes {list(condition.shape)}, {list(a.shape)}, {list(b.shape)} cannot "
            "be broadcast together"
        ) from None
    c = condition if condition.shape in (shape, ()) else broadcast_to(condition, shape)
    a = a if a.shape in (shape, ()) else broadcast_to(a, shape)
    b = b if b.shape in (shape, ()) else broadcast_to(b, shape)
    return _node("flame.where", (c, a, b), shape, dtype)


def clamp(x: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """`x` limited to [min, max] (either may be None; scalars or tensors)."""
    _check_tensor(x, "clamp")
    if min is None and max is None:
        raise TypeError("clamp needs min or max")
    out = x
    if not x.dtype.is_floating_point:  # an int bound beyond int32 is a no-op, not an overflow
        min, max = (builtins.min(builtins.max(v, -(2**31)), 2**31 - 1)
                    if isinstance(v, (int, np.integer)) and not isinstance(v, builtins.bool)
                    else v for v in (min, max))
    if min is not None:
        out = maximum(out, min)
    if max is not None:
        out = minimum(out, max)
    if out.requires_grad:  # PyTorch's gradient: whole at a value on a bound, not halved
        from pyflame.gradients import Clamp

        out._grad_fn = Clamp(x, min, max)  # type: ignore[attr-defined]
    return out


def broadcast_to(x: Tensor, shape: tuple[int, ...]) -> Tensor:  # the shape-ops section
    raise _shape_error(  # below redefines this with the real flame.broadcast_to
        f"cannot broadcast shape {list(x.shape)} to {list(shape)} yet"
    )


# --------------------------------------------------------------------------- reductions


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
    op: str, x: Tensor, dim: int | Sequence[int] | None, keepdim: bool, what: str = "",
    dtype: DType | None = None, **attrs: Any,
) -> Tensor:
    dims = _reduce_dims(x, dim, what or op.removeprefix("flame."))
    shape = _rule(shapes.reduce, x.shape, dims, keepdim)
    attrs.update(dims=dims, keepdim=builtins.bool(keepdim))
    return _node(op, (x,), shape, dtype or x.dtype, attrs)


def _nonempty(x: Tensor, dim: int | Sequence[int] | None, what: str) -> None:
    _shape_rule(shapes.nonempty_reduction, x.shape, _reduce_dims(x, dim, what), what, dim is None)


def _all_if_empty(dim: Any) -> Any:
    """amax(x, dim=()) reduces every dim, as in PyTorch."""
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


def sum(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    """Sum over `dim` (an int, a tuple, or None for every dim), like torch.sum."""
    _check_tensor(x, "sum")
    return _reduce("flame.reduce_sum", _counted(x), dim, keepdim, "sum")


def mean(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    """Mean over `dim` (an int, a tuple, or None for every dim), like torch.mean."""
    _check_tensor(x, "mean")
    if not x.dtype.is_floating_point:
        raise TypeError(f"mean needs a floating-point tensor, got {x.dtype!r}")
    return _reduce("flame.reduce_mean", x, dim, keepdim, "mean")


def prod(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    """Product over `dim` (an int, a tuple, or None for every dim), like torch.prod."""
    _check_tensor(x, "prod")
    return _reduce("flame.reduce_prod", _counted(x), dim, keepdim, "prod")


def amax(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    """Max over `dim` (an int, a tuple, or None / () for every dim); NaN wins (torch.amax)."""
    _check_tensor(x, "amax")
    dim = _all_if_empty(dim)
    _nonempty(x, dim, "amax")
    return _reduce("flame.reduce_max", x, dim, keepdim, "amax")


def amin(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    """Min over `dim` (an int, a tuple, or None / () for every dim); NaN wins (torch.amin)."""
    _check_tensor(x, "amin")
    dim = _all_if_empty(dim)
    _nonempty(x, dim, "amin")
    return _reduce("flame.reduce_min", x, dim, keepdim, "amin")


def _arg(op: str, x: Tensor, dim: int | None, keepdim: bool, what: str) -> Tensor:
    _check_tensor(x, what)
    if isinstance(dim, builtins.bool) or not (dim is None or isinstance(dim, (int, np.integer))):
        raise TypeError(f"{what}: dim must be an int or None, got {dim!r}")
    _nonempty(x, dim, what)
    return _reduce(op, x, dim, keepdim, what, dtype=int32)


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the first max along `dim` (of the flattened tensor for None), as pf.int32
    (PyTorch returns int64); NaN counts as the max, like torch.argmax."""
    return _arg("flame.argmax", x, dim, keepdim, "argmax")


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the first min along `dim` (of the flattened tensor for None), as pf.int32."""
    return _arg("flame.argmin", x, dim, keepdim, "argmin")


#: what max(x, dim) and min(x, dim) return, like torch.return_types.max / .min
MaxResult = collections.namedtuple("max", ["values", "indices"])
MinResult = collections.namedtuple("min", ["values", "indices"])


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
            from pyflame.gradients import Evenly

            out._grad_fn = Evenly(x)  # type: ignore[attr-defined]
        return out
    if isinstance(dim, builtins.bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{what}: dim must be an int (one dim), got {dim!r}")
    _nonempty(x, dim, what)
    # the values through a keepdim reduction, which argmax's decomposition then reuses
    values = _reduce(f"flame.reduce_{kind}", x, dim, True, what)
    shape = shapes.reduce(x.shape, _reduce_dims(x, dim, what), keepdim)
    if values.shape != shape:
        values = _node("flame.reshape", (values,), shape, values.dtype)
    indices = _reduce(f"flame.arg{kind}", x, dim, keepdim, what, dtype=int32)
    if values.requires_grad:  # the gradient goes to the returned index only, as in PyTorch
        from pyflame.gradients import AtIndices

        d = _reduce_dims(x, dim, what)
        if d:
            values._grad_fn = AtIndices(x, indices, d[0], keepdim)  # type: ignore[attr-defined]
    return (MaxResult if kind == "max" else MinResult)(values, indices)


def max_(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """`pf.max(x)`: the largest element; `pf.max(x, dim, keepdim=False)`: the namedtuple
    (values, indices) along `dim` (indices pf.int32); `pf.max(x, other)`: pf.maximum."""
    return _extreme("max", x, dim, keepdim)


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


def var(
    x: Tensor, dim: int | Sequence[int] | None = None, unbiased: builtins.bool | None = None,
    keepdim: builtins.bool = False, *, correction: float | None = None,
) -> Tensor:
    """Variance over `dim`: sum of squared deviations / max(0, N - correction); unbiased
    (correction 1) by default, like torch.var."""
    _check_tensor(x, "var")
    dim, c = _correction(dim, unbiased, correction, "var")
    return _reduce("flame.var", _floating(x, "var"), dim, keepdim, "var", correction=c)


def std(
    x: Tensor, dim: int | Sequence[int] | None = None, unbiased: builtins.bool | None = None,
    keepdim: builtins.bool = False, *, correction: float | None = None,
) -> Tensor:
    """Standard deviation: sqrt(var(...)), unbiased by default, like torch.std."""
    _check_tensor(x, "std")
    dim, c = _correction(dim, unbiased, correction, "std")
    return _reduce("flame.std", _floating(x, "std"), dim, keepdim, "std", correction=c)


def logsumexp(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over `dim`, computed stably (the max is subtracted first); integer
    inputs become float32, like torch.logsumexp."""
    _check_tensor(x, "logsumexp")
    x = x if x.dtype.is_floating_point else astype(x, float32)
    return _reduce("flame.logsumexp", x, _all_if_empty(dim), keepdim, "logsumexp")


def _softmax(op: str, x: Tensor, dim: int | None, dtype: Any, what: str) -> Tensor:
    _check_tensor(x, what)
    if dtype is not None:
        x = astype(x, dtype)
    _floating(x, what)
    if dim is None:  # PyTorch's deprecated implicit choice
        dim = 0 if x.ndim in (0, 1, 3) else 1
        warnings.warn(f"Implicit dimension choice for {what} has been deprecated. Change the "
                      "call to include dim=X as an argument.", UserWarning, stacklevel=3)
    if isinstance(dim, builtins.bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{what}: dim must be an int, got {dim!r}")
    d = _reduce_dims(x, int(dim), what)
    return _node(op, (x,), x.shape, x.dtype, {"dim": d[0] if d else 0})


def softmax(x: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`, computed stably (the max is subtracted first); a row
    that is all -inf gives NaN, as in PyTorch. `dtype` converts the input first."""
    return _softmax("flame.softmax", x, dim, dtype, "softmax")


def log_softmax(x: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """log(softmax(x)) along `dim`, computed as (x - max) - log(sum(exp(x - max)))."""
    return _softmax("flame.log_softmax", x, dim, dtype, "log_softmax")


# --------------------------------------------------------------------------- linear algebra


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product as torch.matmul: 2-D @ 2-D; batched [..., m, k] @ [..., k, n] with
    broadcast batch dims; a 1-D lhs is a row vector and a 1-D rhs a column vector whose added
    dim is dropped from the result.

    One flame.matmul ([*B, m, k] @ [*B, k, n], where one side may have no batch dims), with
    flame.reshape around it for vectors and flame.broadcast_to for batch dims that differ."""
    _check_tensor(a, "matmul")
    _check_tensor(b, "matmul")
    shape = _rule(shapes.matmul_result, a.shape, b.shape)
    if a.dtype is not b.dtype:
        raise _shape_error(f"matmul: dtypes {a.dtype!r} and {b.dtype!r} differ")
    lhs = _reshape_node(a, (1,) + a.shape) if a.ndim == 1 else a
    rhs = _reshape_node(b, b.shape + (1,)) if b.ndim == 1 else b
    lhs, rhs = _matmul_batches(lhs, rhs)
    out = _node("flame.matmul", (lhs, rhs), shapes.matmul(lhs.shape, rhs.shape), a.dtype)
    return out if out.shape == shape else _reshape_node(out, shape)


def _matmul_batches(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Operands whose batch dims are equal, or absent on one side (a side whose batch dims are
    all 1 drops them: it is shared by every batch entry, never copied)."""
    ba, bb = a.shape[:-2], b.shape[:-2]
    if ba == bb or not ba or not bb:
        return a, b
    if all(n == 1 for n in ba) and len(ba) <= len(bb):
        return _reshape_node(a, a.shape[-2:]), b
    if all(n == 1 for n in bb) and len(bb) <= len(ba):
        return a, _reshape_node(b, b.shape[-2:])
    batch = shapes.broadcast_shapes(ba, bb)
    if ba != batch:
        a = broadcast_to(a, batch + a.shape[-2:])
    if bb != batch:
        b = broadcast_to(b, batch + b.shape[-2:])
    return a, b


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched matrix product of two 3-D tensors with the same batch size (torch.bmm; no
    broadcasting)."""
    _check_tensor(a, "bmm")
    _check_tensor(b, "bmm")
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise _shape_error(
            f"bmm needs two 3-D tensors with the same batch size, got shapes {list(a.shape)} "
            f"and {list(b.shape)}"
        )
    return matmul(a, b)


# --------------------------------------------------------------------------- shape


def permute(x: Tensor, *dims: Any) -> Tensor:
    """Result dim i is input dim dims[i] (negative dims allowed)."""
    _check_tensor(x, "permute")
    given = _shape_arg(dims, "permute")
    perm = tuple(_rule(shapes.normalize_dim, d, x.ndim) for d in given)
    shape = _rule(shapes.permute, x.shape, perm)
    return _node("flame.transpose", (x,), shape, x.dtype, {"perm": perm})


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions."""
    _check_tensor(x, "transpose")
    perm = _rule(shapes.transpose_perm, x.ndim, dim0, dim1)
    return _node(
        "flame.transpose", (x,), _rule(shapes.permute, x.shape, perm), x.dtype, {"perm": perm}
    )


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """Same elements in row-major order; one size may be -1."""
    _check_tensor(x, "reshape")
    new = _rule(shapes.reshape, x.shape, _shape_arg(shape, "reshape"))
    return _node("flame.reshape", (x,), new, x.dtype)


view = reshape

__all__ = [
    "add",
    "binary",
    "div",
    "from_numpy",
    "full",
    "full_like",
    "matmul",
    "mean",
    "mul",
    "neg",
    "ones",
    "ones_like",
    "permute",
    "randn",
    "randn_like",
    "relu",
    "reshape",
    "sub",
    "sum",
    "transpose",
    "view",
    "zeros",
    "zeros_like",
]


# --- shape ops ---------------------------------------------------------------------------
# unsqueeze, squeeze, flatten (flame.reshape); expand, broadcast_to (flame.broadcast_to);
# cat, stack (flame.concat, stack = unsqueeze + cat); split, chunk, narrow and basic indexing
# (flame.slice, + flame.reshape for int and None indices); pad (flame.pad, constant mode).


def _shape_rule(rule: Callable[..., T], *args: Any) -> T:
    """Like `_rule`, but keeps the error's class (an IndexShapeError stays an IndexError)."""
    try:
        return rule(*args)
    except ShapeError as err:
        raise type(err)(f"{format_location(user_location())}: {err}") from None


def _dim_arg(dim: Any, what: str) -> int:
    if isinstance(dim, builtins.bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{what}: dim must be an int, got {dim!r}")
    return int(dim)


def _tensor_list(tensors: Any, what: str) -> list[Tensor]:
    """The tensors of cat/stack, converted to their promoted dtype (torch.result_type)."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{what} expects a list or tuple of pf.Tensor, got {type(tensors).__name__}")
    out = [_check_tensor(t, what) for t in tensors]
    if len({t.dtype for t in out}) > 1:
        from pyflame.promotion import result_type

        dtype = result_type(out, [])
        out = [t if t.dtype is dtype else astype(t, dtype) for t in out]
    return out


def _reshape_node(x: Tensor, shape: Sequence[int]) -> Tensor:
    return _node("flame.reshape", (x,), tuple(shape), x.dtype)


def _slice_node(
    x: Tensor, start: Sequence[int], stop: Sequence[int], step: Sequence[int]
) -> Tensor:
    shape = _shape_rule(shapes.slice_shape, x.shape, start, stop, step)
    attrs = {"start": tuple(start), "stop": tuple(stop), "step": tuple(step)}
    return _node("flame.slice", (x,), shape, x.dtype, attrs)


def _dim_slice(x: Tensor, dim: int, begin: int, end: int) -> Tensor:
    """Elements begin..end-1 of (normalized) `dim`, every other dim whole."""
    start = [0] * x.ndim
    stop = list(x.shape)
    start[dim], stop[dim] = begin, end
    return _slice_node(x, start, stop, [1] * x.ndim)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """A size-1 dim inserted at `dim` (in [-x.ndim - 1, x.ndim])."""
    _check_tensor(x, "unsqueeze")
    return _reshape_node(x, _shape_rule(shapes.unsqueeze, x.shape, _dim_arg(dim, "unsqueeze")))


def squeeze(x: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """Every size-1 dim removed (dim=None), or those of `dim` (an int or a tuple) that have
    size 1; other dims of `dim` are left alone, as in PyTorch."""
    _check_tensor(x, "squeeze")
    return _reshape_node(x, _shape_rule(shapes.squeeze, x.shape, dim))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Dims start_dim..end_dim merged into one (a rank-0 tensor becomes shape [1])."""
    _check_tensor(x, "flatten")
    return _reshape_node(x, _shape_rule(shapes.flatten, x.shape, start_dim, end_dim))


def broadcast_to(x: Tensor, *size: Any) -> Tensor:  # noqa: F811 (replaces the stub above)
    """`x` broadcast to `size` (numpy rules; -1 keeps an existing dim), like torch.broadcast_to."""
    _check_tensor(x, "broadcast_to")
    target = _shape_rule(shapes.expand, x.shape, _shape_arg(size, "broadcast_to"), "broadcast")
    return _node("flame.broadcast_to", (x,), target, x.dtype)


def expand(x: Tensor, *sizes: Any) -> Tensor:
    """`x.expand(4, -1, 3)`: size-1 dims repeated, new dims in front (no data is copied in
    PyTorch; here each PE makes its tile of the result)."""
    _check_tensor(x, "expand")
    target = _shape_rule(shapes.expand, x.shape, _shape_arg(sizes, "expand"))
    return _node("flame.broadcast_to", (x,), target, x.dtype)


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    _check_tensor(other, "expand_as")
    return expand(x, other.shape)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Tensors joined along `dim` (torch.cat); every other dim must agree."""
    xs = _tensor_list(tensors, "cat")
    if not xs:
        raise _shape_error("cat needs at least one tensor")
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "cat"), max(xs[0].ndim, 1))
    shape = _shape_rule(shapes.concat, [t.shape for t in xs], d)
    return _node("flame.concat", xs, shape, xs[0].dtype, {"dim": d})


concat = cat
concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Tensors of one shape joined along a new dim `dim` (unsqueeze each, then cat)."""
    xs = _tensor_list(tensors, "stack")
    shape = _shape_rule(shapes.stack, [t.shape for t in xs], _dim_arg(dim, "stack"))
    d = shapes.normalize_dim(dim, xs[0].ndim + 1)
    parts = [_reshape_node(t, shape[:d] + (1,) + shape[d + 1 :]) for t in xs]
    return _node("flame.concat", parts, shape, xs[0].dtype, {"dim": d})


def split(
    x: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0
) -> tuple[Tensor, ...]:
    """Pieces of `split_size_or_sections` elements along `dim` (the last may be shorter), or
    pieces of the listed sizes (which must sum to the dim's size), like torch.split."""
    _check_tensor(x, "split")
    if x.ndim == 0:
        raise _shape_error("split expects at least a 1-dimensional tensor")
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "split"), x.ndim)
    arg = split_size_or_sections
    if isinstance(arg, (list, tuple)):
        arg = tuple(_dim_arg(n, "split sizes") for n in arg)
    else:
        arg = _dim_arg(arg, "split size")
    sizes = _shape_rule(shapes.split_sizes, x.shape[d], arg, d)
    return _pieces(x, d, sizes)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most `chunks` pieces of ceil(size / chunks) elements along `dim` (torch.chunk)."""
    _check_tensor(x, "chunk")
    if x.ndim == 0:
        raise _shape_error("chunk expects at least a 1-dimensional tensor")
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "chunk"), x.ndim)
    sizes = _shape_rule(shapes.chunk_sizes, x.shape[d], _dim_arg(chunks, "chunk"), d)
    return _pieces(x, d, sizes)


def _pieces(x: Tensor, dim: int, sizes: Sequence[int]) -> tuple[Tensor, ...]:
    out, begin = [], 0
    for n in sizes:
        out.append(_dim_slice(x, dim, begin, begin + n))
        begin += n
    return tuple(out)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """Elements start..start+length-1 of `dim` (a negative start counts from the end)."""
    _check_tensor(x, "narrow")
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "narrow"), x.ndim)
    n = x.shape[d]
    s = _dim_arg(start, "narrow start")
    length = _dim_arg(length, "narrow length")
    s = s + n if s < 0 else s
    if not (0 <= s <= n and 0 <= length <= n - s):
        raise _shape_error(
            f"narrow of {list(x.shape)}: start {start} and length {length} do not fit dim {d} "
            f"of size {n}"
        )
    return _dim_slice(x, d, s, s + length)


def getitem(x: Tensor, key: Any) -> Tensor:
    """Basic indexing: ints (negative allowed), slices with steps >= 1, `...` and None.
    One flame.slice (omitted when it takes everything) and one flame.reshape (when ints drop
    dims or None adds them)."""
    _check_tensor(x, "indexing")
    plan = _shape_rule(shapes.index, x.shape, key)
    identity = plan.sliced == x.shape
    out = x if identity else _slice_node(x, plan.start, plan.stop, plan.step)
    if plan.shape != plan.sliced:
        out = _reshape_node(out, plan.shape)
    if out is x:  # x[:] or x[...]: a new tensor all the same, like PyTorch's view
        out = _slice_node(x, plan.start, plan.stop, plan.step)
    return out


def pad(
    x: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None
) -> Tensor:
    """Constant padding, PyTorch's `F.pad`: `pad` lists (before, after) widths from the last dim
    backwards, e.g. (left, right, top, bottom); negative widths crop."""
    _check_tensor(x, "pad")
    if mode != "constant":
        raise NotImplementedError(f"pad mode {mode!r}: only 'constant' is supported")
    widths = _shape_arg((tuple(pad),), "pad")
    low, high = _shape_rule(shapes.pad_widths, x.shape, widths)
    shape = _shape_rule(shapes.pad, x.shape, low, high)
    v = 0.0 if value is None else value
    if not _is_scalar(v):
        raise TypeError(f"pad: value must be a number, got {type(v).__name__}")
    v = float(v)
    if not x.dtype.is_floating_point and not (np.isfinite(v) and v == int(v)):
        raise TypeError(f"pad: {value!r} is not a {x.dtype!r} value")
    if not x.dtype.is_floating_point:
        _fits(v, x.dtype, "pad")
    return _node("flame.pad", (x,), shape, x.dtype, {"low": low, "high": high, "value": v})


__all__ += [
    "broadcast_to",
    "cat",
    "chunk",
    "concat",
    "concatenate",
    "expand",
    "expand_as",
    "flatten",
    "getitem",
    "narrow",
    "pad",
    "split",
    "squeeze",
    "stack",
    "unsqueeze",
]


__all__ += [  # reductions (max_ and min_ are pf.max and pf.min: they would shadow builtins here)
    "MaxResult",
    "MinResult",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "log_softmax",
    "logsumexp",
    "max_",
    "min_",
    "prod",
    "softmax",
    "std",
    "var",
]


# --- creation: arange, eye, rand, randint, bernoulli, dropout ------------------------------
# arange is one flame.iota; eye compares two iotas (computed on the PEs from global indices,
# never uploaded). The random ops draw from flame.random_uniform, whose values are a function of
# (seed, global element index): the seed is drawn from the generator when the op is built (a
# runtime input, so a cached program still gets fresh values), or fixed by `seed=` (the same
# seed gives the same values every time). bernoulli and dropout compare a uniform draw with p.


def _number(value: Any, what: str) -> int | float:
    if isinstance(value, builtins.bool) or not _is_scalar(value):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    out = float(value)
    if not np.isfinite(out):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return out


def _draw(seed: int | None) -> int:
    from pyflame.random import fixed_seed

    return draw_seed() if seed is None else fixed_seed(seed)


def arange(
    start: float = 0,
    end: float | None = None,
    step: float = 1,
    *,
    dtype: DType | None = None,
    layout: MeshLayout | None = None,
) -> Tensor:
    """`arange(end)`, `arange(start, end, step=1)`: start, start + step, ... below end (above
    it for a negative step), like torch.arange. Without `dtype`: int32 when start, end and
    step are all ints (PyTorch gives int64), else float32. Values are computed in float64 and
    rounded once; an integer dtype truncates start and step first, as PyTorch does."""
    if end is None:
        start, end = 0, start
    start, end, step = (_number(v, f"arange {n}") for v, n in
                        ((start, "start"), (end, "end"), (step, "step")))
    where = format_location(user_location())
    if step == 0:
        raise ValueError(f"{where}: arange: step must be nonzero")
    if (end - start) * step < 0:
        raise ValueError(
            f"{where}: arange: upper bound and lower bound inconsistent with step sign "
            f"(start {start}, end {end}, step {step})"
        )
    all_int = all(isinstance(v, int) for v in (start, end, step))
    dtype = as_dtype(dtype) if dtype is not None else (int32 if all_int else float32)
    if dtype is bool_:
        raise TypeError("arange does not make bool tensors")
    if all_int:
        n = -(-(end - start) // step)
    else:
        n = int(np.ceil((float(end) - float(start)) / float(step)))
    if not dtype.is_floating_point:
        start, step = int(start), int(step)  # truncation toward zero, as PyTorch
    if n > 0:  # the first and last values must fit dtype (PyTorch wraps int32; we refuse)
        for v in (start, start + (n - 1) * step):
            _fits(float(v), dtype, "arange")
    attrs = {"dim": 0, "start": float(start), "step": float(step)}
    return _node("flame.iota", (), (builtins.max(n, 0),), dtype, attrs, layout)


def eye(
    n: int, m: int | None = None, *, dtype: DType = float32, layout: MeshLayout | None = None
) -> Tensor:
    """An n x m (default n x n) tensor with ones on the diagonal: the row index (an iota along
    dim 0) compared with the column index (along dim 1), converted to `dtype`."""
    m = n if m is None else m
    for v, what in ((n, "n"), (m, "m")):
        if isinstance(v, builtins.bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise TypeError(
                f"{format_location(user_location())}: eye: {what} must be a non-negative int, "
                f"got {v!r}"
            )
    dtype = as_dtype(dtype)
    shape = (int(n), int(m))
    index = [
        _node("flame.iota", (), shape, int32, {"dim": d, "start": 0.0, "step": 1.0}, layout)
        for d in (0, 1)
    ]
    same = _node("flame.eq", index, shape, bool_, layout=layout)
    return same if dtype is bool_ else _node("flame.convert", (same,), shape, dtype, layout=layout)


def _uniform(
    shape: tuple[int, ...], dtype: DType, low: float, high: float,
    layout: MeshLayout | None, seed: int | None,
) -> Tensor:
    attrs = {"seed": _draw(seed), "minval": float(low), "maxval": float(high)}
    return _node("flame.random_uniform", (), shape, dtype, attrs, layout)


def rand(
    *size: Any, dtype: DType = float32, layout: MeshLayout | None = None, seed: int | None = None
) -> Tensor:
    """Uniform samples in [0, 1) (torch.rand); `seed=` fixes the draw."""
    shape = _sizes(size, "rand")
    dtype = as_dtype(dtype)
    if not dtype.is_floating_point:
        raise TypeError(f"rand needs a floating-point dtype, got {dtype!r}")
    return _uniform(shape, dtype, 0.0, 1.0, layout, seed)


def rand_like(
    x: Tensor, *, dtype: DType | None = None, layout: MeshLayout | None = None,
    seed: int | None = None,
) -> Tensor:
    _check_tensor(x, "rand_like")
    return rand(x.shape, dtype=dtype or x.dtype, layout=layout, seed=seed)


def randint(
    low: int,
    high: Any = None,
    size: Any = None,
    *,
    dtype: DType = int32,
    layout: MeshLayout | None = None,
    seed: int | None = None,
) -> Tensor:
    """Uniform integers in [low, high) (torch.randint): `randint(high, size)` or
    `randint(low, high, size)`; int32 by default (PyTorch: int64), any dtype that holds them."""
    if size is None:
        if high is None:
            raise TypeError("randint needs high and size: randint(high, size) or "
                            "randint(low, high, size)")
        low, high, size = 0, low, high
    elif high is None:  # randint(high, size=...)
        low, high = 0, low
    shape = _sizes((size,), "randint")
    return _randint(shape, low, high, as_dtype(dtype), layout, seed)


def _randint(
    shape: tuple[int, ...], low: Any, high: Any, dtype: DType, layout: MeshLayout | None,
    seed: int | None,
) -> Tensor:
    for v, what in ((low, "low"), (high, "high")):
        if isinstance(v, builtins.bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"randint: {what} must be an int, got {v!r}")
    low, high = int(low), int(high)
    if low >= high:
        raise ValueError(f"randint: low must be less than high, got low={low} >= high={high}")
    if low < -(2**31) or high > 2**31:
        raise ValueError(f"randint: [{low}, {high}) does not fit int32")
    if dtype is bool_:
        raise TypeError("randint does not make bool tensors")
    for v in (low, high - 1):  # float16 holds up to 65504 (PyTorch refuses more, too)
        _fits(float(v), dtype, "randint")
    ints = _uniform(shape, int32, low, high, None if dtype is not int32 else layout, seed)
    return ints if dtype is int32 else _node("flame.convert", (ints,), shape, dtype, layout=layout)


def randint_like(
    x: Tensor, low: int = 0, high: int | None = None, *, dtype: DType | None = None,
    layout: MeshLayout | None = None, seed: int | None = None,
) -> Tensor:
    """`randint_like(x, high)` or `randint_like(x, low, high)`: x's shape and (by default)
    dtype."""
    _check_tensor(x, "randint_like")
    if high is None:
        low, high = 0, low
    return _randint(x.shape, low, high, as_dtype(dtype or x.dtype), layout, seed)


def _probability(p: Any, what: str) -> float:
    if isinstance(p, builtins.bool) or not _is_scalar(p):
        raise TypeError(f"{what} must be a number in [0, 1], got {p!r}")
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{what} has to be between 0 and 1, but got {p}")
    return p


def bernoulli(x: Tensor, p: float | None = None, *, seed: int | None = None) -> Tensor:
    """0/1 samples of x's shape and dtype (torch.bernoulli): each element is 1 with probability
    x[i] (x must then be floating-point, values in [0, 1]), or, with `p`, with probability p
    for every element (x's values are ignored: `pf.bernoulli(pf.ones_like(x), p=keep)` is a
    dropout keep-mask). `seed=` fixes the draw: the same seed gives the same mask every time."""
    _check_tensor(x, "bernoulli")
    u = _uniform(x.shape, float32, 0.0, 1.0, x.layout, seed)  # drawn where x is placed
    if p is None:
        if not x.dtype.is_floating_point:
            raise TypeError(f"bernoulli needs floating-point probabilities, got {x.dtype!r}")
        hit = elementwise_op("lt", u, x)
    else:
        hit = elementwise_op("lt", u, _probability(p, "bernoulli's p"))
    return astype(hit, x.dtype)


def dropout(
    x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, *,
    seed: int | None = None,
) -> Tensor:
    """Inverted dropout (torch.nn.functional.dropout): in training, every element is zeroed
    with probability p and the others are scaled by 1 / (1 - p); `x` itself otherwise.
    `seed=` fixes the mask. (`inplace` is accepted for PyTorch's signature; tensors are
    immutable here.)"""
    _check_tensor(x, "dropout")
    p = _probability(p, "dropout probability")
    if not x.dtype.is_floating_point:
        raise TypeError(f"dropout needs a floating-point input, got {x.dtype!r}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return mul(x, 0.0)
    keep = elementwise_op("ge", _uniform(x.shape, float32, 0.0, 1.0, x.layout, seed), p)
    one = x.dtype.numpy.type(1.0)
    scale = float(one / x.dtype.numpy.type(1.0 - p))  # 1 / (1 - p) in x's dtype, as PyTorch
    return mul(x, mul(astype(keep, x.dtype), scale))


__all__ += [
    "arange",
    "bernoulli",
    "bmm",
    "dropout",
    "eye",
    "rand",
    "rand_like",
    "randint",
    "randint_like",
]
