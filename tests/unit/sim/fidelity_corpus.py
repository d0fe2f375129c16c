"""The corpus on which the two simulator engines must agree (tests/unit/sim/test_fidelity.py).

A case is a pe-level module and its arguments. `compare(case)` runs it on the fast engine and on
the wavelet-level one (the same module with `fidelity = "wavelet"` in its `#pf.target<...>`) and
says how they compare: identical outputs and cycles within `TOLERANCE`, or the same error class.
The fast engine's outputs compared are `run_on_sram`'s (every step, in the plan's order: the
wavelet engine adds in the same order); its `run` (lean steps, a SUMMA loop's products fused
into one, pyflame/sim/fused_products.py) must agree with them to fp32 rounding (`close`).

Sources:
- `recorded_programs`: every program the `sim`-fixture tests plan or run (their `sim.plan` and
  `sim.run` are wrapped to record the texts), with fresh seeded arguments;
- `lit_programs`: every `@main` of the lit inputs that lowers to the pe level;
- `benchmark_programs`: the benchmarks at small sizes through the frontend (GEMM up to 128^3 on
  16x16 PEs, conv2d, an MLP step, an MLP layer and loss on 2x2 PEs, chains of reductions, fused
  elementwise chains),
  lowered to pe;
- `conv_programs`: conv2d in both of its mesh forms (spatial, channel-split);
- `conv_weight_grad_programs`: conv2d's weight gradient in both forms;
- `summa_programs`: SUMMA with synchronous root sends and with asynchronous ones (`pe.wait`);
- `transposed_matmul_programs`: SUMMA consuming transposed operands (blocks turned at the
  diagonal PE), A^T B, A B^T, A^T B^T and a matmul's gradients;
- `sweep_chain_programs`: product chains the sweep found (`SWEEP_CHAINS`), operands at
  several origins;
- `exchange_timing_programs`: exchanges whose timing the engines once disagreed on;
- `replicating_exchange_programs`: exchanges to a layout replicated along the rows, some of
  them known gaps (test_fidelity.KNOWN_GAPS);
- `gpt_programs`: the GPT example's training and decode steps at a small size;
- `exchange_programs`: `pe.exchange` between the layouts of test_sim_exchange.CASES (the
  recorded sim tests and the lit inputs hold more exchanges: slices, pads, concats, reshapes).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from pyflame.core.errors import PyFlameError
from pyflame.core.target import TARGET_ATTR, Target
from pyflame.sim import compile_plan

#: cycles of the two engines may differ by this fraction of the fast engine's
TOLERANCE = 0.05
LIT = Path(__file__).resolve().parents[2] / "lit"


@dataclass
class Case:
    name: str
    module: Callable[[], ModuleOp]  # a fresh pe-level module (compile_plan may be given it)
    args: list[Any] | None = None  # None: seeded random arguments of the right kinds


@dataclass
class Outcome:
    name: str
    verdict: str  # "agree", "differ", "skip"
    fast_cycles: int = 0
    wavelet_cycles: int = 0
    detail: str = ""

    @property
    def ratio(self) -> float:
        return self.wavelet_cycles / self.fast_cycles if self.fast_cycles else 1.0


def with_fidelity(module: ModuleOp, fidelity: str) -> ModuleOp:
    target = Target.of_module(module)
    module.attributes[TARGET_ATTR] = dataclasses.replace(target, fidelity=fidelity).to_attr()
    return module


def random_args(exe, seed: int = 7) -> list[Any]:
    rng = np.random.default_rng(seed)
    out: list[Any] = []
    for kind in exe._arg_kinds:
        if kind[0] == "tensor":
            shape, dtype = kind[1], np.dtype(kind[2])
            if dtype == np.bool_:
                out.append(rng.random(shape) < 0.5)
            elif dtype.kind == "i":
                out.append(rng.integers(-5, 6, shape).astype(dtype))
            else:
                out.append(rng.standard_normal(shape).astype(dtype))
        elif kind[0] == "int":
            out.append(int(rng.integers(0, 2**31)))
        else:
            out.append(None)
    return out


def _same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


#: `Executable.run` against `run_on_sram`: float outputs within this much of the output's
#: largest magnitude (fp32 rounding of sums in another order), f16 / bf16 within FP16_TOLERANCE
FP32_TOLERANCE = 1e-5
FP16_TOLERANCE = 2e-2


def close(a: Any, b: Any) -> bool:
    """`a` (from `run`) agrees with `b` (from `run_on_sram`): the same shape and type, the same
    values for ints and bools, within fp32 rounding relative to b's magnitude for floats."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind != "f" and a.dtype.name not in ("bfloat16",):
        return np.array_equal(a, b)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if not np.array_equal(np.isnan(a64), np.isnan(b64)):
        return False
    finite = np.isfinite(b64)
    if not np.array_equal(a64[~finite & ~np.isnan(b64)], b64[~finite & ~np.isnan(b64)]):
        return False
    scale = float(np.abs(b64[finite]).max(initial=0.0))
    tol = FP16_TOLERANCE if a.dtype.itemsize == 2 else FP32_TOLERANCE
    return bool(np.all(np.abs(a64[finite] - b64[finite]) <= tol * scale))


