"""conv2d on the simulated wafer: simulated cycles against the compute bound, host time against
PyTorch, first-compile time. Results go to benchmarks/RESULTS.md.

    python benchmarks/conv2d.py                        # N=1, C=O=16, 64x64, 3x3, pad 1, 8x8 grid
    python benchmarks/conv2d.py --grid 16 --size 128 --channels 32
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import pyflame as pf


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
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--channels", type=int, default=16, help="input = output channels")
    parser.add_argument("--size", type=int, default=64, help="H = W")
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--grid", type=int, default=8, help="PE grid side")
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()

    n, c, s, k, g = args.batch, args.channels, args.size, args.kernel, args.grid
    target = pf.sim.get_target()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, s, s)).astype(np.float32)
    w = rng.standard_normal((c, c, k, k)).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32)
    layout = pf.MeshLayout.grid(g, g)

    def pyflame_conv() -> np.ndarray:
        y = pf.nn.functional.conv2d(
            pf.from_numpy(x, layout=layout), pf.from_numpy(w), pf.from_numpy(b), padding=k // 2
        )
        return y.numpy()

    pf.cache_clear()
    try:
        start = time.perf_counter()
        result = pyflame_conv()
    except pf.SRAMOverflowError as err:
        print(f"conv2d {n}x{c}x{s}x{s}, {c} {k}x{k} filters on a {g}x{g} grid: {err}")
        return
    first = time.perf_counter() - start
    report = pf.last_report()
    cached = timed(pyflame_conv, args.repeat)

    import torch

    torch.set_num_threads(1)  # one thread: fair under load (a 2-core VM), like the simulator
    tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
    ref = torch.nn.functional.conv2d(tx, tw, tb, padding=k // 2).numpy()
    np.testing.assert_allclose(result, ref, rtol=1e-4, atol=1e-3)
    torch_time = timed(lambda: torch.nn.functional.conv2d(tx, tw, tb, padding=k // 2), args.repeat)

    flops = 2 * n * c * s * s * c * k * k
    bound = flops / (g * g * target.flops_per_cycle)
    lines = [
        f"conv2d {n}x{c}x{s}x{s}, {c} {k}x{k} filters, pad {k // 2}, on a {g}x{g} grid, "
        f"target {target.name}",
        f"  simulated cycles      {report.cycles:,}",
        f"  compute lower bound   {bound:,.0f}  (2*N*O*H*W*C*kh*kw / (PEs * "
        f"{target.flops_per_cycle}))",
        f"  fraction of bound     {bound / report.cycles:.3f}",
        f"  halo traffic          {int(report.wavelets.sum()):,} link crossings, busiest link "
        f"{int(report.wavelets.max()):,} wavelets",
        f"  SRAM peak             {int(report.sram_peak_bytes.max()):,} bytes per PE",
        f"  first pf.eval         {first:.3f} s (compile ~{first - cached:.3f} s)",
        f"  cached pf.eval        {cached * 1e3:.2f} ms",
        f"  torch conv2d (1 thr.) {torch_time * 1e3:.3f} ms  -> pyflame/torch = "
        f"{cached / torch_time:.1f}x",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
