"""Type promotion as PyTorch does it (`torch.result_type`), for PyFlame's dtypes.

Categories order bool < integer < floating. The result takes the highest category among the
operands; within it, dimensioned tensors decide before zero-dim tensors, which decide before
Python scalars. A category reached only through a Python scalar gives that category's default
dtype (float32 for a float, int32 for an int). Two floats of different kinds promote to the
smallest float holding both (float16 with bfloat16 is float32), as in PyTorch.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame.core.dtypes import DType, bfloat16, bool_, float16, float32, int32


def category(dtype: DType) -> int:
    if dtype is bool_:
        return 0
    return 2 if dtype.is_floating_point else 1


#: the category of the plain Python number types (no isinstance against numbers' ABCs)
_PLAIN_CATEGORY = {bool: 0, int: 1, float: 2}


def scalar_category(value: Any) -> int:
    plain = _PLAIN_CATEGORY.get(type(value))
    if plain is not None:
        return plain
    if isinstance(value, bool | np.bool_):
        return 0
    if isinstance(value, numbers.Integral):
        return 1
    return 2


def promote_pair(a: DType, b: DType) -> DType:
    """The smallest dtype holding both (same or different category)."""
    if a is b:
        return a
    ca, cb = category(a), category(b)
    if ca != cb:
        return a if ca > cb else b
    if {a, b} == {float16, bfloat16}:
        return float32
    return a if a.itemsize >= b.itemsize else b


DEFAULT_FOR_CATEGORY = {0: bool_, 1: int32, 2: float32}


def _all_of(tensors: Sequence[Any], dtype: DType) -> bool:
    for t in tensors:
        if t.dtype is not dtype:
            return False
    return True


def result_type(tensors: Sequence[Any], scalars: Sequence[Any]) -> DType:
    """`tensors`: pf.Tensors; `scalars`: Python numbers."""
    first = tensors[0].dtype if tensors else None
    if first is not None and _all_of(tensors, first):
        # the common case, one dtype among the tensors: a scalar changes it only when it
        # reaches a higher category (an int tensor times 0.5)
        if not scalars:
            return first
        top = category(first)
        for s in scalars:  # (a loop, not max() of a generator: most elementwise ops ask)
            if scalar_category(s) > top:
                break
        else:
            return first
    groups: list[list[DType]] = [
        [t.dtype for t in tensors if t.ndim > 0],
        [t.dtype for t in tensors if t.ndim == 0],
    ]
    top = max([category(d) for g in groups for d in g] + [scalar_category(s) for s in scalars])
    for group in groups:
        found = [d for d in group if category(d) == top]
        if found:
            out = found[0]
            for d in found[1:]:
                out = promote_pair(out, d)
            return out
    return DEFAULT_FOR_CATEGORY[top]
