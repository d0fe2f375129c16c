"""Shape ops: transpose (local, the split permutes), reshape (in place when the tiles allow, else
one relayout), broadcast_to, slice, pad and concat.

Result layouts: the result's hint, else derived from the operand (same grid; every dim keeps
its split, a slice's size-1 result dims become unsplit), unless that would make the tiles
more than twice as big as the operands' (and bigger than 16 KiB) or not fit in SRAM next to
them: then the compiler's default for the result's size.

- broadcast_to: the source is first put on the result's grid with its kept dims split like
  the result's and its size-1 dims unsplit (a redistribute when it is not already there),
  then every PE expands its own tile (mesh.broadcast).
- slice / pad / concat: one data-moving op each (mesh.slice, mesh.pad, mesh.concat), lowered
  to pe.exchange with an index map; operands stay where they are.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

from pyflame.core.distribution import Distribution, is_local_reshape
from pyflame.dialects import flame, mesh
from pyflame.dialects.mesh import dist_of
from pyflame.passes.flame_lowering.state import Lowering
from pyflame.passes.layouts import (
    elem_bytes_of,
)


def lower_transpose(op: flame.TransposeOp, lw: Lowering) -> SSAValue | None:
    """Local: the split permutes. An input that can be made again in any layout (a program
    input loaded from the host once per layout, lw.remakes) is made in the layout whose
    transpose is the result's assigned one, and the result can be remade the same way."""
    perm = op.perm_tuple
    if op.input not in lw.remakes and defer_transpose(op, lw):
        return None
    if op.input not in lw.remakes:
        return lw.emit(mesh.TransposeOp(lw.value(op.input), perm))

    def made_as(dist: Distribution) -> SSAValue:
        inverse = [dist.split[perm.index(i)] for i in range(len(perm))]
        x = lw.value_as(op.input, dist.with_(shape=flame.tensor_shape(op.input), split=inverse))
        return lw.emit(mesh.TransposeOp(x, perm))

    lw.remakes[op.result] = made_as
    want = lw.hinted(op.result)
    return (
        made_as(want) if want is not None else lw.emit(mesh.TransposeOp(lw.value(op.input), perm))
    )


def defer_transpose(op: flame.TransposeOp, lw: Lowering) -> bool:
    """A transpose of an unplaced lazy leaf that nobody hinted (nn.Linear's `W.T` of a
    program input) is itself lazy: its user places the leaf directly in the layout whose
    transpose it wants, and the transpose is local (no transpose on one PE redistributed)."""
    if op.input not in lw.deferred or op.input in lw.hints or op.result in lw.hints:
        return False
    perm = op.perm_tuple

    def make(dist: Distribution) -> Operation:
        inverse = [dist.split[perm.index(i)] for i in range(len(perm))]
        source = dist.with_(shape=flame.tensor_shape(op.input), split=inverse)
        return mesh.TransposeOp(lw.value_as(op.input, source), perm)

    lw.deferred[op.result] = make
    return True


def squeeze_candidate(src: Distribution, shape: tuple[int, ...]) -> Distribution | None:
    """The same split for a reshape that only adds or drops size-1 dims, if it is one."""
    core = [(n, a) for n, a in zip(src.shape, src.split, strict=True) if n != 1]
    if any(a for n, a in zip(src.shape, src.split, strict=True) if n == 1):
        return None
    if [n for n in shape if n != 1] != [n for n, _ in core]:
        return None
    axes = iter(a for _, a in core)
    return src.with_(shape=shape, split=["" if n == 1 else next(axes) for n in shape])


def lower_reshape(op: flame.ReshapeOp, lw: Lowering) -> SSAValue | None:
    remade = op.input in lw.deferred or op.input in lw.remakes
    if remade and op.input not in lw.hints and defer_squeeze(op, lw):
        return None
    return eager_reshape(op, lw, lw.value(op.input))


def eager_reshape(op: flame.ReshapeOp, lw: Lowering, x: SSAValue) -> SSAValue:
    """The reshape of the placed `x`: in place when the tiles allow, else a relayout."""
    shape = flame.tensor_shape(op.result)
    src = dist_of(x)
    local = squeeze_candidate(src, shape)
    if local is None and all(a == "" for a in src.split):
        local = src.with_(shape=shape, split=[""] * len(shape))
    if local is not None and is_local_reshape(src, local):
        return lw.emit(mesh.ReshapeOp(x, local))
    return moving_reshape(lw, op, x)  # see the shape-ops section


