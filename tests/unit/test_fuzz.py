"""The differential fuzzer's fast slice, and checks of the fuzzer itself.

Each of FAST_PROGRAMS random programs (tests/fuzz/programs.py) is its own test, named by its
seed: a failure prints the program as a pytest function for tests/unit/test_fuzz_regressions.py,
and `python -m tests.fuzz.run --seed 1000 --index N` runs it alone (`--mode grad` etc. for the
other modes' slice). The targeted sweeps (tests/fuzz/sweeps.py) have a slice here too. The long run is `python -m tests.fuzz.run --programs 2000 --seed 0 --jobs 1`
(benchmarks/RESULTS.md).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.fuzz` lives in the checkout, not in the package
    sys.path.insert(0, str(ROOT))

from tests.fuzz import modes, programs, sweeps  # noqa: E402

FAST_SEED = 1000
FAST_PROGRAMS = 40
#: the fast slice of the other modes (tests/fuzz/modes.py): programs per mode
FAST_MODES = {"grad": 16, "rebuild": 6, "threads": 2}
#: programs of each slice the default run takes; the rest run in the slow suite
DEFAULT_PROGRAMS = {"mixed": 24, "grad": 10, "rebuild": 6, "threads": 2}


def _slice(mode: str, n: int) -> list:
    """Indices 0..n-1, those from DEFAULT_PROGRAMS[mode] on marked slow."""
    keep = DEFAULT_PROGRAMS[mode]
    return [i if i < keep else pytest.param(i, marks=pytest.mark.slow) for i in range(n)]


@pytest.mark.parametrize(
    "index", _slice("mixed", FAST_PROGRAMS), ids=lambda i: f"seed{FAST_SEED}-{i}"
)
def test_random_program(index):
    program = programs.program_for(FAST_SEED, index)
    outcome = program.run()
    assert outcome.ok, outcome.report()
    assert outcome.cycles[0] == outcome.cycles[1]


@pytest.mark.parametrize(
    "mode,index",
    [
        (m, i) if i < DEFAULT_PROGRAMS[m] else pytest.param(m, i, marks=pytest.mark.slow)
        for m, n in FAST_MODES.items()
        for i in range(n)
    ],
    ids=lambda v: str(v),
)
def test_random_program_in_mode(mode, index):
    """`python -m tests.fuzz.run --seed 1000 --mode MODE --index N` runs it alone."""
    program = programs.program_for(FAST_SEED, index, mode=mode)
    outcome = program.run()
    assert outcome.ok, "\n".join(map(str, outcome.failures)) + "\n" + program.describe()


#: the targeted sweeps' fast slice (tests/fuzz/sweeps.py): cases per sweep, seed FAST_SEED
FAST_SWEEPS = {
    "setitem": 16,
    "setitem-grad": 10,
    "fused": 16,
    "matmul": 4,
    "collectives": 6,
    "chains": 2,
    "lean": 8,
}


@pytest.mark.parametrize(
    "name,cases",
    # the default run takes the first half of each slice; the slow suite the whole of it
    [
        param
        for name, n in FAST_SWEEPS.items()
        for param in ((name, -(-n // 2)), pytest.param(name, n, marks=pytest.mark.slow))
    ],
    ids=lambda v: str(v),
)
def test_sweep_slice(name, cases):
    """`python -m tests.fuzz.sweeps NAME --seed 1000 --cases N` runs it alone."""
    out = sweeps.sweep(name, FAST_SEED, cases)
    assert not out.failures, "\n".join(out.failures)
    assert out.ok >= cases * 2 // 3  # few skipped: the cases are checked


def test_the_lean_sweep_catches_a_run_that_differs(monkeypatch):
    """A wrong lean run (an output off by 1e-3 of its magnitude) is a WRONG case, and so is
    a plan step that runs differently from run_on_sram (tests/fuzz/lean.py)."""
    from pyflame.sim.executable import Executable

    run = Executable.run

    def off(self, args=()):
        outs, report = run(self, args)
        return [o + np.asarray(1e-3 * (1 + np.abs(o).max()), o.dtype) for o in outs], report

    monkeypatch.setattr(Executable, "run", off)
    verdict, text = sweeps.SWEEPS["lean"](FAST_SEED, 0, "")
    assert verdict == "wrong" and "run and run_on_sram differ" in text, text


# ----------------------------------------------------------------------------- the fuzzer itself


def test_every_enabled_op_is_generated():
    enabled = {spec.name for spec in programs.enabled_ops()}
    seen: set[str] = set()
    for i in range(600):  # about 300 programs make every one of the ~240 entries
        seen.update(programs.program_for(7, i).op_counts())
        if enabled <= seen:
            break
    assert enabled - seen == set()


def test_programs_are_deterministic_and_described():
    a, b = programs.program_for(3, 5), programs.program_for(3, 5)
    assert a.describe() == b.describe()
    assert a.describe() != programs.program_for(3, 6).describe()


@pytest.mark.parametrize(
    "mode,index",
    [
        ("value", 0),
        ("value", 1),
        ("value", 2),
        ("grad", 0),
        ("grad", 1),
        ("rebuild", 0),
        ("threads", 1),
    ],
)
def test_describe_is_a_passing_pytest_function(mode, index, monkeypatch):
    """The reproducer printed for a failure is runnable as it is."""
    program = programs.program_for(FAST_SEED, index, mode=mode)
    namespace: dict = {}
    exec(compile(program.describe("test_repro"), "<describe>", "exec"), namespace)
    namespace["test_repro"]()


def _only(*names: str, **changes) -> list[programs.OpSpec]:
    specs = [programs.OPS_BY_NAME[n] for n in names]
    return [dataclasses.replace(s, **changes) if s.creation else s for s in specs]


def test_a_wrong_result_is_caught():
    """An add whose reference is off by 1e-4 (relative) is reported as a mismatch."""
    wrong = dataclasses.replace(programs.OPS_BY_NAME["add"], np="({0} + {1}) * (1 + 1e-4)")
    specs = _only("from_numpy", dtypes=(frozenset({"float32"}),)) + [wrong]
    caught = 0
    for i in range(5):
        outcome = programs.random_program(np.random.default_rng([99, i]), ops=specs).run()
        caught += any(f.kind == "mismatch" for f in outcome.failures)
    assert caught == 5


def test_a_wrong_dtype_is_caught():
    wrong = dataclasses.replace(programs.OPS_BY_NAME["add"], result="float16")
    specs = _only("from_numpy", dtypes=(frozenset({"float32"}),)) + [wrong]
    outcome = programs.random_program(np.random.default_rng(1), ops=specs).run()
    assert [f.kind for f in outcome.failures] == ["shape"]
    assert "pf.float16" in outcome.failures[0].message


def test_known_bugs_have_regression_tests():
    text = (Path(__file__).parent / "test_fuzz_regressions.py").read_text()
    for name in programs.KNOWN_BUGS:
        at = text.find(f"\ndef {name}(")
        assert at >= 0, f"no test {name} in test_fuzz_regressions.py"
        decorators = text[text.rfind("\n\n", 0, at) : at]
        assert "@pytest.mark.xfail(strict=True" in decorators, name


DTYPES = ["bool", "int32", "float16", "bfloat16", "float32"]


def test_promotion_matches_torch():
    """The fuzzer's expected result dtypes are torch.result_type's (int64 read as int32)."""
    torch = pytest.importorskip("torch")
    torch_dtype = {
        "bool": torch.bool,
        "int32": torch.int32,
        "float16": torch.float16,
        "bfloat16": torch.bfloat16,
        "float32": torch.float32,
    }
    name = {v: k for k, v in torch_dtype.items()} | {torch.int64: "int32"}
    for a in DTYPES:
        for b in DTYPES:
            for na in (0, 1):
                for nb in (0, 1):
                    x = torch.zeros([2] * na, dtype=torch_dtype[a])
                    y = torch.zeros([2] * nb, dtype=torch_dtype[b])
                    want = name[torch.result_type(x, y)]
                    assert programs.promote([(a, na), (b, nb)]) == want, (a, na, b, nb)
        for scalar in (True, 2, 2.5):
            x = torch.zeros([2], dtype=torch_dtype[a])
            want = name[torch.result_type(x, scalar)]
            assert programs.promote([(a, 1)], [scalar]) == want, (a, scalar)


def test_registry_references_and_dtypes_match_torch():
    """Every registry entry's numpy reference and result dtype rule are PyTorch's: a few small
    programs of each, their PyFlame text run with torch (modes.check_entry_against_torch; no
    PyFlame run: a wrong reference or dtype rule is told apart from a PyFlame bug)."""
    pytest.importorskip("torch")
    failures = {}
    for spec in programs.enabled_ops():
        if spec.creation or spec.random:
            continue
        checked, problems = modes.check_entry_against_torch(spec.name, programs=3)
        if problems or not checked:
            failures[spec.name] = problems[:2] or ["never generated"]
    assert not failures, failures


def test_pad_widths_are_valid_for_torch():
    """pad_attrs generates only widths torch accepts (it crops by the negative widths before
    it pads, so the crops must fit: seed 0 program 1348 padded a [1, 17] tensor by (3, -2)),
    and the numpy reference (crop, then pad) has torch's shape."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for shape in [(1, 17), (2, 1), (1,), (3, 1, 2)]:
        for _ in range(200):
            attrs = programs.pad_attrs(programs.Ctx(rng, (shape,), ("float32",)))
            if attrs is None:
                continue
            x = np.zeros(shape, np.float32)
            got = torch.nn.functional.pad(torch.from_numpy(x), attrs["pads"]).shape
            crop = str(attrs["crop"]) or "[...]"
            ref = eval(f"np.pad(x{crop}, {attrs['np_pad']!r})")  # noqa: S307
            assert tuple(got) == ref.shape, (shape, attrs["pads"])


