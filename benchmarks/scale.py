"""GEMM at wafer scale: plan time, first-eval time and peak memory of one `pf.eval` of a GEMM
with fixed tiles per PE, for one grid side per process (peak RSS is per process).

    python benchmarks/scale.py 128            # (128*32)^2 @ (128*32)^2 on grid(128, 128), WSE2
    python benchmarks/scale.py 64 --tile 16
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import pyflame as pf
import pyflame.sim.planner as planner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", type=int, help="PE grid side")
    parser.add_argument("--tile", type=int, default=32, help="tile side per PE")
    args = parser.parse_args()
    g, n = args.grid, args.grid * args.tile
    a = np.ones((n, n), np.float32)
    b = np.ones((n, n), np.float32)
    layout = pf.MeshLayout.grid(g, g)
    z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)

    plan_seconds: list[float] = []
    compile_plan = planner.compile_plan

    def timed_plan(module):  # the compiler looks compile_plan up at each call
        start = time.perf_counter()
        try:
            return compile_plan(module)
        finally:
            plan_seconds.append(time.perf_counter() - start)

    planner.compile_plan = timed_plan
    start = time.perf_counter()
    pf.eval(z)
    first = time.perf_counter() - start
    report = pf.last_report()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux -> GB
    print(
        f"grid {g}x{g}, tiles {args.tile}x{args.tile}: plan {sum(plan_seconds):.2f} s, first "
        f"eval {first:.2f} s, cycles {report.cycles:,}, peak RSS {peak:.2f} GB"
    )


if __name__ == "__main__":
    main()
