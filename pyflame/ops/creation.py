"""Creation: `tensor`, `as_tensor`, `from_numpy`, `full`, `zeros`, `ones`, `empty`, `*_like`,
`arange`, `linspace`, `logspace`, `eye`. Each takes PyTorch's `device=` (any device argument,
changing nothing: the wafer is the only device, pyflame/devices.py) and `requires_grad=`.

A constant is one flame.fill (every PE writes its own tile); arange is one flame.iota; linspace
selects between two iota-made halves; eye compares two iotas (computed on the PEs from global
indices, never uploaded). logspace is computed on the host (float64 powers) and uploaded. Random
tensors are in pyflame/ops/sampling.py.
"""

from __future__ import annotations

import builtins
import math
import warnings
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from pyflame import host_buffers
from pyflame.core.dtypes import DType, as_dtype, bool_, float32, from_numpy_dtype, int32
from pyflame.core.errors import IntegerOverflowError
from pyflame.dialects import flame
from pyflame.layout import MeshLayout
from pyflame.lazy_tensor import Tensor, format_location, user_location, user_stacklevel
from pyflame.ops.node import (
    _check_device,
    _check_layout,
    _check_tensor,
    _fits,
    _is_scalar,
    _node,
    _sizes,
)


def from_numpy(
    array: np.ndarray, layout: MeshLayout | None = None, *, name: str | None = None
) -> Tensor:
    """A leaf holding a copy of `array` (a big one in recycled memory: pyflame/host_buffers.py);
    keeps its dtype (float32, float16, bfloat16, int32, bool). Integer arrays of other widths
    are stored as int32 when their values fit. `name` names the program input it becomes
    (`%name` in `pf.ir`, `--input name=...` in pyflame-run)."""
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
    data = host_buffers.snapshot(array, dtype.numpy)  # (a copy: a big one into recycled memory)
    out = Tensor(
        data.shape, dtype, layout=_check_layout(layout), data=data, location=user_location()
    )
    if name is not None:
        out.name = name
    return out


