"""The compiler's cost model against the simulator: estimated and simulated cycles per program.

    python benchmarks/cost_model.py              # the corpus, one line per program, worst case
    python benchmarks/cost_model.py --ops        # also every op's estimate

Each case is built with the frontend, lowered to the mesh level and estimated
(passes/cost_model), then lowered to pe and planned by the simulator (the plan's cycles: the
same as a run's). Most cases hold one op that does work between host I/O, so the program's
cycles are the op's; the others (the MLP step, the full-grid sum, conv2d with its bias) compare
whole programs, whose estimate is the sum of their ops'. tests/unit/test_cost_model.py runs the
corpus and holds every case within `TOLERANCE`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xdsl.dialects.builtin import ModuleOp  # noqa: E402
from xdsl.parser import Parser  # noqa: E402

import pyflame as pf  # noqa: E402
from pyflame import compiler, tracing  # noqa: E402
from pyflame.core.target import Target  # noqa: E402
from pyflame.passes.cost_model import (  # noqa: E402
    BarrierEstimate,
    OpEstimate,
    estimate,
    estimate_barriers,
    program_cycles,
)
from pyflame.passes.flame_lowering.windowed import forced_conv_form  # noqa: E402
from pyflame.sim.planner import compile_plan  # noqa: E402

#: issue 11's bar: estimates within 10% of the simulated cycles
TOLERANCE = 0.10

WSE2, SMALL = pf.sim.WSE2, pf.sim.SMALL


@dataclass
class Case:
    name: str
    #: the program's outputs built with the frontend, or its mesh-level module
    build: Callable[[], list[Any] | ModuleOp]
    target: Target = WSE2
    #: big programs (the 1024^3 GEMM): left out of the quick corpus
    slow: bool = False
    #: conv2d forced channel-split (True) or spatial (False); None: the compiler's choice
    conv_channel_split: bool | None = None


@dataclass
class Outcome:
    name: str
    estimated: int
    simulated: int
    ops: list[OpEstimate]
    barriers: BarrierEstimate

    @property
    def error(self) -> float:
        return (self.estimated - self.simulated) / max(self.simulated, 1)


def _arr(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _on(shape: tuple[int, ...], grid: tuple[int, int], dtype: Any = None) -> Any:
    x = pf.from_numpy(_arr(*shape), layout=pf.MeshLayout.grid(*grid))
    return x if dtype is None else x.to(dtype)


def corpus(quick: bool = False) -> Iterator[Case]:
    """Single-op programs for every family at several grids and shapes, then whole programs."""
    grids = ((1, 1), (2, 2), (3, 3), (4, 4), (2, 4), (8, 8))
    for g in grids:
        for shape in ((40, 40), (37, 53)):
            yield Case(
                f"exp {shape} on {g}",
                lambda s=shape, g=g: [pf.from_numpy(_arr(*s), layout=pf.MeshLayout.grid(*g)).exp()],
            )
            yield Case(
                f"mul {shape} on {g}",
                lambda s=shape, g=g: [
                    pf.from_numpy(_arr(*s), layout=pf.MeshLayout.grid(*g))
                    * pf.from_numpy(_arr(*s, seed=1), layout=pf.MeshLayout.grid(*g))
                ],
            )
    for g in grids:
        for shape in ((64, 64), (30, 70)):
            for dim in (0, 1):
                yield Case(
                    f"sum dim {dim} of {shape} on {g}",
                    lambda s=shape, g=g, d=dim: [
                        pf.from_numpy(_arr(*s), layout=pf.MeshLayout.grid(*g)).sum(dim=d)
                    ],
                )
        yield Case(
            f"max dim 1 of (48, 48) on {g}",
            lambda g=g: [pf.from_numpy(_arr(48, 48), layout=pf.MeshLayout.grid(*g)).max(dim=1)[0]],
        )
    for g, t in ((2, 4), (2, 10), (4, 10), (4, 32), (8, 16), (3, 12), (2, 48), (4, 48)):
        n = g * t
        yield Case(
            f"matmul {n}^3 on {g}x{g}",
            lambda n=n, g=g: [
                pf.from_numpy(_arr(n, n), layout=pf.MeshLayout.grid(g, g))
                @ pf.from_numpy(_arr(n, n, seed=1), layout=pf.MeshLayout.grid(g, g))
            ],
        )
    for g, form in ((2, "a.T @ b"), (3, "a @ b.T"), (4, "a.T @ b.T"), (8, "a.T @ b")):
        # transposed operands read in place (mesh.matmul transpose_a / transpose_b)
        m, k, n = 8 * g + 3, 8 * g - 1, 8 * g + 1
        yield Case(
            f"matmul {form} {m}x{k}x{n} on {g}x{g}",
            lambda g=g, form=form, m=m, k=k, n=n: [_transposed_product(form, m, k, n, g)],
        )
    yield Case(
        "matmul 37x53 @ 53x29 on 3x3",
        lambda: [
            pf.from_numpy(_arr(37, 53), layout=pf.MeshLayout.grid(3, 3))
            @ pf.from_numpy(_arr(53, 29, seed=1), layout=pf.MeshLayout.grid(3, 3))
        ],
    )
    for g, (m, k) in (
        ((1, 1), (40, 30)),
        ((2, 2), (64, 64)),
        ((3, 3), (37, 53)),
        ((4, 4), (256, 256)),
    ):
        yield Case(
            f"gemv {m}x{k} on {g}",
            lambda m=m, k=k, g=g: [
                pf.from_numpy(_arr(m, k), layout=pf.MeshLayout.grid(*g))
                @ pf.from_numpy(_arr(k, seed=1))
            ],
        )
    for op, inputs, result in _data_movement_ops():
        yield Case(
            op.split(" %")[0] + ": " + result,
            lambda o=op, i=inputs, r=result: _mesh_program(o, i, r),
        )
    yield Case(
        "conv2d 1x2x8x8 * 3x2x3x3 (small)",
        lambda: [
            pf.nn.functional.conv2d(
                pf.from_numpy(_arr(1, 2, 8, 8)), pf.from_numpy(_arr(3, 2, 3, 3)), padding=1
            )
        ],
        SMALL,
    )
    for g in ((1, 1), (2, 2), (3, 3)):
        lay = pf.MeshLayout.grid(*g)
        for dtype in (pf.float16, pf.bfloat16):
            yield Case(
                f"{dtype} tanh, add, matmul (45, 45) on {g}",
                lambda lay=lay, dt=dtype: [
                    (pf.from_numpy(_arr(45, 45), layout=lay).to(dt).tanh() + 1)
                    @ pf.from_numpy(_arr(45, 45, seed=1), layout=lay).to(dt)
                ],
            )
        yield Case(
            f"creation: zeros, full, arange, randn, rand on {g}",
            lambda lay=lay: [
                pf.zeros(33, 20, layout=lay),
                pf.full((33, 20), 2.0, layout=lay),
                pf.arange(0, 99, layout=lay),
                pf.randn(33, 20, layout=lay),
                pf.rand(33, 20, layout=lay),
            ],
        )
        yield Case(
            f"where, compare, row broadcast (33, 20) on {g}",
            lambda lay=lay: [
                pf.where(
                    pf.from_numpy(_arr(33, 20), layout=lay) > 0,
                    pf.from_numpy(_arr(33, 20, seed=1), layout=lay),
                    pf.from_numpy(_arr(33, 20, seed=2), layout=lay)
                    + pf.from_numpy(_arr(20, seed=3), layout=lay),
                )
            ],
        )
    yield Case("embedding 64x32 table, 20 ids, and its gradient", _embedding, SMALL)
    for g in ((2, 2), (4, 4)):
        yield Case(
            f"conv2d 2x8x16x16 * 8x8x3x3 + bias, max_pool2d on {g} (small)",
            lambda g=g: _conv_pool(g),
            SMALL,
        )
    for g, (n, c, o, h, w), kw in (
        ((3, 4), (2, 6, 7, 13, 11), {"padding": 1}),
        ((4, 2), (1, 5, 3, 12, 9), {"stride": 2, "padding": 2, "dilation": 2}),
        ((4, 4), (2, 16, 16, 16, 16), {"padding": 1}),
    ):
        yield Case(
            f"conv2d channel-split {n}x{c}x{h}x{w} * {o}x{c}x3x3 {kw} on {g} (small)",
            lambda g=g, n=n, c=c, o=o, h=h, w=w, kw=kw: [
                pf.nn.functional.conv2d(
                    _on((n, c, h, w), g),
                    pf.from_numpy(_arr(o, c, 3, 3, seed=1)),
                    pf.from_numpy(_arr(o, seed=2)),
                    **kw,
                )
            ],
            SMALL,
            conv_channel_split=True,
        )
    for g, (n, c, o, h, w), kw in (
        ((3, 4), (2, 6, 7, 13, 11), {"padding": 1}),
        ((4, 2), (1, 5, 3, 12, 9), {"stride": 2, "padding": 2, "dilation": 2}),
        ((4, 4), (2, 16, 16, 16, 16), {"padding": 1}),
    ):
        for channel_split in (False, True):
            yield Case(
                f"conv2d weight gradient {n}x{c}x{h}x{w}, {o}x{c}x3x3 {kw} on {g}, "
                f"{'channel-split' if channel_split else 'spatial'} (small)",
                lambda g=g, n=n, c=c, o=o, h=h, w=w, kw=kw: _weight_grad((n, c, h, w), o, g, kw),
                SMALL,
                conv_channel_split=channel_split,
            )
    for channel_split in (False, True):
        # half floats: the FMACs at the fp16 lane count, the halo and window packs at 2 bytes
        # (the simulator charged packs and convolutions as f32 before session 22)
        yield Case(
            f"pf.float16 conv2d 2x6x13x11 * 7x6x3x3 pad 1, avg_pool2d on (3, 4), "
            f"{'channel-split' if channel_split else 'spatial'} (small)",
            lambda: [
                pf.nn.functional.avg_pool2d(
                    pf.nn.functional.conv2d(
                        _on((2, 6, 13, 11), (3, 4), pf.float16),
                        pf.from_numpy(_arr(7, 6, 3, 3, seed=1)).to(pf.float16),
                        padding=1,
                    ),
                    2,
                )
            ],
            SMALL,
            conv_channel_split=channel_split,
        )
    yield Case("full-grid sum 256x256 on 16x16", lambda: [_on((256, 256), (16, 16)).sum()])
    yield Case("mlp step 8x16-8-4", _mlp_step_small, SMALL)
    for g in ((4, 4), (8, 8)):
        yield Case(f"allreduce_group of 3 row sums on {g}", lambda g=g: _allreduce_group(g))
    if quick:
        return
    yield Case("full-grid sum 1024x1024 on 64x64", lambda: [_on((1024, 1024), (64, 64)).sum()])
    yield Case(
        "gemm 1024^3 on 32x32",
        lambda: [_on((1024, 1024), (32, 32)) @ _on((1024, 1024), (32, 32))],
        slow=True,
    )
    yield Case(
        "conv2d 1x16x64x64 * 16x16x3x3 + bias on 8x8 (benchmarks/conv2d.py)",
        lambda: [
            pf.nn.functional.conv2d(
                _on((1, 16, 64, 64), (8, 8)),
                pf.from_numpy(_arr(16, 16, 3, 3, seed=1)),
                pf.from_numpy(_arr(16, seed=2)),
                padding=1,
            )
        ],
        slow=True,
    )
    yield Case(
        "conv2d 8x64x56x56 * 64x64x3x3 + bias, input on 64x64 (the issue's, channel-split)",
        lambda: [
            pf.nn.functional.conv2d(
                _on((8, 64, 56, 56), (64, 64)),
                pf.from_numpy(_arr(64, 64, 3, 3, seed=1)),
                pf.from_numpy(_arr(64, seed=2)),
                padding=1,
            )
        ],
        slow=True,
    )
    yield Case("mlp 784-256-10 training step (batch 64)", _mlp_step, slow=True)
    yield Case(
        "transformer block B=2 T=64 d=128 4 heads (benchmarks/transformer_block.py)",
        _transformer_block,
        slow=True,
    )


def _transposed_product(form: str, m: int, k: int, n: int, g: int) -> Any:
    """`form` ("a.T @ b", "a @ b.T", "a.T @ b.T") of an m x k by k x n product on a g x g grid."""
    ta, tb = form.startswith("a.T"), form.endswith("b.T")
    layout = pf.MeshLayout.grid(g, g)
    a = pf.from_numpy(_arr(*((k, m) if ta else (m, k))), layout=layout)
    b = pf.from_numpy(_arr(*((n, k) if tb else (k, n)), seed=1), layout=layout)
    return (a.T if ta else a) @ (b.T if tb else b)


def _t(shape: str, grid: str, split: str, elem: str = "f32") -> str:
    return f"!mesh.tensor<{shape}x{elem} on {grid} split [{split}]>"


def _data_movement_ops() -> Iterator[tuple[str, list[str], str]]:
    """(op with operands %a, %b; their types; the result's type) of the exchange-based ops."""
    for src, dst in (
        (("48x40", "1x1", "_, _"), ("48x40", "4x4", "r, c")),
        (("48x40", "4x4", "r, c"), ("48x40", "1x1", "_, _")),
        (("48x40", "2x2", "r, c"), ("48x40", "4x4", "r, c")),
        (("48x40", "4x4", "r, c"), ("48x40", "2x4", "r, c")),
        (("48x40", "4x4", "r, c"), ("48x40", "4x4", "c, r")),
        (("64x64", "8x8", "r, c"), ("64x64", "8x8", "c, r")),
        (("37x53", "3x3", "r, c"), ("37x53", "2x2", "r, c")),
        (("48x40", "4x4", "r, c"), ("48x40", "4x4", "r, _")),
        (("48x40", "1x4", "_, c"), ("48x40", "4x4", "r, c")),
    ):
        yield "mesh.redistribute %a", [_t(*src)], _t(*dst)
    for g in ("2x2", "4x4", "3x3"):
        a = _t("48x40", g, "r, c")
        yield "mesh.slice %a start [5, 3] stop [40, 40] step [2, 1]", [a], _t("18x37", g, "r, c")
        yield "mesh.pad %a low [2, 2] high [2, 2] value 0.0", [a], _t("52x44", g, "r, c")
        yield (
            "mesh.concat %a, %b dim 0",
            [a, _t("16x40", g, "r, c")],
            _t("64x40", g, "r, c"),
        )
        yield "mesh.relayout %a", [a], _t("1920", g, "rc")
        yield "mesh.transpose %a perm [1, 0]", [a], _t("40x48", g, "c, r")
    # the ring gathers and scatter-adds: each index chunk goes once around its line of PEs
    for g, table, axes, partials in (
        ("4x2", "r, _", "rc", ("2", "c, r, _")),
        ("4x2", "r, c", "r", ("1", "_, r, c")),
        ("8x4", "r, _", "rc", ("4", "c, r, _")),
        ("1x4", "_, _", "rc", ("4", "rc, _, _")),
    ):
        cols = table.split(", ")[1]
        index, rows = _t("301", g, axes, "i32"), _t("301x8", g, f"{axes}, {cols}")
        yield "mesh.ring_gather_rows %a, %b", [_t("300x8", g, table), index], rows
        copies = _t(f"{partials[0]}x300x8", g, partials[1])
        yield "mesh.ring_scatter_add_rows %a, %b", [index, rows], copies


def _mesh_program(op: str, inputs: list[str], result: str, target: str = "WSE2") -> ModuleOp:
    """A mesh-level module: scatter each input, `op` on them, gather the result."""
    host = [_host(t) for t in (*inputs, result)]
    args = ", ".join(f"%x{i}: {h}" for i, h in enumerate(host[:-1]))
    lines = [f"%{'ab'[i]} = mesh.scatter %x{i} : {host[i]} -> {t}" for i, t in enumerate(inputs)]
    operand_types = ", ".join(inputs)
    if op.startswith(("mesh.concat", "mesh.ring_")):
        lines.append(f"%r = {op} : ({operand_types}) -> {result}")
    else:
        lines.append(f"%r = {op} : {operand_types} -> {result}")
    lines.append(f"%out = mesh.gather %r : {result} -> {host[-1]}")
    lines.append(f"func.return %out : {host[-1]}")
    text = (
        f'builtin.module attributes {{pf.target = #pf.target<"{target}">}} {{\n'
        f"func.func @main({args}) -> {host[-1]} {{\n" + "\n".join(lines) + "\n}\n}"
    )
    return Parser(compiler.make_context(), text).parse_module()


def _host(mesh_type: str) -> str:
    """The host tensor type of a mesh tensor type's text."""
    inner = mesh_type.split("<", 1)[1].split(" on ")[0]
    return f"tensor<{inner}>"


def _embedding() -> list[Any]:
    table = pf.from_numpy(_arr(64, 32)).requires_grad_()
    ids = pf.from_numpy(np.random.default_rng(4).integers(0, 64, 20).astype(np.int32))
    out = pf.nn.functional.embedding(ids, table)
    (out * out).sum().backward()
    return [out, table.grad]


def _weight_grad(x_shape: tuple, o: int, grid: tuple[int, int], kw: dict) -> list[Any]:
    """A conv2d's weight gradient alone (the output gradient an input): flame.conv2d_weight_grad
    and its allreduce."""
    w = pf.from_numpy(_arr(o, x_shape[1], 3, 3, seed=1)).requires_grad_()
    y = pf.nn.functional.conv2d(_on(x_shape, grid), w, **kw)
    (y * pf.from_numpy(_arr(*y.shape, seed=2))).sum().backward()
    return [w.grad]


def _conv_pool(grid: tuple[int, int]) -> list[Any]:
    x = pf.from_numpy(_arr(2, 8, 16, 16), layout=pf.MeshLayout.grid(*grid))
    w, b = pf.from_numpy(_arr(8, 8, 3, 3, seed=1)), pf.from_numpy(_arr(8, seed=2))
    y = pf.nn.functional.conv2d(x, w, b, padding=1)
    return [pf.nn.functional.max_pool2d(y, 2), pf.nn.functional.avg_pool2d(y, 3, padding=1)]


def _allreduce_group(grid: tuple[int, int]) -> ModuleOp:
    """Three independent sums over the PE rows of vectors of 3, 1 and 1 values per PE (as an
    MLP step's gradients), used on the mesh: at the mesh level, combined into one
    mesh.allreduce_group by combine-collectives (which runs at the start of mesh-to-pe)."""
    rows, cols = grid
    outs = [
        _on((rows, 2 * cols + 3), grid).sum(0) * 2,
        _on((rows, cols - 3), grid).sum(0) + 1,
        _on((rows, 5), grid).sum(0) - 1,
    ]
    module = tracing.trace(outs).module()
    compiler.lower(module, "mesh")
    compiler.run_pipeline(module, "combine-collectives")
    assert "mesh.allreduce_group" in str(module), "the sums were not combined"
    return module


def _mlp_step_small() -> list[Any]:
    x, w1, w2 = (
        pf.from_numpy(_arr(8, 16)),
        pf.from_numpy(_arr(16, 8, seed=1)),
        pf.from_numpy(_arr(8, 4, seed=2)),
    )
    w1.requires_grad_()
    w2.requires_grad_()
    y = pf.relu(x @ w1) @ w2
    loss = (y * y).mean()
    loss.backward()
    return [loss, w1.grad, w2.grad]


def _transformer_block() -> list[Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from transformer_block import Block

    pf.manual_seed(0)
    return [Block(128, 4)(pf.from_numpy(_arr(2, 64, 128)))]


def _mlp_step() -> list[Any]:
    model = pf.nn.Sequential(pf.nn.Linear(784, 256), pf.nn.ReLU(), pf.nn.Linear(256, 10))
    x = pf.from_numpy(_arr(64, 784))
    labels = pf.from_numpy(np.random.default_rng(3).integers(0, 10, 64).astype(np.int32))
    loss = pf.nn.functional.cross_entropy(model(x), labels)
    loss.backward()
    return [loss] + [p.grad for p in model.parameters()]


def compare(case: Case) -> Outcome:
    """The case's estimate (at the mesh level) and its simulated cycles (planned at pe)."""
    with pf.sim.target(case.target):
        built = case.build()
        module = built if isinstance(built, ModuleOp) else tracing.trace(built).module()
    with forced_conv_form(case.conv_channel_split):
        compiler.lower(module, "mesh")
    ops = estimate(module)
    barriers = estimate_barriers(module)
    compiler.lower(module, "pe")
    simulated = compile_plan(module).report.cycles
    return Outcome(case.name, program_cycles(ops) + barriers.cycles, simulated, ops, barriers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="leave out the big programs")
    parser.add_argument("--ops", action="store_true", help="print every op's estimate too")
    args = parser.parse_args()
    worst: Outcome | None = None
    print(f"{'case':<48} {'estimated':>10} {'simulated':>10} {'error':>7}")
    for case in corpus(args.quick):
        start = time.perf_counter()
        out = compare(case)
        secs = time.perf_counter() - start
        print(
            f"{out.name:<48} {out.estimated:>10,} {out.simulated:>10,} {out.error:>+7.1%}  ({secs:.1f} s)"
        )
        if args.ops:
            for e in out.ops:
                print(f"    {e.op.name:<24} {e.algorithm:<24} {e.cycles:>10,}  {e.cost.detail}")
            if out.barriers.barriers:
                b = out.barriers
                print(
                    f"    {'barriers':<24} {b.barriers:<24} {b.cycles:>10,}  {b.rows}x{b.cols} PEs"
                )
        if worst is None or abs(out.error) > abs(worst.error):
            worst = out
    if worst is not None:
        print(
            f"worst: {worst.name}: {worst.error:+.1%} ({worst.estimated:,} vs {worst.simulated:,})"
        )


if __name__ == "__main__":
    main()
