"""The simulator's shape-op support: pe.broadcast, and pe.exchange's index map (slice, pad,
concat) and reshape form (data, untouched elements, padding, messages and timing)."""

from __future__ import annotations

import numpy as np
import pytest

from pyflame.core.distribution import Distribution
from pyflame.core.target import SMALL
from pyflame.sim.layout_io import exchange_sources


def _program(sim, shape, src, dst_shape, dst, index_map=None, fill=None):
    """host_in `shape` in layout `src`, [fill dst,] exchange into `dst`, host_out dst."""
    (sg, ss), (dg, dsplit) = src, dst
    ds, dd = Distribution(shape, sg, ss), Distribution(dst_shape, dg, dsplit)
    slay, dlay = sim.layout(shape, sg, ss), sim.layout(dst_shape, dg, dsplit)
    b = sim.Body()
    b.alloc("s", (0, 0) + sg, ds.local_elems)
    b.alloc("d", (0, 0) + dg, dd.local_elems)
    tin, tout = sim.tensor(shape), sim.tensor(dst_shape)
    b.op(f"pe.host_in %x, %s {{layout = {slay}, pes = {sim.pes((0, 0) + sg)}}} : {tin}, {b.t('s')}")
    if fill is not None:
        b.op(f"pe.fill %d {{value = {fill} : f64, pes = {sim.pes((0, 0) + dg)}}} : {b.t('d')}")
    sim.exchange(b, "d", "s", (shape, sg, ss), (dst_shape, dg, dsplit), index_map)
    b.op(
        f"%o = pe.host_out %d {{layout = {dlay}, pes = {sim.pes((0, 0) + dg)}}} : {b.t('d')} -> {tout}"
    )
    return sim.program(b.text(), f"%x: {tin}", tout, f"%o : {tout}")


def _reference(x, dst_shape, index_map, fill):
    """numpy meaning of an exchange with an index map (elements without source keep `fill`)."""
    out = np.full(dst_shape, np.float32(fill if fill is not None else 0), np.float32)
    offset, stride = index_map
    for i in np.ndindex(*dst_shape):
        j = tuple(o + s * k for o, s, k in zip(offset, stride, i, strict=True))
        if all(0 <= jj < n for jj, n in zip(j, x.shape, strict=True)):
            out[i] = x[j]
    return out


LAYOUTS = [
    ((2, 2), ("r", "c")),
    ((3, 2), ("c", "r")),
    ((1, 1), ("", "")),
    ((2, 3), ("rc", "")),
    ((2, 2), ("", "c")),  # replicated along rows
    ((3, 1), ("r", "")),
]

MAPS = [  # (dst shape, (offset, stride)) for a 7 x 5 source
    ((3, 2), ((1, 0), (2, 3))),  # x[1::2, ::3]
    ((7, 1), ((0, 4), (1, 1))),  # x[:, 4:5]
    ((10, 8), ((-1, -2), (1, 1))),  # pad (1, 2) / (2, 1) with the fill value
    ((4, 5), ((3, 0), (1, 1))),  # crop
    ((9, 5), ((-2, 0), (1, 1))),  # one operand of a concat along dim 0
]


@pytest.mark.parametrize("src", LAYOUTS)
@pytest.mark.parametrize("dst", LAYOUTS)
@pytest.mark.parametrize("dst_shape,index_map", MAPS)
def test_index_map_data(sim, rng, src, dst, dst_shape, index_map):
    x = rng.standard_normal((7, 5)).astype(np.float32)
    text = _program(sim, (7, 5), src, dst_shape, dst, index_map, fill=-3.5)
    (o,), _ = sim.run(text, x)
    np.testing.assert_array_equal(o, _reference(x, dst_shape, index_map, -3.5))


@pytest.mark.parametrize("src", LAYOUTS)
@pytest.mark.parametrize("dst", LAYOUTS)
def test_reshape_exchange(sim, rng, src, dst):
    """No index map and another shape: the same row-major position."""
    x = rng.standard_normal((7, 5)).astype(np.float32)
    (o,), _ = sim.run(_program(sim, (7, 5), src, (5, 7), dst), x)
    np.testing.assert_array_equal(o, x.reshape(5, 7))


def test_reshape_exchange_to_and_from_rank_0_and_1(sim, rng):
    x = rng.standard_normal((1, 1)).astype(np.float32)
    (o,), _ = sim.run(_program(sim, (1, 1), ((2, 2), ("r", "c")), (), ((1, 1), ())), x)
    assert o.shape == () and o == x[0, 0]
    y = rng.standard_normal((12,)).astype(np.float32)
    (o,), _ = sim.run(
        _program(sim, (12,), ((1, 3), ("c",)), (3, 2, 2), ((2, 2), ("", "r", "c"))), y
    )
    np.testing.assert_array_equal(o, y.reshape(3, 2, 2))


