"""choose-matmuls: each mesh.matmul's algorithm, SUMMA or the 2.5D SUMMA, revised for the whole
program.

flame-to-mesh gives each matmul the algorithm its own estimate favours (SUMMA, unless the 2.5D
SUMMA is estimated `LAYERED_MARGIN` cheaper: `flame_lowering/matmul.cheapest_algorithm`), and
plan-memory sends a 2.5D SUMMA that does not fit the SRAM back to SUMMA. An op's own estimate
does not see what it costs the rest of the program: the 2.5D SUMMA's layers and their
reduction hold more routing channels, and the more channels a program holds, the more route
switches allocate-colors orders with barriers (~1,000 cycles each on 64x64 PEs). So the MLP
784-256-10 training step's weight gradient dW1 = x^T @ dh (784x64 @ 64x256 on 64x64 PEs)
took the 2.5D SUMMA, 11% cheaper on its own and 3.6% on the program's critical path, while
the step with SUMMA there is 2.2% cheaper once the barriers are counted, and 3.3% by the
simulator (18,853 cycles against 19,494).

This pass tries, for each matmul whose per-op choice was close (`close_calls`: the two
estimates fewer cycles apart than `BARRIERS_AT_STAKE` barriers cost; the others are clear),
the other algorithm, one op at a time in program order, and keeps it when the program's estimate (the cost model's
critical path plus the barriers lowering adds: `estimate_program`) drops by more than `GAIN`.
A 2.5D SUMMA taken on must fit the SRAM with the tensors live at its point of the program
(plan-memory's peak). Each program estimate lowers a copy to count its barriers (~0.7 s of
CPU for the MLP step), so at most `MAX_ESTIMATES`, and none without a close call; a copy that
runs out of routing colors (before choose-collectives has picked collectives that fit) leaves
the per-op choices as they are. An op whose algorithm changed says why in `pf.why` (pf.explain shows it):

    mesh.matmul %xt, %dh algorithm summa25d ...            (flame-to-mesh's per-op choice)
becomes
    mesh.matmul %xt, %dh algorithm summa {pf.why = "choose-matmuls: summa, not summa25d ..."}
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from pyflame.core.errors import ColorAllocationError
from pyflame.core.target import Target
from pyflame.dialects import mesh

#: per-op estimates of the two algorithms closer than this many barriers (allocate-colors'
#: route-switch barriers over the program's PEs): the program may rank them otherwise. A
#: larger gap (a GEMM on its own: 67,000 cycles on 32x32 PEs, barriers ~500) is clear, and
#: costs no lowered copy
BARRIERS_AT_STAKE = 4

#: a change is kept when it saves more than this fraction of the program's estimate
GAIN = 0.005

#: program estimates at most per program
MAX_ESTIMATES = 6

#: the algorithms this pass chooses between
CHOICES = (mesh.MatmulAlgorithm.SUMMA, mesh.MatmulAlgorithm.SUMMA25D)


@dataclass(frozen=True)
class Change:
    """A matmul whose algorithm the pass changed, and the program's estimates before and after."""

    op: mesh.MatmulOp
    was: mesh.MatmulAlgorithm
    now: mesh.MatmulAlgorithm
    before: int
    after: int


def _set(op: mesh.MatmulOp, algorithm: mesh.MatmulAlgorithm) -> None:
    op.properties["algorithm"] = mesh.MatmulAlgorithmAttr(algorithm)


def close_calls(fn: func.FuncOp, target: Target) -> list[mesh.MatmulOp]:
    """The matmuls whose per-op choice was close: the 2.5D SUMMA taken, or SUMMA kept though
    the 2.5D SUMMA's estimate is lower (`LAYERED_MARGIN`), by less than `BARRIERS_AT_STAKE`
    barriers' cycles."""
    # the cost model needs numpy; loading the passes does not (pyflame-opt's start-up)
    from pyflame.passes.cost_model import matmul as cost_model_matmul
    from pyflame.passes.cost_model.barriers import barrier_cycles, program_box
    from pyflame.passes.cost_model.registry import CostContext

    stake = BARRIERS_AT_STAKE * barrier_cycles(CostContext(target), *program_box(fn))
    out = []
    for op in fn.walk():
        if not isinstance(op, mesh.MatmulOp) or op.algorithm.data not in CHOICES:
            continue
        if cost_model_matmul.layered_plan_of(op, target) is None:
            continue
        ctx = CostContext(target, double_buffered={op})
        summa = cost_model_matmul.summa(op, ctx).cycles
        layered = cost_model_matmul.summa25d(op, ctx).cycles
        if layered < summa and summa - layered <= stake:
            out.append(op)
    return out


def program_estimate(module: ModuleOp) -> int | None:
    """The cost model's critical path of the module plus the barriers lowering adds; None
    when the copy lowered to count them runs out of routing colors (the collectives' per-op
    choices can: choose-collectives, next, picks ones that fit)."""
    from pyflame.passes.cost_model import estimate_program

    try:
        return estimate_program(module).cycles
    except ColorAllocationError:
        return None


def _fits(fn: func.FuncOp, target: Target) -> bool:
    from pyflame.passes.plan_memory import peak_bytes, peak_bytes_on_pes

    usable = target.usable_sram_bytes
    return peak_bytes(fn, mesh.dist_of)[0] <= usable or (
        peak_bytes_on_pes(fn, mesh.dist_of) <= usable
    )


def choose(module: ModuleOp) -> list[Change]:
    """Revise the matmuls' algorithms (see the module's doc); returns what changed."""
    from pyflame.passes.cost_model.barriers import main_function

    try:
        fn = main_function(module)
    except ValueError:  # no @main: nothing to choose
        return []
    target = Target.of_module(module)
    ops = close_calls(fn, target)
    if not ops:
        return []
    best = program_estimate(module)
    if best is None:
        return []  # nothing to compare against: the per-op choices stand
    estimates = 1
    changes: list[Change] = []
    for op in ops:
        if estimates >= MAX_ESTIMATES:
            break
        was = op.algorithm.data
        now = CHOICES[1 - CHOICES.index(was)]
        _set(op, now)
        if now == mesh.MatmulAlgorithm.SUMMA25D and not _fits(fn, target):
            _set(op, was)
            continue
        cycles = program_estimate(module)
        estimates += 1
        if cycles is not None and cycles < best * (1 - GAIN):
            changes.append(Change(op, was, now, best, cycles))
            _explain(op, changes[-1])
            best = cycles
        else:
            _set(op, was)
    return changes


def _explain(op: mesh.MatmulOp, change: Change) -> None:
    from pyflame.passes.cost_model.program import add_why

    add_why(
        op,
        "choose-matmuls",
        f"{change.now.value}, not {change.was.value} (its per-op choice): "
        f"{change.after:,} estimated cycles over the program against {change.before:,}",
    )


class ChooseMatmulsPass(ModulePass):
    """Choose each matmul's algorithm (SUMMA or 2.5D SUMMA) by the whole program's estimate."""

    name = "choose-matmuls"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        choose(op)
