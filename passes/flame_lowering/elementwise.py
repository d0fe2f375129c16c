"""Elementwise ops (unary, binary, where) and convert run on tiles; operands laid out differently
are redistributed first, lazy leaves are placed where the result is.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

from pyflame.core.distribution import Distribution
from pyflame.dialects import flame, mesh
from pyflame.passes.flame_lowering.state import Lowering, mesh_type
from pyflame.passes.layouts import (
    elem_bytes_of,
)


def tile_operand_dist(v: SSAValue, target: Distribution) -> Distribution:
    """Where an elementwise operand must be: like the result, or (rank-0) one element per PE."""
    if flame.tensor_shape(v):
        return target
    return target.with_(shape=(), split=())


def elementwise_result(lw: Lowering, op: Operation, operands: list[SSAValue]) -> Distribution:
    """The result's distribution: its hint, else a placed full-shape operand's, else default
    (sized for the widest of the result and its full-shape operands: an f32 operand of a bool
    result must fit too)."""
    full = [v for v in operands if flame.tensor_shape(v) == flame.tensor_shape(op.results[0])]
    known = [d for d in (lw.known_dist(v) for v in full) if d is not None]
    widest = max([op.results[0], *full], key=lambda v: elem_bytes_of(mesh.elem_of(v)))
    return lw.hinted(op.results[0]) or (known[0] if known else lw.placed(widest))


def lower_elementwise(op: Operation, lw: Lowering) -> SSAValue:
    """Unary and binary elementwise ops and where: tiles in, tiles out."""
    operands = list(op.operands)
    target = elementwise_result(lw, op, operands)
    values = [lw.value_as(v, tile_operand_dist(v, target)) for v in operands]
    result = mesh_type(target, mesh.elem_of(op.results[0]))
    if isinstance(op, flame.WhereOp):
        cond, lhs, rhs = values
        return lw.emit(mesh.SelectOp(cond, lhs, rhs, result))
    fn = op.ENTRY.name  # type: ignore[attr-defined]  # elementwise flame ops declare ENTRY
    if len(values) == 1:
        return lw.emit(mesh.UnaryOp(fn, values[0]))
    return lw.emit(mesh.BinaryOp(fn, values[0], values[1], result))


def lower_convert(op: flame.ConvertOp, lw: Lowering) -> SSAValue:
    x = lw.value(op.input)
    return lw.emit(mesh.ConvertOp(x, op.result.type.element_type))


LOWERINGS: dict[type[Operation], Callable] = {
    **{cls: lower_elementwise for cls in flame.UNARY_OPS.values()},
    **{cls: lower_elementwise for cls in flame.BINARY_OPS.values()},
    flame.WhereOp: lower_elementwise,
    flame.ConvertOp: lower_convert,
}
