"""How a pe.exchange moves data over the network: its messages, grouped into phases whose
routes can all be set at once on one color.

A message is one (source PE, destination PE) pair of an exchange (the elements of the
destination's tile whose source lives on the source PE); pairs on the same PE are local copies.
Each message follows the dimension-ordered path (along the row first, then the column). A
*phase* is a set of messages that one color can carry at the same time: every source sends one
message, and the router rules their paths need agree (a router's input port leads to one output
port). Phases are formed greedily in (source, destination) order; the compiler states each
phase's rules as `pe.route` ops (merged into rectangles) on a color of its own, and the
simulator recomputes the same phases to know which elements each message carries, then traces
them on that color: a route that does not match delivers to a PE that expects nothing from the
sender, or to nobody, and raises.

    plan = exchange_phases(src_dist, dst_dist, index_map)
    plan.phases[k].messages   ((src row, src col), (dst row, dst col)) per message
    plan.phases[k].routes     ((rows..., cols...) rect, from port, to port) per pe.route op

Coordinates are relative to the exchange's first PE, the *anchor*: the nearer corner of the two
grids' origins (per axis the smaller origin), so that two layouts at the same origin (every
exchange before tensors had origins) are planned as before, and layouts at different origins
(overlapping or disjoint rectangles of the fabric) are planned with each grid at its offset from
the anchor (`ExchangePlan.src_at`, `dst_at`): messages really travel from one rectangle to the
other. `src_row`/`src_col` stay coordinates in the source grid. Ports are the names of
`pe.Port` (this module sits below the dialects).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from pyflame.core.distribution import Distribution
from pyflame.core.flat_index import unravel_index

Rect = tuple[int, int, int, int]
Cell = tuple[int, int]
#: a router rule of a phase: (row, col, from port) -> to port
RuleKey = tuple[int, int, str]
#: (offset, stride) per src dim, or (offset, stride, window): see `exchange_sources`
IndexMap = tuple[tuple[int, ...], ...] | None

#: the port a wavelet arrives on after leaving a router toward a direction
ARRIVES_ON = {"east": "west", "west": "east", "south": "north", "north": "south"}


def global_coords(
    dist: Distribution, rows: int | None = None, cols: int | None = None, first_row: int = 0
) -> tuple[list[np.ndarray], np.ndarray]:
    """Per dim, the global coordinate of every (PE row, PE col, local element) of the grid
    (arrays of shape (rows, cols, local elems)), and the mask of real (not padding) elements.
    `first_row`: the arrays cover PE rows `first_row` to `first_row + rows` only."""
    gr, gc = dist.grid
    rows = gr - first_row if rows is None else rows
    cols = gc if cols is None else cols
    block = dist.block
    L = dist.local_elems
    r = np.arange(first_row, first_row + rows, dtype=np.int64)[:, None, None]
    c = np.arange(cols, dtype=np.int64)[None, :, None]
    loc = np.indices(block, dtype=np.int64).reshape(len(block), L) if block else None
    coords = []
    valid = np.ones((rows, cols, L), dtype=bool)
    for d, n in enumerate(dist.shape):
        assert loc is not None  # a dim exists, so the block has one
        b = np.asarray(dist.block_index(d, r, c), dtype=np.int64)
        g = np.broadcast_to(b * block[d] + loc[d][None, None, :], (rows, cols, L))
        valid &= g < n
        coords.append(g)
    return coords, valid


def exchange_sources(
    ds: Distribution,
    dd: Distribution,
    index_map: tuple[Sequence[int], ...] | None = None,
    dst_rows: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where each element of the dst layout comes from, for every (PE row, PE col, local
    index) of dst's grid (arrays of shape (rows, cols, local elems)):
    (src PE row, src PE col, src local index, has a source, is a real dst element).

    Without an index map, a dst element takes the src element at the same global index (same
    shapes) or at the same row-major position (a reshape). With `index_map` = (offset, stride),
    dst global index i (per dim d) takes src global index offset[d] + stride[d] * i[d] and has
    a source only when that lies inside the src shape. With (offset, stride, window), a slice
    whose result is reshaped: dst's element at row-major position p takes element p of the
    window, window index w (row-major, of shape `window`) being src index offset + stride * w.
    Padding of dst never has a source.
    Along a mesh axis the src is replicated on, the nearest copy (the same row or column,
    clipped to src's grid) sends. `dst_rows` = (first, end): only dst's PE rows first..end-1
    (the arrays' first axis starts at `first`)."""
    gdr, gdc = dd.grid
    gsr, gsc = ds.grid
    first, end = dst_rows or (0, gdr)
    coords, valid = global_coords(dd, end - first, first_row=first)
    full = valid.shape
    has_src = valid.copy()
    src_idx: Sequence[np.ndarray]
    if index_map is not None:
        offset, stride = index_map[0], index_map[1]
        window = index_map[2] if len(index_map) > 2 else None
        place = coords
        if window is not None:  # the window's element at dst's row-major position
            flat = np.zeros(full, dtype=np.int64)
            for g, n in zip(coords, dd.shape, strict=True):
                flat = flat * n + g
            place = list(unravel_index(np.where(valid, flat, 0), window))
        src_idx = []
        for d, g in enumerate(place):
            j = offset[d] + stride[d] * g
            has_src &= (j >= 0) & (j < ds.shape[d])
            src_idx.append(j)
    elif ds.shape == dd.shape:
        src_idx = list(coords)
    else:  # a reshape: the same row-major position
        flat = np.zeros(full, dtype=np.int64)
        for g, n in zip(coords, dd.shape, strict=True):
            flat = flat * n + g
        flat = np.where(valid, flat, 0)
        src_idx = list(unravel_index(flat, ds.shape)) if ds.shape else []
    rows = np.arange(first, end, dtype=np.int64)[:, None, None]
    cols = np.arange(gdc, dtype=np.int64)[None, :, None]
    src_row = np.clip(rows, 0, gsr - 1)
    src_col = np.clip(cols, 0, gsc - 1)
    se = np.zeros(full, dtype=np.int64)
    sblock = ds.block
    for d, j in enumerate(src_idx):
        j = np.where(has_src, j, 0)
        bidx = j // sblock[d] if sblock[d] else j * 0
        se = se * sblock[d] + (j - bidx * sblock[d])
        axis = ds.split[d]
        if axis == "r":
            src_row = bidx
        elif axis == "c":
            src_col = bidx
        elif axis == "rc":
            src_row, src_col = bidx // gsc, bidx % gsc
    return (
        np.broadcast_to(src_row, full),
        np.broadcast_to(src_col, full),
        se,
        has_src,
        valid,
    )