def test_concat_of_two_exchanges_into_one_buffer(sim, rng):
    a = rng.standard_normal((5, 3)).astype(np.float32)
    bb = rng.standard_normal((2, 3)).astype(np.float32)
    la = sim.layout((5, 3), (2, 2), ("r", "c"))
    lb = sim.layout((2, 3), (1, 1), ("", ""))
    lo = sim.layout((7, 3), (2, 2), ("r", "c"))
    b = sim.Body()
    b.alloc("a", (0, 0, 2, 2), 6)
    b.alloc("b", (0, 0, 1, 1), 6)
    b.alloc("o", (0, 0, 2, 2), 8)
    b.op(
        f"pe.host_in %x, %a {{layout = {la}, pes = {sim.pes((0, 0, 2, 2))}}} : {sim.tensor((5, 3))}, {b.t('a')}"
    )
    b.op(
        f"pe.host_in %y, %b {{layout = {lb}, pes = {sim.pes((0, 0, 1, 1))}}} : {sim.tensor((2, 3))}, {b.t('b')}"
    )
    specs = {"a": ((5, 3), (2, 2), ("r", "c")), "b": ((2, 3), (1, 1), ("", ""))}
    for src, off in (("a", 0), ("b", -5)):
        out = ((7, 3), (2, 2), ("r", "c"))
        sim.exchange(b, "o", src, specs[src], out, ((off, 0), (1, 1)))
    b.op(
        f"%r = pe.host_out %o {{layout = {lo}, pes = {sim.pes((0, 0, 2, 2))}}} : {b.t('o')} -> {sim.tensor((7, 3))}"
    )
    text = sim.program(
        b.text(),
        f"%x: {sim.tensor((5, 3))}, %y: {sim.tensor((2, 3))}",
        sim.tensor((7, 3)),
        f"%r : {sim.tensor((7, 3))}",
    )
    (o,), _ = sim.run(text, a, bb)
    np.testing.assert_array_equal(o, np.concatenate([a, bb]))


def test_elements_without_source_keep_their_value_and_padding_is_zeroed(sim):
    """Read the raw tiles back through an [rc] layout: pad elements hold the fill, padding 0."""
    shape, dshape = (3, 3), (5, 5)
    dd = Distribution(dshape, (2, 2), ("r", "c"))  # 3x3 tiles, one padding row/col at the end
    slay = sim.layout(shape, (1, 1), ("", ""))
    b = sim.Body()
    b.alloc("s", (0, 0, 1, 1), 9)
    b.alloc("d", (0, 0, 2, 2), dd.local_elems)
    b.op(f"pe.fill %d {{value = 7.0 : f64, pes = {sim.pes((0, 0, 2, 2))}}} : {b.t('d')}")
    b.op(
        f"pe.host_in %x, %s {{layout = {slay}, pes = {sim.pes((0, 0, 1, 1))}}} : {sim.tensor(shape)}, {b.t('s')}"
    )
    src_spec, dst_spec = (shape, (1, 1), ("", "")), (dshape, (2, 2), ("r", "c"))
    sim.exchange(b, "d", "s", src_spec, dst_spec, ((-1, -1), (1, 1)))
    flat = (4 * dd.local_elems,)
    flay = sim.layout(flat, (2, 2), ("rc",))
    b.op(
        f"%o = pe.host_out %d {{layout = {flay}, pes = {sim.pes((0, 0, 2, 2))}}} : {b.t('d')} -> {sim.tensor(flat)}"
    )
    text = sim.program(
        b.text(), f"%x: {sim.tensor(shape)}", sim.tensor(flat), f"%o : {sim.tensor(flat)}"
    )
    x = np.arange(1, 10, dtype=np.float32).reshape(shape)
    (o,), _ = sim.run(text, x)
    tiles = o.reshape(2, 2, 3, 3)
    assert tiles[0, 0].tolist() == [[7, 7, 7], [7, 1, 2], [7, 4, 5]]
    assert tiles[1, 1].tolist() == [[9, 7, 0], [7, 7, 0], [0, 0, 0]]  # row/col 5 is padding


def test_local_slice_sends_nothing(sim):
    """Slicing rows of a [_, c] tensor: every PE already holds what it keeps."""
    report = sim.plan(
        _program(sim, (8, 8), ((1, 4), ("", "c")), (3, 8), ((1, 4), ("", "c")), ((2, 0), (2, 1)))
    ).report
    assert report.wavelets.sum() == 0
    assert report.cycles > 0


