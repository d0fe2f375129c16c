"""The per-function state of lower-mesh-to-pe (`PELowering`: value map, buffers, channels) and
the router route patterns its lowerings use (row/column broadcasts, chains)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.utils.exceptions import VerifyException

from pyflame.core.distribution import Distribution
from pyflame.core.target import Target
from pyflame.dialects import pe
from pyflame.dialects.mesh import MeshTensorType, dist_of, elem_of
from pyflame.dialects.pe import BufferType, Port
from pyflame.passes.locations import describe_loc

if TYPE_CHECKING:
    from pyflame.core.exchange_plan import IndexMap

Rect = tuple[int, int, int, int]
OpT = TypeVar("OpT", bound=Operation)
Rule = tuple[Rect, Port, tuple[Port, ...]]  # (PEs, from port, to ports)


def grid_rect(dist: Distribution) -> Rect:
    """The PEs of `dist`'s grid relative to the mesh op's anchor (lower-mesh-to-pe moves every
    pe op a lowering emits by the anchor: see `PELowering.anchor`). For the ops whose tensors
    share one origin (all but the exchanges) that is the grid at (0, 0)."""
    return (0, 0, dist.grid[0], dist.grid[1])


def tile_layout(typ: Attribute) -> pe.TileLayoutAttr:
    """The pe tile layout (`#pe.layout<...>`) of a `!mesh.tensor` type: the same tiling."""
    if not isinstance(typ, MeshTensorType):
        raise VerifyException(f"expected a !mesh.tensor, got {typ}")
    return _tile_layout(typ.dist, typ.element_type)


@functools.lru_cache(maxsize=8192)  # (an attribute is an immutable value: one serves all uses)
def _tile_layout(dist: Distribution, element_type: Attribute) -> pe.TileLayoutAttr:
    return pe.TileLayoutAttr(dist, element_type)


# --------------------------------------------------------------------------- route patterns


def _line(n: int, lo: Port, hi: Port) -> list[tuple[tuple[int, int], Port, tuple[Port, ...]]]:
    """Broadcast from any position along a line of n PEs: (span, from, to) per segment, where
    `lo`/`hi` are the ports toward position 0 / n-1."""
    if n == 1:
        return [((0, 1), Port.RAMP, (Port.RAMP,))]
    rules = [
        ((0, 1), Port.RAMP, (hi, Port.RAMP)),
        ((n - 1, 1), Port.RAMP, (lo, Port.RAMP)),
        ((n - 1, 1), lo, (Port.RAMP,)),
        ((0, 1), hi, (Port.RAMP,)),
    ]
    if n > 2:
        rules += [
            ((1, n - 2), Port.RAMP, (lo, hi, Port.RAMP)),
            ((1, n - 2), lo, (hi, Port.RAMP)),
            ((1, n - 2), hi, (lo, Port.RAMP)),
        ]
    return rules


def _line_from(
    n: int, roots: Sequence[int], lo: Port, hi: Port
) -> list[tuple[tuple[int, int], Port, tuple[Port, ...]]]:
    """Broadcast from the positions `roots` only, along a line of n PEs: the rules their streams
    pass through and no others, as (span, from, to) per run of positions with the same rule."""
    first, last = min(roots), max(roots)
    rules: list[tuple[tuple[int, int], Port, tuple[Port, ...]]] = []
    for src in (Port.RAMP, lo, hi):
        run: tuple[int, tuple[Port, ...]] | None = None
        for j in range(n + 1):
            to: tuple[Port, ...] | None = None
            if j < n and src == Port.RAMP and j in roots:
                to = (*([lo] if j > 0 else []), *([hi] if j < n - 1 else []), Port.RAMP)
            elif j < n and src == lo and first < j:  # from a root before j: on toward n-1
                to = (*([hi] if j < n - 1 else []), Port.RAMP)
            elif j < n and src == hi and last > j:  # from a root after j: on toward 0
                to = (*([lo] if j > 0 else []), Port.RAMP)
            if run is not None and (to != run[1] or j == n):
                rules.append(((run[0], j - run[0]), src, run[1]))
                run = None
            if to is not None and run is None:
                run = (j, to)
    return rules


def row_broadcast_from(rows: int, cols: int, roots: Sequence[int]) -> tuple[Rule, ...]:
    """PE columns `roots` multicast to their whole rows (themselves included)."""
    return tuple(
        ((0, c0, rows, n), src, dst)
        for (c0, n), src, dst in _line_from(cols, roots, Port.WEST, Port.EAST)
    )


def col_broadcast_from(rows: int, cols: int, roots: Sequence[int]) -> tuple[Rule, ...]:
    """PE rows `roots` multicast to their whole columns (themselves included)."""
    return tuple(
        ((r0, 0, n, cols), src, dst)
        for (r0, n), src, dst in _line_from(rows, roots, Port.NORTH, Port.SOUTH)
    )


def row_broadcast(rows: int, cols: int) -> tuple[Rule, ...]:
    """Any PE of a row multicasts to its whole row (itself included)."""
    return tuple(
        ((0, c0, rows, n), src, dst) for (c0, n), src, dst in _line(cols, Port.WEST, Port.EAST)
    )


def col_broadcast(rows: int, cols: int) -> tuple[Rule, ...]:
    """Any PE of a column multicasts to its whole column (itself included)."""
    return tuple(
        ((r0, 0, n, cols), src, dst) for (r0, n), src, dst in _line(rows, Port.NORTH, Port.SOUTH)
    )


def chain_step(rows: int, cols: int, along: str) -> tuple[Rule, ...]:
    """Each PE sends to its east (along='c') or south (along='r') neighbour."""
    if along == "c":
        return (
            ((0, 0, rows, cols - 1), Port.RAMP, (Port.EAST,)),
            ((0, 1, rows, cols - 1), Port.WEST, (Port.RAMP,)),
        )
    return (
        ((0, 0, rows - 1, cols), Port.RAMP, (Port.SOUTH,)),
        ((1, 0, rows - 1, cols), Port.NORTH, (Port.RAMP,)),
    )


def chain_return(rows: int, cols: int, along: str) -> tuple[Rule, ...]:
    """The last PE of each line sends back toward position 0, every PE on the way receiving."""
    if along == "c":
        rules: list[Rule] = [
            ((0, cols - 1, rows, 1), Port.RAMP, (Port.WEST,)),
            ((0, 0, rows, 1), Port.EAST, (Port.RAMP,)),
        ]
        if cols > 2:
            rules.append(((0, 1, rows, cols - 2), Port.EAST, (Port.WEST, Port.RAMP)))
    else:
        rules = [
            ((rows - 1, 0, 1, cols), Port.RAMP, (Port.NORTH,)),
            ((0, 0, 1, cols), Port.SOUTH, (Port.RAMP,)),
        ]
        if rows > 2:
            rules.append(((1, 0, rows - 2, cols), Port.SOUTH, (Port.NORTH, Port.RAMP)))
    return tuple(rules)


def diagonal_broadcast_from(g: int, roots: Sequence[int], turn_to: str) -> tuple[Rule, ...]:
    """Routes of a SUMMA operand consumed transposed, on a g x g grid: with `turn_to` 'c' (A^T,
    roots are PE rows), PE (l, c) of a root row l sends its block along column c to the
    diagonal PE (c, c), whose router turns the stream into row c and multicasts it there (the
    diagonal included); with 'r' (B^T, roots are PE columns) the same mirrored: PE (r, l) sends
    along row r to (r, r), which multicasts down column r. Every PE receives one block per step
    (its row's, or its column's), the same volume as a plain SUMMA broadcast, and no transpose
    crosses the fabric. The legs to the diagonal run along columns (rows) and the multicasts
    along rows (columns), so no link carries two streams of a step; one rule per router and
    input port (a leg passes through, never onto the ramp) on a fixed color for every step."""
    first, last = min(roots), max(roots)
    rules: dict[tuple[int, int, Port], tuple[Port, ...]] = {}  # (position on the leg, line, src)
    up, down = _line_ports("r")  # toward position 0 / g-1 of the leg (north / south for A^T)
    lo, hi = _line_ports("c")  # toward position 0 / g-1 of the multicast

    def multicast(line: int) -> tuple[Port, ...]:
        return (*([lo] if line > 0 else []), *([hi] if line < g - 1 else []), Port.RAMP)

    for line in range(g):  # line: the PE column of the leg (A^T), whose diagonal is (line, line)
        for pos in range(g):
            if pos in roots:
                toward = down if pos < line else up
                rules[(pos, line, Port.RAMP)] = multicast(line) if pos == line else (toward,)
            if first < pos < line:
                rules[(pos, line, up)] = (down,)
            if line < pos < last:
                rules[(pos, line, down)] = (up,)
        if first < line:
            rules[(line, line, up)] = multicast(line)
        if line < last:
            rules[(line, line, down)] = multicast(line)
    for row in range(g):  # the multicast of diagonal (row, row) along its row
        for col in range(g):
            if col > row:
                rules[(row, col, lo)] = (*([hi] if col < g - 1 else []), Port.RAMP)
            elif col < row:
                rules[(row, col, hi)] = (*([lo] if col > 0 else []), Port.RAMP)
    mirror = {Port.NORTH: Port.WEST, Port.SOUTH: Port.EAST, Port.WEST: Port.NORTH}
    mirror |= {Port.EAST: Port.SOUTH, Port.RAMP: Port.RAMP}
    cells: dict[tuple[int, int, Port], tuple[Port, ...]] = {}
    for (r, c, src), to in rules.items():
        if turn_to == "c":
            cells[(r, c, src)] = to
        else:  # the mirror image: rows and columns, north and west, south and east swapped
            cells[(c, r, mirror[src])] = tuple(mirror[p] for p in to)
    return _cell_rules(g, cells)


def _cell_rules(g: int, cells: dict[tuple[int, int, Port], tuple[Port, ...]]) -> tuple[Rule, ...]:
    """Per-router rules {(row, col, from): to} as rectangles: runs of rows with the same rule in
    one column, then equal runs of neighbouring columns merged."""
    runs: list[tuple[int, int, int, Port, tuple[Port, ...]]] = []  # (row, rows, col, src, to)
    for src in (Port.RAMP, Port.NORTH, Port.SOUTH, Port.WEST, Port.EAST):
        for col in range(g):
            row = 0
            while row < g:
                to = cells.get((row, col, src))
                if to is None:
                    row += 1
                    continue
                end = row
                while end + 1 < g and cells.get((end + 1, col, src)) == to:
                    end += 1
                runs.append((row, end - row + 1, col, src, to))
                row = end + 1
    out: list[Rule] = []
    open_rects: dict[tuple, list[int]] = {}  # (row, rows, src, to) -> [first col, cols]
    for row, rows, col, src, to in sorted(runs, key=lambda t: (t[2], t[3], t[0])):
        key = (row, rows, src, to)
        rect = open_rects.get(key)
        if rect is not None and rect[0] + rect[1] == col:
            rect[1] += 1
        else:
            if rect is not None:
                out.append(((row, rect[0], rows, rect[1]), src, to))
            open_rects[key] = [col, 1]
    for (row, rows, src, to), (c0, cols) in open_rects.items():
        out.append(((row, c0, rows, cols), src, to))
    return tuple(out)


Span = tuple[int, int]  # (first, count) along one mesh axis


def _line_ports(along: str) -> tuple[Port, Port]:
    """The ports toward position 0 and toward the last position of a row (along='c') or a
    column (along='r')."""
    return (Port.WEST, Port.EAST) if along == "c" else (Port.NORTH, Port.SOUTH)


def _line_rules(
    along: str, n: int, cross: Span, rules: dict[tuple[int, Port], tuple[Port, ...]]
) -> tuple[Rule, ...]:
    """Per-position rules {(position, from): to} of lines along `along`, on the lines `cross`
    of the other axis, as rectangles (runs of positions with the same rule merged)."""
    out: list[Rule] = []
    for src in (Port.RAMP, *_line_ports(along)):
        j = 0
        while j < n:
            to = rules.get((j, src))
            if to is None:
                j += 1
                continue
            k = j
            while k + 1 < n and rules.get((k + 1, src)) == to:
                k += 1
            span = (j, k - j + 1)
            rect = (
                (cross[0], j, cross[1], span[1])
                if along == "c"
                else (j, cross[0], span[1], cross[1])
            )
            out.append((rect, src, to))
            j = k + 1
    return tuple(out)


def chain_routes(
    along: str, n: int, chains: Sequence[Sequence[int]], cross: Span
) -> tuple[Rule, ...]:
    """Pipelined chains along rows (along='c') or columns ('r') of n positions, all on one
    color: each chain's position i sends to position i+1, the routers in between pass the
    stream through (no CE stage), and no router needs two rules for one input port."""
    lo, hi = _line_ports(along)
    rules: dict[tuple[int, Port], tuple[Port, ...]] = {}

    def put(pos: int, src: Port, to: Port) -> None:
        old = rules.setdefault((pos, src), (to,))
        assert old == (to,), f"chains {chains} need two rules at position {pos} from {src}"

    for chain in chains:
        for u, v in zip(chain, chain[1:], strict=False):
            out, into = (hi, lo) if v > u else (lo, hi)
            put(u, Port.RAMP, out)
            for x in range(min(u, v) + 1, max(u, v)):
                put(x, into, out)
            put(v, into, Port.RAMP)
    return _line_rules(along, n, cross, rules)


def line_multicast(along: str, n: int, root: int, cross: Span) -> tuple[Rule, ...]:
    """Position `root` of each line multicasts to every other position of its line (not to
    itself: its ramp is not in the rule)."""
    lo, hi = _line_ports(along)
    rules: dict[tuple[int, Port], tuple[Port, ...]] = {
        (root, Port.RAMP): (*([lo] if root > 0 else []), *([hi] if root < n - 1 else []))
    }
    for x in range(n):
        if x < root:
            rules[(x, hi)] = (*([lo] if x > 0 else []), Port.RAMP)
        elif x > root:
            rules[(x, lo)] = (*([hi] if x < n - 1 else []), Port.RAMP)
    return _line_rules(along, n, cross, rules)


def grid_multicast(rows: int, cols: int, root: tuple[int, int]) -> tuple[Rule, ...]:
    """PE `root` multicasts to every other PE of the grid in one stream: along its row, and
    every router of that row copies it up and down its column."""
    r0, c0 = root
    vertical = (*([Port.NORTH] if r0 > 0 else []), *([Port.SOUTH] if r0 < rows - 1 else []))
    rules: list[Rule] = []
    for rule in line_multicast("c", cols, c0, (r0, 1)):
        rect, src, to = rule
        rules.append((rect, src, (*to, *vertical)))
    if r0 > 0:  # rows above: from the south, on north
        if r0 > 1:
            rules.append(((1, 0, r0 - 1, cols), Port.SOUTH, (Port.NORTH, Port.RAMP)))
        rules.append(((0, 0, 1, cols), Port.SOUTH, (Port.RAMP,)))
    if r0 < rows - 1:
        if r0 < rows - 2:
            rules.append(((r0 + 1, 0, rows - r0 - 2, cols), Port.NORTH, (Port.SOUTH, Port.RAMP)))
        rules.append(((rows - 1, 0, 1, cols), Port.NORTH, (Port.RAMP,)))
    return tuple(rules)


def _strided_runs(rules: list[Rule]) -> dict[int, tuple[int, Rect] | None]:
    """Rules of one line wide (a PE column or row) from the ramp to three ports (a middle root
    of a broadcast) that recur every two lines: the first of each such group -> (how many,
    the step to the next), the others -> None (covered by the first)."""
    groups: dict[tuple, list[int]] = {}
    for i, (rect, src, dst) in enumerate(rules):
        if src == Port.RAMP and len(dst) == 3 and 1 in (rect[2], rect[3]):
            groups.setdefault((src, dst, rect[2], rect[3]), []).append(i)
    runs: dict[int, tuple[int, Rect] | None] = {}
    for members in groups.values():
        first = rules[members[0]][0]
        step: Rect = (2, 0, 0, 0) if first[2] == 1 and first[3] != 1 else (0, 2, 0, 0)
        regular = all(
            rules[m][0] == tuple(f + n * d for f, d in zip(first, step, strict=True))
            for n, m in enumerate(members)
        )
        if not regular:
            continue
        runs[members[0]] = (len(members), step)
        for m in members[1:]:
            runs[m] = None
    return runs


# --------------------------------------------------------------------------- the lowering


def shift_rects(ops: Sequence[Operation], by: tuple[int, int]) -> None:
    """Move the rectangles (`pes`) of `ops` and of the ops in their loops by `by` PEs (a loop's
    `pes_step` is a step: it stays), and the rules' rectangles of a `pe.routes`."""
    if by == (0, 0):
        return
    for top in ops:
        for op in top.walk():
            if isinstance(op, pe.PEOp):
                r0, c0, rows, cols = op.rect
                op.properties["pes"] = pe.dense_i64((r0 + by[0], c0 + by[1], rows, cols))
            if isinstance(op, pe.RoutesOp):
                rules = list(op.rule_values)
                for k in range(0, len(rules), 6):  # (row0, col0, rows, cols, from, to)
                    rules[k] += by[0]
                    rules[k + 1] += by[1]
                op.properties["rules"] = pe.dense_i64(rules)


