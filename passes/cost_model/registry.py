"""The cost model's table: one rule per (mesh op class, algorithm), and what a rule is given.

A rule estimates what one mesh op costs on the target, from the op's types (its layouts) and the
target's figures, without lowering or simulating it:

    @cost_rule(mesh.BinaryOp)
    def binary(op: mesh.BinaryOp, ctx: CostContext) -> Cost:
        ...
        return Cost(cycles, sram_bytes=ctx.tile_bytes(op.result))

An op with several algorithms (mesh.matmul's `algorithm` property; later ones for the
allreduce) has one rule per algorithm: `@cost_rule(mesh.MatmulOp, "cannon")`. A new algorithm
adds one function in the family's module (compute.py, collectives.py, matmul.py,
data_movement.py, windowed.py); `estimate` (passes/cost_model/program.py) finds it here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xdsl.dialects import func
from xdsl.ir import Operation, SSAValue

from pyflame.core import vector_costs
from pyflame.core.distribution import Distribution
from pyflame.core.target import Target
from pyflame.dialects import mesh
from pyflame.passes.layouts import elem_bytes_of
from pyflame.passes.plan_memory import tile_bytes

#: the algorithm a rule is registered under when its op has only one way to run
DEFAULT = ""


@dataclass(frozen=True)
class Cost:
    """What one mesh op costs: kernel `cycles` (from the op's start on its PEs until its last PE
    is done; what the simulator's `Report.cycles` counts), host I/O cycles (counted apart,
    `Report.io_cycles`), the SRAM bytes per PE of the buffers it adds (result and scratch), the
    algorithm it runs and a short account of where the cycles go."""

    cycles: int
    sram_bytes: int = 0
    io_cycles: int = 0
    algorithm: str = ""
    detail: str = ""
    #: virtual channels of its own the op's lowering opens (an exchange's network phases):
    #: each takes a color that allocate-colors may have to switch (barriers.py)
    channels: int = 0


Rule = Callable[[Any, "CostContext"], Cost]

#: (mesh op class, algorithm) -> rule
COST_RULES: dict[tuple[type[Operation], str], Rule] = {}


def cost_rule(op_class: type[Operation], algorithm: str = DEFAULT) -> Callable[[Rule], Rule]:
    """Register `rule` as the cost of `op_class` run with `algorithm`."""

    def register(rule: Rule) -> Rule:
        key = (op_class, algorithm)
        if COST_RULES.get(key, rule) is not rule:
            raise ValueError(f"two cost rules for {op_class.__name__} {algorithm!r}")
        COST_RULES[key] = rule
        return rule

    return register


def algorithm_of(op: Operation) -> str:
    """The algorithm an op names in its `algorithm` property (mesh.matmul's summa, ...), or
    DEFAULT for ops that have one way to run."""
    attr = op.properties.get("algorithm")
    if attr is None:
        return DEFAULT
    data = getattr(attr, "data", attr)
    return str(getattr(data, "value", data))


def rule_for(op: Operation) -> Rule | None:
    return COST_RULES.get((type(op), algorithm_of(op)))


@dataclass
class CostContext:
    """What rules may ask about the program around an op: the target, and facts the lowering
    decides from the whole function (which SUMMAs are double-buffered, which operands are read
    again later and so get copied before an op overwrites them)."""

    target: Target
    fn: func.FuncOp | None = None
    double_buffered: set[Operation] = field(default_factory=set)
    #: op -> its position in the function's body (for "read later")
    position: dict[Operation, int] = field(default_factory=dict)
    #: the ops fuse-elementwise will fuse -> their Cost (passes/cost_model/fused.py; typed Any:
    #: mypy sees this module under two names, and fused.py's Cost is the other one)
    fused: dict[Operation, Any] = field(default_factory=dict)

    @classmethod
    def of_function(cls, fn: func.FuncOp, target: Target) -> CostContext:
        from pyflame.passes.cost_model.fused import fused_costs
        from pyflame.passes.plan_memory import summa_double_buffered

        ops = list(fn.body.block.ops)
        return cls(
            target,
            fn,
            summa_double_buffered(fn, target.usable_sram_bytes),
            {op: i for i, op in enumerate(ops)},
            fused_costs(fn, target),
        )

    # ---------------------------------------------------------------- questions rules ask

    def read_later(self, value: SSAValue, op: Operation) -> bool:
        """Whether an op after `op` reads `value` (or a reshape of it, which shares its buffer):
        then an op that updates `value`'s buffer in place first copies it."""
        here = self.position.get(op)
        if here is None:
            return True  # an op outside a function: assume the worst
        seen: list[SSAValue] = [value]
        while seen:
            v = seen.pop()
            for use in v.uses:
                user = use.operation
                if isinstance(user, mesh.ReshapeOp):
                    seen.append(user.result)
                if user is not op and self.position.get(user, -1) > here:
                    return True
        return False

    def tile_bytes(self, value: SSAValue) -> int:
        """Bytes of `value`'s tile on one PE (aligned as plan-memory counts them)."""
        return tile_bytes(mesh.dist_of(value), self.elem_bytes(value))

    @staticmethod
    def elem_bytes(value: SSAValue) -> int:
        return elem_bytes_of(mesh.elem_of(value))

    def compute(self, kind: str, *sizes: Any, elem_bytes: int = 4, half: bool | None = None) -> int:
        """Cycles of compute work `kind` on one PE (the simulator's table, its element size and
        lane count; `half`: the fp16 lanes whatever the element size, fp16 FMACs into a float32
        accumulator)."""
        lanes_half = elem_bytes == 2 if half is None else half
        cycles, _ = vector_costs.op_cycles(
            self.target, kind, *sizes, elem_bytes=elem_bytes, half=lanes_half
        )
        return int(cycles)

    def compute_on(self, kind: str, value: SSAValue, *sizes: Any) -> int:
        """`compute` with `value`'s element size (a half float runs at the fp16 lane count)."""
        return self.compute(kind, *sizes, elem_bytes=self.elem_bytes(value))

    # ---------------------------------------------------------------- fabric figures

    @property
    def issue(self) -> int:
        """A send's or receive's issue (one vector instruction)."""
        return vector_costs.transfer_issue_cycles(self.target)

    @property
    def wake(self) -> int:
        """A receive's completion waking the code that consumes it."""
        return vector_costs.task_activation_cycles(self.target)

    def latency(self, hops: int) -> int:
        """Cycles from a stream's start to its head in a receiver `hops` hops away (up the
        sender's ramp, the hops, down the receiver's ramp)."""
        t = self.target
        return 2 * t.ramp_latency_cycles + hops * t.hop_latency_cycles

    def stream(self, wavelets: int) -> int:
        return int(vector_costs.stream_cycles(self.target, wavelets))

    @staticmethod
    def wavelets(elems: int, elem_bytes: int) -> int:
        """32-bit wavelets of `elems` elements (two f16/bf16 per wavelet)."""
        return -(-elems * elem_bytes // 4)


def grid_pes(dist: Distribution) -> int:
    return dist.grid[0] * dist.grid[1]
