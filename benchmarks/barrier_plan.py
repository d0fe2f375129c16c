"""Host cost of planning allocate-colors' barriers: N fabric-wide barriers on G x G PEs (the
ops allocate-colors inserts, nothing else), planned and run on WSE2. The guide's 4096^2 matmul
orders its exchange phases with ~500 of them on 256 x 256 PEs, each ~2 x 256 chain receives.

    python benchmarks/barrier_plan.py 128 5        # plan CPU per barrier, simulated cycles
    python benchmarks/barrier_plan.py 256 3 --profile
"""

from __future__ import annotations

import cProfile
import pstats
import resource
import sys

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

from pyflame.core.target import WSE2, TargetAttr
from pyflame.passes import allocate_colors
from pyflame.passes.allocate_sram import allocate as allocate_sram
from pyflame.sim import planner


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def barriers_module(side: int, count: int) -> ModuleOp:
    fn = func.FuncOp("main", ((), ()))
    end = func.ReturnOp()
    fn.body.block.add_op(end)
    colors = (WSE2.num_colors - 2, WSE2.num_colors - 1)
    word = allocate_colors._barrier_setup(fn.body.block, side, side, colors)
    for _ in range(count):
        for op in allocate_colors._barrier(word, side, side, colors):
            fn.body.block.insert_op_before(op, end)
    allocate_sram(fn, WSE2)
    module = ModuleOp([fn])
    module.attributes["pf.target"] = TargetAttr(WSE2)
    return module


def main(side: int, count: int, profile: bool) -> None:
    module = barriers_module(side, count)
    t = cpu()
    if profile:
        prof = cProfile.Profile()
        program = prof.runcall(planner.compile_plan, module)
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    else:
        program = planner.compile_plan(module)
    took = cpu() - t
    _, report = program.run([])
    print(
        f"{count} barriers on {side}x{side}: plan {took:.2f} CPU s ({took / count * 1000:.0f} ms "
        f"each); {report.cycles:,} cycles ({report.cycles // count:,} each)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), "--profile" in sys.argv)
