"""What each pe operation costs on a PE: the simulator's view of the one cost table,
pyflame/core/vector_costs.py (there, below both the simulator and the passes, so that the
compiler's cost model, passes/cost_model/, charges exactly what the simulator charges)."""

from pyflame.core.vector_costs import (
    F32,
    RANDOM_FLOPS_PER_ELEMENT,
    RANDOM_UNIFORM_FLOPS_PER_ELEMENT,
    WORK,
    CostKind,
    Instructions,
    host_io_cycles,
    instruction_cycles,
    lanes,
    op_cycles,
    path_capacity_wavelets,
    route_switch_cycles,
    stream_cycles,
    task_activation_cycles,
    transfer_issue_cycles,
    work,
)

__all__ = [
    "F32",
    "RANDOM_FLOPS_PER_ELEMENT",
    "RANDOM_UNIFORM_FLOPS_PER_ELEMENT",
    "WORK",
    "CostKind",
    "Instructions",
    "host_io_cycles",
    "instruction_cycles",
    "lanes",
    "op_cycles",
    "path_capacity_wavelets",
    "route_switch_cycles",
    "stream_cycles",
    "task_activation_cycles",
    "transfer_issue_cycles",
    "work",
]
