"""Targeted sweeps (session 9): random cases of one feature each, against torch or numpy.

    python -m tests.fuzz.sweeps setitem --seed 1 --cases 500      # x[key] = v, every key form
    python -m tests.fuzz.sweeps setitem-grad --seed 5 --cases 300 # ... and .grad of x and v
    python -m tests.fuzz.sweeps fused --seed 1 --cases 400        # elementwise chains, dtypes
    python -m tests.fuzz.sweeps matmul --seed 1 --cases 80 --algorithm summa25d
    python -m tests.fuzz.sweeps collectives --seed 1 --cases 150 --algorithm ktree
    python -m tests.fuzz.sweeps matmul --seed 3 --cases 10 --algorithm cannon --both-engines
    python -m tests.fuzz.sweeps chains --seed 1 --cases 40 --algorithm meshgemm  # both engines
    python -m tests.fuzz.sweeps lean --seed 1 --cases 300        # run's shortcuts, 3 oracles
    python -m tests.fuzz.sweeps grids --seed 1 --cases 100       # products on assigned grids

- setitem: x of 1-3 dims (sizes 1-5, f32/i32/bool/f16) in a random layout (grids, replicated,
  partitions, a grid off PE (0, 0)), keys mixing ints, slices with steps, `...`, 0-d and 1-D
  int tensors (several: advanced indexing), 2-D index tensors and bool masks; values numbers,
  full tensors or broadcast ones. Compared with torch's `t[key] = v` (bits); `-grad` adds
  `y = x * 2; y[key] = v * 3` and compares both gradients.
- fused: chains of 2-8 elementwise ops (fuse-elementwise makes them one pe.fused) over tensors
  of [r, c], [1, c], [r, 1], [c] and 0-d, f32/f16/bf16/i32/bool, with casts and selects.
- matmul: a product, a chain of two, a product plus a bias, a transposed operand, with the
  mesh algorithm forced (`--algorithm`: summa25d, summa, cannon, meshgemm), m, k, n in 1-69,
  square grids of 2-8 that do not divide them, at PE (0, 0) or elsewhere, f32/f16, one case
  in ten on the wavelet engine.
- chains (session 10): chains of 2-4 products (some with a transposed operand), perhaps then a
  sum over a dim, each input hinted on a g x g grid (2-8) at its own origin inside 16 x 16 PEs,
  the algorithm forced (`--algorithm`: a matmul one, default summa, or a collective one), run
  on BOTH engines: the same outputs (bit for bit), numpy's values, cycles within 5%. Found
  the color-reuse race (benchmarks/RESULTS.md, "Color reuse race (session 10)").
- collectives: sum/max/min/mean over dims (0,), (1,), (0, 1) of [r, c] on grids of 1-13 a
  side (odd ones), at PE (0, 0) or elsewhere, f32/f16/i32, the collective algorithm forced on
  every mesh.reduce and mesh.allreduce, one case in seven on the wavelet engine.

- lean (session 13, tests/fuzz/lean.py): programs whose data flow makes `Executable.run`'s
  shortcuts subtle (slices, concats and pads around products, halves swapped, in-place
  updates, item assignment, product chains, reductions, batched products, MLP and conv
  training steps with SGD / Adam several in a row), odd sizes, grids at PE (0, 0) or off it,
  a matmul algorithm forced or not, f32 / f16 / bf16, 21 or fewer routing colors: `run`
  against `run_on_sram` (fp32 rounding), `run_on_sram` against the plan's own steps (bit for
  bit), a second run with other data on the pooled SRAM, torch, and one case in five the
  wavelet engine (bit for bit).

- grids (session 13, tests/fuzz/lean.py): a chain of two products (the second with a
  transposed operand), each on a grid assigned as place-on-fabric would (square or not, 1-8
  a side, at PE (0, 0) or elsewhere), the algorithm forced (`--algorithm`, or drawn per
  case), checked as the lean sweep checks, always on the wavelet engine too.

`--both-engines` (session 11): the matmul and collectives sweeps run every case on both
engines too, as chains does (outputs bit for bit, cycles within 5%), and every sweep that ran
both prints the worst wavelet / fast cycle ratio.

Each case is drawn from (seed, index), so a failure is reproduced by `--seed S --start I
--cases 1`. Prints each failure (WRONG: a wrong value, shape or dtype; LOUD: an exception
where torch gives a result; PyFlame's documented NotImplementedError is skipped, not counted)
and a summary; exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import pyflame as pf
from pyflame.core.errors import IntegerOverflowError
from tests.fuzz.lean import grids_case, lean_case

LAYOUTS = [
    None,
    pf.MeshLayout.grid(2, 3),
    pf.MeshLayout.replicated(2, 2),
    pf.MeshLayout.row_partition(3),
    pf.MeshLayout.grid(3, 2, at=(1, 2)),
]


@dataclasses.dataclass
class Outcome:
    ok: int = 0
    wrong: list[str] = dataclasses.field(default_factory=list)
    loud: list[str] = dataclasses.field(default_factory=list)
    skipped: int = 0

    @property
    def failures(self) -> list[str]:
        return self.wrong + self.loud

    def summary(self, name: str, cases: int) -> str:
        return (
            f"{name}: {cases} cases, {self.ok} ok, {len(self.wrong)} wrong, "
            f"{len(self.loud)} loud, {self.skipped} skipped"
        )


def _rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


# --------------------------------------------------------------------------- item assignment


def _data(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    if dtype == np.bool_:
        return np.asarray(rng.random(shape) < 0.5)
    if dtype == np.int32:
        return np.asarray(rng.integers(-9, 9, shape), np.int32)
    return np.asarray(rng.standard_normal(shape), dtype)


def _key(rng: np.random.Generator, shape: tuple[int, ...], grad: bool) -> tuple[Any, ...]:
    """A random key: numpy int arrays are index tensors, bool arrays masks, np.int64 0-d
    arrays 0-d index tensors."""
    form = rng.choice(["multi", "mask", "mixed", "basic"] + ([] if grad else ["vec2d"]))
    key: list[Any] = []
    if form == "mask":
        k = int(rng.integers(1, len(shape) + 1))
        key = [rng.random(shape[:k]) < 0.4]
        if rng.random() < 0.5 and k < len(shape):
            key.append(slice(int(rng.integers(0, shape[k])), None, int(rng.integers(1, 3))))
        return tuple(key)
    tensors = 0
    for n in shape:
        c = rng.random() * (0.6 if form == "basic" else 1.0)
        if c < 0.2:
            key.append(slice(None))
        elif c < 0.35:
            key.append(slice(int(rng.integers(-n, n)), None, int(rng.integers(1, 3))))
        elif c < 0.5:
            key.append(int(rng.integers(-n, n)))
        elif c < 0.6:
            key.append(np.array(int(rng.integers(-n, n))))  # a 0-d index tensor
        else:
            count = int(rng.integers(1, 4))
            if form == "vec2d" and tensors == 0:  # repeats possible: the last one wins
                key.append(rng.choice(np.arange(-n, n), size=(count, 2)))
            else:  # no repeats (PyTorch leaves their order undefined)
                key.append(rng.choice(np.arange(n), size=min(count, n), replace=False))
            tensors += 1
    while key and isinstance(key[-1], slice) and key[-1] == slice(None) and rng.random() < 0.5:
        key.pop()
    if rng.random() < 0.2 and len(key) < len(shape):
        key.insert(int(rng.integers(0, len(key) + 1)), Ellipsis)
    return tuple(key)


def _key_for(key: tuple[Any, ...], lib: str) -> tuple[Any, ...]:
    import torch

    out: list[Any] = []
    for k in key:
        if not isinstance(k, np.ndarray):
            out.append(k)
        elif lib == "torch":
            out.append(torch.from_numpy(k if k.dtype == np.bool_ else k.astype(np.int64)))
        else:
            out.append(pf.from_numpy(k if k.dtype == np.bool_ else k.astype(np.int32)))
    return tuple(out)


def setitem_case(seed: int, index: int, grad: bool = False) -> tuple[str, str]:
    """('ok' | 'wrong' | 'loud' | 'skip', description) of one `x[key] = v` case."""
    import torch

    rng = _rng(seed, index)
    shape = tuple(int(s) for s in rng.integers(1, 6, int(rng.integers(1, 4))))
    dtypes = [np.float32] if grad else [np.float32, np.int32, np.bool_, np.float16]
    dtype = dtypes[int(rng.integers(len(dtypes)))]
    a = _data(rng, shape, dtype)
    key = _key(rng, shape, grad)
    layout = LAYOUTS[int(rng.integers(len(LAYOUTS)))]
    t = torch.from_numpy(a.copy())
    try:
        target = list(t[_key_for(key, "torch")].shape)
    except (IndexError, RuntimeError, ValueError):
        return "skip", ""
    number = rng.random() < (0.1 if grad else 0.25)
    value: Any
    if number:
        value = True if dtype == np.bool_ else float(rng.integers(-3, 4))
    else:
        if rng.random() < 0.3 and target:
            target = [1] * (len(target) - 1) + [target[-1]]
        elif rng.random() < 0.15:
            target = [1, *target]
        value = _data(rng, tuple(target), dtype)
    what = (
        f"setitem seed {seed} case {index}: x {list(shape)} {np.dtype(dtype).name} on "
        f"{layout}, key {key!r}, value {value if number else list(np.shape(value))}"
    )
    try:
        t[_key_for(key, "torch")] = value if number else torch.from_numpy(value.copy())
    except (IndexError, RuntimeError, ValueError):
        return "skip", ""
    try:
        with pf.target(pf.sim.SMALL):
            x = pf.from_numpy(a.copy(), layout=layout)
            x[_key_for(key, "pf")] = value if number else pf.from_numpy(value.copy())
            got = x.numpy()
    except NotImplementedError as err:
        return "skip", f"NOTIMPL {what}: {err}"
    except Exception as err:  # noqa: BLE001  (reported)
        return "loud", f"LOUD {what}: {type(err).__name__}: {str(err)[:300]}"
    want = t.numpy()
    if got.shape != want.shape or not np.array_equal(
        got.astype(np.float64), want.astype(np.float64), equal_nan=True
    ):
        return "wrong", f"WRONG {what}:\n  got  {got.tolist()}\n  want {want.tolist()}"
    if not grad:
        return "ok", what
    return _setitem_grad(a, key, value, number, layout, rng, what)


def _setitem_grad(
    a: np.ndarray,
    key: tuple[Any, ...],
    value: Any,
    number: bool,
    layout: Any,
    rng: np.random.Generator,
    what: str,
) -> tuple[str, str]:
    """y = x * 2; y[key] = v * 3 (or a number); loss (y * w).sum(): x's and v's gradients."""
    import torch

    w = rng.standard_normal(a.shape).astype(np.float32)
    results = []
    try:
        for lib in ("torch", "pf"):
            if lib == "torch":
                x = torch.from_numpy(a.copy()).requires_grad_()
                v = None if number else torch.from_numpy(value.copy()).requires_grad_()
            else:
                x = pf.from_numpy(a.copy(), layout=layout)
                v = None if number else pf.from_numpy(value.copy())
                x.requires_grad = True
                if v is not None:
                    v.requires_grad = True
            with pf.target(pf.sim.SMALL):
                y = x * 2
                y[_key_for(key, lib)] = value if v is None else v * 3
                wt = torch.from_numpy(w) if lib == "torch" else pf.from_numpy(w)
                (y * wt).sum().backward()
                results.append([np.asarray(g.grad.numpy()) for g in (x, v) if g is not None])
    except Exception as err:  # noqa: BLE001  (reported)
        return "loud", f"LOUD {what} (gradients): {type(err).__name__}: {str(err)[:300]}"
    for want, got in zip(*results, strict=True):
        if not np.allclose(got, want, rtol=1e-5, atol=1e-5):
            return "wrong", f"WRONG {what} (gradients):\n  got  {got.tolist()}\n  want {want}"
    return "ok", what


# --------------------------------------------------------------------------- fused chains

CHAIN_DTYPES = ["f32", "f16", "bf16", "i32", "bool"]
UNARY = ["neg", "abs", "relu", "exp", "tanh", "sigmoid", "to", "not", "clamp", "pow2", "square"]
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "gt", "le", "eq", "where", "and"]
BINARY += ["or", "add_scalar", "mul_scalar"]


def _lib_dtype(name: str, lib: str) -> Any:
    import torch

    table = {
        "f32": (pf.float32, torch.float32),
        "f16": (pf.float16, torch.float16),
        "bf16": (pf.bfloat16, torch.bfloat16),
        "i32": (pf.int32, torch.int32),
        "bool": (pf.bool, torch.bool),
    }
    return table[name][0 if lib == "pf" else 1]


def _apply(op: str, xs: list[Any], lib: str, extra: Any) -> Any:
    import torch

    m = pf if lib == "pf" else torch
    a = xs[0]
    unary: dict[str, Callable[[], Any]] = {
        "neg": lambda: -a,
        "abs": lambda: a.abs(),
        "relu": lambda: m.relu(a),
        "exp": lambda: a.exp(),
        "tanh": lambda: a.tanh(),
        "sigmoid": lambda: a.sigmoid(),
        "to": lambda: a.to(_lib_dtype(extra, lib)),
        "not": lambda: ~a,
        "clamp": lambda: a.clamp(-1, 2),
        "pow2": lambda: a**2,
        "square": lambda: a * a,
    }
    if op in unary:
        return unary[op]()
    b = xs[1]
    binary: dict[str, Callable[[], Any]] = {
        "add": lambda: a + b,
        "sub": lambda: a - b,
        "mul": lambda: a * b,
        "div": lambda: a / b,
        "maximum": lambda: m.maximum(a, b),
        "minimum": lambda: m.minimum(a, b),
        "gt": lambda: a > b,
        "le": lambda: a <= b,
        "eq": lambda: a == b,
        "where": lambda: m.where(xs[2], a, b),
        "and": lambda: a & b,
        "or": lambda: a | b,
        "add_scalar": lambda: a + extra,
        "mul_scalar": lambda: a * extra,
    }
    return binary[op]()


def _accepts(op: str, ts: list[Any]) -> bool:
    import torch

    kinds = [t.dtype for t in ts]
    if op in ("exp", "tanh", "sigmoid"):
        return kinds[0].is_floating_point
    if op in ("neg", "abs", "relu", "clamp", "pow2", "square"):
        return kinds[0] != torch.bool
    if op == "not":
        return kinds[0] == torch.bool
    if op in ("and", "or"):
        return kinds[0] == kinds[1] == torch.bool
    if op == "sub":
        return torch.bool not in kinds[:2]
    if op == "where":
        return kinds[2] == torch.bool
    return True


def fused_case(seed: int, index: int) -> tuple[str, str]:
    import torch

    rng = _rng(seed, index)
    r, c = (int(v) for v in rng.integers(1, 9, 2))
    shapes: list[tuple[int, ...]] = [(r, c), (1, c), (r, 1), (c,), ()]
    layouts = [None, pf.MeshLayout.grid(2, 2), pf.MeshLayout.grid(3, 2)]
    layouts += [pf.MeshLayout.row_partition(3), pf.MeshLayout.col_partition(2)]
    layouts += [pf.MeshLayout.replicated(1, 2), pf.MeshLayout.grid(2, 3, at=(1, 1))]
    layout = layouts[int(rng.integers(len(layouts)))]
    leaves = []
    for k in range(3):
        dtype = CHAIN_DTYPES[int(rng.integers(len(CHAIN_DTYPES)))]
        shape = shapes[int(rng.integers(len(shapes)))] if k else (r, c)
        if dtype == "bool":
            a = np.asarray(rng.random(shape) < 0.5)
        elif dtype == "i32":
            a = np.asarray(rng.integers(-5, 6, shape), np.int32)
        else:  # values the half type holds exactly
            t = torch.from_numpy(np.asarray(rng.standard_normal(shape) * 2, np.float32))
            a = t.to(_lib_dtype(dtype, "torch")).float().numpy()
        leaves.append((a, dtype, layout if shape == (r, c) else None))
    pool_t = [torch.from_numpy(np.array(a)).to(_lib_dtype(d, "torch")) for a, d, _ in leaves]
    steps = []
    for _ in range(int(rng.integers(2, 9))):
        for _attempt in range(20):
            op = (UNARY + BINARY)[int(rng.integers(len(UNARY) + len(BINARY)))]
            picks = [int(rng.integers(len(pool_t))) for _ in range(3)]
            if rng.random() < 0.6:
                picks[0] = len(pool_t) - 1  # mostly a chain
            ts = [pool_t[i] for i in picks]
            if not _accepts(op, ts):
                continue
            extra = None
            if op == "to":
                extra = CHAIN_DTYPES[int(rng.integers(len(CHAIN_DTYPES)))]
            elif op.endswith("_scalar"):
                extra = [2, 0.5, -1.5, True][int(rng.integers(4))]
            try:
                pool_t.append(_apply(op, ts, "torch", extra))
            except RuntimeError:  # torch refuses the dtypes: so does PyFlame (not compared)
                continue
            steps.append((op, picks, extra))
            break
    what = f"fused seed {seed} case {index}: [{r}, {c}] on {layout}, leaves "
    what += f"{[(d, list(np.shape(a))) for a, d, _ in leaves]}, steps {steps}"
    try:
        with pf.target(pf.sim.SMALL):
            pool: list[Any] = []
            for a, dtype, lay in leaves:
                x = pf.from_numpy(np.array(a, np.float32 if "f" in dtype else None), layout=lay)
                pool.append(x.to(_lib_dtype(dtype, "pf")) if dtype in ("f16", "bf16") else x)
            for op, picks, extra in steps:
                pool.append(_apply(op, [pool[i] for i in picks], "pf", extra))
            outs = pool[3:]
            pf.eval(*outs)
            got = [np.asarray(o.numpy()) for o in outs]
    except IntegerOverflowError:  # PyFlame's int32 reports what torch's int64 holds
        return "skip", ""
    except Exception as err:  # noqa: BLE001  (reported)
        return "loud", f"LOUD {what}: {type(err).__name__}: {str(err)[:300]}"
    for k, (g, t) in enumerate(zip(got, pool_t[3:], strict=True)):
        dtype = str(t.dtype).replace("torch.", "pf.").replace("int64", "int32")
        if str(outs[k].dtype) != dtype or g.shape != tuple(t.shape):
            return "wrong", f"WRONG {what}: step {k} {outs[k].dtype} {g.shape}, torch {t}"
        want = t.float().numpy().astype(np.float64)
        if t.dtype in (torch.bool, torch.int32, torch.int64):
            same = np.array_equal(g.astype(np.float64), want)
        else:
            tol = 1e-2 if t.dtype in (torch.float16, torch.bfloat16) else 1e-5
            same = np.allclose(g.astype(np.float64), want, rtol=tol, atol=tol, equal_nan=True)
        if not same:
            return "wrong", f"WRONG {what}: step {k}\n  got  {g.tolist()}\n  want {want.tolist()}"
    return "ok", what


# --------------------------------------------------------------------------- matmul, collectives


#: `--both-engines`: the matmul and collectives sweeps run every case on both engines
#: (`_both_engines`) and fail when their outputs differ in a bit or their cycles by more than
#: 5%; `RATIOS` collects wavelet / fast cycles of every case run on both (the summary's worst)
BOTH_ENGINES = False
RATIOS: list[float] = []


class EnginesDisagree(Exception):
    """The two engines gave other outputs, or cycles more than 5% apart (`--both-engines`)."""


def _run_forced(outputs_of: Callable[[], list], target: Any, force: Callable) -> list:
    """Trace, lower to mesh, `force(module)`, lower to pe, run: the outputs as arrays (with
    `BOTH_ENGINES`, on both engines, compared)."""
    from pyflame import compiler, tracing

    if BOTH_ENGINES:
        fast, wave = _both_engines(outputs_of, force)
        for result in (fast, wave):
            if isinstance(result, Exception):
                raise result
        (f_out, f_cyc), (w_out, w_cyc) = fast, wave
        RATIOS.append(w_cyc / max(f_cyc, 1))
        same = [
            a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
            for a, b in zip(f_out, w_out, strict=True)
        ]
        if not all(same):
            raise EnginesDisagree("the engines' outputs differ")
        if abs(w_cyc - f_cyc) > 0.05 * max(f_cyc, 1):
            raise EnginesDisagree(f"cycles fast {f_cyc}, wavelet {w_cyc}")
        return f_out

    with pf.target(target), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # layout-hint advice
        tr = tracing.trace(outputs_of(), target)
        module = tr.module()
        compiler.lower(module, "mesh")
        force(module)
        outs, _ = compiler.compile_module(module).run(list(tr.inputs()))
    return [np.asarray(o) for o in outs]


def matmul_case(seed: int, index: int, algorithm: str) -> tuple[str, str]:
    from pyflame.passes.pe_lowering.matmul import set_algorithm

    rng = _rng(seed, index)
    g = int(rng.choice([2, 3, 4, 6, 8]))
    m, k, n = (int(v) for v in rng.integers(1, 70, 3))
    at = (0, 0)
    if rng.random() < 0.5:
        at = (int(rng.integers(0, 17 - g)), int(rng.integers(0, 17 - g)))
    dtype = np.float32 if rng.random() < 0.67 else np.float16
    a, b, c = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (k, n), (m, n)))
    form = str(rng.choice(["plain", "chain", "bias", "transposed"]))
    fidelity = "wavelet" if rng.random() < 0.1 else "fast"
    a64 = a.astype(np.float64)
    want = {"chain": a64 @ b @ b.T, "bias": a64 @ b + c}.get(form, a64 @ b)
    lay = pf.MeshLayout.grid(g, g, at=at)

    def outputs() -> list:
        x, y = pf.from_numpy(a, layout=lay), pf.from_numpy(b, layout=lay)
        if form == "chain":
            return [(x @ y) @ pf.from_numpy(b.T.copy(), layout=lay)]
        if form == "bias":
            return [x @ y + pf.from_numpy(c, layout=lay)]
        if form == "transposed":
            return [x @ pf.from_numpy(b.T.copy(), layout=lay).T]
        return [x @ y]

    what = f"matmul seed {seed} case {index}: {algorithm} {form} m, k, n = {m}, {k}, {n} on "
    what += f"{g}x{g} at {at}, {np.dtype(dtype).name}, {fidelity}"
    target = dataclasses.replace(pf.sim.SMALL, fidelity=fidelity)
    try:
        (got,) = _run_forced(outputs, target, lambda module: set_algorithm(module, algorithm))
    except Exception as err:  # noqa: BLE001  (reported)
        return "loud", f"LOUD {what}: {type(err).__name__}: {str(err)[:300]}"
    tol = 1e-3 if dtype == np.float32 else 6e-2
    scale = max(1.0, float(np.abs(want).max()))
    if got.shape != want.shape or not np.allclose(got, want, rtol=tol, atol=tol * scale):
        return "wrong", f"WRONG {what}: max error {np.abs(got - want).max()}"
    return "ok", what


REDUCTIONS: dict[str, tuple[Callable, Callable]] = {
    "sum": (lambda x, d: x.sum(dim=d), lambda a, d: a.sum(axis=d)),
    "max": (lambda x, d: x.amax(dim=d), lambda a, d: a.max(axis=d)),
    "min": (lambda x, d: x.amin(dim=d), lambda a, d: a.min(axis=d)),
    "mean": (lambda x, d: x.mean(dim=d), lambda a, d: a.mean(axis=d)),
}


def collectives_case(seed: int, index: int, algorithm: str) -> tuple[str, str]:
    from pyflame.core.collectives import CollectiveAlgorithm
    from pyflame.dialects import mesh

    rng = _rng(seed, index)
    gr, gc = (int(v) for v in rng.integers(1, 14, 2))
    at = (0, 0)
    if rng.random() < 0.4:
        at = (int(rng.integers(0, 17 - gr)), int(rng.integers(0, 17 - gc)))
    r, c = (int(v) for v in rng.integers(1, 40, 2))
    kind = list(REDUCTIONS)[int(rng.integers(len(REDUCTIONS)))]
    dims = [(0,), (1,), (0, 1)][int(rng.integers(3))]
    dtype = ["f32", "f32", "f16", "i32"][int(rng.integers(4))]
    if dtype == "i32" and kind == "mean":
        kind = "sum"
    fidelity = "wavelet" if rng.random() < 0.15 else "fast"
    if dtype == "i32":
        a = rng.integers(-50, 50, (r, c)).astype(np.int32)
    else:
        a = rng.standard_normal((r, c)).astype(np.float16 if dtype == "f16" else np.float32)
    ours, ref = REDUCTIONS[kind]
    lay = pf.MeshLayout.grid(gr, gc, at=at)

    def force(module: Any) -> None:
        attr = mesh.CollectiveAlgorithmAttr(CollectiveAlgorithm(algorithm))
        for op in module.walk():
            if isinstance(op, mesh.AllReduceOp | mesh.ReduceOp):
                op.properties["algorithm"] = attr

    def outputs() -> list:
        x = pf.from_numpy(a, layout=lay)
        return [ours(x, dims), ours(x * 2, dims) + 1]  # to the host, and used on the mesh

    what = f"collectives seed {seed} case {index}: {algorithm} {kind} over {dims} of [{r}, {c}] "
    what += f"{dtype} on {gr}x{gc} at {at}, {fidelity}"
    target = dataclasses.replace(pf.sim.SMALL, fidelity=fidelity)
    try:
        host, on_mesh = _run_forced(outputs, target, force)
    except Exception as err:  # noqa: BLE001  (reported)
        return "loud", f"LOUD {what}: {type(err).__name__}: {str(err)[:300]}"
    a64 = a.astype(np.float64)
    tol = 2e-2 if dtype == "f16" else 1e-4
    for got, want in ((host, ref(a64, dims)), (on_mesh, ref(2 * a64, dims) + 1)):
        scale = max(1.0, float(np.abs(want).max()))
        if got.shape != np.shape(want) or not np.allclose(got, want, rtol=tol, atol=tol * scale):
            return "wrong", f"WRONG {what}: got {got.ravel()[:6]}, want {np.ravel(want)[:6]}"
    return "ok", what


# --------------------------------------------------------------------------- both engines

MATMUL_ALGORITHMS = ("summa", "summa25d", "meshgemm", "cannon")


def _both_engines(outputs_of: Callable[[], list], force: Callable) -> tuple[Any, Any]:
    """Trace on the small target, lower to mesh, `force(module)`, lower to pe, then run the
    one pe module on the fast and on the wavelet engine: (outputs, report) or the exception,
    per engine."""
    from xdsl.parser import Parser

    from pyflame import compiler, tracing
    from pyflame.core.target import TARGET_ATTR
    from pyflame.sim.planner import compile_plan

    target = pf.sim.SMALL
    with pf.target(target), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # layout-hint advice
        tr = tracing.trace(outputs_of(), target)
        module = tr.module()
        compiler.lower(module, "mesh")
        force(module)
        compiler.lower(module, "pe")
        args = list(tr.inputs())
    text = str(module)
    results = []
    for fidelity in ("fast", "wavelet"):
        m = Parser(compiler.make_context(), text).parse_module()
        m.attributes[TARGET_ATTR] = dataclasses.replace(target, fidelity=fidelity).to_attr()
        try:
            program = compile_plan(m)
            outs, report = program.run(args)
            if fidelity == "fast":
                # bit for bit against the wavelet engine: every step in the plan's order
                # (`run` fuses a SUMMA loop's products: the same to fp32 rounding, checked)
                exact, _, _ = program.run_on_sram(args)
                for fused, step_by_step in zip(outs, exact, strict=True):
                    scale = max(1.0, float(np.abs(step_by_step).max(initial=0.0)))
                    if not np.allclose(fused, step_by_step, rtol=1e-5, atol=1e-5 * scale):
                        raise EnginesDisagree("the fast engine's run and run_on_sram differ")
                outs = exact
            results.append(([np.asarray(o) for o in outs], report.cycles))
        except Exception as err:  # noqa: BLE001  (reported)
            results.append(err)
    return results[0], results[1]


def chains_case(seed: int, index: int, algorithm: str) -> tuple[str, str]:
    """A chain of 2-4 products (some with a transposed operand), perhaps then a sum over a dim,
    its inputs hinted on g x g grids (2-8) at their own origins inside 16 x 16 PEs (the
    wavelet engine's limit), the algorithm forced (a matmul one on every mesh.matmul, or a
    collective one on every mesh.reduce / allreduce), run on both engines: the same outputs
    (bit for bit), numpy's values, cycles within 5%; an error on either is a failure."""
    from pyflame.core.collectives import CollectiveAlgorithm
    from pyflame.dialects import mesh
    from pyflame.passes.pe_lowering.matmul import set_algorithm

    rng = _rng(seed, index)
    g = int(rng.integers(2, 9))
    products = int(rng.integers(2, 5))
    dims = [int(v) for v in rng.integers(1, 30, products + 2)]

    def origin() -> tuple[int, int]:
        if rng.random() < 0.3:
            return (0, 0)
        return (int(rng.integers(0, 17 - g)), int(rng.integers(0, 17 - g)))

    # op i multiplies the running [dims[0], dims[i]] value by a [dims[i], dims[i+1]] matrix,
    # some stored transposed (used as `w.T`); the chain may end with a sum over a dim
    a = rng.standard_normal((dims[0], dims[1])).astype(np.float32)
    a_at = origin()
    steps: list[tuple[np.ndarray, bool, tuple[int, int]]] = []
    want = a.astype(np.float64)
    for i in range(1, products + 1):
        w = rng.standard_normal((dims[i], dims[i + 1])).astype(np.float32)
        t = bool(rng.random() < 0.4)
        steps.append((w.T.copy() if t else w, t, origin()))
        want = want @ w.astype(np.float64)
    tail = str(rng.choice(["none", "sum0", "sum1"]))
    if tail != "none":
        want = want.sum(axis=int(tail[-1]))

    def outputs() -> list:
        x = pf.from_numpy(a, layout=pf.MeshLayout.grid(g, g, at=a_at))
        for w, t, at in steps:
            y = pf.from_numpy(w, layout=pf.MeshLayout.grid(g, g, at=at))
            x = x @ (y.T if t else y)
        if tail != "none":
            x = x.sum(int(tail[-1]))
        return [x]

    def force(module: Any) -> None:
        if algorithm in MATMUL_ALGORITHMS:
            set_algorithm(module, algorithm)
            return
        attr = mesh.CollectiveAlgorithmAttr(CollectiveAlgorithm(algorithm))
        for op in module.walk():
            if isinstance(op, mesh.AllReduceOp | mesh.ReduceOp):
                op.properties["algorithm"] = attr

    shapes = " @ ".join(
        [f"{list(a.shape)} at {a_at}"]
        + [f"{list(w.shape)}{'.T' * t} at {at}" for w, t, at in steps]
    )
    what = f"chains seed {seed} case {index}: {algorithm} {shapes} on {g}x{g}, tail {tail}"
    fast, wave = _both_engines(outputs, force)
    if isinstance(fast, Exception) or isinstance(wave, Exception):
        names = [type(r).__name__ if isinstance(r, Exception) else "ok" for r in (fast, wave)]
        err = fast if isinstance(fast, Exception) else wave
        return "loud", f"LOUD {what}: fast {names[0]}, wavelet {names[1]}: {str(err)[:300]}"
    (f_out,), f_cyc = fast
    (w_out,), w_cyc = wave
    RATIOS.append(w_cyc / max(f_cyc, 1))
    # bit for bit: both engines make the same numpy calls on the same tiles (docs/simulator.md,
    # "Views instead of copies"; the 3.8e-6 of seed 1 case 2 was a fast-engine shortcut)
    if f_out.shape != w_out.shape or not np.array_equal(f_out, w_out, equal_nan=True):
        diff = np.abs(f_out - w_out).max() if f_out.shape == w_out.shape else "shapes"
        return "wrong", f"WRONG {what}: the engines' outputs differ ({diff})"
    if abs(w_cyc - f_cyc) > 0.05 * max(f_cyc, 1):
        return "wrong", f"WRONG {what}: cycles fast {f_cyc}, wavelet {w_cyc}"
    scale = max(1.0, float(np.abs(want).max()))
    if f_out.shape != want.shape or not np.allclose(f_out, want, rtol=1e-3, atol=1e-3 * scale):
        return "wrong", f"WRONG {what}: max error {np.abs(f_out - want).max()}"
    return "ok", what


