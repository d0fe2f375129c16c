"""plan-memory: refuse, before anything runs, a mesh program that cannot fit in PE SRAM.

Every grid is anchored at PE (0, 0), so that PE holds a tile of every tensor: its peak is the
program's peak. The planner walks the program in order with each tile's liveness (SUMMA's two
receive buffers included; the intermediate values of an elementwise chain that fuse-elementwise
will fuse have none, `fuse_elementwise.mesh_groups`) and, when the peak exceeds the target's SRAM for data, raises
`SRAMOverflowError` naming the biggest live tensor, the user line that made it, the bytes needed
per PE, the SRAM per PE, and a grid layout under which the whole program fits.

The pass changes nothing; `allocate-sram` later assigns the real addresses.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass

import pyflame.passes.scratch as scratch
from pyflame.core import distribution
from pyflame.core.distribution import Distribution
from pyflame.core.errors import CompileError, SRAMOverflowError
from pyflame.core.target import WSE2, Target
from pyflame.dialects import mesh
from pyflame.dialects.flame import LayoutAttr
from pyflame.dialects.mesh import MeshTensorType
from pyflame.passes.flame_lowering.regrid import unstage
from pyflame.passes.fuse_elementwise import mesh_groups
from pyflame.passes.layouts import elem_bytes_of, layout_to_dist
from pyflame.passes.locations import describe_loc

ALIGN = 16


def aligned(nbytes: int) -> int:
    return -(-max(nbytes, 1) // ALIGN) * ALIGN


def tile_bytes(dist: Distribution, elem_bytes: int) -> int:
    return aligned(dist.local_elems * elem_bytes)


def kib(n: float) -> str:
    return f"{n / 1024:.1f} KiB"


def kib_or_mib(n: float) -> str:
    return kib(n) if n < 1024 * 1024 else f"{n / (1024 * 1024):.1f} MiB"


def is_alias(op: Operation) -> bool:
    """Ops whose result reuses the operand's buffer (see lower-mesh-to-pe)."""
    return isinstance(op, mesh.ReshapeOp)


#: the SRAM and colors a 2.5D SUMMA's plan assumes where the pass has no target at hand
#: (every preset has WSE-2's 48 KiB, 4 KiB reserve and 21 colors)
DEFAULT_TARGET = WSE2


def summa_scratch(op: Operation, dist_fn: Callable[[SSAValue], Distribution]) -> int:
    """A mesh.matmul's scratch (passes/scratch.py): SUMMA's receive buffers for one A block and
    one B block; Cannon's and MeshGEMM's two rotating buffers per operand."""
    if not isinstance(op, mesh.MatmulOp):
        return 0
    elem = elem_bytes_of(element_type(op.lhs))
    if op.algorithm.data == mesh.MatmulAlgorithm.SUMMA25D:
        a, b, c = dist_fn(op.lhs), dist_fn(op.rhs), dist_fn(op.result)
        spare = DEFAULT_TARGET.usable_sram_bytes - elem * (
            a.local_elems + b.local_elems + c.local_elems
        )
        plan = scratch.layered_plan(a, b, elem, spare, DEFAULT_TARGET.num_colors)
        if plan is not None:  # else SUMMA's (the lowering falls back to it)
            return aligned(plan.peak_elems() * elem)
    if op.algorithm.data in (mesh.MatmulAlgorithm.CANNON, mesh.MatmulAlgorithm.MESHGEMM):
        shifted = scratch.shift_matmul_elems(dist_fn(op.lhs), dist_fn(op.rhs))
        return sum(aligned(n * elem) for n in shifted)
    receive = scratch.summa_receive_elems(dist_fn(op.lhs), dist_fn(op.rhs))
    if receive is None:
        return 0
    return aligned(receive[0] * elem) + aligned(receive[1] * elem)


def ring_scratch(op: Operation, dist_fn: Callable[[SSAValue], Distribution]) -> int:
    """Bytes per PE a ring gather or scatter-add (pe_lowering/ring_rows.py) holds beyond its
    operands and result: the chunks it receives while it works on the ones it holds (an index
    chunk, and a chunk of rows or of the source), and its own copies of the chunks it sends
    on (a later op may still read the operands' buffers: counted always, an upper bound)."""
    if not isinstance(op, mesh.RingGatherRowsOp | mesh.RingScatterAddRowsOp):
        return 0
    table = dist_fn(op.table) if isinstance(op, mesh.RingGatherRowsOp) else op.table_dist()
    if mesh.ring_length(table) == 1:
        return 0
    index = tile_bytes(dist_fn(op.index), 4)
    if isinstance(op, mesh.RingGatherRowsOp):
        return 2 * index + tile_bytes(dist_fn(op.result), elem_bytes_of(element_type(op.result)))
    src = tile_bytes(dist_fn(op.src), elem_bytes_of(element_type(op.src)))
    return 2 * index + 2 * src