# --------------------------------------------------------------------------- phases

#: a straight stretch of a path: (direction it travels, the row or column it runs along, the
#: position it leaves from, the last position it reaches, the port it leaves that router by).
#: Positions are columns for a leg along a row (east, west), rows along a column (south, north);
#: the routers after the first up to the last hold the leg's rules: the direction itself at every
#: one but the last (straight on), the leg's exit (a turn or the ramp) at the last.
Leg = tuple[str, int, int, int, str]

ALONG_ROW = {"east": True, "west": True, "south": False, "north": False}


def xy_legs(src: Cell, dst: Cell) -> list[Leg]:
    """The path from `src` to `dst` (along the row first, then the column) as at most two legs;
    `xy_hops` lists the same rules one router at a time."""
    (r, c), (dr, dc) = src, dst
    legs: list[Leg] = []
    if c != dc:
        turn = "ramp" if r == dr else ("south" if dr > r else "north")
        legs.append(("east" if dc > c else "west", r, c, dc, turn))
    if r != dr:
        legs.append(("south" if dr > r else "north", dc, r, dr, "ramp"))
    return legs


def xy_hops(src: Cell, dst: Cell) -> list[tuple[int, int, str, str]]:
    """The router rules (row, col, from port, to port) of the path from `src` to `dst`: along
    the row first, then along the column, delivered to the destination's ramp."""
    (r, c), (dr, dc) = src, dst
    hops: list[tuple[int, int, str, str]] = []
    came = "ramp"
    if c != dc:
        out, step = ("east", 1) if dc > c else ("west", -1)
        hops += [(r, col, came if col == c else ARRIVES_ON[out], out) for col in range(c, dc, step)]
        came = ARRIVES_ON[out]
    if r != dr:
        out, step = ("south", 1) if dr > r else ("north", -1)
        hops += [
            (row, dc, came if row == r else ARRIVES_ON[out], out) for row in range(r, dr, step)
        ]
        came = ARRIVES_ON[out]
    hops.append((dr, dc, came, "ramp"))
    return hops


