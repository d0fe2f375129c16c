"""Wafer scale on one machine: plan time, first-eval time, cached-eval time and peak memory of
one program on one grid side, in this process (run each side in a fresh process: peak RSS is
per process; `benchmarks/run.py` does).

    python benchmarks/scale.py 128                 # GEMM (128*32)^2 on grid(128, 128), WSE2
    python benchmarks/scale.py 720 --size 8192     # GEMM 8192^2 on grid(720, 720): ~12x12 tiles
    python benchmarks/scale.py 64 --tile 16
    python benchmarks/scale.py wafer               # the whole WSE-2 kernel region, 994x750 PEs:
                                                   # x * 2 + 1 and its full-grid sum
    python benchmarks/scale.py 256 --json          # one JSON object (benchmarks/run.py reads it)

Figures: `plan` (compile_plan: the schedule, the steps), `first eval` (the first `pf.eval`:
trace, lowering, plan and the run), `cached eval` (the same `pf.eval` again: a compile-cache
hit, the run alone plus host I/O), `peak RSS` after the plan and at the end (the process's
high-water mark, inputs and outputs included), the CPU seconds of each (all threads: on a
shared machine wall time mostly measures the other processes), and the SRAM the run materialised
(pyflame/sim/sram.py: the bytes buffers use) against the machine's rows x cols x 48 KiB.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

import pyflame as pf
import pyflame.sim.planner as planner
from pyflame.sim.executable import Executable


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux -> GB


def plan_only(program, name: str, pes: int, flops: int, as_json: bool) -> None:
    """Trace, lower and plan `program` without running it: plan time and memory, cycles, and
    the SRAM a run would hold."""
    from pyflame import compiler, tracing

    outs = program()
    tr = tracing.trace(list(outs))
    module = tr.module()
    compiler.lower(module, "pe")
    start, cpu = time.perf_counter(), time.process_time()
    exe = planner.compile_plan(module)
    row = {
        "program": name,
        "pes": pes,
        "ops": len(exe.order),
        "plan_seconds": round(time.perf_counter() - start, 2),
        "plan_cpu_seconds": round(time.process_time() - cpu, 2),
        "plan_peak_rss_gb": round(peak_rss_gb(), 2),
        "sram_gb": round(sum(b.nbytes for b in exe.sram_blocks) / 1e9, 3),
        "cycles": exe.report.cycles,
    }
    if flops:
        row["efficiency"] = round(flops / (pes * exe.target.flops_per_cycle) / exe.report.cycles, 4)
    print(json.dumps(row) if as_json else row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", help="PE grid side (a GEMM), or 'wafer' (the whole WSE-2)")
    parser.add_argument("--tile", type=int, default=32, help="GEMM tile side per PE")
    parser.add_argument("--size", type=int, help="GEMM matrix side (instead of --tile)")
    parser.add_argument("--wafer-tile", type=int, default=64, help="elements per PE (wafer)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-cached", action="store_true", help="skip the second (cached) pf.eval")
    parser.add_argument(
        "--plan-only", action="store_true", help="lower and plan, no run (plan figures only)"
    )
    args = parser.parse_args()

    plan_seconds: list[float] = []
    plan_cpu: list[float] = []
    plan_rss: list[float] = []
    planned: list[Executable] = []
    compile_plan = planner.compile_plan

    def timed_plan(module):  # the compiler looks compile_plan up at each call
        start, cpu = time.perf_counter(), time.process_time()
        try:
            exe = compile_plan(module)
            planned.append(exe)
            return exe
        finally:
            plan_seconds.append(time.perf_counter() - start)
            plan_cpu.append(time.process_time() - cpu)
            plan_rss.append(peak_rss_gb())

    planner.compile_plan = timed_plan
    rng = np.random.default_rng(0)
    if args.grid == "wafer":
        t = pf.sim.WSE2
        rows, cols, e = t.fabric_rows, t.fabric_cols, args.wafer_tile
        a = rng.standard_normal((rows, cols * e)).astype(np.float32)
        layout = pf.MeshLayout.grid(rows, cols)
        name = f"x * 2 + 1 and its sum, {rows}x{cols * e} f32 on {rows}x{cols} PEs (whole WSE-2)"

        def program():
            x = pf.from_numpy(a, layout=layout)
            y = x * 2 + 1
            return y, y.sum()

        def check(y, total):
            ref = a.astype(np.float64) * 2 + 1
            np.testing.assert_allclose(y, ref.astype(np.float32))
            np.testing.assert_allclose(total, ref.sum(), rtol=1e-4)

        grid_rows, grid_cols, flops = rows, cols, 0
    else:
        g = int(args.grid)
        n = args.size or g * args.tile
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        layout = pf.MeshLayout.grid(g, g)
        name = f"GEMM {n}^2 f32 on {g}x{g} PEs ({-(-n // g)}x{-(-n // g)} tiles)"

        def program():
            return (pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout),)

        def check(z):  # a few rows: the whole product in float64 would dominate the run
            rows_ = slice(0, n, max(1, n // 7))
            ref = a[rows_].astype(np.float64) @ b.astype(np.float64)
            np.testing.assert_allclose(z[rows_], ref, rtol=1e-3, atol=1e-2 * np.sqrt(n))

        grid_rows, grid_cols, flops = g, g, 2 * n**3

    def evaluate():
        outs = program()
        pf.eval(*outs)
        return [o.numpy() for o in outs]

    if args.plan_only:
        plan_only(program, name, grid_rows * grid_cols, flops, args.json)
        return

    start, cpu = time.perf_counter(), time.process_time()
    values = evaluate()
    first, first_cpu = time.perf_counter() - start, time.process_time() - cpu
    report = pf.last_report()
    check(*values)
    del values
    start, cpu = time.perf_counter(), time.process_time()
    if not args.no_cached:
        evaluate()
    cached, cached_cpu = time.perf_counter() - start, time.process_time() - cpu
    exe = planned[-1]
    sram = sum(block.nbytes for block in exe.sram_blocks)
    full = grid_rows * grid_cols * exe.target.sram_bytes
    row = {
        "program": name,
        "grid": args.grid,
        "pes": grid_rows * grid_cols,
        "ops": len(exe.order),  # ops planned: a loop's body once per iteration
        "plan_seconds": round(sum(plan_seconds), 2),
        "first_eval_seconds": round(first, 2),
        "cached_eval_seconds": round(cached, 2),
        # CPU seconds of this process (all its threads): on a loaded machine, the figure that
        # wall time hides
        "plan_cpu_seconds": round(sum(plan_cpu), 2),
        "first_eval_cpu_seconds": round(first_cpu, 2),
        "cached_eval_cpu_seconds": round(cached_cpu, 2),
        "plan_peak_rss_gb": round(plan_rss[0], 2),
        "peak_rss_gb": round(peak_rss_gb(), 2),
        "sram_gb": round(sram / 1e9, 3),
        "sram_fraction": round(sram / full, 4),
        "cycles": report.cycles,
    }
    if flops:
        bound = flops / (grid_rows * grid_cols * exe.target.flops_per_cycle)
        row["efficiency"] = round(bound / report.cycles, 4)
    if args.json:
        print(json.dumps(row))
        return
    print(
        f"{name}: {row['ops']} ops planned, plan {row['plan_seconds']} s ({row['plan_cpu_seconds']} "
        f"CPU), first eval {row['first_eval_seconds']} s ({row['first_eval_cpu_seconds']} CPU), "
        f"cached eval {row['cached_eval_seconds']} s ({row['cached_eval_cpu_seconds']} CPU), "
        f"{report.cycles:,} cycles; peak RSS {row['plan_peak_rss_gb']} GB after the plan, "
        f"{row['peak_rss_gb']} GB in all; SRAM held {row['sram_gb']} GB "
        f"({100 * row['sram_fraction']:.1f}% of {grid_rows}x{grid_cols} x 48 KiB)"
    )


if __name__ == "__main__":
    main()
