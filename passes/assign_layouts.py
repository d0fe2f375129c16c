"""assign-layouts: choose every tensor's distribution over the whole function, before
flame-to-mesh, and write each choice into the IR (so that a rerun from text makes the same
program).

Today's lowering places each op on its own (the default 4 KiB-tile rule, SUMMA's grid per
matmul), and a training step pays for it: the 64x10 logits of the MLP 784-256-10 moved between
1x1, 4x4 and 16x16 grids, 16+ redistributions per step. This pass instead:

1. picks ONE square grid `g x g` for the function's matmuls (`choose_grid`: the side that
   minimises a documented estimate, `estimate_cycles`, among those whose tiles fit in SRAM);
2. anchors every matmul's operands and result on it, split like SUMMA wants ([r, c] over the
   last two dims), after the user's `layout=` hints (which always win);
3. propagates those layouts along the data flow in both directions (`propagate`): elementwise
   chains share a layout, a transpose permutes the split, a reduction drops (keepdim: unsplits)
   its dims, a reshape that only adds or drops size-1 dims keeps the split of the others, a
   broadcast's source takes the result's split in the dims it keeps. Size-1 dims are never
   split (they are replicated), scalars are replicated over the grid. So activations stay
   [batch, features] split the same way through a layer stack, and gradients reuse the
   forward's layouts; a program input used transposed (a weight) is loaded from the host
   already transposed. Where two layouts meet (a value and its transpose both feeding SUMMA)
   the first wins and flame-to-mesh redistributes once.

Ops the pass does not model (convolution, pooling, indexed rows, slices, concat, pad, moving
reshapes) stay opaque: their results get no assignment and flame-to-mesh places them by its own
rules, as before. A function without a matmul and without hints is left alone.

Each assigned value carries `pf.dist = "GRxGC split [..]"` and `pf.why` (`hint`, `matmul`,
`propagated`): on the op making it, or in the function's argument attributes. flame-to-mesh
treats an assignment like a hint (passes/layouts.py `collect_assigned`); `pf.explain` lists them.

    %10 = flame.matmul %x1, %9 : (tensor<64x784xf32>, tensor<784x256xf32>) -> tensor<64x256xf32>
becomes
    %10 = flame.matmul %x1, %9 {pf.dist = "16x16 split [r, c]", pf.why = "matmul"} : ...
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from pyflame.core.distribution import Distribution
from pyflame.core.target import Target
from pyflame.dialects import flame
from pyflame.passes.flame_lowering.gemv import skinny_side
from pyflame.passes.layouts import (
    ASSIGNED_ATTR,
    collect_assigned,
    collect_hints,
    default_layout,
    dist_text,
    elem_bytes_of,
    layout_to_dist,
    mark_reload,
    reloaded_args,
    set_assignment,
)
from pyflame.passes.locations import describe_loc

#: the ops whose layouts propagate (every other op is opaque)
ELEMENTWISE: tuple[type[Operation], ...] = (
    flame.ElementwiseUnaryOp,
    flame.ElementwiseBinaryOp,
    flame.WhereOp,
    flame.ConvertOp,
)
REDUCTIONS: tuple[type[flame._ReduceOp], ...] = (*flame.REDUCE_OPS.values(), flame.ReduceMeanOp)
CREATION: tuple[type[Operation], ...] = (
    flame.FillOp,
    flame.IotaOp,
    flame.RandomNormalOp,
    flame.RandomUniformOp,
)


#: the grid side propagation runs with, replaced by each candidate side (`Assignment.regrid`);
#: larger than any fabric, so no hint has it
SYMBOLIC_SIDE = 1 << 20


def summa_dist(shape: tuple[int, ...], g: int) -> Distribution:
    """SUMMA's layout on a g x g grid: batch dims whole, the last two over rows and columns."""
    split = ("",) * (len(shape) - 2) + ("r", "c")
    return Distribution(shape, (g, g), split)


def unsplit_ones(d: Distribution) -> Distribution:
    """Size-1 dims are never split across a mesh axis: they are replicated."""
    return d.with_(split=["" if n == 1 else a for n, a in zip(d.shape, d.split, strict=True)])