def compare(case: Case) -> Outcome:
    """Run a case on both engines (see the module docstring)."""
    try:
        fast = compile_plan(with_fidelity(case.module(), "fast"))
        if any(d < 0 for k in fast._arg_kinds if k[0] == "tensor" for d in k[1]):
            return Outcome(case.name, "skip", detail="arguments of dynamic shape")
        args = case.args if case.args is not None else random_args(fast)
        f_out, f_rep, _ = fast.run_on_sram(args)
        lean, lean_rep = fast.run(args)
        if lean_rep.cycles != f_rep.cycles or not all(
            close(a, b) for a, b in zip(lean, f_out, strict=True)
        ):
            return Outcome(case.name, "differ", detail="run and run_on_sram differ")
        f_err: Exception | None = None
    except PyFlameError as err:
        f_err, args = err, case.args or []
    try:
        wave = compile_plan(with_fidelity(case.module(), "wavelet"))
    except PyFlameError as err:
        if "wavelet-level simulator runs meshes up to" in str(err):  # more than 16x16 PEs
            return Outcome(case.name, "skip", detail=str(err).split(": ", 1)[-1][:100])
        return _errors(case.name, f_err, err)
    if f_err is not None and not args:
        args = random_args(wave)
    try:
        w_out, w_rep = wave.run(args)
    except PyFlameError as err:
        return _errors(case.name, f_err, err)
    if f_err is not None:
        return _errors(case.name, f_err, None)
    fc, wc = f_rep.cycles, w_rep.cycles
    if len(f_out) != len(w_out) or not all(_same(a, b) for a, b in zip(f_out, w_out, strict=True)):
        return Outcome(case.name, "differ", fc, wc, "outputs differ")
    if abs(wc - fc) > TOLERANCE * max(fc, 1):
        return Outcome(case.name, "differ", fc, wc, f"cycles {wc} / {fc} = {wc / max(fc, 1):.3f}")
    return Outcome(case.name, "agree", fc, wc)


def _errors(name: str, f_err: Exception | None, w_err: Exception | None) -> Outcome:
    fn = type(f_err).__name__ if f_err else "no error"
    wn = type(w_err).__name__ if w_err else "no error"
    if fn == wn:
        return Outcome(name, "agree", detail=f"both raise {fn}")
    first = str(w_err or f_err).splitlines()[0][:160]
    return Outcome(name, "differ", detail=f"fast: {fn}, wavelet: {wn} ({first})")


# ---------------------------------------------------------------------- sources


def recorded_programs(sim: types.SimpleNamespace, modules: list[str]) -> Iterator[Case]:
    """The programs the `sim` tests of `modules` plan or run."""
    for mod_name in modules:
        mod = importlib.import_module(mod_name)
        for name, fn in sorted(vars(mod).items()):
            if not name.startswith("test_") or not inspect.isfunction(fn):
                continue
            params = set(inspect.signature(fn).parameters)
            if "sim" not in params or not params <= {"sim", "rng"}:
                continue
            texts: list[str] = []
            rec = types.SimpleNamespace(**vars(sim))

            def plan(text: str, _texts=texts):
                _texts.append(text)
                return sim.plan(text)

            def run(text: str, *args, _texts=texts):
                _texts.append(text)
                return sim.run(text, *args)

            rec.plan, rec.run = plan, run
            kwargs = {"sim": rec, "rng": np.random.default_rng(1234)}
            try:
                fn(**{k: v for k, v in kwargs.items() if k in params})
            except Exception:  # noqa: S110  (a failing test is reported by its own run)
                pass
            for i, text in enumerate(dict.fromkeys(texts)):
                yield Case(f"{mod_name}::{name}#{i}", lambda text=text: sim.parse(text))


def lit_programs(sim: types.SimpleNamespace) -> Iterator[Case]:
    """Every @main of the lit inputs that parses, verifies and lowers to the pe level."""
    from pyflame import compiler

    for path in sorted(LIT.rglob("*.mlir")):
        for i, chunk in enumerate(path.read_text().split("// -----")):
            if "@main" not in chunk:
                continue
            text = re.sub(r"^\s*//.*$", "", chunk, flags=re.M)

            def make(text=text) -> ModuleOp:
                module = sim.parse(text)
                compiler.lower(module, "pe")
                return module

            try:
                make()
            except Exception:  # noqa: S112  (not a runnable program: an error test's input)
                continue
            yield Case(f"lit/{path.relative_to(LIT)}#{i}", make)


def _traced(
    name: str,
    build: Callable[[], list],
    target: Target,
    algorithm: str | None = None,
    matmul_algorithm: str | None = None,
    conv_channel_split: bool | None = None,
) -> Case:
    """A case from a frontend program: `build()` returns its output tensors (`algorithm`: forced
    on every mesh.allreduce / mesh.reduce; `matmul_algorithm`: on every mesh.matmul,
    passes/pe_lowering/matmul.py; `conv_channel_split`: the form of every conv2d,
    passes/flame_lowering/windowed.py)."""
    import pyflame as pf
    from pyflame import compiler
    from pyflame.tracing import trace_module

    def make() -> tuple[ModuleOp, list]:
        before = pf.sim.get_target()
        pf.sim.set_target(target)
        try:
            module, _, inputs = trace_module(build())
        finally:
            pf.sim.set_target(before)
        if conv_channel_split is not None:
            from pyflame.passes.flame_lowering.windowed import forced_conv_form

            with forced_conv_form(conv_channel_split):
                compiler.lower(module, "mesh")
        if algorithm is not None or matmul_algorithm is not None:
            from pyflame.core.collectives import CollectiveAlgorithm
            from pyflame.dialects import mesh
            from pyflame.passes.pe_lowering.matmul import set_algorithm

            compiler.lower(module, "mesh")
            for op in module.walk():
                if algorithm is not None and isinstance(op, mesh.AllReduceOp | mesh.ReduceOp):
                    attr = mesh.CollectiveAlgorithmAttr(CollectiveAlgorithm(algorithm))
                    op.properties["algorithm"] = attr
            if matmul_algorithm is not None:
                set_algorithm(module, matmul_algorithm)
        compiler.lower(module, "pe")
        return module, inputs

    module, inputs = make()
    text = str(module)
    from xdsl.parser import Parser

    from pyflame.compiler import make_context

    return Case(name, lambda: Parser(make_context(), text).parse_module(), list(inputs))


