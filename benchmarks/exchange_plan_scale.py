"""Planning one wafer-wide exchange: 4096^2 f32 from a 40x40 grid (the grid the SRAM error
suggests for the guide's `x @ y`) to G x G, split [r, c]: the phases (`exchange_phases`), their
route rectangles (`Phase.routes`) and the cost model's replay (`redistribute_cycles`).

    /usr/bin/time -v python benchmarks/exchange_plan_scale.py 512 routes cost
"""

import resource
import sys
import time

import pyflame as pf
from pyflame.core import exchange_plan
from pyflame.core.distribution import Distribution
from pyflame.passes.cost_model.data_movement import redistribute_cycles


def main() -> None:
    side = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    what = sys.argv[2:]
    src = Distribution((4096, 4096), (40, 40), ("r", "c"))
    dst = Distribution((4096, 4096), (side, side), ("r", "c"))
    t = time.process_time()
    plan = exchange_plan.exchange_phases(src, dst, None)
    messages = sum(len(p.messages) for p in plan.phases)
    print(
        f"phases {side}x{side}: {time.process_time() - t:.2f} CPU s, {len(plan.phases)} phases, {messages} messages"
    )
    if "routes" in what:
        t = time.process_time()
        n = sum(len(p.routes) for p in plan.phases)
        print(f"routes: {time.process_time() - t:.2f} CPU s, {n} route rectangles")
    if "cost" in what:
        t = time.process_time()
        cycles = redistribute_cycles(pf.sim.WSE2, src, dst, 4)
        print(f"cost model: {time.process_time() - t:.2f} CPU s, {cycles} cycles")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB")


if __name__ == "__main__":
    main()
