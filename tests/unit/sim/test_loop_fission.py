"""Loop fission (pyflame/sim/loop_fission.py): a pe.loop whose iterations run on disjoint PE
rows runs one strided step per body op, with the layer's receives kept as views
(pyflame/sim/step_access.py) and a private accumulator per layer (pyflame/sim/private_acc.py).
Results, SRAM and cycles must be those of the steps planned iteration by iteration."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from fidelity_corpus import close

import pyflame as pf
from pyflame import compiler, tracing
from pyflame.dialects import pe
from pyflame.passes.pe_lowering.matmul import set_algorithm
from pyflame.sim import planner, tile_math
from pyflame.sim.kernels import reduce_matmul
from pyflame.sim.loop_fission import Span, fission_loops, strided_span
from pyflame.sim.step_access import disjoint, is_elided

pytestmark = [
    pytest.mark.usefixtures("small_target"),
    pytest.mark.filterwarnings("ignore:.*layout hint"),
]


def layered(m: int, k: int, n: int, g: int, seed: int = 0, dtype=np.float32):
    """A 2.5D SUMMA product lowered to pe, and its inputs."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    lay = pf.MeshLayout.grid(g, g)
    target = dataclasses.replace(pf.sim.SMALL)
    tr = tracing.trace([pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)], target)
    module = tr.module()
    compiler.lower(module, "mesh")
    assert set_algorithm(module, "summa25d") == 1
    compiler.lower(module, "pe")
    return module, tr.inputs(), a, b


def plans(module, monkeypatch):
    """(executable with loop fission, executable planned iteration by iteration)."""
    merged = planner.compile_plan(module)
    with monkeypatch.context() as mp:
        mp.setattr(planner, "fission_loops", lambda steps, ops, loops: (list(steps), list(ops)))
        plain = planner.compile_plan(module)
    return merged, plain


def matmul_steps(ex) -> int:
    return sum(isinstance(op, pe.MatmulAccOp) for _, op in ex.step_ops)


@pytest.mark.parametrize(
    ("m", "k", "n", "g"),
    [
        (64, 64, 64, 4),  # 2 layers of 2 row groups
        (37, 29, 23, 4),  # nothing divides the grid
        (50, 40, 30, 6),  # 3 layers
        (96, 96, 96, 8),  # 4 row groups per layer, split steps
    ],
)
def test_same_results_sram_and_cycles(m, k, n, g, monkeypatch):
    module, inputs, a, b = layered(m, k, n, g)
    merged, plain = plans(module, monkeypatch)
    assert matmul_steps(merged) < matmul_steps(plain)  # the row groups ran as one step
    out_m, rep_m, sram_m = merged.run_with_sram(inputs)
    out_p, rep_p, sram_p = plain.run_with_sram(inputs)
    assert np.array_equal(
        np.asarray(out_m[0]).view(np.uint32), np.asarray(out_p[0]).view(np.uint32)
    )
    assert np.array_equal(sram_m, sram_p)  # every byte of SRAM, after the exact run
    assert rep_m.cycles == rep_p.cycles
    # the lean run (views, dead transfers left out, the layers' products fused into one:
    # pyflame/sim/fused_products.py) agrees to fp32 rounding
    lean, _ = merged.run(inputs)
    ref = np.asarray(out_p[0])
    np.testing.assert_allclose(np.asarray(lean[0]), ref, rtol=0, atol=1e-5 * np.abs(ref).max())
    np.testing.assert_allclose(np.asarray(out_m[0]), a @ b, rtol=1e-4, atol=1e-4)


def test_layer_receives_become_views(monkeypatch):
    module, inputs, _, _ = layered(96, 96, 96, 8)
    merged, _ = plans(module, monkeypatch)
    strided = [
        s.elided  # type: ignore[attr-defined]  # set on elided receives
        for s in merged.lean_steps
        if is_elided(s) and s.elided.dst[0].step not in (None, 1)  # type: ignore[attr-defined]
    ]
    assert strided  # a layer's rows: one multicast kept as a view, no copy per row


