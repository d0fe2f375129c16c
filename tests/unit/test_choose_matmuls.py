"""choose-matmuls (passes/choose_matmuls.py): each matmul's algorithm, SUMMA or the 2.5D SUMMA,
revised by the whole program's estimate (its barriers included) where the per-op choice was
close; the change recorded on the op, the simulated program as fast or faster."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from training_programs import mlp_step

import pyflame as pf
from pyflame import compiler, nn, optim, runtime
from pyflame.dialects import mesh
from pyflame.passes import choose_matmuls as cm
from pyflame.passes.cost_model.program import WHY_ATTR
from pyflame.passes.flame_lowering import gemv
from pyflame.sim.planner import compile_plan

#: the pipeline up to choose-matmuls, without canonicalize: the MLP step's weight gradient
#: stays x^T @ dh as autograd builds it (canonicalize makes it dh^T @ x, which the 2.5D SUMMA
#: does not take transposed), so that the 2.5D SUMMA is its per-op choice here
BEFORE = (
    compiler.stage_pipeline("flame", "mesh")
    .removesuffix(",choose-matmuls,choose-collectives")
    .replace("canonicalize,", "")
)


pytestmark = pytest.mark.usefixtures("no_pending_updates")


def matmuls(module) -> list[mesh.MatmulOp]:
    return [op for op in module.walk() if isinstance(op, mesh.MatmulOp)]


def cycles(module) -> int:
    module = module.clone()
    compiler.run_pipeline(module, "choose-collectives")
    compiler.lower(module, "pe")
    return compile_plan(module).report.cycles


@pytest.mark.slow  # (one of the suite's slowest: run with -m slow)
def test_with_costly_barriers_the_weight_gradient_goes_back_to_summa(monkeypatch):
    """dW1 = x^T @ dh takes the 2.5D SUMMA by its own estimate (11% under SUMMA's); its
    layers' channels cost the program more route-switch barriers. With barriers that chain a
    word through every PE (1,056 cycles on 64x64 PEs, what they cost before they gathered,
    benchmarks/RESULTS.md "Session 22") that is more than it saves: SUMMA, said on the op, and
    the step simulates fewer cycles. (With gathering barriers, 312 cycles, the per-op lead is
    clear and the pass does not estimate the program: tests/lit/choose-matmuls/mlp-step.mlir.)"""
    from pyflame.passes.cost_model import barriers

    monkeypatch.setattr(barriers, "gathers", lambda rows, cols: False)  # the chain's cost
    module = runtime._program_module((mlp_step(),))
    compiler.run_pipeline(module, BEFORE)
    per_op = [op.algorithm.data for op in matmuls(module)]
    assert per_op.count(mesh.MatmulAlgorithm.SUMMA25D) == 1
    before = module.clone()
    estimate_before = cm.program_estimate(module)
    changes = cm.choose(module)
    assert [(c.was, c.now) for c in changes] == [
        (mesh.MatmulAlgorithm.SUMMA25D, mesh.MatmulAlgorithm.SUMMA)
    ]
    assert all(op.algorithm.data == mesh.MatmulAlgorithm.SUMMA for op in matmuls(module))
    change = changes[0]
    assert change.before == estimate_before and change.after < estimate_before
    why = change.op.attributes[WHY_ATTR].data
    assert why.startswith("choose-matmuls: summa, not summa25d (its per-op choice)")
    assert f"{change.after:,} estimated cycles over the program against {change.before:,}" in why
    assert cycles(module) < cycles(before)


def test_a_gemm_on_its_own_keeps_its_choice_without_a_lowered_copy(monkeypatch):
    """GEMM 1024^3 on 32x32: the 2.5D SUMMA's lead (~67,000 cycles) is far beyond what
    barriers cost, so no program estimate (no lowered copy) is made."""
    estimates: list[int] = []
    monkeypatch.setattr(cm, "program_estimate", lambda m: estimates.append(1) or 0)
    layout = pf.MeshLayout.grid(32, 32)
    a = pf.from_numpy(np.ones((1024, 1024), np.float32), layout=layout)
    module = runtime._program_module((a @ a,))
    compiler.run_pipeline(module, BEFORE)
    assert [op.algorithm.data for op in matmuls(module)] == [mesh.MatmulAlgorithm.SUMMA25D]
    assert cm.choose(module) == [] and estimates == []
    assert [op.algorithm.data for op in matmuls(module)] == [mesh.MatmulAlgorithm.SUMMA25D]


def test_the_pass_is_in_the_pipeline_and_the_mlp_step_still_trains_as_numpy_says():
    """pf.eval runs it (lower-to-mesh): the step with dW1 on SUMMA updates W1 as numpy does."""
    assert "plan-memory,choose-matmuls,choose-collectives" in compiler.stage_pipeline(
        "flame", "mesh"
    )
    pf.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((64, 784)).astype(np.float32)
    ys = rng.integers(0, 10, 64)
    w1, b1, w2, b2 = (p.numpy().astype(np.float64) for p in model.parameters())
    loss = nn.functional.cross_entropy(model(pf.from_numpy(xs)), pf.from_numpy(ys.astype(np.int32)))
    loss.backward()
    opt.step()
    loss.item()  # one program: forward, backward and the update
    # numpy: forward, softmax cross-entropy's gradient, backward to W1
    h = np.maximum(xs @ w1.T + b1, 0)
    z = h @ w2.T + b2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - np.eye(10)[ys]) / 64
    dh = (dz @ w2) * (h > 0)
    expected = w1 - 0.1 * (dh.T @ xs)
    np.testing.assert_allclose(model[0].weight.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_a_program_whose_per_op_collectives_run_out_of_colors_keeps_its_per_op_matmuls(
    monkeypatch,
):
    """On WSE2 with 17 colors the MLP step's per-op collectives (ktree), with every product
    SUMMA (the skinny path off), do not fit: the copy lowered to count barriers fails, so
    nothing is compared and nothing changes (no error: choose-collectives, next, picks
    collectives that fit; tests/unit/test_choose_collectives.py)."""
    monkeypatch.setattr(gemv, "SKINNY_MAX", 0)
    with pf.target(dataclasses.replace(pf.sim.WSE2, num_colors=17)):
        module = runtime._program_module((mlp_step(),))
        compiler.run_pipeline(module, BEFORE)
    per_op = [op.algorithm.data for op in matmuls(module)]
    assert cm.program_estimate(module) is None
    assert cm.choose(module) == []
    assert [op.algorithm.data for op in matmuls(module)] == per_op