@dataclass
class Assignment:
    """The distribution chosen for each value, why, and where two choices met."""

    grid: tuple[int, int]
    dists: dict[SSAValue, Distribution] = field(default_factory=dict)
    why: dict[SSAValue, str] = field(default_factory=dict)
    #: (value, the layout another use wanted): one redistribution each in flame-to-mesh
    conflicts: list[tuple[SSAValue, Distribution]] = field(default_factory=list)
    #: program inputs wanted in several layouts: loaded from the host once per layout
    reloads: set[SSAValue] = field(default_factory=set)
    #: skinny products whose matrix the user placed: GEMV keeps it there and places the rest
    #: itself (passes/flame_lowering/gemv.py), so the pass leaves their results alone
    gemvs: set[Operation] = field(default_factory=set)

    def regrid(self, side: int) -> Assignment:
        """This assignment with the symbolic grid (`SYMBOLIC_SIDE`) made `side` x `side`: the
        rules never look at the grid's size, so one propagation serves every side."""
        sym = (SYMBOLIC_SIDE, SYMBOLIC_SIDE)
        dists = {
            v: d.with_(grid=(side, side)) if d.grid == sym else d for v, d in self.dists.items()
        }
        conflicts = [
            (v, d.with_(grid=(side, side)) if d.grid == sym else d) for v, d in self.conflicts
        ]
        if side == 1:  # on one PE every layout is the same
            conflicts = []
        return Assignment(
            (side, side), dists, dict(self.why), conflicts, set(self.reloads), set(self.gemvs)
        )

    def offer(self, v: SSAValue, d: Distribution, why: str) -> bool:
        """Give `v` layout `d` unless it has one; a different one already there is a conflict.
        The results of GEMVs on a user-placed matrix are left to their lowering."""
        if v.owner in self.gemvs:
            return False
        d = unsplit_ones(d)
        old = self.dists.get(v)
        if old is None:
            self.dists[v] = d
            self.why[v] = why
            return True
        if old.normalized() != d.normalized() and (v, d) not in self.conflicts:
            self.conflicts.append((v, d))
        return False


def modelled(v: SSAValue) -> bool:
    """Whether the pass may choose `v`'s layout: a tensor made by a block argument or an op
    whose lowering it models."""
    if not isinstance(v.type, TensorType):
        return False
    owner = v.owner
    if isinstance(owner, flame.MatmulOp):
        return is_matrix_product(owner)
    if isinstance(owner, REDUCTIONS) and str(v.type.element_type) in ("i32", "i1"):
        # an integer reduction's padding lanes hold its identity (the largest int for the
        # argmin that argmax decomposes into): split, `+ k` on them would be an int32
        # overflow the simulator reports although no real element overflows
        return False
    return not isinstance(owner, Operation) or isinstance(
        owner,
        ELEMENTWISE
        + REDUCTIONS
        + CREATION
        + (flame.TransposeOp, flame.ReshapeOp, flame.BroadcastToOp, flame.MatmulOp),
    )


def squeeze_map(src: tuple[int, ...], dst: tuple[int, ...]) -> dict[int, int] | None:
    """For a reshape that only adds or drops size-1 dims: src dim -> dst dim of each non-1 dim."""
    a = [i for i, n in enumerate(src) if n != 1]
    b = [i for i, n in enumerate(dst) if n != 1]
    if [src[i] for i in a] != [dst[i] for i in b]:
        return None
    return dict(zip(a, b, strict=True))


