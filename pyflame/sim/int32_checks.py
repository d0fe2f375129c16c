"""int32 arithmetic that refuses to wrap.

PyFlame stores PyTorch's int64 as int32. int32 kernels compute in int64 (products and powers
checked in float64 too) and refuse a result outside int32 instead of wrapping; float kernels
are untouched. An integer division (floor_divide, remainder, fmod) by zero is refused as
PyTorch refuses it (`refuse_zero_divisor`). Checked: binary add/sub/mul/pow/floor_divide,
unary neg/abs/scale, sum/prod reduce and recv combine, matmul_acc, float -> int32 convert, iota and fill constants. Elementwise ops that
carry their result's tile layout (the lowering sets it on int32 results) check only the real
lanes: padding may hold a reduction's identity (an argmax's padding INT32_MAX, + 1).
"""

from __future__ import annotations

import numpy as np

from pyflame.core.errors import IntegerDivisionByZeroError, IntegerOverflowError
from pyflame.dialects.pe import TileLayoutAttr
from pyflame.sim.executable import Buffer
from pyflame.sim.layout_io import global_index

I32 = np.dtype(np.int32)
I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def as_int32(wide: np.ndarray, what: str, kind: str, real: np.ndarray | None = None) -> np.ndarray:
    """`wide` (the true int64 or float values) as int32, or an IntegerOverflowError naming
    the op (its user line) and one value that does not fit. `real`: the lanes that hold the
    tensor's elements (`real_lanes`); padding lanes wrap unchecked (nothing reads them)."""
    ok = (wide >= I32_MIN) & (wide <= I32_MAX)  # False for NaN
    if real is not None:
        ok |= ~real
    if not ok.all():
        first = wide[~ok].flat[0]
        value = int(first) if np.isfinite(first) else float(first)
        raise IntegerOverflowError(
            f"{what}: int32 overflow: {kind} gives {value}, outside pf.int32's "
            f"[{I32_MIN}, {I32_MAX}] (PyFlame holds PyTorch's int64 as int32 and reports "
            "what would wrap; compute in float32 with .float() for larger values)"
        )
    return wide.astype(np.int32)


def refuse_zero_divisor(b: np.ndarray, what: str, kind: str, real: np.ndarray | None) -> None:
    """An IntegerDivisionByZeroError naming the op (its user line) when a real lane of the
    divisor `b` is 0 (PyTorch's RuntimeError "ZeroDivisionError"); padding lanes may hold 0."""
    zero = b == 0
    if real is not None:
        zero = zero & real  # (a one-element divisor is each PE's: it meets every lane)
    if zero.any():
        count = int(zero.sum())
        raise IntegerDivisionByZeroError(
            f"{what}: {kind}: ZeroDivisionError: integer division by zero ({count} "
            f"divisor element{'s' if count != 1 else ''} 0; PyTorch raises "
            "RuntimeError('ZeroDivisionError'))"
        )


def real_lanes(layout: TileLayoutAttr | None, rows: int, cols: int, lanes: int):
    """The (rows, cols, lanes) mask of the lanes of a buffer that hold elements of a tensor
    tiled by `layout` (its padding and the lanes past its tile are not), or None without a
    layout (every lane is checked)."""
    if layout is None:
        return None
    _, valid = global_index(layout.dist, rows, cols)
    real = np.zeros((rows, cols, lanes), dtype=bool)
    real[:, :, : valid.shape[2]] = valid
    return real


def all_int32(*bufs: Buffer) -> bool:
    """Whether every buffer holds int32 (the op then computes in int64, checked)."""
    return all(b.dtype == I32 for b in bufs)
