"""allocate-colors: map virtual channels onto the target's routing colors, and order every route
switch with the traffic around it.

A channel is live from its first to its last op (routes, sends, receives, exchanges, and the
waits of its asynchronous transfers). Channels whose lives do not overlap may share a color,
but not PEs they deliver to: PEs advance on their own clocks, so a sender idle during the
earlier channel runs ahead into the later one, and a PE that receives on the color from both
takes the messages in arrival order (the wrong one first). A channel so reuses a color only if
none of its receivers received on it since the color's last barriers, or if every channel since
set exactly its rules and they merge nowhere (each receiver has one sender, whose messages
follow each other along one path); otherwise barriers order it like a switch (below).
More channels live at once than the target has colors is a `ColorAllocationError` naming the op
where it happens.

Route switches. A PE changes its own router's rules when it reaches a `pe.route`; nothing orders
that with the wavelets other PEs send through the router. A channel that replaces a rule an
earlier channel left on a color could misroute the earlier channel's last wavelets (still
passing a router whose PE ran ahead) or have its own first wavelets routed by the old rule (a
router whose PE is late). So a channel takes, in this order of preference, a free color whose
routers hold no rule that disagrees with its own (a fresh color, or one whose earlier rules
agree: nothing is switched) that it may reuse (above), and only when there is none, a free
color whose rules it replaces or whose receivers it shares,
with a *barrier* over all the program's PEs before its routes (every earlier transfer has
arrived, so has passed every router) and another after them (every router has switched before
anyone sends). A barrier gathers one word per PE into the last PE of each row (the senders'
routes merge; one receive takes them all), then the last column's into the last PE, which
multicasts it back, on two colors kept for it (their rules are set once and never switched).
Barriers go where no send waits for a receive that comes after them (an in-flight message
holds its sender's ramp: that PE would never finish the barrier).

A channel that the lowering shares between ops (one per route configuration: SUMMA's
multicasts, a collective's chains) would hold its color from its first op to its last, idle
in between while other channels (an exchange's phases) run short of colors and switch rules
behind barriers. So its life is split at every idle gap that holds another channel's whole
life (`_split_idle_channels`): each later piece is a channel of its own, with a copy of the
routes before its first op. A piece takes the color of the piece before it when nothing else
used that color in between and its rules are still there (the same channel going on: its
copied routes are erased, no barrier); else it takes a color like any channel. Transformer
block 70,848 -> 61,388 cycles, GPT training step 260,877 -> 240,253 (docs/passes.md).

Rules stay on the routers until replaced, so a later `pe.route` can set exactly the rules its
routers already hold (an exchange phase after another on the same path, say). Such a route does
nothing; it is removed, so that every route left in the program matters (removing or corrupting
any one changes what the program does).

    pe.send %a {color = 7 : i64, ...}   (virtual channel 7)
becomes
    pe.send %a {color = 0 : i64, ...}   (the first free color)
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import Float32Type, ModuleOp
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass

from pyflame.core.errors import ColorAllocationError
from pyflame.core.target import Target
from pyflame.dialects import pe
from pyflame.dialects.pe import Port
from pyflame.passes.locations import describe_loc

if TYPE_CHECKING:
    import numpy as np

#: barriers over at most this many PEs gather their words (`_barrier`), larger ones chain them
GATHER_MAX_PES = 64 * 64
GATHER_MAX_SIDE = 128
#: colors kept for barriers when a program has to switch routes
BARRIER_COLORS = 2
_PORTS = list(Port)
_RAMP_BIT = 1 << _PORTS.index(Port.RAMP)
#: set bits of each output mask
_POPCOUNT = [bin(m).count("1") for m in range(1 << len(_PORTS))]


#: an op that sets rules: one (pe.route) or many (pe.routes, an exchange phase's)
RouteLike = pe.RouteOp | pe.RoutesOp


def _mask(ports: Sequence[Port]) -> int:
    return sum(1 << _PORTS.index(p) for p in set(ports))


@dataclass
class _Channel:
    """A virtual channel: where it is used, and the rules its pe.route ops set."""

    first: int
    last: int
    routes: list[RouteLike] = field(default_factory=list)


def _channels(block: Block) -> dict[int, _Channel]:
    """The channels of `block`, their lives in program order: an op inside a pe.loop counts as
    its loop (it runs at every iteration), an asynchronous transfer lives until its waits
    (followed through the loops that carry its token)."""
    index = {op: i for i, op in enumerate(block.ops)}
    channels: dict[int, _Channel] = {}
    for op in block.walk():
        if not (isinstance(op, pe._ChannelOp) and op.color_id >= 0):
            continue
        i = pe.program_index(index, op)
        ch = channels.setdefault(op.color_id, _Channel(i, i))
        ch.first, ch.last = min(ch.first, i), max(ch.last, i)
        if isinstance(op, RouteLike):
            ch.routes.append(op)
        for token in op.results:
            for user in pe.token_users(token):
                ch.last = max(ch.last, pe.program_index(index, user))
    return channels


@dataclass
class _Split:
    """Channels split at idle gaps: each piece's split channel (as the set of its pieces; a
    channel not split is absent) and the route units copied before each later piece."""

    pieces: dict[int, set[int]] = field(default_factory=dict)
    copies: dict[int, list[Operation]] = field(default_factory=dict)


def _split_idle_channels(block: Block) -> _Split:
    """Split every channel whose uses leave a gap holding another channel's whole life (from
    its first op to its last, asynchronous transfers until their waits), after the channel's
    last route: the ops after the gap move to a new channel, whose routes are copies of the
    channel's, inserted at the last point before its first op where no asynchronous transfer
    is in flight (barriers ordering a switch may sit there: an in-flight send waiting for a
    receive posted after them would hold its PE's ramp, and they would never finish). A
    channel whose routes sit in a pe.loop that also transfers data is left whole (its routes
    cannot be copied apart)."""

    ops = list(block.ops)
    index = {op: i for i, op in enumerate(ops)}
    spans: dict[int, list[tuple[int, int]]] = {}
    members: dict[int, list[tuple[int, pe._ChannelOp]]] = {}
    in_flight = [0] * (len(ops) + 2)  # +1 from an async transfer's next op to its last wait
    for op in block.walk():
        if not (isinstance(op, pe._ChannelOp) and op.color_id >= 0):
            continue
        i = pe.program_index(index, op)
        end = max([i] + [pe.program_index(index, u) for t in op.results for u in pe.token_users(t)])
        spans.setdefault(op.color_id, []).append((i, end))
        members.setdefault(op.color_id, []).append((i, op))
        if end > i:
            in_flight[i + 1] += 1
            in_flight[end + 1] -= 1
    quiet, pending = [], 0
    for p in range(len(ops) + 1):  # quiet[p]: nothing in flight just before ops[p]
        pending += in_flight[p]
        quiet.append(pending == 0)
    lives = sorted((min(a for a, _ in sp), max(b for _, b in sp)) for sp in spans.values())
    firsts = [a for a, _ in lives]
    # the earliest end among the channels starting after each position
    ends_after = [len(ops)] * (len(lives) + 1)
    for k in range(len(lives) - 1, -1, -1):
        ends_after[k] = min(ends_after[k + 1], lives[k][1])
    split = _Split()
    next_id = max(spans, default=-1) + 1
    for channel in sorted(spans):
        routes = [op for _, op in members[channel] if isinstance(op, RouteLike)]
        units = [_copyable_unit(r) for r in routes]
        if not routes or any(u is None for u in units):
            continue
        after_routes = max(pe.program_index(index, r) for r in routes)
        cuts = []  # (where a new piece's routes go, its first op)
        reach = -1
        for start, end in sorted(spans[channel]):
            if start > reach >= after_routes:
                at = next((q for q in range(start, reach, -1) if quiet[q]), None)
                k = bisect.bisect_right(firsts, reach)
                if at is not None and ends_after[k] < at:  # a channel lives and dies before
                    cuts.append((at, start))
            reach = max(reach, end)
        if not cuts:
            continue
        unique = list(dict.fromkeys(u for u in units if u is not None))
        group = {channel}
        bounds = cuts + [(len(ops), len(ops))]
        for (at, lo), (_, hi) in zip(bounds, bounds[1:], strict=False):
            piece = next_id
            next_id += 1
            group.add(piece)
            for i, op in members[channel]:
                if lo <= i < hi:
                    op.set_color(piece)
            anchor = ops[at]
            copies = []
            for unit in unique:
                copy = unit.clone()
                for inner in copy.walk():
                    if isinstance(inner, pe._ChannelOp):
                        inner.set_color(piece)
                block.insert_op_before(copy, anchor)
                copies.append(copy)
            split.copies[piece] = copies
        for piece in group:
            split.pieces[piece] = group
    return split


def _copyable_unit(route: RouteLike) -> Operation | None:
    """What a copy (or a move) of a channel's route takes: the route, or its routes-only loop
    nest (the outermost loop: the whole nest); None inside a loop that also transfers data."""
    loops = route.loops_around()
    if not loops:
        return route
    return loops[-1] if _sets_routes_only(loops[-1]) else None


def _rects(op: pe.RouteOp) -> list[tuple[int, int, int, int]]:
    """The rectangles a route sets, over every iteration of its loop."""
    loops = op.loops_around()[: len(op.rect_steps)]
    if not loops:
        return [op.rect]
    trips = [range(loop.trip_count) for loop in loops]
    return [op.rect_at(idx[0], idx[1:]) for idx in itertools.product(*trips)]


def _extent(op: pe.PEOp) -> list[tuple[int, int, int, int]]:
    """The first and last rectangles of an op (inside a loop they move by pes_step)."""
    return list(op.rect_span())


class _Rules:
    """The rules each physical color leaves on the routers, in program order: per color a flat
    (rows * cols * ports) table of output masks (-1: no rule)."""

    def __init__(self, rows: int, cols: int, cells: dict[int, tuple[np.ndarray, np.ndarray]]):
        self.rows, self.cols = rows, cols
        self.tables: dict[int, np.ndarray] = {}
        #: per color: the PEs that received on it since its last ordering
        self.heard: dict[int, np.ndarray] = {}
        #: per color: the channels since its last ordering (None: their rules differ). Their
        #: rules are compared only when a channel asks whether it repeats them (`repeats`):
        #: sorting every channel's cells as it took its color was half the lowering of a
        #: wafer-wide regrid, whose phases each find a fresh color
        self.since: dict[int, list[int] | None] = {}
        self._routes: dict[int, list[RouteLike]] = {}
        #: per channel, shared between allocations of one function
        self._cells = cells
        self._heard: dict[int, np.ndarray] = {}
        self._signature: dict[int, bytes] = {}

    def cells(self, channel: int, routes: list[RouteLike]) -> tuple[np.ndarray, np.ndarray]:
        """The (router, port) cells a channel's routes set, as flat table indices, and the mask
        each gets (computed once per channel)."""
        import numpy as np  # numpy tracks whole rectangles; loading the passes does not need it

        from pyflame.core.route_rules import rule_array, rule_cells

        hit = self._cells.get(channel)
        if hit is not None:
            return hit
        idx: list[np.ndarray] = []
        masks: list[np.ndarray] = []
        # single-router rules (most of an exchange's) as plain ints: np.mgrid per rule is slow
        one_idx: list[int] = []
        one_masks: list[int] = []
        ports = len(_PORTS)
        for op in routes:
            if isinstance(op, pe.RoutesOp):
                router, in_port, out_mask = rule_cells(rule_array(op.rule_bytes), self.cols)
                idx.append(router * ports + in_port)
                masks.append(out_mask.astype(np.int8))
                continue
            port, mask = _PORTS.index(op.from_port.data), _mask(op.outputs)
            for r0, c0, nr, nc in _rects(op):
                if nr == 1 and nc == 1:
                    one_idx.append((r0 * self.cols + c0) * ports + port)
                    one_masks.append(mask)
                    continue
                rows = np.arange(r0, r0 + nr)[:, None] * self.cols
                flat = ((rows + np.arange(c0, c0 + nc)[None, :]) * ports + port).ravel()
                idx.append(flat)
                masks.append(np.full(flat.size, mask, np.int8))
        idx.append(np.array(one_idx, np.int64))
        masks.append(np.array(one_masks, np.int8))
        out = (np.concatenate(idx), np.concatenate(masks))
        self._cells[channel] = out
        return out

    def receivers(self, channel: int, routes: list[RouteLike]) -> np.ndarray:
        """The routers (flat) whose rules of the channel deliver to their own PE."""
        hit = self._heard.get(channel)
        if hit is not None:
            return hit
        import numpy as np

        idx, masks = self.cells(channel, routes)
        ports = len(_PORTS)
        out = np.unique(idx[(masks.astype(np.int64) & _RAMP_BIT) != 0] // ports)
        self._heard[channel] = out
        return out

    def signature(self, channel: int, routes: list[RouteLike]) -> bytes:
        """The channel's rules as a set of (cell, mask), in a comparable form."""
        hit = self._signature.get(channel)
        if hit is not None:
            return hit
        import numpy as np

        idx, masks = self.cells(channel, routes)
        pairs = np.unique(idx * 256 + masks.astype(np.int64))
        # merges: a router feeding one output from two input ports (then a receiver may be
        # reached from two senders, whose messages can overtake each other's)
        ports, pop = len(_PORTS), np.array(_POPCOUNT)
        router, m = pairs // 256 // ports, pairs % 256
        starts = np.flatnonzero(np.r_[True, router[1:] != router[:-1]]) if router.size else router
        merges = router.size > 0 and bool(
            (np.add.reduceat(pop[m], starts) != pop[np.bitwise_or.reduceat(m, starts)]).any()
        )
        out = self._signature[channel] = b"merges" if merges else pairs.tobytes()
        return out

    def hears(self, color: int, channel: int, routes: list[RouteLike]) -> bool:
        """Whether the channel delivers to a PE that received on `color` since the color's
        last ordering (the start, or the barriers of a switch)."""
        heard = self.heard.get(color)
        return heard is not None and bool(heard[self.receivers(channel, routes)].any())

    def repeats(self, color: int, channel: int, routes: list[RouteLike]) -> bool:
        """Whether every channel on `color` since its last ordering had exactly this channel's
        rules, and they merge nowhere: each receiver then has one sender, whose new message
        follows its earlier one along the same path through every queue (no race)."""
        sig = self.signature(channel, routes)
        chans = self.since.get(color)
        if sig == b"merges" or not chans:
            return False
        held = {self.signature(c, self._routes[c]) for c in chans}
        if len(held) > 1:
            self.since[color] = None  # (until the color's next ordering)
            return False
        self.since[color] = chans[:1]
        return held.pop() == sig

    def continues(self, color: int, pieces: set[int]) -> bool:
        """Whether only channels of `pieces` (the pieces of one split channel) used `color` since
        its last ordering: a piece taking it goes on as the unsplit channel would have."""
        since = self.since.get(color)
        return since is not None and len(since) > 0 and all(c in pieces for c in since)

    def agree(self, color: int, channel: int, routes: list[RouteLike]) -> bool:
        """Whether the channel's routes change no rule that `color` holds (a router without one
        is free)."""
        t = self.tables.get(color)
        if t is None:
            return True
        idx, masks = self.cells(channel, routes)
        held = t[idx]
        return bool(((held < 0) | (held == masks)).all())

    def set(self, color: int, channel: int, routes: list[RouteLike], ordered: bool) -> None:
        """The channel takes `color`; `ordered`: barriers separate it from the color's earlier
        traffic."""
        import numpy as np

        t = self.tables.get(color)
        if t is None:
            t = self.tables[color] = np.full(self.rows * self.cols * len(_PORTS), -1, np.int8)
        idx, masks = self.cells(channel, routes)
        t[idx] = masks
        heard = self.heard.get(color)
        self._routes[channel] = routes
        if heard is None or ordered:
            heard = self.heard[color] = np.zeros(self.rows * self.cols, dtype=bool)
            self.since[color] = [channel]
        elif (chans := self.since.get(color)) is not None:
            chans.append(channel)
        heard[self.receivers(channel, routes)] = True


def allocate(fn: func.FuncOp, target: Target) -> dict[int, int]:
    split = _split_idle_channels(fn.body.block)
    ops = list(fn.body.block.ops)
    channels = _channels(fn.body.block)
    pe_ops = [op for op in fn.body.block.walk() if isinstance(op, pe.PEOp)]
    rows = max((r[0] + r[2] for op in pe_ops for r in _extent(op)), default=0)
    cols = max((r[1] + r[3] for op in pe_ops for r in _extent(op)), default=0)
    cells: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    mapping, switching, ordered_only, continued = _assign(
        channels, ops, target, rows, cols, target.num_colors, cells, split.pieces
    )
    barrier_colors: tuple[int, int] | None = None
    if switching and rows * cols > 1:
        if target.num_colors <= BARRIER_COLORS:
            channel, lo = next(iter(switching.items()))
            first_route = channels[channel].routes[0]
            where = describe_loc(first_route) or "the program"
            colors = _ranges(list(range(target.num_colors)))
            raise ColorAllocationError(
                f"{where}: these routes ({_pes_of(first_route)}) replace rules an earlier "
                "transfer left on every free color, or deliver to PEs it delivered to "
                f"(color{'s' * (target.num_colors > 1)} "
                f"{colors}, last used by {_op_place(ops[lo])}), and ordering the switch with "
                f"that traffic needs {BARRIER_COLORS} more colors than {target.name}'s "
                f"{target.num_colors}"
            )
        usable = target.num_colors - BARRIER_COLORS
        mapping, switching, ordered_only, continued = _assign(
            channels, ops, target, rows, cols, usable, cells, split.pieces
        )
        barrier_colors = (usable, usable + 1)
    # (positions in `ops`, before the erased copies below leave the block)
    open_at = _open_transfers(fn.body.block) if barrier_colors is not None and switching else []
    for piece in continued:  # on its color the rules are there: the copy sets nothing
        for unit in split.copies[piece]:
            unit.detach()
            unit.erase()
    for op in fn.body.block.walk():
        if isinstance(op, pe._ChannelOp) and op.color_id >= 0:
            op.set_color(mapping[op.color_id])
    if barrier_colors is not None and switching:
        _insert_barriers(
            fn, ops, channels, switching, ordered_only, barrier_colors, rows, cols, open_at
        )
    drop_redundant_routes(fn)
    return mapping


def _assign(
    channels: dict[int, _Channel],
    ops: list[Operation],
    target: Target,
    rows: int,
    cols: int,
    colors: int,
    cells: dict[int, tuple[np.ndarray, np.ndarray]],
    pieces: dict[int, set[int]],
) -> tuple[dict[int, int], dict[int, int], set[int], set[int]]:
    """Colors for the channels (first use first) out of `colors`; the channels that barriers
    must order (no free color both agrees with their routes and may be reused), each with the
    index of the last op of its color's previous channel; those of them whose rules agree
    (ordered, not switched); and the pieces of split channels that go on on the color of the
    piece before them (`pieces`: each piece's split channel, as the set of all its pieces)."""
    rules = _Rules(rows, cols, cells)
    mapping: dict[int, int] = {}
    busy_until: dict[int, int] = {}  # physical color -> index of its channel's last use
    switching: dict[int, int] = {}  # switching channel -> last use of its color before it
    ordered_only: set[int] = set()  # of those, the channels whose rules agree (no switch)
    continued: set[int] = set()
    last_piece: dict[int, int] = {}  # split channel (its first piece) -> latest piece's color
    last_start = {min(g): max(channels[p].first for p in g) for g in pieces.values()}
    for channel in sorted(channels, key=lambda ch: channels[ch].first):
        ch = channels[channel]
        free = [c for c in range(colors) if busy_until.get(c, -1) < ch.first]
        if not free:
            where = describe_loc(ops[ch.first]) or "the program"
            kept = (
                f" ({target.num_colors - colors} more are kept for the barriers that order "
                "its route switches)"
                if colors < target.num_colors
                else ""
            )
            raise ColorAllocationError(
                f"{where}: more than {colors} routing colors are needed at once on "
                f"{target.name}{kept}; split the program or use fewer concurrent collectives"
                f" ({_in_use(channels, mapping, busy_until, ops, ch)})"
            )
        agreeing = [c for c in free if rules.agree(c, channel, ch.routes)]
        group = pieces.get(channel, {channel})
        key = min(group)  # the split channel's first piece names it
        before = last_piece.get(key)
        if before is not None and before in agreeing and rules.continues(before, group):
            continued.add(channel)
            rules.set(before, channel, ch.routes, ordered=False)
            mapping[channel] = last_piece[key] = before
            busy_until[before] = ch.last
            continue
        # first a color none of whose receivers since its last ordering is one of ours (a
        # fresh one), then one that repeats the same rules (messages queued behind others of
        # their color share its queues; the fast engine gives each the whole path)
        safe = [c for c in agreeing if not rules.hears(c, channel, ch.routes)]
        safe = safe or [c for c in agreeing if rules.repeats(c, channel, ch.routes)]
        if safe:
            # not the idle color of a split channel that goes on later, when another will do
            # (taking it would cost that channel's next piece an ordering barrier)
            waiting = {
                c for k, c in last_piece.items() if k != key and last_start.get(k, -1) > ch.first
            }
            color = min(safe, key=lambda c: c in waiting)
        else:
            # the color free the longest (an agreeing one first: it needs one barrier, not
            # two, and its routes stay where they are): the barriers may sit anywhere after its
            # last use, so few barriers serve many channels
            color = min(free, key=lambda c: (c not in agreeing, busy_until.get(c, -1)))
            switching[channel] = busy_until[color]
            if color in agreeing:
                ordered_only.add(channel)
        rules.set(color, channel, ch.routes, ordered=not safe)
        mapping[channel] = color
        busy_until[color] = ch.last
        last_piece[key] = color
    return mapping, switching, ordered_only, continued


def _in_use(
    channels: dict[int, _Channel],
    mapping: dict[int, int],
    busy_until: dict[int, int],
    ops: list[Operation],
    needing: _Channel,
) -> str:
    """What a color shortage is made of: the PEs of the channel that finds no free color, and
    each color in use there with the line (and PEs) of the op that opened the channel on it."""
    holder: dict[int, int] = {}  # color -> its latest channel (mapping is in first-use order)
    for channel, color in mapping.items():
        holder[color] = channel
    holder = {c: ch for c, ch in holder.items() if busy_until[c] >= needing.first}
    where: dict[str, list[int]] = {}
    for color, channel in sorted(holder.items()):
        op = ops[channels[channel].first]
        where.setdefault(_op_place(op), []).append(color)
    held = "; ".join(f"color{'s' * (len(cs) > 1)} {_ranges(cs)} by {w}" for w, cs in where.items())
    return f"on {_pes_of(ops[needing.first])}; in use there: {held}"


def _op_place(op: Operation) -> str:
    """`file:line (PEs ...)` of the op that opens a channel."""
    line = describe_loc(op) or op.name
    return f"{line} ({_pes_of(op)})"


def _pes_of(op: Operation) -> str:
    rects = [o.rect for o in op.walk() if isinstance(o, pe.PEOp)]
    if not rects:
        return "no PEs"
    r0 = min(r[0] for r in rects)
    c0 = min(r[1] for r in rects)
    r1 = max(r[0] + r[2] for r in rects) - 1
    c1 = max(r[1] + r[3] for r in rects) - 1
    return f"PEs ({r0}, {c0})..({r1}, {c1})"


def _ranges(values: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    out: list[str] = []
    for v in values:
        if out and out[-1].split("-")[-1] == str(v - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{v}"
        else:
            out.append(str(v))
    return ", ".join(out)


def _insert_barriers(
    fn: func.FuncOp,
    ops: list[Operation],
    channels: dict[int, _Channel],
    switching: dict[int, int],
    ordered_only: set[int],
    colors: tuple[int, int],
    rows: int,
    cols: int,
    open_at: list[bool],
) -> None:
    """Order every switch: a switching channel needs a barrier after the last op of its color's
    previous channel (`lo`), then its routes, then a barrier before its first transfer (`hi`).
    Its routes may move anywhere in between (nothing else uses its color there), so barriers
    are placed greedily, latest first, and shared: each channel, by increasing `hi`, reuses the
    barriers already in (lo, hi] and adds what it lacks at the latest point of (lo, hi] where
    no transfer is open (`open_at`: a send whose receive comes after the barrier would hold
    its PE's ramp, and the barrier, which every PE must reach, would never finish: the halo
    exchange of a half channel-split conv2d deadlocked so). A channel whose rules agree
    (`ordered_only`: it shares receivers, switches nothing) needs one barrier in (lo, hi], and
    its routes stay (they set only rules no earlier traffic of the color used)."""
    block = fn.body.block
    needs = []
    for channel, lo in switching.items():
        ch = channels[channel]
        only = channel in ordered_only
        units = [] if only else list(dict.fromkeys(_route_unit(r) for r in ch.routes))
        # the first op after its routes that sets no routes (no barrier anchors on a route,
        # which may move)
        hi = next(i for i in range(ch.first, len(ops)) if not _sets_routes_only(ops[i]))
        needs.append((hi, lo, units, 1 if only else 2))
    moved: dict[int, list[Operation]] = {}  # barrier number -> routes right after it
    at: list[tuple[int, int]] = []  # per barrier: (position: before ops[p], its number)
    for hi, lo, routes, count in sorted(needs, key=lambda n: n[0]):
        inside = [k for p, k in at if lo < p <= hi]
        # (not on a route, which may move; no such point: the old place, which deadlocks only
        # when a message is longer than its path's queues hold)
        where = next(
            (p for p in range(hi, lo, -1) if not open_at[p] and not _sets_routes_only(ops[p])), hi
        )
        while len(inside) < count:
            k = len(at)
            at.append((where, k))
            inside.append(k)
        if routes:
            after = sorted(inside, key=lambda k: (at[k][0], k))[-2]
            moved.setdefault(after, []).extend(routes)
    for route in (r for rs in moved.values() for r in rs):
        route.detach()
    buf = _barrier_setup(block, rows, cols, colors)
    for p, k in sorted(at):
        anchor = ops[p]
        for op in _barrier(buf, rows, cols, colors):
            block.insert_op_before(op, anchor)
        for route in moved.get(k, []):
            block.insert_op_before(route, anchor)


def _open_transfers(block: Block) -> list[bool]:
    """Per position p (before `block`'s op p, the end included): whether a transfer is open
    there, a channel's send before p that none of the channel's receives between it and p
    takes, with a receive of the channel at p or later (ops inside a pe.loop count as the loop,
    whose sends and receives pair inside it; a receive that forwards is a send too). Before the
    colors are mapped: one virtual channel per id."""
    ops = list(block.ops)
    index = {op: i for i, op in enumerate(ops)}
    sends: dict[int, list[int]] = {}
    recvs: dict[int, list[int]] = {}
    for op in block.walk():
        if isinstance(op, pe.SendOp | pe.RecvOp) and op.color_id >= 0:
            i = pe.program_index(index, op)
            if isinstance(op, pe.RecvOp):
                recvs.setdefault(op.color_id, []).append(i)
            if isinstance(op, pe.SendOp) or op.forwards:  # a forwarding stage sends on too
                sends.setdefault(op.color_id, []).append(i)
    opened = [0] * (len(ops) + 2)  # +1 from a send's next op to its channel's next receive
    for channel, at in sends.items():
        later = sorted(set(recvs.get(channel, [])))
        for i in sorted(set(at)):
            k = bisect.bisect_right(later, i)
            if k < len(later):  # received at later[k] (same op: inside one loop)
                opened[i + 1] += 1
                opened[later[k] + 1] -= 1
    out, count = [], 0
    for p in range(len(ops) + 1):
        count += opened[p]
        out.append(count > 0)
    return out


def _sets_routes_only(op: Operation) -> bool:
    """A pe.route, or a pe.loop whose body only sets routes (routes repeated along a line, or
    over lines and positions in nested loops)."""
    if isinstance(op, pe.LoopOp):
        return all(isinstance(o, pe.YieldOp) or _sets_routes_only(o) for o in op.body.block.ops)
    return isinstance(op, RouteLike)


def _route_unit(route: RouteLike) -> Operation:
    """What moves with a switching channel's route: the route, or its routes-only loop."""
    unit = _copyable_unit(route)
    if unit is None:
        raise ColorAllocationError(
            f"{describe_loc(route) or 'a pe.route'}: these routes switch rules another channel "
            "left on every free color, inside a pe.loop that also transfers data; barriers "
            "cannot order the switch there (set the routes before the loop)"
        )
    return unit


def _barrier_setup(block, rows: int, cols: int, colors: tuple[int, int]) -> SSAValue:
    """The barrier's word and its rules, first in the function (set once, at load time)."""
    buf_op = pe.AllocOp(pe.BufferType(1, Float32Type()), name="barrier", pes=(0, 0, rows, cols))
    first_op = block.first_op
    assert first_op is not None  # a function with channels has ops
    block.insert_op_before(buf_op, first_op)
    for rect, src, dsts in _barrier_routes(rows, cols, colors):
        block.insert_op_before(pe.RouteOp(src, dsts, color=colors[0], pes=rect), first_op)
    for rect, src, dsts in _barrier_column_routes(rows, cols):
        block.insert_op_before(pe.RouteOp(src, dsts, color=colors[1], pes=rect), first_op)
    return buf_op.result


def gathers(rows: int, cols: int) -> bool:
    """Whether a barrier over rows x cols PEs gathers (below) or chains: the fast engine traces
    each gathered word's path, O(rows * cols^2 + cols * rows^2) links a barrier (73 s to plan
    two on 256 x 256 PEs), where a chain's stages are one hop each. At most GATHER_MAX_PES PEs
    and GATHER_MAX_SIDE a side: no more links than 64 x 64 PEs trace (~0.25 s a barrier)."""
    return rows * cols <= GATHER_MAX_PES and max(rows, cols) <= GATHER_MAX_SIDE


def _barrier_routes(rows: int, cols: int, colors: tuple[int, int]):
    """Rules of color 0 of a barrier: the rows into their last column (a gather: each PE's ramp
    east, passed on east, into the last column's ramp, the row's senders merging; a chain: each
    PE's ramp east, received from the west), and the multicast back from PE (rows-1, cols-1):
    north up the last column, west along every row (other input ports, so both sets agree)."""
    R, C = rows, cols
    rules: list[tuple[tuple[int, int, int, int], Port, list[Port]]] = []
    if C > 1:
        rules.append(((0, 0, R, C - 1), Port.RAMP, [Port.EAST]))
        if gathers(R, C):
            if C > 2:
                rules.append(((0, 1, R, C - 2), Port.WEST, [Port.EAST]))
            rules.append(((0, C - 1, R, 1), Port.WEST, [Port.RAMP]))
        else:
            rules.append(((0, 1, R, C - 1), Port.WEST, [Port.RAMP]))
    root_out = ([Port.NORTH] if R > 1 else []) + ([Port.WEST] if C > 1 else [])
    rules.append(((R - 1, C - 1, 1, 1), Port.RAMP, root_out))
    if R > 1:
        west = [Port.WEST] if C > 1 else []
        if R > 2:
            rules.append(((1, C - 1, R - 2, 1), Port.SOUTH, [Port.NORTH, *west, Port.RAMP]))
        rules.append(((0, C - 1, 1, 1), Port.SOUTH, [*west, Port.RAMP]))
    if C > 1:
        if C > 2:
            rules.append(((0, 1, R, C - 2), Port.EAST, [Port.WEST, Port.RAMP]))
        rules.append(((0, 0, R, 1), Port.EAST, [Port.RAMP]))
    return rules


def _barrier_column_routes(rows: int, cols: int):
    """Rules of color 1 of a barrier: the last column into its last PE (gathered or chained)."""
    if rows == 1:
        return []
    c = cols - 1
    if not gathers(rows, cols):
        return [
            ((0, c, rows - 1, 1), Port.RAMP, [Port.SOUTH]),
            ((1, c, rows - 1, 1), Port.NORTH, [Port.RAMP]),
        ]
    rules = [((0, c, rows - 1, 1), Port.RAMP, [Port.SOUTH])]
    if rows > 2:
        rules.append(((1, c, rows - 2, 1), Port.NORTH, [Port.SOUTH]))
    rules.append(((rows - 1, c, 1, 1), Port.NORTH, [Port.RAMP]))
    return rules


def _barrier(buf: SSAValue, rows: int, cols: int, colors: tuple[int, int]) -> list[Operation]:
    """Every PE's word reaches the last PE of its row, the last column's reach PE (rows-1,
    cols-1), which multicasts its word back: no PE goes on before every PE has reached the
    barrier (so every transfer it made before has arrived).

    On up to GATHER_MAX_PES PEs, GATHER_MAX_SIDE a side, the words are *gathered*: every PE sends, the senders' routes
    merge, and the last PE takes them all in one receive (`messages`, in whatever order they
    come; `max`, so the word does not depend on it): a row costs about its width in cycles.
    On more PEs they are *chained*: a receive-combine-forward stage per PE (7 cycles a hop on
    WSE2: two ramps and the CE's forward), whose stages are one hop each to plan."""
    R, C = rows, cols
    row_c, col_c = colors
    out: list[Operation] = []
    if gathers(R, C):
        if C > 1:
            out.append(pe.SendOp(buf, color=row_c, pes=(0, 0, R, C - 1)))
            row = pe.RecvOp(buf, color=row_c, pes=(0, C - 1, R, 1), combine="max", messages=C - 1)
            out.append(row)
        if R > 1:
            out.append(pe.SendOp(buf, color=col_c, pes=(0, C - 1, R - 1, 1)))
            col = pe.RecvOp(
                buf, color=col_c, pes=(R - 1, C - 1, 1, 1), combine="max", messages=R - 1
            )
            out.append(col)
    else:
        if C > 1:
            out.append(pe.SendOp(buf, color=row_c, pes=(0, 0, R, 1)))
            # one op per stage (a stage's stream is its upstream stage's output): a pe.loop
            # moving a column per iteration
            out += _stages(
                pe.RecvOp(buf, color=row_c, pes=(0, 1, R, 1), combine="sum", forward=True),
                C - 2,
                (0, 1, 0, 0),
            )
            out.append(pe.RecvOp(buf, color=row_c, pes=(0, C - 1, R, 1), combine="sum"))
        if R > 1:
            out.append(pe.SendOp(buf, color=col_c, pes=(0, C - 1, 1, 1)))
            out += _stages(
                pe.RecvOp(buf, color=col_c, pes=(1, C - 1, 1, 1), combine="sum", forward=True),
                R - 2,
                (1, 0, 0, 0),
            )
            out.append(pe.RecvOp(buf, color=col_c, pes=(R - 1, C - 1, 1, 1), combine="sum"))
    out.append(pe.SendOp(buf, color=row_c, pes=(R - 1, C - 1, 1, 1)))
    if R > 1:
        out.append(pe.RecvOp(buf, color=row_c, pes=(0, 0, R - 1, C)))
    if C > 1:
        out.append(pe.RecvOp(buf, color=row_c, pes=(R - 1, 0, 1, C - 1)))
    return out


def _stages(first: pe.RecvOp, count: int, step: tuple[int, int, int, int]) -> list[Operation]:
    """`count` stages of a chain, the first `first`, each next one `step` further: one op, or
    a pe.loop (so a barrier's size does not grow with the grid's side)."""
    if count <= 0:
        return []
    if count == 1:
        return [first]
    loop, body, _, _ = pe.LoopOp.empty(0, count, [])
    first.properties["pes_step"] = pe.dense_i64(step)
    body.add_op(first)
    body.add_op(pe.YieldOp())
    return [loop]


def drop_redundant_routes(fn: func.FuncOp) -> int:
    """Erase every pe.route of `fn`'s body whose routers already hold its rule (on its color,
    for its input port), and every such rule of a pe.routes (the op too when none is left);
    returns how many rules. An op with regions (a loop) that sets routes ends the
    analysis: rules set inside it depend on the iteration, so everything is unknown after one."""
    # numpy tracks the rules of whole rectangles; loading the passes does not need it
    import numpy as np

    ops = list(fn.body.block.ops)
    rows = max((op.rect[0] + op.rect[2] for op in ops if isinstance(op, pe.PEOp)), default=0)
    cols = max((op.rect[1] + op.rect[3] for op in ops if isinstance(op, pe.PEOp)), default=0)
    known: dict[int, np.ndarray] = {}  # color -> (rows, cols, port) output mask, -1 unknown
    dropped = 0
    for op in ops:
        if op.regions:
            if any(isinstance(inner, RouteLike) for inner in op.walk()):
                known.clear()  # rules set in a loop depend on the iteration
            continue
        if not isinstance(op, RouteLike):
            continue
        table = known.get(op.color_id)
        if table is None:
            table = known[op.color_id] = np.full((rows, cols, len(pe.Port)), -1, dtype=np.int8)
        if isinstance(op, pe.RoutesOp):
            dropped += _drop_held_rules(op, table)
            continue
        r0, c0, nr, nc = op.rect
        port = list(pe.Port).index(op.from_port.data)
        mask = sum(1 << list(pe.Port).index(p) for p in set(op.outputs))
        cells = table[r0 : r0 + nr, c0 : c0 + nc, port]
        if (cells == mask).all():
            op.detach()
            op.erase()
            dropped += 1
        else:
            cells[...] = mask
    return dropped


def _drop_held_rules(op: pe.RoutesOp, table: np.ndarray) -> int:
    """Drop the rules of `op` whose routers hold them already (`table`: (rows, cols, port)
    masks of its color, updated with the rules kept); returns how many were dropped."""
    import numpy as np

    from pyflame.core.route_rules import rule_array, rule_cells

    rules = rule_array(op.rule_bytes)
    _, cols, ports = table.shape
    router, port, mask = rule_cells(rules, cols)
    flat = table.reshape(-1)
    cell = router * ports + port
    sizes = rules[:, 2] * rules[:, 3]
    if np.unique(cell).size == cell.size:
        same = flat[cell] == mask
        held = np.logical_and.reduceat(same, np.cumsum(sizes) - sizes)
        flat[cell] = mask
    else:  # rules that set one router twice act in order
        held = np.zeros(len(rules), dtype=bool)
        starts = np.cumsum(sizes) - sizes
        for i in range(len(rules)):
            cells = cell[starts[i] : starts[i] + sizes[i]]
            held[i] = bool((flat[cells] == rules[i, 5]).all())
            flat[cells] = rules[i, 5]
    if not held.any():
        return 0
    if held.all():
        op.detach()
        op.erase()
    else:
        kept = rules[~held]
        r0, c0 = kept[:, 0].min(), kept[:, 1].min()
        r1, c1 = (kept[:, 0] + kept[:, 2]).max(), (kept[:, 1] + kept[:, 3]).max()
        op.properties["rules"] = pe.dense_i64(kept.ravel().tolist())
        op.properties["pes"] = pe.dense_i64((r0, c0, r1 - r0, c1 - c0))
    return int(held.sum())


class AllocateColorsPass(ModulePass):
    """Assign physical routing colors; barriers order route switches."""

    name = "allocate-colors"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        target = Target.of_module(op)
        for fn in op.walk():
            if isinstance(fn, func.FuncOp):
                allocate(fn, target)
