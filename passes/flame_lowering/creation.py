"""Creation ops (fill, random_normal, iota, random_uniform) are lazy leaves: placed at their first
use, in the layout that use wants (or their hint, or the default), each PE computing its own
elements. A fill or an iota that a later use wants in another layout is made again there
(`lw.remakes`: a few cycles of local work) instead of redistributed (an exchange, and the
barriers its route switches may need): a causal mask's row and column indices come from one
iota after CSE.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

from pyflame.core.distribution import Distribution
from pyflame.dialects import flame, mesh
from pyflame.passes.flame_lowering.state import Lowering, mesh_type


def lower_fill(op: flame.FillOp, lw: Lowering) -> None:
    elem = op.result.type.element_type
    value = op.value.value.data
    _remade_anywhere(op.result, lw, lambda dist: mesh.FillOp(value, mesh_type(dist, elem)))


def lower_random_normal(op: flame.RandomNormalOp, lw: Lowering) -> None:
    seed = lw.value(op.seed)
    elem = op.result.type.element_type
    lw.deferred[op.result] = lambda dist: mesh.RandomNormalOp(seed, mesh_type(dist, elem))


def lower_iota(op: flame.IotaOp, lw: Lowering) -> None:
    elem = op.result.type.element_type
    dim, start, step = op.dim.value.data, op.start.value.data, op.step.value.data
    _remade_anywhere(
        op.result, lw, lambda dist: mesh.IotaOp(dim, start, step, mesh_type(dist, elem))
    )


def _remade_anywhere(
    result: SSAValue, lw: Lowering, make: Callable[[Distribution], Operation]
) -> None:
    """A lazy leaf whose elements depend on their global index only: placed at its first use,
    made again for each other layout a use wants."""
    lw.deferred[result] = make
    lw.remakes[result] = lambda dist: lw.emit(make(dist))


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
