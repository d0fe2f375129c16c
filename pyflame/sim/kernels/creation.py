"""Kernels of the ops that make data on the PEs: pe.random_normal, pe.random_uniform and
pe.iota. Each PE computes its elements from their global indices in the op's layout (once at
plan time for iota, per run for the random ops, whose seed is an argument or a constant)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from xdsl.ir import SSAValue

from pyflame.core.errors import CompileError
from pyflame.dialects import pe
from pyflame.sim import rng
from pyflame.sim.costs import CostKind
from pyflame.sim.int32_checks import I32, as_int32
from pyflame.sim.kernels.registry import kernel
from pyflame.sim.layout_io import global_coords, global_index, kept_grid
from pyflame.sim.schedule import Item, Schedule


def _seed_reader(s: Schedule, it: Item, seed: SSAValue) -> Callable[[list[Any]], int]:
    """The seed of a random op at run time: an argument of @main or a constant."""
    if seed in s.arg_index:
        ai = s.arg_index[seed]
        return lambda A: A[ai]
    if seed in s.consts:
        value = s.consts[seed]
        return lambda A: value
    raise CompileError(f"{it.what}: the seed must be an argument of @main or a constant")


@kernel(pe.RandomNormalOp)
def random_normal(s: Schedule, it: Item, op: pe.RandomNormalOp) -> None:
    dist = op.layout.dist
    s.check_layout_grid(it, dist)
    b = s.buf(op.buffer, it)
    L = dist.local_elems
    pr, pc = kept_grid(dist)
    idx, _ = global_index(dist, pr, pc)
    sl, i = b.sub(it.rect, L), b.index
    seed_of = _seed_reader(s, it, op.seed)
    dtype = b.dtype

    def step(V, F, A, O):
        V[i][sl] = rng.normal(seed_of(A), idx).astype(dtype)

    s.steps.append(step)
    s.charge(it.rect, CostKind.RANDOM_NORMAL, L, buf=b)


@kernel(pe.IotaOp)
def iota(s: Schedule, it: Item, op: pe.IotaOp) -> None:
    dist = op.layout.dist
    s.check_layout_grid(it, dist)
    b = s.buf(op.buffer, it)
    pr, pc = kept_grid(dist)
    coords, _ = global_coords(dist, pr, pc)
    dim = op.dim.value.data
    values = op.start.value.data + op.step.value.data * coords[dim].astype(np.float64)
    if b.dtype.kind == "i":
        values = np.floor(values)
        if b.dtype == I32:
            as_int32(values, it.what, "iota")
    tiles = values.astype(b.dtype)
    sl, i = b.sub(it.rect, dist.local_elems), b.index

    def step(V, F, A, O):
        V[i][sl] = tiles

    s.steps.append(step)
    s.charge(it.rect, CostKind.IOTA, dist.local_elems, buf=b)


@kernel(pe.RandomUniformOp)
def random_uniform(s: Schedule, it: Item, op: pe.RandomUniformOp) -> None:
    dist = op.layout.dist
    s.check_layout_grid(it, dist)
    b = s.buf(op.buffer, it)
    pr, pc = kept_grid(dist)
    idx, _ = global_index(dist, pr, pc)
    sl, i = b.sub(it.rect, dist.local_elems), b.index
    seed_of = _seed_reader(s, it, op.seed)
    low, high = op.minval.value.data, op.maxval.value.data
    dtype = b.dtype
    draw: Callable[[int], np.ndarray]
    if dtype.kind == "i":
        lo, hi = int(low), int(high)

        def draw(seed):
            return rng.integers(seed, idx, lo, hi).astype(dtype)
    elif (low, high) == (0.0, 1.0):

        def draw(seed):
            return rng.uniform_float(seed, idx, dtype)
    else:

        def draw(seed):
            u = rng.uniform_float(seed, idx, np.float64)
            return (low + (high - low) * u).astype(dtype)

    def step(V, F, A, O):
        V[i][sl] = draw(seed_of(A))

    s.steps.append(step)
    s.charge(it.rect, CostKind.RANDOM_UNIFORM, dist.local_elems, buf=b)
