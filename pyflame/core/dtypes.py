"""Element types: `pf.float32` (default), `pf.float16`, `pf.bfloat16`, `pf.int32`, `pf.bool`.

Each is a small immutable object naming its numpy dtype (`.numpy`) and its MLIR element type
(`.mlir`). Both are resolved on first use: xDSL's builtin dialect and ml_dtypes (bfloat16, about
0.3-0.9 s to import) are loaded only by programs that need them, so the tools start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from xdsl.ir import Attribute


class DType:
    """One element type. Compare with `==` or `is`; there is one object per dtype."""

    __slots__ = ("_mlir_name", "_numpy", "is_floating_point", "name")

    def __init__(self, name: str, numpy_dtype: str, mlir_name: str, is_float: bool):
        self.name = name
        self._numpy: np.dtype | str = numpy_dtype  # a numpy dtype name until first use
        self._mlir_name = mlir_name
        self.is_floating_point = is_float

    @property
    def numpy(self) -> np.dtype:
        """The numpy dtype (ml_dtypes' for bfloat16)."""
        if isinstance(self._numpy, np.dtype):
            return self._numpy
        if self._numpy == "bfloat16":
            import ml_dtypes

            resolved = np.dtype(ml_dtypes.bfloat16)
        else:
            resolved = np.dtype(self._numpy)
        self._numpy = resolved
        return resolved

    @property
    def numpy_name(self) -> str:
        """The numpy dtype's name ("float32", "bfloat16", ...), without resolving it."""
        return self._numpy if isinstance(self._numpy, str) else self._numpy.name

    @property
    def mlir(self) -> Attribute:
        """The xDSL element type (f32, f16, bf16, i32, i1)."""
        from xdsl.dialects import builtin

        return getattr(builtin, self._mlir_name)

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    def __repr__(self) -> str:
        return f"pf.{self.name}"

    def __reduce__(self) -> str:
        return self.name  # module-level singleton (copy/pickle return the same object)


float32 = DType("float32", "float32", "f32", True)
float16 = DType("float16", "float16", "f16", True)
bfloat16 = DType("bfloat16", "bfloat16", "bf16", True)
int32 = DType("int32", "int32", "i32", False)
bool_ = DType("bool", "bool", "i1", False)
# `pf.bool` is exported from pyflame/__init__.py; the module-level alias makes pickling work.
globals()["bool"] = bool_

ALL: tuple[DType, ...] = (float32, float16, bfloat16, int32, bool_)
_BY_NAME = {d.name: d for d in ALL}

# PyTorch's int64 (its index dtype): the PEs compute in 32 bits, so PyFlame holds int64 as
# int32 (`pf.int64 is pf.int32`; `x.long()`, `dtype=torch.int64`, `np.int64` data all give
# int32). Data that does not fit is refused when it enters (from_numpy), and int32 arithmetic
# on the PEs refuses to wrap (pyflame/sim/int32_checks.py). docs/ops.md, "int64".
int64 = int32
_BY_NAME |= {"int64": int32, "long": int32}


def from_numpy_dtype(dtype: np.dtype) -> DType | None:
    """The PyFlame dtype holding exactly this numpy dtype, or None."""
    wanted = np.dtype(dtype)
    # names first: resolving bfloat16's numpy dtype imports ml_dtypes (half a second), which a
    # program that has no bfloat16 never needs
    return next((d for d in ALL if d.numpy_name == wanted.name and d.numpy == wanted), None)


def by_name(name: str) -> DType:
    return _BY_NAME[name]


def as_dtype(value: object) -> DType:
    """Accept a DType, a numpy dtype (or type) or a name, as `dtype=` arguments do."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str) and value in _BY_NAME:
        return _BY_NAME[value]
    if str(value) in ("torch.int64", "torch.long"):  # torch's index dtype, without importing torch
        return int32
    try:
        if np.dtype(value) == np.int64:  # type: ignore[call-overload]  # any value np.dtype takes; TypeError is caught below
            return int32
        found = from_numpy_dtype(np.dtype(value))  # type: ignore[call-overload]  # any value np.dtype takes; TypeError is caught below
    except TypeError:
        found = None
    if found is None:
        names = ", ".join(repr(d) for d in ALL)
        raise TypeError(f"unsupported dtype {value!r}; PyFlame dtypes are {names}")
    return found
