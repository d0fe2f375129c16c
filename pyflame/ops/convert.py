"""dtype conversion: `astype` (`x.to(dtype)`, `x.float()`, ...), one flame.convert."""

from __future__ import annotations

from typing import Any

from pyflame.core.dtypes import as_dtype
from pyflame.dialects import flame
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.ops.node import _check_tensor, _node


def astype(x: Tensor, dtype: Any) -> Tensor:
    """`x` converted to `dtype` (also `x.to(dtype)`); a no-op when it already has it."""
    _check_tensor(x, "astype")
    dtype = as_dtype(dtype)
    if x.dtype is dtype:
        return x
    return _node(flame.ConvertOp, (x,), x.shape, dtype)


def refuse_dtype(x: Tensor, method: str, torch_dtype: str, instead: str) -> Tensor:
    """`x.double()`, `x.byte()`, ...: a dtype PyFlame does not hold (the PEs compute in 32
    bits: float32, float16, bfloat16, int32, bool) is a TypeError at the user's line, never
    a silently different dtype."""
    _check_tensor(x, method)
    raise TypeError(
        f"{format_location(user_location())}: x.{method}(): PyFlame has no {torch_dtype} (its "
        f"dtypes are pf.float32, pf.float16, pf.bfloat16, pf.int32 and pf.bool); use {instead}"
    )