def _interior(start: int, end: int) -> tuple[int, int]:
    """The positions strictly between a leg's start and end, as an inclusive (low, high)
    range, empty (low > high) for a leg of one hop."""
    return (start + 1, end - 1) if end > start else (end + 1, start - 1)


def _stack(runs: dict[int, list[tuple[int, int]]]) -> list[Rect]:
    """Rectangles from the runs (first col, cols) of each row: a run grows down while the
    next row has the same run."""
    rects: list[Rect] = []
    open_: dict[tuple[int, int], list[int]] = {}  # run -> [first row, rows]
    for r in sorted(runs):
        here = set(runs[r])
        for run in list(open_):
            if run not in here or open_[run][0] + open_[run][1] != r:
                r0, n = open_.pop(run)
                rects.append((r0, run[0], n, run[1]))
        for run in runs[r]:
            if run in open_:
                open_[run][1] += 1
            else:
                open_[run] = [r, 1]
    rects += [(r0, run[0], n, run[1]) for run, (r0, n) in open_.items()]
    return sorted(rects)


def _row_runs(spans: list[tuple[int, int, int]]) -> dict[int, list[tuple[int, int]]]:
    """Per row, the maximal runs (first col, cols) of the union of (row, first, last) spans."""
    by_row: dict[int, list[tuple[int, int]]] = {}
    for r, lo, hi in spans:
        by_row.setdefault(r, []).append((lo, hi))
    runs: dict[int, list[tuple[int, int]]] = {}
    for r, spans_r in by_row.items():
        merged: list[list[int]] = []
        for lo, hi in sorted(spans_r):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        runs[r] = [(lo, hi - lo + 1) for lo, hi in merged]
    return runs


def rectangles(cells: set[Cell]) -> list[Rect]:
    """Cover `cells` exactly with few rectangles: runs along each row, stacked when the runs of
    consecutive rows match."""
    return _stack(_row_runs([(r, c, c) for r, c in cells]))


def _column_rectangles(spans: list[tuple[int, int, int]]) -> list[Rect]:
    """`rectangles` of the union of (col, first row, last row) spans, without listing their
    cells: a sweep down the rows, keeping each row's runs of active columns, that changes
    them only where a span starts or ends."""
    events: dict[int, list[tuple[int, int]]] = {}
    for c, lo, hi in spans:
        events.setdefault(lo, []).append((c, 1))
        events.setdefault(hi + 1, []).append((c, -1))
    count: dict[int, int] = {}
    starts: list[int] = []  # first columns of the current runs, sorted
    length: dict[int, int] = {}  # current run: first col -> cols
    ends: dict[int, int] = {}  # current run: last col -> first col
    opened: dict[tuple[int, int], int] = {}  # run -> the row it has held since
    rects: list[Rect] = []
    gone: set[tuple[int, int]] = set()  # runs of the previous row this row changes
    new: set[tuple[int, int]] = set()  # runs this row makes

    def drop(first: int) -> None:
        run = (first, length.pop(first))
        del ends[first + run[1] - 1]
        starts.pop(bisect.bisect_left(starts, first))
        if run in new:
            new.discard(run)
        else:
            gone.add(run)

    def put(first: int, cols: int) -> None:
        length[first] = cols
        ends[first + cols - 1] = first
        bisect.insort(starts, first)
        new.add((first, cols))

    for r in sorted(events):
        before = {c: count.get(c, 0) > 0 for c, _ in events[r]}
        for c, delta in events[r]:
            count[c] = count.get(c, 0) + delta
        gone.clear()
        new.clear()
        for c, was in before.items():
            now = count[c] > 0
            if now == was:
                continue
            if now:  # c joins the runs ending just before it and starting just after it
                first, last = c, c
                if c - 1 in ends:
                    first = ends[c - 1]
                    drop(first)
                if c + 1 in length:
                    last = c + length[c + 1]
                    drop(c + 1)
                put(first, last - first + 1)
            else:  # c leaves the run holding it, which splits in two
                first = starts[bisect.bisect_right(starts, c) - 1]
                last = first + length[first] - 1
                drop(first)
                if first < c:
                    put(first, c - first)
                if c < last:
                    put(c + 1, last - c)
        for run in gone - new:
            r0 = opened.pop(run)
            rects.append((r0, run[0], r - r0, run[1]))
        for run in new - gone:
            opened[run] = r
    return sorted(rects)


