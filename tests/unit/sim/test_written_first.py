"""Blocks a run writes whole before reading them (pyflame/sim/written_first.py) are not zeroed
again when a kept SRAM runs again: whatever they held is never seen."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import compiler, trace
from pyflame.sim import compile_plan
from pyflame.sim.dead_transfers import overwrites, set_operands
from pyflame.sim.executable import Buffer
from pyflame.sim.sram import group_buffers
from pyflame.sim.step_access import Access, Received, annotate
from pyflame.sim.written_first import written_first


def _plan(tensors):
    tr = trace.trace(tensors)
    module = tr.module()
    compiler.lower(module, "pe")
    return compile_plan(module), tr.inputs()


def _programs():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 64)).astype(np.float32)
    b = rng.standard_normal((64, 48)).astype(np.float32)
    v = rng.standard_normal(64).astype(np.float32)
    lay = pf.MeshLayout.grid(4, 4)
    yield "gemm", lambda: [pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)]
    yield "gemv", lambda: [pf.from_numpy(a, layout=lay) @ pf.from_numpy(v)]
    yield (
        "elementwise and reduce",
        lambda: [(pf.from_numpy(a, layout=lay).relu() * 2.0).sum(dim=0)],
    )
    yield "padded", lambda: [pf.from_numpy(a[:37, :29], layout=lay).exp()]


@pytest.mark.parametrize(
    ("name", "build"), list(_programs()), ids=lambda x: x if isinstance(x, str) else ""
)
def test_garbage_in_skipped_blocks_is_never_seen(name, build):
    exe, args = _plan(build())
    first, _ = exe.run(args)
    (sram,) = exe._idle_srams
    for n, array in enumerate(sram.arrays):
        if n in exe.written_first:
            array.fill(0xA5)  # what a previous run might have left there
    again, _ = exe.run(args)
    assert exe._idle_srams == [sram]
    for x, y in zip(first, again, strict=True):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()
    if name == "gemv":  # the 64x64 matrix's block: written whole by its host_in
        assert exe.written_first


def _buffers():
    a = Buffer(0, "a", (0, 0, 2, 2), 0, 4, 16)
    b = Buffer(1, "b", (0, 0, 2, 2), 16, 4, 16)
    return [a, b]


WHOLE = (slice(0, 2), slice(0, 2), slice(0, 4))


def _step():
    def step(V, F, A, O):
        pass

    return step


def test_first_write_whole_or_first_read():
    buffers = _buffers()
    blocks = group_buffers(buffers)
    assert len(blocks) == 2
    host_in = set_operands(overwrites(_step(), 0, WHOLE), [0])  # writes a whole
    reads_b = annotate(_step(), Access(reads={1: WHOLE}, writes={0: WHOLE}))
    planned = [host_in, reads_b]
    assert written_first(blocks, buffers, list(enumerate(planned)), planned) == {0}
    # a part of a first, then a read of it: zeroed
    part = set_operands(overwrites(_step(), 0, (slice(0, 1), slice(0, 2), slice(0, 4))), [0])
    planned = [part, reads_b]
    assert written_first(blocks, buffers, list(enumerate(planned)), planned) == set()
    # a receive of a whole message into b, then anything
    recv = annotate(_step(), Access(writes={1: WHOLE}, received=Received(1, WHOLE, 0, WHOLE, True)))
    planned = [recv, host_in]
    assert written_first(blocks, buffers, list(enumerate(planned)), planned) == {0, 1}
    # a combining receive reads what was there
    combine = annotate(
        _step(),
        Access(writes={1: WHOLE}, received=Received(1, WHOLE, 0, WHOLE, True), combine="sum"),
    )
    planned = [combine, host_in]
    assert written_first(blocks, buffers, list(enumerate(planned)), planned) == {0}

    def unknown(V, F, A, O):  # no Access and no operands: may touch anything
        pass

    planned = [unknown, host_in]
    assert written_first(blocks, buffers, list(enumerate(planned)), planned) == set()


def test_a_block_of_several_buffers_is_decided_byte_by_byte():
    a = Buffer(0, "a", (0, 0, 2, 2), 0, 4, 16)
    c = Buffer(1, "c", (0, 0, 2, 2), 8, 4, 16)  # shares bytes 8-16 with a: one block
    small = Buffer(2, "small", (0, 0, 1, 2), 32, 4, 16)
    wide = Buffer(3, "wide", (0, 0, 2, 2), 32, 4, 16)  # small's block, on more PEs
    buffers = [a, c, small, wide]
    blocks = group_buffers(buffers)
    assert [blk.members for blk in blocks] == [(0, 1), (2, 3)]

    def fills(i):
        b = buffers[i]
        return set_operands(overwrites(_step(), i, b.sub(b.rect)), [i])

    def reads(i):
        b = buffers[i]
        return annotate(_step(), Access(reads={i: b.sub(b.rect)}))

    def first(*planned):
        return written_first(blocks, buffers, list(enumerate(planned)), list(planned))

    assert first(fills(0), fills(1), fills(3), reads(2)) == {0, 1}
    assert first(fills(0), reads(1), fills(1)) == {1}  # bytes 16-24 of c read first
    # a fill of the small buffer covers only some of the block's PEs (followed PE by PE): the
    # wide fill then writes every byte still open, so nothing is read before it is written
    assert first(fills(2), fills(3), fills(0), fills(1)) == {0, 1}
    # but a read of the wide buffer after the small fill sees the other PEs' bytes: zeroed
    assert first(fills(2), reads(3), fills(0), fills(1)) == {0}


def test_parts_written_whole_decide_only_their_bytes_and_pes():
    """An unpack into one half of a panel and a receive into one row of a layer decide just
    those lanes on just those PEs; the block needs no zeroing once every byte read was first
    written so, and does when a read reaches bytes no part wrote."""
    panel = Buffer(0, "panel", (0, 0, 2, 2), 0, 8, 32)
    buffers = [panel]
    blocks = group_buffers(buffers)

    def part(rows, lanes):
        return set_operands(overwrites(_step(), 0, (rows, slice(0, 2), lanes)), [0])

    def read():
        return annotate(_step(), Access(reads={0: panel.sub(panel.rect)}))

    def first(*planned):
        return written_first(blocks, buffers, list(enumerate(planned)), list(planned))

    every, top, bottom = slice(0, 2), slice(0, 1), slice(1, 2)
    left, right = slice(0, 4), slice(4, 8)
    assert first(part(every, left), part(every, right), read()) == {0}
    assert first(part(top, slice(0, 8)), part(bottom, slice(0, 8)), read()) == {0}
    assert first(part(every, left), read()) == set()  # the right half read unwritten
    assert first(part(top, slice(0, 8)), read()) == set()  # the bottom row likewise