def tensor(
    data: Any,
    dtype: Any = None,
    *,
    layout: MeshLayout | None = None,
    requires_grad: bool = False,
    device: Any = None,
    name: str | None = None,
) -> Tensor:
    """`torch.tensor`: a leaf holding a copy of `data` (a number, a nested list or tuple of
    them, a numpy array, or a pf.Tensor). Without `dtype`, as PyTorch infers it: bools give
    bool, Python ints int32 (PyFlame's widest integer; torch's int64), floats float32;
    numpy arrays keep their dtype (float64 becomes float32, PyFlame's widest float; int64
    becomes int32 when its values fit). `device` is accepted and changes nothing (the wafer is
    the device). A pf.Tensor is copied (`x.detach().clone()`, with PyTorch's warning)."""
    _check_device(device, "tensor")
    if isinstance(data, Tensor):
        warnings.warn(
            "To copy construct from a tensor, it is recommended to use "
            "sourceTensor.detach().clone() or sourceTensor.detach().clone()"
            ".requires_grad_(True), rather than pf.tensor(sourceTensor).",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        out = data.detach().clone()
        out = out if dtype is None else out.astype(as_dtype(dtype))
        return out.requires_grad_(True) if requires_grad else out
    array = _host_array(data, "tensor")
    if dtype is not None:
        array = array.astype(as_dtype(dtype).numpy)
    elif array.dtype == np.float64:
        array = array.astype(np.float32)  # (torch's default dtype for Python floats)
    out = from_numpy(array, layout, name=name)
    return out.requires_grad_(True) if requires_grad else out


def as_tensor(data: Any, dtype: Any = None, *, device: Any = None) -> Tensor:
    """`torch.as_tensor`: `data` itself when it is a pf.Tensor already of `dtype` (or none
    given), else `pf.tensor(data, dtype)` (numpy arrays are copied: a leaf owns its data)."""
    _check_device(device, "as_tensor")
    if isinstance(data, Tensor):
        return (
            data if dtype is None or as_dtype(dtype) is data.dtype else data.astype(as_dtype(dtype))
        )
    return tensor(data, dtype)


def made(out: Tensor, device: Any, requires_grad: bool, what: str) -> Tensor:
    """A creation op's result after PyTorch's `device=` (checked, changes nothing) and
    `requires_grad=` (a leaf that requires grad; floating-point dtypes only, as PyTorch)."""
    _check_device(device, what)
    return out.requires_grad_(True) if requires_grad else out


def _host_array(data: Any, what: str) -> np.ndarray:
    """`data` (a number, nested sequences, a numpy array) as a numpy array, PyTorch's errors
    for what it cannot hold."""
    if isinstance(data, (np.ndarray, np.generic)):
        return np.asarray(data)
    if not (_is_scalar(data) or isinstance(data, (list, tuple))):
        raise TypeError(
            f"{format_location(user_location())}: {what}: Could not infer dtype of "
            f"{type(data).__name__}"
        )
    try:
        array = np.array(data)
    except ValueError as err:  # ragged lists
        raise ValueError(f"{format_location(user_location())}: {what}: {err}") from None
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise TypeError(
            f"{format_location(user_location())}: {what}: Could not infer dtype of "
            f"{array.dtype} (numbers, bools and nested lists of them)"
        )
    return array


def full(
    size: Sequence[int] | int,
    fill_value: float | bool,
    *,
    dtype: DType | None = None,
    layout: MeshLayout | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor with every element `fill_value`, like torch.full. Without `dtype`, the
    value's kind: a Python bool gives pf.bool, an int pf.int32 (PyTorch: int64, which PyFlame
    holds as int32), a float pf.float32. An integer `dtype` truncates a float value toward zero
    (NaN, inf and values beyond int32 are an IntegerOverflowError); pf.bool holds value != 0."""
    shape = _sizes((size,), "full")
    if not _is_scalar(fill_value):
        raise TypeError(f"full: fill_value must be a number, got {type(fill_value).__name__}")
    dtype = _fill_dtype(fill_value) if dtype is None else as_dtype(dtype)
    value = float(fill_value)
    if dtype is bool_:
        value = float(value != 0)  # NaN is True, as PyTorch
    elif not dtype.is_floating_point:
        if not np.isfinite(value):
            raise IntegerOverflowError(
                f"{format_location(user_location())}: full: value {value} cannot be converted "
                f"to {dtype!r} without overflow"
            )
        value = float(math.trunc(value))
    _fits(value, dtype, "full")
    out = _node(flame.FillOp, (), shape, dtype, {"value": value}, layout)
    return made(out, device, requires_grad, "full")


def _fill_dtype(value: Any) -> DType:
    """torch.full's dtype for a number: bool for a Python bool, int for an int (numpy ints
    too), float otherwise (numpy floats and numpy bools too, as torch 2.13)."""
    if isinstance(value, builtins.bool):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int32
    return float32


def zeros(
    *size: Any,
    dtype: DType = float32,
    layout: MeshLayout | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    out = full(_sizes(size, "zeros"), 0.0, dtype=dtype, layout=layout)
    return made(out, device, requires_grad, "zeros")


def ones(
    *size: Any,
    dtype: DType = float32,
    layout: MeshLayout | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    out = full(_sizes(size, "ones"), 1.0, dtype=dtype, layout=layout)
    return made(out, device, requires_grad, "ones")


def empty(
    *size: Any,
    dtype: DType = float32,
    layout: MeshLayout | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """torch.empty: a tensor of `size` whose values the caller overwrites (`.normal_()`,
    `x[...] = v`); PyTorch leaves them uninitialised, PyFlame makes them zeros (one
    flame.fill: nothing to upload, and the same values every run)."""
    out = full(_sizes(size, "empty"), 0.0, dtype=dtype, layout=layout)
    return made(out, device, requires_grad, "empty")


def full_like(
    x: Tensor,
    fill_value: float | bool,
    *,
    dtype: DType | None = None,
    layout: MeshLayout | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    _check_tensor(x, "full_like")
    out = full(x.shape, fill_value, dtype=dtype or x.dtype, layout=layout)
    return made(out, device, requires_grad, "full_like")


def zeros_like(
    x: Tensor,
    *,
    dtype: DType | None = None,
    layout: MeshLayout | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    out = full_like(x, 0.0, dtype=dtype, layout=layout)
    return made(out, device, requires_grad, "zeros_like")


def ones_like(
    x: Tensor,
    *,
    dtype: DType | None = None,
    layout: MeshLayout | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    out = full_like(x, 1.0, dtype=dtype, layout=layout)
    return made(out, device, requires_grad, "ones_like")


def empty_like(
    x: Tensor,
    *,
    dtype: DType | None = None,
    layout: MeshLayout | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """torch.empty_like: zeros shaped like x (see `empty`)."""
    out = full_like(x, 0.0, dtype=dtype, layout=layout)
    return made(out, device, requires_grad, "empty_like")


def _number(value: Any, what: str, finite: bool = True) -> int | float:
    if isinstance(value, builtins.bool) or not _is_scalar(value):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    out = float(value)
    if finite and not np.isfinite(out):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return out


def arange(
    start: float = 0,
    end: float | None = None,
    step: float = 1,
    *,
    dtype: DType | None = None,
    layout: MeshLayout | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """`arange(end)`, `arange(start, end, step=1)`: start, start + step, ... below end (above
    it for a negative step), like torch.arange. Without `dtype`: int32 when start, end and
    step are all ints (PyTorch gives int64), else float32. Values are computed in float64 and
    rounded once; an integer dtype truncates start and step first, as PyTorch does."""
    if end is None:
        start, end = 0, start
    start, end, step = (
        _number(v, f"arange {n}") for v, n in ((start, "start"), (end, "end"), (step, "step"))
    )
    if step == 0:
        raise ValueError(f"{format_location(user_location())}: arange: step must be nonzero")
    if (end - start) * step < 0:
        raise ValueError(
            f"{format_location(user_location())}: arange: upper bound and lower bound "
            f"inconsistent with step sign (start {start}, end {end}, step {step})"
        )
    all_int = all(isinstance(v, int) for v in (start, end, step))
    asked = dtype
    dtype = as_dtype(dtype) if dtype is not None else (int32 if all_int else float32)
    if dtype is bool_:
        raise TypeError("arange does not make bool tensors")
    if all_int:
        n = -(-(end - start) // step)
    else:
        n = int(np.ceil((float(end) - float(start)) / float(step)))
    if not dtype.is_floating_point and not all_int:
        where = format_location(user_location())
        n = _int_arange_length(start, end, step, int(n), asked, where)
    if not dtype.is_floating_point:
        start, step = int(start), int(step)  # truncation toward zero, as PyTorch
    if n > 0:  # the first and last values must fit dtype (PyTorch wraps int32; we refuse)
        for v in (start, start + (n - 1) * step):
            _fits(float(v), dtype, "arange")
    attrs = {"dim": 0, "start": float(start), "step": float(step)}
    out = _node(flame.IotaOp, (), (int(builtins.max(n, 0)),), dtype, attrs, layout)
    return made(out, device, requires_grad, "arange")


#: dtype names that say which of PyTorch's integer aranges is meant (pf.int32 is pf.int64)
_INT32_NAMES = ("int32",)
_INT64_NAMES = ("int64", "long", "torch.int64", "torch.long")


def _int_arange_length(
    start: float, end: float, step: float, n32: int, asked: Any, where: str
) -> int:
    """The length of an integer arange with a float bound or step. PyTorch's two integer
    dtypes disagree there: int32 (and int16, int8) counts ceil((end - start) / step) of the
    given values, then truncates start and step (arange(0, 5.5, dtype=torch.int32) has 6
    elements, arange(0, 5, 0.5, dtype=torch.int32) ten zeros); int64 truncates start, end and
    step first (5 elements; a step that truncates to 0 is its "step must be nonzero"). PyFlame
    holds both as int32 (`pf.int64 is pf.int32`): a dtype given by name ("int32",
    np.int32 / "int64", "long", np.int64, torch.int64) picks one; `pf.int32` (`pf.long`)
    where they differ is a ValueError, never one of them silently."""
    name = str(np.dtype(asked)) if isinstance(asked, type) else str(asked)
    s64, e64, st64 = (math.trunc(v) for v in (start, end, step))
    if st64 == 0:
        n64 = None  # PyTorch's int64 refuses
    else:
        n64 = builtins.max(0, -(-(e64 - s64) // st64))
    if name in _INT32_NAMES:
        return n32
    if name in _INT64_NAMES:
        if n64 is None:
            raise ValueError(f"{where}: arange: step must be nonzero (step {step} truncates to 0)")
        return n64
    s32, st32 = math.trunc(start), math.trunc(step)
    if n64 == n32 and s64 == s32 and st64 == st32:
        return n32  # the same values either way
    values64 = "an error (step truncates to 0)" if n64 is None else f"{n64} elements"
    raise ValueError(
        f"{where}: arange({start}, {end}, {step}) of an integer dtype: PyTorch's int32 gives "
        f"{n32} elements and its int64 {values64}, and PyFlame holds both as int32 "
        "(pf.int64 is pf.int32): say which with dtype='int32' or dtype='int64', or give "
        "integer bounds and step"
    )


def _steps(steps: Any, what: str) -> int:
    if isinstance(steps, builtins.bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"{what}: steps must be an int, got {steps!r}")
    if steps < 0:
        raise RuntimeError(
            f"{format_location(user_location())}: {what}: number of steps must be non-negative"
        )
    return int(steps)


def _spaced_dtype(dtype: DType | None, what: str) -> DType:
    dtype = float32 if dtype is None else as_dtype(dtype)
    if dtype is bool_:  # PyTorch: NotImplementedError "linspace_cpu" not implemented for 'Bool'
        raise TypeError(f"{what} does not make bool tensors")
    return dtype


def _round_to(value: float, dtype: DType) -> float:
    """`value` in `dtype` as PyTorch's `Scalar.to<scalar_t>()` converts a double: through
    float32 for the float dtypes, truncated toward zero for ints."""
    if not dtype.is_floating_point:
        return float(_fits(float(math.trunc(value)), dtype, "linspace"))
    return float(np.float32(value).astype(dtype.numpy))


def _iota(n: int, start: float, step: float, dtype: DType, layout: MeshLayout | None) -> Tensor:
    attrs = {"dim": 0, "start": float(start), "step": float(step)}
    return _node(flame.IotaOp, (), (n,), dtype, attrs, layout)


def _scalar_node(value: float, dtype: DType) -> Tensor:
    return _node(flame.FillOp, (), (), dtype, {"value": float(value)})


def _binary(op: type[flame.FlameOp], a: Tensor, b: Tensor, dtype: DType, layout: Any) -> Tensor:
    return _node(op, (a, b), a.shape or b.shape, dtype, layout=layout)


def _halves(s: float, e: float, step: float, steps: int) -> np.ndarray:
    """PyTorch's formula in float64: s + step * i below steps // 2, e - step * (steps - 1 - i)
    from there."""
    i = np.arange(steps, dtype=np.float64)
    return np.where(i < steps // 2, s + step * i, e - step * (steps - 1 - i))


def linspace(
    start: float,
    end: float,
    steps: int,
    *,
    dtype: DType | None = None,
    layout: MeshLayout | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """`steps` values from `start` to `end`, evenly spaced, like torch.linspace (float32 by
    default). PyTorch 2.13's formula, computed on the PEs: with start, end rounded to `dtype`
    (truncated for ints) and step = (end - start) / (steps - 1), element i is
    start + step * i for i < steps // 2 and end - step * (steps - 1 - i) for the rest.

    - float32: each value correctly rounded (two flame.iota, each exact in float64, and a
      flame.where); PyTorch's CPU kernel (compiled with FMA) gives the same bits.
    - float16/bfloat16: PyTorch computes in the dtype's arithmetic (i converted to the dtype,
      the product rounded, then the sum): the same elementwise ops here, each rounded once.
    - int dtypes: the float64 formula truncated toward zero, computed on the host and
      uploaded (a program input, as `from_numpy`): pe.iota floors, and its float64 sum of
      end - step * (steps - 1) and step * i can land an ulp below an integer that PyTorch's
      end - step * (steps - 1 - i) reaches exactly (linspace(0, 10, 7)[3] would be 4).
    - an infinite or NaN end (float dtypes): the formula's IEEE values, which are then all
      inf, -inf or NaN (linspace(0, inf, 5) is [nan, inf, nan, nan, nan], as PyTorch's),
      computed on the host and uploaded.
    """
    out = _linspace(start, end, steps, dtype, layout)
    return made(out, device, requires_grad, "linspace")


def _linspace(
    start: float, end: float, steps: int, dtype: DType | None, layout: MeshLayout | None
) -> Tensor:
    """torch.linspace's values (`linspace` without device= and requires_grad=)."""
    what = "linspace"
    start, end = _number(start, f"{what} start", False), _number(end, f"{what} end", False)
    steps = _steps(steps, what)
    dtype = _spaced_dtype(dtype, what)
    finite = bool(np.isfinite(start) and np.isfinite(end))
    if not finite and not dtype.is_floating_point:
        bad = "start" if not np.isfinite(start) else "end"
        raise ValueError(
            f"{format_location(user_location())}: {what} {bad} must be finite for "
            f"{dtype!r}, got {start if bad == 'start' else end!r}"
        )
    if steps <= 1:  # PyTorch fills with start
        return full((steps,), start, dtype=dtype, layout=layout)
    s, e = _round_to(start, dtype), _round_to(end, dtype)
    if not finite:  # every element is inf, -inf or NaN: no rounding to care about
        with np.errstate(invalid="ignore", over="ignore"):
            values = _halves(s, e, (e - s) / (steps - 1), steps)
        return from_numpy(values.astype(dtype.numpy), layout=layout)
    if not dtype.is_floating_point:  # step in float64, as PyTorch for integral dtypes
        values = _halves(s, e, (e - s) / (steps - 1), steps)
        return from_numpy(np.trunc(values).astype(dtype.numpy), layout=layout)
    halfway = steps // 2
    position = _iota(steps, 0, 1, int32, layout)
    first_half = _binary(flame.LtOp, position, _scalar_node(halfway, int32), bool_, layout)
    low: Tensor
    high: Tensor
    f32 = np.float32
    if dtype is float32:
        step = float(f32(f32(e) - f32(s)) / f32(steps - 1))
        low = _iota(steps, s, step, dtype, layout)
        # end - step * (steps - 1 - i) = (end - step * (steps - 1)) + step * i, exact in float64
        high = _iota(steps, float(Fraction(e) - Fraction(step) * (steps - 1)), step, dtype, layout)
    else:

        def rnd(v: Any) -> float:
            return float(f32(v).astype(dtype.numpy))

        step = rnd(f32(rnd(f32(e) - f32(s))) / f32(rnd(steps - 1)))
        j = _iota(steps, steps - 1, -1, int32, layout)  # steps - 1 - i
        step_node = _scalar_node(step, dtype)
        offsets = [
            _binary(
                flame.MulOp,
                step_node,
                _node(flame.ConvertOp, (k,), (steps,), dtype, layout=layout),
                dtype,
                layout,
            )
            for k in (position, j)
        ]
        low = _binary(flame.AddOp, _scalar_node(s, dtype), offsets[0], dtype, layout)
        high = _binary(flame.SubOp, _scalar_node(e, dtype), offsets[1], dtype, layout)
    return _node(flame.WhereOp, (first_half, low, high), (steps,), dtype, layout=layout)


def logspace(
    start: float,
    end: float,
    steps: int,
    base: float = 10.0,
    *,
    dtype: DType | None = None,
    layout: MeshLayout | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """`base ** linspace(start, end, steps)`, like torch.logspace (float32 by default), with
    PyTorch 2.13's formula: the exponents start + step * i (i < steps // 2) and
    end - step * (steps - 1 - i) in float64 (start, end rounded to `dtype` first), the power in
    float64, rounded once to `dtype` (truncated for ints). Computed on the host and uploaded
    (a program input, as `from_numpy`): the PEs have no float64, and a float32 power of a
    float32 exponent would be off by many ulps for large exponents."""
    out = _logspace(start, end, steps, base, dtype, layout)
    return made(out, device, requires_grad, "logspace")


def _logspace(
    start: float,
    end: float,
    steps: int,
    base: float,
    dtype: DType | None,
    layout: MeshLayout | None,
) -> Tensor:
    """torch.logspace's values (`logspace` without device= and requires_grad=)."""
    what = "logspace"
    start, end = _number(start, f"{what} start"), _number(end, f"{what} end")
    steps = _steps(steps, what)
    base = float(_number(base, f"{what} base"))
    dtype = _spaced_dtype(dtype, what)
    if steps <= 1:
        values = np.full(steps, base ** float(start), dtype=np.float64)
    else:
        s, e = _round_to(start, dtype), _round_to(end, dtype)
        if dtype.is_floating_point:  # the difference in the dtype's arithmetic
            diff = float(np.float32(np.float32(e) - np.float32(s)).astype(dtype.numpy))
        else:
            diff = e - s
        values = np.power(base, _halves(s, e, diff / (steps - 1), steps))
    if dtype.is_floating_point:
        data = values.astype(np.float32).astype(dtype.numpy)
    else:
        if values.size and not np.all(np.isfinite(values)):
            raise IntegerOverflowError(
                f"{format_location(user_location())}: {what}: values cannot be converted to "
                f"{dtype!r} without overflow"
            )
        values = np.trunc(values)
        for v in (values.min(), values.max()) if values.size else ():
            _fits(float(v), dtype, what)
        data = values.astype(dtype.numpy)
    return from_numpy(data, layout=layout)


def eye(
    n: int,
    m: int | None = None,
    *,
    dtype: DType = float32,
    layout: MeshLayout | None = None,
    device: Any = None,
    requires_grad: bool = False,
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
        _node(flame.IotaOp, (), shape, int32, {"dim": d, "start": 0.0, "step": 1.0}, layout)
        for d in (0, 1)
    ]
    same = _node(flame.EqOp, index, shape, bool_, layout=layout)
    out = same if dtype is bool_ else _node(flame.ConvertOp, (same,), shape, dtype, layout=layout)
    return made(out, device, requires_grad, "eye")