def split_collective_programs() -> Iterator[Case]:
    """Allreduces by parts (two_way, rsag: sends and receives of windows of a buffer, the
    owners' partials exchanged asynchronously, the halves' multicasts back on channels of
    their own): along rows, along columns and over both axes, f32 and f16, with vectors of
    odd lengths that do not divide the grid and that are longer than a path holds."""
    import pyflame as pf

    rng = np.random.default_rng(11)
    small = pf.sim.SMALL
    x = rng.standard_normal((15, 7 * 9 + 2)).astype(np.float32)
    for algorithm in ("two_way", "rsag"):
        yield _traced(
            f"{algorithm} allreduce along rows, columns and both of 15x65 on 3x7",
            lambda: [
                pf.softmax(pf.from_numpy(x, layout=pf.MeshLayout.grid(3, 7)), dim=1),
                pf.from_numpy(x, layout=pf.MeshLayout.grid(3, 7)).sum(0) * 2,
                pf.from_numpy(x, layout=pf.MeshLayout.grid(3, 7)).sum() * 1,
            ],
            small,
            algorithm,
        )
        yield _traced(
            f"{algorithm} f16 allreduce along rows of 15x65 on 1x9",
            lambda: [
                (lambda h: h - h.sum(1, keepdim=True))(
                    pf.from_numpy(x, layout=pf.MeshLayout.grid(1, 9)).to(pf.float16)
                )
            ],
            small,
            algorithm,
        )


