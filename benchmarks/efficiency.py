"""GEMM efficiency against the compute bound, by grid side: simulated cycles of `(n x n) @ (n x n)`
on `grid(g, g)` (WSE2), planned only (the cycles are the plan's; nothing runs), for each SUMMA
form and the shift-based algorithms side by side. bound = 2 * n^3 / (g^2 * flops_per_cycle); efficiency = bound / cycles.

    python benchmarks/efficiency.py --tile 32 --grids 32 64 128      # fixed tile per PE
    python benchmarks/efficiency.py --size 2048 --grids 64 128 256   # fixed matrix size
    python benchmarks/efficiency.py --size 2048 --grids 64 --json    # one JSON object per row

Algorithms: `default` (what flame-to-mesh chose by cost, named in the row's `chosen`),
`summa-db` (double-buffered SUMMA, as lowered where its second pair of receive buffers fits),
`summa` (single-buffered: the lowering's double-buffering choice turned off), `cannon` and
`meshgemm` (passes/pe_lowering/shift_matmul.py; their on-chip alignment is in the cycles),
`summa25d` (the 2.5D SUMMA, passes/pe_lowering/layered_matmul.py; its gather and reduction
are in the cycles): all but `default` force the mesh.matmul's algorithm at the mesh level. A
row whose tiles do not fit SRAM says so instead of a number.
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
from pyflame import compiler, tracing
from pyflame.core.errors import PyFlameError
from pyflame.dialects import mesh
from pyflame.passes import lower_mesh_to_pe
from pyflame.passes.pe_lowering.matmul import set_algorithm
from pyflame.sim.planner import compile_plan

ALGORITHMS = ("default", "summa-db", "summa", "cannon", "meshgemm", "summa25d")
#: the mesh.matmul algorithm each name forces (`set_algorithm`); "default" keeps the one
#: flame-to-mesh chose by cost
FORCED = {
    "summa-db": "summa",
    "summa": "summa",
    "cannon": "cannon",
    "meshgemm": "meshgemm",
    "summa25d": "summa25d",
}


@contextlib.contextmanager
def algorithm(name: str) -> Iterator[None]:
    """Lower SUMMA in the form `name` inside the block."""
    if name != "summa":
        yield
        return
    chooser = lower_mesh_to_pe.summa_double_buffered
    lower_mesh_to_pe.summa_double_buffered = lambda fn, usable: set()  # type: ignore[assignment]  # single-buffered everywhere
    try:
        yield
    finally:
        lower_mesh_to_pe.summa_double_buffered = chooser


def measure(n: int, g: int, name: str) -> dict:
    """Plan the GEMM and return its row (cycles, bound, efficiency, plan seconds)."""
    target = pf.sim.get_target()
    row: dict = {"n": n, "grid": g, "tile": -(-n // g), "algorithm": name}
    a = np.zeros((n, n), np.float32)
    layout = pf.MeshLayout.grid(g, g)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        with algorithm(name):
            tr = tracing.trace([pf.from_numpy(a, layout=layout) @ pf.from_numpy(a, layout=layout)])
            module = tr.module()
            compiler.lower(module, "mesh")
            row["chosen"] = ",".join(
                str(op.algorithm.data.value)
                for op in module.walk()
                if isinstance(op, mesh.MatmulOp)
            )
            if name in FORCED:
                set_algorithm(module, FORCED[name])
            compiler.lower(module, "pe")
            report = compile_plan(module).report
    except PyFlameError as err:
        row["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
        return row
    cycles = report.cycles
    if report.pes_used > g * g:  # plan-placement moved the tiles to a larger grid
        row["error"] = f"does not fit: the compiler placed it on {report.pes_used:,} PEs"
        return row
    bound = 2 * n**3 / (g * g * target.flops_per_cycle)
    row.update(
        cycles=cycles,
        bound=round(bound),
        efficiency=round(bound / cycles, 4),
        plan_seconds=round(time.perf_counter() - start, 2),
        plan_cpu_seconds=round(time.process_time() - cpu, 2),
    )
    return row


def main() -> None:
    # only planned, never run: the host-memory check (for the run's SRAM image and inputs)
    # would refuse the largest grids for memory this script never allocates
    os.environ.setdefault("PYFLAME_HOST_MEMORY", "off")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--tile", type=int, help="tile side per PE (n = grid * tile)")
    size.add_argument("--size", type=int, help="matrix side n (tiles of ceil(n / grid))")
    parser.add_argument("--grids", type=int, nargs="+", required=True, help="grid sides")
    parser.add_argument("--algorithms", nargs="+", choices=ALGORITHMS, default=list(ALGORITHMS))
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    args = parser.parse_args()
    for g in args.grids:
        n = g * args.tile if args.tile else args.size
        for name in args.algorithms:
            row = measure(n, g, name)
            if args.json:
                print(json.dumps(row), flush=True)
            elif "error" in row:
                print(f"{n}^2 on {g}x{g} {name}: {row['error']}", flush=True)
            else:
                print(
                    f"{n}^2 on {g}x{g} ({row['tile']}x{row['tile']} tiles) {name}"
                    f"{' (' + row['chosen'] + ')' if name == 'default' else ''}: "
                    f"{row['cycles']:,} cycles, bound {row['bound']:,}, efficiency "
                    f"{row['efficiency']:.3f} (lowered and planned in {row['plan_seconds']} s, "
                    f"{row['plan_cpu_seconds']} s CPU)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