def element_type(v: SSAValue) -> Attribute:
    """The element type of a mesh tensor value."""
    assert isinstance(v.type, MeshTensorType)
    return v.type.element_type


def _lifetimes(fn: func.FuncOp, ops: list[Operation]) -> list[tuple[int, int, SSAValue]]:
    """(first op, last op, value) of every mesh tensor with a buffer of its own."""
    index = {op: i for i, op in enumerate(ops)}
    # fuse-elementwise's groups (predicted): a member's result other than the root's has no
    # tile, and the members read their inputs where the fused op runs, at the root
    moved: dict[Operation, int] = {}
    fused_away: set[SSAValue] = set()
    for group in mesh_groups(fn):
        for m in group.members:
            moved[m] = index[group.root]
            if m is not group.root:
                fused_away.update(m.results)
    index.update(moved)
    intervals: list[tuple[int, int, SSAValue]] = []
    for i, op in enumerate(ops):
        if is_alias(op):
            continue
        for result in op.results:
            if not isinstance(result.type, MeshTensorType) or result in fused_away:
                continue
            end = i
            pending = [result]
            while pending:  # uses through aliases keep the buffer alive
                v = pending.pop()
                for use in v.uses:
                    end = max(end, index[use.operation])
                    if is_alias(use.operation):
                        pending.extend(use.operation.results)
            intervals.append((i, end, result))
    return intervals


def peak_bytes(
    fn: func.FuncOp, dist_fn: Callable[[SSAValue], Distribution]
) -> tuple[int, int, list[SSAValue]]:
    """(peak bytes per PE, op index of the peak, tensors live there): every live tensor's
    tile counted on one PE, wherever its grid is (an upper bound; `peak_bytes_on_pes` adds
    only the tiles that share PEs)."""
    ops = list(fn.body.block.ops)
    intervals = _lifetimes(fn, ops)
    # each value's bytes once, added where its life starts and taken off after it ends: summing
    # the live values at every op (quadratic in the program's length) was most of compile time
    size = {v: tile_bytes(dist_fn(v), elem_bytes_of(element_type(v))) for _, _, v in intervals}
    change = [0] * (len(ops) + 1)
    for start, end, value in intervals:
        change[start] += size[value]
        change[end + 1] -= size[value]
    peak, at, live_bytes = 0, 0, 0
    for t, op in enumerate(ops):
        live_bytes += change[t]
        total = (
            live_bytes
            + summa_scratch(op, dist_fn)
            + halo_scratch(op, dist_fn)
            + ring_scratch(op, dist_fn)
        )
        if total > peak:
            peak, at = total, t
    if peak == 0:
        return (0, 0, [])
    return (peak, at, [v for start, end, v in intervals if start <= at <= end])


def peak_bytes_on_pes(fn: func.FuncOp, dist_fn: Callable[[SSAValue], Distribution]) -> int:
    """Peak bytes on any one PE: the tiles of the live tensors whose grids hold that PE (plus
    the op's scratch, as `peak_bytes` counts it). Worked over the cells the grids' edges cut
    the fabric into, so a tensor moving between two grids that share no PEs (a staged move,
    flame_lowering/regrid.py) does not count against the other's PEs."""
    import numpy as np  # (pyflame-opt loads the passes without numpy)

    ops = list(fn.body.block.ops)
    intervals = _lifetimes(fn, ops)
    if not intervals:
        return 0
    rects = {v: dist_fn(v).rect for _, _, v in intervals}
    rows = np.unique([b for r in rects.values() for b in (r[0], r[0] + r[2])])
    cols = np.unique([b for r in rects.values() for b in (r[1], r[1] + r[3])])
    live = np.zeros((max(1, rows.size - 1), max(1, cols.size - 1)), dtype=np.int64)

    def cells(r: tuple[int, int, int, int]) -> tuple[slice, slice]:
        i0, i1 = np.searchsorted(rows, (r[0], r[0] + r[2]))
        j0, j1 = np.searchsorted(cols, (r[1], r[1] + r[3]))
        return slice(int(i0), int(i1)), slice(int(j0), int(j1))

    starts: dict[int, list[SSAValue]] = {}
    ends: dict[int, list[SSAValue]] = {}
    for start, end, v in intervals:
        starts.setdefault(start, []).append(v)
        ends.setdefault(end, []).append(v)
    size = {v: tile_bytes(dist_fn(v), elem_bytes_of(element_type(v))) for _, _, v in intervals}
    peak = 0
    for t, op in enumerate(ops):
        for v in starts.get(t, ()):
            live[cells(rects[v])] += size[v]
        extra = summa_scratch(op, dist_fn) + halo_scratch(op, dist_fn) + ring_scratch(op, dist_fn)
        peak = max(peak, int(live.max()) + extra)
        for v in ends.get(t, ()):
            live[cells(rects[v])] -= size[v]
    return peak