def anchor_of(dists: Sequence[Distribution]) -> tuple[int, int]:
    """The nearest corner of the grids' origins: per axis the smallest origin."""
    if not dists:
        return (0, 0)
    return (min(d.origin[0] for d in dists), min(d.origin[1] for d in dists))


@dataclass
class PELowering:
    target: Target
    block: Block
    values: dict[SSAValue, SSAValue] = field(default_factory=dict)
    channels: dict[tuple, int] = field(default_factory=dict)
    current: Operation | None = None
    #: program position of every mesh op, and the mesh values sharing each buffer
    position: dict[Operation, int] = field(default_factory=dict)
    sharing: dict[SSAValue, list[SSAValue]] = field(default_factory=dict)
    #: the SUMMAs (mesh.matmul) that get a second pair of receive buffers (plan_memory's
    #: `summa_double_buffered`)
    double_buffered: set[Operation] = field(default_factory=set)
    #: the fabric PE the current mesh op's rectangles are relative to: the nearest corner of
    #: its tensors' origins. Lowerings build rectangles from (0, 0); lower-mesh-to-pe then moves
    #: what they emitted by the anchor (`shift_rects`)
    anchor: tuple[int, int] = (0, 0)
    #: whether exchanges state their phases' routes (plan-placement lowers to ask
    #: allocate-sram about SRAM, which routes do not change: a wafer-wide exchange has
    #: hundreds of thousands of route rectangles)
    exchange_routes: bool = True
    #: mesh values made straight into a window of a packed buffer (an operand of a
    #: mesh.allreduce_group read by nothing else) -> (the group, its first element there)
    windows: dict[SSAValue, tuple[Operation, int]] = field(default_factory=dict)
    #: each mesh.allreduce_group's packed buffer, once made
    packed: dict[Operation, SSAValue] = field(default_factory=dict)
    #: the local mesh.transposes that SUMMA reads in place (`matmul.tile_transposes`): each
    #: is its input's buffer, whose tiles pe.matmul_acc reads with its transposed flag
    folded_transposes: set[Operation] = field(default_factory=set)

    def rect_of(self, dist: Distribution) -> Rect:
        """`dist`'s grid relative to the anchor (its rectangle once moved by the anchor)."""
        return (
            dist.origin[0] - self.anchor[0],
            dist.origin[1] - self.anchor[1],
            dist.grid[0],
            dist.grid[1],
        )

    def emit(self, op: OpT) -> OpT:
        """Insert `op` (made with its builder) before the mesh op being lowered, at its
        location."""
        assert self.current is not None
        op.location = self.current.location
        self.block.insert_op_before(op, self.current)
        return op

    def buffer_name(self, what: str) -> str:
        assert self.current is not None
        where = describe_loc(self.current)
        return f"{what}@{where}" if where else what

    def alloc(self, rect: Rect, elems: int, elem: Attribute, what: str) -> SSAValue:
        op = pe.AllocOp(BufferType(max(elems, 1), elem), name=self.buffer_name(what), pes=rect)
        return self.emit(op).result

    def alloc_for(self, v: SSAValue, what: str) -> SSAValue:
        d = dist_of(v)
        placed = self.windows.get(v)
        if placed is not None:
            return self.window(placed[0], placed[1], d.local_elems, what)
        return self.alloc(self.rect_of(d), d.local_elems, elem_of(v), what)

    def packed_buffer(self, group: Operation) -> SSAValue:
        """The packed buffer of a mesh.allreduce_group (made on first use)."""
        buf = self.packed.get(group)
        if buf is None:
            src = group.operands[0]
            elems = group.packed_elems  # type: ignore[attr-defined]  # an AllReduceGroupOp
            rect = self.rect_of(dist_of(src))
            buf = self.packed[group] = self.alloc(rect, elems, elem_of(src), "allreduce_group")
        return buf

    def window(self, group: Operation, at: int, elems: int, what: str) -> SSAValue:
        """A buffer of `elems` that is elements [at, at + elems) of `group`'s packed buffer."""
        parent = self.packed_buffer(group)
        rect = self.rect_of(dist_of(group.operands[0]))
        typ = BufferType(elems, elem_of(group.operands[0]))
        op = pe.AllocOp(typ, name=self.buffer_name(what), pes=rect, within=(parent, at))
        return self.emit(op).result

    def buf(self, v: SSAValue) -> SSAValue:
        return self.values[v]

    def channel(self, config: tuple, strided: bool = False) -> int:
        """The virtual channel of a route configuration, routing it on first use. `strided`:
        rules of one PE line that repeat every other line with the same ports (a broadcast's
        middle roots, one every two lines) are one pe.route in a pe.loop, so that the routes
        do not grow with the grid side."""
        # the same rules at another anchor are other routes on other PEs: another channel
        key = (self.anchor, config)
        if key in self.channels:
            return self.channels[key]
        color = self.channels[key] = len(self.channels)
        rules = list(config)
        runs = _strided_runs(rules) if strided else {}
        for i, (rect, src, dst) in enumerate(rules):
            if i not in runs:
                self.emit(pe.RouteOp(src, dst, color=color, pes=rect))
            elif (run := runs[i]) is not None:  # the first of a run (the others: in its loop)
                trips, step = run
                self.emit_repeated(pe.RouteOp(src, dst, color=color, pes=rect), trips, step)
        return color

    def emit_repeated(self, route: pe.RouteOp, trips: int, step: Rect | None) -> None:
        """`route` set `trips` times, moved by `step` each time: a pe.loop of one route (the
        route alone when `step` is None)."""
        if step is None:
            self.emit(route)
            return
        loop, block, _, _ = pe.LoopOp.empty(0, trips, [])
        route.properties["pes_step"] = pe.dense_i64(step)
        end = pe.YieldOp()
        block.add_ops([route, end])
        self.emit(loop)
        route.location = end.location = loop.location

    def fresh_channel(self, routes: Sequence[Rule], grouped: bool = False) -> int:
        """A virtual channel of its own (never shared, so it lives only until its last use)
        with `routes` set on it. `grouped`: rules of single PE rows (or columns) with the same
        ports at positions in arithmetic progression are one pe.route in a pe.loop each, so
        that a multicast from roots spread along a line does not grow with the grid side."""
        color = len(self.channels)
        self.channels[("fresh", color)] = color
        for rect, src, dst, trips, step in grouped_rules(routes) if grouped else []:
            route = pe.RouteOp(src, dst, color=color, pes=rect)
            self.emit_repeated(route, trips, step if trips > 1 else None)
        for rect, src, dst in [] if grouped else routes:
            self.emit(pe.RouteOp(src, dst, color=color, pes=rect))
        return color

    def rules_channel(self, routes: Sequence[tuple[Rect, str, str]]) -> int:
        """A virtual channel of its own whose rules (rect, from port, to port) are set by one
        `pe.routes` (an exchange phase: hundreds of rectangles on a wafer-wide exchange, one
        op), or by none when there are no rules."""
        color = len(self.channels)
        self.channels[("fresh", color)] = color
        if routes:
            self.emit(pe.RoutesOp.from_rules([(r, p, (o,)) for r, p, o in routes], color=color))
        return color

    def used_later(self, v: SSAValue) -> bool:
        """Whether mesh value `v` is read after the current op."""
        now = self.position[self.current]  # type: ignore[index]  # current is set while an op is lowered
        return any(self.position.get(u.operation, -1) > now for u in v.uses)

    def writable_copy(self, v: SSAValue, what: str) -> SSAValue:
        """A buffer holding `v` that may be overwritten: v's own when nothing reads that buffer
        later (through `v` or through a reshape sharing it)."""
        src = self.buf(v)
        if not any(self.used_later(w) for w in self.sharing.get(src, [v])):
            return src
        dst = self.alloc_for(v, what)
        self.emit(pe.CopyOp(dst, src, pes=grid_rect(dist_of(v))))
        return dst


