"""Loops stay loops: the pe IR size, plan time and plan memory of a GEMM with 32x32 tiles per
PE, planned from its looped pe IR (what the compiler emits) and from the same program unrolled
(`unroll-pe-loops`, what every SUMMA step spelled out costs the planner).

    python benchmarks/loops.py 64 128          # one line per grid side and form

Plan time is the best of --repeat plans; plan memory is tracemalloc's peak while one more
`compile_plan` runs (numpy arrays included); cycles are checked equal between the forms.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

import pyflame as pf
from pyflame import compiler
from pyflame.dialects import pe
from pyflame.sim.planner import compile_plan


def gemm_pe(g: int, tile: int) -> ModuleOp:
    n = g * tile
    layout = pf.MeshLayout.grid(g, g)
    a = pf.from_numpy(np.ones((n, n), np.float32), layout=layout)
    z = a @ pf.from_numpy(np.ones((n, n), np.float32), layout=layout)
    return Parser(compiler.make_context(), pf.ir(z, stage="pe")).parse_module()


def unrolled(module: ModuleOp) -> ModuleOp:
    copy = module.clone()
    for fn in copy.walk():
        if isinstance(fn, func.FuncOp):
            pe.unroll_loops(fn.body.block)
    return copy


def measure(module: ModuleOp, memory: bool) -> tuple[float, float, int]:
    """(plan seconds, plan peak MB or 0, cycles)."""
    gc.collect()
    if memory:
        tracemalloc.start()
    start = time.perf_counter()
    exe = compile_plan(module)
    seconds = time.perf_counter() - start
    peak = 0.0
    if memory:
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    return seconds, peak, exe.report.cycles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grids", type=int, nargs="+", help="PE grid sides")
    parser.add_argument("--tile", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2, help="plan times: the best of N")
    args = parser.parse_args()
    for g in args.grids:
        looped = gemm_pe(g, args.tile)
        spelled = unrolled(looped)
        cycles = set()
        for form, module in (("looped", looped), ("unrolled", spelled)):
            ops = sum(1 for op in module.walk() if op.dialect_name() == "pe")
            seconds, _, cyc = min(measure(module, memory=False) for _ in range(args.repeat))
            _, peak, _ = measure(module, memory=True)
            cycles.add(cyc)
            print(
                f"grid {g}x{g}, {form:8s}: {ops:5d} pe ops, plan {seconds:.2f} s, plan peak "
                f"{peak:.0f} MB (tracemalloc), cycles {cyc:,}",
                flush=True,
            )
        assert len(cycles) == 1, cycles


if __name__ == "__main__":
    main()