def unshared_bytes(fn: func.FuncOp) -> int:
    """Bytes per PE that every buffer the pe lowering makes for `fn` would take side by side,
    none reusing another's: each mesh value's tile (a reshape shares its operand's; an
    allreduce's or mask_pad's writable copy is its result's tile) and every scratch buffer of
    passes/scratch.py (SUMMA's two receive buffers; per halo phase the window and each strip,
    packed and received). lower-mesh-to-pe adds SUMMA's second pair of receive buffers only
    within what this leaves of the SRAM (`summa_double_buffered`), so the bound below holds
    for the lowered program too.

    allocate-sram never needs more: its first fit puts a buffer at 0 or right above one placed
    before it, so no buffer ends above the sum of the buffers placed up to it. A program
    within this bound (and within plan-memory's peak) passes allocate-sram; plan-placement
    relies on it to skip the pe lowering of its trial."""
    total = 0
    for op in fn.body.block.ops:
        if is_alias(op):
            continue
        for result in op.results:
            if isinstance(result.type, MeshTensorType):
                total += tile_bytes(mesh.dist_of(result), elem_bytes_of(element_type(result)))
        total += summa_scratch(op, mesh.dist_of) + halo_buffers(op) + ring_scratch(op, mesh.dist_of)
    return total


def summa_double_buffered(fn: func.FuncOp, usable: int) -> set[Operation]:
    """The SUMMAs of `fn` that lower-mesh-to-pe double-buffers (a second pair of receive
    buffers, as large as the first): in program order, each whose extra pair still fits in what
    `unshared_bytes` leaves of `usable`. So the lowered program, extra pairs included, stays
    within the bound that guarantees allocate-sram a place for every buffer, and plan-memory's
    peak (one pair per SUMMA) still holds; the others stay single-buffered."""
    spare = usable - unshared_bytes(fn)
    chosen: set[Operation] = set()
    for op in fn.body.block.ops:
        if not isinstance(op, mesh.MatmulOp) or op.algorithm.data != mesh.MatmulAlgorithm.SUMMA:
            continue
        extra = summa_scratch(op, mesh.dist_of)
        if extra and extra <= spare:
            chosen.add(op)
            spare -= extra
    return chosen


#: the ops whose operands and results keep their split on a suggested grid
INDEXED_OPS = (
    mesh.GatherRowsOp,
    mesh.ScatterAddRowsOp,
    mesh.RingGatherRowsOp,
    mesh.RingScatterAddRowsOp,
)


def is_replicated(d: Distribution) -> bool:
    """A whole copy on each of several PEs."""
    return d.num_pes > 1 and not any(d.split)