def defer_squeeze(op: flame.ReshapeOp, lw: Lowering) -> bool:
    """A reshape of an unplaced lazy leaf that only adds or drops size-1 dims (a vector made a
    one-column matrix for a matmul) is itself lazy: its user places the leaf directly in the
    matching layout (no redistribution). False when it is another reshape."""
    src_shape = flame.tensor_shape(op.input)
    shape = flame.tensor_shape(op.result)
    if [n for n in src_shape if n != 1] != [n for n in shape if n != 1]:
        return False

    def make(dist: Distribution) -> Operation:
        src = squeeze_candidate(dist, src_shape)
        if src is not None:
            return mesh.ReshapeOp(lw.value_as(op.input, src), dist)
        # the wanted layout splits a size-1 dim: reshape where the leaf's default puts it
        y = eager_reshape(op, lw, lw.value(op.input))
        if is_local_reshape(dist_of(y), dist):
            return mesh.ReshapeOp(y, dist)
        return mesh.RedistributeOp(y, dist)

    lw.deferred[op.result] = make
    return True


#: a derived result layout is kept unless its tiles would grow past this factor times the
#: biggest operand tile (and past layouts.SINGLE_PE_BYTES); then the default for its size wins
TILE_GROWTH_LIMIT = 2


def shape_result_dist(
    lw: Lowering, result: SSAValue, derived: Distribution, operands: list[Distribution]
) -> Distribution:
    """The result's hint, else `derived` (the operands' grid and split), else -- when `derived`
    would make the tiles much bigger than the operands' (a broadcast, a stack of many) or its
    tile and the operands' would not fit in SRAM together -- the compiler's default layout for
    the result's size."""
    hinted = lw.hinted(result)
    if hinted is not None:
        return hinted
    elem = elem_bytes_of(mesh.elem_of(result))
    tiles = [d.local_elems * elem for d in operands]
    tile = derived.local_elems * elem
    if (
        tile <= max(TILE_GROWTH_LIMIT * max(tiles + [0]), lw.single_pe_bytes)
        and tile + sum(tiles) <= lw.target.usable_sram_bytes
    ):
        return derived
    default = lw.placed(result)
    return default if default.local_elems < derived.local_elems else derived


def operand_near(lw: Lowering, v: SSAValue, dist: Distribution) -> SSAValue:
    """`v`'s mesh value; an unplaced lazy leaf is placed in `dist` (no redistribution)."""
    if v in lw.deferred and v not in lw.hints:
        return lw.materialize(v, dist)
    return lw.value(v)


def broadcast_split(base: Distribution, shape: tuple[int, ...]) -> tuple[str, ...]:
    """The split of a broadcast's result derived from its source's distribution `base`: every
    source dim keeps its split; when the source is split at all, a mesh axis it leaves free
    (it is replicated along it) goes to the last broadcast dims, so the result is spread like
    the source (a (1, M) row on [_, c] becomes (N, M) on [r, c])."""
    k = len(shape) - len(base.shape)
    split = ["" for _ in range(k)] + list(base.split)
    if not any(base.split):
        return tuple(split)
    used = set("".join(base.split))
    free = [ax for ax, n in zip(("r", "c"), base.grid, strict=True) if n > 1 and ax not in used]
    grown = [
        e for e in range(len(shape)) if split[e] == "" and (e < k or base.shape[e - k] != shape[e])
    ]
    for e, ax in zip(reversed(grown), reversed(free), strict=False):
        split[e] = ax
    return tuple(split)


def lower_broadcast_to(op: flame.BroadcastToOp, lw: Lowering) -> SSAValue:
    src_shape, shape = flame.tensor_shape(op.input), flame.tensor_shape(op.result)
    k = len(shape) - len(src_shape)
    base = lw.known_dist(op.input) or lw.placed(op.input)
    derived = base.with_(shape=shape, split=broadcast_split(base, shape))
    result = shape_result_dist(lw, op.result, derived, [base])
    need = result.with_(
        shape=src_shape,
        split=tuple(
            result.split[k + d] if n == shape[k + d] else "" for d, n in enumerate(src_shape)
        ),
    )
    x = lw.value_as(op.input, need)
    return lw.emit(mesh.BroadcastOp(x, result))


def lower_slice(op: flame.SliceOp, lw: Lowering) -> SSAValue:
    x = lw.value(op.input)
    src, shape = dist_of(x), flame.tensor_shape(op.result)
    derived = src.with_(
        shape=shape, split=["" if n == 1 else a for n, a in zip(shape, src.split, strict=True)]
    )
    result = shape_result_dist(lw, op.result, derived, [src])
    if result == src and shape == src.shape:  # takes everything, where it already is
        return x
    return lw.emit(mesh.SliceOp(x, *op.bounds, result))