@dataclass
class Phase:
    """Messages one color carries at once. Their router rules are their paths' legs
    (`xy_legs`): `routes` states them as rectangles from the legs, `rules` lists them one
    router at a time (for small phases and tests: a phase of a wafer-wide exchange has
    hundreds of thousands)."""

    messages: list[tuple[Cell, Cell]] = field(default_factory=list)
    #: elements each message carries (0 when the plan was made from pairs alone)
    elems: list[int] = field(default_factory=list)

    @property
    def rules(self) -> dict[RuleKey, str]:
        """(row, col, from port) -> to port, for every router the phase's messages cross."""
        return {(r, c, p): out for s, d in self.messages for r, c, p, out in xy_hops(s, d)}

    @property
    def routes(self) -> list[tuple[Rect, str, str]]:
        """The pe.route ops stating the rules: (rect, from port, to port), rectangles merged."""
        rows: dict[tuple[str, str], list[tuple[int, int, int]]] = {}  # (row, first, last col)
        cols: dict[tuple[str, str], list[tuple[int, int, int]]] = {}  # (col, first, last row)
        for (sr, sc), dst in self.messages:
            legs = xy_legs((sr, sc), dst)
            rows.setdefault(("ramp", legs[0][0]), []).append((sr, sc, sc))
            for way, line, start, end, turn in legs:
                port, lo, hi = ARRIVES_ON[way], *_interior(start, end)
                if ALONG_ROW[way]:
                    if lo <= hi:
                        rows.setdefault((port, way), []).append((line, lo, hi))
                    rows.setdefault((port, turn), []).append((line, end, end))
                else:
                    if lo <= hi:
                        cols.setdefault((port, way), []).append((line, lo, hi))
                    rows.setdefault((port, turn), []).append((end, line, line))
        routes: list[tuple[Rect, str, str]] = []
        for key in sorted(rows.keys() | cols.keys()):
            if key in cols:  # (a group is all row legs or all column legs; cells if not)
                spans = cols[key] + [
                    (c, r, r) for r, lo, hi in rows.get(key, []) for c in range(lo, hi + 1)
                ]
                rects = _column_rectangles(spans)
            else:
                rects = _stack(_row_runs(rows[key]))
            routes += [(rect, *key) for rect in rects]
        return routes


@dataclass(frozen=True)
class ExchangeSummary:
    """What an estimate reads of an exchange (`exchange_summary`): its network phases, per
    dst PE how many elements it copies from itself, and whether it has a local part (those
    copies, or zeroing of dst padding)."""

    phases: list[Phase]
    #: (dst rows, dst cols) elements each dst PE copies from its own SRAM
    local_counts: np.ndarray
    #: whether dst has padding (the local part zeroes it)
    padding: bool
    src_at: Cell = (0, 0)
    dst_at: Cell = (0, 0)

    @property
    def has_local_part(self) -> bool:
        """Whether the exchange copies within a PE or zeroes dst padding."""
        return self.padding or bool(self.local_counts.any())

    def phase_size(self, k: int) -> int:
        """Elements moved by phase `k`: the local part (0) or network phase k (from 1)."""
        if k == 0:
            return int(self.local_counts.sum())
        return int(sum(self.phases[k - 1].elems))