def conv_programs() -> Iterator[Case]:
    """Both forms of mesh.conv2d (weight replicated; channel-split: double-buffered
    multicasts of each input channel's window) on 3x4 PEs (SMALL target)."""
    import pyflame as pf

    rng = np.random.default_rng(1)
    small = pf.sim.SMALL

    def arr(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    xc, wc, bc = arr(2, 5, 11, 9), arr(7, 5, 3, 3), arr(7)
    for channel_split in (False, True):  # both forms of mesh.conv2d on 3x4 PEs
        yield _traced(
            f"conv2d 2x5x11x9 * 7x5x3x3 + bias on 3x4, {'channel-split' if channel_split else 'spatial'}",
            lambda: [
                pf.nn.functional.conv2d(
                    pf.from_numpy(xc, layout=pf.MeshLayout.grid(3, 4)),
                    pf.from_numpy(wc),
                    pf.from_numpy(bc),
                    padding=1,
                )
            ],
            small,
            conv_channel_split=channel_split,
        )


def conv_weight_grad_programs() -> Iterator[Case]:
    """Both forms of mesh.conv2d_weight_grad (every PE's whole partial after a halo exchange;
    channel-split: each input channel's window multicast along the rows, the taps unpacked
    into the partial), each followed by the allreduce of the partials, on 3x4 PEs (SMALL)."""
    import pyflame as pf

    rng = np.random.default_rng(2)
    small = pf.sim.SMALL
    x, w = (rng.standard_normal(s).astype(np.float32) for s in ((2, 5, 11, 9), (7, 5, 3, 3)))
    gy = rng.standard_normal((2, 7, 6, 9)).astype(np.float32)

    def weight_grad() -> list:
        pw = pf.from_numpy(w).requires_grad_()
        px = pf.from_numpy(x, layout=pf.MeshLayout.grid(3, 4))
        y = pf.nn.functional.conv2d(px, pw, stride=(2, 1), padding=1)
        (y * pf.from_numpy(gy)).sum().backward()
        return [pw.grad]

    for channel_split in (False, True):
        yield _traced(
            f"conv2d weight gradient 2x5x11x9, 7x5x3x3, stride (2, 1) on 3x4, "
            f"{'channel-split' if channel_split else 'spatial'}",
            weight_grad,
            small,
            conv_channel_split=channel_split,
        )


def benchmark_programs() -> Iterator[Case]:
    """GEMM, conv2d, an MLP training step and chain reductions at small sizes (SMALL target)."""
    import pyflame as pf

    rng = np.random.default_rng(0)
    small = pf.sim.SMALL

    def arr(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    for n, g in ((16, 2), (32, 4), (64, 8), (128, 16)):
        a, b = arr(n, n), arr(n, n)
        lay = pf.MeshLayout.grid(g, g)
        yield _traced(
            f"gemm {n}^3 on {g}x{g}",
            lambda a=a, b=b, lay=lay: [pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)],
            small,
        )
    for m, k, g in ((16, 16, 2), (37, 29, 3), (64, 64, 8)):  # GEMV: A on the user's grid
        a, v = arr(m, k), arr(k)
        lay = pf.MeshLayout.grid(g, g)
        yield _traced(
            f"gemv {m}x{k} on {g}x{g}",
            lambda a=a, v=v, lay=lay: [pf.from_numpy(a, layout=lay) @ pf.from_numpy(v)],
            small,
        )
    w1, w2, v, xs = arr(24, 20), arr(18, 24), arr(20), arr(3, 24)
    lay3 = pf.MeshLayout.grid(3, 3)
    yield _traced(
        "gemv chain and skinny x @ W on 3x3",
        lambda: [
            pf.from_numpy(w2, layout=lay3) @ (pf.from_numpy(w1, layout=lay3) @ pf.from_numpy(v)),
            pf.from_numpy(xs) @ pf.from_numpy(w1, layout=lay3),
        ],
        small,
    )
    x, w = arr(1, 2, 8, 8), arr(3, 2, 3, 3)
    yield _traced(
        "conv2d 1x2x8x8 * 3x2x3x3",
        lambda: [pf.nn.functional.conv2d(pf.from_numpy(x), pf.from_numpy(w), padding=1)],
        small,
    )
    yield from conv_programs()
    xb, w1, w2 = arr(8, 16), arr(16, 8), arr(8, 4)

    def mlp() -> list:
        x_, a_, b_ = (
            pf.from_numpy(xb),
            pf.from_numpy(w1).requires_grad_(),
            pf.from_numpy(w2).requires_grad_(),
        )
        y = pf.relu(x_ @ a_) @ b_
        loss = (y * y).mean()
        loss.backward()
        return [loss, a_.grad, b_.grad]

    yield _traced("mlp step 8x16-8-4", mlp, small)
    xm, wm = arr(16, 16), arr(16, 16)

    def mlp_grid() -> list:
        lay = pf.MeshLayout.grid(2, 2)
        y = pf.relu(pf.from_numpy(xm, layout=lay) @ pf.from_numpy(wm, layout=lay))
        return [(y * y).mean(), y.sum(dim=1)]

    yield _traced("mlp layer and loss 16x16 on 2x2", mlp_grid, small)
    v = arr(4, 64)
    yield _traced(
        "chain reductions sum/max over 4 PEs",
        lambda: [
            pf.from_numpy(v, layout=pf.MeshLayout.grid(4, 1)).sum(dim=0),
            pf.from_numpy(v, layout=pf.MeshLayout.grid(4, 1)).max(dim=0)[0],
        ],
        small,
    )
    wide = arr(16, 16)
    for algorithm in ("chain", "two_chains", "tree", "tree3", "ktree", "two_way", "rsag"):
        # a reduce then an allreduce whose rows start while the reduce's column still runs:
        # streams of different levels and sides at one PE must not share a color (ktree: four
        # levels on 16 PEs, overlapping in time)
        yield _traced(
            f"{algorithm} full-grid sum and row allreduce on 16x16",
            lambda: [
                pf.from_numpy(wide, layout=pf.MeshLayout.grid(16, 16)).sum(),
                pf.from_numpy(wide, layout=pf.MeshLayout.grid(16, 16)).sum(1) * 2,
            ],
            small,
            algorithm,
        )
    xf, rowf = arr(37, 29), arr(29)

    def fused_chains() -> list:  # fuse-elementwise: pe.fused with broadcasts, casts, selects
        lay = pf.MeshLayout.grid(3, 2)
        x = pf.from_numpy(xf, layout=lay)
        h = (x * 1.5 + pf.from_numpy(rowf)).to(pf.float16)
        y = pf.where(x > 0, (h.exp() - 1.0).to(pf.float32), x.abs() * 0.5)
        return [y, (x - x.mean(dim=1, keepdim=True)).relu()]

    yield _traced("fused elementwise chains 37x29 on 3x2", fused_chains, small)
    c, mid, long = arr(9, 10), arr(16, 10), arr(40, 10)
    for algorithm in (
        "chain",
        "two_chains",
        "tree",
        "tree3",
        "ktree",
        "two_way",
        "rsag",
    ):  # every collective algorithm
        yield _traced(
            f"{algorithm} reduce and allreduce 9x10 on 3x5",
            lambda: [
                pf.from_numpy(c, layout=pf.MeshLayout.grid(3, 5)).sum(),
                pf.from_numpy(c, layout=pf.MeshLayout.grid(3, 5)).max(dim=1)[0] * 2,
                pf.softmax(pf.from_numpy(c, layout=pf.MeshLayout.grid(3, 5)), dim=0),
            ],
            small,
            algorithm,
        )
        # 8 wavelets per PE: the most a root forwards back as it arrives (one-hop queues)
        yield _traced(
            f"{algorithm} allreduce of 8 values per PE on 2x5, streamed back",
            lambda: [pf.softmax(pf.from_numpy(mid, layout=pf.MeshLayout.grid(2, 5)), dim=1)],
            small,
            algorithm,
        )
        # 20 wavelets per PE: longer than a path holds, so streams stall on their receivers
        yield _traced(
            f"{algorithm} allreduce of 20 values per PE on 2x5",
            lambda: [pf.softmax(pf.from_numpy(long, layout=pf.MeshLayout.grid(2, 5)), dim=1)],
            small,
            algorithm,
        )


def exchange_programs(sim: types.SimpleNamespace) -> Iterator[Case]:
    """Exchanges between the layouts of test_sim_exchange.CASES (transposes, gathers, scatters,
    padding, replicated sources and destinations; the sim tests run them with parameters, so
    they are not recorded): host_in, the local part and every network phase, host_out."""
    import test_sim_exchange as exchange_tests

    for shape, src, dst in exchange_tests.CASES:
        text = exchange_tests._exchange_program(sim, shape, src, dst)
        yield Case(f"exchange {shape} {src} -> {dst}", lambda text=text: sim.parse(text))


def summa_programs(sim: types.SimpleNamespace) -> Iterator[Case]:
    """SUMMA (tests/unit/sim/conftest.py): roots that send synchronously (tiles that fit the
    queues on the root's own ramp; a longer one deadlocks on both engines) and roots that send
    asynchronously and wait for their token before the matmul (any tile)."""
    for g, t in ((2, 2), (4, 2), (16, 1), (2, 3)):
        text = sim.summa(g, t, synchronous_roots=True)
        yield Case(f"summa sync {g}x{g} tile {t}", lambda text=text: sim.parse(text))
    for g, t in ((2, 4), (4, 8), (8, 4), (16, 2)):
        text = sim.summa(g, t)
        yield Case(f"summa async {g}x{g} tile {t}", lambda text=text: sim.parse(text))


def shift_matmul_programs() -> Iterator[Case]:
    """Cannon and MeshGEMM (passes/pe_lowering/shift_matmul.py): alignment rounds and
    double-buffered ring steps, odd and even grids, a size that does not divide the grid."""
    import pyflame as pf

    rng = np.random.default_rng(0)
    for algorithm in ("cannon", "meshgemm"):
        for n, g in ((8, 2), (13, 3), (32, 4), (24, 5), (64, 8)):
            a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
            lay = pf.MeshLayout.grid(g, g)
            yield _traced(
                f"{algorithm} {n}^3 on {g}x{g}",
                lambda a=a, b=b, lay=lay: [
                    pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)
                ],
                pf.sim.SMALL,
                matmul_algorithm=algorithm,
            )