def remapped_fn(
    fn: func.FuncOp, culprit: SSAValue, layout: LayoutAttr, target: Target
) -> Callable[[SSAValue], Distribution]:
    """Every tensor's distribution when those on the culprit's grid take `layout` (and so its
    grid): what a `layout=` hint on the culprit would spread to. Conv weights, and replicated
    tensors unless the culprit is one (a `replicated` hint passes on to what is derived from
    it), stay replicated on the new grid."""
    grid = mesh.dist_of(culprit).grid
    #: a culprit the user's hint replicates passed the hint on to what is derived from it
    replicated_by_hint = is_replicated(mesh.dist_of(culprit))
    # conv weights and biases keep their split on the new grid (replicated, or the
    # channel-split form's [c, _, _, _]), and so do a channel-split conv's input and result
    kept = {
        v for op in fn.body.block.ops if isinstance(op, mesh._WindowedOp) for v in op.operands[1:]
    } | {
        v
        for op in fn.body.block.ops
        if isinstance(op, mesh.Conv2dOp | mesh.Conv2dWeightGradOp) and op.channel_split
        for v in (op.input, op.result if isinstance(op, mesh.Conv2dOp) else op.grad)
    }
    # so do the indexed-row ops' index, rows and partials: the replicated form's index and
    # rows are whole on every PE of any grid (a bigger grid does not shrink them), the ring
    # form's stay split over all of it
    kept |= {
        v
        for op in fn.body.block.ops
        if isinstance(op, INDEXED_OPS)
        for v in (*op.operands, *op.results)
    }
    for op in fn.body.block.ops:  # and the sums of partials and their reshapes
        if isinstance(op, mesh.AllReduceOp | mesh.ReshapeOp) and op.operands[0] in kept:
            kept.add(op.results[0])

    def dist_fn(v: SSAValue) -> Distribution:
        d = mesh.dist_of(v)
        if d.grid != grid:
            return d
        moved = layout_to_dist(layout, d.shape, target)
        if v in kept or (is_replicated(d) and not replicated_by_hint):
            return d.with_(grid=moved.grid)
        return moved

    return dist_fn


def smallest_fitting(
    fn: func.FuncOp,
    culprit: SSAValue,
    target: Target,
    usable: int,
    layout_of: Callable[[int], LayoutAttr],
    sizes: list[int],
) -> LayoutAttr | None:
    """The layout `layout_of(n)` of the smallest n of the increasing `sizes` under which the
    program fits when every tensor on the culprit's grid takes it (`remapped_fn`); None when
    none does. The peak shrinks as n grows: bisected."""

    def fits(n: int) -> bool:
        dist_fn = remapped_fn(fn, culprit, layout_of(n), target)
        try:
            return peak_bytes(fn, dist_fn)[0] <= usable
        except CompileError:  # n PEs make no rectangle on this fabric (layouts.fold)
            return False

    if not sizes or not fits(sizes[-1]):
        return None
    lo, hi = 0, len(sizes) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(sizes[mid]):
            hi = mid
        else:
            lo = mid + 1
    return layout_of(sizes[lo])


def suggest_grid(
    fn: func.FuncOp, culprit: SSAValue, target: Target, usable: int
) -> tuple[int, int] | None:
    """The smallest square grid that fits the program when every tensor on the culprit's grid
    moves there."""
    limit = min(target.fabric_rows, target.fabric_cols)
    d = mesh.dist_of(culprit)
    sides = list(range(max(d.grid) + (0 if is_replicated(d) else 1), limit + 1))
    found = smallest_fitting(
        fn, culprit, target, usable, lambda g: LayoutAttr("grid", [g, g]), sides
    )
    return None if found is None else (found.size_tuple[0], found.size_tuple[1])


def suggest_partition(
    fn: func.FuncOp, culprit: SSAValue, target: Target, usable: int
) -> int | None:
    """The smallest power-of-two count of PEs that fits the program when every tensor on the
    culprit's grid takes `row_partition` of it (the first dim split: for a tensor whose last
    two dims are too small for a grid to spread it, [64, 64, 2, 2])."""
    d = mesh.dist_of(culprit)
    rows = d.shape[0] if d.shape else 1
    most = min(rows, target.fabric_rows * target.fabric_cols)
    counts = [2**i for i in range(1, most.bit_length())]
    found = smallest_fitting(
        fn, culprit, target, usable, lambda n: LayoutAttr("row_partition", [n]), counts
    )
    return None if found is None else found.size_tuple[0]


