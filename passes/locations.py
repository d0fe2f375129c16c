"""Where an op or value was written, for diagnostics of every pass (`file:line`)."""

from __future__ import annotations

from xdsl.dialects.builtin import FileLineColLoc
from xdsl.ir import Operation, SSAValue


def describe_loc(op_or_value: Operation | SSAValue) -> str:
    """`file:line` of an op (or of a value's producer), '' when unknown."""
    loc = getattr(op_or_value, "location", None)
    if isinstance(op_or_value, SSAValue) and isinstance(op_or_value.owner, Operation):
        loc = op_or_value.owner.location
    if isinstance(loc, FileLineColLoc):
        return f"{loc.filename.data}:{loc.line.data}"
    return ""


def arg_loc(v: SSAValue) -> FileLineColLoc | None:
    """The user's line of a program input (its block argument's location), if known."""
    loc = getattr(v, "location", None)
    return loc if isinstance(loc, FileLineColLoc) else None
