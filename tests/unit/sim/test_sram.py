"""SRAM storage (pyflame/sim/sram.py): only the bytes buffers use exist on the host, one block
per group of buffers that share bytes, and aliasing buffers stay aliased."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import compiler, tracing
from pyflame.sim.executable import Buffer
from pyflame.sim.planner import compile_plan
from pyflame.sim.sram import Sram, SramPool, group_buffers, tiles


def _buf(index: int, rect, offset: int, size: int) -> Buffer:
    """`size` float32 elements at byte `offset` on the PEs of `rect`."""
    return Buffer(index, f"b{index}", rect, offset, size, size * 4)


def test_groups_join_buffers_through_shared_bytes():
    """a and b share nothing, c overlaps both: one block over their union; d sits next to
    them on other PEs: its own block. e shares a's PEs but not its bytes: its own block."""
    buffers = [
        _buf(0, (0, 0, 4, 4), 0, 1024),  # a: bytes [0, 4096)
        _buf(1, (2, 2, 2, 2), 4096, 1024),  # b: bytes [4096, 8192)
        _buf(2, (0, 0, 4, 4), 2048, 1024),  # c: bytes [2048, 6144): overlaps a and b
        _buf(3, (0, 4, 4, 4), 0, 1024),  # d: PEs right of the others
        _buf(4, (0, 0, 4, 4), 8192, 16),  # e: bytes [8192, 8256)
    ]
    blocks = group_buffers(buffers)
    assert [(b.rect, b.lo, b.hi, b.members) for b in blocks] == [
        ((0, 0, 4, 4), 0, 8192, (0, 1, 2)),
        ((0, 4, 4, 4), 0, 4096, (3,)),
        ((0, 0, 4, 4), 8192, 8256, (4,)),
    ]
    sram = Sram((4, 8, 8256), buffers, blocks)
    assert sram.nbytes == 16 * 8192 + 16 * 4096 + 16 * 64
    # c's bytes [2048, 4096) are a's second half, [4096, 6144) b's first half (on b's PEs)
    sram.views[2][:] = 7.0
    assert (sram.views[0][:, :, 512:] == 7.0).all() and (sram.views[0][:, :, :512] == 0).all()
    assert (sram.views[1][:, :, :512] == 7.0).all() and (sram.views[1][:, :, 512:] == 0).all()
    assert (sram.views[3] == 0).all() and (sram.views[4] == 0).all()
    image = sram.image()
    assert image.shape == (4, 8, 8256)
    assert (image[:, :4, 2048:6144].view(np.float32) == 7.0).all()
    assert (image[:, 4:] == 0).all() and (image[:, :4, :2048] == 0).all()


def test_a_64x64_program_holds_only_its_bytes():
    """A GEMM on 64x64 PEs with 4x4 tiles: its SRAM blocks hold its buffers' bytes, far fewer
    than 64 * 64 PEs * 48 KiB, and the run's image has every buffer at its SRAM address."""
    g, n = 64, 256
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    layout = pf.MeshLayout.grid(g, g)
    tr = tracing.trace([pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)])
    module = tr.module()
    compiler.lower(module, "pe")
    exe = compile_plan(module)
    sram = exe.new_sram()
    used = max(buf.offset + buf.nbytes for buf in exe.buffers)
    assert sram.nbytes <= g * g * used  # no more than the used bytes of every PE
    assert sram.nbytes * 20 < g * g * 48 * 1024
    (out,), _, image = exe.run_with_sram(tr.inputs())
    np.testing.assert_allclose(out.reshape(n, n), a @ b, rtol=1e-4, atol=1e-4)
    assert image.shape == exe.sram_shape
    (_,), _, blocks = exe.run_on_sram(tr.inputs())
    for buf, view in zip(exe.buffers, blocks.views, strict=True):
        r0, c0, nr, nc = buf.rect
        raw = image[r0 : r0 + nr, c0 : c0 + nc, buf.offset : buf.offset + buf.nbytes]
        np.testing.assert_array_equal(raw.view(buf.dtype), view)


