"""The guide's matmul at size N (tests/unit/test_end_to_end.py::
test_guide_4096_matmul_runs_on_the_suggested_grid): N^2 operands hinted on the grid the SRAM
error suggests for G0 x G0, on WSE2. Prints the host-memory estimate at the check, the CPU
seconds of compile / plan / run, the RSS (sampled every 20 ms) and checks the answer.

    python benchmarks/guide_matmul.py 4096 16      # the guide's program (40x40 hint)
    python benchmarks/guide_matmul.py 2048 16      # the same structure, 20x20 hint

PYFLAME_HOST_MEMORY is set to `off` (the estimate is printed, not enforced);
GUIDE_LIMIT_GB (default 7) stops the run when its RSS goes above it.
"""

from __future__ import annotations

import os
import re
import resource
import sys
import threading
import time

import numpy as np

os.environ.setdefault("PYFLAME_HOST_MEMORY", "off")

import pyflame as pf  # noqa: E402
from pyflame import compiler  # noqa: E402
from pyflame.sim import host_memory, planner  # noqa: E402

LIMIT = float(os.environ.get("GUIDE_LIMIT_GB", "7")) * 2**30


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.stop = False

    def run(self) -> None:
        while not self.stop:
            self.peak = max(self.peak, rss())
            if self.peak > LIMIT:
                print(f"RSS {self.peak / 2**30:.2f} GiB above GUIDE_LIMIT_GB: stopped", flush=True)
                os._exit(3)
            time.sleep(0.02)


def main(n: int, g0: int) -> None:
    seen: dict = {}
    estimate = host_memory.estimate

    def spy(*args, **kwargs):
        parts = estimate(*args, **kwargs)
        seen["parts"], seen["rss"] = parts, rss()
        detail = ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in parts.items())
        print(
            f"estimate at the check {sum(parts.values()) / 2**30:.2f} GiB ({detail}); "
            f"RSS then {seen['rss'] / 2**30:.2f} GiB",
            flush=True,
        )
        return parts

    host_memory.estimate = spy  # type: ignore[assignment]
    sampler = Sampler()
    sampler.start()
    with pf.target(pf.sim.WSE2):
        pf.manual_seed(3)
        try:
            hinted = pf.MeshLayout.grid(g0, g0)
            pf.eval(pf.randn([n, n], layout=hinted) @ pf.randn([n, n], layout=hinted))
            raise SystemExit(f"{n}^2 fits on {g0}x{g0}: no suggestion to follow")
        except pf.SRAMOverflowError as err:
            rows, cols = map(int, re.findall(r"\d+", err.suggestion))
        layout = pf.MeshLayout.grid(rows, cols)
        pf.manual_seed(3)
        x, y = pf.randn([n, n], layout=layout), pf.randn([n, n], layout=layout)
        z = x @ y
        # pf.eval's own compile (lower to pe, then plan) timed in its two parts
        times: dict[str, float] = {}
        lower, plan = compiler.lower, planner.compile_plan

        def timed(name, fn):
            def call(*args, **kwargs):
                t = cpu()
                out = fn(*args, **kwargs)
                times[name] = times.get(name, 0.0) + cpu() - t
                return out

            return call

        compiler.lower = timed("compile", lower)  # type: ignore[assignment]
        planner.compile_plan = timed("plan", plan)  # type: ignore[assignment]
        t = cpu()
        pf.eval(z)
        total = cpu() - t
        compiler.lower, planner.compile_plan = lower, plan  # type: ignore[assignment]
        sampler.stop = True
        peak = max(sampler.peak, rss())
        need = sum(seen["parts"].values())
        run_cpu = total - times["compile"] - times["plan"]
        print(
            f"{n}^2 on {rows}x{cols}: compile {times['compile']:.0f} s, plan {times['plan']:.0f} "
            f"s, run {run_cpu:.1f} s CPU; peak RSS {peak / 2**30:.2f} GiB (grew "
            f"{(peak - seen['rss']) / 2**30:.2f} after the check); estimate {need / 2**30:.2f} "
            f"GiB ({need / max(peak - seen['rss'], 1):.2f} of the growth); cycles "
            f"{pf.last_report().cycles}",
            flush=True,
        )
        expected = x.numpy().astype(np.float64) @ y.numpy().astype(np.float64)
    np.testing.assert_allclose(z.numpy(), expected, rtol=1e-3, atol=2e-3)
    print("answer checked against numpy")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
