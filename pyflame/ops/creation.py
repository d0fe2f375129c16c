"""Creation: `from_numpy`, `full`, `zeros`, `ones`, `*_like`, `arange`, `eye`.

A constant is one flame.fill (every PE writes its own tile); arange is one flame.iota; eye
compares two iotas (computed on the PEs from global indices, never uploaded). Random tensors are
in pyflame/ops/sampling.py.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame.core.dtypes import DType, as_dtype, bool_, float32, from_numpy_dtype, int32
from pyflame.core.errors import IntegerOverflowError
from pyflame.dialects import flame
from pyflame.layout import MeshLayout
from pyflame.ops.node import _check_layout, _check_tensor, _fits, _is_scalar, _node, _sizes
from pyflame.tensor import Tensor, format_location, user_location


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
        out.name = name
    return out


def full(
    size: Sequence[int] | int,
    fill_value: float | bool,
    *,
    dtype: DType | None = None,
    layout: MeshLayout | None = None,
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
    return _node(flame.FillOp, (), shape, dtype, {"value": value}, layout)


def _fill_dtype(value: Any) -> DType:
    """torch.full's dtype for a number: bool for a Python bool, int for an int (numpy ints
    too), float otherwise (numpy floats and numpy bools too, as torch 2.13)."""
    if isinstance(value, builtins.bool):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int32
    return float32


def zeros(*size: Any, dtype: DType = float32, layout: MeshLayout | None = None) -> Tensor:
    return full(_sizes(size, "zeros"), 0.0, dtype=dtype, layout=layout)


def ones(*size: Any, dtype: DType = float32, layout: MeshLayout | None = None) -> Tensor:
    return full(_sizes(size, "ones"), 1.0, dtype=dtype, layout=layout)


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


def _number(value: Any, what: str) -> int | float:
    if isinstance(value, builtins.bool) or not _is_scalar(value):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    out = float(value)
    if not np.isfinite(out):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return out


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
    start, end, step = (
        _number(v, f"arange {n}") for v, n in ((start, "start"), (end, "end"), (step, "step"))
    )
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
    return _node(flame.IotaOp, (), (int(builtins.max(n, 0)),), dtype, attrs, layout)


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
        _node(flame.IotaOp, (), shape, int32, {"dim": d, "start": 0.0, "step": 1.0}, layout)
        for d in (0, 1)
    ]
    same = _node(flame.EqOp, index, shape, bool_, layout=layout)
    return same if dtype is bool_ else _node(flame.ConvertOp, (same,), shape, dtype, layout=layout)
