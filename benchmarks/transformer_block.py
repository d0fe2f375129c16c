"""A transformer block (causal self-attention + GELU MLP, pre-LayerNorm, residuals) on the
simulated wafer: simulated cycles against the compute bound, the layouts the compiler chose, and
numpy parity. Issue 11, deliverable 6.

    python benchmarks/transformer_block.py                       # B=2, T=64, d=128, 4 heads
    python benchmarks/transformer_block.py --seq 128 --dim 256 --heads 8 --json

The bound is the block's matmul flops (QKV, Q K^T, P V, the output projection, the two MLP
layers; elementwise work left out) over the PEs the program used times the target's flops per
cycle: the cycles a perfect compiler would need on that many PEs. `--json` prints one JSON row
(for benchmarks/run.py).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from collections import Counter

import numpy as np

import pyflame as pf
import pyflame.nn.functional as F
from pyflame import nn


class Block(nn.Module):
    """nanoGPT's block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln_2 = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, 4 * dim)
        self.out = nn.Linear(4 * dim, dim)

    def forward(self, x: pf.Tensor) -> pf.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.reshape(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.out(F.gelu(self.fc(self.ln_2(x))))


def reference(block: Block, x: np.ndarray) -> np.ndarray:
    """The same block in numpy (float64), from the module's own weights."""
    p = {name: t.numpy().astype(np.float64) for name, t in block.named_parameters()}
    b, t, c = x.shape
    h = block.heads

    def ln(z, name):
        mu = z.mean(-1, keepdims=True)
        var = ((z - mu) ** 2).mean(-1, keepdims=True)
        return (z - mu) / np.sqrt(var + 1e-5) * p[f"{name}.weight"] + p[f"{name}.bias"]

    def linear(z, name):
        return z @ p[f"{name}.weight"].T + p[f"{name}.bias"]

    x = x.astype(np.float64)
    q, k, v = np.split(linear(ln(x, "ln_1"), "qkv"), 3, axis=2)
    q, k, v = (z.reshape(b, t, h, c // h).transpose(0, 2, 1, 3) for z in (q, k, v))
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(c // h)
    scores = np.where(np.tril(np.ones((t, t), bool)), scores, -np.inf)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    y = (scores / scores.sum(-1, keepdims=True)) @ v
    x = x + linear(y.transpose(0, 2, 1, 3).reshape(b, t, c), "proj")
    hidden = linear(ln(x, "ln_2"), "fc")
    gelu = 0.5 * hidden * (1 + np.vectorize(math.erf)(hidden / np.sqrt(2)))
    return x + linear(gelu, "out")


def matmul_flops(b: int, t: int, c: int) -> int:
    """2 * multiply-adds of the block's matmuls (QKV, QK^T, PV, proj, fc, out)."""
    return 2 * (b * t * c * 3 * c + 2 * b * t * t * c + b * t * c * c + 2 * b * t * c * 4 * c)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="one JSON row on stdout")
    args = parser.parse_args()
    b, t, c = args.batch, args.seq, args.dim

    pf.manual_seed(0)
    block = Block(c, args.heads)
    x = np.random.default_rng(0).standard_normal((b, t, c)).astype(np.float32)
    target = pf.sim.get_target()
    pf.cache_clear()
    start = time.perf_counter()
    with pf.no_grad():
        y = block(pf.from_numpy(x))
        mesh_ir = pf.ir(y, stage="mesh")  # before the run: then y is a computed leaf
        out = y.numpy()
    first = time.perf_counter() - start
    report = pf.last_report()
    np.testing.assert_allclose(out, reference(block, x), rtol=2e-3, atol=2e-3)
    grids = Counter(re.findall(r"-> !mesh\.tensor<[^>]* on (\d+x\d+)", mesh_ir))
    redistributions = len(re.findall(r"mesh\.(?:redistribute|relayout) ", mesh_ir))

    flops = matmul_flops(b, t, c)
    pes = max(report.pes_used, 1)
    bound = flops / (pes * target.flops_per_cycle)
    row = {
        "problem": f"block B={b} T={t} d={c} heads={args.heads}",
        "target": target.name,
        "cycles": report.cycles,
        "pes_used": report.pes_used,
        "bound": round(bound),
        "efficiency": round(bound / report.cycles, 4),
        "redistributions": redistributions,
        "grids": dict(grids),
        "first_eval_s": round(first, 2),
    }
    if args.json:
        print(json.dumps(row))
        return
    print(
        f"transformer block B={b} T={t} d={c} heads={args.heads} on {target.name}\n"
        f"  simulated cycles     {report.cycles:,}\n"
        f"  PEs used             {report.pes_used:,}\n"
        f"  matmul bound         {bound:,.0f}  (matmul flops / (PEs used * "
        f"{target.flops_per_cycle}))\n"
        f"  efficiency           {bound / report.cycles:.3f}\n"
        f"  mesh.redistribute    {redistributions}\n"
        f"  grids (mesh values)  {', '.join(f'{g}: {n}' for g, n in grids.most_common())}\n"
        f"  first pf.eval        {first:.1f} s (compile + run)"
    )


if __name__ == "__main__":
    main()