def layered_matmul_programs() -> Iterator[Case]:
    """2.5D SUMMA (passes/pe_lowering/layered_matmul.py): the gather's ring shifts and row
    rotations, layer-selective column broadcasts, steps split in pieces (32x32 tiles on 2x2),
    the reduction ring; 2, 3 and 4 layers, a size that does not divide the grid."""
    import pyflame as pf

    rng = np.random.default_rng(1)
    for n, g in ((8, 2), (64, 2), (13, 3), (30, 4), (48, 6)):
        a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
        lay = pf.MeshLayout.grid(g, g)
        yield _traced(
            f"summa25d {n}^3 on {g}x{g}",
            lambda a=a, b=b, lay=lay: [pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)],
            pf.sim.SMALL,
            matmul_algorithm="summa25d",
        )


def transposed_matmul_programs() -> Iterator[Case]:
    """SUMMA with transpose_a / transpose_b (passes/pe_lowering/matmul.py): each form on odd,
    even and 5x5 grids with sizes that do not divide them, and the gradients of a product
    (dC B^T and A^T dC)."""
    import pyflame as pf

    rng = np.random.default_rng(2)
    for (ta, tb), (m, k, n), g in (
        ((True, False), (13, 17, 11), 3),
        ((False, True), (20, 24, 12), 4),
        ((True, True), (9, 22, 14), 5),
        ((True, False), (16, 16, 16), 2),
    ):
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
        lay = pf.MeshLayout.grid(g, g)

        def build(a=a, b=b, lay=lay, ta=ta, tb=tb) -> list:
            pa, pb = pf.from_numpy(a, layout=lay), pf.from_numpy(b, layout=lay)
            return [(pa.T if ta else pa) @ (pb.T if tb else pb)]

        words = "".join(w for w, f in (("A^T", ta), ("A", not ta), ("B^T", tb), ("B", not tb)) if f)
        yield _traced(f"{words} {m}x{k}x{n} on {g}x{g}", build, pf.sim.SMALL)
    a, b = (rng.standard_normal(s).astype(np.float32) for s in ((11, 19), (19, 7)))

    def gradients() -> list:
        lay = pf.MeshLayout.grid(3, 3)
        pa, pb = pf.from_numpy(a, layout=lay), pf.from_numpy(b, layout=lay)
        pa.requires_grad = pb.requires_grad = True
        pf.backward((pa @ pb).sum())
        return [pa.grad, pb.grad]

    yield _traced("matmul gradients 11x19x7 on 3x3", gradients, pf.sim.SMALL)


def summary(outcomes: list[Outcome]) -> str:
    """Counts, the worst case by cycle ratio, and every disagreement."""
    timed = [o for o in outcomes if o.fast_cycles]
    worst = max(timed, key=lambda o: abs(math.log(max(o.ratio, 1e-9))), default=None)
    lines = [
        f"{len(outcomes)} programs: "
        + ", ".join(
            f"{sum(o.verdict == v for o in outcomes)} {v}" for v in ("agree", "differ", "skip")
        )
    ]
    if worst is not None:
        lines.append(
            f"worst case: {worst.name}: fast {worst.fast_cycles} cycles, wavelet "
            f"{worst.wavelet_cycles} cycles, ratio {worst.ratio:.3f}"
        )
    lines += [f"  differ: {o.name}: {o.detail}" for o in outcomes if o.verdict == "differ"]
    return "\n".join(lines)


#: product chains found by `python -m tests.fuzz.sweeps chains` (tests/fuzz/sweeps.py): the
#: running value times each matrix in turn, (shape as stored, transposed?, origin) per operand
#: (the first is the chain's start), each on a g x g grid at its origin, then a sum over `tail`
SWEEP_CHAINS: dict[
    str, tuple[int, list[tuple[tuple[int, int], bool, tuple[int, int]]], int | None]
] = {
    # seed 1 case 2: 5x3x1 tiles (outputs were 3.8e-6 apart: test_small_summa_tiles_...)
    "chains seed 1 case 2": (
        6,
        [
            ((28, 13), False, (0, 0)),
            ((13, 3), False, (0, 0)),
            ((13, 3), True, (3, 3)),
            ((4, 13), True, (9, 6)),
        ],
        1,
    ),
    # seed 1 case 10: four products of operands at five origins on 3x3 (cycles were 5-6%
    # apart: an exchange's messages parked in shared paths, fabric.Links.drain_parked)
    "chains seed 1 case 10": (
        3,
        [
            ((4, 6), False, (0, 0)),
            ((6, 11), False, (1, 8)),
            ((11, 10), False, (5, 1)),
            ((24, 10), True, (4, 4)),
            ((11, 24), True, (5, 6)),
        ],
        0,
    ),
    # seed 3 case 3: the second product's operand from (12, 12), its redistribution parked in
    # the paths to PEs still busy with the first product (cycles 5% apart)
    "chains seed 3 case 3": (
        4,
        [((9, 10), False, (0, 0)), ((10, 19), False, (0, 0)), ((29, 19), True, (12, 12))],
        1,
    ),
    # seed 29 case 2 (summa25d sweep, session 20): x from (0, 0) replicated along the rows of
    # a grid at (4, 6), 49 phases each on its own color; the fast engine 8% late
    # (test_fidelity.KNOWN_GAPS)
    "chains seed 29 case 2": (
        7,
        [
            ((7, 28), False, (0, 0)),
            ((25, 28), True, (4, 6)),
            ((25, 21), False, (8, 9)),
            ((21, 28), False, (0, 0)),
        ],
        1,
    ),
    # seed 43 case 3 (summa sweep, session 20): the first operand redistributed from (4, 6)
    # to (0, 0); the fast engine 6% early (test_fidelity.KNOWN_GAPS)
    "chains seed 43 case 3": (
        5,
        [((11, 6), False, (4, 6)), ((7, 6), True, (0, 0)), ((25, 7), True, (11, 0))],
        None,
    ),
}


