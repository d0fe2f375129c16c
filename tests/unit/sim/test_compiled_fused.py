"""Fused expressions compiled (pyflame/sim/compiled/fused_kernels.py): once hot, the kernel of an
expression writes the bits `fused_expr.evaluate` writes (a NaN's sign and payload aside), over
lane-major planes, inputs shared along PE rows or columns, one-element inputs, broadcasts, bool
inputs and results; what it does not compute as numpy does stays numpy's."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from pyflame.core import fused_expr
from pyflame.sim import compiled
from pyflame.sim.compiled import fused_kernels
from pyflame.sim.compiled.fused_kernels import (
    HOT_RUNS,
    HOT_SMALL_RUNS,
    Runner,
    Unsupported,
    op_runner,
)

numba = pytest.importorskip("numba")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (inf - inf, on purpose)

ROWS, COLS = 40, 48  # (1,920 PEs: past compiled.MIN_WORK with 9 elements a tile)


def _values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    v = (rng.standard_normal(shape) * 2).astype(np.float32)
    flat = v.reshape(-1)
    flat[::7] = 0.0
    flat[::11] = -0.0
    flat[::23] = np.inf
    flat[::29] = np.nan
    flat[::31] = -np.inf
    flat[::13] = 1.0  # (ties for compares, maximum and minimum)
    return v


def _lane_major(t: np.ndarray) -> np.ndarray:
    """(rows, cols, n) tiles held as (n, rows, cols) planes, as lane-major SRAM holds them."""
    return np.ascontiguousarray(t.transpose(2, 0, 1)).transpose(1, 2, 0)


def _same(got: np.ndarray, want: np.ndarray) -> bool:
    nan = np.isnan(want) if want.dtype.kind == "f" else np.zeros(want.shape, bool)
    return bool((np.isnan(got) == nan).all() if got.dtype.kind == "f" else True) and (
        got[~nan].tobytes() == want[~nan].tobytes()
    )


@pytest.fixture
def fresh_kernel_cache(monkeypatch, tmp_path):
    """An empty kernel cache, and no generated kernel imported (the source of a kernel leaves
    out its constants: another test's may be this one's)."""
    monkeypatch.setenv("PYFLAME_KERNEL_CACHE", str(tmp_path))
    for name in [n for n in sys.modules if n.startswith("pyflame_kernel_")]:
        monkeypatch.delitem(sys.modules, name)
    return tmp_path


def _check(text: str, inputs: list[np.ndarray], n: int, out_dtype=np.float32) -> None:
    steps = fused_expr.parse(text)
    sizes = [t.shape[2] for t in inputs]
    want = np.zeros((ROWS, COLS, n), out_dtype)
    fused_expr.evaluate(steps, inputs, (ROWS, COLS), n, want)
    runner = Runner(steps, sizes, n)
    got = _lane_major(np.full((ROWS, COLS, n), 7, out_dtype))
    for run in range(HOT_RUNS):
        done = runner.run(inputs, got)
        assert done == (run == HOT_RUNS - 1), f"run {run}"  # (compiled from the HOT_RUNS-th)
    assert _same(got, want), text


N = 9


def test_arithmetic_compares_and_selects_give_numpys_bits():
    rng = np.random.default_rng(0)
    a, b, c = (_lane_major(_values(rng, (ROWS, COLS, N))) for _ in range(3))
    for text in [
        "add.f32($0, $1)",
        "sub.f32($0, $1); mul.f32(%0, $2)",
        "div.f32($0, $1); neg.f32(%0); abs.f32(%1)",
        "relu.f32($0)",
        "maximum.f32($0, $1); minimum.f32(%0, $2)",
        "le.i1($0, $1); select.f32(%0, $1, $2)",
        "lt.i1($0, $1); gt.i1($1, $2); logical_and.i1(%0, %1); logical_not.i1(%2); convert.f32(%3)",
        "eq.i1($0, $1); ne.i1($1, $2); logical_or.i1(%0, %1); select.f32(%2, $0, $2)",
        "mul.f32($0, 1.5:f32); add.f32(%0, 0.25:f32); sub.f32($1, %1); scale.f32(%2, 3.0:f32)",
        "convert.i1($0); convert.f32(%0); add.f32(%1, $2)",
        # (constants of every kind: passed as bits, not written into the source)
        "mul.f32($0, inf:f32); add.f32(%0, nan:f32); maximum.f32(%1, -0.0:f32)",
        "minimum.f32($0, -inf:f32); sub.f32($1, 1e-45:f32); div.f32(%1, 3.4028235e38:f32)",
        "gt.i1($0, 0.0:f32); lt.i1($1, 0.0:f32); add.i1(%0, %1); mul.i1(%2, %0); convert.f32(%3)",
    ]:
        _check(text, [a, b, c], N)


def test_shared_one_element_broadcast_and_bool_operands():
    rng = np.random.default_rng(1)
    full = _lane_major(_values(rng, (ROWS, COLS, N)))
    row = np.broadcast_to(_values(rng, (1, COLS, N)), (ROWS, COLS, N))  # (a zero stride)
    col = _values(rng, (ROWS, 1, N))
    one = _lane_major(_values(rng, (ROWS, COLS, 1)))
    lanes = _lane_major(_values(rng, (ROWS, COLS, 3)))
    mask = _lane_major(rng.random((ROWS, COLS, N)) < 0.5)
    _check("mul.f32($0, $1); add.f32($2, %0); sub.f32(%1, $3)", [full, one, row, col], N)
    _check("broadcast.f32($0, 1x3, 3x3); add.f32($1, %0)", [lanes, full], N)
    _check("broadcast.f32($0, 3x1, 3x3); mul.f32($1, %0)", [lanes, full], N)
    _check("broadcast.f32($0, 1x1, 3x3); sub.f32($1, %0)", [one, full], N)
    # (a value computed from one-element inputs, broadcast across the elements)
    _check("div.f32(1.0:f32, $0); broadcast.f32(%0, 1x1, 3x3); mul.f32($1, %1)", [one, full], N)
    _check("select.f32($0, $1, $2)", [mask, full, row], N)
    _check("lt.i1($0, $1)", [full, col], N, np.bool_)
    _check("logical_and.i1($0, $1)", [mask, mask], N, np.bool_)


def test_what_the_kernels_do_not_compute_stays_numpys():
    for text, sizes in [
        ("exp.f32($0)", [N]),  # (numpy's SIMD exp: its own bits)
        ("add.f16($0, $0)", [N]),
        ("add.f32($0, $0); broadcast.f32(%0, 1x3, 3x3)", [N]),  # (a computed value across)
    ]:
        with pytest.raises(Unsupported):
            fused_kernels.source(fused_expr.parse(text), sizes, N, [(False, False)], False)
    rng = np.random.default_rng(2)
    a = _lane_major(_values(rng, (ROWS, COLS, N)))
    runner = Runner(fused_expr.parse("exp.f32($0)"), [N], N)
    out = np.zeros_like(a)
    assert not any(runner.run([a], out) for _ in range(HOT_RUNS + 1))
    assert not out.any()
    # decided once, by the steps alone: the later runs refuse before looking at the operands
    assert runner._compilable is False
    assert not runner.run([None], out)  # type: ignore[list-item]  # (never looked at)


@pytest.mark.parametrize(
    "text",
    [
        "exp.f32($0); mul.f32(%0, $1)",
        "mul.f32($0, $1); add.f32(%0, $0)",
        "add.f32($0, $1); broadcast.f32(%0, 1x3, 3x3)",
        "broadcast.f32($1, 1x1, 3x3); select.f32($0, %0, $1)",
    ],
)
def test_whether_an_expression_compiles_does_not_depend_on_its_operands(text):
    """`Runner` asks once whether the kernels compute an expression: so the answer must be the
    same for every sharing of the inputs along PE rows or columns and every bool input."""
    steps = fused_expr.parse(text)
    sizes = [N, N if "1x1" not in text else 1]
    answers = set()
    for shared in [(False, False), (True, False), (False, True)]:
        for bools in [(False, False), (True, False), (False, True)]:
            for bool_out in (False, True):
                try:
                    fused_kernels.source(steps, sizes, N, [shared, shared], bool_out, bools)
                    answers.add(True)
                except Unsupported:
                    answers.add(False)
    assert answers == {Runner(steps, sizes, N)._can_compile()}


def test_small_steps_pe_major_results_and_overlaps(monkeypatch, fresh_kernel_cache):
    rng = np.random.default_rng(3)
    steps = fused_expr.parse("mul.f32($0, 2.0:f32); add.f32($1, %0)")
    a = _lane_major(_values(rng, (ROWS, COLS, N)))
    b = _lane_major(_values(rng, (ROWS, COLS, N)))
    runner = Runner(steps, [N, N], N)
    for _ in range(HOT_RUNS - 1):
        runner.run([a, b], np.zeros_like(a))
    # a step on few elements: compiled in a long loop only
    small, x, y = Runner(steps, [1, 1], 1), a[:, :, :1], b[:, :, :1]
    out = np.zeros((ROWS, COLS, 1), np.float32)
    done = [small.run([x, y], out) for _ in range(HOT_SMALL_RUNS)]
    assert not any(done[:-1]) and done[-1]
    assert _same(out, y + x * np.float32(2.0))
    # small tiles held PE-major (a PE row's 4 lanes contiguous): compiled too, strided
    pe_major = Runner(steps, [4, 4], 4)
    x, y = _values(rng, (2, COLS, 4)), _lane_major(_values(rng, (2, COLS, 4)))
    out = np.zeros((2, COLS, 4), np.float32)
    assert [pe_major.run([x, y], out) for _ in range(HOT_SMALL_RUNS)][-1]
    assert _same(out, y + x * np.float32(2.0))
    assert not runner.run([a, b], np.zeros((ROWS, COLS, N), np.float32))  # (PE-major: numpy's)
    # the result in place of an input read element by element: compiled; shifted by one
    # element (it would read what it wrote): numpy's
    in_place = _lane_major(b)
    want = b + a * np.float32(2.0)
    assert runner.run([a, in_place], in_place) and _same(in_place, want)
    planes = np.zeros((N + 1, ROWS, COLS), np.float32)
    shifted = planes.transpose(1, 2, 0)
    assert not runner.run([a, shifted[:, :, 1:]], shifted[:, :, :N])
    monkeypatch.setattr(compiled, "_enabled", False)
    assert not runner.run([a, b], _lane_major(np.zeros((ROWS, COLS, N), np.float32)))


def test_one_op_runners_relu_select_compare():
    rng = np.random.default_rng(4)
    a, b = (_lane_major(_values(rng, (ROWS, COLS, N))) for _ in range(2))
    mask = _lane_major(rng.random((ROWS, COLS, N)) < 0.5)
    for runner, ins, want in [
        (op_runner("relu", "f32", [N], N), [a], np.where(a < 0, np.float32(0), a)),
        (op_runner("select", "f32", [N, N, N], N), [mask, a, b], np.where(mask, a, b)),
        (op_runner("le", "i1", [N, N], N), [a, b], a <= b),
    ]:
        out = _lane_major(np.zeros(want.shape, want.dtype))
        assert [runner.run(ins, out) for _ in range(HOT_RUNS)][-1]
        assert _same(out, want)


def test_a_kernel_cache_it_cannot_write_leaves_numpys_path(monkeypatch, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("PYFLAME_KERNEL_CACHE", str(blocked / "kernels"))
    for name in [n for n in sys.modules if n.startswith("pyflame_kernel_")]:
        monkeypatch.delitem(sys.modules, name)  # (loaded by earlier tests: not from the cache)
    rng = np.random.default_rng(5)
    a = _lane_major(_values(rng, (ROWS, COLS, N)))
    runner = Runner(fused_expr.parse(f"mul.f32($0, {rng.random()!r}:f32)"), [N], N)
    out = _lane_major(np.zeros((ROWS, COLS, N), np.float32))
    assert not any(runner.run([a], out) for _ in range(HOT_RUNS + 1))


@pytest.fixture(autouse=True)
def _no_kernel_refused():
    """Every kernel these tests generate compiles (a refused one would silently run numpy)."""
    before = len(fused_kernels.REFUSED)
    yield
    assert fused_kernels.REFUSED[before:] == []


def test_a_kernel_numba_refuses_runs_numpy(monkeypatch):
    rng = np.random.default_rng(6)
    a = _lane_major(_values(rng, (ROWS, COLS, N)))
    runner = Runner(fused_expr.parse("neg.f32($0)"), [N], N)
    broken = "import numba\n\n@numba.njit\ndef kernel(*args):\n    return undefined_name\n"
    monkeypatch.setattr(fused_kernels._Writer, "write", lambda self, steps, bool_out: broken)
    out = _lane_major(np.zeros((ROWS, COLS, N), np.float32))
    assert not any(runner.run([a], out) for _ in range(HOT_RUNS + 1))
    assert not out.any() and fused_kernels.REFUSED[-1][0] == "neg.f32($0)"
    del fused_kernels.REFUSED[-1]  # (refused on purpose)


def test_a_call_kept_for_an_srams_views_reads_their_values_then():
    """`run(..., bound)` keeps the call it made on views of an SRAM (its `derived` dict);
    `run_bound` makes it again: the values the views hold by then, the bits `run` gives. An
    input in flight (`flights`: new at every run) is left out of the kept call and filled in
    by each `run_bound`, unless it is laid out otherwise or overlaps the result. A plane
    copied for the kernel (a broadcast input held strided) is not kept: the copy would be
    stale."""
    rng = np.random.default_rng(8)
    a, b = (_lane_major(_values(rng, (ROWS, COLS, N))) for _ in range(2))
    runner = Runner(fused_expr.parse("mul.f32($0, $1); add.f32(%0, $0)"), [N, N], N)
    out = _lane_major(np.zeros((ROWS, COLS, N), np.float32))
    bound: dict = {}
    assert not runner.run_bound(bound)
    assert [runner.run([a, b], out, bound) for _ in range(HOT_RUNS)][-1]
    assert runner.run_bound(bound) and not runner.run_bound({}) and not runner.run_bound(None)
    a[...] = _values(rng, (ROWS, COLS, N))  # (new values in the same memory)
    assert runner.run_bound(bound)
    assert _same(out, a * b + a)
    # b in flight: each run_bound takes this run's array
    flying = Runner(fused_expr.parse("sub.f32($0, $1)"), [N, N], N)
    kept: dict = {}
    assert [flying.run([a, b], out, kept, (1,)) for _ in range(HOT_RUNS)][-1]
    other = _lane_major(_values(rng, (ROWS, COLS, N)))
    assert flying.run_bound(kept, [other], (1,)) and _same(out, a - other)
    assert not flying.run_bound(kept, [np.ascontiguousarray(other)], (1,))  # (laid out otherwise)
    assert not flying.run_bound(kept, [out], (1,))  # (the result itself)
    assert not flying.run_bound(kept)  # (the step reading b from SRAM: another call)
    # a row shared by every PE row, its planes strided: copied for the kernel, not kept
    row = np.zeros((N, 2, COLS), np.float32)[:, :1].transpose(1, 2, 0)
    row[...] = _values(rng, (1, COLS, N))
    shared = Runner(fused_expr.parse("add.f32($0, $1)"), [N, N], N)
    none: dict = {}
    assert [shared.run([np.broadcast_to(row, (ROWS, COLS, N)), b], out, none) for _ in range(3)][-1]
    assert _same(out, row + b) and not shared.run_bound(none)


def test_training_steps_on_kept_calls_give_the_numpy_paths_bits(monkeypatch):
    """A training loop's cached program, its fused, elementwise and chain steps compiled at
    their first run and then made again from the calls kept for each SRAM (two SRAMs take
    turns: device arrays borrow one), gives the parameters the numpy path gives, bit for bit;
    `set_enabled(False)` turns the kept calls off too."""
    import pyflame as pf
    from pyflame import nn, optim

    monkeypatch.setattr(compiled, "MIN_WORK", 0)
    monkeypatch.setattr(fused_kernels, "HOT_RUNS", 1)
    monkeypatch.setattr(fused_kernels, "HOT_SMALL_RUNS", 1)
    rng = np.random.default_rng(9)
    xs = rng.standard_normal((12, 20)).astype(np.float32)
    ys = rng.integers(0, 5, 12).astype(np.int32)

    def train(on: bool) -> list[bytes]:
        before = compiled.set_enabled(on)
        try:
            with pf.sim.target(pf.sim.SMALL):
                pf.manual_seed(0)
                model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 5))
                opt = optim.SGD(model.parameters(), lr=0.1)
                x, y = pf.from_numpy(xs), pf.from_numpy(ys)
                for _ in range(6):
                    loss = nn.functional.cross_entropy(model(x), y)
                    loss.backward()
                    opt.step()
                    loss.item()
                return [p.numpy().tobytes() for p in model.parameters()]
        finally:
            compiled.set_enabled(before)

    compiled_bits = train(True)
    assert not fused_kernels.REFUSED
    assert train(False) == compiled_bits
    assert train(True) == compiled_bits  # (the kept calls again)


def test_the_environment_switch_is_read_at_import():
    import subprocess

    code = "from pyflame.sim import compiled; print(compiled.enabled())"
    env = {**__import__("os").environ, compiled.ENV_SWITCH: "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
    assert compiled.set_enabled(False) is True and not compiled.enabled()
    assert compiled.set_enabled(True) is False and compiled.enabled()


def test_a_small_step_whose_kernel_is_on_disk_compiles_early(fresh_kernel_cache):
    """A step on fewer than MIN_WORK elements waits HOT_SMALL_RUNS runs for a first compile
    (~0.5 s); once its kernel is in the kernel cache, another step of it takes the kernel from
    its HOT_RUNS-th run (a load: a training loop's small steps, compiled by an earlier run)."""
    rng = np.random.default_rng(10)
    a, b = (_lane_major(_values(rng, (2, 8, 3))) for _ in range(2))  # (48 elements: small)
    text = "sub.f32($0, $1); mul.f32(%0, 0.375:f32)"  # (a kernel of its own: a fresh cache)

    def runs_to_compile() -> int:
        runner = Runner(fused_expr.parse(text), [3, 3], 3)
        out = _lane_major(np.zeros((2, 8, 3), np.float32))
        for run in range(1, HOT_SMALL_RUNS + 1):
            if runner.run([a, b], out):
                assert _same(out, (a - b) * np.float32(0.375))
                return run
        return 0

    assert runs_to_compile() == HOT_SMALL_RUNS
    assert runs_to_compile() == HOT_RUNS