@dataclass
class ExchangePlan:
    """An exchange's element sources (see `exchange_sources`), its local part and its phases."""

    src_row: np.ndarray
    src_col: np.ndarray
    src_elem: np.ndarray
    has_src: np.ndarray
    valid: np.ndarray
    phases: list[Phase]
    #: where the src and dst grids start, relative to the exchange's anchor
    src_at: Cell = (0, 0)
    dst_at: Cell = (0, 0)

    @functools.cached_property
    def local(self) -> np.ndarray:
        """(rows, cols, elems) mask of the dst elements whose source is on the same PE (read
        only: kept with the cached plan)."""
        gr, gc = self.has_src.shape[:2]
        (sr, sc), (dr, dc) = self.src_at, self.dst_at
        same = (self.src_row + sr == np.arange(gr)[:, None, None] + dr) & (
            self.src_col + sc == np.arange(gc)[None, :, None] + dc
        )
        same &= self.has_src
        same.flags.writeable = False
        return same

    @functools.cached_property
    def has_local_part(self) -> bool:
        """Whether the exchange copies within a PE or zeroes dst padding."""
        return bool(self.local.any() or (~self.valid).any())

    @functools.cached_property
    def summary(self) -> ExchangeSummary:
        counts = self.local.sum(axis=2)
        counts.flags.writeable = False
        padding = bool((~self.valid).any())
        return ExchangeSummary(self.phases, counts, padding, self.src_at, self.dst_at)

    def phase_elements(self, k: int) -> np.ndarray:
        """The dst elements network phase `k` (from 1) carries, as ascending flat indices into
        the (rows, cols, elems) arrays: found once for every phase (a search of each moved
        element's message), so a phase costs its own elements, not the exchange's."""
        if self._by_phase is None:
            self._by_phase = self._elements_by_phase()
        order, bounds = self._by_phase
        return order[bounds[k - 1] : bounds[k]]

    _by_phase: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def _elements_by_phase(self) -> tuple[np.ndarray, np.ndarray]:
        gr, gc = self.has_src.shape[:2]
        (ar, ac), (br, bc) = self.src_at, self.dst_at
        msgs = np.array(
            [(*s, *d) for phase in self.phases for s, d in phase.messages], dtype=np.int64
        ).reshape(-1, 4)
        phase_of = np.repeat(
            np.arange(len(self.phases)), [len(phase.messages) for phase in self.phases]
        )
        moved = np.flatnonzero(self.has_src & ~self.local)
        rows = moved // (gc * self.has_src.shape[2])
        cols = moved // self.has_src.shape[2] % gc
        srows = self.src_row.reshape(-1)[moved] + ar
        scols = self.src_col.reshape(-1)[moved] + ac
        wide = int(max(msgs[:, 1].max(initial=0), msgs[:, 3].max(initial=0), gc + bc)) + 1
        tall = int(max(msgs[:, 0].max(initial=0), msgs[:, 2].max(initial=0), gr + br)) + 1
        key = ((srows * wide + scols) * tall + rows + br) * wide + cols + bc
        msg_key = ((msgs[:, 0] * wide + msgs[:, 1]) * tall + msgs[:, 2]) * wide + msgs[:, 3]
        by_key = np.argsort(msg_key)
        phase = phase_of[by_key[np.searchsorted(msg_key[by_key], key)]]
        by_phase = np.argsort(phase, kind="stable")
        bounds = np.searchsorted(phase[by_phase], np.arange(len(self.phases) + 1))
        return moved[by_phase], bounds


def anchor(ds: Distribution, dd: Distribution) -> Cell:
    """The exchange's first PE on the fabric: per axis the smaller of the two origins."""
    return (min(ds.origin[0], dd.origin[0]), min(ds.origin[1], dd.origin[1]))


def extent(ds: Distribution, dd: Distribution) -> Rect:
    """The fabric rectangle holding both grids (the exchange's PEs)."""
    r0, c0 = anchor(ds, dd)
    rows = max(d.origin[0] + d.grid[0] for d in (ds, dd)) - r0
    cols = max(d.origin[1] + d.grid[1] for d in (ds, dd)) - c0
    return (r0, c0, rows, cols)


@lru_cache(maxsize=64)
def exchange_phases(ds: Distribution, dd: Distribution, index_map: IndexMap) -> ExchangePlan:
    """The messages of an exchange from layout `ds` to `dd`, grouped into phases."""
    src_row, src_col, se, has_src, valid = exchange_sources(ds, dd, index_map)
    a0, a1 = anchor(ds, dd)
    src_at = (ds.origin[0] - a0, ds.origin[1] - a1)
    dst_at = (dd.origin[0] - a0, dd.origin[1] - a1)
    gdr, gdc = dd.grid
    rows = np.broadcast_to(np.arange(gdr)[:, None, None] + dst_at[0], has_src.shape)[has_src]
    cols = np.broadcast_to(np.arange(gdc)[None, :, None] + dst_at[1], has_src.shape)[has_src]
    srows, scols = src_row[has_src] + src_at[0], src_col[has_src] + src_at[1]
    phases = pack_phases(*counted_message_pairs(srows, scols, rows, cols))
    for a in (src_row, src_col, se, has_src, valid):
        a.flags.writeable = False
    return ExchangePlan(src_row, src_col, se, has_src, valid, phases, src_at, dst_at)


