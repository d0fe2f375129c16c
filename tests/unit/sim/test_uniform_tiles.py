"""Tiles computed once (pyflame/sim/uniform_tiles.py) and their copies made late
(pyflame/sim/deferred_replicas.py): every program here runs with and without them and must give
the same outputs, the same SRAM byte for byte and the same cycles; the ops the planner proves
to read equal tiles are computed once, and no other."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn, optim, runtime
from pyflame.sim import compile_plan, uniform_tiles
from pyflame.sim.deferred_replicas import computed_once
from pyflame.sim.step_access import is_elided

R, C, N = 3, 4, 5
FULL = (0, 0, R, C)


def _both(sim, text: str, *args, monkeypatch):
    """Plan and run `text` without and with tiles computed once; assert the same outputs (lean
    run and exact run), SRAM and cycles; return the second executable."""
    results = []
    for enabled in (False, True):
        monkeypatch.setattr(uniform_tiles, "ENABLED", enabled)
        exe = sim.plan(text)
        lean, report = exe.run(list(args))
        exact, _, sram = exe.run_with_sram(list(args))
        results.append((exe, lean, exact, sram, report.cycles))
    (_, lean0, exact0, sram0, cyc0), (exe, lean1, exact1, sram1, cyc1) = results
    for a, b in zip(lean0 + exact0, lean1 + exact1, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(sram0, sram1)
    assert cyc0 == cyc1
    return exe, lean1


def _once(exe) -> list:
    return [computed_once(s) for s in exe.steps if computed_once(s) is not None]


def _row_multicast(sim, b, src: str, dst: str, col: int = 1, color: int = 0) -> None:
    """PE column `col` sends `src` along every row; every PE receives it into `dst`."""
    for r in sim.row_broadcast_routes(color, R, C):
        b.op(r)
    b.op(f"pe.send %{src} {{color = {color} : i64, pes = {sim.pes((0, col, R, 1))}}} : {b.t(src)}")
    b.op(f"pe.recv %{dst} {{color = {color} : i64, pes = {sim.pes(FULL)}}} : {b.t(dst)}")


def _program(sim, b, arg: str, outs: list[str]) -> str:
    types = [sim.io(b, name, FULL, N, out=f"o_{name}") for name in outs]
    rets = ", ".join(f"%o_{n}" for n in outs) + " : " + ", ".join(types)
    return sim.program(b.text(), arg, ", ".join(types), rets)


def test_ops_on_a_multicast_row_are_computed_once(sim, rng, monkeypatch):
    """A value multicast along each row is equal on every PE of the row: exp, a fused
    expression and a reduce over it run on one column, and every PE still holds the results."""
    b = sim.Body()
    for name in ("a", "w", "e", "f"):
        b.alloc(name, FULL, N)
    b.alloc("m", FULL, 1)
    arg = sim.io(b, "a", FULL, N)
    _row_multicast(sim, b, "a", "w")
    b.op(f"pe.unary exp %e, %w {{pes = {sim.pes(FULL)}}} : {b.t('e', 'w')}")
    b.op(
        f'pe.fused %f, %e, %w expr "mul.f32($0, $1); add.f32(%0, $1)" '
        f"{{pes = {sim.pes(FULL)}}} : {b.t('f', 'e', 'w')}"
    )
    b.op(
        f"pe.reduce max %m, %f {{pes = {sim.pes(FULL)}, shape = array<i64: {N}>, "
        f"dims = array<i64: 0>}} : {b.t('m', 'f')}"
    )
    b.alloc("mm", FULL, N)
    b.op(
        f"pe.broadcast %mm, %m {{pes = {sim.pes(FULL)}, src_shape = array<i64: 1>, "
        f"dst_shape = array<i64: {N}>}} : {b.t('mm', 'm')}"
    )
    x = rng.standard_normal(R * C * N).astype(np.float32)
    exe, (o_f, o_mm) = _both(sim, _program(sim, b, arg, ["f", "mm"]), x, monkeypatch=monkeypatch)
    w = np.broadcast_to(x.reshape(R, C, N)[:, 1:2], (R, C, N))
    f = np.exp(w) * w + w
    np.testing.assert_array_equal(o_f.reshape(R, C, N), f)
    np.testing.assert_array_equal(o_mm.reshape(R, C, N)[..., 0], f.max(axis=2))
    once = _once(exe)
    assert len(once) == 4
    assert all(o.rect_once == (0, 0, R, 1) for o in once)


def test_one_differing_pe_keeps_every_pe_computing(sim, rng, monkeypatch):
    """After the multicast one PE's tile is changed: the row is no longer equal, the op runs on
    every PE (and PE (1, 2) gets its own result)."""
    b = sim.Body()
    for name in ("a", "w", "e"):
        b.alloc(name, FULL, N)
    arg = sim.io(b, "a", FULL, N)
    _row_multicast(sim, b, "a", "w")
    b.op(f"pe.fill %w {{value = 7.0 : f64, pes = {sim.pes((1, 2, 1, 1))}}} : {b.t('w')}")
    b.op(f"pe.unary exp %e, %w {{pes = {sim.pes(FULL)}}} : {b.t('e', 'w')}")
    x = rng.standard_normal(R * C * N).astype(np.float32)
    exe, (o_e,) = _both(sim, _program(sim, b, arg, ["e"]), x, monkeypatch=monkeypatch)
    w = np.broadcast_to(x.reshape(R, C, N)[:, 1:2], (R, C, N)).copy()
    w[1, 2] = 7.0
    np.testing.assert_array_equal(o_e.reshape(R, C, N), np.exp(w))
    assert [o.rect_once for o in _once(exe)] == []


def test_a_sender_that_changes_its_tile_breaks_the_row(sim, rng, monkeypatch):
    """Column 1 sends its `w` to the other columns (not to itself): the row is equal while the
    sender keeps the tile it sent (the op runs once), not once it changes it after the send."""
    for change in (False, True):
        b = sim.Body()
        for name in ("w", "e"):
            b.alloc(name, FULL, N)
        arg = sim.io(b, "w", FULL, N)
        rules = [
            ((0, 1), "ramp", ("west", "east")),
            ((0, 0), "east", ("ramp",)),
            ((0, 2), "west", ("east", "ramp")),
            ((0, 3), "west", ("ramp",)),
        ]
        for (_, col), src, dst in rules:
            b.op(sim.route(0, (0, col, R, 1), src, dst))
        b.op(f"pe.send %w {{color = 0 : i64, pes = {sim.pes((0, 1, R, 1))}}} : {b.t('w')}")
        if change:
            b.op(f"pe.fill %w {{value = 2.0 : f64, pes = {sim.pes((0, 1, R, 1))}}} : {b.t('w')}")
        for rect in ((0, 0, R, 1), (0, 2, R, C - 2)):
            b.op(f"pe.recv %w {{color = 0 : i64, pes = {sim.pes(rect)}}} : {b.t('w')}")
        b.op(f"pe.unary neg %e, %w {{pes = {sim.pes(FULL)}}} : {b.t('e', 'w')}")
        x = rng.standard_normal(R * C * N).astype(np.float32)
        exe, (o_e,) = _both(sim, _program(sim, b, arg, ["e"]), x, monkeypatch=monkeypatch)
        w = np.broadcast_to(x.reshape(R, C, N)[:, 1:2], (R, C, N)).copy()
        if change:
            w[:, 1] = 2.0
        np.testing.assert_array_equal(o_e.reshape(R, C, N), -w)
        assert len(_once(exe)) == (0 if change else 1)


def test_bytes_shared_with_a_later_buffer(sim, rng, monkeypatch):
    """`e` is computed once and read by `f` (computed once); then `u`, given part of `e`'s
    bytes, is filled on some PEs and read back on all: where the fill did not reach, `u` holds
    `e`'s values, so `e`'s copies were made before the fill."""
    b = sim.Body()
    for name in ("a", "w", "f"):
        b.alloc(name, FULL, N)
    e_off = b.offset
    b.alloc("e", FULL, N)
    b.alloc("u", FULL, 2, offset=e_off + 4)
    arg = sim.io(b, "a", FULL, N)
    _row_multicast(sim, b, "a", "w")
    b.op(f"pe.unary exp %e, %w {{pes = {sim.pes(FULL)}}} : {b.t('e', 'w')}")
    b.op(f"pe.unary neg %f, %e {{pes = {sim.pes(FULL)}}} : {b.t('f', 'e')}")
    b.op(f"pe.fill %u {{value = 3.0 : f64, pes = {sim.pes((0, 2, 2, 2))}}} : {b.t('u')}")
    x = rng.standard_normal(R * C * N).astype(np.float32)
    u_type = sim.io(b, "u", FULL, 2, out="o_u")
    f_type = sim.io(b, "f", FULL, N, out="o_f")
    text = sim.program(b.text(), arg, f"{f_type}, {u_type}", f"%o_f, %o_u : {f_type}, {u_type}")
    exe, (o_f, o_u) = _both(sim, text, x, monkeypatch=monkeypatch)
    e = np.exp(np.broadcast_to(x.reshape(R, C, N)[:, 1:2], (R, C, N)))
    np.testing.assert_array_equal(o_f.reshape(R, C, N), -e)
    u = e[..., 1:3].copy()
    u[0:2, 2:4] = 3.0
    np.testing.assert_array_equal(o_u.reshape(R, C, 2), u)
    assert len(_once(exe)) == 2


def test_replicated_host_input_and_scalars(sim, rng, monkeypatch):
    """A host_in of a layout replicated over rows ([_, c]) is equal down each column, a scalar
    one ([]) on every PE: an op over them runs on one row, one over scalars on one PE."""
    b = sim.Body()
    for name in ("v", "s", "e", "g"):
        b.alloc(name, FULL, N if name != "s" else 1)
    lay_v = sim.layout((N, C), (R, C), (None, "c"))
    b.op(
        f"pe.host_in %vh, %v {{layout = {lay_v}, pes = {sim.pes(FULL)}}} : "
        f"{sim.tensor((N, C))}, {b.t('v')}"
    )
    b.op(
        f"pe.host_in %sh, %s {{layout = #pe.layout<f32 on {R}x{C} split []>, "
        f"pes = {sim.pes(FULL)}}} : tensor<f32>, {b.t('s')}"
    )
    b.op(
        f'pe.fused %e, %v, %s expr "broadcast.f32($1, 1, {N}); mul.f32($0, %0)" '
        f"{{pes = {sim.pes(FULL)}}} : {b.t('e', 'v', 's')}"
    )
    b.alloc("t", FULL, 1)
    b.op(f"pe.unary exp %t, %s {{pes = {sim.pes(FULL)}}} : {b.t('t', 's')}")
    b.op(
        f"pe.broadcast %g, %t {{pes = {sim.pes(FULL)}, src_shape = array<i64: 1>, "
        f"dst_shape = array<i64: {N}>}} : {b.t('g', 't')}"
    )
    # (reads `t`, held on one PE so far, on the first row: its copies along that row first)
    b.alloc("h", FULL, N)
    b.op(
        f'pe.fused %h, %v, %t expr "broadcast.f32($1, 1, {N}); mul.f32($0, %0)" '
        f"{{pes = {sim.pes(FULL)}}} : {b.t('h', 'v', 't')}"
    )
    args = f"%vh: {sim.tensor((N, C))}, %sh: tensor<f32>"
    text = _program(sim, b, args, ["e", "g", "h"])
    v = rng.standard_normal((N, C)).astype(np.float32)
    s = np.array(1.5, np.float32)
    exe, (o_e, o_g, o_h) = _both(sim, text, v, s, monkeypatch=monkeypatch)
    np.testing.assert_array_equal(o_e.reshape(R, C, N), np.broadcast_to((v * s).T[None], (R, C, N)))
    np.testing.assert_array_equal(o_g, np.full(R * C * N, np.exp(s), np.float32))
    h = np.broadcast_to((v * np.exp(s)).T[None], (R, C, N))
    np.testing.assert_array_equal(o_h.reshape(R, C, N), h)
    assert sorted(o.rect_once for o in _once(exe)) == [
        (0, 0, 1, 1),
        (0, 0, 1, 1),
        (0, 0, 1, C),
        (0, 0, 1, C),
    ]


def test_int32_ops_that_check_overflow_run_everywhere(sim, monkeypatch):
    """An int32 add checks for overflow on each PE's real elements (which depend on where the
    PE is): it is not computed once, even over equal tiles; an int32 comparison is."""
    b = sim.Body()
    lines = []
    for name, typ in (("i", "i32"), ("j", "i32"), ("k", "i1")):
        b.types[name] = f"!pe.buf<{N}x{typ}>"
        lines.append(
            f'    %{name} = pe.alloc {{name = "{name}", pes = {sim.pes(FULL)}, '
            f"offset = {b.offset} : i64}} : {b.types[name]}"
        )
        b.offset += 32
    b.lines += lines
    b.op(f"pe.fill %i {{value = 5.0 : f64, pes = {sim.pes(FULL)}}} : {b.t('i')}")
    b.op(f"pe.binary add %j, %i, %i {{pes = {sim.pes(FULL)}}} : {b.t('j', 'i', 'i')}")
    b.op(f"pe.binary lt %k, %i, %j {{pes = {sim.pes(FULL)}}} : {b.t('k', 'i', 'j')}")
    text = sim.program(b.text())
    exe, _ = _both(sim, text, monkeypatch=monkeypatch)
    assert [o.rect_once for o in _once(exe)] == [(0, 0, 1, 1)]


@pytest.fixture
def fresh_cache():
    runtime.cache_clear()
    yield
    runtime.cache_clear()


@pytest.mark.parametrize("batch", [17, 64])
def test_training_steps_are_the_same_bits(batch, monkeypatch, fresh_cache):
    """An MLP's training steps (cross-entropy on rows held by every PE of a row after an
    allreduce, biases on every row): the same losses and parameters, bit for bit, with and
    without tiles computed once; the softmax's ops are computed once and most of their
    copies are never made. A batch of 64 (on 32x32 PEs) has its logits on every PE of a row:
    the softmax's gradient is computed once too (its scale comes through the loss's packed
    allreduce, whose windows cover it: `UniformTiles._whole_parts`)."""
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((batch, 40)).astype(np.float32)  # (planned on 16x16 PEs, 32x32)
    ys = rng.integers(0, 10, batch).astype(np.int32)
    results = []
    for enabled in (False, True):
        monkeypatch.setattr(uniform_tiles, "ENABLED", enabled)
        runtime.cache_clear()
        pf.manual_seed(3)
        model = nn.Sequential(nn.Linear(40, 31), nn.ReLU(), nn.Linear(31, 10))
        opt = optim.SGD(model.parameters(), lr=0.1)
        x, y = pf.from_numpy(xs), pf.from_numpy(ys)
        losses = []
        for _ in range(3):
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            losses.append(loss.item())
        results.append((losses, [p.numpy().copy() for p in model.parameters()]))
    (l0, p0), (l1, p1) = results
    assert l0 == l1
    for a, b in zip(p0, p1, strict=True):
        np.testing.assert_array_equal(a, b)
    programs = [c.program for c in runtime._cache.values()]  # (the programs just compiled)
    once = sum(len(_once(e)) for e in programs)
    copies = sum(s.__name__ == "replica_copies" for e in programs for _, s in e.run_steps)
    assert once > 0 and copies < once
    # the softmax's gradient too (its rows' scale comes through the loss's packed allreduce)
    exps = [
        computed_once(step) is not None
        for e in programs
        for (_, op), step in zip(e.step_ops, e.steps, strict=False)
        if op is not None and 'expr "exp.f32' in str(op)
    ]
    assert exps and (all(exps) or batch == 17)  # (17: logits split over the PE columns)
    # host inputs read only by steps computed once (the learning rate, a bias, the last
    # layer's weight in its SGD update) are views of the host arrays: those steps read them
    viewed = set()
    for e in programs:
        for step in e.lean_steps:
            if is_elided(step) and step.elided.source is not None:
                viewed.add((id(e), step.elided.buffer))
    readers = {
        (id(e), b)
        for e in programs
        for step in e.lean_steps
        if (once := computed_once(step)) is not None
        for b in once.reads
    }
    assert viewed & readers


def test_a_partial_write_keeps_the_old_lanes_apart(sim, rng, monkeypatch):
    """A broadcast writes the first N of `d`'s 2N lanes with a row's equal values; its last N
    lanes still differ from PE to PE, so an op over all of `d` runs on every PE."""
    b = sim.Body()
    b.alloc("a", FULL, N)
    b.alloc("w", FULL, 1)
    b.alloc("d", FULL, 2 * N)
    b.alloc("e", FULL, 2 * N)
    arg_a = sim.io(b, "a", FULL, N)
    arg_d = sim.io(b, "d", FULL, 2 * N)
    for r in sim.row_broadcast_routes(0, R, C):
        b.op(r)
    b.op(
        f"pe.send %a window [0, 1] {{color = 0 : i64, pes = {sim.pes((0, 1, R, 1))}}} : {b.t('a')}"
    )
    b.op(f"pe.recv %w {{color = 0 : i64, pes = {sim.pes(FULL)}}} : {b.t('w')}")
    b.op(
        f"pe.broadcast %d, %w {{pes = {sim.pes(FULL)}, src_shape = array<i64: 1>, "
        f"dst_shape = array<i64: {N}>}} : {b.t('d', 'w')}"
    )
    b.op(f"pe.unary exp %e, %d {{pes = {sim.pes(FULL)}}} : {b.t('e', 'd')}")
    tt = sim.io(b, "e", FULL, 2 * N, out="o_e")
    text = sim.program(b.text(), f"{arg_a}, {arg_d}", tt, f"%o_e : {tt}")
    x = rng.standard_normal(R * C * N).astype(np.float32)
    y = rng.standard_normal(R * C * 2 * N).astype(np.float32)
    exe, (o_e,) = _both(sim, text, x, y, monkeypatch=monkeypatch)
    d = y.reshape(R, C, 2 * N).copy()
    d[..., :N] = x.reshape(R, C, N)[:, 1:2, :1]
    np.testing.assert_array_equal(o_e.reshape(R, C, 2 * N), np.exp(d))
    assert _once(exe) == []  # (not the broadcast either: the lanes it leaves differ)


def _receive_then_exp(sim, rng, monkeypatch, send: str, recv: str):
    """`a` and `w` PE-distinct; column 1 sends (`send`, its line after `pe.send %a`), every PE
    receives into `w` (`recv`, after `pe.recv %w`); then exp over all of `w`: (the executable,
    the input values, w's received values and exp's result as numpy arrays)."""
    b = sim.Body()
    for name in ("a", "w", "e"):
        b.alloc(name, FULL, N)
    arg_a = sim.io(b, "a", FULL, N)
    arg_w = sim.io(b, "w", FULL, N)
    for r in sim.row_broadcast_routes(0, R, C):
        b.op(r)
    b.op(f"pe.send %a{send} {{color = 0 : i64, pes = {sim.pes((0, 1, R, 1))}}} : {b.t('a')}")
    b.op(f"pe.recv %w{recv} {{color = 0 : i64, pes = {sim.pes(FULL)}}} : {b.t('w')}")
    b.op(f"pe.unary exp %e, %w {{pes = {sim.pes(FULL)}}} : {b.t('e', 'w')}")
    tt = sim.io(b, "e", FULL, N, out="o_e")
    text = sim.program(b.text(), f"{arg_a}, {arg_w}", tt, f"%o_e : {tt}")
    x = rng.standard_normal(R * C * N).astype(np.float32)
    y = rng.standard_normal(R * C * N).astype(np.float32)
    exe, (o_e,) = _both(sim, text, x, y, monkeypatch=monkeypatch)
    return exe, x.reshape(R, C, N), y.reshape(R, C, N), o_e.reshape(R, C, N)


def test_a_combining_receive_of_equal_messages_into_different_tiles(sim, rng, monkeypatch):
    """Every PE adds its row's multicast message to its own tile: the sums differ along the
    row (the messages are equal, the tiles were not), so the op after runs on every PE."""
    exe, x, y, e = _receive_then_exp(sim, rng, monkeypatch, "", " combine sum")
    np.testing.assert_array_equal(e, np.exp(y + x[:, 1:2]))
    assert _once(exe) == []


def test_a_write_through_a_buffer_sharing_the_bytes(sim, rng, monkeypatch):
    """`u` shares `w`'s bytes while `w` is live (the verifier refuses that program; the
    simulator still runs it as written): writing `u` changes `w` on every PE differently, so
    the op over `w` after it runs on every PE."""
    b = sim.Body()
    b.alloc("a", FULL, N)
    w_off = b.offset
    b.alloc("w", FULL, N)
    b.alloc("e", FULL, N)
    b.alloc("u", FULL, N, offset=w_off)
    arg_a = sim.io(b, "a", FULL, N)
    _row_multicast(sim, b, "a", "w")
    arg_u = sim.io(b, "u", FULL, N)
    b.op(f"pe.unary exp %e, %w {{pes = {sim.pes(FULL)}}} : {b.t('e', 'w')}")
    tt = sim.io(b, "e", FULL, N, out="o_e")
    text = sim.program(b.text(), f"{arg_a}, {arg_u}", tt, f"%o_e : {tt}")
    x = rng.standard_normal(R * C * N).astype(np.float32)
    y = rng.standard_normal(R * C * N).astype(np.float32)
    outs = []
    for enabled in (False, True):
        monkeypatch.setattr(uniform_tiles, "ENABLED", enabled)
        exe = compile_plan(sim.parse(text, verify=False))
        outs.append(exe.run([x, y])[0][0])
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[1].reshape(R, C, N), np.exp(y.reshape(R, C, N)))
    assert _once(exe) == []


def test_a_receive_into_a_window_keeps_the_other_lanes(sim, rng, monkeypatch):
    """A multicast received into the first lane of each PE's `w` (a window): the other lanes
    still differ from PE to PE, so the op over all of `w` runs on every PE."""
    exe, x, y, e = _receive_then_exp(sim, rng, monkeypatch, " window [0, 1]", " window [0, 1]")
    w = y.copy()
    w[..., 0] = x[:, 1:2, 0]
    np.testing.assert_array_equal(e, np.exp(w))
    assert _once(exe) == []


def test_a_write_of_a_packed_buffer_gives_its_windows_its_tokens():
    """A packed allreduce buffer's windows (`Buffer.whole`, combine-collectives) hold parts
    of its bytes: where a write leaves it equal on some PEs, its windows are equal there too
    (the MLP's SGD updates read gradient windows after the packed multicast back, and stay
    computed once per PE column). A buffer that only shares some of its bytes (no window)
    becomes unknown, as before."""
    from pyflame.sim.executable import Buffer

    f32 = np.dtype(np.float32)
    buffers = [
        Buffer(0, "packed", FULL, 0, 8, 32, f32),
        Buffer(1, "window", FULL, 16, 4, 16, f32, whole=0),
        Buffer(2, "other", FULL, 28, 4, 16, f32),
    ]
    tiles = _tracker(buffers)
    other = tiles.of(2).copy()
    row = np.repeat(np.arange(C, dtype=np.int64)[None, :] + 1000, R, axis=0)  # equal columns
    tiles.write(0, FULL, row)
    np.testing.assert_array_equal(tiles.of(1), row)
    assert 2 not in tiles.tokens or not np.array_equal(tiles.of(2), other)


def _tracker(buffers):
    from types import SimpleNamespace

    return uniform_tiles.UniformTiles(SimpleNamespace(R=R, C=C, buffers=buffers))


def test_bytes_nothing_wrote_are_equal_everywhere():
    """Every run starts from zeroed SRAM: a buffer nothing has written holds the same bytes
    on every PE (`ZEROS`). Once a write of another buffer sharing its bytes changed them,
    they are unknown (a token per PE)."""
    from pyflame.sim.executable import Buffer

    f32 = np.dtype(np.float32)
    buffers = [Buffer(0, "a", FULL, 0, 4, 16, f32), Buffer(1, "b", FULL, 8, 4, 16, f32)]
    tiles = _tracker(buffers)
    assert (tiles.of(0) == uniform_tiles.ZEROS).all()
    tiles.write(1, FULL, np.arange(R * C, dtype=np.int64).reshape(R, C) + 100)
    assert len(np.unique(tiles.of(0))) == R * C


@pytest.mark.parametrize("cover", [True, False])
def test_windows_covering_their_whole_make_it_equal(cover):
    """A packed allreduce buffer (combine-collectives) whose bytes another buffer held before
    (unknown): once its windows, written with values equal along each row, cover all its
    bytes, it is equal along each row too (the MLP's loss and its count, summed in one
    buffer: the softmax's gradient after it is computed once per row). A window leaving
    bytes as they were keeps the whole unknown."""
    from pyflame.sim.executable import Buffer

    f32 = np.dtype(np.float32)
    buffers = [
        Buffer(0, "old", FULL, 0, 4, 16, f32),
        Buffer(1, "packed", FULL, 0, 4, 16, f32),
        Buffer(2, "loss", FULL, 0, 2, 8, f32, whole=1),
        Buffer(3, "count", FULL, 8, 2 if cover else 1, 8 if cover else 4, f32, whole=1),
    ]
    tiles = _tracker(buffers)
    tiles.write(0, FULL, np.arange(R * C, dtype=np.int64).reshape(R, C))  # (1 unknown)
    rows = np.repeat(np.arange(R, dtype=np.int64)[:, None] + 1000, C, axis=1)
    tiles.write(2, FULL, rows)
    tiles.write(3, FULL, rows + 10)
    packed = tiles.of(1)
    assert bool((packed == packed[:, :1]).all()) == cover


def test_an_op_over_bytes_nothing_wrote_is_computed_once(sim, rng, monkeypatch):
    """`z` is never written: every PE holds the run's zeros there, so exp over it runs on
    one PE (and gives 1.0 on every PE); over `a`'s distinct tiles, on every PE. Both
    ways give the same outputs, SRAM and cycles (`_both`), also from a kept SRAM that the
    previous run left written."""
    b = sim.Body()
    for name in ("a", "z", "e", "f"):
        b.alloc(name, FULL, N)
    arg = sim.io(b, "a", FULL, N)
    b.op(f"pe.unary exp %e, %z {{pes = {sim.pes(FULL)}}} : {b.t('e', 'z')}")
    b.op(f"pe.unary exp %f, %a {{pes = {sim.pes(FULL)}}} : {b.t('f', 'a')}")
    x = rng.standard_normal(R * C * N).astype(np.float32)
    exe, (o_e, o_f) = _both(sim, _program(sim, b, arg, ["e", "f"]), x, monkeypatch=monkeypatch)
    np.testing.assert_array_equal(o_e, np.ones(R * C * N, np.float32))
    np.testing.assert_array_equal(o_f, np.exp(x))
    assert [o.rect_once for o in _once(exe)] == [(0, 0, 1, 1)]
    (again_e, _), _ = exe.run([x + 1.0])  # (a kept SRAM: zeroed again where read first)
    np.testing.assert_array_equal(again_e, o_e)