def overflow_advice(
    fn: func.FuncOp,
    culprit: SSAValue,
    live: list[SSAValue],
    at: int,
    target: Target,
    usable: int,
) -> tuple[str, str]:
    """The SRAM error's last sentence, and the layout it suggests ('' if none): a square grid
    for the culprit, else a partition of its first dim, under which the program fits (both
    checked by the same count); else why no layout can do it: the tensors live at the peak
    hold more than the whole fabric, or a batched matmul keeps its batch whole on every PE."""
    grid = suggest_grid(fn, culprit, target, usable)
    if grid is not None:
        suggestion = f"pf.MeshLayout.grid({grid[0]}, {grid[1]})"
        return f"A layout that would fit: layout={suggestion}.", suggestion
    held = sum(math.prod(mesh.dist_of(v).shape) * elem_bytes_of(element_type(v)) for v in live)
    pes = target.fabric_rows * target.fabric_cols
    if held > usable * pes:
        return (
            f"No layout fits: the tensors live there hold {kib_or_mib(held)}, more than the "
            f"{target.fabric_rows}x{target.fabric_cols} PEs of the fabric hold for data "
            f"({kib_or_mib(usable * pes)}): run the computation in parts (e.g. a smaller batch per "
            "call) or on a target with more PEs.",
            "",
        )
    product = list(fn.body.block.ops)[at]
    shape = mesh.dist_of(product.results[0]).shape if product.results else ()
    if isinstance(product, mesh.MatmulOp) and len(shape) > 2:
        at_line = describe_loc(product)
        batch = "x".join(map(str, shape[:-2]))
        return (
            f"No layout fits the batched matmul{' at ' + at_line if at_line else ''}: a matmul "
            f"splits only the last two dims and keeps the batch dims ({batch}) whole on "
            f"every PE. For small matrices (here {shape[-2]}x{shape[-1]} products) write "
            "a @ b as (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(-2): elementwise ops and sums "
            "split the batch dims.",
            "",
        )
    parts = suggest_partition(fn, culprit, target, usable)
    if parts is not None:
        suggestion = f"pf.MeshLayout.row_partition({parts})"
        return f"A layout that would fit: layout={suggestion}.", suggestion
    return "No layout on this fabric fits it: split the computation.", ""


def describe_value(v: SSAValue) -> tuple[str, str]:
    d = mesh.dist_of(v)
    shape = "".join(f"{n}x" for n in d.shape)
    what = f"tensor<{shape}{element_type(v)}> on a {d.grid[0]}x{d.grid[1]} grid"
    return what, describe_loc(v)


def fit_layered_matmuls(fn: func.FuncOp, usable: int) -> None:
    """A 2.5D SUMMA (`summa25d`) whose scratch overflows the SRAM with the tensors live at its
    point of the program falls back to SUMMA (flame-to-mesh chose it by cycles alone)."""
    while True:
        peak, at, _ = peak_bytes(fn, mesh.dist_of)
        op = list(fn.body.block.ops)[at] if peak > usable else None
        if not isinstance(op, mesh.MatmulOp) or op.algorithm.data != mesh.MatmulAlgorithm.SUMMA25D:
            return
        op.properties["algorithm"] = mesh.MatmulAlgorithmAttr(mesh.MatmulAlgorithm.SUMMA)


def check_function(fn: func.FuncOp, target: Target) -> None:
    usable = target.usable_sram_bytes
    fit_layered_matmuls(fn, usable)

    def dist_fn(v: SSAValue) -> Distribution:
        return mesh.dist_of(v)

    def fits() -> bool:
        return peak_bytes(fn, dist_fn)[0] <= usable or peak_bytes_on_pes(fn, dist_fn) <= usable

    if fits():
        return
    # a move staged through an intermediate grid (flame_lowering/regrid.py) that does not fit
    # with the tensors live there goes in one exchange again
    if unstage(list(fn.body.block.ops)) and fits():
        return
    peak, at, live = peak_bytes(fn, dist_fn)
    culprit = max(
        live,
        key=lambda v: tile_bytes(dist_fn(v), elem_bytes_of(element_type(v))),
    )
    cdist = dist_fn(culprit)
    own = tile_bytes(cdist, elem_bytes_of(element_type(culprit)))
    what, where = describe_value(culprit)
    advice, suggestion = overflow_advice(fn, culprit, live, at, target, usable)
    message = (
        f"SRAM overflow: {what}"
        + (f" made at {where}" if where else "")
        + f" needs {kib(own)} per PE; with the other live tensors the program needs "
        f"{kib(peak)} per PE, but each PE has {kib(target.sram_bytes)} of SRAM "
        f"({kib(usable)} for data on {target.name}). {advice}"
    )
    raise SRAMOverflowError(
        message,
        tensor=what,
        location=where,
        bytes_per_pe=peak,
        sram_bytes=target.sram_bytes,
        suggestion=suggestion,
    )


