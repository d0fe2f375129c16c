"""Blocks a run writes whole before reading them (pyflame/sim/written_first.py) are not zeroed
again when a kept SRAM runs again: whatever they held is never seen."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import compiler, tracing
from pyflame.passes.pe_lowering.matmul import set_algorithm
from pyflame.sim import compile_plan
from pyflame.sim.dead_transfers import overwrites, set_operands
from pyflame.sim.executable import Buffer
from pyflame.sim.sram import Sram, block_bytes, group_buffers
from pyflame.sim.step_access import Access, Received, annotate
from pyflame.sim.written_first import bytes_to_zero, written_first


def _plan(tensors, algorithm: str | None = None):
    tr = tracing.trace(tensors)
    module = tr.module()
    if algorithm is not None:
        compiler.lower(module, "mesh")
        assert set_algorithm(module, algorithm) >= 1
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
    w = rng.standard_normal((48, 40)).astype(np.float32)
    yield (
        "chain with a transposed product",
        lambda: [
            (pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)).softmax(dim=-1)
            @ pf.from_numpy(w)
            + pf.from_numpy(w).T.sum(dim=1)
        ],
    )


@pytest.mark.parametrize(
    ("name", "build"), list(_programs()), ids=lambda x: x if isinstance(x, str) else ""
)
def test_garbage_in_skipped_blocks_is_never_seen(name, build):
    """Every byte a run does not zero again (`bytes_to_zero`: whole blocks, and within the
    others all but the runs it lists) can hold anything: the outputs stay bit for bit."""
    exe, args = _plan(build())
    _check_garbage_is_never_seen(exe, args)
    if name == "gemv":  # the 64x64 matrix's block: written whole by its host_in
        assert exe.written_first


@pytest.mark.parametrize("algorithm", ["summa25d", "cannon", "meshgemm"])
def test_garbage_in_the_bytes_of_other_algorithms_is_never_seen(algorithm):
    """The 2.5D SUMMA's gathers, pieces, panels and accumulator share a block whose bytes are
    each written before they are read, row by row of its layers (its loops' strided receives
    and copies; its products read the received tiles as views): nothing is zeroed again."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((96, 64)).astype(np.float32)
    b = rng.standard_normal((64, 80)).astype(np.float32)
    lay = pf.MeshLayout.grid(8, 8)
    exe, args = _plan([pf.from_numpy(a, layout=lay) @ pf.from_numpy(b, layout=lay)], algorithm)
    _check_garbage_is_never_seen(exe, args)
    if algorithm == "summa25d":
        assert exe.bytes_to_zero == {}


def _check_garbage_is_never_seen(exe, args) -> None:
    first, _ = exe.run(args)
    (sram,) = exe._idle_srams
    for n, array in enumerate(sram.arrays):
        array.fill(0xA5)  # what a previous run might have left: the next zeroes what it must
        assert (n in exe.written_first) == (n not in exe.bytes_to_zero)
    again, _ = exe.run(args)
    assert exe._idle_srams == [sram]
    for x, y in zip(first, again, strict=True):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


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


def _fills_and_reads(buffers):
    """Steps that write buffer i whole (a fill) and that read all of it, by index."""

    def fills(i):
        b = buffers[i]
        return set_operands(overwrites(_step(), i, b.sub(b.rect)), [i])

    def reads(i):
        b = buffers[i]
        return annotate(_step(), Access(reads={i: b.sub(b.rect)}))

    return fills, reads


def test_a_block_of_several_buffers_is_decided_byte_by_byte():
    a = Buffer(0, "a", (0, 0, 2, 2), 0, 4, 16)
    c = Buffer(1, "c", (0, 0, 2, 2), 8, 4, 16)  # shares bytes 8-16 with a: one block
    small = Buffer(2, "small", (0, 0, 1, 2), 32, 4, 16)
    wide = Buffer(3, "wide", (0, 0, 2, 2), 32, 4, 16)  # small's block, on more PEs
    buffers = [a, c, small, wide]
    blocks = group_buffers(buffers)
    assert [blk.members for blk in blocks] == [(0, 1), (2, 3)]

    fills, reads = _fills_and_reads(buffers)

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


