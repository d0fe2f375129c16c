"""plan-placement: choose, before flame-to-mesh, how tensors nobody placed are laid out, so that
the program fits every PE's SRAM; the choice is written into the IR for flame-to-mesh to follow.

Small tensors that nobody placed go on one PE, and every grid is anchored at PE (0, 0): a program
of many small tensors can overflow that PE although each tensor is small. This pass tries the
single-PE budgets of `SINGLE_PE_BUDGETS` (16 KiB, 4 KiB, 1 KiB, 0) in turn and keeps the first
under which the whole lowering fits, that is under which none of plan-memory and allocate-sram
would raise `SRAMOverflowError`. When none fits with the user's layout hints spread to what is
derived from the hinted tensors (a tensor hinted `replicated` makes every derived tensor a whole
copy per PE), it tries the budgets again with each hint binding its tensor only (`hinted_only`:
derived tensors get the compiler's layout; `PLACEMENTS`). For each try it lowers a copy of the module to mesh with the
library functions of flame-to-mesh and plan-memory; only when the program's buffers side by side
(`plan_memory.unshared_bytes`) could exceed SRAM does it go on to pe (lower-mesh-to-pe, then
allocate-sram with one more aligned word kept back for the barrier word allocate-colors may add)
to ask allocate-sram, since under that bound allocate-sram cannot fail. Any other error keeps that budget (the pass that owns the error reports it later, at the
user's op); when nothing fits it keeps the first, so that plan-memory or allocate-sram reports
the program's first overflow as it would without this pass. A module that already has a
`pf.placement` keeps it.

    builtin.module attributes {pf.target = #pf.target<"small">} { ... }
becomes
    builtin.module attributes {pf.target = #pf.target<"small">,
                               pf.placement = #pf.placement<single_pe_bytes = 16384>} { ... }
    (or `#pf.placement<single_pe_bytes = 1024, hinted_only>`)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from pyflame.core.errors import SRAMOverflowError
from pyflame.core.placement import PLACEMENT_ATTR, PLACEMENTS, Placement
from pyflame.core.target import Target
from pyflame.passes.allocate_sram import allocate as allocate_sram
from pyflame.passes.flame_to_mesh import lower_function as lower_flame_function
from pyflame.passes.lower_mesh_to_pe import lower_function as lower_mesh_function
from pyflame.passes.plan_memory import ALIGN, unshared_bytes
from pyflame.passes.plan_memory import check_function as check_memory


def fits(module: ModuleOp, placement: Placement) -> bool:
    """Whether the (decomposed, flame-level) `module` lowers to pe under this placement without
    `SRAMOverflowError`; another error counts as fitting (it is not the budget's)."""
    copy = module.clone()
    target = Target.of_module(copy)
    functions = [op for op in copy.walk() if isinstance(op, func.FuncOp)]
    outcome = overflows(
        functions,
        lambda fn: lower_flame_function(fn, target, placement),
        lambda fn: check_memory(fn, target),
    )
    if outcome is not None:
        return not outcome
    # Only plan-memory and allocate-sram raise SRAMOverflowError, and within this bound
    # allocate-sram cannot: the pe lowering of the copy would not change the answer.
    if all(unshared_bytes(fn) <= target.usable_sram_bytes for fn in functions):
        return True
    # allocate-colors is left out (the slowest pass on programs with many exchanges): the only
    # SRAM it adds is the barrier word of route switches, one aligned word per PE, kept back here
    with_barrier = dataclasses.replace(
        target, sram_reserved_bytes=target.sram_reserved_bytes + ALIGN
    )
    outcome = overflows(
        functions,
        # the routes of exchanges take no SRAM: not stated (a wafer-wide exchange has ~5
        # route rectangles per message)
        lambda fn: lower_mesh_function(fn, target, exchange_routes=False),
        lambda fn: allocate_sram(fn, with_barrier),
    )
    return outcome is not True


def overflows(functions: list[func.FuncOp], *steps: Callable[[func.FuncOp], object]) -> bool | None:
    """Run each step over every function, in pipeline order as the passes run them: True when
    one raises `SRAMOverflowError`, False when one raises another error (not the budget's: the
    pass that owns it reports it later, at the user's op), None when all of them ran."""
    try:
        for step in steps:
            for fn in functions:
                step(fn)
    except SRAMOverflowError:
        return True
    except Exception:  # noqa: BLE001  (see above)
        return False
    return None


def choose_placement(module: ModuleOp) -> Placement:
    """The first of `PLACEMENTS` under which `module` fits, else the first."""
    for placement in PLACEMENTS:
        if fits(module, placement):
            return placement
    return PLACEMENTS[0]


class PlanPlacementPass(ModulePass):
    """Choose the single-PE budget under which the program fits SRAM (tried: 16 KiB, 4 KiB,
    1 KiB, 0; then the same with hints binding the hinted tensors only) and record it as the
    module attribute pf.placement for flame-to-mesh."""

    name = "plan-placement"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if PLACEMENT_ATTR in op.attributes:
            return
        op.attributes[PLACEMENT_ATTR] = choose_placement(op).attr()
