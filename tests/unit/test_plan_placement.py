"""plan-placement keeps the first single-PE budget under which the whole lowering fits. Its short
cut (no pe lowering of the trial when the program's buffers side by side fit SRAM,
`plan_memory.unshared_bytes`) must decide exactly as lowering every trial to pe does: checked
against that reference on the lit suite's flame inputs, programs that need the budgets 4096,
1024 and 0, and fuzzer programs; and the bound must hold what the pe lowering allocates."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

import pyflame as pf
from pyflame import compiler, runtime
from pyflame.core.errors import SRAMOverflowError
from pyflame.core.placement import PLACEMENTS, Placement
from pyflame.core.target import Target
from pyflame.dialects import mesh, pe
from pyflame.passes import plan_placement
from pyflame.passes.allocate_colors import allocate as allocate_colors
from pyflame.passes.allocate_sram import allocate as allocate_sram
from pyflame.passes.flame_to_mesh import lower_function as lower_flame_function
from pyflame.passes.lower_mesh_to_pe import lower_function as lower_mesh_function
from pyflame.passes.plan_memory import (
    aligned,
    summa_double_buffered,
    summa_scratch,
    unshared_bytes,
)
from pyflame.passes.plan_memory import check_function as check_memory
from pyflame.tools._context import parse_module

ROOT = Path(__file__).resolve().parents[2]
PASSES = ROOT / "passes"


def fits_when_lowered_to_pe(module: ModuleOp, placement: Placement) -> bool:
    """The reference: every step on a copy, down to allocate-sram (what plan-placement did
    before its short cut)."""
    copy = module.clone()
    target = Target.of_module(copy)
    functions = [op for op in copy.walk() if isinstance(op, func.FuncOp)]
    steps = (
        lambda fn: lower_flame_function(fn, target, placement),
        lambda fn: check_memory(fn, target),
        lambda fn: lower_mesh_function(fn, target),
        lambda fn: allocate_colors(fn, target),
        lambda fn: allocate_sram(fn, target),
    )
    try:
        for step in steps:
            for fn in functions:
                step(fn)
    except SRAMOverflowError:
        return False
    except Exception:  # noqa: BLE001  (another error is not the budget's)
        return True
    return True


def reference_placement(module: ModuleOp) -> Placement:
    return next((p for p in PLACEMENTS if fits_when_lowered_to_pe(module, p)), PLACEMENTS[0])


def decomposed(text: str, name: str) -> ModuleOp:
    module = parse_module(compiler.make_context(), text, name)
    compiler.run_pipeline(module, "decompose")
    return module


def lit_flame_texts() -> dict[str, str]:
    found = {}
    for path in sorted((ROOT / "tests" / "lit").rglob("*.mlir")):
        text = path.read_text()
        if "flame." in text and "// -----" not in text and "verify-diagnostics" not in text:
            found[f"{path.parent.name}/{path.name}"] = text
    return found


def small_tensor_texts() -> dict[str, str]:
    """Programs whose small tensors overflow PE (0, 0) at 16 KiB: budgets 4096, 1024 and 0."""
    found = {}
    with pf.target(pf.sim.SMALL):
        for shape, count in (((64, 64), 4), ((32, 32), 12), ((16, 16), 48), ((8, 8), 8)):
            xs = [pf.from_numpy(np.full(shape, i, np.float32)) for i in range(count)]
            found[f"{count}x{shape}"] = pf.ir(*[x * 2 for x in xs])
    return found


def fuzzer_texts(monkeypatch: pytest.MonkeyPatch, indices: range) -> dict[str, str]:
    """The flame modules that the fuzzer's programs compile (tests/fuzz, in the checkout)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    programs = importlib.import_module("tests.fuzz.programs")
    found: dict[str, str] = {}
    original = compiler.compile_module

    def compile_module(module: ModuleOp):
        if compiler.stage_of(module) == "flame":
            found[f"fuzz{len(found)}"] = runtime._print(module)
        return original(module)

    monkeypatch.setattr(compiler, "compile_module", compile_module)
    pf.cache_clear()
    for index in indices:
        assert programs.program_for(2000, index).run().ok
    pf.cache_clear()
    return found


