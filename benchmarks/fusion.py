"""Elementwise fusion and buffer reuse (issue 11, deliverable 5): simulated cycles, SRAM peak
per PE and the number of pe ops of elementwise chains, GELU, layer norm, a softmax, the MLP
training step and the transformer block, with the pipeline as it is and without the
fuse-elementwise pass (`--no-fuse` only).

    python benchmarks/fusion.py                 # every case, with and without fusion
    python benchmarks/fusion.py --only chain20  # one case

Each case is traced to a flame module once and compiled with both pipelines; outputs of the two
are compared to fp32 rounding (fusion computes each step as the op it replaced did, bit for bit
step by step; `Executable.run` fuses SUMMA products, pyflame/sim/fused_products.py). Run with
PYTHONPATH pointing at an older checkout to get the "before" of allocate-sram (that checkout has
no fuse-elementwise: both rows then are its pipeline).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from xdsl.parser import Parser

import pyflame as pf
import pyflame.nn.functional as F
from pyflame import compiler
from pyflame.core.errors import SRAMOverflowError
from pyflame.passes import all_passes

HERE = Path(__file__).resolve().parent


def chain(n: int) -> Callable[[pf.Tensor], pf.Tensor]:
    """n elementwise ops with scalars (scale, shift, relu, shift, abs, ...)."""
    fns = [
        lambda t: t * 1.5,
        lambda t: t + 0.25,
        lambda t: t.relu(),
        lambda t: t - 0.5,
        lambda t: t.abs(),
    ]

    def f(x: pf.Tensor) -> pf.Tensor:
        for i in range(n):
            x = fns[i % len(fns)](x)
        return x

    return f


def gelu_tanh(x: pf.Tensor) -> pf.Tensor:
    """GELU's tanh form written out: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + (0.7978845608 * (x + 0.044715 * x * x * x)).tanh())


def layer_norm(x: pf.Tensor) -> pf.Tensor:
    """Without weight and bias (their [d] vectors get a layout of their own, not the point)."""
    return F.layer_norm(x, (x.shape[-1],))


def softmax(x: pf.Tensor) -> pf.Tensor:
    e = (x - x.amax(dim=-1, keepdim=True)).exp()
    return e / e.sum(dim=-1, keepdim=True)


def elementwise_case(name: str, fn, shape, grid) -> tuple[str, pf.Tensor]:
    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    x = pf.from_numpy(a, layout=pf.MeshLayout.grid(*grid))
    return name, fn(x)


def mlp_step() -> pf.Tensor:
    spec = importlib.util.spec_from_file_location("mlp_step_bench", HERE / "mlp_step.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.build_step()


def transformer_block() -> pf.Tensor:
    spec = importlib.util.spec_from_file_location("block_bench", HERE / "transformer_block.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    pf.manual_seed(0)
    block = module.Block(128, 4)
    x = np.random.default_rng(0).standard_normal((2, 64, 128)).astype(np.float32)
    with pf.no_grad():
        return block(pf.from_numpy(x))


CASES: dict[str, Callable[[], pf.Tensor]] = {
    "chain10": lambda: elementwise_case("", chain(10), (4096, 4096), (64, 64))[1],
    "chain20": lambda: elementwise_case("", chain(20), (4096, 4096), (64, 64))[1],
    "gelu_tanh": lambda: elementwise_case("", gelu_tanh, (2048, 2048), (32, 32))[1],
    "layer_norm": lambda: elementwise_case("", layer_norm, (2048, 2048), (32, 32))[1],
    "softmax": lambda: elementwise_case("", softmax, (2048, 2048), (32, 32))[1],
    "mlp_step": mlp_step,
    "transformer_block": transformer_block,
}

DESCRIPTIONS = {
    "chain10": "10-op chain, [4096, 4096] f32 on 64x64",
    "chain20": "20-op chain, [4096, 4096] f32 on 64x64",
    "gelu_tanh": "GELU (tanh form, 10 ops), [2048, 2048] on 32x32",
    "layer_norm": "layer norm (last dim), [2048, 2048] on 32x32",
    "softmax": "softmax (last dim), [2048, 2048] on 32x32",
    "mlp_step": "MLP 784-256-10 training step (benchmarks/mlp_step.py)",
    "transformer_block": "transformer block B=2 T=64 d=128 (benchmarks/transformer_block.py)",
}


def measure(text: str, spec: str) -> tuple[int, int, int, int, list[np.ndarray]]:
    """(cycles, SRAM peak bytes per PE, pe compute ops, pe.fused ops, outputs)."""
    module = Parser(compiler.make_context(), text).parse_module()
    compiler.run_pipeline(module, spec)
    ir = str(module)
    ops = len(re.findall(r"pe\.(?:unary|binary|select|convert|broadcast|fill|fused) ", ir))
    fused = len(re.findall(r"pe\.fused ", ir))
    outs, report = compiler.run_module(module, {}, seed=0)
    return report.cycles, report.sram_peak_max, ops, fused, list(outs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(CASES))
    args = parser.parse_args()
    full = compiler.pipeline()
    variants = [("fused", full)]
    if "fuse-elementwise" in all_passes():
        variants.append(("no-fuse", full.replace("fuse-elementwise,", "")))
    print("| case | pipeline | simulated cycles | SRAM peak per PE (bytes) | elementwise pe ops |")
    print("|---|---|---:|---:|---:|")
    for name in args.only:
        text = pf.ir(CASES[name](), stage="flame")
        results = {}
        for label, spec in variants:
            try:
                cycles, peak, ops, fused, outs = measure(text, spec)
            except SRAMOverflowError as err:
                need = f"needs {err.bytes_per_pe:,}" if err.bytes_per_pe else ""
                print(f"| {DESCRIPTIONS[name]} | {label} | SRAM overflow | {need} | |", flush=True)
                continue
            results[label] = outs
            print(
                f"| {DESCRIPTIONS[name]} | {label} | {cycles:,} | {peak:,} | {ops} ({fused} fused) |",
                flush=True,
            )
        if len(results) == 2:
            for a, b in zip(results["fused"], results["no-fuse"], strict=True):
                a, b = np.asarray(a), np.asarray(b)
                if a.dtype.kind == "f":  # `run` fuses SUMMA products: fp32 rounding
                    scale = np.abs(b).max(initial=1e-30)
                    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * scale)
                else:
                    np.testing.assert_array_equal(a, b)


if __name__ == "__main__":
    main()
