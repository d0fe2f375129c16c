"""GEMV on the simulated wafer: simulated cycles of `A[n, n] @ x[n]` with A on `grid(g, g)` (the
user's layout, kept), planned only (the cycles are the plan's; nothing runs), against a lower
bound: `compute + ceil((g - 1) / 2) * hop latency`, compute = (n/g)^2 FMACs at the target's FMAC
lanes, the hops those of a PE row's partial sums meeting at one PE (`bound`). Issue 11's GEMV
target is stated against `compute + (rows + cols) * hop latency` (`target_bound`, printed as the
target ratio): from about 100 PEs a side that exceeds the least latency, and a program beats it.

    python benchmarks/gemv.py --size 4096 --grids 64              # the issue 11 target
    python benchmarks/gemv.py --tile 64 --grids 16 32 64          # weak scaling (fixed tile)
    python benchmarks/gemv.py --size 4096 --grids 64 --algorithms gemv summa --json
    python benchmarks/gemv.py --size 4096 --grids 64 --form linear --batch 1 4 \
        --algorithms gemv gemv-unfolded             # nn.Linear on a decode step's rows

Forms: `matvec`, A[n, n] @ x[n]; `linear`, F.linear(x[B, 1, n], W[n, n]) = x @ W.T with W
on the grid as the user gave it (a decode step's projection, B rows; bound B times the
compute). Algorithms: `gemv` (the skinny-matmul lowering: local products, then an allreduce
of the partials; passes/flame_lowering/gemv.py), `gemv-unfolded` (the same with W.T
materialised by a local transpose of every block, FOLD_TRANSPOSED_MATRIX off) and `summa`
(the skinny path turned off: SUMMA on the compiler's square grid, the issue 11 baseline).
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
from pyflame.passes.flame_lowering import gemv
from pyflame.sim.planner import compile_plan

ALGORITHMS = ("gemv", "gemv-unfolded", "summa")
FORMS = ("matvec", "linear")


@contextlib.contextmanager
def algorithm(name: str) -> Iterator[None]:
    """Lower matrix-vector products with `name` inside the block."""
    if name == "gemv":
        yield
        return
    if name == "gemv-unfolded":
        gemv.FOLD_TRANSPOSED_MATRIX = False
        try:
            yield
        finally:
            gemv.FOLD_TRANSPOSED_MATRIX = True
        return
    skinny = gemv.SKINNY_MAX
    gemv.SKINNY_MAX = 0  # no matmul is skinny: SUMMA everywhere
    try:
        yield
    finally:
        gemv.SKINNY_MAX = skinny


def compute_bound(n: int, g: int, dtype: str, rows: int = 1) -> int:
    """Cycles of one PE's partial products: its (n/g)^2 tile (times `rows`) at its FMAC lanes."""
    target = pf.sim.get_target()
    flops = target.flops_per_cycle if dtype == "float32" else target.flops_per_cycle_fp16
    tile = -(-n // g)
    return -(-rows * tile * tile // (flops // 2))


def bound(n: int, g: int, dtype: str, rows: int = 1) -> int:
    """A lower bound on the GEMV's cycles: the partial products, then the partial sums of a PE
    row meeting at one PE, which the farthest is at least half the row away from."""
    hop = pf.sim.get_target().hop_latency_cycles
    return compute_bound(n, g, dtype, rows) + g // 2 * hop  # g // 2 = ceil((g - 1) / 2)


def target_bound(n: int, g: int, dtype: str, rows: int = 1) -> int:
    """Issue 11's GEMV target's reference: compute + (rows + cols) hops (not a lower bound from
    about 100 PEs a side)."""
    hop = pf.sim.get_target().hop_latency_cycles
    return compute_bound(n, g, dtype, rows) + (g + g) * hop


def measure(
    n: int, g: int, name: str, dtype: str = "float32", form: str = "matvec", batch: int = 1
) -> dict:
    """Plan the GEMV and return its row (cycles, bound, efficiency, plan seconds)."""
    row: dict = {"n": n, "grid": g, "tile": -(-n // g), "dtype": dtype, "algorithm": name}
    a = np.zeros((n, n), dtype)
    layout = pf.MeshLayout.grid(g, g)
    rows = 1 if form == "matvec" else batch
    if form == "linear":
        row.update(form=form, batch=batch)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        with algorithm(name):
            if form == "matvec":
                y = pf.from_numpy(a, layout=layout) @ pf.from_numpy(np.zeros(n, dtype))
            else:
                x = pf.from_numpy(np.zeros((batch, 1, n), dtype))
                y = pf.nn.functional.linear(x, pf.from_numpy(a, layout=layout))
            tr = tracing.trace([y])
            module = tr.module()
            compiler.lower(module, "pe")
            report = compile_plan(module).report
    except PyFlameError as err:
        row["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
        return row
    b, tb = bound(n, g, dtype, rows), target_bound(n, g, dtype, rows)
    row.update(
        cycles=report.cycles,
        bound=b,
        efficiency=round(b / report.cycles, 4),
        target_bound=tb,
        target_ratio=round(tb / report.cycles, 4),
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
    parser.add_argument("--form", choices=FORMS, default="matvec")
    parser.add_argument("--batch", type=int, nargs="+", default=[1], help="rows (form linear)")
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    args = parser.parse_args()
    for g in args.grids:
        n = g * args.tile if args.tile else args.size
        for batch in args.batch if args.form == "linear" else [1]:
            for name in args.algorithms:
                report(measure(n, g, name, args.dtype, args.form, batch), args)


def report(row: dict, args: argparse.Namespace) -> None:
    n, g, name = row["n"], row["grid"], row["algorithm"]
    what = f"{n}^2" if args.form == "matvec" else f"linear [{row['batch']}, 1, {n}] @ W.T, W {n}^2"
    if args.json:
        print(json.dumps(row), flush=True)
    elif "error" in row:
        print(f"{what} on {g}x{g} {name}: {row['error']}", flush=True)
    else:
        print(
            f"{what} {args.dtype} on {g}x{g} ({row['tile']}x{row['tile']} tiles) {name}: "
            f"{row['cycles']:,} cycles, bound {row['bound']:,}, efficiency "
            f"{row['efficiency']:.3f}; issue 11 target ratio {row['target_ratio']:.3f} "
            f"(of {row['target_bound']:,}) (planned in {row['plan_seconds']} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
