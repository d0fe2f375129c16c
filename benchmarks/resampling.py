"""Resizing and adaptive pooling (session 28): simulated cycles of `F.interpolate`'s
interpolating modes and `F.adaptive_*_pool2d` on an (N, C, H, W) input, their lookups read
by phases of slices (pyflame/nn/row_runs.py) and by `index_select` (`row_runs.MAX_PHASES`
= 0), next to the cheapest ops of the same sizes (a nearest 2x resize, which is a broadcast;
an average pooling). The two forms' results must agree bit for bit.

    python benchmarks/resampling.py                  # 1 x 8 x 32 x 32 on the small target
    python benchmarks/resampling.py --shape 1 16 64 64 --target wse2
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

import pyflame as pf
from pyflame.nn import row_runs

F = pf.nn.functional

CASES: dict[str, Callable[[pf.Tensor], pf.Tensor]] = {
    "interpolate bilinear 2x": lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"),
    "interpolate bicubic 2x": lambda x: F.interpolate(x, scale_factor=2, mode="bicubic"),
    "interpolate bilinear to 5/8": lambda x: F.interpolate(
        x, size=[n * 5 // 8 for n in x.shape[2:]], mode="bilinear"
    ),
    "interpolate nearest-exact 1.5x": lambda x: F.interpolate(
        x, scale_factor=1.5, mode="nearest-exact"
    ),
    "adaptive_avg_pool2d to 3/8": lambda x: F.adaptive_avg_pool2d(
        x, [n * 3 // 8 for n in x.shape[2:]]
    ),
    "adaptive_max_pool2d to 3/8": lambda x: F.adaptive_max_pool2d(
        x, [n * 3 // 8 for n in x.shape[2:]]
    ),
}
REFERENCES: dict[str, Callable[[pf.Tensor], pf.Tensor]] = {
    "interpolate nearest 2x (a broadcast)": lambda x: F.interpolate(x, scale_factor=2),
    "avg_pool2d 2 (one flame op)": lambda x: F.avg_pool2d(x, 2),
}


def cycles(build: Callable[[pf.Tensor], pf.Tensor], x: np.ndarray) -> tuple[int, np.ndarray]:
    pf.cache_clear()
    y = build(pf.from_numpy(x))
    out = y.numpy()
    return pf.last_report().cycles, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=4, default=[1, 8, 32, 32])
    parser.add_argument("--target", default="small", choices=["small", "wse2", "wse3"])
    args = parser.parse_args()
    target = {"small": pf.sim.SMALL, "wse2": pf.sim.WSE2, "wse3": pf.sim.WSE3}[args.target]
    x = np.random.default_rng(0).standard_normal(args.shape).astype(np.float32)
    print(f"input {args.shape} float32, target {args.target}\n")
    print("| op | index_select | slices (row_runs) | speedup |")
    print("|---|---:|---:|---:|")
    with pf.target(target):
        for name, build in CASES.items():
            phases = row_runs.MAX_PHASES
            row_runs.MAX_PHASES = 0
            try:
                rows, want = cycles(build, x)
            finally:
                row_runs.MAX_PHASES = phases
            sliced, got = cycles(build, x)
            np.testing.assert_array_equal(got, want)
            print(f"| {name} | {rows:,} | {sliced:,} | {rows / sliced:.1f}x |")
        for name, build in REFERENCES.items():
            print(f"| {name} | | {cycles(build, x)[0]:,} | |")


if __name__ == "__main__":
    main()