def test_the_short_cut_decides_as_the_pe_lowering_does(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = {**lit_flame_texts(), **small_tensor_texts(), **fuzzer_texts(monkeypatch, range(8))}
    chosen = {}
    for name, text in texts.items():
        try:
            module = decomposed(text, name)
        except Exception:  # noqa: BLE001  (a lit test of a parse or verifier error)
            continue
        if compiler.stage_of(module) != "flame":
            continue
        chosen[name] = plan_placement.choose_placement(module)
        assert chosen[name] == reference_placement(module), name
    assert {
        chosen[f"{n}x{s}"].single_pe_bytes
        for n, s in ((4, (64, 64)), (12, (32, 32)), (48, (16, 16)))
    } == {4096, 1024, 0}
    assert len(chosen) > 40 and chosen["8x(8, 8)"] == Placement(16384)


@pytest.mark.parametrize(
    "build",
    [
        lambda: pf.from_numpy(np.ones((40, 24), np.float32), layout=pf.MeshLayout.grid(2, 2)) * 3,
        lambda: (
            pf.from_numpy(np.ones((16, 16), np.float32), layout=pf.MeshLayout.grid(4, 4))
            @ pf.from_numpy(np.ones((16, 16), np.float32), layout=pf.MeshLayout.grid(4, 4))
        ),
        lambda: pf.nn.functional.conv2d(
            pf.from_numpy(np.ones((1, 2, 12, 12), np.float32), layout=pf.MeshLayout.grid(3, 3)),
            pf.from_numpy(np.ones((3, 2, 3, 3), np.float32)),
            padding=1,
        ),
        lambda: pf.sum(pf.from_numpy(np.ones((9, 7), np.float32), layout=pf.MeshLayout.grid(3, 3))),
    ],
    ids=["elementwise", "summa", "conv-halo", "allreduce"],
)
def test_unshared_bytes_holds_every_buffer_the_pe_lowering_makes(build) -> None:
    """Exactly the pe buffers' bytes (with SUMMA's second pair where it fits) when no buffer is
    reused (the sum reuses the partials' buffer
    for its allreduce: then more), and never less than allocate-sram's peak."""
    with pf.target(pf.sim.SMALL):
        module = decomposed(pf.ir(build()), "program")
    compiler.run_pipeline(module, "plan-placement,flame-to-mesh")
    (fn,) = [op for op in module.walk() if isinstance(op, func.FuncOp)]
    target = Target.of_module(module)
    # plus the second pairs of receive buffers of the SUMMAs lower-mesh-to-pe double-buffers
    # (only within what the bound leaves of the SRAM)
    double = summa_double_buffered(fn, target.usable_sram_bytes)
    bound = unshared_bytes(fn) + sum(summa_scratch(op, mesh.dist_of) for op in double)
    assert bound <= target.usable_sram_bytes
    reuses = any(isinstance(op, mesh.AllReduceOp | mesh.ReduceOp) for op in fn.walk())
    lower_mesh_function(fn, target)
    buffers = [op for op in fn.walk() if isinstance(op, pe.AllocOp)]
    total = sum(aligned(op.result.type.num_bytes) for op in buffers)
    assert total < bound if reuses else total == bound
    assert 0 < allocate_sram(fn, target) <= total


def test_only_plan_memory_and_allocate_sram_raise_sram_overflow() -> None:
    """The short cut stops before lower-mesh-to-pe and allocate-colors: it relies on them never
    raising SRAMOverflowError."""
    raisers = sorted(
        str(path.relative_to(PASSES))
        for path in PASSES.rglob("*.py")
        if "SRAMOverflowError(" in path.read_text()
    )
    assert raisers == ["allocate_sram.py", "plan_memory.py"]


def test_a_hint_binds_the_hinted_tensor_only_when_its_spread_does_not_fit() -> None:
    """Twelve 4 KiB tensors derived from one hinted `replicated` input are a whole copy each
    per PE (48 KiB on PE (0, 0)) when the hint spreads: plan-placement then keeps the hint on
    the input only (`hinted_only`), the derived tensors get the compiler's grid, and the
    values are the same."""
    a = np.arange(32 * 32, dtype=np.float32).reshape(32, 32) / 100
    with pf.target(pf.sim.SMALL):
        x = pf.from_numpy(a, layout=pf.MeshLayout.replicated(1, 3))
        ys = [x * float(i) + 1.0 for i in range(12)]
        text = pf.ir(*ys, stage="mesh")
        pf.eval(*ys)
    assert "pf.placement = #pf.placement<single_pe_bytes = 1024, hinted_only>" in text
    scatter = next(line for line in text.splitlines() if "mesh.scatter %x0" in line)
    assert "on 1x3 split [_, _]>" in scatter  # the hinted input keeps its layout ...
    derived = [line for line in text.splitlines() if "mesh.binary mul" in line]
    assert len(derived) == 12 and all("1x3" not in line for line in derived)  # ... alone
    assert text.count("mesh.redistribute %0 ") == 1  # one copy, read by every use
    for i, y in enumerate(ys):
        np.testing.assert_array_equal(y.numpy(), a * np.float32(i) + np.float32(1.0))
    # a hint whose spread fits stays spread: no copy
    with pf.target(pf.sim.SMALL):
        x = pf.from_numpy(a, layout=pf.MeshLayout.replicated(1, 3))
        text = pf.ir(x * 2.0 + 1.0, stage="mesh")
    assert "hinted_only" not in text and "mesh.redistribute" not in text


def test_the_sram_trial_lowers_exchanges_without_routes_and_allocates_alike():
    """plan-placement's pe lowering states no exchange routes (they take no SRAM; a wafer-wide
    exchange has ~5 route rectangles per message): the same ops otherwise, and allocate-sram
    places the buffers at the same addresses."""
    x = pf.from_numpy(
        np.arange(37 * 29, dtype=np.float32).reshape(37, 29), layout=pf.MeshLayout.grid(3, 2)
    )
    y = (x.T @ x).relu()
    module = compiler.lower(runtime._program_module((y,)), "mesh")
    target = Target.of_module(module)
    lowered = []
    for routes in (True, False):
        copy = module.clone()
        fn = next(op for op in copy.walk() if isinstance(op, func.FuncOp))
        lower_mesh_function(fn, target, exchange_routes=routes)
        allocate_sram(fn, target)
        lowered.append(fn)
    with_routes, without = ([op for op in fn.walk()] for fn in lowered)
    exchanges = [op for op in with_routes if isinstance(op, pe.ExchangeOp) and op.phase_index]
    assert exchanges  # the transpose moves data between PEs
    routing = pe.RouteOp | pe.RoutesOp
    assert [op.name for op in with_routes if not isinstance(op, routing)] == [
        op.name for op in without if not isinstance(op, routing)
    ]
    routed = {op.color_id for op in with_routes if isinstance(op, routing)}
    assert all(op.color_id in routed for op in exchanges)
    assert not any(
        isinstance(op, routing) and op.color_id in {e.color_id for e in exchanges} for op in without
    )
    offsets = [
        [
            (op.buffer_name.data, str(op.attributes.get("offset")))
            for op in ops
            if isinstance(op, pe.AllocOp)
        ]
        for ops in (with_routes, without)
    ]
    assert offsets[0] == offsets[1] and offsets[0]
