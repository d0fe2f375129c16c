"""Dead transfers (pyflame/sim/dead_transfers.py): `Executable.run` leaves out the sends and
receives no host output depends on (the barriers that order route switches), with the outputs
of running every step; what any output reads is kept."""

from __future__ import annotations

import numpy as np
import pytest
from fidelity_corpus import close

import pyflame as pf
from pyflame import compiler, nn, optim, tracing
from pyflame.layout import MeshLayout
from pyflame.sim import compile_plan
from pyflame.sim.dead_transfers import dead_transfers, is_dead, overwrites, set_operands
from pyflame.sim.executable import Buffer
from pyflame.sim.step_access import Access, Received, annotate


def _planned(tensors, *, leave_out: str | None = None):
    """The tensors' program planned; `leave_out`: a pass of the pipeline not run."""
    tr = tracing.trace(tensors)
    module = tr.module()
    if leave_out is None:
        compiler.lower(module, "pe")
    else:
        passes = [p for p in compiler.stage_pipeline("flame", "pe").split(",") if p != leave_out]
        compiler.run_pipeline(module, ",".join(passes))
    return compile_plan(module), tr.inputs()


def _same_outputs(exe, args) -> None:
    """`run` (dead transfers left out) gives the full run's outputs: the same bits, but for
    products, which `run` sums over a SUMMA loop's whole K in one product (fp32 rounding:
    fidelity_corpus.close, the lean run's contract since session 11)."""
    lean, _ = exe.run(args)
    exact, _, _ = exe.run_with_sram(args)
    assert len(lean) == len(exact)
    for got, ref in zip(lean, exact, strict=True):
        assert close(np.asarray(got), np.asarray(ref)), (got, ref)


def test_barriers_are_left_out_of_slices():
    """Slices of a 1x9 tensor over 4x4 PEs need barriers (tests/unit/test_allocate_colors.py):
    every barrier step is dead, the outputs are those of the full run and numpy's."""
    a = np.arange(9, dtype=np.float32).reshape(1, 9)
    x = pf.from_numpy(a, layout=MeshLayout.grid(4, 4))
    outs = [x[:, 0:1], x[..., -1], x[:, ::4], x[0], x[:, 1:8], x[None, ..., None]]
    exe, args = _planned(outs)
    barrier = [b.index for b in exe.buffers if b.name == "barrier"]
    assert barrier, "the program has no barrier: the test no longer covers one"
    dead = [k for k, s in enumerate(exe.lean_steps) if is_dead(s)]
    assert dead
    _same_outputs(exe, args)
    got, _ = exe.run(args)
    refs = [a[:, 0:1], a[..., -1], a[:, ::4], a[0], a[:, 1:8], a[None, ..., None]]
    for g, ref in zip(got, refs, strict=True):
        np.testing.assert_array_equal(g.reshape(ref.shape), ref)


@pytest.mark.slow
def test_mlp_training_step_runs_without_its_barriers():
    """The MLP 784-256-10 step with the layouts of the default rules (assign-layouts left out:
    with it the step needs no barrier): a quarter of its steps are barrier transfers (most of
    ~11,000 when barriers chained their word through a stage per PE; 586 steps since they
    gather); `run` leaves them out, its outputs are the full run's."""
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((64, 784)).astype(np.float32)
    ys = rng.integers(0, 10, 64).astype(np.int32)
    pf.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = optim.SGD(model.parameters(), lr=0.01)
    loss = nn.CrossEntropyLoss()(model(pf.from_numpy(xs)), pf.from_numpy(ys))
    loss.backward()
    opt.step()
    exe, args = _planned([loss, *[p for p in model.parameters()]], leave_out="assign-layouts")
    assert any(b.name == "barrier" for b in exe.buffers), "no barrier: the test covers none"
    dead = sum(is_dead(s) for s in exe.lean_steps)
    assert dead > len(exe.steps) // 4, (dead, len(exe.steps))
    assert len(exe.run_steps) <= len(exe.lean_steps) - dead, (len(exe.run_steps), dead)
    _same_outputs(exe, args)
    loss.item()  # the step's parameter updates are pending: run them, leave no lazy state


def _buffers(n: int, dtype=np.float32) -> list[Buffer]:
    """n buffers of 4 elements on PEs (0, 0)+2x2, at distinct offsets."""
    d = np.dtype(dtype)
    return [Buffer(i, f"b{i}", (0, 0, 2, 2), 16 * i, 4, 4 * d.itemsize, d) for i in range(n)]


WHOLE = (slice(0, 2), slice(0, 2), slice(0, 4))


