"""Transposed products (issue 11, deliverable 3): `a.T @ b`, `a @ b.T` and `a.T @ b.T` with both
operands laid out on a g x g grid, with flame-to-mesh's fold (SUMMA reads the stored operand in
place, mesh.matmul transpose_a / transpose_b) and without it (the transpose moved to SUMMA's
split by a mesh.redistribute first, as before): simulated cycles, the redistributions, and the
cost model's choice. Every result is checked against numpy.

    python benchmarks/transposed.py                    # 128^3 on 4x4, 8x8 and 16x16
    python benchmarks/transposed.py --size 512 --grids 16 32
"""

from __future__ import annotations

import argparse
import re

import numpy as np

import pyflame as pf
from pyflame.passes.flame_lowering import matmul as flame_matmul

FORMS = ("a.T @ b", "a @ b.T", "a.T @ b.T")


def measure(form: str, n: int, g: int, fold: bool) -> tuple[int, int, bool]:
    """(simulated cycles, redistributions, whether a flag was set) of `form` on n x n operands."""
    ta, tb = form.startswith("a.T"), form.endswith("b.T")
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    layout = pf.MeshLayout.grid(g, g)
    flame_matmul.FOLD_TRANSPOSES = fold
    try:
        pf.cache_clear()
        pa, pb = pf.from_numpy(a, layout=layout), pf.from_numpy(b, layout=layout)
        z = (pa.T if ta else pa) @ (pb.T if tb else pb)
        mesh_ir = pf.ir(z, stage="mesh")
        out = z.numpy()
    finally:
        flame_matmul.FOLD_TRANSPOSES = True
    want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    np.testing.assert_allclose(out, want, rtol=1e-3, atol=1e-3)
    moves = len(re.findall(r"mesh\.(?:redistribute|relayout) ", mesh_ir))
    return pf.last_report().cycles, moves, "transpose_" in mesh_ir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--grids", type=int, nargs="*", default=[4, 8, 16])
    args = parser.parse_args()
    n = args.size
    print(f"transposed products, {n}^3, both operands on the grid, {pf.sim.get_target().name}")
    print(
        "| form | grid | materialised (cycles, redistributions) | folded | fold chosen | speedup |"
    )
    print("|---|---|---:|---:|---|---:|")
    for g in args.grids:
        for form in FORMS:
            plain, plain_moves, _ = measure(form, n, g, fold=False)
            chosen, moves, folded = measure(form, n, g, fold=True)
            print(
                f"| `{form}` | {g}x{g} | {plain:,} ({plain_moves}) | {chosen:,} ({moves}) "
                f"| {'yes' if folded else 'no'} | {plain / chosen:.2f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
