"""GEMV on the simulated wafer: simulated cycles of `A[n, n] @ x[n]` with A on `grid(g, g)` (the
user's layout, kept), planned only (the cycles are the plan's; nothing runs), against the bound
`compute + (rows + cols) * hop latency`, compute = (n/g)^2 FMACs at the target's FMAC lanes.

    python benchmarks/gemv.py --size 4096 --grids 64              # the issue 11 target
    python benchmarks/gemv.py --tile 64 --grids 16 32 64          # weak scaling (fixed tile)
    python benchmarks/gemv.py --size 4096 --grids 64 --algorithms gemv summa --json

Algorithms: `gemv` (the skinny-matmul lowering: local products, then an allreduce of the
partials; passes/flame_lowering/gemv.py) and `summa` (the skinny path turned off: SUMMA on
the compiler's square grid, the issue 11 baseline).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from collections.abc import Iterator

import numpy as np

import pyflame as pf
from pyflame import compiler, trace
from pyflame.core.errors import PyFlameError
from pyflame.passes.flame_lowering import gemv
from pyflame.sim.planner import compile_plan

ALGORITHMS = ("gemv", "summa")


@contextlib.contextmanager
def algorithm(name: str) -> Iterator[None]:
    """Lower matrix-vector products with `name` inside the block."""
    if name == "gemv":
        yield
        return
    skinny = gemv.SKINNY_MAX
    gemv.SKINNY_MAX = 0  # no matmul is skinny: SUMMA everywhere
    try:
        yield
    finally:
        gemv.SKINNY_MAX = skinny


def bound(n: int, g: int, dtype: str) -> int:
    target = pf.sim.get_target()
    flops = target.flops_per_cycle if dtype == "float32" else target.flops_per_cycle_fp16
    tile = -(-n // g)
    return -(-tile * tile // (flops // 2)) + (g + g) * target.hop_latency_cycles


def measure(n: int, g: int, name: str, dtype: str = "float32") -> dict:
    """Plan the GEMV and return its row (cycles, bound, efficiency, plan seconds)."""
    row: dict = {"n": n, "grid": g, "tile": -(-n // g), "dtype": dtype, "algorithm": name}
    a = np.zeros((n, n), dtype)
    x = np.zeros(n, dtype)
    layout = pf.MeshLayout.grid(g, g)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        with algorithm(name):
            tr = trace.trace([pf.from_numpy(a, layout=layout) @ pf.from_numpy(x)])
            module = tr.module()
            compiler.lower(module, "pe")
            report = compile_plan(module).report
    except PyFlameError as err:
        row["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
        return row
    b = bound(n, g, dtype)
    row.update(
        cycles=report.cycles,
        bound=b,
        efficiency=round(b / report.cycles, 4),
        pes_used=report.pes_used,
        plan_seconds=round(time.perf_counter() - start, 2),
        plan_cpu_seconds=round(time.process_time() - cpu, 2),
    )
    return row


def main() -> None:
    # only planned, never run: the host-memory check would refuse the largest grids
    os.environ.setdefault("PYFLAME_HOST_MEMORY", "off")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--tile", type=int, help="tile side per PE (n = grid * tile)")
    size.add_argument("--size", type=int, help="matrix side n (tiles of ceil(n / grid))")
    parser.add_argument("--grids", type=int, nargs="+", required=True, help="grid sides")
    parser.add_argument("--algorithms", nargs="+", choices=ALGORITHMS, default=["gemv"])
    parser.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    args = parser.parse_args()
    for g in args.grids:
        n = g * args.tile if args.tile else args.size
        for name in args.algorithms:
            row = measure(n, g, name, args.dtype)
            if args.json:
                print(json.dumps(row), flush=True)
            elif "error" in row:
                print(f"{n}^2 on {g}x{g} {name}: {row['error']}", flush=True)
            else:
                print(
                    f"{n}^2 {args.dtype} on {g}x{g} ({row['tile']}x{row['tile']} tiles) {name}: "
                    f"{row['cycles']:,} cycles, bound {row['bound']:,}, efficiency "
                    f"{row['efficiency']:.3f} (planned in {row['plan_seconds']} s)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