def progressions(positions: Sequence[int]) -> list[tuple[int, int, int]]:
    """Sorted distinct `positions` as few arithmetic progressions (first, stride, count) as one
    stride allows, the stride chosen among the gaps between neighbours and the distances from
    the first few positions: [1, 2, 3, 5, 6, 7, ..., 13, 14, 15] is three progressions of
    stride 4, not a run of stride 1 per gap."""
    best: list[tuple[int, int, int]] = []
    near = {b - a for k in range(1, 17) for a, b in zip(positions, positions[k:], strict=False)}
    for d in sorted({1, *near} - {0}):
        groups: list[tuple[int, int, int]] = []
        residues: dict[int, list[int]] = {}
        for p in positions:
            residues.setdefault(p % d, []).append(p)
        for members in residues.values():
            start, n = members[0], 1
            for prev, p in zip(members, members[1:], strict=False):
                if p == prev + d:
                    n += 1
                else:
                    groups.append((start, d, n))
                    start, n = p, 1
            groups.append((start, d, n))
        if not best or len(groups) < len(best):
            best = groups
    return sorted(best)


def grouped_rules(rules: Sequence[Rule]) -> list[tuple[Rect, Port, tuple[Port, ...], int, Rect]]:
    """`rules` as (first rectangle, src, dst, trips, step): rules on single PE rows (or
    columns) with the same ports and extent, at positions in arithmetic progression, become
    one rule repeated `trips` times `step` apart (`progressions`); other rules stay single."""
    lines: dict[tuple, list[int]] = {}
    out: list[tuple[Rect, Port, tuple[Port, ...], int, Rect]] = []
    for (r0, c0, nr, nc), src, dst in rules:
        if nr == 1:
            lines.setdefault((src, tuple(dst), "row", c0, nc), []).append(r0)
        elif nc == 1:
            lines.setdefault((src, tuple(dst), "col", r0, nr), []).append(c0)
        else:
            out.append(((r0, c0, nr, nc), src, tuple(dst), 1, (0, 0, 0, 0)))
    for (src, dst, kind, at, extent), positions in lines.items():
        for first, stride, n in progressions(sorted(set(positions))):
            if kind == "row":
                out.append(((first, at, 1, extent), src, dst, n, (stride, 0, 0, 0)))
            else:
                out.append(((at, first, extent, 1), src, dst, n, (0, stride, 0, 0)))
    return out


