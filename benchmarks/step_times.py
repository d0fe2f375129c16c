"""Where a cached `pf.eval` spends its host time: every run step timed inside real runs.

    python benchmarks/step_times.py gemm                 # GEMM 1024^3 on 32x32 PEs
    python benchmarks/step_times.py gemv --threads 1     # GEMV 4096^2 on 64x64 PEs
    python benchmarks/step_times.py mlp --threads 1      # one MLP 784-256-10 training step
    python benchmarks/step_times.py mlp-forward --threads 1   # its forward, host parameters
    python benchmarks/step_times.py gemm --no-products   # the steps without the GEMMs' BLAS

Each step of `Executable.run` (the plan's steps after the lean run's rewrites: elided
receives, sourced panels, folded chains) is timed with `perf_counter` in `--runs` real runs of
the program, and the least time of each is kept (the machine is shared and noisy: the least is
the least disturbed). A step timed inside a run pays what the steps before it left in the
caches, as it does in the benchmark (`host_speed.py`), unlike a step repeated alone. The sum of
the least times is printed, then the `--top` costliest steps with their pe ops.

`--no-products` replaces the fused runs' one GEMM by nothing (the panels are still filled
and the results still written): what is left is the simulator's own work, a CPU-bound figure
that load disturbs less than the BLAS calls' (session 31 compared variants of the lean run
with it while a helper loaded the machine).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import host_speed  # (benchmarks/: the same programs)
import threadpoolctl

from pyflame.sim import executable, fused_products, threads

#: the programs of host_speed.py, each a step that runs it once
PROGRAMS: dict[str, Callable[[], Callable[[], object]]] = {
    "gemm": lambda: host_speed.gemm_program()[0],
    "gemv": lambda: host_speed.gemv_program()[0],
    "mlp": lambda: host_speed.mlp_program()[0],
    "mlp-forward": host_speed.mlp_forward_program,
}


def step_times(run: Callable[[], object], runs: int) -> dict[int, tuple[float, str]]:
    """{position in the run: (least seconds, its pe op)} over `runs` runs of `run`."""
    best: dict[int, tuple[float, str]] = {}
    plain = executable.Executable._run

    def timed(self, args, steps, sram, keep_tiles=(), lease=None):
        def wrap(j: int, k: int, step):
            what = str(self.step_ops[k][1]) if k < len(self.step_ops) else step.__name__

            def run_step(V, F, A, O):
                t = time.perf_counter()
                step(V, F, A, O)
                took = time.perf_counter() - t
                if j not in best or took < best[j][0]:
                    best[j] = (took, what)

            return run_step

        steps = [(k, wrap(j, k, step)) for j, (k, step) in enumerate(steps)]
        return plain(self, args, steps, sram, keep_tiles, lease)

    run()
    run()  # (compiled, SRAM pooled)
    executable.Executable._run = timed  # type: ignore[method-assign]  # (restored below)
    try:
        for _ in range(runs):
            run()
    finally:
        executable.Executable._run = plain  # type: ignore[method-assign]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("program", choices=sorted(PROGRAMS))
    parser.add_argument("--runs", type=int, default=12, help="real runs timed (default 12)")
    parser.add_argument("--top", type=int, default=12, help="steps listed (default 12)")
    parser.add_argument("--threads", type=int, default=threads.thread_count())
    parser.add_argument("--no-products", action="store_true", help="skip the fused GEMMs")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # (the GEMM's layout hint: the benchmark's own choice)
    threads.thread_count = lambda: args.threads  # type: ignore[assignment]  # (the pool's size)
    if args.no_products:
        fused_products.Panels.add_into = lambda self, a, V, batched: None  # type: ignore[method-assign]
    with threadpoolctl.threadpool_limits(args.threads):
        best = step_times(PROGRAMS[args.program](), args.runs)
    total = sum(t for t, _ in best.values())
    print(f"{args.program}: {len(best)} run steps, sum of least times {total * 1e3:.3f} ms")
    for j, (t, what) in sorted(best.items(), key=lambda kv: -kv[1][0])[: args.top]:
        print(f"{t * 1e6:9.1f} us  step {j:4d}  {what[:110]}")


if __name__ == "__main__":
    main()
