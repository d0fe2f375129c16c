"""Elided receives (pyflame/sim/step_access.py): a SUMMA matmul computes from views of the
received tiles instead of their copies in SRAM, with the same outputs and the same SRAM after
the run; a receive whose buffer anything else reads still writes."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import compiler, tracing
from pyflame.passes.flame_lowering import gemv
from pyflame.sim import executable
from pyflame.sim.dead_transfers import overwrites, set_operands
from pyflame.sim.planner import compile_plan
from pyflame.sim.step_access import (
    Access,
    Received,
    access_of,
    annotate,
    buffer_conflicts,
    elide_receives,
    fixed_gather,
    is_elided,
    merge_gathers,
    sends_view,
)

# these tests cover the simulator's SUMMA paths
pytestmark = pytest.mark.usefixtures("summa_only")


def _planned(tensors, monkeypatch, elide: bool):
    """(Executable, args) of the program computing `tensors`, with or without the rewrites
    (elided receives, send views, merged exchange phases)."""
    tr = tracing.trace(tensors)
    module = tr.module()
    compiler.lower(module, "pe")
    with monkeypatch.context() as m:
        if not elide:
            m.setattr(executable, "elide_receives", lambda steps, buffers, **_: list(steps))
            m.setattr(executable, "dead_transfers", lambda steps, buffers: list(steps))
            m.setattr(executable, "merge_gathers", lambda steps, buffers, *_: list(steps))
        exe = compile_plan(module)
        exe.steps  # noqa: B018  (prepared now, under the patches: the first run would)
        return exe, tr.inputs()


@pytest.mark.parametrize(
    ("m", "k", "n", "grid"),
    [(64, 64, 64, 4), (96, 64, 32, 2), (128, 128, 1, 4)],
)
def test_summa_from_views(monkeypatch, m, k, n, grid):
    """The elided SUMMA gives numpy's product, the outputs and SRAM of the plain run bit for
    bit in `run_with_sram` (a matrix-vector product too: one product per tile from views as
    from SRAM; `run` fuses the loop's products, so to rounding), and does elide every receive
    but each buffer's last."""
    if n == 1:  # a matrix-vector product is SUMMA's only with the GEMV lowering turned off
        monkeypatch.setattr(gemv, "SKINNY_MAX", 0)
    rng = np.random.default_rng(m + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    layout = pf.MeshLayout.grid(grid, grid)
    z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)
    fast, args = _planned([z], monkeypatch, elide=True)
    plain, _ = _planned([z], monkeypatch, elide=False)
    elided = sum(is_elided(s) for s in fast.steps)
    # every SUMMA step's two tiles but the last into each receive buffer (double-buffered: the
    # last two steps' four)
    assert elided >= 2 * grid - 4
    assert not any(is_elided(s) for s in plain.steps)
    assert sum(sends_view(s) for s in fast.steps) >= 2 * grid  # SUMMA inputs never change
    (out,), _, sram = fast.run_with_sram(args)
    (ref,), _, ref_sram = plain.run_with_sram(args)
    # also the last receives elided, dead transfers left out, the SUMMA loop's products fused
    # into one (pyflame/sim/fused_products.py): the same to fp32 rounding
    (lean,), _ = fast.run(args)
    np.testing.assert_allclose(lean, out, rtol=0, atol=1e-5 * np.abs(out).max())
    np.testing.assert_allclose(out.reshape(m, n), a @ b, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(sram, ref_sram)


def _buffer(index: int, rect=(0, 0, 2, 2), offset: int = 0, nbytes: int = 16):
    return executable.Buffer(index, f"b{index}", rect, offset, nbytes // 4, nbytes)


def _step(V, F, A, O):  # a placeholder run-time step (never run)
    pass


def _recv(i: int, g: int):
    dst = (slice(0, 2), slice(0, 2), slice(0, 4))
    rec = Received(i, dst, g, (slice(0, 2), slice(0, 1)), True)
    return annotate(lambda V, F, A, O: None, Access(writes={i: dst}, received=rec, released=(g,)))


def _send(i: int, g: int):
    return annotate(lambda V, F, A, O: None, Access(reads={i: (slice(0, 2),)}, sent=g))


def _write(i: int):
    return annotate(lambda V, F, A, O: None, Access(writes={i: (slice(0, 2),)}))


def _read(i: int):  # a step that reads the buffer from SRAM (no view form)
    return annotate(lambda V, F, A, O: None, Access(reads={i: (slice(0, 2),)}))


def _fill(i: int, also_reads: bool = False):  # a kernel step writing all of buffer i
    step = overwrites(lambda V, F, A, O: None, i, (slice(0, 2), slice(0, 2), slice(0, 4)))
    return set_operands(step, (i, i) if also_reads else (i,))


def _reader(i: int, rebuilt: list):
    dst = (slice(0, 2), slice(0, 2), slice(0, 4))

    def rebuild(keys):
        rebuilt.append(keys)
        return lambda V, F, A, O: None  # (a new step, as a kernel's rebuild makes)

    return annotate(lambda V, F, A, O: None, Access(reads={i: dst}, rebuild=rebuild))


def test_conflicts_by_bytes_and_pes():
    bufs = [
        _buffer(0),
        _buffer(1, offset=8),  # shares bytes 8..16 with 0
        _buffer(2, offset=16),  # after 0
        _buffer(3, rect=(2, 0, 2, 2)),  # same bytes, other PEs
    ]
    c = buffer_conflicts(bufs)
    assert c[0, 1] and c[1, 0] and c[0, 0]
    assert not c[0, 2] and not c[0, 3] and c[1, 2]


def test_elision_needs_an_overwrite_and_view_readers():
    """recv, read, recv: the first is elided and its reader rebuilt; the last always writes.
    A barrier (a step without an Access) or a reader of aliased bytes keeps the write."""
    bufs = [_buffer(0), _buffer(1, offset=8)]
    rebuilt: list = []
    steps = [_recv(0, 0), _reader(0, rebuilt), _recv(0, 1), _reader(0, rebuilt)]
    out = elide_receives(steps, bufs)
    assert [is_elided(s) for s in out] == [True, False, False, False]
    assert out[1] is not steps[1] and rebuilt == [{0: -1}]
    assert out[1].operands == ()  # (it reads its one buffer as a view: no SRAM touched)
    assert out[3] is steps[3]

    barrier = [_recv(0, 0), _reader(0, []), _step, _recv(0, 1)]
    assert not any(is_elided(s) for s in elide_receives(barrier, bufs))

    aliased = [_recv(0, 0), _reader(1, []), _recv(0, 1)]  # buffer 1 reads bytes of 0
    assert not any(is_elided(s) for s in elide_receives(aliased, bufs))

    unread = [_recv(0, 0), _recv(0, 1)]  # no reader: nothing to hand a view to, keep it plain
    assert not any(is_elided(s) for s in elide_receives(unread, bufs))


def test_the_last_receive_is_elided_only_until_the_end():
    """`until_end` (Executable.run, which observes only outputs): the last receive into a
    buffer that only views read also becomes a view; by default it writes (exact SRAM)."""
    bufs = [_buffer(0)]
    steps = [_recv(0, 0), _reader(0, []), _recv(0, 1), _reader(0, [])]
    assert [is_elided(s) for s in elide_receives(steps, bufs)] == [True, False, False, False]
    lean = elide_receives(steps, bufs, until_end=True)
    assert [is_elided(s) for s in lean] == [True, False, True, False]
    later = [*steps, _read(0)]  # a later step reads the bytes: the last receive writes
    assert not is_elided(elide_receives(later, bufs, until_end=True)[2])
    written = [*steps, _write(0)]  # written (in part), never read: nothing observes them
    assert is_elided(elide_receives(written, bufs, until_end=True)[2])
    # a write of unknown extent, then a read: the bytes it did not write are still read
    assert not is_elided(elide_receives([*written, _read(0)], bufs, until_end=True)[2])
    assert not is_elided(elide_receives(later, bufs)[2])  # run_on_sram: always writes


def test_the_last_receive_is_a_view_when_a_later_buffer_overwrites_its_bytes():
    """`until_end`: a later buffer that reuses the last receive's bytes (buffers sharing SRAM)
    and writes all of them before anything reads them ends their life; written only in part
    (the rest then read), or read first, the receive writes."""
    bufs = [_buffer(0), _buffer(1), _buffer(2, rect=(0, 0, 1, 2))]  # 1 and 2 share 0's bytes
    steps = [_recv(0, 0), _reader(0, []), _recv(0, 1), _reader(0, [])]
    killed = [*steps, _recv(1, 2), _read(1)]
    assert is_elided(elide_receives(killed, bufs, until_end=True)[2])
    assert is_elided(elide_receives([*steps, _fill(1), _read(1)], bufs, until_end=True)[2])
    row = (slice(0, 1), slice(0, 2), slice(0, 4))
    one_row = annotate(
        lambda V, F, A, O: None,
        Access(writes={2: row}, received=Received(2, row, 2, (slice(0, 1), slice(0, 2)), True)),
    )
    part = [*steps, one_row, _read(1)]  # one PE row of the two rewritten, then both read
    assert not is_elided(elide_receives(part, bufs, until_end=True)[2])
    read_first = [*steps, _read(1), _recv(1, 2)]
    assert not is_elided(elide_receives(read_first, bufs, until_end=True)[2])
    # a kernel that overwrites buffer 1 but also reads it (a later operand) reads the bytes
    reading = [*steps, _fill(1, also_reads=True), _read(1)]
    assert not is_elided(elide_receives(reading, bufs, until_end=True)[2])


def test_steps_that_touch_no_sram_do_not_end_a_dead_run_of_bytes():
    """`dead_from` passes over a step that touches no SRAM (a fill of zeros the fused runs
    after it write instead, fused_products.py; an elided receive's view); a step that may
    touch anything ends the proof."""
    from pyflame.sim.step_access import dead_from

    bufs = [_buffer(0), _buffer(1)]  # 1 takes 0's bytes
    whole = (slice(0, 2), slice(0, 2), slice(0, 4))
    conflicts = buffer_conflicts(bufs)

    def no_sram(V, F, A, O):
        pass

    setattr(no_sram, "no_sram", True)  # noqa: B010
    assert dead_from([no_sram, _fill(1), _read(1)], 0, 0, whole, conflicts, bufs)
    assert not dead_from([_step, _fill(1), _read(1)], 0, 0, whole, conflicts, bufs)
    assert not dead_from([no_sram, _read(1)], 0, 0, whole, conflicts, bufs)


def test_send_view_while_its_buffer_is_unchanged():
    """A send keeps a view of its buffer while nothing writes those bytes until its message
    is received (through the readers of an elided receive's view); else it copies."""
    bufs = [_buffer(0), _buffer(1, offset=16), _buffer(2, offset=32)]
    plain = [_send(2, 0), _recv(0, 0), _reader(0, [])]  # the last recv: not elided
    assert [sends_view(s) for s in elide_receives(plain, bufs)] == [True, False, False]

    written = [_send(2, 0), _write(2), _recv(0, 0)]  # the buffer changes before the recv
    assert not any(sends_view(s) for s in elide_receives(written, bufs))

    # the elided recv's reader writes buffer 2 after the recv: the view must not see it
    late = [_send(2, 0), _recv(0, 0), _reader(0, []), _write(2), _recv(0, 1), _reader(0, [])]
    out = elide_receives(late, bufs)
    assert is_elided(out[1]) and sends_view(out[0])
    late[2] = annotate(
        lambda V, F, A, O: None,
        Access(
            reads={0: (slice(0, 2), slice(0, 2), slice(0, 4))},
            writes={2: (slice(0, 2),)},
            rebuild=lambda keys: _step,
        ),
    )
    out = elide_receives(late, bufs)
    assert is_elided(out[1]) and not sends_view(out[0])


def test_summa_from_views_half(monkeypatch):
    """Half floats (multiplied in float32, rounded into the accumulator) from views: the plain
    run's outputs and SRAM, bit for bit (int32 matmuls do not run on the mesh)."""
    dtype = np.float16
    rng = np.random.default_rng(7)
    a = rng.integers(-4, 5, (64, 64)).astype(dtype)
    b = rng.integers(-4, 5, (64, 64)).astype(dtype)
    layout = pf.MeshLayout.grid(4, 4)
    z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)
    fast, args = _planned([z], monkeypatch, elide=True)
    plain, _ = _planned([z], monkeypatch, elide=False)
    assert any(is_elided(s) for s in fast.steps)
    (out,), _, sram = fast.run_with_sram(args)
    (ref,), _, ref_sram = plain.run_with_sram(args)
    np.testing.assert_array_equal(out.reshape(64, 64), a.astype(np.int64) @ b.astype(np.int64))
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(sram, ref_sram)


def test_exchange_phases_merged(monkeypatch):
    """The phases of an exchange run as one gather: the plain run's outputs and SRAM, bit for
    bit (padding included: 30x44 and 44x20 on 4x4 PEs)."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal((30, 44)).astype(np.float32)
    b = rng.standard_normal((44, 20)).astype(np.float32)
    lay = pf.MeshLayout.grid
    y = pf.from_numpy(a, layout=lay(4, 4)) @ pf.from_numpy(b, layout=lay(1, 1))  # b: to 4x4
    fast, args = _planned([y], monkeypatch, elide=True)
    plain, _ = _planned([y], monkeypatch, elide=False)
    merged = sum(s.__name__ == "_nothing" for s in fast.steps)
    assert merged > 0
    (out,), _, sram = fast.run_with_sram(args)
    (ref,), _, ref_sram = plain.run_with_sram(args)
    np.testing.assert_allclose(out.reshape(30, 20), a @ b, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(sram, ref_sram)


def _gather(dst_elems, zero_elems=()):
    """A gather step into buffer 1 from buffer 0 (2x2 PEs, 4 elements), writing elements
    `dst_elems` of PE (0, 0) and zeroing `zero_elems` there."""
    sel = (slice(0, 2), slice(0, 2), slice(0, 4))

    def idx(elems):
        e = np.array(elems, dtype=np.int64)
        return (np.zeros_like(e), np.zeros_like(e), e)

    g = fixed_gather(0, sel, idx(dst_elems), 1, sel, idx(dst_elems), idx(zero_elems))

    def step(V, F, A, O):
        out = V[1][sel]
        out[g.dst_idx] = V[0][sel][g.src_idx]
        out[g.zero_idx] = 0

    return annotate(step, Access(reads={0: sel}, writes={1: sel}, gather=g))


def test_gathers_merge_only_when_disjoint():
    bufs = [_buffer(0), _buffer(1, offset=16)]
    V = [np.arange(16, dtype=np.float32).reshape(2, 2, 4) + 1, np.full((2, 2, 4), -1.0, np.float32)]
    steps = [_gather([0, 1], zero_elems=[3]), _gather([2])]
    out = merge_gathers(steps, bufs)
    assert out[1].__name__ == "_nothing"
    # the merged step says what it touches (the passes after it read that)
    merged = access_of(out[0])
    assert merged is not None and set(merged.reads) == {0} and set(merged.writes) == {1}
    for s in out:
        s(V, {}, [], [])
    np.testing.assert_array_equal(V[1][0, 0], [1, 2, 3, 0])
    assert V[1][1, 1, 0] == -1  # untouched
    overlapping = [_gather([0, 1]), _gather([1])]  # the later phase would win: keep both
    assert merge_gathers(overlapping, bufs) == overlapping
    aliased = [_gather([0]), _gather([1])]
    assert merge_gathers(aliased, [_buffer(0), _buffer(1, offset=8)]) == aliased


def test_a_host_input_read_only_by_a_matmul_is_a_view_of_the_host_array(monkeypatch):
    """The GEMV's matrix: its pe.host_in is read only by the matrix-vector product, so `run`
    reads the tiles as a view of the argument (the scatter, as the host_in would write them)
    instead of writing them into SRAM; `run_on_sram` writes them. Outputs agree to fp32
    rounding, and another argument gives another product."""
    rng = np.random.default_rng(11)
    a = rng.standard_normal((96, 80)).astype(np.float32)
    x = rng.standard_normal(80).astype(np.float32)
    z = pf.from_numpy(a, layout=pf.MeshLayout.grid(4, 4)) @ pf.from_numpy(x)
    exe, args = _planned([z], monkeypatch, elide=True)
    host_ins = [k for k, (what, _) in enumerate(exe.step_ops) if what.startswith("pe.host_in")]
    lean = dict(exe.run_steps)
    assert any(is_elided(lean[k]) for k in host_ins if k in lean), "no host input elided"
    assert not any(is_elided(exe.steps[k]) for k in host_ins)  # the exact run writes SRAM
    (got,), report = exe.run(args)
    (want,), exact_report, _ = exe.run_on_sram(args)
    assert report.cycles == exact_report.cycles
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
    np.testing.assert_allclose(got, a @ x, rtol=1e-4, atol=1e-4)
    other = [np.array(v, copy=True) for v in args]
    matrix = next(i for i, v in enumerate(other) if v.shape == a.shape)
    other[matrix][3, :] += 1.0  # row 3 of the matrix: only y[3] changes
    (changed,), _ = exe.run(other)
    assert np.flatnonzero(changed != got).tolist() == [3]


def test_a_host_input_read_only_by_packs_is_a_view_of_the_host_array(monkeypatch):
    """A 2.5D SUMMA whose B pieces do not start on wavelets cuts them with two pe.packs
    (forced here: f32 pieces go as windows of B's blocks): B's pe.host_in is read by
    nothing else, so `run` packs from a view of the argument instead of writing B into SRAM
    first; `run_on_sram` writes it. The outputs agree with the exact run and numpy, and
    another B gives another product."""
    from pyflame.passes import scratch
    from pyflame.passes.pe_lowering.matmul import set_algorithm

    monkeypatch.setattr(scratch.LayeredPlan, "b_windowed", property(lambda plan: False))

    rng = np.random.default_rng(5)
    a = rng.standard_normal((120, 128)).astype(np.float32)  # (B's pieces: 32 of 128 rows)
    b = rng.standard_normal((128, 100)).astype(np.float32)
    lay = pf.MeshLayout.grid(4, 4)
    tr = tracing.trace([pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)])
    module = tr.module()
    compiler.lower(module, "mesh")
    assert set_algorithm(module, "summa25d") == 1
    compiler.lower(module, "pe")
    exe, args = compile_plan(module), tr.inputs()
    lean = dict(exe.run_steps)
    packs = {k for k, (what, _) in enumerate(exe.step_ops) if what.startswith("pe.pack")}
    host_ins = [k for k, (what, _) in enumerate(exe.step_ops) if what.startswith("pe.host_in")]
    elided = [k for k in host_ins if k in lean and is_elided(lean[k])]
    assert elided, "no host input elided"
    assert any(k in packs and lean[k] is not exe.steps[k] for k in lean), "no pack from a view"
    (got,), _ = exe.run(args)
    (want,), _, _ = exe.run_on_sram(args)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
    np.testing.assert_allclose(got.reshape(120, 100), a @ b, rtol=1e-4, atol=1e-4)
    other = [np.array(v, copy=True) for v in args]
    rhs = next(i for i, v in enumerate(other) if v.shape == b.shape)
    other[rhs][:, 7] += 1.0  # column 7 of B: only column 7 of the product changes
    (changed,), _ = exe.run(other)
    cols = np.flatnonzero((changed.reshape(120, 100) != got.reshape(120, 100)).any(axis=0))
    assert cols.tolist() == [7]


def test_reads_from_in_flight_views_do_not_read_the_bytes():
    """`dead_from`: a step that reads a buffer as an in-flight view (a reader of an elided
    receive, `read_as_views`) does not read its SRAM bytes, though its `Access` names them."""
    from pyflame.sim.step_access import dead_from

    bufs = [_buffer(0), _buffer(1)]  # 1 takes 0's bytes
    whole = (slice(0, 2), slice(0, 2), slice(0, 4))
    conflicts = buffer_conflicts(bufs)
    viewing = _read(1)
    setattr(viewing, "viewed", frozenset({1}))  # noqa: B010  (as elide_receives marks it)
    assert dead_from([viewing], 0, 0, whole, conflicts, bufs)
    assert not dead_from([_read(1)], 0, 0, whole, conflicts, bufs)