def test_chunked_products_match_one_product(monkeypatch):
    """add_products computes a few PE rows at a time: the same bits as all rows at once."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((9, 5, 1, 6, 7)).astype(np.float32)
    x = rng.standard_normal((9, 1, 1, 6, 3)).astype(np.float32)
    y = rng.standard_normal((1, 5, 1, 3, 7)).astype(np.float32)
    want = a.copy()
    tile_math.add_product(want, x, y)
    np.testing.assert_allclose(want, a + np.matmul(x, y), rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(reduce_matmul, "PRODUCT_CHUNK_BYTES", a[0].nbytes * 2)
    got = a.copy()
    reduce_matmul.add_products(got, x, y)
    assert np.array_equal(got, want)
    shared = a.copy()  # both operands shared along the rows
    reduce_matmul.add_products(shared, x[:1], y)
    want_shared = a.copy()
    tile_math.add_product(want_shared, x[:1], y)
    assert np.array_equal(shared, want_shared)


def test_strided_span():
    assert strided_span([(0, 0, 1, 8), (2, 0, 1, 8), (4, 0, 1, 8)]) == Span(
        slice(0, 5, 2), slice(0, 8)
    )
    assert strided_span([(0, 0, 2, 8), (2, 0, 2, 8)]) == Span(slice(0, 4, 1), slice(0, 8))
    assert strided_span([(0, 1, 4, 1), (0, 4, 4, 1)]) == Span(slice(0, 4), slice(1, 5, 3))
    assert strided_span([(0, 0, 2, 8), (1, 0, 2, 8)]) is None  # overlapping iterations
    assert strided_span([(0, 0, 2, 8), (3, 0, 2, 8)]) is None  # gaps between row blocks
    assert strided_span([(0, 0, 1, 8), (2, 0, 1, 8), (5, 0, 1, 8)]) is None  # uneven
    assert strided_span([(0, 0, 1, 1), (1, 1, 1, 1)]) is None  # diagonal


def test_loops_with_other_steps_between_iterations_keep_their_steps():
    def step(V, F, A, O):
        pass

    steps = [step, step, step, step]
    ops = ["a", "b", "c", "d"]
    # iterations of loop 0 with a step of the program between them: left alone
    out, out_ops = fission_loops(steps, ops, [(0, 0), None, (0, 1), None])
    assert out == steps and out_ops == ops
    # steps without a LoopPart: left alone
    out, _ = fission_loops(steps, ops, [(0, 0), (0, 1), (0, 2), None])
    assert out == steps


def test_disjoint():
    rows0 = (slice(0, 7, 2), slice(0, 4), slice(0, 16))
    rows1 = (slice(1, 8, 2), slice(0, 4), slice(0, 16))
    assert disjoint(rows0, rows1)
    assert not disjoint(rows0, (slice(0, 8), slice(0, 4), slice(0, 16)))
    assert disjoint(
        (slice(0, 8), slice(0, 2), slice(0, 16)), (slice(0, 8), slice(2, 4), slice(0, 4))
    )
    assert not disjoint(rows0, (np.arange(3), slice(0, 4), slice(0, 16)))  # not slices: may overlap


@pytest.mark.slow  # two compiles of the MLP step on WSE2: about a minute
def test_matrix_vector_tiles_read_sram_as_before(monkeypatch):
    """A matmul computes from a broadcast view what it computes from SRAM (one product per
    tile). The MLP 784-256-10 training step on WSE2 (2.5D SUMMA loops with 8x1x1 and 2x4x1
    tiles) gives what it gives without fission or elided receives."""
    from pyflame import nn, optim, runtime
    from pyflame.sim import executable

    def train_step() -> list[np.ndarray]:
        rng = np.random.default_rng(2)
        xs = rng.standard_normal((64, 784)).astype(np.float32)
        ys = rng.integers(0, 10, 64).astype(np.int32)
        pf.manual_seed(0)
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        opt = optim.SGD(model.parameters(), lr=0.01)
        loss = nn.CrossEntropyLoss()(model(pf.from_numpy(xs)), pf.from_numpy(ys))
        loss.backward()
        opt.step()
        loss.item()
        return [p.numpy().copy() for p in model.parameters()]

    with pf.target(pf.sim.WSE2):
        runtime.cache_clear()
        fast = train_step()
        runtime.cache_clear()
        with monkeypatch.context() as mp:
            mp.setattr(executable, "elide_receives", lambda steps, buffers, until_end=False: steps)
            mp.setattr(planner, "fission_loops", lambda steps, ops, loops: (list(steps), list(ops)))
            plain = train_step()
        runtime.cache_clear()
    # without fission a SUMMA loop's products are not fused into one (fp32 rounding of sums
    # in another order: fidelity_corpus.close, the lean run's contract since session 11)
    for f, p in zip(fast, plain, strict=True):
        assert close(f, p)
