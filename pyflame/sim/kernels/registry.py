"""The simulator's kernels, keyed by pe op class: `KERNELS[pe.Conv2dOp]` plans a pe.conv2d.

A kernel is a function `(schedule, item, op) -> None` that, at plan time, appends the op's
run-time steps to the schedule and charges its cycles (pyflame/sim/schedule.py). Each family
module of this package registers its kernels with `@kernel(OpClass)`:

    @kernel(pe.FillOp)
    def fill(s: Schedule, it: Item, op: pe.FillOp) -> None: ...

`pe.alloc` has no kernel: the planner reads it as a buffer before scheduling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from xdsl.ir import Operation

from pyflame.core.errors import CompileError
from pyflame.dialects import pe
from pyflame.sim.schedule import Item, Schedule

OpT = TypeVar("OpT", bound=pe.PEOp)
#: plans one op: appends its steps to the schedule and charges its cycles
Kernel = Callable[[Schedule, Item, Any], None]

#: pe op class -> its kernel (filled by the family modules of pyflame/sim/kernels/)
KERNELS: dict[type[Operation], Kernel] = {}


def kernel(
    op_class: type[OpT],
) -> Callable[[Callable[[Schedule, Item, OpT], None]], Callable[[Schedule, Item, OpT], None]]:
    """Register the decorated function as the kernel of `op_class` (once per class)."""

    def register(
        fn: Callable[[Schedule, Item, OpT], None],
    ) -> Callable[[Schedule, Item, OpT], None]:
        if op_class in KERNELS:
            raise ValueError(f"{op_class.name} has two kernels: {KERNELS[op_class]} and {fn}")
        KERNELS[op_class] = fn
        return fn

    return register


def kernel_for(it: Item) -> Kernel:
    """The kernel of an item's op, or a CompileError naming the op the simulator cannot run."""
    found = KERNELS.get(type(it.op))
    if found is None:
        raise CompileError(f"{it.what}: the simulator has no kernel for {it.op.name}")
    return found