class PlanMemoryPass(ModulePass):
    """Check that the mesh program's per-PE peak fits the target's SRAM."""

    name = "plan-memory"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        target = Target.of_module(op)
        for fn in op.walk():
            if isinstance(fn, func.FuncOp):
                check_function(fn, target)


# --- convolution and pooling ---------------------------------------------------------------
# mesh.conv2d / mesh.pool2d lower to a halo exchange (passes/scratch.py `halo_phases`): per
# spatial axis that is not read in place, a window buffer and up to four strip buffers (two
# packed and sent, two received), then the local op reads the last window and writes the
# result. The live tensors at the op already count the input and the result, so the scratch is
# what each step holds beyond them: the rows phase (input, window, strips), the columns phase
# (both windows and strips; the input is assumed still live), the local op (last window and
# result). The channel-split conv2d (scratch.ChannelSplitConv) keeps a window per channel of
# its block, two receive buffers and the step's filters: the larger of making the last window
# (the others kept) and the steps. mesh.conv2d_weight_grad needs the same, its windows made
# for the grad's positions and its steps' "filters" the [ob, kh, kw] taps each step computes.


def halo_scratch(op: Operation, dist_fn: Callable[[SSAValue], Distribution]) -> int:
    """Bytes per PE the halo exchange needs beyond the op's input and result tiles."""
    if not isinstance(op, mesh.Conv2dOp | mesh.Conv2dWeightGradOp | mesh.Pool2dOp):
        return 0
    x = dist_fn(op.input)
    # the windows are made for the output positions: the result's, or the grad's
    y = dist_fn(op.grad if isinstance(op, mesh.Conv2dWeightGradOp) else op.result)
    elem = elem_bytes_of(element_type(op.input))
    kernel, stride, padding, dilation = op.spatial()
    if op.channel_split:  # its windows, receive buffers and filters (passes/scratch.py)
        axes = distribution.halo_axes(
            x.shape, y.shape, (x.grid[0], 1), kernel, stride, padding, dilation
        )
        plan = scratch.ChannelSplitConv.of(x.block, axes, channel_split_filters(op, dist_fn))
        return plan.scratch_bytes(elem, aligned)
    if not distribution.is_spatial(x):
        return 0
    axes = distribution.halo_axes(x.shape, y.shape, x.grid, kernel, stride, padding, dilation)
    x_bytes, y_bytes = tile_bytes(x, elem), tile_bytes(dist_fn(op.result), elem)
    window, need = 0, 0  # the current window's bytes (0: the input tile itself)
    for phase in scratch.halo_phases(x.block, axes):
        strips = 2 * sum(aligned(n * elem) for n in phase.strip_elems())
        new = aligned(math.prod(phase.window) * elem)
        need = max(need, window + new + strips - y_bytes)
        window = new
    return max(need, window - x_bytes, 0)


def channel_split_filters(
    op: mesh.Conv2dOp | mesh.Conv2dWeightGradOp | mesh.Pool2dOp,
    dist_fn: Callable[[SSAValue], Distribution] = mesh.dist_of,
) -> tuple[int, ...]:
    """The block whose filters one step of a channel-split op holds: the conv2d's weight
    block, or for the weight gradient the step's [ob, 1, kh, kw] taps."""
    if isinstance(op, mesh.Conv2dWeightGradOp):
        return (dist_fn(op.grad).block[1], 1, *op.spatial()[0])
    return tuple(dist_fn(op.operands[1]).block)


def halo_buffers(op: Operation) -> int:
    """Bytes per PE of all the halo exchange's buffers of a windowed op, side by side."""
    if not isinstance(op, mesh.Conv2dOp | mesh.Conv2dWeightGradOp | mesh.Pool2dOp):
        return 0
    elem = elem_bytes_of(element_type(op.input))
    if op.channel_split:
        x, filters = mesh.dist_of(op.input), channel_split_filters(op)
        return scratch.ChannelSplitConv.of(x.block, op.axes(), filters).all_bytes(elem, aligned)
    return sum(  # as lower-mesh-to-pe allocates them (passes/pe_lowering/windowed.py)
        aligned(math.prod(phase.window) * elem)
        + 2 * sum(aligned(n * elem) for n in phase.strip_elems())
        for phase in scratch.halo_phases(mesh.dist_of(op.input).block, op.axes())
    )
