"""dtype conversion: `astype` (`x.to(dtype)`, `x.float()`, ...), one flame.convert."""

from __future__ import annotations

from typing import Any

from pyflame.core.dtypes import as_dtype
from pyflame.dialects import flame
from pyflame.lazy_tensor import Tensor
from pyflame.ops.node import _check_tensor, _node


def astype(x: Tensor, dtype: Any) -> Tensor:
    """`x` converted to `dtype` (also `x.to(dtype)`); a no-op when it already has it."""
    _check_tensor(x, "astype")
    dtype = as_dtype(dtype)
    if x.dtype is dtype:
        return x
    return _node(flame.ConvertOp, (x,), x.shape, dtype)