def lower_pad(op: flame.PadOp, lw: Lowering) -> SSAValue:
    x = lw.value(op.input)
    shape = flame.tensor_shape(op.result)
    result = shape_result_dist(lw, op.result, dist_of(x).with_(shape=shape), [dist_of(x)])
    low, high = op.widths
    if not any(low) and not any(high):  # pads nothing (a slice's gradient along a whole dim)
        return lw.to_dist(x, result)
    return lw.emit(mesh.PadOp(x, low, high, op.value.value.data, result))


def lower_concat(op: flame.ConcatOp, lw: Lowering) -> SSAValue:
    shape = flame.tensor_shape(op.result)
    known = [d for d in (lw.known_dist(v) for v in op.inputs) if d is not None]
    derived = known[0].with_(shape=shape) if known else lw.placed(op.result)
    result = shape_result_dist(lw, op.result, derived, known)
    values = [operand_near(lw, v, result.with_(shape=flame.tensor_shape(v))) for v in op.inputs]
    return lw.emit(mesh.ConcatOp(values, op.dim_index, result))


def grid_split(grid: tuple[int, int], rank: int) -> tuple[str, ...]:
    """The split a `grid` layout gives a rank-`rank` tensor on `grid` (last two dims over rows
    and columns; a 1-D tensor over all PEs); unsplit along a mesh axis of size 1."""
    gr, gc = grid
    if rank == 0:
        return ()
    if rank == 1:
        return ("rc" if gr > 1 and gc > 1 else "r" if gr > 1 else "c" if gc > 1 else "",)
    return ("",) * (rank - 2) + ("r" if gr > 1 else "", "c" if gc > 1 else "")


def moving_reshape(lw: Lowering, op: flame.ReshapeOp, x: SSAValue) -> SSAValue:
    """A reshape the tiles cannot do in place. When only split size-1 dims are in the way,
    unsplit them (their mesh axes then hold copies) and reshape in place; otherwise one
    mesh.relayout moves every element to its place in the result's layout (the hint, else
    the source's grid split like a `grid` layout, else the default when that spreads wider)."""
    src, shape = dist_of(x), flame.tensor_shape(op.result)
    unsplit = src.with_(
        split=["" if n == 1 else a for n, a in zip(src.shape, src.split, strict=True)]
    )
    if unsplit != src:
        local = squeeze_candidate(unsplit, shape)
        if local is None and all(a == "" for a in unsplit.split):
            local = unsplit.with_(shape=shape, split=[""] * len(shape))
        if local is not None and is_local_reshape(unsplit, local):
            x = lw.to_dist(x, unsplit)
            return lw.emit(mesh.ReshapeOp(x, local))
    derived = src.with_(shape=shape, split=grid_split(src.grid, len(shape)))
    result = shape_result_dist(lw, op.result, derived, [src])
    folded = _fold_into_slice(lw, op, x, result)
    if folded is not None:
        return folded
    return lw.emit(mesh.RelayoutOp(x, result))


def _fold_into_slice(
    lw: Lowering, op: flame.ReshapeOp, x: SSAValue, result: Distribution
) -> SSAValue | None:
    """A moving reshape of a slice nothing else reads (`q, k, v = qkv.split(c, -1)`, each then
    split into heads) as one mesh.slice whose result is the window reshaped: one exchange from
    the slice's source straight to the reshape's layout, not two (the slice's phases spread
    the window over the grid, the relayout's spread it again; every phase takes a color, and
    colors run short: allocate-colors' barriers)."""
    sliced = x.owner
    if not (
        isinstance(sliced, mesh.SliceOp)
        and not x.uses
        and len(list(op.input.uses)) == 1
        and sliced.window_shape is None  # not folded already
        and 0 not in dist_of(x).shape
    ):
        return None
    folded = lw.emit(mesh.SliceOp(sliced.input, *sliced.bounds, result))
    sliced.detach()
    sliced.erase()
    lw.values.pop(op.input, None)  # its only reader is this reshape
    return folded


LOWERINGS: dict[type[Operation], Callable] = {
    flame.TransposeOp: lower_transpose,
    flame.ReshapeOp: lower_reshape,
    flame.BroadcastToOp: lower_broadcast_to,
    flame.SliceOp: lower_slice,
    flame.PadOp: lower_pad,
    flame.ConcatOp: lower_concat,
}
