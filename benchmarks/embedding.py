"""An embedding lookup on the simulated wafer: reading the rows it needs (flame.gather_rows)
against the one-hot matrix product it replaced. Results go to benchmarks/RESULTS.md.

    python benchmarks/embedding.py                          # vocab 4096 x 128 f32, 64 tokens, 8x8
    python benchmarks/embedding.py --dim 256 --dtype float16
"""

from __future__ import annotations

import argparse

import numpy as np

import pyflame as pf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--grid", type=int, default=8, help="PE grid side of the table")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    args = parser.parse_args()

    v, d, n, g = args.vocab, args.dim, args.tokens, args.grid
    rng = np.random.default_rng(0)
    table = rng.standard_normal((v, d)).astype(args.dtype)
    idx = rng.integers(0, v, n).astype(np.int32)
    grad = rng.standard_normal((n, d)).astype(args.dtype)
    layout = pf.MeshLayout.grid(g, g)
    dtype = pf.float32 if args.dtype == "float32" else pf.float16

    def rows(w: pf.Tensor, one_hot: bool) -> pf.Tensor:
        i = pf.from_numpy(idx)
        if one_hot:  # what embedding did before: a one-hot [n, vocab] matrix times the table
            return pf.nn.functional.one_hot(i, v).astype(dtype) @ w
        return pf.nn.functional.embedding(i, w)

    print(
        f"embedding: vocab {v} x {d} {args.dtype} table on a {g}x{g} grid, {n} tokens, "
        f"target {pf.sim.get_target().name}"
    )
    for one_hot in (True, False):
        name = "one-hot matmul" if one_hot else "gather_rows   "
        out = rows(pf.from_numpy(table, layout=layout), one_hot).numpy()
        np.testing.assert_array_equal(out, table[idx])
        fwd = pf.last_report().cycles
        w = pf.from_numpy(table, layout=layout).requires_grad_()
        (rows(w, one_hot) * pf.from_numpy(grad)).sum().backward()
        w.grad.numpy()
        bwd = pf.last_report().cycles
        want = np.zeros((v, d), np.float64)
        np.add.at(want, idx, grad.astype(np.float64))
        np.testing.assert_allclose(w.grad.numpy(), want, rtol=1e-2, atol=1e-2)
        print(f"  {name}  lookup {fwd:>9,} cycles   weight gradient {bwd:>9,} cycles")


if __name__ == "__main__":
    main()