def test_strided_rows_and_parts_read_decide_only_their_pes():
    """A fissioned loop's receive into every other row of a layer decides just those rows;
    a step that reads every other row (its Access says which) sees only those; a copy (an
    Access and the part it overwrites) decides the part it writes."""
    panel = Buffer(0, "panel", (0, 0, 4, 2), 0, 8, 32)
    src = Buffer(1, "src", (0, 0, 4, 2), 32, 8, 32)
    buffers = [panel, src]
    blocks = group_buffers(buffers)

    def recv(rows):
        sel = (rows, slice(0, 2), slice(0, 8))
        return annotate(_step(), Access(writes={0: sel}, received=Received(0, sel, 0, sel, True)))

    def read(rows):
        return annotate(_step(), Access(reads={0: (rows, slice(0, 2), slice(0, 8))}))

    def copy(rows):
        sel = (rows, slice(0, 2), slice(0, 8))
        step = annotate(overwrites(_step(), 0, sel), Access(reads={1: sel}, writes={0: sel}))
        return set_operands(step, [0, 1])

    fill_src = set_operands(overwrites(_step(), 1, src.sub(src.rect)), [1])

    def zero(*planned):
        return bytes_to_zero(blocks, buffers, list(enumerate(planned)), list(planned))

    even, odd = slice(0, 4, 2), slice(1, 4, 2)
    assert zero(recv(even), read(even), recv(odd), read(odd)) == {}
    assert zero(recv(even), read(odd)) == {0: ((0, 32),)}  # the odd rows read unwritten
    assert zero(recv(even), recv(odd), read(slice(0, 4))) == {}
    assert zero(fill_src, copy(even), read(even), copy(odd), read(slice(0, 4))) == {}
    assert zero(fill_src, copy(even), read(slice(0, 4))) == {0: ((0, 32),)}


def test_bytes_to_zero_are_the_bytes_read_first():
    """Within a block that must be zeroed again, only the byte runs some step reads (or writes
    in part) before any step writes them whole: `Sram.reset` zeroes those alone."""
    a = Buffer(0, "a", (0, 0, 2, 2), 0, 4, 16)
    c = Buffer(1, "c", (0, 0, 2, 2), 8, 4, 16)  # shares bytes 8-16 with a: one block
    d = Buffer(2, "d", (0, 0, 2, 2), 20, 4, 16)  # bytes 20-36, sharing 20-24 with c
    buffers = [a, c, d]
    blocks = group_buffers(buffers)
    assert [blk.members for blk in blocks] == [(0, 1, 2)]

    fills, reads = _fills_and_reads(buffers)

    def zero(*planned):
        return bytes_to_zero(blocks, buffers, list(enumerate(planned)), list(planned))

    assert zero(fills(0), fills(1), fills(2), reads(0)) == {}
    assert zero(fills(0), reads(1), fills(2)) == {0: ((16, 24),)}  # c beyond a, read first
    assert zero(reads(2), fills(0), reads(1)) == {0: ((16, 36),)}  # d, then c's tail
    assert zero(fills(1), fills(0), reads(2)) == {0: ((24, 36),)}  # d beyond c

    def unknown(V, F, A, O):  # no Access and no operands: may touch anything
        pass

    assert zero(fills(0), unknown) == {0: ((16, 36),)}  # all but a's bytes

    # the pool's kept SRAM: only those bytes are zeroed again (whole words of a lane-major
    # block: these runs are whole words)
    sram = Sram((2, 2, 36), buffers, blocks)

    def block() -> np.ndarray:
        return block_bytes(blocks[0], sram.arrays[0])

    sram.arrays[0].view(np.uint8).fill(0xA5)
    sram.reset({0: ((16, 24),)})
    assert not block()[:, :, 16:24].any()
    assert (block()[:, :, :16] == 0xA5).all() and (block()[:, :, 24:] == 0xA5).all()
    sram.reset({})
    assert (block()[:, :, :16] == 0xA5).all()
    sram.reset()
    assert not block().any()
