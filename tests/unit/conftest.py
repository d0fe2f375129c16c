"""Fixtures shared by the unit tests. Constants for `parametrize` live in layouts.py.

A test module opts in with `pytestmark = pytest.mark.usefixtures("small_target")`; tests
that check the default target or the compile cache across targets do not. Modules that build
training steps use `no_pending_updates` the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from flame_reference import FakeCompiler

import pyflame as pf
from pyflame import compiler, runtime

# `pytest -n 2` runs one worker per core. torch (imported by the test modules, after this file)
# would start an OpenMP thread per core in each worker, and with more threads than cores they
# spin-wait: torch.max of a 7x5 tensor took 8.8 ms instead of 4 us on the shared machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def small_target() -> Iterator[None]:
    """Compile and simulate on the small target (few PEs: quick to compile and to run)."""
    with pf.target(pf.sim.SMALL):
        yield


@pytest.fixture
def no_pending_updates() -> Iterator[None]:
    """Optimizer steps a test leaves unevaluated are not part of the next test's program (nor
    an earlier test's of this one's)."""
    runtime.clear_pending_updates()
    yield
    runtime.clear_pending_updates()


@pytest.fixture
def summa_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Matmuls lower to SUMMA: the cost model's 2.5D choice (passes/flame_lowering/matmul.py
    `cheapest_algorithm`) is kept out of tests of SUMMA's own paths."""
    from pyflame.dialects import mesh
    from pyflame.passes.flame_lowering import matmul as flame_matmul

    monkeypatch.setattr(
        flame_matmul, "cheapest_algorithm", lambda op, lw: mesh.MatmulAlgorithm.SUMMA
    )


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCompiler]:
    """`pf.eval` runs the numpy reference instead of the passes and the simulator; the compile
    cache and the pending updates are empty before the test and after it, so that no fake
    program is left in the cache for other tests."""
    f = FakeCompiler()
    monkeypatch.setattr(compiler, "compile_module", f.compile_module)
    pf.cache_clear()
    runtime.clear_pending_updates()
    yield f
    pf.cache_clear()
    runtime.clear_pending_updates()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The lit folders run first: they are the longest tests (up to a minute each), so they start
    at once instead of one of them ending the run alone while the other worker idles."""
    items.sort(key=lambda item: item.path.name != "test_lit.py")  # stable: the rest keep order


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`pytest -n 2` steals work: a worker that runs out takes half of the other's queue, so both
    finish together (xdist's default `load` hands out fixed chunks, and the lit folders, all in
    the first chunk, would leave one worker with most of the run)."""
    if config.getoption("dist") != "load":  # an explicit --dist other than load is kept
        return None
    from xdist.scheduler import WorkStealingScheduling

    return WorkStealingScheduling(config, log)
