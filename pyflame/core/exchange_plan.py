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

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from pyflame.core.distribution import Distribution

Rect = tuple[int, int, int, int]
Cell = tuple[int, int]
#: a router rule of a phase: (row, col, from port) -> to port
RuleKey = tuple[int, int, str]
IndexMap = tuple[tuple[int, ...], tuple[int, ...]] | None

#: the port a wavelet arrives on after leaving a router toward a direction
ARRIVES_ON = {"east": "west", "west": "east", "south": "north", "north": "south"}


def global_coords(
    dist: Distribution, rows: int | None = None, cols: int | None = None
) -> tuple[list[np.ndarray], np.ndarray]:
    """Per dim, the global coordinate of every (PE row, PE col, local element) of the grid
    (arrays of shape (rows, cols, local elems)), and the mask of real (not padding) elements."""
    gr, gc = dist.grid
    rows = gr if rows is None else rows
    cols = gc if cols is None else cols
    block = dist.block
    L = dist.local_elems
    r = np.arange(rows, dtype=np.int64)[:, None, None]
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
    index_map: tuple[Sequence[int], Sequence[int]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where each element of the dst layout comes from, for every (PE row, PE col, local
    index) of dst's grid (arrays of shape (rows, cols, local elems)):
    (src PE row, src PE col, src local index, has a source, is a real dst element).

    Without an index map, a dst element takes the src element at the same global index (same
    shapes) or at the same row-major position (a reshape). With `index_map` = (offset, stride),
    dst global index i (per dim d) takes src global index offset[d] + stride[d] * i[d] and has
    a source only when that lies inside the src shape. Padding of dst never has a source.
    Along a mesh axis the src is replicated on, the nearest copy (the same row or column,
    clipped to src's grid) sends."""
    gdr, gdc = dd.grid
    gsr, gsc = ds.grid
    coords, valid = global_coords(dd)
    full = valid.shape
    has_src = valid.copy()
    src_idx: Sequence[np.ndarray]
    if index_map is not None:
        offset, stride = index_map
        src_idx = []
        for d, g in enumerate(coords):
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
        src_idx = list(np.unravel_index(flat, ds.shape)) if ds.shape else []
    rows = np.arange(gdr, dtype=np.int64)[:, None, None]
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


def rectangles(cells: set[Cell]) -> list[Rect]:
    """Cover `cells` exactly with few rectangles: runs along each row, stacked when the runs of
    consecutive rows match."""
    by_row: dict[int, list[int]] = {}
    for r, c in cells:
        by_row.setdefault(r, []).append(c)
    runs: dict[int, list[tuple[int, int]]] = {}  # row -> [(first col, cols)]
    for r, cols in by_row.items():
        row_runs: list[tuple[int, int]] = []
        for c in sorted(cols):
            if row_runs and sum(row_runs[-1]) == c:
                row_runs[-1] = (row_runs[-1][0], row_runs[-1][1] + 1)
            else:
                row_runs.append((c, 1))
        runs[r] = row_runs
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


@dataclass
class Phase:
    """Messages one color carries at once, and the router rules they need."""

    messages: list[tuple[Cell, Cell]] = field(default_factory=list)
    rules: dict[RuleKey, str] = field(default_factory=dict)

    def fits(self, src: Cell, hops: list[tuple[int, int, str, str]]) -> bool:
        if (src[0], src[1], "ramp") in self.rules:
            return False  # one message per source and color
        return all(self.rules.get((r, c, p), out) == out for r, c, p, out in hops)

    def add(self, src: Cell, dst: Cell, hops: list[tuple[int, int, str, str]]) -> None:
        self.messages.append((src, dst))
        for r, c, p, out in hops:
            self.rules[(r, c, p)] = out

    @property
    def routes(self) -> list[tuple[Rect, str, str]]:
        """The pe.route ops stating the rules: (rect, from port, to port), rectangles merged."""
        groups: dict[tuple[str, str], set[Cell]] = {}
        for (r, c, p), out in self.rules.items():
            groups.setdefault((p, out), set()).add((r, c))
        return [
            (rect, p, out)
            for (p, out), cells in sorted(groups.items())
            for rect in rectangles(cells)
        ]


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

    @property
    def local(self) -> np.ndarray:
        """(rows, cols, elems) mask of the dst elements whose source is on the same PE."""
        gr, gc = self.has_src.shape[:2]
        (sr, sc), (dr, dc) = self.src_at, self.dst_at
        same = (self.src_row + sr == np.arange(gr)[:, None, None] + dr) & (
            self.src_col + sc == np.arange(gc)[None, :, None] + dc
        )
        return same & self.has_src

    @property
    def has_local_part(self) -> bool:
        """Whether the exchange copies within a PE or zeroes dst padding."""
        return bool(self.local.any() or (~self.valid).any())


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
    phases = pack_phases(message_pairs(srows, scols, rows, cols))
    for a in (src_row, src_col, se, has_src, valid):
        a.flags.writeable = False
    return ExchangePlan(src_row, src_col, se, has_src, valid, phases, src_at, dst_at)


def message_pairs(
    srows: np.ndarray, scols: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> list[tuple[int, int, int, int]]:
    """The distinct (src row, src col, dst row, dst col) of the moved elements, sorted. One
    int64 key per element (a 1-D sort, not a sort of rows), and runs of equal keys (a dst
    tile's elements mostly come from one source) dropped before sorting."""
    if not srows.size:
        return []
    wide = int(max(scols.max(), cols.max())) + 1
    tall = int(max(srows.max(), rows.max())) + 1
    keys = ((srows * wide + scols) * tall + rows) * wide + cols
    keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
    uniq = np.unique(keys)
    dc, rest = uniq % wide, uniq // wide
    dr, rest = rest % tall, rest // tall
    sc, sr = rest % wide, rest // wide
    return list(zip(sr.tolist(), sc.tolist(), dr.tolist(), dc.tolist(), strict=True))


def pack_phases(pairs: list[tuple[int, int, int, int]]) -> list[Phase]:
    """Each message into the first phase it fits (`Phase.fits`), in the order given. Which
    phases a rule key is set in, and set to which port, are bitsets over the phases, so a
    message finds its phase in one pass over its hops instead of one pass per phase."""
    phases: list[Phase] = []
    occupied: dict[RuleKey, int] = {}  # phases where the key has a rule
    agreeing: dict[tuple[RuleKey, str], int] = {}  # phases where that rule leads to this port
    for sr, sc, dr, dc in pairs:
        if (sr, sc) == (dr, dc):
            continue
        hops = xy_hops((sr, sc), (dr, dc))
        # phases it cannot join: its source already sends there (the ramp key), or a hop's
        # input port already leads elsewhere
        taken = occupied.get((sr, sc, "ramp"), 0)
        for r, c, p, out in hops:
            held = occupied.get((r, c, p), 0)
            if held:
                taken |= held & ~agreeing.get(((r, c, p), out), 0)
        k = ((~taken) & (taken + 1)).bit_length() - 1  # the lowest free phase
        if k == len(phases):
            phases.append(Phase())
        phases[k].add((sr, sc), (dr, dc), hops)
        bit = 1 << k
        for r, c, p, out in hops:
            occupied[(r, c, p)] = occupied.get((r, c, p), 0) | bit
            agreeing[((r, c, p), out)] = agreeing.get(((r, c, p), out), 0) | bit
    return phases
