"""Creation ops (fill, random_normal, iota, random_uniform) are lazy leaves: placed at their first
use, in the layout that use wants (or their hint, or the default), each PE computing its own
elements.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.ir import Operation

from pyflame.dialects import flame, mesh
from pyflame.passes.flame_lowering.state import Lowering, mesh_type


def lower_fill(op: flame.FillOp, lw: Lowering) -> None:
    elem = op.result.type.element_type
    value = op.value.value.data
    lw.deferred[op.result] = lambda dist: mesh.FillOp(value, mesh_type(dist, elem))


def lower_random_normal(op: flame.RandomNormalOp, lw: Lowering) -> None:
    seed = lw.value(op.seed)
    elem = op.result.type.element_type
    lw.deferred[op.result] = lambda dist: mesh.RandomNormalOp(seed, mesh_type(dist, elem))


def lower_iota(op: flame.IotaOp, lw: Lowering) -> None:
    elem = op.result.type.element_type
    dim, start, step = op.dim.value.data, op.start.value.data, op.step.value.data
    lw.deferred[op.result] = lambda dist: mesh.IotaOp(dim, start, step, mesh_type(dist, elem))


def lower_random_uniform(op: flame.RandomUniformOp, lw: Lowering) -> None:
    seed = lw.value(op.seed)
    elem = op.result.type.element_type
    low, high = op.minval.value.data, op.maxval.value.data
    lw.deferred[op.result] = lambda dist: mesh.RandomUniformOp(
        seed, low, high, mesh_type(dist, elem)
    )


LOWERINGS: dict[type[Operation], Callable] = {
    flame.FillOp: lower_fill,
    flame.RandomNormalOp: lower_random_normal,
    flame.IotaOp: lower_iota,
    flame.RandomUniformOp: lower_random_uniform,
}
