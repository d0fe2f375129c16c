"""Reductions: padding masked to the identity, a local reduce on every PE, then a collective
along the mesh axes the reduced dims were split over; mean scales the sum.

The collective is mesh.reduce (the total ends on PE row/column 0, no broadcast back) when only
the host reads the result, else mesh.allreduce; its `algorithm` is the cheapest by the cost model
of pyflame.core.collectives for the vector each PE holds (B) and the lines' lengths (p).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from xdsl.dialects import func
from xdsl.ir import Operation, SSAValue

from pyflame.core import collectives, reductions
from pyflame.dialects import flame, mesh
from pyflame.dialects.mesh import dist_of
from pyflame.passes.flame_lowering.state import Lowering, mask_pad, scale


def only_host_reads(op: Operation) -> bool:
    """Whether every use of `op`'s result is a program output (so no PE needs the total)."""
    uses = list(op.results[0].uses)
    return bool(uses) and all(isinstance(u.operation, func.ReturnOp) for u in uses)


def collective(
    lw: Lowering, x: SSAValue, kind: str, dims: tuple[int, ...], to_root: bool
) -> SSAValue:
    """mesh.reduce (`to_root`) or mesh.allreduce over `dims`, with the algorithm the cost model
    picks (`collectives.choose`)."""
    src = dist_of(x)
    wavelets = collectives.wavelets_per_pe(src, getattr(mesh.elem_of(x), "bitwidth", 32))
    algorithm = collectives.choose(
        collectives.reduced_lines(src, dims), wavelets, lw.target, to_root
    )
    op = mesh.ReduceOp if to_root else mesh.AllReduceOp
    return lw.emit(op(kind, x, dims, algorithm))


def reduce(
    lw: Lowering,
    x: SSAValue,
    kind: str,
    dims: tuple[int, ...],
    keepdim: bool,
    to_root: bool = False,
) -> SSAValue:
    """Padding in the reduced dims masked with the kind's identity (0 for sum, -inf or the
    smallest int for max, ...: pyflame/core/reductions.py), a local reduce on every PE, then a
    collective over the mesh axes the dims were split on (`to_root`: a mesh.reduce, the result
    on the grid without those axes)."""
    src = dist_of(x)
    elem = mesh.elem_of(x)
    if src.has_padding(dims):
        x = mask_pad(lw, x, reductions.identity(kind, str(elem)))
    x = lw.emit(mesh.LocalReduceOp(kind, x, dims))
    split_dims = tuple(d for d in dims if src.parts(d) > 1)
    if split_dims:
        x = collective(lw, x, kind, split_dims, to_root)
    if not keepdim:
        d = dist_of(x)
        kept = [i for i in range(len(d.shape)) if i not in dims]
        squeezed = d.with_(shape=[d.shape[i] for i in kept], split=[d.split[i] for i in kept])
        x = lw.emit(mesh.ReshapeOp(x, squeezed))
    return x


def reduce_sum(
    lw: Lowering, x: SSAValue, dims: tuple[int, ...], keepdim: bool, to_root: bool = False
) -> SSAValue:
    return reduce(lw, x, "sum", dims, keepdim, to_root)


#: the reduction kind of each primitive flame reduction op
REDUCE_KIND_OF = {cls: kind for kind, cls in flame.REDUCE_OPS.items()}


def lower_reduce(op: flame.ReduceSumOp, lw: Lowering) -> SSAValue:
    """reduce_sum, reduce_prod, reduce_max, reduce_min."""
    kind = REDUCE_KIND_OF[type(op)]
    x = lw.value(op.input)
    return reduce(lw, x, kind, op.dim_tuple, op.keepdim is not None, only_host_reads(op))


def lower_reduce_mean(op: flame.ReduceMeanOp, lw: Lowering) -> SSAValue:
    shape = flame.tensor_shape(op.input)
    count = math.prod(shape[d] for d in op.dim_tuple)
    x = lw.value(op.input)
    total = reduce_sum(lw, x, op.dim_tuple, op.keepdim is not None, only_host_reads(op))
    return scale(lw, total, 1.0 / count if count else math.nan)


LOWERINGS: dict[type[Operation], Callable] = {
    **{cls: lower_reduce for cls in flame.REDUCE_OPS.values()},
    flame.ReduceMeanOp: lower_reduce_mean,
}
