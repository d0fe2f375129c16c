"""Convolution and pooling (conv2d, max_pool2d, avg_pool2d).

conv2d, max_pool2d and avg_pool2d run on a grid with the activations split [_, _, r, c]
(H over the grid's rows, W over its columns) and the weight and bias replicated on every PE;
each PE computes its block of output rows and columns from its window of the input, whose
halo the mesh op's lowering fetches from the neighbouring PEs (see distribution.HaloAxis).

The grid: the result's `grid` hint, else the input's grid (a partitioned or replicated input
spreads over the same PEs; one already split [_, _, r, c] -- `distribution.is_spatial`, e.g. any
tensor on one PE -- is used as it is and the result is split like it), else, for an input the
compiler places, the default for its size grown until the op's buffers take at most half of a
PE's SRAM; per axis at most one PE per output row/column. When a halo would reach past a
neighbour's block (small blocks, wide kernels, or output blocks that drift away from the input
blocks with a stride), the axis uses the most PEs on which it does not
(`largest_feasible_parts`): the input is redistributed there, down to one PE along that axis. Block padding the windows read is masked first (0 for
conv and average pooling, -inf for max pooling). avg_pool2d without count_include_pad divides
by the average pooling of ones (the count of input elements per window); `divisor` scales.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from xdsl.ir import Operation, SSAValue

from pyflame.core import distribution
from pyflame.core.conv_window import Spatial
from pyflame.core.distribution import Distribution
from pyflame.core.elementwise import BinaryFn
from pyflame.core.reductions import PoolKind
from pyflame.dialects import flame, mesh
from pyflame.dialects.mesh import dist_of
from pyflame.passes.flame_lowering.state import Lowering, mask_pad, mesh_type, scale
from pyflame.passes.layouts import elem_bytes_of

Ints = tuple[int, ...]
WindowedOp = flame.Conv2dOp | flame._PoolOp


def windowed_grid(
    lw: Lowering, op: WindowedOp, kernel: Ints, stride: Ints, padding: Ints, dilation: Ints
) -> tuple[int, int]:
    x_shape, out_shape = flame.tensor_shape(op.input), flame.tensor_shape(op.result)
    hint = lw.hints.get(op.result)
    if hint is not None and hint.kind.data == "grid":
        start: Ints = hint.size_tuple
    else:
        known = lw.known_dist(op.input)
        start = (
            known.grid
            if known is not None
            else compiler_grid(lw, op, kernel, stride, padding, dilation)
        )
    return feasible_grid(start, x_shape, out_shape, kernel, stride, padding, dilation)


def feasible_grid(
    start: Ints,
    x_shape: Ints,
    out_shape: Ints,
    kernel: Ints,
    stride: Ints,
    padding: Ints,
    dilation: Ints,
) -> tuple[int, int]:
    rows, cols = (
        distribution.largest_feasible_parts(
            x_shape[2 + a],
            out_shape[2 + a],
            min(start[a], out_shape[2 + a]),
            kernel[a],
            stride[a],
            dilation[a],
            padding[2 * a],
        )
        for a in (0, 1)
    )
    return (rows, cols)


def compiler_grid(
    lw: Lowering, op: WindowedOp, kernel: Ints, stride: Ints, padding: Ints, dilation: Ints
) -> tuple[int, int]:
    """For an input the compiler places: the default for its size, its side doubled until the
    op's tiles, halo windows and weights take at most half of a PE's SRAM for data."""
    x_shape, out_shape = flame.tensor_shape(op.input), flame.tensor_shape(op.result)
    elem = elem_bytes_of(mesh.elem_of(op.input))
    params = sum(math.prod(flame.tensor_shape(v)) for v in op.operands[1:])
    limit = min(lw.target.fabric_rows, lw.target.fabric_cols)

    def per_pe(side: int) -> int:
        grid = feasible_grid((side, side), x_shape, out_shape, kernel, stride, padding, dilation)
        dx = Distribution(x_shape, grid, distribution.SPATIAL_SPLIT)
        dy = Distribution(out_shape, grid, distribution.SPATIAL_SPLIT)
        rows, cols = distribution.halo_axes(
            x_shape, out_shape, grid, kernel, stride, padding, dilation
        )
        n, c, bh, bw = dx.block
        wh = bh if rows.in_place else rows.window
        ww = bw if cols.in_place else cols.window
        return elem * (dx.local_elems + n * c * wh * (bw + ww) + dy.local_elems + params)

    side = max(lw.placed(op.input).grid)
    while side < limit and per_pe(side) > lw.target.usable_sram_bytes // 2:
        side = min(2 * side, limit)
    return (side, side)


def windowed_input(
    lw: Lowering,
    op: WindowedOp,
    grid: tuple[int, int],
    kernel: Ints,
    stride: Ints,
    padding: Ints,
    dilation: Ints,
    pad_value: float,
) -> SSAValue:
    """The input split [_, _, r, c] on `grid`, its block padding masked where windows read it."""
    x_shape, out_shape = flame.tensor_shape(op.input), flame.tensor_shape(op.result)
    known = lw.known_dist(op.input)
    if known is not None and known.grid == grid and distribution.is_spatial(known):
        x = lw.value(op.input)  # already there (e.g. any 4-D tensor on one PE)
    else:
        x = lw.value_as(op.input, Distribution(x_shape, grid, distribution.SPATIAL_SPLIT))
    return mask_windowed(lw, x, out_shape, kernel, stride, padding, dilation, pad_value)


def mask_windowed(
    lw: Lowering,
    x: SSAValue,
    out_shape: Ints,
    kernel: Ints,
    stride: Ints,
    padding: Ints,
    dilation: Ints,
    pad_value: float,
) -> SSAValue:
    dx = dist_of(x)
    reads_past_end = any(
        (out_shape[2 + a] - 1) * stride[a] - padding[2 * a] + (kernel[a] - 1) * dilation[a] + 1
        > dx.shape[2 + a]
        for a in (0, 1)
        if dx.has_padding([2 + a])
    )
    return mask_pad(lw, x, pad_value) if reads_past_end else x


#: a conv2d form: (channel-split, the grid)
ConvForm = tuple[bool, tuple[int, int]]


@dataclass(frozen=True)
class ConvCandidate:
    """One way to run a conv2d: its form and grid, estimated cycles of the conv, bytes per PE
    (tiles and scratch), and its operands' layouts (moving them there is priced only when
    candidates are compared: replaying a large exchange takes a while)."""

    channel_split: bool
    grid: tuple[int, int]
    cycles: int
    sram_bytes: int
    input_dist: Distribution
    weight_dist: Distribution
    bias_dist: Distribution | None


def conv_layouts(
    op: flame.Conv2dOp, channel_split: bool, grid: tuple[int, int]
) -> tuple[Distribution, Distribution, Distribution | None, Distribution]:
    """The input, weight, bias and result layouts of a form on `grid`."""
    x_shape, w_shape = flame.tensor_shape(op.input), flame.tensor_shape(op.weight)
    y_shape = flame.tensor_shape(op.result)
    b_shape = None if op.bias is None else flame.tensor_shape(op.bias)
    if channel_split:
        split, w_split, b_split = distribution.CHANNEL_SPLIT, ("c", "", "", ""), ("c",)
    else:
        split, w_split, b_split = distribution.SPATIAL_SPLIT, ("",) * 4, ("",)
    return (
        Distribution(x_shape, grid, split),
        Distribution(w_shape, grid, w_split),
        None if b_shape is None else Distribution(b_shape, grid, b_split),
        Distribution(y_shape, grid, split),
    )


def channel_split_grid(op: flame.Conv2dOp, start: Ints, spatial: Spatial) -> tuple[int, int]:
    """The channel-split form's grid from `start` (`channel_split_grid_of` the conv's input
    and output)."""
    x_shape, y_shape = flame.tensor_shape(op.input), flame.tensor_shape(op.result)
    return channel_split_grid_of(x_shape, y_shape, start, spatial)


def channel_split_grid_of(
    x_shape: Ints, y_shape: Ints, start: Ints, spatial: Spatial
) -> tuple[int, int]:
    """The channel-split form's grid from `start` for windows of an input of `x_shape` at the
    positions of `y_shape` (a conv2d's output, its weight gradient's output gradient): H over
    the rows (the most PEs on which no halo reaches past a neighbour's block), the output
    channels over the columns (at most one PE column per output channel)."""
    kernel, stride, padding, dilation = spatial
    rows = distribution.largest_feasible_parts(
        x_shape[2],
        y_shape[2],
        min(start[0], y_shape[2]),
        kernel[0],
        stride[0],
        dilation[0],
        padding[0],
    )
    return (rows, max(1, min(start[1], y_shape[1])))


def conv_candidate(
    lw: Lowering, op: flame.Conv2dOp, channel_split: bool, grid: tuple[int, int], spatial: Spatial
) -> ConvCandidate:
    # the cost model loads numpy: imported when a conv is lowered (test_import_graph.py)
    from pyflame.passes.cost_model.registry import CostContext
    from pyflame.passes.cost_model.windowed import conv2d_estimate
    from pyflame.passes.plan_memory import tile_bytes

    x, w, b, y = conv_layouts(op, channel_split, grid)
    eb = elem_bytes_of(mesh.elem_of(op.input))
    cost = conv2d_estimate(
        x, y, w, b is not None, spatial, op.group_count, eb, CostContext(lw.target)
    )
    tiles = sum(tile_bytes(d, eb) for d in (x, w, b, y) if d is not None)
    return ConvCandidate(channel_split, grid, cost.cycles, tiles + cost.sram_bytes, x, w, b)


def with_move(lw: Lowering, op: flame.Conv2dOp, c: ConvCandidate) -> int:
    """A candidate's cycles with the moves of its operands to their layouts: the input, and a
    weight and bias already on the mesh elsewhere (one converted there, or made by autograd:
    replicating a 32x32x3x3 half weight on 4x4 PEs cost 28,210 cycles, splitting it over the
    columns 7,090, and the form was chosen without them)."""
    from pyflame.passes.cost_model.data_movement import redistribute_cycles

    eb = elem_bytes_of(mesh.elem_of(op.input))
    cycles = c.cycles
    for v, want in ((op.input, c.input_dist), (op.weight, c.weight_dist), (op.bias, c.bias_dist)):
        if v is None or want is None:
            continue
        known = lw.known_dist(v)
        if known is None or known.normalized() == want.normalized():
            continue  # placed there directly, or already there
        if v is op.input or existing_move(lw, v, want) is None:
            cycles += redistribute_cycles(lw.target, known, want, eb)
    return cycles


#: how much cheaper (estimated) the channel-split form must be to replace the spatial one where
#: both fit: it multicasts every input channel's window along the rows (C times the spatial
#: form's fabric traffic, and as many simulator steps), for a few percent it is not worth it
CHANNEL_SPLIT_MARGIN = 0.95

#: None: conv2d's form by cost; True / False: every groups-1 conv2d channel-split / spatial
#: (`forced_conv_form`: the benchmarks' variants and the tests)
FORCED_FORM: list[bool | None] = [None]


@contextlib.contextmanager
def forced_conv_form(channel_split: bool | None) -> Iterator[None]:
    """Lower every groups-1 conv2d in the given form (on the grid the choice would use)."""
    before = FORCED_FORM[0]
    FORCED_FORM[0] = channel_split
    try:
        yield
    finally:
        FORCED_FORM[0] = before


def choose_conv_form(lw: Lowering, op: flame.Conv2dOp, spatial: Spatial) -> ConvForm:
    """The spatial form (weight replicated) or the channel-split form (groups 1), whichever the
    cost model estimates faster (the channel-split form by `CHANNEL_SPLIT_MARGIN`) among those
    whose tiles and scratch fit a PE's SRAM, on the
    grid `windowed_grid` gives (the channel-split form: H over its rows, the output channels
    over its columns), with the moves of the operands (`with_move`). Unless a `grid` hint
    fixes the grid, a form that does not fit there is a candidate on the first grid where it
    does, its side doubled (the input is moved there): what it runs on when forced. Filters
    made on the mesh (autograd's input gradient) add the candidates on their grid."""
    spatial_grid = windowed_grid(lw, op, *spatial)
    if op.group_count != 1:
        return (False, spatial_grid)
    hint = lw.hints.get(op.result)
    hinted = hint is not None and hint.kind.data == "grid"
    known = lw.known_dist(op.input)
    start: Ints = (
        hint.size_tuple if hinted else known.grid if known is not None else spatial_grid  # type: ignore[union-attr]  # hinted: hint is set
    )
    usable = lw.target.usable_sram_bytes

    def candidates(spatial_at: tuple[int, int], start: Ints) -> list[ConvCandidate]:
        return [
            conv_candidate(lw, op, False, spatial_at, spatial),
            conv_candidate(lw, op, True, channel_split_grid(op, start, spatial), spatial),
        ]

    def best(found: list[ConvCandidate], limit: int) -> ConvCandidate | None:
        if FORCED_FORM[0] is not None:
            found = [c for c in found if c.channel_split == FORCED_FORM[0]]
        fitting = [c for c in found if c.sram_bytes <= limit]
        if len(fitting) < 2:  # nothing to compare
            return fitting[0] if fitting else None
        cycles = {c: with_move(lw, op, c) for c in fitting}
        fastest = min(fitting, key=lambda c: cycles[c])
        spatial = next((c for c in fitting if not c.channel_split), None)
        if spatial is not None and cycles[fastest] >= CHANNEL_SPLIT_MARGIN * cycles[spatial]:
            return spatial
        return fastest

    found = candidates(spatial_grid, start)
    weight_at = lw.known_dist(op.weight)
    if not hinted and weight_at is not None and weight_at.num_pes > 1:
        # the filters were made on the mesh (autograd's input gradient flips and transposes
        # the forward's weight where it lives): the forward's grid is a candidate too
        x_shape, y_shape = flame.tensor_shape(op.input), flame.tensor_shape(op.result)
        at = weight_at.grid
        more = candidates(feasible_grid(at, x_shape, y_shape, *spatial), at)
        found += [
            c
            for c in more
            if (c.channel_split, c.grid) not in {(f.channel_split, f.grid) for f in found}
        ]
    if not hinted:
        # a form that does not fit here runs on the grid where it first fits (its side doubled:
        # the input moved there), and is compared there: before, the channel-split form on
        # 4x4 PEs (332,797 cycles, f32 2x32x16x16 * 32x32x3x3) won for want of a rival, where
        # the spatial one, which fits from 16x16, takes 117,125
        for form in (False, True):
            if FORCED_FORM[0] is not None and form != FORCED_FORM[0]:
                continue
            if not any(c.channel_split == form and c.sram_bytes <= usable for c in found):
                grown = first_fitting(lw, op, form, spatial, start, usable)
                if grown is not None:
                    found.append(grown)
    chosen = best(found, usable)
    if chosen is None:  # nothing fits: plan-memory says what would
        if FORCED_FORM[0]:
            return (True, channel_split_grid(op, start, spatial))
        return (False, spatial_grid)
    return (chosen.channel_split, chosen.grid)


def first_fitting(
    lw: Lowering,
    op: flame.Conv2dOp,
    channel_split: bool,
    spatial: Spatial,
    start: Ints,
    usable: int,
) -> ConvCandidate | None:
    """The form on the first grid, its side doubled from `start`'s up to the fabric's, whose
    tiles and scratch fit a PE (None: none does, or the grids stopped growing: one PE per
    output row, column, channel)."""
    side, top = max(start), min(lw.target.fabric_rows, lw.target.fabric_cols)
    x_shape, y_shape = flame.tensor_shape(op.input), flame.tensor_shape(op.result)
    seen: set[tuple[int, int]] = set()
    while side < top:
        side = min(2 * side, top)
        if channel_split:
            grid = channel_split_grid(op, (side, side), spatial)
        else:
            grid = feasible_grid((side, side), x_shape, y_shape, *spatial)
        if grid in seen:
            return None
        seen.add(grid)
        c = conv_candidate(lw, op, channel_split, grid, spatial)
        if c.sram_bytes <= usable:
            return c
    return None


def lower_conv2d(op: flame.Conv2dOp, lw: Lowering) -> SSAValue:
    spatial = op.spatial()
    channel_split, grid = choose_conv_form(lw, op, spatial)
    if channel_split:
        dx, dw, db, dy = conv_layouts(op, True, grid)
        x = mask_windowed(lw, lw.value_as(op.input, dx), dy.shape, *spatial, 0.0)
        weight = lw.value_as(op.weight, dw)
        bias = None if op.bias is None or db is None else lw.value_as(op.bias, db)
        _, stride, padding, dilation = spatial
        # its steps over the input channels add into the output: half floats in float32,
        # rounded once (the PEs' fp16 FMACs accumulate in fp32, as PyTorch's half conv)
        elem = mesh.elem_of(x)
        acc_elem = mesh.accumulator_elem(elem)
        y = lw.emit(mesh.Conv2dOp(x, weight, bias, stride, padding, dilation, 1, dy, acc_elem))
        return y if acc_elem == elem else lw.emit(mesh.ConvertOp(y, elem))
    x = windowed_input(lw, op, grid, *spatial, 0.0)
    operands = [x]
    for v in (op.weight, op.bias):
        if v is not None:
            shape = flame.tensor_shape(v)
            operands.append(lw.value_as(v, dist_of(x).with_(shape=shape, split=("",) * len(shape))))
    result = dist_of(x).with_(shape=flame.tensor_shape(op.result))
    weight, bias = operands[1], operands[2] if len(operands) > 2 else None
    _, stride, padding, dilation = spatial
    return lw.emit(
        mesh.Conv2dOp(x, weight, bias, stride, padding, dilation, op.group_count, result)
    )


# --- conv2d's weight gradient ----------------------------------------------------------------
# flame.conv2d_weight_grad (autograd's rule for a conv2d's weight) runs where the conv2d's
# operands are: per PE, the product of its output-gradient tile with the shifted input window
# over its pixels for every tap (mesh.conv2d_weight_grad: the per-PE partials), then a
# mesh.allreduce of the partials over the grid, so the gradient ends where the weight lives
# (replicated on the grid, or split [c, _, _, _] over its columns) and the optimizer's update
# needs no move. The form and grid are chosen as conv2d's (`choose_weight_grad_form`).


def weight_grad_layouts(
    op: flame.Conv2dWeightGradOp, channel_split: bool, grid: tuple[int, int]
) -> tuple[Distribution, Distribution, Distribution, Distribution]:
    """The input, grad, partials and weight-gradient layouts of a form on `grid`."""
    x_shape, dy_shape = flame.tensor_shape(op.input), flame.tensor_shape(op.grad)
    w_shape = flame.tensor_shape(op.result)
    split = distribution.CHANNEL_SPLIT if channel_split else distribution.SPATIAL_SPLIT
    dx = Distribution(x_shape, grid, split)
    w_split = ("c", "", "", "") if channel_split else ("",) * 4
    return (
        dx,
        Distribution(dy_shape, grid, split),
        mesh.weight_grad_partials(dx, w_shape, channel_split),
        Distribution(w_shape, grid, w_split),
    )


def weight_grad_candidate(
    lw: Lowering, op: flame.Conv2dWeightGradOp, channel_split: bool, grid: tuple[int, int]
) -> tuple[int, int]:
    """(estimated cycles with the moves of both operands and the allreduce, bytes per PE)."""
    from pyflame.passes.cost_model.data_movement import redistribute_cycles
    from pyflame.passes.cost_model.registry import CostContext
    from pyflame.passes.cost_model.windowed import weight_grad_estimate
    from pyflame.passes.plan_memory import tile_bytes

    dx, ddy, dp, dw = weight_grad_layouts(op, channel_split, grid)
    eb = elem_bytes_of(mesh.elem_of(op.input))
    spatial = op.spatial()
    cost = weight_grad_estimate(
        dx, ddy, dp, spatial, op.group_count, eb, CostContext(lw.target), with_allreduce=True
    )
    tiles = sum(tile_bytes(d, eb) for d in (dx, ddy, dp, dw))
    cycles = cost.cycles
    for v, want in ((op.input, dx), (op.grad, ddy)):
        known = lw.known_dist(v)
        if known is None or known.normalized() == want.normalized():
            continue  # placed there directly, or already there
        if existing_move(lw, v, want) is None:
            cycles += redistribute_cycles(lw.target, known, want, eb)
    return cycles, tiles + cost.sram_bytes


def choose_weight_grad_form(lw: Lowering, op: flame.Conv2dWeightGradOp) -> ConvForm:
    """conv2d's rule (`choose_conv_form`) for its weight gradient: the spatial form on the grid
    the input (or the gradient) is on, or the channel-split form (groups 1: H over the rows,
    the output channels over the columns), whichever is estimated faster with the moves of
    both operands (the channel-split form by `CHANNEL_SPLIT_MARGIN`), among those that fit;
    the grid side doubles while neither fits."""
    spatial = op.spatial()
    x_shape, dy_shape = flame.tensor_shape(op.input), flame.tensor_shape(op.grad)
    known = lw.known_dist(op.input) or lw.known_dist(op.grad)
    start: Ints = known.grid if known is not None else lw.placed(op.input).grid

    def forms(start: Ints) -> list[ConvForm]:
        found: list[ConvForm] = [(False, feasible_grid(start, x_shape, dy_shape, *spatial))]
        if op.group_count == 1:
            found.append((True, channel_split_grid_of(x_shape, dy_shape, start, spatial)))
        if FORCED_FORM[0] is not None and op.group_count == 1:
            found = [f for f in found if f[0] == FORCED_FORM[0]]
        return found

    def best(found: list[ConvForm]) -> ConvForm | None:
        costed = {f: weight_grad_candidate(lw, op, *f) for f in found}
        fitting = [f for f in found if costed[f][1] <= lw.target.usable_sram_bytes]
        if not fitting:
            return None
        fastest = min(fitting, key=lambda f: costed[f][0])
        plain = next((f for f in fitting if not f[0]), None)
        if plain is not None and costed[fastest][0] >= CHANNEL_SPLIT_MARGIN * costed[plain][0]:
            return plain
        return fastest

    first = forms(start)
    chosen = best(first)
    side, top = max(start), min(lw.target.fabric_rows, lw.target.fabric_cols)
    seen = set(first)
    while chosen is None and side < top:
        side = min(2 * side, top)
        found = forms((side, side))
        if set(found) <= seen:
            break  # the grids stopped growing
        seen |= set(found)
        chosen = best(found)
    return chosen if chosen is not None else first[-1]  # nothing fits: plan-memory says so


def existing_move(lw: Lowering, v: SSAValue, dist: Distribution) -> SSAValue | None:
    """A move of `v` to `dist` the program already made (the conv2d's input, moved to the
    same layout for the forward), or None."""
    if v in lw.deferred or v in lw.unbound:
        return None
    for use in lw.value(v).uses:
        user = use.operation
        if (
            isinstance(user, mesh.RedistributeOp)
            and user.parent_block() is lw.block
            and dist_of(user.result) == dist
        ):
            return user.result
    return None


def moved_already(lw: Lowering, v: SSAValue, dist: Distribution) -> SSAValue:
    """`v` in `dist`, from a move the program already made if there is one: the gradient is
    computed from the forward's copy of the input instead of moving the input again."""
    found = existing_move(lw, v, dist)
    return found if found is not None else lw.value_as(v, dist)


def lower_conv2d_weight_grad(op: flame.Conv2dWeightGradOp, lw: Lowering) -> SSAValue:
    channel_split, grid = choose_weight_grad_form(lw, op)
    dx, ddy, dp, dw = weight_grad_layouts(op, channel_split, grid)
    x, dy = moved_already(lw, op.input, dx), moved_already(lw, op.grad, ddy)
    # block padding: the grad's must be zeros (it multiplies windows), and the windows under it
    # finite (0 * inf is NaN), so both are masked
    if dx.has_padding([2, 3]):
        x = mask_pad(lw, x, 0.0)
    if ddy.has_padding([2, 3]):
        dy = mask_pad(lw, dy, 0.0)
    # the partials and their sum over the grid: half floats in float32, rounded once
    elem = mesh.elem_of(x)
    acc_elem = mesh.accumulator_elem(elem)
    partials = lw.emit(
        mesh.Conv2dWeightGradOp(
            x,
            dy,
            *op.spatial(),
            op.group_count,
            channel_split,
            acc_elem,
        )
    )
    dims = [d for d in ((0,) if channel_split else (0, 1)) if dp.parts(d) > 1]
    total = lw.emit(mesh.AllReduceOp("sum", partials, dims)) if dims else partials
    if acc_elem != elem:
        total = lw.emit(mesh.ConvertOp(total, elem))
    return lw.emit(mesh.ReshapeOp(total, dw))


def pool(lw: Lowering, x: SSAValue, kind: PoolKind, out_shape: Ints, spatial: Spatial) -> SSAValue:
    """mesh.pool2d of `x` (already split [_, _, r, c] and masked) into `out_shape`."""
    d = dist_of(x)
    result = d.with_(shape=tuple(out_shape))
    return lw.emit(mesh.Pool2dOp(kind, x, *spatial, result))


def lower_max_pool2d(op: flame.MaxPool2dOp, lw: Lowering) -> SSAValue:
    spatial = op.spatial()
    grid = windowed_grid(lw, op, *spatial)
    x = windowed_input(lw, op, grid, *spatial, -math.inf)
    return pool(lw, x, PoolKind.MAX, flame.tensor_shape(op.result), spatial)


def lower_avg_pool2d(op: flame.AvgPool2dOp, lw: Lowering) -> SSAValue:
    spatial = op.spatial()
    out_shape = flame.tensor_shape(op.result)
    grid = windowed_grid(lw, op, *spatial)
    x = windowed_input(lw, op, grid, *spatial, 0.0)
    y = pool(lw, x, PoolKind.AVG, out_shape, spatial)
    kh, kw = spatial[0]
    if op.divisor is not None:
        return scale(lw, y, kh * kw / op.divisor.value.data)
    if op.count_include_pad is not None:
        return y
    ones = lw.emit(mesh.FillOp(1.0, mesh_type(dist_of(x), mesh.elem_of(x))))
    ones = mask_windowed(lw, ones, out_shape, *spatial, 0.0)
    count = pool(
        lw, ones, PoolKind.AVG, out_shape, spatial
    )  # input elements per window / (kh * kw)
    return lw.emit(mesh.BinaryOp(BinaryFn("div"), y, count, mesh_type(dist_of(y), mesh.elem_of(y))))


LOWERINGS: dict[type[Operation], Callable] = {
    flame.Conv2dOp: lower_conv2d,
    flame.Conv2dWeightGradOp: lower_conv2d_weight_grad,
    flame.MaxPool2dOp: lower_max_pool2d,
    flame.AvgPool2dOp: lower_avg_pool2d,
}
#: the PEs run these on floating-point data only
FLOAT_ONLY_OPS: tuple[type[Operation], ...] = (
    flame.Conv2dOp,
    flame.Conv2dWeightGradOp,
    flame.MaxPool2dOp,
    flame.AvgPool2dOp,
)
