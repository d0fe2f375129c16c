"""The compiler's cost model: what each mesh op costs on the target (cycles, SRAM per PE),
estimated from its layouts and the target's figures without lowering or simulating it, so that
passes (layout assignment, algorithm choice) can compare options.

    from pyflame.passes.cost_model import estimate, program_cycles
    estimates = estimate(mesh_module)       # one OpEstimate per op of @main
    program_cycles(estimates)               # the ops' kernel cycles, summed
    estimate_barriers(mesh_module).cycles   # plus the barriers that order route switches
    estimate_program(mesh_module).cycles    # both (barriers=False: no lowering, faster)

A library, not a pass. One rule per (mesh op class, algorithm) in `COST_RULES`, by op family:
compute.py (per-tile work), collectives.py (allreduce), matmul.py (SUMMA), data_movement.py
(exchanges, host I/O), ring_rows.py (ring gathers), windowed.py (conv2d and pool2d halos); barriers.py the barriers of a whole program. A rule charges what the simulator
charges (the shared table pyflame/core/vector_costs.py for compute; the fabric's latencies,
issue and wake costs for transfers); tests/unit/test_cost_model.py holds it within 10% of the
simulated cycles on a corpus. docs/passes.md, "The cost model", says what each rule models and
what it leaves out.
"""

from pyflame.passes.cost_model import (  # noqa: F401  (each module registers its rules)
    collectives,
    compute,
    data_movement,
    matmul,
    ring_rows,
    windowed,
)
from pyflame.passes.cost_model.barriers import BarrierEstimate, estimate_barriers
from pyflame.passes.cost_model.critical_path import critical_path_cycles
from pyflame.passes.cost_model.program import (
    NoCostRule,
    OpEstimate,
    ProgramEstimate,
    estimate,
    estimate_op,
    estimate_program,
    program_cycles,
    program_io_cycles,
    summary_table,
)
from pyflame.passes.cost_model.registry import (
    COST_RULES,
    DEFAULT,
    Cost,
    CostContext,
    algorithm_of,
    cost_rule,
)

__all__ = [
    "COST_RULES",
    "BarrierEstimate",
    "estimate_barriers",
    "critical_path_cycles",
    "DEFAULT",
    "Cost",
    "CostContext",
    "NoCostRule",
    "OpEstimate",
    "ProgramEstimate",
    "algorithm_of",
    "cost_rule",
    "estimate",
    "estimate_op",
    "estimate_program",
    "program_cycles",
    "program_io_cycles",
    "summary_table",
]
