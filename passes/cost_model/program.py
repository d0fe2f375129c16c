"""Estimates of a whole mesh-level program: one per op, and the program's.

    estimates = estimate(module)          # [OpEstimate] in program order
    total = program_cycles(estimates)     # kernel cycles of the whole program
    print(summary_table(estimates))       # what pf.explain prints

The program's cycles are the sum of its ops' cycles along program order, plus the barriers
allocate-colors adds (barriers.py: counted on a lowered copy): every mesh op runs on its own grid,
starting (today) at PE (0, 0), so consecutive ops share PEs and rarely overlap. An op's estimate
is its slowest PE's, so the sum over-counts when consecutive ops' slowest PEs differ (mask_pad's
padded edge PEs, then a chain that starts elsewhere: up to 8% on the corpus).
When placement puts ops on disjoint PEs, the critical path (the longest chain of dependent ops
over the PEs they share) is the better figure; that refinement is left for then.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import Operation

from pyflame.core.errors import CompileError
from pyflame.core.target import Target
from pyflame.dialects import mesh
from pyflame.passes.cost_model.barriers import BarrierEstimate, main_function
from pyflame.passes.cost_model.registry import Cost, CostContext, algorithm_of, rule_for

#: the attribute a pass that chooses a mesh op's layouts or algorithm may leave on it to say
#: why (a string); the estimate and pf.explain show it
WHY_ATTR = "pf.why"


def add_why(op: Operation, pass_name: str, reason: str) -> None:
    """Set `op`'s `pf.why` to `pass_name: reason`, keeping other passes' reasons (joined by
    "; ") and replacing this pass's own from an earlier run."""
    why = f"{pass_name}: {reason}"
    old = op.attributes.get(WHY_ATTR)
    if isinstance(old, StringAttr) and old.data:
        kept = [r for r in old.data.split("; ") if not r.startswith(f"{pass_name}:")]
        why = "; ".join([*kept, why])
    op.attributes[WHY_ATTR] = StringAttr(why)


#: ops that do no work on the PEs and have no rule
FREE = (func.ReturnOp,)


@dataclass(frozen=True)
class OpEstimate:
    """The estimate of one op of @main, as pf.explain shows it."""

    op: Operation
    cost: Cost
    #: the layout of the op's result (a mesh tensor type's text), or "" for none
    layout: str = ""
    #: why the op's operands and result have their layouts (the op's `pf.why` attribute, which
    #: the pass that chose them may set)
    why: str = ""

    @property
    def cycles(self) -> int:
        return self.cost.cycles

    @property
    def algorithm(self) -> str:
        return self.cost.algorithm


class NoCostRule(CompileError):
    """A mesh op that has no rule in COST_RULES for its algorithm."""


def estimate_op(op: Operation, ctx: CostContext) -> Cost:
    fused = ctx.fused.get(op)  # a member of an elementwise group fuse-elementwise will make
    if fused is not None:
        return fused
    rule = rule_for(op)
    if rule is None:
        algorithm = algorithm_of(op)
        named = f" with algorithm '{algorithm}'" if algorithm else ""
        raise NoCostRule(
            f"no cost rule for {op.name}{named}: register one with @cost_rule in the family's "
            "module of passes/cost_model/"
        )
    return rule(op, ctx)


def estimate(module: ModuleOp) -> list[OpEstimate]:
    """Per op of a mesh-level module's @main, in program order, its estimate on the module's
    target (`pf.target`)."""
    return estimate_function(main_function(module), Target.of_module(module))


def estimate_function(fn: func.FuncOp, target: Target) -> list[OpEstimate]:
    """Per op of a mesh-level function, in program order, its estimate on `target`."""
    ctx = CostContext.of_function(fn, target)
    out = []
    for op in fn.body.block.ops:
        if isinstance(op, FREE):
            continue
        result = op.results[0].type if op.results else None
        layout = str(result) if isinstance(result, mesh.MeshTensorType) else ""
        why = op.attributes.get(WHY_ATTR)
        reason = why.data if isinstance(why, StringAttr) else ""
        out.append(OpEstimate(op, estimate_op(op, ctx), layout, reason))
    return out


def program_cycles(estimates: list[OpEstimate]) -> int:
    """Kernel cycles of the program: the sum along program order (see the module's doc)."""
    return sum(e.cycles for e in estimates)


@dataclass(frozen=True)
class ProgramEstimate:
    """A mesh-level program's estimate: its ops', the barriers lowering adds, and the total."""

    ops: list[OpEstimate]
    barriers: BarrierEstimate

    @property
    def cycles(self) -> int:
        return program_cycles(self.ops) + self.barriers.cycles

    @property
    def io_cycles(self) -> int:
        return program_io_cycles(self.ops)

    @property
    def sram_peak_bytes(self) -> int:
        """The largest SRAM per PE one op adds (plan-memory's rules give the program's peak)."""
        return max((e.cost.sram_bytes for e in self.ops), default=0)

    def table(self) -> str:
        return summary_table(self.ops, self.barriers)


def estimate_program(module: ModuleOp, barriers: bool = True) -> ProgramEstimate:
    """`estimate(module)` and, unless `barriers` is False (no lowering: fast enough to compare
    many candidate layouts), the barriers lowering the program adds."""
    from pyflame.passes.cost_model.barriers import estimate_barriers

    counted = estimate_barriers(module) if barriers else BarrierEstimate(0, 0, 0, 0)
    return ProgramEstimate(estimate(module), counted)


def program_io_cycles(estimates: list[OpEstimate]) -> int:
    return sum(e.cost.io_cycles for e in estimates)


def _bytes(n: int) -> str:
    if not n:
        return ""
    return f"{n:,} B" if n < 1024 else f"{n / 1024:.1f} KiB"


def summary_table(estimates: list[OpEstimate], barriers: BarrierEstimate | None = None) -> str:
    """One line per op: its name, algorithm, estimated cycles, the SRAM per PE of the buffers
    it adds, the result's layout, where the cycles go, and why the layout was chosen (when the
    pass that chose it says); then the barriers
    that order route switches (when given) and the total."""
    header = ("op", "algorithm", "cycles", "SRAM/PE", "layout", "detail")
    rows = [
        (
            e.op.name,
            e.algorithm,
            f"{e.cycles:,}",
            _bytes(e.cost.sram_bytes),
            e.layout.removeprefix("!mesh.tensor<").removesuffix(">"),
            e.cost.detail + (f"; why: {e.why}" if e.why else ""),
        )
        for e in estimates
    ]
    total = program_cycles(estimates)
    if barriers is not None and barriers.barriers:
        rows.append(
            (
                "barriers",
                "chain + multicast",
                f"{barriers.cycles:,}",
                "",
                f"{barriers.rows}x{barriers.cols} PEs",
                f"{barriers.barriers} x {barriers.cycles_each:,} (allocate-colors' route switches)",
            )
        )
        total += barriers.cycles
    io = program_io_cycles(estimates)
    rows.append(("total", "", f"{total:,}", "", "", f"+ {io:,} host I/O cycles (apart)"))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: tuple[str, ...]) -> str:
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
        cells += [r[2].rjust(widths[2]), r[3].rjust(widths[3]), r[4].ljust(widths[4]), r[5]]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])
