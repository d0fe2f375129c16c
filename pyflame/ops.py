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

from pyflame import elementwise, promotion, shapes
from pyflame.dtypes import DType, as_dtype, bool_, float32, from_numpy_dtype, int32
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


def astype(x: Tensor, dtype: Any) -> Tensor:
    """`x` converted to `dtype` (also `x.to(dtype)`); a no-op when it already has it."""
    _check_tensor(x, "astype")
    dtype = as_dtype(dtype)
    if x.dtype is dtype:
        return x
    return _node("flame.convert", (x,), x.shape, dtype)


def _scalar(value: Any, dtype: DType) -> Tensor:
    """A Python scalar operand: a rank-0 `flame.fill` (one element per PE, broadcast)."""
    return _node("flame.fill", (), (), dtype, {"value": float(value)})


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
    """Build the flame op of elementwise function `name` (a row of pyflame.elementwise)."""
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
    if min is not None:
        out = maximum(out, min)
    if max is not None:
        out = minimum(out, max)
    return out


def broadcast_to(x: Tensor, shape: tuple[int, ...]) -> Tensor:  # the shape-ops section
    raise _shape_error(  # below redefines this with the real flame.broadcast_to
        f"cannot broadcast shape {list(x.shape)} to {list(shape)} yet"
    )


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
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{what} expects a list or tuple of pf.Tensor, got {type(tensors).__name__}")
    out = [_check_tensor(t, what) for t in tensors]
    dtypes = {t.dtype for t in out}
    if len(dtypes) > 1:
        raise _shape_error(
            f"{what}: tensors of one dtype expected, got {sorted(map(repr, dtypes))}"
        )
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
    target = _shape_rule(shapes.expand, x.shape, _shape_arg(size, "broadcast_to"))
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
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "split"), x.ndim)
    arg = split_size_or_sections
    if isinstance(arg, (list, tuple)):
        arg = tuple(_dim_arg(n, "split sizes") for n in arg)
    else:
        arg = _dim_arg(arg, "split size")
    sizes = _shape_rule(shapes.split_sizes, x.shape[d] if x.ndim else 1, arg, d)
    return _pieces(x, d, sizes)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most `chunks` pieces of ceil(size / chunks) elements along `dim` (torch.chunk)."""
    _check_tensor(x, "chunk")
    d = _shape_rule(shapes.normalize_dim, _dim_arg(dim, "chunk"), x.ndim)
    sizes = _shape_rule(shapes.chunk_sizes, x.shape[d], _dim_arg(chunks, "chunk"), d)
    return _pieces(x, d, sizes)


def _pieces(x: Tensor, dim: int, sizes: Sequence[int]) -> tuple[Tensor, ...]:
    if x.ndim == 0:
        raise _shape_error("cannot split a zero-dimensional tensor")
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
