"""pf.eval, the compile cache, pending updates, pf.ir and pf.explain (pyflame/runtime.py)."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from flame_reference import FakeCompiler

import pyflame as pf
from pyflame import compiler, runtime

# ----------------------------------------------------------------------------- cache


def test_loop_compiles_once(fake: FakeCompiler) -> None:
    w = pf.from_numpy(np.eye(8, dtype=np.float32))
    total = 0.0
    for step in range(200):
        x = pf.from_numpy(np.full((4, 8), step, np.float32))
        if step % 2:
            y = pf.relu(x @ w + pf.randn(4, 8) * 0).sum()  # the same graph ...
        else:
            y = pf.relu(x @ w + pf.randn(4, 8) * 0).sum()  # ... built on another line
        total += float(y)
    assert fake.compiles == 1
    assert pf.cache_info() == (199, 1, 1)
    assert pf.cache_info().hits == 199 and pf.cache_info().currsize == 1
    assert total == pytest.approx(sum(32 * s for s in range(200)))
    assert fake.programs[0].runs == 200


def test_new_seeds_reuse_the_program_and_give_new_values(fake: FakeCompiler) -> None:
    a, b = pf.randn(64), pf.randn(64)
    pf.eval(a)
    pf.eval(b)
    assert fake.compiles == 1
    assert not np.allclose(a.numpy(), b.numpy())


def test_different_structure_recompiles(fake: FakeCompiler) -> None:
    pf.eval(pf.zeros(4) + 1)
    pf.eval(pf.zeros(5) + 1)  # shape
    pf.eval(pf.zeros(4, dtype=pf.float16) + 1)  # dtype
    pf.eval(pf.zeros(4, layout=pf.MeshLayout.single()) + 1)  # layout
    pf.eval(pf.zeros(4) - 1)  # op
    pf.eval(pf.zeros(4) + 1)  # seen before
    assert pf.cache_info() == pf.runtime.CacheInfo(hits=1, misses=5, currsize=5)
    with pf.target(pf.sim.SMALL):
        pf.eval(pf.zeros(4) + 1)  # target
    assert pf.cache_info().misses == 6


def test_cache_clear_and_lru(fake: FakeCompiler, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "CACHE_MAXSIZE", 3)
    for n in (1, 2, 3, 4):
        pf.eval(pf.zeros(n) + 1)
    assert pf.cache_info() == (0, 4, 3)
    pf.eval(pf.zeros(2) + 1)  # still cached; now most recent
    pf.eval(pf.zeros(1) + 1)  # evicted: compile again (evicts 3)
    assert pf.cache_info() == (1, 5, 3)
    pf.eval(pf.zeros(2) + 1)
    assert pf.cache_info().hits == 2
    pf.cache_clear()
    assert pf.cache_info() == (0, 0, 0)
    assert runtime.CACHE_MAXSIZE == 3


def test_default_maxsize() -> None:
    assert runtime.CACHE_MAXSIZE == 64


# ----------------------------------------------------------------------------- eval


def test_eval_returns_and_skips(fake: FakeCompiler) -> None:
    x = pf.zeros(2) + 1
    assert pf.eval(x) is x
    y, z = pf.zeros(2) + 2, pf.zeros(2) + 3
    assert pf.eval([y, z], x) == (y, z, x)
    assert fake.programs[-1].runs == 1 and fake.compiles == 2
    pf.eval(x, y)  # nothing lazy: no program runs
    assert fake.compiles == 2 and sum(p.runs for p in fake.programs) == 2
    with pytest.raises(TypeError, match="pf.Tensor"):
        pf.eval(np.ones(2))


def test_graph_is_dropped(fake: FakeCompiler) -> None:
    x = pf.randn(3)
    ref = weakref.ref(x)
    y = pf.relu(x) * 2
    del x
    pf.eval(y)
    gc.collect()
    assert ref() is None  # the graph behind y is gone
    assert y.op is None and y.inputs == ()


def test_last_report(fake: FakeCompiler) -> None:
    pf.eval(pf.relu(pf.zeros(2) + 1))
    report = pf.last_report()
    assert report is not None and report.ops == 4  # fill, fill, add, relu


def test_program_outputs_are_checked(fake: FakeCompiler, monkeypatch: pytest.MonkeyPatch) -> None:
    class Bad:
        def run(self, args):
            return [np.zeros(3)], None

    monkeypatch.setattr(compiler, "compile_module", lambda module: Bad())
    x = pf.zeros(2) + 1
    with pytest.raises(RuntimeError, match="expected \\[2\\]"):
        pf.eval(x)
    assert not x.is_evaluated


def test_outputs_get_tensor_dtype(fake: FakeCompiler, monkeypatch: pytest.MonkeyPatch) -> None:
    memory = {"f64": np.zeros(8, np.float64), "f32": np.zeros(8, np.float32)}

    class Loose:  # returns flat views into its own memory, in another dtype
        def __init__(self, kind):
            self.kind = kind

        def run(self, args):
            return [memory[self.kind][:4]], None

    for kind, source in memory.items():
        monkeypatch.setattr(compiler, "compile_module", lambda module, k=kind: Loose(k))
        pf.cache_clear()
        x = pf.zeros(2, 2) + 1
        pf.eval(x)
        assert x.numpy().dtype == np.float32 and x.numpy().shape == (2, 2)
        assert not np.shares_memory(x.numpy(), source)


# ----------------------------------------------------------------------------- pending


def test_pending_updates(fake: FakeCompiler) -> None:
    w = pf.from_numpy(np.ones(3, np.float32))
    m = pf.from_numpy(np.zeros(3, np.float32))
    x = pf.from_numpy(np.full(3, 2.0, np.float32))
    loss = (w * x).sum()
    m_new = m * 0.5 + w  # e.g. momentum
    runtime.add_pending_update(m, m_new)
    runtime.add_pending_update(w, w - m_new * 0.1)
    assert len(runtime.pending_updates()) == 2
    pf.eval(loss)
    assert fake.compiles == 1  # loss and both updates in one program
    assert len(fake.programs[0].func.function_type.outputs.data) == 3
    assert float(loss) == 6.0  # computed from the old w
    np.testing.assert_allclose(m.numpy(), [1, 1, 1])
    np.testing.assert_allclose(w.numpy(), [0.9, 0.9, 0.9])
    assert runtime.pending_updates() == []
    assert w.op is None and m.op is None
    # a second step with the same structure reuses the program
    loss = (w * x).sum()
    m_new = m * 0.5 + w
    runtime.add_pending_update(m, m_new)
    runtime.add_pending_update(w, w - m_new * 0.1)
    pf.eval(loss)
    assert fake.compiles == 1 and pf.cache_info().hits == 1
    np.testing.assert_allclose(m.numpy(), [1.4, 1.4, 1.4], rtol=1e-6)
    np.testing.assert_allclose(w.numpy(), [0.76, 0.76, 0.76], rtol=1e-6)


def test_pending_updates_alone_and_with_evaluated_values(fake: FakeCompiler) -> None:
    t = pf.from_numpy(np.zeros(2, np.float32))
    done = pf.from_numpy(np.ones(2, np.float32))
    runtime.add_pending_update(t, done)  # already has data: no program needed
    pf.eval()
    assert fake.compiles == 0 and t.numpy().tolist() == [1, 1]
    runtime.add_pending_update(t, t + 1)
    pf.eval(done)  # nothing requested is lazy, but the update runs
    assert fake.compiles == 1 and t.numpy().tolist() == [2, 2]


def test_pending_update_shape_checked() -> None:
    with pytest.raises(pf.ShapeError, match=r"\[2\].*\[3\]"):
        runtime.add_pending_update(pf.zeros(2), pf.zeros(3))
    with pytest.raises(pf.ShapeError, match="pf.float16"):
        runtime.add_pending_update(pf.zeros(2), pf.zeros(2, dtype=pf.float16))


# ----------------------------------------------------------------------------- ir


def test_ir_flame_stage(fake: FakeCompiler) -> None:
    x = pf.from_numpy(np.ones((2, 2), np.float32))
    text = pf.ir(x @ x + pf.randn(2, 2))
    assert text.startswith("builtin.module attributes {pf.target = #pf.target<")
    assert "func.func @main(%x0: tensor<2x2xf32>" in text and "%seed0: i64" in text
    assert "flame.matmul %x0, %x0" in text and f'loc("{__file__}":' in text
    assert fake.compiles == 0  # pf.ir does not evaluate
    with pytest.raises(ValueError, match="unknown stage"):
        pf.ir(x, stage="llvm")


def test_ir_includes_pending_updates(fake: FakeCompiler) -> None:
    w = pf.from_numpy(np.ones(2, np.float32))
    runtime.add_pending_update(w, w * 2)
    text = pf.ir(w + 1)
    assert "-> (tensor<2xf32>, tensor<2xf32>)" in text


def test_explain_prints_every_stage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stages: list[str] = []

    def fake_lower(module, stage):
        stages.append(stage)
        return module

    monkeypatch.setattr(compiler, "lower", fake_lower)
    pf.explain(pf.zeros(2) + 1)
    out = capsys.readouterr().out
    assert stages == ["mesh", "pe"]
    to_mesh = f"// passes: {compiler.stage_pipeline('flame', 'mesh')}"
    to_pe = f"// passes: {compiler.stage_pipeline('mesh', 'pe')}"
    assert "plan-placement" in to_mesh and "allocate-sram" in to_pe
    assert out.index("// stage: flame") < out.index(to_mesh) < out.index("// stage: mesh")
    assert out.index("// stage: mesh") < out.index(to_pe) < out.index("// stage: pe")
    assert out.count("builtin.module") == 3


def test_explain_ends_with_the_cost_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    """After the three stages, the cost model's table: one row per mesh op with its algorithm
    and estimated cycles, and the total."""
    lay = pf.MeshLayout.grid(2, 2)
    a = pf.from_numpy(np.ones((8, 8), np.float32), layout=lay)
    b = pf.from_numpy(np.ones((8, 8), np.float32), layout=lay)
    with pf.sim.target(pf.sim.WSE2):
        pf.explain((a @ b).sum())
    out = capsys.readouterr().out
    assert out.index("// stage: pe") < out.index("// cost estimate on WSE2")
    table = out[out.index("// cost estimate") :].splitlines()
    assert table[1].split()[:3] == ["op", "algorithm", "cycles"]
    matmul = next(line for line in table if line.startswith("mesh.matmul"))
    assert "summa (double-buffered)" in matmul and "on 2x2 split [r, c]" in matmul
    total = table[-1].split()
    assert total[0] == "total" and int(total[1].replace(",", "")) > 0