def test_minimize_keeps_the_failure():
    wrong = dataclasses.replace(programs.OPS_BY_NAME["neg"], np="{0}")  # neg is not identity
    specs = _only("from_numpy", dtypes=(frozenset({"float32"}),)) + [
        programs.OPS_BY_NAME["add"],
        programs.OPS_BY_NAME["relu"],
        wrong,
    ]
    for i in range(20):
        program = programs.random_program(np.random.default_rng([5, i]), ops=specs)
        outcome = program.run()
        if outcome.failures and len(program.nodes) > 4:
            break
    else:
        pytest.fail("no failing program to minimize")
    small = programs.minimize(program, outcome)
    assert len(small.nodes) < len(program.nodes)
    assert any(f.kind == "mismatch" for f in small.run().failures)
    assert "neg" in small.op_counts() or any("-" in n.pf_code for n in small.nodes)


# ----------------------------------------------------------------------------- the other modes


def test_mixed_mode_is_reproducible_by_seed_and_index():
    chosen = [modes.mode_for(0, i) for i in range(200)]
    assert set(chosen) == set(modes.MODES)
    assert chosen == [modes.mode_for(0, i) for i in range(200)]
    a, b = programs.program_for(0, 7, mode="mixed"), programs.program_for(0, 7, mode="mixed")
    assert a.describe() == b.describe()


