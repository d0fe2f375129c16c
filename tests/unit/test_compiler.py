"""The compile driver glue (pyflame/compiler.py), with passes and simulator faked."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from flame_reference import FakeCompiler, ReferenceProgram
from xdsl.dialects.builtin import ModuleOp
from xdsl.irdl import IRDLOperation, irdl_op_definition
from xdsl.parser import Parser

import pyflame as pf
from pyflame import compiler, runtime, tracing
from pyflame.dialects import pe


@irdl_op_definition
class MeshProbeOp(IRDLOperation):
    name = "mesh.probe_for_test"


def flame_module() -> ModuleOp:
    x = pf.from_numpy(np.ones((2, 3), np.float32))
    return tracing.trace([(x + pf.randn(2, 3)).sum(dim=1)]).module()


@pytest.fixture
def fake_passes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Log the pass pipelines `lower` runs (running none) and fake the simulator's compile_plan;
    returns the call log."""
    calls: list[str] = []

    def run_pipeline(module: ModuleOp, spec: str) -> None:
        calls.append(spec)

    sim = types.ModuleType("pyflame.sim.planner")

    def compile_plan(module):
        calls.append("compile_plan")
        return ReferenceProgram(module)

    sim.compile_plan = compile_plan  # type: ignore[attr-defined]
    monkeypatch.setattr(compiler, "run_pipeline", run_pipeline)
    monkeypatch.setitem(sys.modules, "pyflame.sim.planner", sim)
    return calls


TO_MESH = "decompose,canonicalize,cse,assign-layouts,place-on-fabric,plan-placement,flame-to-mesh,plan-memory,choose-matmuls,choose-collectives"
TO_PE = "combine-collectives,lower-mesh-to-pe,fuse-elementwise,allocate-colors,allocate-sram"


def test_context_knows_every_dialect() -> None:
    ctx = compiler.make_context()
    assert compiler.make_context() is ctx
    text = runtime._print(flame_module())
    Parser(ctx, text).parse_module().verify()
    for name in ("builtin", "func", "arith", "flame", "mesh", "pe"):
        assert name in ctx.registered_dialect_names or ctx.get_optional_dialect(name)


def test_stage_of() -> None:
    module = flame_module()
    assert compiler.stage_of(module) == "flame"
    assert compiler.stage_of(ModuleOp([])) == "pe"
    assert compiler.stage_of(ModuleOp([MeshProbeOp()])) == "mesh"


def test_lower_runs_only_missing_passes(fake_passes: list[str]) -> None:
    module = flame_module()
    assert compiler.lower(module, "flame") is module and fake_passes == []
    compiler.lower(module, "mesh")
    assert fake_passes == [TO_MESH]
    fake_passes.clear()
    compiler.lower(module, "pe")
    assert fake_passes == [TO_MESH, TO_PE]  # the fake left flame ops behind; stage by stage
    fake_passes.clear()
    compiler.lower(ModuleOp([MeshProbeOp()]), "pe")
    assert fake_passes == [TO_PE]
    fake_passes.clear()
    compiler.lower(ModuleOp([]), "pe")
    assert fake_passes == []
    with pytest.raises(ValueError, match="unknown stage"):
        compiler.lower(module, "llvm")


def test_compile_module(fake_passes: list[str]) -> None:
    program = compiler.compile_module(flame_module())
    assert fake_passes == [TO_MESH, TO_PE, "compile_plan"]
    outputs, _ = program.run([np.ones((2, 3), np.float32), 5])
    assert outputs[0].shape == (2,)


def test_pipeline_is_every_step_in_order() -> None:
    assert compiler.pipeline() == (
        "decompose,canonicalize,cse,assign-layouts,place-on-fabric,plan-placement,flame-to-mesh,plan-memory,"
        "choose-matmuls,choose-collectives,combine-collectives,lower-mesh-to-pe,fuse-elementwise,"
        "allocate-colors,allocate-sram"
    )
    assert compiler.pipeline("small") == compiler.pipeline(pf.sim.WSE3) == compiler.pipeline()
    with pytest.raises(ValueError, match="unknown target 'wse9'"):
        compiler.pipeline("wse9")
    assert compiler.stage_pipeline("flame", "mesh") == TO_MESH
    assert compiler.stage_pipeline("mesh", "pe") == TO_PE
    assert compiler.stage_pipeline("pe", "pe") == ""