def sweep_chain_programs(algorithms: tuple[str, ...] = ("summa",)) -> Iterator[Case]:
    """The chains of SWEEP_CHAINS with each matmul algorithm of `algorithms` forced."""
    import pyflame as pf

    for name, (g, operands, tail) in SWEEP_CHAINS.items():
        rng = np.random.default_rng(len(operands))
        mats = [rng.standard_normal(shape).astype(np.float32) for shape, _, _ in operands]

        def build(g=g, operands=operands, tail=tail, mats=mats) -> list:
            x = None
            for m, (_, transposed, at) in zip(mats, operands, strict=True):
                y = pf.from_numpy(m, layout=pf.MeshLayout.grid(g, g, at=at))
                y = y.T if transposed else y
                x = y if x is None else x @ y
            return [x if tail is None else x.sum(tail)]

        for algorithm in algorithms:
            yield _traced(f"{name} ({algorithm})", build, pf.sim.SMALL, None, algorithm)


def exchange_timing_programs() -> Iterator[Case]:
    """Exchanges whose timing the fast engine got wrong (session 14, both outside the corpus
    before; later sessions added theirs): a redistribution whose phases each gather four messages onto one PE still busy in a
    product (they queue behind each other in one color's queues, `Links.drain_parked`), and
    SUMMA with a bias whose operand moves in 20 phases planned out of time order (their links'
    idle gaps, `Links.stream`)."""
    import pyflame as pf

    def chain() -> list:  # `(x @ y) @ w`, w from a 4x4 grid at (7, 3)
        rng = np.random.default_rng(0)
        a = rng.standard_normal((17, 4)).astype(np.float16)
        b = rng.standard_normal((4, 55)).astype(np.float16)
        near, far = pf.MeshLayout.grid(4, 4), pf.MeshLayout.grid(4, 4, at=(7, 3))
        x, y = pf.from_numpy(a, layout=near), pf.from_numpy(b, layout=near)
        return [(x @ y) @ pf.from_numpy(b.T.copy(), layout=far)]

    def summa_bias() -> list:  # matmul sweep seed 14 case 135
        rng = np.random.default_rng(0)
        a, b, c = (rng.standard_normal(s).astype(np.float32) for s in ((3, 29), (29, 5), (3, 5)))
        grid = pf.MeshLayout.grid(8, 8)
        x, y, z = (pf.from_numpy(m, layout=grid) for m in (a, b, c))
        return [x @ y + z]

    yield _traced(
        "gather phases to busy PEs: (17x4 @ 4x55) @ 55x4 from (7, 3), f16", chain, pf.sim.SMALL
    )
    yield _traced(
        "phases out of time order: summa 3x29 @ 29x5 + bias on 8x8",
        summa_bias,
        pf.sim.SMALL,
        None,
        "summa",
    )

    def summa_plain() -> list:  # matmul sweep seed 5 case 33 (6% apart before session 20)
        rng = np.random.default_rng(0)
        a, b = (rng.standard_normal(s).astype(np.float32) for s in ((11, 67), (67, 19)))
        grid = pf.MeshLayout.grid(6, 6)
        return [pf.from_numpy(a, layout=grid) @ pf.from_numpy(b, layout=grid)]

    yield _traced(
        "phases sharing links: summa 11x67 @ 67x19 on 6x6", summa_plain, pf.sim.SMALL, None, "summa"
    )
    # matmul sweep seed 14 cases 20 and 61 (fast 7.5% and 5.2% early before session 27): both
    # operands' redistributions run at once, their phases from different sources on other
    # colors along shared links, which the fast engine gave whole messages in planning order;
    # case 110 (9.1% early): B's redistribution [r, c] -> [c, _] is an all-to-all whose
    # sources run ahead of receivers still busy in earlier phases, sharing links. Exchange
    # phases in a row are timed together since (pyflame/sim/exchange_run.py)
    for (m, k, n), (g, at) in (
        ((68, 1, 44), (4, (0, 9))),
        ((3, 54, 54), (6, (10, 8))),
        ((55, 48, 8), (8, (0, 0))),
    ):

        def shared_links(m=m, k=k, n=n, g=g, at=at) -> list:
            rng = np.random.default_rng(0)
            a, b = (rng.standard_normal(s).astype(np.float32) for s in ((m, k), (k, n)))
            lay = pf.MeshLayout.grid(g, g, at=at)
            return [pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)]

        yield _traced(
            f"redistributions sharing links: summa {m}x{k} @ {k}x{n} on {g}x{g} at {at}",
            shared_links,
            pf.sim.SMALL,
            None,
            "summa",
        )
    # benchmarks/cost_model.py's concats on WSE2: 17%, 7% and 6% apart before session 14
    # (sources stalled by destinations still busy in the previous phase)
    for g in (2, 3, 4):
        yield Case(f"concat 48x40 + 16x40 on {g}x{g} (WSE2)", _concat_module(g))
    # two messages converging on one link: the router grants it to the head that arrives
    # first, the nearer source's (session 29; the fast engine and the walk gave it to the
    # first in message order: [r, c] -> [_, r] of 4x42 on 3x3 9.6% late, on 8x8 18% early;
    # matmul sweep seed 29 case 0 and seed 14 case 123, 6.7% and 5.1% early)
    for g in (3, 8):
        yield Case(
            f"converging heads: 4x42 [r, c] -> [_, r] on {g}x{g}",
            _redistribute_module((4, 42), g, "r, c", "_, r"),
        )

    def summa_seed_29_case_0() -> list:
        rng = np.random.default_rng(0)
        a, b = (rng.standard_normal(s).astype(np.float32) for s in ((4, 42), (42, 35)))
        grid = pf.MeshLayout.grid(8, 8)
        return [pf.from_numpy(a, layout=grid) @ pf.from_numpy(b, layout=grid)]

    def summa_seed_14_case_123() -> list:
        rng = np.random.default_rng(0)
        a, b = (rng.standard_normal(s).astype(np.float32) for s in ((25, 11), (11, 62)))
        lay = pf.MeshLayout.grid(6, 6, at=(3, 6))
        x, y = pf.from_numpy(a, layout=lay), pf.from_numpy(b, layout=lay)
        return [(x @ y) @ pf.from_numpy(b.T.copy(), layout=lay)]

    yield _traced(
        "converging heads: summa 4x42 @ 42x35 on 8x8",
        summa_seed_29_case_0,
        pf.sim.SMALL,
        None,
        "summa",
    )
    yield _traced(
        "converging heads: summa chain 25x11 @ 11x62 @ 62x11 on 6x6 at (3, 6)",
        summa_seed_14_case_123,
        pf.sim.SMALL,
        None,
        "summa",
    )