#: dst elements `exchange_summary` examines at once: a few int64 arrays of this many (~32 MB
#: each), however large the exchange
SUMMARY_CHUNK_ELEMS = 1 << 22


def exchange_summary(
    ds: Distribution, dd: Distribution, index_map: IndexMap, keep_plan: bool = True
) -> ExchangeSummary:
    """An exchange's phases and local part, without keeping its per-element plan when that is
    large. A plan holds five arrays of every dst element (a 23040^2 matrix regridded on
    750x750 PEs: ~20 GB); the cost model, the lowering and the simulator's plan need only the
    messages and the local copy counts (a run makes the plan when it first moves the data),
    so a large exchange is examined a band of dst PE rows at a time. A smaller one reads its
    plan, kept in `exchange_phases`' cache for the run with `keep_plan` (the cost model's
    estimates of moves that may never be lowered pass False)."""
    gdr, gdc = dd.grid
    per_row = max(1, gdc * dd.local_elems)
    if gdr * per_row > SUMMARY_CHUNK_ELEMS:
        return _banded_summary(ds, dd, index_map, max(1, SUMMARY_CHUNK_ELEMS // per_row))
    if keep_plan:
        return exchange_phases(ds, dd, index_map).summary
    return _summary_alone(ds, dd, index_map)


@lru_cache(maxsize=256)
def _summary_alone(ds: Distribution, dd: Distribution, index_map: IndexMap) -> ExchangeSummary:
    return exchange_phases.__wrapped__(ds, dd, index_map).summary


@lru_cache(maxsize=32)
def _banded_summary(
    ds: Distribution, dd: Distribution, index_map: IndexMap, band: int
) -> ExchangeSummary:
    """`exchange_summary` `band` dst PE rows at a time: the bands' message pairs are
    disjoint (their destinations differ), so sorted together they are the whole exchange's
    `counted_message_pairs`, and its phases are packed from them in the same order."""
    a0, a1 = anchor(ds, dd)
    sr, sc = ds.origin[0] - a0, ds.origin[1] - a1
    dr, dc = dd.origin[0] - a0, dd.origin[1] - a1
    gdr, gdc = dd.grid
    local_counts = np.zeros((gdr, gdc), dtype=np.int64)
    padding = False
    pairs: list[tuple[int, int, int, int]] = []
    counts: list[int] = []
    for first in range(0, gdr, band):
        end = min(gdr, first + band)
        src_row, src_col, _, has_src, valid = exchange_sources(ds, dd, index_map, (first, end))
        rows = np.broadcast_to(np.arange(first, end)[:, None, None] + dr, has_src.shape)
        cols = np.broadcast_to(np.arange(gdc)[None, :, None] + dc, has_src.shape)
        srows, scols = src_row + sr, src_col + sc
        local = has_src & (srows == rows) & (scols == cols)
        local_counts[first:end] = local.sum(axis=2)
        padding = padding or not valid.all()
        band_pairs, band_counts = counted_message_pairs(
            srows[has_src], scols[has_src], rows[has_src], cols[has_src]
        )
        pairs += band_pairs
        counts += band_counts
    order = sorted(range(len(pairs)), key=pairs.__getitem__)
    phases = pack_phases([pairs[i] for i in order], [counts[i] for i in order])
    local_counts.flags.writeable = False
    return ExchangeSummary(phases, local_counts, padding, (sr, sc), (dr, dc))


def message_pairs(
    srows: np.ndarray, scols: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> list[tuple[int, int, int, int]]:
    """The distinct (src row, src col, dst row, dst col) of the moved elements, sorted."""
    return counted_message_pairs(srows, scols, rows, cols)[0]


def counted_message_pairs(
    srows: np.ndarray, scols: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> tuple[list[tuple[int, int, int, int]], list[int]]:
    """`message_pairs`, and how many elements each pair moves. One int64 key per element (a
    1-D sort, not a sort of rows), and runs of equal keys (a dst tile's elements mostly come
    from one source) counted and dropped before sorting."""
    if not srows.size:
        return [], []
    wide = int(max(scols.max(), cols.max())) + 1
    tall = int(max(srows.max(), rows.max())) + 1
    keys = ((srows * wide + scols) * tall + rows) * wide + cols
    firsts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    runs = np.diff(np.r_[firsts, keys.size])
    uniq, which = np.unique(keys[firsts], return_inverse=True)
    counts = np.bincount(which.reshape(-1), weights=runs, minlength=uniq.size)
    dc, rest = uniq % wide, uniq // wide
    dr, rest = rest % tall, rest // tall
    sc, sr = rest % wide, rest // wide
    pairs = list(zip(sr.tolist(), sc.tolist(), dr.tolist(), dc.tolist(), strict=True))
    return pairs, counts.astype(np.int64).tolist()


class _LineRules:
    """Which phases have which rules along one line of routers (a row or a column) for one
    direction of travel: a rule there is straight on, or an exit (a turn, the ramp). Segment
    trees of bitsets over the phases: `exits` holds at each node the phases with an exit at
    some position below it, `straight` at each node the phases that go straight on at every
    position below it (set on the O(log n) nodes covering a leg's interior), so a leg finds the
    phases it disagrees with in O(log n) steps, not one per router."""

    __slots__ = ("size", "exits", "straight", "exit_to")

    def __init__(self, positions: int) -> None:
        self.size = 1 << max(positions - 1, 0).bit_length()
        self.exits = [0] * (2 * self.size)
        self.straight = [0] * (2 * self.size)
        self.exit_to: dict[tuple[int, str], int] = {}  # (position, exit) -> phases

    def disagreeing(self, lo: int, hi: int, end: int, turn: str) -> int:
        """The phases a leg with interior lo..hi, last position `end` and exit `turn` cannot
        join: an exit inside its interior, or at its end straight on or another exit."""
        exits, size = self.exits, self.size
        taken = 0
        left, right = lo + size, hi + size + 1
        while left < right:
            if left & 1:
                taken |= exits[left]
                left += 1
            if right & 1:
                right -= 1
                taken |= exits[right]
            left >>= 1
            right >>= 1
        i = end + size
        taken |= exits[i] & ~self.exit_to.get((end, turn), 0)
        straight = self.straight
        while i:
            taken |= straight[i]
            i >>= 1
        return taken

    def add(self, lo: int, hi: int, end: int, turn: str, bit: int) -> None:
        straight, size = self.straight, self.size
        left, right = lo + size, hi + size + 1
        while left < right:
            if left & 1:
                straight[left] |= bit
                left += 1
            if right & 1:
                right -= 1
                straight[right] |= bit
            left >>= 1
            right >>= 1
        exits, i = self.exits, end + size
        while i and not exits[i] & bit:  # a node with the bit has it on every ancestor
            exits[i] |= bit
            i >>= 1
        self.exit_to[(end, turn)] = self.exit_to.get((end, turn), 0) | bit


def pack_phases(
    pairs: list[tuple[int, int, int, int]], elems: list[int] | None = None
) -> list[Phase]:
    """Each message into the first phase whose rules it agrees with, in the order given (one
    message per source and phase; where two paths cross the same router through the same
    input port they leave by the same output port). Which phases each source sends in, and
    the rules of every line of routers, are bitsets over the phases (`_LineRules`), so a
    message finds its phase in O(log n) steps per leg instead of one per phase or per hop.
    `elems`: the elements each message carries (`Phase.elems`)."""
    phases: list[Phase] = []
    if not pairs:
        return phases
    positions = 1 + max(max(p) for p in pairs)
    sending: dict[Cell, int] = {}  # phases where the source sends
    lines: dict[tuple[str, int], _LineRules] = {}
    counts = elems if elems is not None else [0] * len(pairs)
    for (sr, sc, dr, dc), count in zip(pairs, counts, strict=True):
        if (sr, sc) == (dr, dc):
            continue
        taken = sending.get((sr, sc), 0)
        spans = []
        for way, line, start, end, turn in xy_legs((sr, sc), (dr, dc)):
            rules = lines.get((way, line))
            if rules is None:
                rules = lines[(way, line)] = _LineRules(positions)
            lo, hi = _interior(start, end)
            taken |= rules.disagreeing(lo, hi, end, turn)
            spans.append((rules, lo, hi, end, turn))
        k = ((~taken) & (taken + 1)).bit_length() - 1  # the lowest free phase
        if k == len(phases):
            phases.append(Phase())
        phases[k].messages.append(((sr, sc), (dr, dc)))
        phases[k].elems.append(count)
        bit = 1 << k
        sending[(sr, sc)] = sending.get((sr, sc), 0) | bit
        for rules, lo, hi, end, turn in spans:
            rules.add(lo, hi, end, turn, bit)
    return phases