SWEEPS: dict[str, Callable[..., tuple[str, str]]] = {
    "setitem": lambda s, i, _: setitem_case(s, i),
    "setitem-grad": lambda s, i, _: setitem_case(s, i, grad=True),
    "fused": lambda s, i, _: fused_case(s, i),
    "matmul": matmul_case,
    "collectives": collectives_case,
    "chains": chains_case,
    "lean": lean_case,
    "grids": grids_case,
}


def sweep(name: str, seed: int, cases: int, start: int = 0, algorithm: str = "") -> Outcome:
    """Run cases start..start+cases-1 of sweep `name`, printing failures as they come."""
    case = SWEEPS[name]
    default = {"matmul": "summa25d", "collectives": "ktree", "chains": "summa"}.get(name, "")
    out = Outcome()
    for index in range(start, start + cases):
        verdict, text = case(seed, index, algorithm or default)
        if verdict == "ok":
            out.ok += 1
        elif verdict == "skip":
            out.skipped += 1
        else:
            (out.wrong if verdict == "wrong" else out.loud).append(text)
            print(text, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz.sweeps",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sweep", choices=sorted(SWEEPS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--algorithm", default="", help="matmul / collective algorithm forced")
    parser.add_argument(
        "--both-engines",
        action="store_true",
        help="matmul / collectives: every case on both engines, bit for bit, cycles within 5%%",
    )
    args = parser.parse_args(argv)
    global BOTH_ENGINES
    BOTH_ENGINES = args.both_engines
    out = sweep(args.sweep, args.seed, args.cases, args.start, args.algorithm)
    if RATIOS:
        worst = max(RATIOS, key=lambda r: abs(r - 1))
        print(f"cycles wavelet / fast: worst {worst:.3f} over {len(RATIOS)} cases")
    name = args.sweep + (f" ({args.algorithm})" if args.algorithm else "")
    print(out.summary(name, args.cases))
    return 1 if out.failures else 0


if __name__ == "__main__":
    sys.exit(main())