def emit_exchange(
    lw: PELowering,
    dst: SSAValue,
    src: SSAValue,
    src_layout: pe.TileLayoutAttr,
    dst_layout: pe.TileLayoutAttr,
    index_map: IndexMap,
) -> None:
    """Move buffer `src` (laid out as `src_layout`) into buffer `dst` (`dst_layout`): the local
    part, then every network phase on a channel of its own with one pe.routes stating its
    messages' paths (see pyflame.core.exchange_plan)."""
    # numpy computes the phases; imported here so that loading the passes does not need it
    from pyflame.core.exchange_plan import exchange_summary, extent

    ds, dd = src_layout.dist, dst_layout.dist
    r0, c0, rows, cols = extent(ds, dd)  # both grids, from the plan's anchor
    bbox = (r0 - lw.anchor[0], c0 - lw.anchor[1], rows, cols)
    plan = exchange_summary(ds, dd, index_map)
    offset, stride = (index_map[0], index_map[1]) if index_map is not None else (None, None)
    window = index_map[2] if index_map is not None and len(index_map) > 2 else None

    def part(color: int | None, phase: int | None) -> None:
        lw.emit(
            pe.ExchangeOp(
                dst,
                src,
                src_layout=src_layout,
                dst_layout=dst_layout,
                pes=bbox,
                color=color,
                phase=phase,
                offset=offset,
                stride=stride,
                window=window,
            )
        )

    if plan.has_local_part:
        part(None, None)
    for k, phase in enumerate(plan.phases, start=1):
        # one pe.routes per phase: a wafer-wide phase states hundreds of rectangles. The
        # plan's rectangles are from the exchange's own corner (r0, c0), the op's from the
        # anchor (the corner of all its tensors: a concat's operands elsewhere)
        routes = phase.routes if lw.exchange_routes else []
        if (bbox[0], bbox[1]) != (0, 0):
            routes = [((r + bbox[0], c + bbox[1], nr, nc), a, b) for (r, c, nr, nc), a, b in routes]
        part(lw.rules_channel(routes), k)


def exchange_whole(op: Operation, lw: PELowering, what: str) -> SSAValue:
    """`op`'s operand moved element by element (row-major order) into a new buffer of its
    result's layout (see `emit_exchange`)."""
    buf = lw.alloc_for(op.results[0], what)
    src_layout = tile_layout(op.operands[0].type)
    dst_layout = tile_layout(op.results[0].type)
    emit_exchange(lw, buf, lw.buf(op.operands[0]), src_layout, dst_layout, None)
    return buf
