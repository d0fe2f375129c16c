"""plan-placement: choose, before flame-to-mesh, how tensors nobody placed are laid out, so that
the program fits every PE's SRAM; the choice is written into the IR for flame-to-mesh to follow.

Small tensors that nobody placed go on one PE, and every grid is anchored at PE (0, 0): a program
of many small tensors can overflow that PE although each tensor is small. This pass tries the
single-PE budgets of `SINGLE_PE_BUDGETS` (16 KiB, 4 KiB, 1 KiB, 0) in turn and keeps the first
under which the whole lowering fits: it lowers a copy of the module to pe with the library
functions of flame-to-mesh, plan-memory, lower-mesh-to-pe, allocate-colors and allocate-sram and
asks whether one of them raises `SRAMOverflowError`. Any other error keeps that budget (the pass
that owns the error reports it later, at the user's op); when no budget fits it keeps the first,
so that plan-memory or allocate-sram reports the program's first overflow as it would without
this pass. A module that already has a `pf.placement` keeps it.

    builtin.module attributes {pf.target = #pf.target<"small">} { ... }
becomes
    builtin.module attributes {pf.target = #pf.target<"small">,
                               pf.placement = #pf.placement<single_pe_bytes = 16384>} { ... }
"""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from pyflame.core.errors import SRAMOverflowError
from pyflame.core.placement import PLACEMENT_ATTR, SINGLE_PE_BUDGETS, PlacementAttr
from pyflame.core.target import Target
from pyflame.passes.allocate_colors import allocate as allocate_colors
from pyflame.passes.allocate_sram import allocate as allocate_sram
from pyflame.passes.flame_to_mesh import lower_function as lower_flame_function
from pyflame.passes.lower_mesh_to_pe import lower_function as lower_mesh_function
from pyflame.passes.plan_memory import check_function as check_memory


def fits(module: ModuleOp, single_pe_bytes: int) -> bool:
    """Whether a copy of the (decomposed, flame-level) `module` lowers to pe under this budget
    without `SRAMOverflowError`; another error counts as fitting (it is not the budget's)."""
    copy = module.clone()
    target = Target.of_module(copy)
    functions = [op for op in copy.walk() if isinstance(op, func.FuncOp)]
    steps = (  # each step over every function, in pipeline order, as the passes run them
        lambda fn: lower_flame_function(fn, target, single_pe_bytes),
        lambda fn: check_memory(fn, target),
        lambda fn: lower_mesh_function(fn, target),
        lambda fn: allocate_colors(fn, target),
        lambda fn: allocate_sram(fn, target),
    )
    try:
        for step in steps:
            for fn in functions:
                step(fn)
    except SRAMOverflowError:
        return False
    except Exception:  # noqa: BLE001  (reported by the pass that owns it, at the user's op)
        return True
    return True


def choose_single_pe_bytes(module: ModuleOp) -> int:
    """The first budget of `SINGLE_PE_BUDGETS` under which `module` fits, else the first."""
    for budget in SINGLE_PE_BUDGETS:
        if fits(module, budget):
            return budget
    return SINGLE_PE_BUDGETS[0]


class PlanPlacementPass(ModulePass):
    """Choose the single-PE budget under which the program fits SRAM (tried: 16 KiB, 4 KiB,
    1 KiB, 0) and record it as the module attribute pf.placement for flame-to-mesh."""

    name = "plan-placement"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if PLACEMENT_ATTR in op.attributes:
            return
        op.attributes[PLACEMENT_ATTR] = PlacementAttr(choose_single_pe_bytes(op))
