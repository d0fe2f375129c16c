"""Every reduction kind, in one table: its numpy meaning, how two partial results combine, the
identity that padding is masked with, and its cost. The mesh and pe dialects (`kind` of
`mesh.local_reduce`, `mesh.allreduce`, `pe.reduce`; `combine` of `pe.recv`), the lowerings and
the simulator all read this table, so a new reduction kind is one entry here.

    flame.reduce_max  ->  mesh.mask_pad %x value -inf      (the identity of "max")
                          mesh.local_reduce max %x dims [0]  (numpy: np.max over the tile)
                          mesh.allreduce max %p dims [0]     (pe.recv {combine = "max"}: np.maximum)

Half-precision floats (f16, bf16) sum in float32 and round once, and multiply as half floats
(each product rounded, in order), as PyTorch does on the CPU (its sum accumulates in float32,
its prod kernel multiplies scalar_t by scalar_t). max and min propagate NaN, like torch.max.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyflame.core import elementwise
from pyflame.core.elementwise import numpy_function

if TYPE_CHECKING:  # numpy is imported when a reduction first runs (see core/elementwise.py)
    import numpy as np
from xdsl.utils.str_enum import StrEnum

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class Reduction:
    """One reduction kind."""

    name: str
    #: reduce over axes: fn(array, axis=..., keepdims=True, [dtype=...]) (the ufunc's reduce:
    #: np.sum's, np.max's, ... own, without their wrappers)
    reduce: Callable[..., np.ndarray]
    #: combine two partial results elementwise (a recv with `combine`)
    combine: Callable[[np.ndarray, np.ndarray], np.ndarray]
    #: the value that changes nothing: padding is masked with it (floats, ints, bools)
    float_identity: float
    int_identity: int
    bool_identity: bool
    #: half floats accumulate in float32 and round once (sum), bools count as ints (sum, prod);
    #: max and min are exact in any type
    widens: bool = False
    #: half floats round every step, in order (prod: PyTorch's CPU kernel multiplies halves)
    rounds_each_step: bool = False
    #: operations per element (for the cost model)
    flops: int = 1


def _entries(*items: Reduction) -> dict[str, Reduction]:
    return {r.name: r for r in items}


KINDS = _entries(
    Reduction(
        "sum", numpy_function("add.reduce"), numpy_function("add"), 0.0, 0, False, widens=True
    ),
    Reduction(
        "prod",
        numpy_function("multiply.reduce"),
        numpy_function("multiply"),
        1.0,
        1,
        True,
        widens=True,
        rounds_each_step=True,
    ),
    Reduction(
        "max",
        numpy_function("maximum.reduce"),
        numpy_function("maximum"),
        -math.inf,
        INT32_MIN,
        False,
    ),
    Reduction(
        "min",
        numpy_function("minimum.reduce"),
        numpy_function("minimum"),
        math.inf,
        INT32_MAX,
        True,
    ),
)


def identity(kind: str, element_type: str) -> float:
    """The mask value for padding before reducing with `kind`, for an MLIR element type
    (`f32`, `bf16`, `i32`, `i1`), as the float that `mask_pad`'s `value` holds."""
    entry = KINDS[kind]
    if element_type == "i1":
        return float(entry.bool_identity)
    if elementwise.ELEMENT_TYPES.get(element_type, ("", 0, True))[2]:
        return entry.float_identity
    return float(entry.int_identity)


def _is_half(dtype: np.dtype) -> bool:
    return dtype.itemsize == 2 and dtype.kind in "fV"


def reduce(kind: str, array: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """`array` reduced over `axes` (kept as size 1) in its own dtype; half floats sum in
    float32 (the caller rounds when it stores) and multiply in their own type, one rounding
    per product in row-major order over `axes` (numpy's float16 prod groups its products)."""
    import numpy as np

    entry = KINDS[kind]
    if entry.rounds_each_step and _is_half(array.dtype):
        return _in_order(entry, array, axes)
    if entry.widens and _is_half(array.dtype):
        return entry.reduce(array, axis=axes, keepdims=True, dtype=np.float32)
    if entry.widens and array.dtype == np.bool_:
        return entry.reduce(array, axis=axes, keepdims=True).astype(np.bool_)
    return entry.reduce(array, axis=axes, keepdims=True)


def _in_order(entry: Reduction, array: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """`array` reduced over `axes` one element at a time from the identity, each step computed
    in float32 and rounded to the array's type (exact for a half-float product)."""
    import numpy as np

    kept = [a for a in range(array.ndim) if a not in axes]
    moved = np.transpose(array, kept + list(axes))
    out_shape = [1 if a in axes else n for a, n in enumerate(array.shape)]
    count = math.prod(array.shape[a] for a in axes)
    flat = moved.reshape(*moved.shape[: len(kept)], count)
    acc = np.full(flat.shape[:-1], entry.float_identity, dtype=array.dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN, as in PyTorch
        for k in range(count):
            acc = entry.combine(acc.astype(np.float32), flat[..., k].astype(np.float32))
            acc = acc.astype(array.dtype)
    return acc.reshape(out_shape)


def combine(kind: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two partial results combined elementwise; half floats in float32, then rounded."""
    import numpy as np

    entry = KINDS[kind]
    if _is_half(a.dtype):
        return entry.combine(a.astype(np.float32), b.astype(np.float32)).astype(a.dtype)
    return entry.combine(a, b).astype(a.dtype, copy=False)


#: The closed set of reduction names (`kind` of the mesh and pe reductions, `combine` of a
#: receive), built from the table so that an entry above is the only edit.
ReductionKind = StrEnum("ReductionKind", [(n, n) for n in KINDS])  # type: ignore[call-overload]  # members from the table


class PoolKind(StrEnum):
    """Pooling kinds of conv-style windows (max_pool2d, avg_pool2d), shared by mesh and pe."""

    MAX = "max"
    AVG = "avg"


POOL_KINDS = frozenset(PoolKind)