def _send(i: int, key: int):
    def step(V, F, A, O):
        F[key] = V[i][WHOLE].copy()

    return annotate(step, Access(reads={i: WHOLE}, sent=key))


def _recv(i: int, key: int, combine: str | None = None):
    def step(V, F, A, O):
        V[i][WHOLE] = F.pop(key) + (V[i][WHOLE] if combine else 0)

    if combine is not None:
        acc = Access(
            reads={i: WHOLE}, writes={i: WHOLE}, released=(key,), batches=(key,), combine=combine
        )
    else:
        rec = Received(i, WHOLE, key, Ellipsis, True)
        acc = Access(writes={i: WHOLE}, received=rec, released=(key,), batches=(key,))
    return annotate(step, acc)


def _host_out(i: int):
    def step(V, F, A, O):
        O[0] = V[i][WHOLE].copy()

    return set_operands(step, [i])


def _fill(i: int):
    def step(V, F, A, O):
        V[i][WHOLE] = 1.0

    return overwrites(set_operands(step, [i]), i, WHOLE)


def test_what_an_output_reads_is_kept():
    bufs = _buffers(3)
    # b0 -> b1 is read by the host; b0 -> b2 is overwritten by a fill before anyone reads it
    steps = [_send(0, 0), _recv(1, 0), _send(0, 1), _recv(2, 1), _fill(2), _host_out(1)]
    out = dead_transfers(steps, bufs)
    assert [is_dead(s) for s in out] == [False, False, True, True, False, False]


def test_a_step_without_records_keeps_everything_before_it():
    bufs = _buffers(2)

    def opaque(V, F, A, O):  # no Access, no operands: may read anything
        pass

    steps = [_send(0, 0), _recv(1, 0), opaque]
    assert not any(is_dead(s) for s in dead_transfers(steps, bufs))


def test_unread_buffers_at_the_end_are_dead_but_checked_int32_combines_run():
    """Nothing reads b1 after the run (only run_with_sram would): its receives are dead,
    except an int32 sum, whose overflow check is observable."""
    floats = _buffers(2)
    steps = [_send(0, 0), _recv(1, 0, combine="sum")]
    assert all(is_dead(s) for s in dead_transfers(steps, floats))
    ints = _buffers(2, np.int32)
    assert not any(is_dead(s) for s in dead_transfers(steps, ints))


def test_a_partial_overwrite_does_not_end_a_life():
    bufs = _buffers(2)
    half = (slice(0, 1), slice(0, 2), slice(0, 4))

    def fill_half(V, F, A, O):
        V[1][half] = 1.0

    steps = [_send(0, 0), _recv(1, 0), overwrites(set_operands(fill_half, [1]), 1, half)]
    steps.append(_host_out(1))
    assert not any(is_dead(s) for s in dead_transfers(steps, bufs))


def test_a_read_of_a_buffer_tiled_by_its_windows_reads_the_windows():
    """A packed allreduce buffer (combine-collectives: `pe.alloc ... in %whole at N`,
    `Buffer.whole`) is written window by window, never whole in one step. A later read of
    it counts as reads of its windows, which their producers' fills write whole: a barrier's
    word that allocate-sram put among its bytes (b3, inside window b1) is dead before them.
    Without windows tiling it (one missing), the read keeps the barrier."""
    d = np.dtype(np.float32)

    def buffers(tiled: bool) -> list[Buffer]:
        return [
            Buffer(0, "barrier", (0, 0, 2, 2), 64, 4, 16, d),
            Buffer(1, "w1", (0, 0, 2, 2), 0, 4, 16, d, whole=2),
            Buffer(2, "packed", (0, 0, 2, 2), 0, 8 if tiled else 12, 32 if tiled else 48, d),
            Buffer(3, "word", (0, 0, 2, 2), 4, 1, 4, d),
            Buffer(4, "w2", (0, 0, 2, 2), 16, 4, 16, d, whole=2),
            Buffer(5, "src", (0, 0, 2, 2), 96, 4, 16, d),
        ]

    def read_packed(V, F, A, O):
        O[0] = V[2].copy()

    steps = [
        _send(5, 0),
        _recv(3, 0),  # the barrier's word, among w1's bytes
        _fill(1),
        _fill(4),
        annotate(read_packed, Access(reads={2: (slice(0, 2), slice(0, 2), slice(0, 8))})),
    ]
    assert [is_dead(s) for s in dead_transfers(steps, buffers(True))][:2] == [True, True]
    assert not any(is_dead(s) for s in dead_transfers(steps, buffers(False)))
