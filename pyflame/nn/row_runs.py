"""Rows of a tensor at a constant index along a dim, read by slices when the index allows:
the lookups of resizing (`F.interpolate`) and adaptive pooling, whose indices step evenly
through the input but at their ends.

An index of o entries into n rows repeats with period p = o / gcd(n, o): phase r (entries
r, r + p, ...) steps by n / gcd(n, o) rows, but for a few entries at its ends (clamped to the
edge rows, or PyTorch's i0 + 1 past a clamped source). Each phase is then one strided
`flame.slice` (and a few one-row slices, `flame.concat`), and the p phases are interleaved
(`flame.concat` + `flame.reshape`): data moves between neighbours only, where `index_select`
(`flame.gather_rows`) sends the index to every PE and sums the rows across the table's split.

    rows_at(x, 2, [0, 0, 1, 1, 2, 2])   # phases [0, 1, 2] and [0, 1, 2]: x twice, interleaved

Exact (data moves only); any index without that form reads rows with `index_select`.
"""

from __future__ import annotations

import math

import numpy as np

from pyflame import ops
from pyflame.indexing import index_select
from pyflame.lazy_tensor import Tensor

#: a lookup whose index repeats with at most this many phases (out / gcd(in, out)) reads
#: slices of x; more phases read rows with index_select
MAX_PHASES = 8
#: rows off a phase's even stride (at its ends: clamped, or PyTorch's i0 + 1 past a clamped
#: source) read one by one, at most this many per phase
MAX_ODD_ROWS = 4


def phases(x: Tensor, dim: int, index: np.ndarray) -> list[Tensor] | None:
    """x's rows at `index` along `dim` (o entries) as p phases, phase r the rows
    index[r::p] (p = o / gcd(n, o)), when each phase is an evenly strided run of x's rows
    (step n / gcd) but for a few rows at its ends (as resizing indices are: clamped to the
    edges): a strided slice and single rows. None when they are not, or for more than
    MAX_PHASES phases."""
    n, o = x.shape[dim], len(index)
    g = math.gcd(n, o)
    p, step = o // g, n // g
    if p > MAX_PHASES:
        return None
    phases = []
    for r in range(p):
        run = index[r::p]
        first, end = _longest_stride(run, step)
        if first + (g - end) > MAX_ODD_ROWS:
            return None
        phases.append(_run_rows(x, dim, run, first, end, step))
    return phases


def _longest_stride(run: np.ndarray, step: int) -> tuple[int, int]:
    """[first, end): the longest stretch of `run` going up by `step` at each entry."""
    best, first = (0, 1), 0
    for i in range(1, len(run) + 1):
        if i == len(run) or run[i] - run[i - 1] != step:
            if i - first > best[1] - best[0]:
                best = (first, i)
            first = i
    return best


def _run_rows(x: Tensor, dim: int, run: np.ndarray, first: int, end: int, step: int) -> Tensor:
    """x's rows at `run` along `dim`: run[first:end] by one strided slice, the rest one by
    one."""
    keep = (slice(None),) * dim
    pieces = [x[(*keep, slice(int(v), int(v) + 1))] for v in run[:first]]
    pieces.append(x[(*keep, slice(int(run[first]), int(run[end - 1]) + 1, step))])
    pieces += [x[(*keep, slice(int(v), int(v) + 1))] for v in run[end:]]
    return pieces[0] if len(pieces) == 1 else ops.cat(pieces, dim)


def interleaved(parts: list[Tensor], dim: int) -> Tensor:
    """out[r + p * i] = parts[r][i] along `dim` (p parts of one shape)."""
    if len(parts) == 1:
        return parts[0]
    y = ops.stack(parts, dim + 1)
    shape = list(parts[0].shape)
    shape[dim] *= len(parts)
    return y.reshape(shape)


def rows_at(x: Tensor, dim: int, index: np.ndarray) -> Tensor:
    """x's rows at the constant `index` along `dim`: by slices when its phases step evenly,
    else by `index_select`."""
    parts = phases(x, dim, index)
    if parts is not None:
        return interleaved(parts, dim)
    return index_select(x, dim, ops.from_numpy(np.asarray(index).astype(np.int32)))


__all__ = ["MAX_ODD_ROWS", "MAX_PHASES", "interleaved", "phases", "rows_at"]