def test_grad_programs_use_edge_inputs():
    """Ties, zeros, constant rows, -inf and NaN reach the differentiated programs."""
    text = "\n".join(programs.program_for(3, i, mode="grad").describe() for i in range(60))
    for edge in (
        "integers(-2, 3",
        "< 0.4, 0.0",
        "np.broadcast_to(",
        "-np.inf",
        "np.nan",
        ".requires_grad = True",
        "pf.backward(loss)",
        "loss.backward()",
    ):
        assert edge in text, edge


def test_a_wrong_gradient_is_caught(monkeypatch):
    """A gradient rule off by 1% is reported against torch.autograd."""
    from pyflame import gradients
    from pyflame.dialects.flame import ExpOp

    rule = gradients.GRADIENTS[ExpOp]
    monkeypatch.setitem(
        gradients.GRADIENTS, ExpOp, lambda node, g: [gi * 1.01 for gi in rule(node, g)]
    )
    specs = [s for s in modes.grad_specs() if s.name in ("from_numpy", "exp", "add", "sum")]
    caught = 0
    for i in range(8):  # exp reaches the loss from a leaf that requires grad in 1, 4, 7
        program = modes.random_grad_program(np.random.default_rng([11, i]), ops=specs)
        if "exp" in program.op_counts():
            caught += any(f.kind == "grad-mismatch" for f in program.run().failures)
    assert caught >= 3