#: (shape, grid) of the exchanges `replicating_exchange_programs` makes: tiles [r, c] on the
#: grid, then every tile of a PE column on every PE of that column ([_, c])
REPLICATING_EXCHANGES = [
    ((9, 3), (3, 1)),
    ((12, 3), (4, 1)),
    ((16, 3), (4, 1)),
    ((12, 12), (4, 2)),
    ((12, 12), (4, 4)),
]


def replicating_exchange_programs(sim: types.SimpleNamespace) -> Iterator[Case]:
    """Exchanges that copy each tile to every PE of its column: each phase gathers the tiles of
    a column onto one of its PEs, the messages queuing up the column behind each other while
    the next phase's messages (another color) already cross the same links (the fast engine
    finished 8-11% early from 4 rows on before session 20's link sharing between phases)."""
    import test_sim_exchange as exchange_tests

    for shape, grid in REPLICATING_EXCHANGES:
        src, dst = (grid, ("r", "c")), (grid, ("", "c"))
        text = exchange_tests._exchange_program(sim, shape, src, dst)
        yield Case(
            f"replicate {shape} on {grid[0]}x{grid[1]} [r, c] -> [_, c]",
            lambda text=text: sim.parse(text),
        )


def multicast_fork_programs() -> Iterator[Case]:
    """2.5D SUMMA with a transposed operand (matmul sweep seed 15 case 134 and seed 14 case
    151, 5.5% apart before session 15): each step's broadcasts pass the PEs that broadcast the
    step before, which wait for their sends' tokens before they receive; their routers hold the
    other receivers' branches (`streams.fork_bounds`)."""
    import pyflame as pf

    def transposed(m: int, k: int, n: int, at: tuple[int, int]) -> Callable[[], list]:
        def build() -> list:
            rng = np.random.default_rng(0)
            a = rng.standard_normal((m, k)).astype(np.float32)
            bt = rng.standard_normal((n, k)).astype(np.float32)
            grid = pf.MeshLayout.grid(8, 8, at=at)
            return [pf.from_numpy(a, layout=grid) @ pf.from_numpy(bt, layout=grid).T]

        return build

    for (m, k, n), at, which in (
        ((28, 9, 32), (0, 0), "seed 15 case 134"),
        ((22, 16, 12), (4, 0), "seed 14 case 151"),
    ):
        yield _traced(
            f"2.5D SUMMA, transposed operand, {m}x{k} @ ({n}x{k}).T on 8x8 at {at} ({which})",
            transposed(m, k, n, at),
            pf.sim.SMALL,
            None,
            "summa25d",
        )


def _redistribute_module(
    shape: tuple[int, int], g: int, src: str, dst: str
) -> Callable[[], ModuleOp]:
    """`mesh.redistribute` of an f32 `shape` on g x g PEs from split [src] to [dst], between
    host I/O (SMALL target)."""

    def make() -> ModuleOp:
        from xdsl.parser import Parser

        from pyflame import compiler

        tt = f"tensor<{shape[0]}x{shape[1]}xf32>"
        t = lambda split: f"!mesh.tensor<{shape[0]}x{shape[1]}xf32 on {g}x{g} split [{split}]>"  # noqa: E731
        text = f"""builtin.module attributes {{pf.target = #pf.target<"small">}} {{
  func.func @main(%x0: {tt}) -> {tt} {{
    %a = mesh.scatter %x0 : {tt} -> {t(src)}
    %r = mesh.redistribute %a : {t(src)} -> {t(dst)}
    %out = mesh.gather %r : {t(dst)} -> {tt}
    func.return %out : {tt}
  }}
}}"""
        module = Parser(compiler.make_context(), text).parse_module()
        compiler.lower(module, "pe")
        return module

    return make


