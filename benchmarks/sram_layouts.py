"""The MLP step's per-PE kernels on 64x64 PEs with two layouts of an SRAM block (issue 10,
deliverable 7: what a word-major layout would buy, measured before building it).

    python benchmarks/sram_layouts.py            # best of 7, one thread (OPENBLAS_NUM_THREADS=1)

PE-major, today's (pyflame/sim/sram.py): a block is (rows, cols, bytes), a buffer's tiles are
a strided (rows, cols, n) view, numpy's inner loops run over one PE's n lanes. Word-major: a
block (words, rows, cols), one lane of every PE's tile is one run of rows * cols words, the
inner loops run over all PEs. Same tiles, same arithmetic; the per-PE product is np.matmul on
PE-major tiles and a loop over k on word-major ones (another summation order).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

ROWS = COLS = 64
WORDS = 1376 // 4  # the MLP step's SRAM block: 1,376 bytes a PE in use


def best_us(step: Callable[[], object], repeat: int = 7, inner: int = 50) -> float:
    step()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(inner):
            step()
        best = min(best, (time.perf_counter() - start) / inner)
    return best * 1e6


def main() -> None:
    rng = np.random.default_rng(0)
    pm = rng.standard_normal((ROWS, COLS, WORDS)).astype(np.float32)  # PE-major
    wm = rng.standard_normal((WORDS, ROWS, COLS)).astype(np.float32)  # word-major
    scale = np.float32(-0.01)

    def product_pm() -> None:  # acc (1x4) += x (1x13) @ y (13x4), its own tiles on every PE
        x = pm[:, :, 256:269].reshape(ROWS, COLS, 1, 13)
        y = pm[:, :, 0:52].reshape(ROWS, COLS, 13, 4)
        pm[:, :, 300:304].reshape(ROWS, COLS, 1, 4)[...] += np.matmul(x, y)

    def product_wm() -> None:
        x, y = wm[256:269], wm[0:52].reshape(13, 4, ROWS, COLS)
        acc = x[0] * y[0]
        for k in range(1, 13):
            acc += x[k] * y[k]
        wm[300:304] += acc

    kernels = {
        "fused multiply-add, 52 lanes (SGD update)": (
            lambda: np.add(pm[:, :, 104:156], pm[:, :, 0:52] * scale, out=pm[:, :, 200:252]),
            lambda: np.add(wm[104:156], wm[0:52] * scale, out=wm[200:252]),
        ),
        "tile transpose 4x13": (
            lambda: (
                pm[:, :, 200:252]
                .reshape(ROWS, COLS, 13, 4)
                .__setitem__(Ellipsis, pm[:, :, 0:52].reshape(ROWS, COLS, 4, 13).swapaxes(2, 3))
            ),
            lambda: (
                wm[200:252]
                .reshape(13, 4, ROWS, COLS)
                .__setitem__(Ellipsis, wm[0:52].reshape(4, 13, ROWS, COLS).swapaxes(0, 1))
            ),
        ),
        "per-PE product 1x13 @ 13x4": (product_pm, product_wm),
        "sum of 10 lanes (softmax)": (
            lambda: np.sum(pm[:, :, 0:10], axis=2, out=pm[:, :, 20]),
            lambda: np.sum(wm[0:10], axis=0, out=wm[20]),
        ),
        "a PE row's 13-lane tiles received by every row": (
            lambda: np.copyto(pm[:, :, 100:113], pm[5:6, :, 0:13]),
            lambda: np.copyto(wm[100:113], wm[0:13, 5:6, :]),
        ),
    }
    print(f"{'kernel on 64x64 PEs':48s} {'PE-major':>10s} {'word-major':>11s}")
    for name, (pe_major, word_major) in kernels.items():
        a, b = best_us(pe_major), best_us(word_major)
        print(f"{name:48s} {a:8.1f} us {b:8.1f} us  {a / b:5.1f}x")


if __name__ == "__main__":
    main()
