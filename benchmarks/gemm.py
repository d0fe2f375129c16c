"""GEMM on the simulated wafer: simulated cycles against the compute bound, host time against
numpy (and PyTorch when installed), first-compile time. Results go to benchmarks/RESULTS.md.

    python benchmarks/gemm.py                 # 1024x1024x1024 on a 32x32 grid, WSE2
    python benchmarks/gemm.py --size 512 --grid 16 --repeat 5
    python benchmarks/gemm.py --vector-issue-cycles 0   # the ideal machine: no issue overheads
    python benchmarks/gemm.py --algorithm summa   # SUMMA instead of flame-to-mesh's choice
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np

import pyflame as pf
from pyflame.dialects import mesh
from pyflame.passes.flame_lowering import matmul as flame_matmul


def timed(fn, repeat: int) -> float:
    """Median wall time of `fn()` over `repeat` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="M = N = K")
    parser.add_argument("--grid", type=int, default=32, help="PE grid side")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--vector-issue-cycles",
        type=int,
        default=None,
        help="override the target's fixed cost of one vector instruction",
    )
    parser.add_argument(
        "--algorithm",
        choices=[a.value for a in mesh.MatmulAlgorithm],
        help="the mesh.matmul algorithm (default: the one flame-to-mesh chooses by cost)",
    )
    args = parser.parse_args()
    if args.algorithm:
        forced = mesh.MatmulAlgorithm(args.algorithm)
        flame_matmul.cheapest_algorithm = lambda op, lw: forced  # type: ignore[assignment]  # a benchmark switch, not an API

    n, g = args.size, args.grid
    target = pf.sim.get_target()
    if args.vector_issue_cycles is not None:
        target = dataclasses.replace(target, vector_issue_cycles=args.vector_issue_cycles)
        pf.sim.set_target(target)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    layout = pf.MeshLayout.grid(g, g)

    def pyflame_gemm() -> np.ndarray:
        z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)
        pf.eval(z)
        return z.numpy()

    pf.cache_clear()
    start = time.perf_counter()
    result = pyflame_gemm()
    first = time.perf_counter() - start
    np.testing.assert_allclose(result, a @ b, rtol=1e-3, atol=1e-2)
    report = pf.last_report()

    cached = timed(pyflame_gemm, args.repeat)
    numpy_time = timed(lambda: a @ b, args.repeat)
    try:
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        torch_time: float | None = timed(lambda: ta @ tb, args.repeat)
    except ImportError:
        torch_time = None

    pes = g * g
    bound = 2 * n**3 / (pes * target.flops_per_cycle)
    efficiency = bound / report.cycles
    compile_time = first - cached
    lines = [
        f"GEMM {n}x{n}x{n} on a {g}x{g} grid, target {target.name}",
        f"  simulated cycles      {report.cycles:,}",
        f"  compute lower bound   {bound:,.0f}  (2*M*N*K / (PEs * {target.flops_per_cycle}))",
        f"  fraction of bound     {efficiency:.3f}",
        f"  simulated time        {report.seconds * 1e3:.3f} ms at {target.clock_hz / 1e6:.0f} MHz"
        f" (+ host I/O {report.io_cycles:,} cycles)",
        f"  first pf.eval         {first:.3f} s (compile ~{compile_time:.3f} s)",
        f"  cached pf.eval        {cached * 1e3:.1f} ms",
        f"  numpy a @ b           {numpy_time * 1e3:.1f} ms  -> pyflame/numpy = "
        f"{cached / numpy_time:.2f}x",
    ]
    if torch_time is not None:
        lines.append(
            f"  torch a @ b           {torch_time * 1e3:.1f} ms  -> pyflame/torch = "
            f"{cached / torch_time:.2f}x"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