def _concat_module(g: int) -> Callable[[], ModuleOp]:
    """`mesh.concat` of 48x40 and 16x40 f32 along dim 0 on g x g PEs, between host I/O."""

    def make() -> ModuleOp:
        from xdsl.parser import Parser

        from pyflame import compiler

        t = lambda rows: f"!mesh.tensor<{rows}x40xf32 on {g}x{g} split [r, c]>"  # noqa: E731
        text = f"""builtin.module attributes {{pf.target = #pf.target<"WSE2">}} {{
  func.func @main(%x0: tensor<48x40xf32>, %x1: tensor<16x40xf32>) -> tensor<64x40xf32> {{
    %a = mesh.scatter %x0 : tensor<48x40xf32> -> {t(48)}
    %b = mesh.scatter %x1 : tensor<16x40xf32> -> {t(16)}
    %r = mesh.concat %a, %b dim 0 : ({t(48)}, {t(16)}) -> {t(64)}
    %out = mesh.gather %r : {t(64)} -> tensor<64x40xf32>
    func.return %out : tensor<64x40xf32>
  }}
}}"""
        module = Parser(compiler.make_context(), text).parse_module()
        compiler.lower(module, "pe")
        return module

    return make


def gpt_programs() -> Iterator[Case]:
    """The GPT of examples/gpt_model.py at a small size (vocabulary 11, 8 positions, one layer
    of two heads, 16 embedding dims; SMALL target): a training step's loss and the first
    gradients, and a decode step with its KV cache."""
    import sys

    import pyflame as pf

    examples = str(Path(__file__).resolve().parents[3] / "examples")
    if examples not in sys.path:
        sys.path.insert(0, examples)
    from gpt_model import GPT, GPTConfig, KVCacheDecoder

    config = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16)
    rng = np.random.default_rng(0)
    xb, yb = (rng.integers(0, 11, (2, 8)).astype(np.int32) for _ in range(2))

    def train() -> list:
        pf.manual_seed(0)
        model = GPT(config)
        _, loss = model(pf.from_numpy(xb), pf.from_numpy(yb))
        loss.backward()
        return [loss] + [p.grad for p in model.parameters()][:6]

    def decode() -> list:
        pf.manual_seed(0)
        model = GPT(config)
        with pf.no_grad():
            token, position = pf.from_numpy(xb[:1, :1]), pf.from_numpy(np.zeros(1, np.int32))
            cache = [pf.from_numpy(c) for c in model.empty_cache(1)]
            return list(KVCacheDecoder(model)(token, position, *cache))

    yield _traced("gpt training step (1 layer, 16 dims, 2x8 tokens)", train, pf.sim.SMALL)
    yield _traced("gpt decode step (1 layer, 16 dims)", decode, pf.sim.SMALL)


#: PE (0, 0) sends `a` on color 0 ({async_} or not), then `b` on color 1, to PE (0, 1), which
#: receives color 1 first: its output ramp carries one send at a time
RAMP_PROGRAM = """builtin.module attributes {{pf.target = #pf.target<"small">}} {{
  func.func @main() -> tensor<{n}xf32> {{
    %a = pe.alloc {{name = "a", pes = array<i64: 0, 0, 1, 2>, offset = 0 : i64}} : !pe.buf<{n}xf32>
    %b = pe.alloc {{name = "b", pes = array<i64: 0, 0, 1, 2>, offset = 512 : i64}} : !pe.buf<4xf32>
    pe.fill %a {{value = 1.0 : f64, pes = array<i64: 0, 0, 1, 1>}} : !pe.buf<{n}xf32>
    pe.route ramp -> [east] {{color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}}
    pe.route west -> [ramp] {{color = 0 : i64, pes = array<i64: 0, 1, 1, 1>}}
    pe.route ramp -> [east] {{color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}}
    pe.route west -> [ramp] {{color = 1 : i64, pes = array<i64: 0, 1, 1, 1>}}
    {send}
    pe.send %b {{color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}} : !pe.buf<4xf32>
    pe.recv %b {{color = 1 : i64, pes = array<i64: 0, 1, 1, 1>}} : !pe.buf<4xf32>
    pe.recv %a {{color = 0 : i64, pes = array<i64: 0, 1, 1, 1>}} : !pe.buf<{n}xf32>
    {wait}
    %o = pe.host_out %a {{layout = #pe.layout<{n}xf32 on 1x1 split [_]>, pes = array<i64: 0, 1, 1, 1>}} : !pe.buf<{n}xf32> -> tensor<{n}xf32>
    func.return %o : tensor<{n}xf32>
  }}
}}"""


def ramp_programs() -> Iterator[Case]:
    """Two sends from one PE, the first's receive posted after the second's (docs/simulator.md,
    "Output ramps"): a message the path holds (both engines run), a synchronous one longer than
    the path (both deadlock) and an asynchronous one longer than the path (both deadlock: its
    stream holds the ramp the second send needs; the fast engine ran it before session 21)."""
    from xdsl.parser import Parser

    from pyflame.compiler import make_context

    sync = "pe.send %a {{color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}} : !pe.buf<{n}xf32>"
    asyn = sync + " -> !pe.token"
    for name, n, send in (
        ("async send the path holds (6 wavelets)", 6, asyn),
        ("sync send longer than its path (64 wavelets)", 64, sync),
        ("async send longer than its path (64 wavelets)", 64, asyn),
    ):
        wait = "pe.wait %t {pes = array<i64: 0, 0, 1, 1>}" if send is asyn else ""
        line = ("%t = " if send is asyn else "") + send.format(n=n)
        text = RAMP_PROGRAM.format(n=n, send=line, wait=wait)
        yield Case(name, lambda text=text: Parser(make_context(), text).parse_module(), [])
