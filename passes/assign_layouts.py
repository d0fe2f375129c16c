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
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from pyflame.core.target import Target
from pyflame.dialects import flame
from pyflame.passes.layout_choice import (
    choose_grid,
    estimate_cycles,
    rank_candidates,
)
from pyflame.passes.layout_rules import SYMBOLIC_SIDE, Assignment, propagate, write_assignment
from pyflame.passes.layouts import (
    ALGORITHM_ATTR,
    ASSIGNED_ATTR,
    collect_assigned,
    dist_text,
    elem_bytes_of,
    reloaded_args,
)
from pyflame.passes.locations import describe_loc

#: a hint is reported when the program with it is estimated this many times slower than the
#: layout the pass would choose without it ...
COSTLY_HINT_FACTOR = 2.0
#: ... and slower by at least this many cycles (about 24 us on WSE2's 850 MHz clock): below
#: that, a hint costs the user less than the time to act on a warning
COSTLY_HINT_CYCLES = 20_000


def check_hints(fn: func.FuncOp, target: Target) -> None:
    """Warn, at the user's line, about a hint that makes the program much slower than the
    layout the pass would choose without hints: COSTLY_HINT_FACTOR times and COSTLY_HINT_CYCLES
    more, by the pass's own estimate; or whose tensor's tile alone does not fit SRAM (the hint
    is kept)."""
    hinted, _ = choose_grid(fn, target)
    tensors = [v for v, why in hinted.why.items() if why == "hint"]
    if not tensors:
        return
    free, _ = choose_grid(fn, target, use_hints=False)
    cost = estimate_cycles(fn, hinted, target)
    best = estimate_cycles(fn, free, target)
    too_big = [v for v in tensors if tile_bytes_of(v, hinted) > target.usable_sram_bytes]
    costly = cost > COSTLY_HINT_FACTOR * best and cost - best >= COSTLY_HINT_CYCLES
    if not (too_big or costly):
        return
    for v in too_big or tensors:
        better = free.dists.get(v)
        if better is None or better == hinted.dists[v]:
            continue
        where = describe_loc(v)
        problem = "does not fit in SRAM" if too_big else f"is estimated at {cost:,.0f} cycles"
        warnings.warn(
            f"{where + ': ' if where else ''}layout hint {dist_text(hinted.dists[v])} for "
            f"tensor<{'x'.join(map(str, better.shape))}> {problem}; "
            f"better: {dist_text(better)} (about {best:,.0f} cycles for the program)",
            UserWarning,
            stacklevel=2,
        )
        return


def tile_bytes_of(v: SSAValue, a: Assignment) -> int:
    """The bytes of `v`'s tile on every PE of its layout in `a`."""
    typ = v.type
    assert isinstance(typ, TensorType)  # only tensors are assigned
    return a.dists[v].local_elems * elem_bytes_of(typ.element_type)


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
    """Choose and write the layouts of `fn` (on a `side` x `side` grid if given); None when it
    assigns nothing (a small program, a rerun from text, or no assignment estimated cheapest)."""
    if any(ASSIGNED_ATTR in op.attributes for op in fn.body.block.ops):
        return None  # already assigned (a rerun from text)
    products = [op for op in fn.body.block.ops if isinstance(op, flame.MatmulOp)]
    if not products or all(small_product(op) for op in products):
        return None
    if side:
        a = propagate(fn, SYMBOLIC_SIDE, target).regrid(side)
    else:
        check_hints(fn, target)
        chosen = choose(fn, target)
        if chosen is None:
            return None
        a = chosen
    write_assignment(fn, a)
    return a


def choose(fn: func.FuncOp, target: Target) -> Assignment | None:
    """The cheapest candidate by the cost model (layout_choice.py: the shortlisted grids and
    no assignment, None); the own estimate's choice when no candidate lowers (the pipeline
    then reports why)."""
    module = fn.parent_op()
    ranked = rank_candidates(module, fn, target) if isinstance(module, ModuleOp) else []
    if not ranked:
        return choose_grid(fn, target)[0]
    return ranked[0].assignment


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
            algorithm = (
                owner.attributes.get(ALGORITHM_ATTR) if isinstance(owner, Operation) else None
            )
            if isinstance(algorithm, StringAttr) and algorithm.data != why:  # a skinny product's
                why = f"{why}; {algorithm.data}"
            where = describe_loc(v)
            also = ", loaded once per layout it is used in" if v in reloads else ""
            lines.append(
                f"//   {what} tensor<{'x'.join(map(str, d.shape)) or 'scalar'}> "
                f"on {dist_text(d)}  ({why}{also}){'  ' + where if where else ''}"
            )
    return "\n".join(lines)
