"""A frontend program planned for the fast engine, for the tests of the run's rewrites
(fused products, sourced panels, chains, private accumulators)."""

from __future__ import annotations

from typing import Any

from pyflame import compiler, tracing
from pyflame.passes.pe_lowering.matmul import set_algorithm
from pyflame.sim.planner import compile_plan


def plan(outputs: list, algorithm: str | None = None) -> tuple[Any, list]:
    """(Executable, arguments) of the program computing `outputs`; with `algorithm`, every
    mesh.matmul forced to it (at least one must exist)."""
    tr = tracing.trace(outputs)
    module = tr.module()
    compiler.lower(module, "mesh")
    if algorithm is not None:
        assert set_algorithm(module, algorithm) >= 1
    compiler.lower(module, "pe")
    return compile_plan(module), tr.inputs()
