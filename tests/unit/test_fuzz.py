"""The differential fuzzer's fast slice, and checks of the fuzzer itself.

Each of FAST_PROGRAMS random programs (tests/fuzz/programs.py) is its own test, named by its
seed: a failure prints the program as a pytest function for tests/unit/test_fuzz_regressions.py,
and `python -m tests.fuzz.run --seed 1000 --index N` runs it alone. The long run is
`python -m tests.fuzz.run --programs 1000 --seed 0 --jobs 2` (benchmarks/RESULTS.md).
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

from tests.fuzz import programs  # noqa: E402

FAST_SEED = 1000
FAST_PROGRAMS = 40


@pytest.mark.parametrize("index", range(FAST_PROGRAMS), ids=lambda i: f"seed{FAST_SEED}-{i}")
def test_random_program(index):
    program = programs.program_for(FAST_SEED, index)
    outcome = program.run()
    assert outcome.ok, outcome.report()
    assert outcome.cycles[0] == outcome.cycles[1]


# ----------------------------------------------------------------------------- the fuzzer itself


def test_every_enabled_op_is_generated():
    seen: set[str] = set()
    for i in range(300):
        seen.update(programs.program_for(7, i).op_counts())
    enabled = {spec.name for spec in programs.enabled_ops()}
    assert enabled - seen == set()


def test_programs_are_deterministic_and_described():
    a, b = programs.program_for(3, 5), programs.program_for(3, 5)
    assert a.describe() == b.describe()
    assert a.describe() != programs.program_for(3, 6).describe()


@pytest.mark.parametrize("index", [0, 1, 2])
def test_describe_is_a_passing_pytest_function(index):
    """The reproducer printed for a failure is runnable as it is."""
    program = programs.program_for(FAST_SEED, index)
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
        decorators = text[text.rfind("\n\n", 0, at):at]
        assert "@pytest.mark.xfail(strict=True" in decorators, name


DTYPES = ["bool", "int32", "float16", "bfloat16", "float32"]


def test_promotion_matches_torch():
    """The fuzzer's expected result dtypes are torch.result_type's (int64 read as int32)."""
    torch = pytest.importorskip("torch")
    torch_dtype = {"bool": torch.bool, "int32": torch.int32, "float16": torch.float16,
                   "bfloat16": torch.bfloat16, "float32": torch.float32}
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


def test_minimize_keeps_the_failure():
    wrong = dataclasses.replace(programs.OPS_BY_NAME["neg"], np="{0}")  # neg is not identity
    specs = _only("from_numpy", dtypes=(frozenset({"float32"}),)) + [
        programs.OPS_BY_NAME["add"], programs.OPS_BY_NAME["relu"], wrong]
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