def test_every_pipeline_step_is_a_registered_pass() -> None:
    from pyflame.passes import all_passes

    steps = compiler.pipeline().split(",")
    # the registry lists them in pipeline order, then unroll-pe-loops (a tool, outside it)
    assert [*steps, "unroll-pe-loops"] == list(all_passes())
    for name in steps:
        assert all_passes()[name]().name == name


def test_lower_runs_the_real_pipeline() -> None:
    module = flame_module()
    compiler.lower(module, "mesh")
    assert compiler.stage_of(module) == "mesh"
    assert str(module.attributes["pf.placement"]) == "#pf.placement<single_pe_bytes = 16384>"
    compiler.lower(module, "pe")
    assert compiler.stage_of(module) == "pe"
    offsets = [op.byte_offset for op in module.walk() if isinstance(op, pe.AllocOp)]
    assert offsets and all(o is not None for o in offsets)


def test_a_stage_that_does_not_verify_is_an_internal_error() -> None:
    """A pass that builds an op its verifier refuses (a mesh.reshape whose element count is
    wrong) stops the compile at the end of its stage instead of computing with it."""
    from pyflame.core.errors import CompileError

    module = flame_module()
    compiler.lower(module, "pe")
    compiler.verify_stage(module, "pe")  # the real passes' output verifies
    text = """
    func.func @main(%a: !mesh.tensor<8x4xf32 on 2x2 split [r, c]>) {
      %0 = mesh.reshape %a : !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<30xf32 on 2x2 split [r]>
      func.return
    }"""
    bad = Parser(compiler.make_context(), text).parse_module()  # parsing does not verify
    with pytest.raises(CompileError, match="internal compiler error: the mesh program"):
        compiler.verify_stage(bad, "mesh")


def parsed_ir(tensor: pf.Tensor) -> ModuleOp:
    return Parser(compiler.make_context(), pf.ir(tensor)).parse_module()


def test_run_module_with_inputs(fake: FakeCompiler) -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = pf.from_numpy(np.zeros((2, 3), np.float32))
    module = parsed_ir((x * 2).sum(dim=0))
    (out,), report = compiler.run_module(module, {"x0": a})
    np.testing.assert_allclose(out, (a * 2).sum(0))
    assert report.ops == 3


def test_run_module_random_inputs(fake: FakeCompiler) -> None:
    x = pf.from_numpy(np.zeros((2, 3), np.float32))
    module = parsed_ir(x + pf.randn(2, 3))
    (first,), _ = compiler.run_module(module, {}, seed=1)
    (again,), _ = compiler.run_module(module, {}, seed=1)
    (other,), _ = compiler.run_module(module, {}, seed=2)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    (fixed,), _ = compiler.run_module(
        module, {"x0": np.zeros((2, 3)), "seed0": np.array(7)}, seed=1
    )
    expected = np.random.default_rng(7).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(fixed, expected)


def test_run_module_bad_inputs(fake: FakeCompiler) -> None:
    module = parsed_ir(pf.from_numpy(np.zeros((2, 3), np.float32)) + pf.randn(2, 3))
    with pytest.raises(ValueError, match="unknown input name.*x9.*takes x0, seed0"):
        compiler.run_module(module, {"x9": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"input x0: shape \[3, 2\] does not match .*\[2, 3\]"):
        compiler.run_module(module, {"x0": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="input seed0: expected one integer"):
        compiler.run_module(module, {"seed0": np.zeros(2)})
    assert fake.compiles == 0  # inputs are checked before compiling


def test_a_color_shortage_is_not_retried(monkeypatch):
    """The pipeline runs once: choose-collectives picks algorithms that fit the colors, and an
    allocate-colors error is the program's (no second compile with other algorithms)."""
    from pyflame.core.errors import ColorAllocationError
    from pyflame.passes import allocate_colors

    calls: list[int] = []

    def short_of_colors(fn, target):
        calls.append(1)
        raise ColorAllocationError("more than 19 routing colors are needed at once")

    data = np.arange(256, dtype=np.float32).reshape(16, 16)
    with pf.target(pf.sim.SMALL):
        x = pf.from_numpy(data, layout=pf.MeshLayout.grid(16, 16))
        module = runtime._program_module((x.sum(),))
    compiler.lower(module, "mesh")
    assert "algorithm ktree" in str(module)  # fits SMALL's colors: the per-op choice
    monkeypatch.setattr(allocate_colors, "allocate", short_of_colors)
    with pytest.raises(ColorAllocationError, match="more than 19"):
        compiler.lower(module, "pe")
    assert len(calls) == 1