def implied(op: Operation, known: dict[SSAValue, Distribution], grid: tuple[int, int]) -> list:
    """(value, layout) pairs that `op`'s lowering relates to the layouts already known: what
    flame-to-mesh will make of them (forward) or what its operands must be (backward)."""
    out: list[tuple[SSAValue, Distribution]] = []
    res = op.results[0] if op.results else None
    if res is None or not isinstance(res.type, TensorType):
        return out
    shape = flame.tensor_shape(res)
    if isinstance(op, ELEMENTWISE):
        full = [v for v in (*op.operands, res) if flame.tensor_shape(v) == shape]
        have = next((known[v] for v in full if v in known), None)
        if have is not None:
            out += [(v, have.with_(shape=flame.tensor_shape(v))) for v in full]
        g = have.grid if have is not None else grid
        out += [(v, Distribution((), g, ())) for v in op.operands if not flame.tensor_shape(v)]
    elif isinstance(op, flame.TransposeOp):
        perm = op.perm_tuple
        x = op.input
        if x in known:
            d = known[x]
            out.append((res, d.with_(shape=shape, split=[d.split[p] for p in perm])))
        if res in known:
            d = known[res]
            inv = [perm.index(i) for i in range(len(perm))]
            out.append((x, d.with_(shape=flame.tensor_shape(x), split=[d.split[i] for i in inv])))
    elif isinstance(op, REDUCTIONS):
        x, dims = op.input, op.dim_tuple
        keep = op.keepdim is not None
        xs = flame.tensor_shape(x)
        if x in known:
            d = known[x]
            split = [("" if i in dims else a) for i, a in enumerate(d.split)]
            if not keep:
                split = [a for i, a in enumerate(split) if i not in dims]
            out.append((res, d.with_(shape=shape, split=split)))
        if res in known and x not in known:  # a guess: only where nothing else decided
            d = known[res]
            kept = [i for i in range(len(xs)) if i not in dims]
            split = [""] * len(xs)
            for j, i in enumerate(kept):
                split[i] = d.split[i if keep else j]
            # a reduced dim takes a mesh axis the kept dims leave free (a row sum of [r, c])
            free = [
                a
                for a, n in zip(("r", "c"), d.grid, strict=True)
                if n > 1 and a not in "".join(split)
            ]
            for i in reversed(dims):
                if free and xs[i] > 1:
                    split[i] = free.pop()
            out.append((x, d.with_(shape=xs, split=split)))
    elif isinstance(op, flame.ReshapeOp):
        x = op.input
        xs = flame.tensor_shape(x)
        fwd = squeeze_map(xs, shape)
        if fwd is not None and x in known:
            d = known[x]
            split = [""] * len(shape)
            for i, j in fwd.items():
                split[j] = d.split[i]
            out.append((res, d.with_(shape=shape, split=split)))
        if fwd is not None and res in known:
            d = known[res]
            split = [""] * len(xs)
            for i, j in fwd.items():
                split[i] = d.split[j]
            out.append((x, d.with_(shape=xs, split=split)))
    elif isinstance(op, flame.BroadcastToOp):
        x = op.input
        xs = flame.tensor_shape(x)
        k = len(shape) - len(xs)
        if res in known:
            d = known[res]
            split = [d.split[k + i] if n == shape[k + i] else "" for i, n in enumerate(xs)]
            out.append((x, d.with_(shape=xs, split=split)))
    elif isinstance(op, flame.MatmulOp) and res in known and is_matrix_product(op):
        g = known[res].grid
        for v in op.operands:
            out.append((v, Distribution(flame.tensor_shape(v), g, _summa_split(v))))
    return out


def _summa_split(v: SSAValue) -> tuple[str, ...]:
    return ("",) * (len(flame.tensor_shape(v)) - 2) + ("r", "c")


def propagate(fn: func.FuncOp, g: int, target: Target, use_hints: bool = True) -> Assignment:
    """Hints first, then matmul anchors on g x g, then the data-flow rules to a fixed point."""
    block = fn.body.block
    a = Assignment((g, g))
    hints = collect_hints(fn) if use_hints else {}
    for v, hint in hints.items():
        if modelled(v) or isinstance(v.owner, Operation):
            a.offer(v, layout_to_dist(hint, flame.tensor_shape(v), target), "hint")
    ops = [op for op in block.ops if isinstance(op, flame.FlameOp)]
    a.gemvs = {op for op in ops if isinstance(op, flame.MatmulOp) and user_placed_gemv(op, hints)}
    for op in ops:
        if isinstance(op, flame.MatmulOp) and op.result not in a.dists and is_matrix_product(op):
            side, why = hinted_side(op, a, target) or (g, "matmul")
            a.offer(op.result, summa_dist(flame.tensor_shape(op.result), side), why)
    changed = True
    while changed:
        changed = False
        for op in ops:
            if isinstance(op, flame.MatmulOp):
                why = "matmul"
            else:
                why = "propagated"
            for v, d in implied(op, a.dists, a.grid):
                if modelled(v) and a.offer(v, d, why):
                    changed = True
    hinted = set(hints)
    moved = []
    for v, d in a.conflicts:
        root = input_behind_transposes(v)
        if root is not None and root not in hinted:
            a.reloads.add(root)
        else:
            moved.append((v, d))
    a.conflicts = moved
    return a


def user_placed_gemv(op: flame.MatmulOp, hints: dict) -> bool:
    """A skinny product (flame_lowering/gemv.py) whose matrix operand carries a user hint: the
    issue's `A on grid(64, 64) @ x` keeps A's layout and is no SUMMA."""
    side = skinny_side(op)
    if side is None:
        return False
    return (op.lhs if side == "rhs" else op.rhs) in hints


def is_matrix_product(op: flame.MatmulOp) -> bool:
    """Operands and result of rank 2 or more (the rules place nothing else)."""
    return all(len(flame.tensor_shape(v)) >= 2 for v in (op.lhs, op.rhs, op.result))


