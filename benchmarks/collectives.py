"""Reductions and allreduce on the simulated wafer: every collective algorithm side by side
(pyflame.core.collectives: chain, two_chains, tree, tree3, ktree), with simulated cycles, the
cost model's estimate of each (passes/cost_model: the whole program, `est` columns), the lower
bound, and the cost model's choice (and whether that choice was the fastest).

    python benchmarks/collectives.py                  # the issue-11 problems on 16x16 .. 64x64
    python benchmarks/collectives.py --grids 8 16     # other grid sides
    python benchmarks/collectives.py --only sum       # one problem family (sum, rows, vector)

Problems (grid g x g, one block per PE):
- `sum`:    a g x g array fully summed, read by the host: mesh.reduce over both axes;
            bound: local elements / flops + 2 (g - 1) hops.
- `rows`:   a g x g array, x - x.sum(1, keepdim=True): mesh.allreduce of one scalar per PE
            along every row; bound: 2 (g - 1) hops (there and back).
- `vector`: the same on a [B g, g] array, B = --vector values per PE; bound: B + 2 (g - 1) hops.
  Its program also runs three B-element local ops (the local reduce, the broadcast, the
  subtraction), so the table adds the collective alone ("collective": the simulated cycles less
  the cost model's cycles of the other ops, which are local and charged exactly) against the
  ramp bound of an allreduce: every PE takes in at least the others' partials once and the
  total once through its one input ramp, 2B (p - 1) / p wavelets, plus 2 (g - 1) hops.
Each variant is forced by rewriting the `algorithm` of every mesh.allreduce / mesh.reduce in the
mesh IR before it is lowered to pe and run.
"""

from __future__ import annotations

import argparse

import numpy as np

import pyflame as pf
from pyflame import compiler, runtime
from pyflame.core import collectives
from pyflame.dialects import mesh
from pyflame.passes.cost_model import estimate, program_cycles


def problems(g: int, vector: int) -> dict[str, tuple]:
    """name -> (build(x) -> output tensor, input array, grid)."""
    rng = np.random.default_rng(0)
    return {
        "sum": (lambda x: x.sum(), rng.random((g, g), dtype=np.float32), (g, g)),
        "rows": (
            lambda x: x - x.sum(1, keepdim=True),
            rng.random((g, g), dtype=np.float32),
            (g, g),
        ),
        "vector": (
            lambda x: x - x.sum(1, keepdim=True),
            rng.random((vector * g, g), dtype=np.float32),
            (g, g),
        ),
    }


def bound(name: str, g: int, vector: int, target) -> float:
    hops = 2 * (g - 1) * target.hop_latency_cycles
    if name == "sum":
        return 1 / target.flops_per_cycle + hops
    if name == "rows":
        return hops
    return vector + hops


def ramp_bound(name: str, g: int, vector: int, target) -> float:
    """The allreduce's own bound with one input ramp per PE (the `vector` problem only)."""
    if name != "vector":
        return 0.0
    return 2 * vector * (g - 1) / g + 2 * (g - 1) * target.hop_latency_cycles


def mesh_module(build, array: np.ndarray, grid: tuple[int, int]):
    x = pf.from_numpy(array, layout=pf.MeshLayout.grid(*grid))
    module = runtime._program_module((build(x),))
    return compiler.lower(module, "mesh")


def collective_ops(module) -> list:
    return [op for op in module.walk() if isinstance(op, mesh.AllReduceOp | mesh.ReduceOp)]


def run_forced(build, array, grid, algorithm: str | None) -> tuple[int, int, int, str, np.ndarray]:
    """Simulated and estimated cycles, the estimated cycles of the ops other than the
    collectives, the algorithm chosen and the output of the program with `algorithm` forced on
    every collective (None: the compiler's choice)."""
    module = mesh_module(build, array, grid)
    ops = collective_ops(module)
    chosen = ",".join(str(op.algorithm.data) for op in ops)
    if algorithm is not None:
        for op in ops:
            op.properties["algorithm"] = mesh.CollectiveAlgorithmAttr(
                collectives.CollectiveAlgorithm(algorithm)
            )
    ops = estimate(module)
    local = sum(e.cycles for e in ops if not isinstance(e.op, mesh.AllReduceOp | mesh.ReduceOp))
    outputs, report = compiler.run_module(module, {"x0": array})
    return report.cycles, program_cycles(ops), local, chosen, outputs[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--vector", type=int, default=256, help="B of the `vector` problem")
    parser.add_argument("--only", nargs="+", default=["sum", "rows", "vector"])
    args = parser.parse_args()
    target = pf.sim.get_target()
    names = [a.value for a in collectives.ALGORITHMS]
    print(
        "| problem | grid | B | "
        + " | ".join(names)
        + " | worst estimate error | bound | chosen | chosen fastest | efficiency (chosen)"
        + " | collective (chosen) | ramp bound | its efficiency |"
    )
    print("|---|---|---|" + "---|" * (len(names) + 8))
    for g in args.grids:
        for name, (build, array, grid) in problems(g, args.vector).items():
            if name not in args.only:
                continue
            expected = np.asarray(build(pf.from_numpy(array)).numpy())
            cycles, errors, local = {}, {}, {}
            for a in names:
                c, est, local[a], chosen, out = run_forced(build, array, grid, a)
                np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-3)
                cycles[a], errors[a] = c, (est - c) / c
            chosen = chosen.split(",")[0]
            b = bound(name, g, args.vector, target)
            fastest = min(cycles.values())
            B = 1 if name != "vector" else args.vector
            print(
                f"| {name} | {g}x{g} | {B} | "
                + " | ".join(f"{cycles[a]:,}" for a in names)
                + f" | {max(errors.values(), key=abs):+.1%}"
                + f" | {b:,.0f} | {chosen} | {'yes' if cycles[chosen] <= fastest * 1.05 else 'no'}"
                + f" ({cycles[chosen] / fastest:.2f}x) | {b / cycles[chosen]:.2f}"
                + (
                    f" | {cycles[chosen] - local[chosen]:,} | {ramp:,.0f}"
                    f" | {ramp / (cycles[chosen] - local[chosen]):.2f} |"
                    if (ramp := ramp_bound(name, g, args.vector, target))
                    else " | | | |"
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
