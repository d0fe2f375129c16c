"""Which form an indexed-row op (gather_rows, scatter_add_rows) takes, and on which layouts.

The replicated form (flame_lowering/indexed.py) copies the whole index to every PE of the
table's grid and makes the gathered rows there in full (partials summed across the table's row
split): cheap for a small index, but every PE holds N index entries and N rows, whatever the
grid. A gather of 10,000 entries needs ~80 KiB a PE on any grid and so fits none.

The ring form (mesh.ring_gather_rows, pe_lowering/ring_rows.py) splits the index and the rows
over the PEs: a PE holds two chunks of N / (PEs the index is split over) entries. It is chosen
when the replicated form would take more than a quarter of a PE's data SRAM
(`REPLICATED_SHARE`); its grid and table layout (`ring_table`) are the cheapest by `ring_cycles`
among the grids whose table tile and chunks fit in half of it (`RING_SHARE`):

    ring_table(V=10000, D=1, N=10000, 4 bytes, WSE2) -> 10000x1 on 16x8 split [r, _]

rows split over 16 PEs of each column (each index chunk visits 16 PEs), a copy of the table
in each of 8 columns (the index split over all 128 PEs). With columns split instead
([r, c], wide rows) a PE's chunk is read on every column, so the index is split over rows only.
"""

from __future__ import annotations

import math

from pyflame.core.distribution import Distribution
from pyflame.core.target import Target
from pyflame.dialects.mesh import ring_index_dist, ring_length

#: the replicated form is kept while its tiles take at most this share (1/n) of a PE's data SRAM
REPLICATED_SHARE = 4

#: a ring's table tile and chunk buffers take at most this share (1/n) of a PE's data SRAM
RING_SHARE = 2

#: bytes of an index entry (int32)
INDEX_BYTES = 4

#: the most PEs a ring spreads over: past a few thousand PEs a chunk holds a handful of
#: entries and each step is mostly its fixed costs; the plan (and the exchanges that bring the
#: index in) grow with the PEs
MAX_RING_PES = 8192


def _aligned(nbytes: int) -> int:
    return -(-max(nbytes, 1) // 16) * 16


def replicated_bytes(table: Distribution, entries: int, elem_bytes: int) -> int:
    """Per PE, what the replicated form holds: the table tile, the whole index, the partial
    rows and the summed rows ([N, D / column parts] each)."""
    rows = entries * table.block[1] * elem_bytes
    return (
        _aligned(table.local_elems * elem_bytes)
        + _aligned(entries * INDEX_BYTES)
        + 2 * _aligned(rows)
    )


def ring_chunk(table: Distribution, entries: int) -> int:
    """Index entries a PE holds at a time on a ring over `table`'s layout."""
    return ring_index_dist(table, entries).local_elems


def ring_bytes(table: Distribution, entries: int, elem_bytes: int) -> int:
    """Per PE, what a ring over `table` holds: the table tile, and the index and row chunks it
    works on and receives (one of each when the ring has one PE)."""
    k, width = ring_chunk(table, entries), table.block[1]
    buffers = 2 if ring_length(table) > 1 else 1
    chunk = _aligned(k * INDEX_BYTES) + _aligned(k * width * elem_bytes)
    return _aligned(table.local_elems * elem_bytes) + buffers * chunk


def ring_cycles(
    table: Distribution, entries: int, target: Target, elem_bytes: int, scatter: bool = False
) -> int:
    """Estimated cycles of a ring over `table`: per step the gather (or scatter-add) of a
    chunk, then (gathers) its rows' move to the next PE, or (scatter-adds) the larger of the
    add and the chunk's move, which overlap. A fabric transfer costs its issue, its streaming,
    at most two hops and the ramps, and the receiver's wake-up."""
    from pyflame.core import vector_costs  # (pyflame-opt loads the passes without numpy)
    from pyflame.core.vector_costs import CostKind

    k, width = ring_chunk(table, entries), table.block[1]
    steps = ring_length(table)
    kind = CostKind.SCATTER_ADD_ROWS if scatter else CostKind.GATHER_ROWS
    half = elem_bytes == 2
    work, _ = vector_costs.op_cycles(target, kind, k, width, elem_bytes=elem_bytes, half=half)
    if steps == 1:
        return int(work)
    issue = vector_costs.transfer_issue_cycles(target)
    latency = 2 * target.hop_latency_cycles + 2 * target.ramp_latency_cycles
    wake = vector_costs.task_activation_cycles(target)
    rows = vector_costs.stream_cycles(target, -(-k * width * elem_bytes // 4))  # 32-bit wavelets
    index = vector_costs.stream_cycles(target, k)
    if scatter:
        step = 4 * issue + max(work, rows + latency, index + latency) + wake
        return int((steps - 1) * step + work)
    step = 4 * issue + work + rows + latency + wake
    return int(steps * step)


def placing_cycles(table: Distribution) -> int:
    """A rough cost of putting the table in place: each PE receives its tile, and every copy of
    it comes in over the grid's rows (the host streams a program input over its edge rows; a
    move on the fabric spreads it from where it was), so copies are not free."""
    rows, cols = table.grid
    copies = 1 if "c" in table.split[1] or cols == 1 else cols
    return max(table.local_elems, -(-math.prod(table.shape) * copies // rows))


def _sides(limit: int) -> list[int]:
    sides, n = [], 1
    while n <= limit:
        sides.append(n)
        n *= 2
    return sides


def ring_candidates(
    rows: int,
    width: int,
    entries: int,
    elem_bytes: int,
    target: Target,
    scatter: bool = False,
    grids: tuple[tuple[int, int], ...] = (),
) -> list[tuple[int, Distribution]]:
    """(estimated cycles, table layout) of the rings whose buffers fit in 1/RING_SHARE of a
    PE's data SRAM, cheapest first by `ring_cycles` plus `placing_cycles`: grids of powers of
    two a side within the fabric, and `grids` (where the rows are wanted), of at most
    MAX_RING_PES PEs and no longer ring than table rows."""
    budget = target.usable_sram_bytes // RING_SHARE
    sides = {(r, c) for r in _sides(target.fabric_rows) for c in _sides(target.fabric_cols)}
    found: dict[Distribution, int] = {}
    for r, c in sides | set(grids):
        if r * c > MAX_RING_PES or r > max(rows, 1):
            continue
        if r > target.fabric_rows or c > target.fabric_cols:
            continue
        for cols in ("", "c") if c > 1 else ("",):
            if cols == "c" and c > width:
                continue
            table = Distribution((rows, width), (r, c), ("r" if r > 1 else "", cols))
            if ring_bytes(table, entries, elem_bytes) > budget:
                continue
            cycles = ring_cycles(table, entries, target, elem_bytes, scatter)
            found[table] = cycles + placing_cycles(table)
    return sorted(
        ((cycles, t) for t, cycles in found.items()), key=lambda ct: (ct[0], ct[1].num_pes)
    )


def ring_table(
    rows: int, width: int, entries: int, elem_bytes: int, target: Target, scatter: bool = False
) -> Distribution | None:
    """The table layout of the cheapest ring (`ring_candidates`); None when no grid of the
    fabric fits."""
    found = ring_candidates(rows, width, entries, elem_bytes, target, scatter)
    return found[0][1] if found else None


def wants_ring(table: Distribution, entries: int, elem_bytes: int, target: Target) -> bool:
    """Whether the replicated form over `table` takes more than its share of a PE."""
    share = target.usable_sram_bytes // REPLICATED_SHARE
    return replicated_bytes(table, entries, elem_bytes) > share
