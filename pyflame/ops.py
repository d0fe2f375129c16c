"""Op builders: each checks shapes at the user's line and returns a new lazy `Tensor`.

One builder per flame op; the shape facts come from `pyflame.shapes` (shared with the flame
verifiers). A bad shape raises `pf.ShapeError` naming both shapes and the user's `file:line`.

    pf.relu(a @ b).sum(dim=0)
    # flame.matmul -> flame.relu -> flame.reduce_sum {dims = array<i64: 0>}
"""

from __future__ import annotations

import builtins
import numbers
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from pyflame import shapes
from pyflame.dtypes import DType, as_dtype, float32, from_numpy_dtype, int32
from pyflame.errors import ShapeError
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
    return Tensor(
        shape,
        dtype,
        op,
        inputs,
        attrs,
        layout=_check_layout(layout),
        location=location or user_location(),
    )


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


def _is_scalar(x: object) -> bool:
    return isinstance(x, (numbers.Number, np.number, np.bool_)) and not isinstance(
        x, (complex, np.complexfloating)
    )


# --------------------------------------------------------------------------- creation


def from_numpy(array: np.ndarray, layout: MeshLayout | None = None) -> Tensor:
    """A leaf holding a copy of `array`; keeps its dtype (float32, float16, bfloat16, int32,
    bool). Integer arrays of other widths are stored as int32 when their values fit."""
    if not isinstance(array, (np.ndarray, np.generic)):
        raise TypeError(f"from_numpy expects a numpy array, got {type(array).__name__}")
    array = np.asarray(array)
    dtype = from_numpy_dtype(array.dtype)
    if dtype is None and array.dtype.kind in "iu":
        info = np.iinfo(np.int32)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise TypeError(
                f"from_numpy: {array.dtype} values in [{array.min()}, {array.max()}] do not fit "
                f"pf.int32, the widest integer type PyFlame holds"
            )
        dtype = int32
    if dtype is None:
        hint = " (use a.astype(np.float32))" if array.dtype.kind == "f" else ""
        raise TypeError(
            f"from_numpy: PyFlame cannot hold {array.dtype} data{hint}; "
            "supported: float32, float16, bfloat16, int32, bool"
        )
    data = np.array(array, dtype=dtype.numpy, copy=True, order="C")
    return Tensor(
        data.shape, dtype, layout=_check_layout(layout), data=data, location=user_location()
    )


def full(
    size: Sequence[int] | int,
    fill_value: float | bool,
    *,
    dtype: DType = float32,
    layout: MeshLayout | None = None,
) -> Tensor:
    """A tensor with every element `fill_value` (default dtype pf.float32)."""
    shape = _shape_arg((size,), "full")
    if not _is_scalar(fill_value):
        raise TypeError(f"full: fill_value must be a number, got {type(fill_value).__name__}")
    dtype = as_dtype(dtype)
    value = float(fill_value)
    if not dtype.is_floating_point and not (np.isfinite(value) and value == int(value)):
        raise TypeError(f"full: {fill_value!r} is not a {dtype!r} value")
    return _node("flame.fill", (), shape, dtype, {"value": value}, layout)


def zeros(*size: Any, dtype: DType = float32, layout: MeshLayout | None = None) -> Tensor:
    return full(_shape_arg(size, "zeros"), 0.0, dtype=dtype, layout=layout)


def ones(*size: Any, dtype: DType = float32, layout: MeshLayout | None = None) -> Tensor:
    return full(_shape_arg(size, "ones"), 1.0, dtype=dtype, layout=layout)


def randn(*size: Any, dtype: DType = float32, layout: MeshLayout | None = None) -> Tensor:
    """Standard normal samples; the seed is drawn now and fed to the program at run time."""
    shape = _shape_arg(size, "randn")
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


def _scalar_like(value: Any, like: Tensor) -> Tensor:
    """A python scalar operand becomes a `flame.fill` of the other operand's shape."""
    v = float(value)
    if not like.dtype.is_floating_point and not (np.isfinite(v) and v == int(v)):
        raise TypeError(
            f"{format_location(user_location())}: cannot combine {like.dtype!r} tensor with "
            f"scalar {value!r} (type promotion is not supported yet)"
        )
    return _node("flame.fill", (), like.shape, like.dtype, {"value": v})


def binary(op: str, a: Any, b: Any) -> Tensor:
    """An elementwise op on two tensors, or a tensor and a python scalar (either side)."""
    a_is, b_is = isinstance(a, Tensor), isinstance(b, Tensor)
    if not (a_is or b_is):
        raise TypeError(f"{op} needs at least one pf.Tensor operand")
    if not a_is:
        if not _is_scalar(a):
            return NotImplemented
        a = _scalar_like(a, b)
    if not b_is:
        if not _is_scalar(b):
            return NotImplemented
        b = _scalar_like(b, a)
    name = op.removeprefix("flame.")
    shape = _rule(shapes.elementwise, a.shape, b.shape, name)
    if a.dtype is not b.dtype:
        raise _shape_error(f"{name}: dtypes {a.dtype!r} and {b.dtype!r} differ")
    return _node(op, (a, b), shape, a.dtype)


def add(a: Any, b: Any) -> Tensor:
    return _binary_fn("flame.add", a, b)


def sub(a: Any, b: Any) -> Tensor:
    return _binary_fn("flame.sub", a, b)


def mul(a: Any, b: Any) -> Tensor:
    return _binary_fn("flame.mul", a, b)


def div(a: Any, b: Any) -> Tensor:
    return _binary_fn("flame.div", a, b)


def _binary_fn(op: str, a: Any, b: Any) -> Tensor:
    out = binary(op, a, b)
    if out is NotImplemented:
        raise TypeError(
            f"{op.removeprefix('flame.')}: unsupported operands "
            f"{type(a).__name__} and {type(b).__name__}"
        )
    return out


def neg(x: Tensor) -> Tensor:
    _check_tensor(x, "neg")
    return _node("flame.neg", (x,), x.shape, x.dtype)


def relu(x: Tensor) -> Tensor:
    _check_tensor(x, "relu")
    return _node("flame.relu", (x,), x.shape, x.dtype)


# --------------------------------------------------------------------------- reductions


def _reduce(op: str, x: Tensor, dim: int | Sequence[int] | None, keepdim: bool) -> Tensor:
    dims = _rule(shapes.normalize_dims, dim, x.ndim)
    shape = _rule(shapes.reduce, x.shape, dims, keepdim)
    return _node(op, (x,), shape, x.dtype, {"dims": dims, "keepdim": builtins.bool(keepdim)})


def sum(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    """Sum over `dim` (an int, a tuple, or None for every dim), like torch.sum."""
    _check_tensor(x, "sum")
    return _reduce("flame.reduce_sum", x, dim, keepdim)


def mean(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    """Mean over `dim` (an int, a tuple, or None for every dim), like torch.mean."""
    _check_tensor(x, "mean")
    if not x.dtype.is_floating_point:
        raise TypeError(f"mean needs a floating-point tensor, got {x.dtype!r}")
    return _reduce("flame.reduce_mean", x, dim, keepdim)


# --------------------------------------------------------------------------- linear algebra


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product of two 2-D tensors (batched and 1-D forms come later)."""
    _check_tensor(a, "matmul")
    _check_tensor(b, "matmul")
    shape = _rule(shapes.matmul, a.shape, b.shape)
    if a.dtype is not b.dtype:
        raise _shape_error(f"matmul: dtypes {a.dtype!r} and {b.dtype!r} differ")
    return _node("flame.matmul", (a, b), shape, a.dtype)


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