def _gemm_plan(n: int, g: int, seed: int):
    """relu(a @ b) and a.T @ relu(a @ b) on g x g PEs (the second's SUMMA loop accumulates in
    a private array, pyflame/sim/private_acc.py)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    layout = pf.MeshLayout.grid(g, g)
    x, y = pf.from_numpy(a, layout=layout), pf.from_numpy(b, layout=layout)
    z = (x @ y).relu()
    tr = tracing.trace([z, x.T @ z])
    module = tr.module()
    compiler.lower(module, "pe")
    return compile_plan(module), tr.inputs(), a.T @ np.maximum(a @ b, 0)


def test_runs_reuse_their_executables_zeroed_sram():
    """`run` keeps its SRAM (and the private accumulators' arrays) for the executable's next
    run, zeroed again: the second run computes the same bytes into the same memory, and the
    first run's outputs are the caller's own (not views of the SRAM)."""
    exe, args, want = _gemm_plan(33, 4, 0)
    (_, first), report = exe.run(args)
    np.testing.assert_allclose(first.reshape(want.shape), want, rtol=1e-4, atol=1e-4)
    assert len(exe._idle_srams) == 1
    sram = exe._idle_srams[0]
    scratch = dict(sram.views.scratch)
    assert scratch, "no private accumulator: the test no longer covers the scratch arrays"
    kept = first.copy()
    other = [np.flip(x).copy() for x in args]
    (_, second), _ = exe.run(other)
    assert exe._idle_srams == [sram]  # the same SRAM ran again
    assert all(sram.views.scratch[k] is v for k, v in scratch.items())
    assert first.tobytes() == kept.tobytes()  # the first output is not the SRAM's
    (_, fresh), fresh_report, _ = exe.run_on_sram(other)  # a new SRAM: every step, exact
    # (run fuses the SUMMA loop's products into one: the same sums in another order)
    np.testing.assert_allclose(second, fresh, rtol=1e-5, atol=1e-5 * np.abs(fresh).max())
    assert fresh_report.cycles == report.cycles


def test_a_plan_builds_its_run_steps_only_when_it_first_runs(monkeypatch):
    """`compile_plan` stops at the plan (a report read from it costs no run preparation: the
    merged exchange gathers hold ~50 bytes per element moved); the first run prepares the
    step lists once, for every later run, `run_on_sram` and the step lists alike."""
    from pyflame.sim import executable

    calls = []
    real = executable.merge_gathers

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(executable, "merge_gathers", counted)
    exe, args, want = _gemm_plan(33, 4, 0)
    assert exe.report.cycles > 0 and "steps" in repr(exe)
    assert calls == []  # planned, reported, not prepared
    (_, out), _ = exe.run(args)
    np.testing.assert_allclose(out.reshape(want.shape), want, rtol=1e-4, atol=1e-4)
    prepared = len(calls)
    assert prepared == 2  # the exact and the lean step lists
    exe.run(args)
    (_, exact), _, _ = exe.run_on_sram(args)
    assert len(exe.steps) >= len(exe.lean_steps) and exe.run_steps
    assert len(calls) == prepared  # once for all of them
    np.testing.assert_allclose(exact.reshape(want.shape), want, rtol=1e-4, atol=1e-4)


def test_a_kept_sram_is_zeroed_before_it_runs_again():
    exe, _, _ = _gemm_plan(32, 2, 1)
    idle: list[Sram] = []
    pool = SramPool(1 << 30)
    sram = exe.new_sram()
    for arr in sram.arrays:
        arr[...] = 7
    pool.give(idle, sram)
    assert idle == [sram] and pool.idle_bytes == sram.held_bytes
    again = pool.take(idle)
    assert again is sram and idle == [] and pool.idle_bytes == 0
    assert all(not arr.any() for arr in sram.arrays)
    assert pool.take(idle) is None


def test_the_pool_keeps_no_more_than_its_limit():
    exe, _, _ = _gemm_plan(32, 2, 2)
    small = exe.new_sram()
    pool = SramPool(small.held_bytes)
    idle: list[Sram] = []
    pool.give(idle, small)
    pool.give(idle, exe.new_sram())  # over the limit: dropped
    assert idle == [small] and pool.idle_bytes == small.held_bytes
    pool.drop(idle)  # (its executable is gone)
    assert idle == [] and pool.idle_bytes == 0


def test_tiles_never_copies():
    """`tiles` views a buffer's tiles as a shape (splitting the lanes of a strided view is a
    view), or raises: a write into a copy would be lost."""
    block = np.zeros((2, 3, 40), dtype=np.float32)
    view = block[:, :, 4:28]
    t = tiles(view, (4, 6))
    t[1, 2, 3, 0] = 5.0
    assert view[1, 2, 3 * 6 : 4 * 6].tolist() == [5.0] + [0.0] * 5
    strided = tiles(view[:, :, ::2], (3, 4))  # every other lane: still a view
    strided[0, 0, 0, 1] = 6.0
    assert view[0, 0, 2] == 6.0
    with pytest.raises(ValueError):
        tiles(view, (5, 5))


def _typed(index: int, rect, offset: int, size: int, dtype) -> Buffer:
    itemsize = np.dtype(dtype).itemsize
    b = Buffer(index, f"b{index}", rect, offset, size, size * itemsize)
    b.dtype = np.dtype(dtype)  # type: ignore[misc]  # a test's buffer of another type
    return b


def test_lane_major_blocks_hold_each_lane_as_a_plane():
    """A block of word buffers is (words, rows, cols): lane k of every PE one contiguous
    plane; buffers keep their (rows, cols, n) views, aliasing and image. An i1 mask of at most
    four lanes fits in one word of such a block; a longer one makes its block PE-major."""
    mask = _typed(2, (0, 0, 2, 3), 8, 3, np.bool_)
    buffers = [_buf(0, (0, 0, 2, 3), 0, 4), _buf(1, (0, 0, 2, 3), 8, 2), mask]
    blocks = group_buffers(buffers)
    assert [b.unit for b in blocks] == [4]
    sram = Sram((2, 3, 16), buffers, blocks)
    assert sram.arrays[0].shape == (4, 2, 3) and sram.arrays[0].dtype == np.uint32
    a, b, m = sram.views
    assert a.shape == (2, 3, 4) and a.strides == (12, 4, 24)
    a[...] = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert np.array_equal(b, a[:, :, 2:4])  # bytes [8, 16): a's lanes 2 and 3
    m[...] = True  # the low three bytes of lane 2's word
    image = sram.image().view(np.float32)
    want = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert np.array_equal(image[:, :, [0, 1, 3]], want[:, :, [0, 1, 3]])
    lane2 = sram.image()[:, :, 8:12]
    assert (lane2[:, :, :3] == 1).all()
    assert np.array_equal(lane2[:, :, 3], want[:, :, 2:3].view(np.uint8)[:, :, 3])
    long_mask = _typed(2, (0, 0, 2, 3), 8, 5, np.bool_)
    assert [b.unit for b in group_buffers([*buffers[:2], long_mask])] == [0]


@pytest.mark.parametrize(("dtype", "unit"), [(np.bool_, 1), (np.float16, 2)])
def test_blocks_of_narrow_elements_are_lane_major_too(dtype, unit):
    """A block of masks only (allocate-sram keeps long masks apart) holds one byte of every
    PE per plane; a block of halves one half: the same views and image as PE-major."""
    buffers = [_typed(0, (0, 0, 3, 2), 0, 10, dtype), _typed(1, (1, 0, 2, 2), 4 * unit, 7, dtype)]
    blocks = group_buffers(buffers)
    assert [b.unit for b in blocks] == [unit]
    sram = Sram((3, 2, 11 * unit), buffers, blocks)
    assert sram.arrays[0].shape == (11, 3, 2) and sram.arrays[0].itemsize == unit
    x, y = sram.views
    values = np.random.default_rng(0).standard_normal((3, 2, 10)) > 0
    x[...] = values.astype(dtype)
    assert np.array_equal(y[:, :, :6], x[1:, :, 4:])  # the same bytes
    image = sram.image()
    assert np.array_equal(image[:, :, : 10 * unit].view(dtype), values.astype(dtype))


def _layout_programs():
    """Programs whose sums and products would round differently if numpy's order followed
    the SRAM's layout: an MLP training step's parts, reductions, a conv, a GEMV."""
    rng = np.random.default_rng(11)

    def t(*shape, layout=None):
        a = (rng.standard_normal(shape) * 3).astype(np.float32)
        return pf.from_numpy(a, layout=layout)

    grid = pf.MeshLayout.grid(4, 4)
    x, w = t(37, 29, layout=grid), t(13, 29, layout=grid)
    h = (x @ w.T).relu()
    g = h.softmax(dim=1) - 0.5
    yield [h, g, g.T @ x, (x.T @ g).T, g.sum(dim=0), h.amax(dim=1), h.mean()]
    v = t(29)
    yield [x @ v, (x * x).sum(dim=1), x.T.sum(dim=1)]
    img, k = t(2, 3, 9, 9), t(4, 3, 3, 3)
    yield [pf.nn.functional.conv2d(img, k, padding=1), pf.nn.functional.avg_pool2d(img, 3)]
    # small tiles on a 32x32 grid: SUMMA's products one GEMM per tile element
    # (fused_products.block_products), as the MLP's
    big = pf.MeshLayout.grid(32, 32)
    x, w = t(32, 800, layout=big), t(128, 800)
    h = x @ w.T
    yield [h, h.T @ x]


@pytest.mark.parametrize("program", range(4))
def test_results_do_not_depend_on_the_blocks_layout(program, monkeypatch):
    """The same programs planned with lane-major blocks and with PE-major ones only: the same
    output bits, by `run` and by `run_on_sram` (pyflame/sim/tile_math.py)."""
    from planned import plan

    from pyflame.sim import sram as sram_module

    runs = []
    for lane_major in (True, False):
        monkeypatch.setattr(sram_module, "LANE_MAJOR_BLOCKS", lane_major)
        outputs = list(_layout_programs())[program]
        exe, args = plan(outputs)
        assert any(b.lane_major for b in exe.sram_blocks) == lane_major
        got, _ = exe.run(args)
        exact, _, _ = exe.run_on_sram(args)
        runs.append([np.asarray(o).tobytes() for o in (*got, *exact)])
    assert runs[0] == runs[1]
