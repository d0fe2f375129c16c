"""allocate-colors: map virtual channels onto the target's routing colors.

A channel is live from its first to its last op (routes, sends, receives, exchanges). Channels
whose lives do not overlap share a color; a later channel's `pe.route` ops sit at its first use,
so they reconfigure the routers only after the earlier channel is done. More channels live at
once than the target has colors is a `ColorAllocationError` naming the op where it happens.

Rules stay on the routers until replaced, so once channels share a color a later `pe.route`
can set exactly the rules its routers already hold (an exchange phase after another on the
same path, say). Such a route does nothing; it is removed, so that every route left in the
program matters (removing or corrupting any one changes what the program does).

    pe.send %a {color = 7 : i64, ...}   (virtual channel 7)
becomes
    pe.send %a {color = 0 : i64, ...}   (the first free color)
"""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from pyflame.core.errors import ColorAllocationError
from pyflame.core.target import Target
from pyflame.dialects import pe
from pyflame.passes.locations import describe_loc


def allocate(fn: func.FuncOp, target: Target) -> dict[int, int]:
    # an exchange's local part (color -1) uses no color; a channel used inside a pe.loop is
    # live for the whole loop (its iterations interleave with the body's other channels)
    block = fn.body.block
    index = {op: i for i, op in enumerate(block.ops)}
    users = [op for op in block.walk() if isinstance(op, pe._ChannelOp) and op.color_id >= 0]
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for op in users:
        i = pe.program_index(index, op)
        first.setdefault(op.color_id, i)
        last[op.color_id] = i
    mapping: dict[int, int] = {}
    busy_until: dict[int, int] = {}  # physical color -> index of its channel's last use
    for channel in sorted(first, key=first.__getitem__):
        start = first[channel]
        free = [c for c in range(target.num_colors) if busy_until.get(c, -1) < start]
        if not free:
            where = describe_loc(next(op for op in users if first[op.color_id] == start))
            where = where or "the program"
            raise ColorAllocationError(
                f"{where}: more than {target.num_colors} routing colors are needed at once on "
                f"{target.name}; split the program or use fewer concurrent collectives"
            )
        mapping[channel] = free[0]
        busy_until[free[0]] = last[channel]
    for op in users:
        op.set_color(mapping[op.color_id])
    drop_redundant_routes(fn)
    return mapping


def drop_redundant_routes(fn: func.FuncOp) -> int:
    """Erase every pe.route of `fn`'s body whose routers already hold its rule (on its color,
    for its input port); returns how many. Ops with regions (loops) end the analysis: rules set
    inside them depend on the iteration, so everything is unknown after one."""
    # numpy tracks the rules of whole rectangles; loading the passes does not need it
    import numpy as np

    ops = list(fn.body.block.ops)
    rows = max((op.rect[0] + op.rect[2] for op in ops if isinstance(op, pe.PEOp)), default=0)
    cols = max((op.rect[1] + op.rect[3] for op in ops if isinstance(op, pe.PEOp)), default=0)
    known: dict[int, np.ndarray] = {}  # color -> (rows, cols, port) output mask, -1 unknown
    dropped = 0
    for op in ops:
        if op.regions:
            known.clear()
            continue
        if not isinstance(op, pe.RouteOp):
            continue
        table = known.get(op.color_id)
        if table is None:
            table = known[op.color_id] = np.full((rows, cols, len(pe.Port)), -1, dtype=np.int8)
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


class AllocateColorsPass(ModulePass):
    """Assign physical routing colors to virtual channels (interval colouring)."""

    name = "allocate-colors"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        target = Target.of_module(op)
        for fn in op.walk():
            if isinstance(fn, func.FuncOp):
                allocate(fn, target)