def test_slice_messages_are_exact(sim):
    """x[:, 2:6] of an 8x8 [_, c] tensor on 1x4 (blocks of 2 columns) into 1x4 [_, c] (blocks of
    1 column): dst column j needs source column 2 + j, held by PE (2 + j) // 2 = 1, 1, 2, 2.
    PEs 1 and 2 keep theirs; PE 0 gets 8 wavelets from PE 1 and PE 3 gets 8 from PE 2, one hop
    each."""
    report = sim.plan(
        _program(sim, (8, 8), ((1, 4), ("", "c")), (8, 4), ((1, 4), ("", "c")), ((0, 2), (1, 1)))
    ).report
    # sources: dst col 0 <- PE 1, col 1 <- PE 1, col 2 <- PE 2, col 3 <- PE 2
    # remote: PE1 -> PE0 (1 hop), PE2 -> PE3 (1 hop); local: PE1 -> PE1, PE2 -> PE2
    assert report.wavelets.sum() == 2 * 8
    ds = Distribution((8, 8), (1, 4), ("", "c"))
    dd = Distribution((8, 4), (1, 4), ("", "c"))
    src_row, src_col, _, has_src, valid = exchange_sources(ds, dd, ((0, 2), (1, 1)))
    assert has_src.all() and valid.all()
    assert src_col[0, :, 0].tolist() == [1, 1, 2, 2]


def test_replicated_destination_gets_every_copy(sim, rng):
    """A slice into a layout replicated along rows: every row of PEs receives the data."""
    x = rng.standard_normal((6, 4)).astype(np.float32)
    text = _program(
        sim, (6, 4), ((2, 2), ("r", "c")), (1, 4), ((2, 2), ("", "c")), ((5, 0), (1, 1))
    )
    exe = sim.plan(text)
    (o,), report = exe.run([x])
    np.testing.assert_array_equal(o, x[5:6])
    # row 5 lives on PE row 1; PE row 0 receives a copy over one hop per column
    assert report.wavelets.sum() == 2 * 2


def test_broadcast(sim, rng):
    """[1, 3] tiles of a (9,) vector on 2x3 [c] expanded to 4x3 blocks of (8, 9) [r, c]."""
    x = rng.standard_normal((9,)).astype(np.float32)
    slay = sim.layout((9,), (2, 3), ("c",))
    dlay = sim.layout((8, 9), (2, 3), ("r", "c"))
    b = sim.Body()
    b.alloc("s", (0, 0, 2, 3), 3)
    b.alloc("d", (0, 0, 2, 3), 12)
    b.op(
        f"pe.host_in %x, %s {{layout = {slay}, pes = {sim.pes((0, 0, 2, 3))}}} : {sim.tensor((9,))}, {b.t('s')}"
    )
    b.op(
        f"pe.broadcast %d, %s {{src_shape = array<i64: 1, 3>, dst_shape = array<i64: 4, 3>, "
        f"pes = {sim.pes((0, 0, 2, 3))}}} : {b.t('d', 's')}"
    )
    b.op(
        f"%o = pe.host_out %d {{layout = {dlay}, pes = {sim.pes((0, 0, 2, 3))}}} : {b.t('d')} -> {sim.tensor((8, 9))}"
    )
    text = sim.program(
        b.text(), f"%x: {sim.tensor((9,))}", sim.tensor((8, 9)), f"%o : {sim.tensor((8, 9))}"
    )
    exe = sim.plan(text)
    (o,), report = exe.run([x])
    np.testing.assert_array_equal(o, np.broadcast_to(x, (8, 9)))
    assert report.wavelets.sum() == 0
    # 12 elements written and read per PE by one instruction: 12 cycles on one lane, plus its
    # issue overhead
    assert report.busy_cycles.max() == 12 + SMALL.vector_issue_cycles


def test_broadcast_middle_dim(sim, rng):
    x = rng.standard_normal((2, 1, 3)).astype(np.float32)
    lay_in = sim.layout((2, 1, 3), (1, 1), ("", "", ""))
    lay_out = sim.layout((2, 4, 3), (1, 1), ("", "", ""))
    b = sim.Body()
    b.alloc("s", (0, 0, 1, 1), 6)
    b.alloc("d", (0, 0, 1, 1), 24)
    b.op(
        f"pe.host_in %x, %s {{layout = {lay_in}, pes = {sim.pes((0, 0, 1, 1))}}} : {sim.tensor((2, 1, 3))}, {b.t('s')}"
    )
    b.op(
        f"pe.broadcast %d, %s {{src_shape = array<i64: 2, 1, 3>, dst_shape = array<i64: 2, 4, 3>, "
        f"pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('d', 's')}"
    )
    b.op(
        f"%o = pe.host_out %d {{layout = {lay_out}, pes = {sim.pes((0, 0, 1, 1))}}} : {b.t('d')} -> {sim.tensor((2, 4, 3))}"
    )
    text = sim.program(
        b.text(),
        f"%x: {sim.tensor((2, 1, 3))}",
        sim.tensor((2, 4, 3)),
        f"%o : {sim.tensor((2, 4, 3))}",
    )
    (o,), _ = sim.run(text, x)
    np.testing.assert_array_equal(o, np.broadcast_to(x, (2, 4, 3)))
