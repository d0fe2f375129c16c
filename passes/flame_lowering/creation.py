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
    lw.deferred[op.result] = lambda dist: mesh.FillOp.create(
        attributes={"value": op.value}, result_types=[mesh_type(dist, elem)]
    )


def lower_random_normal(op: flame.RandomNormalOp, lw: Lowering) -> None:
    seed = lw.value(op.seed)
    elem = op.result.type.element_type
    lw.deferred[op.result] = lambda dist: mesh.RandomNormalOp.create(
        operands=[seed], result_types=[mesh_type(dist, elem)]
    )


def lower_iota(op: flame.IotaOp, lw: Lowering) -> None:
    elem = op.result.type.element_type
    attrs = {"dim": op.dim, "start": op.start, "step": op.step}
    lw.deferred[op.result] = lambda dist: mesh.IotaOp.create(
        attributes=attrs, result_types=[mesh_type(dist, elem)]
    )


def lower_random_uniform(op: flame.RandomUniformOp, lw: Lowering) -> None:
    seed = lw.value(op.seed)
    elem = op.result.type.element_type
    attrs = {"minval": op.minval, "maxval": op.maxval}
    lw.deferred[op.result] = lambda dist: mesh.RandomUniformOp.create(
        operands=[seed], attributes=attrs, result_types=[mesh_type(dist, elem)]
    )


LOWERINGS: dict[type[Operation], Callable] = {
    flame.FillOp: lower_fill,
    flame.RandomNormalOp: lower_random_normal,
    flame.IotaOp: lower_iota,
    flame.RandomUniformOp: lower_random_uniform,
}
