"""Reductions: padding masked to the identity, a local reduce on every PE, then an allreduce along
the mesh axes the reduced dims were split over; mean scales the sum.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

from pyflame.core import reductions
from pyflame.dialects import flame, mesh
from pyflame.dialects.mesh import dist_of
from pyflame.passes.flame_lowering.state import Lowering, mask_pad, scale


def reduce(lw: Lowering, x: SSAValue, kind: str, dims: tuple[int, ...], keepdim: bool) -> SSAValue:
    """Padding in the reduced dims masked with the kind's identity (0 for sum, -inf or the
    smallest int for max, ...: pyflame/core/reductions.py), a local reduce on every PE, then an
    allreduce over the mesh axes the dims were split on."""
    src = dist_of(x)
    elem = mesh.elem_of(x)
    if src.has_padding(dims):
        x = mask_pad(lw, x, reductions.identity(kind, str(elem)))
    x = lw.emit(mesh.LocalReduceOp(kind, x, dims))
    split_dims = tuple(d for d in dims if src.parts(d) > 1)
    if split_dims:
        x = lw.emit(mesh.AllReduceOp(kind, x, split_dims))
    if not keepdim:
        d = dist_of(x)
        kept = [i for i in range(len(d.shape)) if i not in dims]
        squeezed = d.with_(shape=[d.shape[i] for i in kept], split=[d.split[i] for i in kept])
        x = lw.emit(mesh.ReshapeOp(x, squeezed))
    return x


def reduce_sum(lw: Lowering, x: SSAValue, dims: tuple[int, ...], keepdim: bool) -> SSAValue:
    return reduce(lw, x, "sum", dims, keepdim)


#: the reduction kind of each primitive flame reduction op
REDUCE_KIND_OF = {cls: kind for kind, cls in flame.REDUCE_OPS.items()}


def lower_reduce(op: flame.ReduceSumOp, lw: Lowering) -> SSAValue:
    """reduce_sum, reduce_prod, reduce_max, reduce_min."""
    kind = REDUCE_KIND_OF[type(op)]
    return reduce(lw, lw.value(op.input), kind, op.dim_tuple, op.keepdim is not None)


def lower_reduce_mean(op: flame.ReduceMeanOp, lw: Lowering) -> SSAValue:
    shape = flame.tensor_shape(op.input)
    count = math.prod(shape[d] for d in op.dim_tuple)
    total = reduce_sum(lw, lw.value(op.input), op.dim_tuple, op.keepdim is not None)
    return scale(lw, total, 1.0 / count if count else math.nan)


LOWERINGS: dict[type[Operation], Callable] = {
    **{cls: lower_reduce for cls in flame.REDUCE_OPS.values()},
    flame.ReduceMeanOp: lower_reduce_mean,
}
