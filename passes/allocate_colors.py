"""allocate-colors: map virtual channels onto the target's routing colors.

A channel is live from its first to its last op (routes, sends, receives, exchanges). Channels
whose lives do not overlap share a color; a later channel's `pe.route` ops sit at its first use,
so they reconfigure the routers only after the earlier channel is done. More channels live at
once than the target has colors is a `ColorAllocationError` naming the op where it happens.

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
    # an exchange's local part (color -1) uses no color
    users = [op for op in fn.body.block.ops if isinstance(op, pe._ChannelOp) and op.color_id >= 0]
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i, op in enumerate(users):
        first.setdefault(op.color_id, i)
        last[op.color_id] = i
    mapping: dict[int, int] = {}
    busy_until: dict[int, int] = {}  # physical color -> index of its channel's last use
    for channel in sorted(first, key=first.__getitem__):
        start = first[channel]
        free = [c for c in range(target.num_colors) if busy_until.get(c, -1) < start]
        if not free:
            where = describe_loc(users[start]) or "the program"
            raise ColorAllocationError(
                f"{where}: more than {target.num_colors} routing colors are needed at once on "
                f"{target.name}; split the program or use fewer concurrent collectives"
            )
        mapping[channel] = free[0]
        busy_until[free[0]] = last[channel]
    for op in users:
        op.set_color(mapping[op.color_id])
    return mapping


class AllocateColorsPass(ModulePass):
    """Assign physical routing colors to virtual channels (interval colouring)."""

    name = "allocate-colors"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        target = Target.of_module(op)
        for fn in op.walk():
            if isinstance(fn, func.FuncOp):
                allocate(fn, target)