def test_grad_programs_take_no_std_of_a_rounded_equal_group():
    """std's gradient (x - mean) / ((n - 1) std) is 0/0 on an equal group: torch masks it to 0,
    and a last-bit difference in a rounded operand makes it O(1) (a distributed product's rows
    summed in other orders: program_for(3441, 0)). The generator leaves such std nodes out."""
    checked = 0
    for i in (0, 1, 2, 49):  # (0: the finding's program; 49 takes a std of a varying group)
        program = programs.program_for(3441, i, mode="grad")
        made = {n.name: n for n in program.nodes}
        for node in program.nodes:
            if node.spec.name in ("std", "std_mean_0"):
                x = made[node.operands[0]]
                checked += 1
                assert x.exact or not programs._constant_along(x.ref, node.attrs["axis"]), (i, node)
    assert checked > 0


def test_values_read_before_backward_are_generated():
    """Grad programs read values (`.item()`, `print`, `pf.eval`) before `backward()`."""
    reads = [r.code() for i in range(40) for r in programs.program_for(4, i, mode="grad").reads]
    assert any(r.endswith(".item()") for r in reads) and any("print(" in r for r in reads)
    assert any(r.startswith("pf.eval(outs[") for r in reads)


def test_stale_constants_are_caught(monkeypatch):
    """A compile cache whose key ignored fill values (scalars) would reuse stale constants: the
    rebuild mode's constants variant fails."""
    from pyflame import tracing

    pf = programs.pf
    real = tracing.trace

    def forgetful(*args, **kwargs):  # the key without flame.fill's value
        t = real(*args, **kwargs)
        entries, *rest = t.key
        t.key = (
            tuple(
                e[:1] + (tuple(a for a in e[1] if a[0] != "value"),) + e[2:]
                if e[0] == "flame.fill"
                else e
                for e in entries
            ),
            *rest,
        )
        return t

    monkeypatch.setattr(tracing, "trace", forgetful)
    pf.cache_clear()
    caught = 0
    try:
        for i in range(12):
            program = programs.program_for(21, i, mode="rebuild")
            caught += any(f.kind.startswith("constants-") for f in program.run().failures)
            if caught >= 2:
                break
    finally:
        pf.cache_clear()
    assert caught >= 2


def test_a_data_change_must_hit_the_cache():
    program = programs.program_for(FAST_SEED, 0, mode="rebuild")
    assert program.data is not None and program.data.describe() != program.base.describe()
    assert "assert pf.cache_info().misses == info.misses" in program.describe()


def test_thread_results_are_compared():
    alone = ({"loss": np.array(1.0), "grad x0": np.array([1.0, 2.0])}, {"t1": np.array([3])})
    same = ([alone[0], alone[0]], [alone[1]])
    assert modes.same_results(alone, same) == []
    other = ([alone[0], {"loss": np.array(1.0), "grad x0": None}], [{"t1": np.array([4])}])
    kinds = [(f.kind, f.node) for f in modes.same_results(alone, other)]
    assert kinds == [("thread-mismatch", "grad x0"), ("thread-mismatch", "t1")]
    a, b = modes.run_in_two_threads(lambda: 1, lambda: 2, repeats=3)
    assert (a, b) == ([1, 1, 1], [2, 2, 2])
    with pytest.raises(RuntimeError, match="thread b: ZeroDivisionError"):
        modes.run_in_two_threads(lambda: 1, lambda: 1 / 0)


def test_torch_shim_runs_pyflame_spellings():
    torch = pytest.importorskip("torch")
    shim = modes.TorchShim(torch.float64)
    x = shim.from_numpy(np.arange(6, dtype=np.float32).reshape(2, 3), layout=None)
    y = shim.pad(shim.expand(x, 2, 2, 3).sum(0), (1, -1), value=1.5)
    assert y.dtype == torch.float64 and y.shape == (2, 3)
    assert shim.logsumexp(x).shape == () and shim.prod(x, keepdim=True).shape == (1, 1)
    assert shim.mul(2, x).shape == (2, 3) and shim.full([2], 1).dtype == torch.float64
    assert shim.var(x, (1,), False, True).shape == (2, 1)
