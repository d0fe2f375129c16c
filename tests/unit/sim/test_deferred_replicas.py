"""Copies of tiles computed once, made late (pyflame/sim/deferred_replicas.py): on synthetic
step lists, which later steps make the pending copies first, which drop them (every copied
byte overwritten before anything reads it), and which let them wait. Whole programs run both
ways in tests/unit/sim/test_uniform_tiles.py."""

from __future__ import annotations

from pyflame.sim import executable
from pyflame.sim.dead_transfers import overwrites, set_operands
from pyflame.sim.deferred_replicas import (
    ComputedOnce,
    copy_step,
    defer_replica_copies,
    set_computed_once,
)
from pyflame.sim.step_access import Access, annotate

RECT = (0, 0, 2, 4)  # 2x4 PEs; a step computed once computes PE column 0
FIRST_COLUMN = (0, 0, 2, 1)


def _buffer(index: int, offset: int, size: int) -> executable.Buffer:
    return executable.Buffer(index, f"b{index}", RECT, offset, size, 4 * size)


def _whole(b: executable.Buffer) -> tuple[slice, slice, slice]:
    return b.sub(b.rect)


def _computed_once(b: executable.Buffer):
    """A step computing buffer `b` once (column 0), its copies to the other columns pending."""

    def inner(V, F, A, O):
        pass

    sel = _whole(b)
    once = ComputedOnce(inner, b.index, sel, RECT, FIRST_COLUMN, (), True)
    copied = copy_step(b.index, [])

    def step(V, F, A, O):
        inner(V, F, A, O)
        copied(V, F, A, O)

    return set_computed_once(overwrites(step, b.index, sel), once)


def _copies(steps) -> int:
    return sum(getattr(s, "__name__", "") == "replica_copies" for _, s in steps)


# b0: 4 floats computed once; b1: 8 floats over the same bytes (allocate-sram reuses a dead
# temporary's bytes); b2: elsewhere
BUFFERS = [_buffer(0, 0, 4), _buffer(1, 0, 8), _buffer(2, 64, 4)]


def _writer_with_access(reads: dict) -> object:
    """A step with an Access record writing all of b1 (a host input's, a receive's)."""

    def step(V, F, A, O):
        pass

    sel = _whole(BUFFERS[1])
    return annotate(overwrites(step, 1, sel), Access(reads=reads, writes={1: sel}))


def test_a_step_with_an_access_that_overwrites_the_bytes_drops_the_copies():
    """A host_in (an Access writing a whole buffer, reading no SRAM) over the bytes of a dead
    buffer computed once: its copies are never made."""
    steps = [(0, _computed_once(BUFFERS[0])), (1, _writer_with_access({}))]
    out = defer_replica_copies(steps, BUFFERS, exact=True)
    assert _copies(out) == 0 and len(out) == 2


def test_a_step_that_reads_the_pending_buffer_first_makes_the_copies():
    """The same write reading the computed buffer (or the bytes it overwrites) first: the
    copies are made before it."""
    for reads in ({0: _whole(BUFFERS[0])}, {1: _whole(BUFFERS[1])}):
        steps = [(0, _computed_once(BUFFERS[0])), (1, _writer_with_access(reads))]
        out = defer_replica_copies(steps, BUFFERS, exact=True)
        assert _copies(out) == 1 and getattr(out[1][1], "__name__", "") == "replica_copies"


def test_steps_that_name_what_they_touch_let_the_copies_wait():
    """A step naming its buffers (`operands`, as a rebuilt view reader and a fused run's
    sourced step do) that does not touch the pending buffer's bytes: the copies wait past it
    (and, nothing reading them, are never made by `run`); a step naming nothing may touch
    anything: the copies are made before it."""

    def elsewhere(V, F, A, O):
        pass

    def anything(V, F, A, O):
        pass

    set_operands(elsewhere, (2,))
    steps = [(0, _computed_once(BUFFERS[0])), (1, elsewhere)]
    assert _copies(defer_replica_copies(steps, BUFFERS, exact=False)) == 0
    exact = defer_replica_copies(steps, BUFFERS, exact=True)  # (run_on_sram: made at the end)
    assert _copies(exact) == 1 and exact[1][1] is elsewhere
    steps = [(0, _computed_once(BUFFERS[0])), (1, anything)]
    out = defer_replica_copies(steps, BUFFERS, exact=False)
    assert _copies(out) == 1 and out[2][1] is anything


def _partial_writer(reads: tuple[int, ...] = ()) -> object:
    """A step writing b1's first 2 lanes only (not every byte the copies would write), and
    reading `reads`."""

    def step(V, F, A, O):
        pass

    rows, cols, _ = _whole(BUFFERS[1])
    return annotate(
        step,
        Access(reads={r: _whole(BUFFERS[r]) for r in reads}, writes={1: (rows, cols, slice(0, 2))}),
    )


def test_copies_into_bytes_no_step_reads_again_are_dropped_by_run_only():
    """Another buffer takes some of the pending buffer's bytes (b1 over a dead b0) and no
    later step reads any of b0's bytes before writing them: `run` never makes the copies;
    `run_on_sram` (exact) still does, before the write."""
    steps = [(0, _computed_once(BUFFERS[0])), (1, _partial_writer())]
    assert _copies(defer_replica_copies(steps, BUFFERS, exact=False)) == 0
    exact = defer_replica_copies(steps, BUFFERS, exact=True)
    assert _copies(exact) == 1 and getattr(exact[1][1], "__name__", "") == "replica_copies"


def test_a_later_read_of_the_bytes_keeps_the_copies():
    """The same partial write, then a step reading b1 (bytes the copies would have written
    and the write left): the copies are made before the write, in `run` too; a step that
    may touch anything after it does the same."""

    def reader(V, F, A, O):
        pass

    def anything(V, F, A, O):
        pass

    set_operands(reader, (1,))
    for later in (reader, anything):
        steps = [(0, _computed_once(BUFFERS[0])), (1, _partial_writer()), (2, later)]
        out = defer_replica_copies(steps, BUFFERS, exact=False)
        assert _copies(out) == 1 and getattr(out[1][1], "__name__", "") == "replica_copies"