def hinted_side(op: flame.MatmulOp, a: Assignment, target: Target) -> tuple[int, str] | None:
    """The grid side of an operand the user placed for SUMMA (square, split [r, c]) when it is
    at least what the sizes need (flame-to-mesh's rule, `matmul_grid`): the product runs
    there, so the hinted operand does not move."""
    needed = 1
    for v in (op.lhs, op.rhs, op.result):
        layout = default_layout(flame.tensor_shape(v), 4, target)
        if layout.kind.data == "grid":
            needed = max(needed, layout.size_tuple[0])
    for v in op.operands:
        d = a.dists.get(v)
        if (
            d is not None
            and a.why.get(v) == "hint"
            and d.grid[0] == d.grid[1] >= needed
            and d.split[-2:] == ("r", "c")
        ):
            return d.grid[0], "hint"
    return None


def input_behind_transposes(v: SSAValue) -> SSAValue | None:
    """The program input `v` is a transpose (of a transpose ...) of, if it is one."""
    while isinstance(v.owner, flame.TransposeOp):
        v = v.owner.input
    return None if isinstance(v.owner, Operation) else v


# --------------------------------------------------------------------------- the estimate


def matmul_cycles(op: flame.MatmulOp, g: int, target: Target) -> float:
    """SUMMA on g x g: g steps, each a local product of tiles (one FMAC a cycle, a vector
    instruction per output row and contraction element) after a row and a column broadcast
    (latency about g hops plus a task activation)."""
    m, k = flame.tensor_shape(op.lhs)[-2:]
    n = flame.tensor_shape(op.rhs)[-1]
    batch = math.prod(flame.tensor_shape(op.result)[:-2])
    tm, tk, tn = (-(-x // g) for x in (m, k, n))
    compute = batch * tm * tk * tn * 2 / target.flops_per_cycle
    issue = batch * tm * tk * target.vector_issue_cycles
    comm = g * target.hop_latency_cycles + 2 * target.task_activation_cycles
    return g * (max(compute + issue, (tm * tk + tk * tn) / target.link_wavelets_per_cycle) + comm)


def estimate_cycles(fn: func.FuncOp, a: Assignment, target: Target) -> float:
    """matmuls (SUMMA), elementwise work per tile, allreduce latency of reductions over split
    dims, and one redistribution (a tile's worth of wavelets plus the grid's diameter) per
    conflict. Documented in docs/passes.md (assign-layouts)."""
    total = 0.0
    for op in fn.body.block.ops:
        if isinstance(op, flame.MatmulOp):
            d = a.dists.get(op.result)
            if d is not None and is_matrix_product(op):
                total += matmul_cycles(op, d.grid[0], target)
        elif op.results and op.results[0] in a.dists:
            d = a.dists[op.results[0]]
            total += d.local_elems + target.vector_issue_cycles
            if isinstance(op, REDUCTIONS) and op.input in a.dists:
                src = a.dists[op.input]
                if any(src.parts(i) > 1 for i in op.dim_tuple):
                    total += 2 * sum(src.grid) * target.hop_latency_cycles
    for _, d in a.conflicts:
        total += d.local_elems * 2 + 2 * sum(d.grid)
    return total


def tile_bytes(fn: func.FuncOp, a: Assignment, with_hints: bool = False) -> int:
    """Every tensor's tile the pass chose, side by side: an upper bound of what plan-memory
    needs for them."""
    total = 0
    for v, d in a.dists.items():
        assert isinstance(v.type, TensorType)  # only tensors are assigned (`modelled`)
        if with_hints or a.why[v] != "hint":  # the user's tiles are alike on every grid
            total += d.local_elems * elem_bytes_of(v.type.element_type)
    return total


def candidate_sides(target: Target) -> list[int]:
    limit = min(target.fabric_rows, target.fabric_cols)
    sides = [1]
    while sides[-1] * 2 <= limit:
        sides.append(sides[-1] * 2)
    return sides


def choose_grid(
    fn: func.FuncOp, target: Target, use_hints: bool = True
) -> tuple[Assignment, dict[int, float]]:
    """The assignment of least estimated cycles among the square grids whose tiles fit."""
    estimates: dict[int, float] = {}
    best: Assignment | None = None
    symbolic = propagate(fn, SYMBOLIC_SIDE, target, use_hints)
    for g in candidate_sides(target):
        a = symbolic.regrid(g)
        if tile_bytes(fn, a) > target.usable_sram_bytes:
            continue
        estimates[g] = estimate_cycles(fn, a, target)
        if best is None or estimates[g] < estimates[best.grid[0]]:
            best = a
    if best is None:  # nothing fits: the largest grid, plan-memory reports what overflows
        best = symbolic.regrid(candidate_sides(target)[-1])
    return best, estimates


#: a hint whose program is estimated this many times slower than without it is reported
COSTLY_HINT_FACTOR = 2.0


def check_hints(fn: func.FuncOp, chosen: Assignment, target: Target) -> None:
    """Warn, at the user's line, about each hint that cannot fit or makes the program much
    slower than the layout the pass would choose without it (the hint is kept)."""
    hinted = [v for v, why in chosen.why.items() if why == "hint"]
    if not hinted:
        return
    free, free_estimates = choose_grid(fn, target, use_hints=False)
    cost = estimate_cycles(fn, chosen, target)
    fits = tile_bytes(fn, chosen, with_hints=True) <= target.usable_sram_bytes
    best = free_estimates.get(free.grid[0], cost)
    if fits and cost <= COSTLY_HINT_FACTOR * best:
        return
    for v in hinted:
        better = free.dists.get(v)
        if better is None or better == chosen.dists[v]:
            continue
        where = describe_loc(v)
        problem = "does not fit in SRAM" if not fits else f"is estimated at {cost:,.0f} cycles"
        warnings.warn(
            f"{where + ': ' if where else ''}layout hint {dist_text(chosen.dists[v])} for "
            f"tensor<{'x'.join(map(str, better.shape))}> {problem}; better: "
            f"{dist_text(better)} (about {best:,.0f} cycles for the program)",
            UserWarning,
            stacklevel=2,
        )
        return


#: a function whose matmul tensors are all at most this big is left to flame-to-mesh's
#: defaults (one PE): spreading it gains little, and it keeps small programs as they were
SMALL_PRODUCT_BYTES = 4 * 1024


def small_product(op: flame.MatmulOp) -> bool:
    return all(
        math.prod(flame.tensor_shape(v)) * elem_bytes_of(v.type.element_type)  # type: ignore[attr-defined]  # matmul operands are tensors
        <= SMALL_PRODUCT_BYTES
        for v in (op.lhs, op.rhs, op.result)
    )


def assign_function(fn: func.FuncOp, target: Target, side: int = 0) -> Assignment | None:
    """Choose and write the layouts of `fn` (on a `side` x `side` grid if given)."""
    if any(ASSIGNED_ATTR in op.attributes for op in fn.body.block.ops):
        return None  # already assigned (a rerun from text)
    products = [op for op in fn.body.block.ops if isinstance(op, flame.MatmulOp)]
    if not products or all(small_product(op) for op in products):
        return None
    a = propagate(fn, SYMBOLIC_SIDE, target).regrid(side) if side else choose_grid(fn, target)[0]
    if not side:
        check_hints(fn, a, target)
    for v, d in a.dists.items():
        if flame.tensor_shape(v) or isinstance(v.owner, Operation):
            set_assignment(fn, v, dist_text(d), a.why[v])
    for arg in a.reloads:
        mark_reload(fn, arg)
    return a


@dataclass(frozen=True)
class AssignLayoutsPass(ModulePass):
    """Choose every tensor's grid and split over the whole function (one square grid for the
    matmuls, layouts propagated along the data flow, user hints first) and write them as
    `pf.dist` / `pf.why` for flame-to-mesh."""

    name = "assign-layouts"

    #: force the grid side (0: chosen by the estimate)
    side: int = 0

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        target = Target.of_module(op)
        for fn in op.walk():
            if isinstance(fn, func.FuncOp) and not fn.is_declaration:
                assign_function(fn, target, self.side)


def describe(module: ModuleOp) -> str:
    """Each tensor's assigned layout and why, one line each (for pf.explain): after this pass
    ran on `module`; '' when it assigned nothing."""
    lines: list[str] = []
    for fn in module.walk():
        if not isinstance(fn, func.FuncOp) or fn.is_declaration:
            continue
        found = collect_assigned(fn)
        if not found:
            continue
        reloads = set(reloaded_args(fn))
        lines.append(f"// layouts of @{fn.sym_name.data} (assign-layouts: tensor, layout, why)")
        for v, (d, why) in found.items():
            owner = v.owner
            what = owner.name if isinstance(owner, Operation) else f"input %{v.name_hint}"
            where = describe_loc(v)
            also = ", loaded once per layout it is used in" if v in reloads else ""
            lines.append(
                f"//   {what} tensor<{'x'.join(map(str, d.shape)) or 'scalar'}> "
                f"on {dist_text(d)}  ({why}{also}){'  ' + where if where else ''}"
            )
    return "\n".join(lines)
