"""Exceptions to compiler diagnostics: `file:line:col: error: message`, never a traceback.

Shared by `pyflame-opt` and `pyflame-run`. A diagnostic names the failing op's own location when it
has one (`loc("model.py":12:4)`), else where the op was written in the input file (see
`LocatingParser`), else just the input file.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO

from xdsl.dialects.builtin import ArrayAttr, CallSiteLoc, FileLineColLoc, FusedLoc, NameLoc
from xdsl.ir import Attribute, Operation
from xdsl.printer import Printer
from xdsl.utils.diagnostic import Diagnostic
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError

from pyflame.core.errors import PyFlameError
from pyflame.tools._context import SourcePositions

#: Set to 1 to get the Python traceback of an internal error instead of a one-line diagnostic.
TRACEBACK_ENV = "PYFLAME_TRACEBACK"


def location_text(loc: Attribute) -> str | None:
    """`file:line:col` of a location attribute, or None if it names no file position."""
    match loc:
        case FileLineColLoc():
            return f"{loc.filename.data}:{loc.line.data}:{loc.column.data}"
        case NameLoc():
            return location_text(loc.location)
        case CallSiteLoc():
            return location_text(loc.callee)
        case FusedLoc() if isinstance(loc.locations, ArrayAttr):
            texts = (location_text(a) for a in loc.locations)
            return next((t for t in texts if t is not None), None)
        case _:
            return None


def op_location(op: Operation, positions: SourcePositions) -> str | None:
    """Where `op` comes from: its `loc(...)`, else where it was parsed, else None."""
    if (text := location_text(op.location)) is not None:
        return text
    if (span := positions.get(op)) is not None:
        return str(span.get_location())
    return None


def _op_summary(op: Operation) -> str:
    """The op in generic form on one line (ops with regions: only their name)."""
    if op.regions:
        return f'"{op.name}"(...)'
    out = StringIO()
    try:
        Printer(stream=out, print_generic_format=True).print_op(op)
        return out.getvalue().strip().splitlines()[0]
    except Exception:  # noqa: BLE001  (a broken op may not print; its name is enough)
        return f'"{op.name}"'


@contextmanager
def recording_diagnostic_ops(ops: list[Operation] | None = None) -> Iterator[list[Operation]]:
    """Collect into `ops` the ops xDSL attaches error messages to (`op.emit_error`, verifiers).

    xDSL's exceptions do not carry the failing op; its `Diagnostic` sees it, so we listen there.
    """
    ops = [] if ops is None else ops
    original = Diagnostic.add_message

    def add_message(self: Diagnostic, op: Operation, message: str) -> None:
        ops.append(op)
        original(self, op, message)

    # xDSL's Diagnostic has no hook for the ops it reports: wrap its method for this block
    Diagnostic.add_message = add_message  # type: ignore[method-assign]  # wrapped for this block, see the comment above
    try:
        yield ops
    finally:
        Diagnostic.add_message = original  # type: ignore[method-assign]  # restores the original method


def find_unverified_op(root: Operation) -> Operation | None:
    """The first op under `root` (pre-order) whose own checks fail, if any."""
    for op in root.walk():
        try:
            op.verify(verify_nested_ops=False)
        except Exception:  # noqa: BLE001  (whatever its checks raise, this is the op)
            return op
    return None


def format_parse_error(e: ParseError) -> str:
    """`file:line:col: error: msg` then the source line with carets, like mlir-opt."""
    lines = [f"{e.span.get_location()}: error: {e.msg}"]
    lines += e.span.print_with_context(None).splitlines()[1:]
    for span, msg in getattr(e, "refs", []):
        lines.append(f"{span.get_location()}: note: {msg or ''}".rstrip())
        lines += span.print_with_context(None).splitlines()[1:]
    return "\n".join(lines)


def format_error(
    e: BaseException,
    *,
    tool: str,
    input_name: str,
    positions: SourcePositions | None = None,
    failed_ops: list[Operation] | None = None,
    module: Operation | None = None,
) -> str:
    """One diagnostic for `e`.

    `failed_ops` are the ops recorded by `recording_diagnostic_ops`; `module` is searched for a
    failing op when a verification error names none.
    """
    positions = positions or {}
    match e:
        case ParseError():
            return format_parse_error(e)
        case ArgSpecParseError():
            return f"{tool}: error: {e}"
        case DiagnosticException():
            op = failed_ops[-1] if failed_ops else None
            if op is None and module is not None:
                op = find_unverified_op(module)
            message = str(e) or type(e).__name__
            if op is None:
                return f"{input_name}: error: {message}"
            where = op_location(op, positions) or input_name
            return (
                f"{where}: error: '{op.name}' op {message}\n"
                f"{where}: note: see current operation: {_op_summary(op)}"
            )
        case PyFlameError():
            op = getattr(e, "op", None)
            located = op_location(op, positions) if isinstance(op, Operation) else None
            where = located or getattr(e, "location", "") or input_name
            message = str(e)
            for prefix in (f"{where}: ", f"{where.rsplit(':', 1)[0]}: "):
                message = message.removeprefix(prefix)  # the location is already in front
            return f"{where}: error: {message}"
        case OSError() if e.filename is not None:
            return f"{tool}: error: cannot open '{e.filename}': {e.strerror}"
        case _:
            return (
                f"{tool}: internal error: {type(e).__name__}: {e}\n"
                f"{tool}: note: set {TRACEBACK_ENV}=1 to see the Python traceback"
            )


def emit(diagnostic: str) -> int:
    """Print a diagnostic to stderr (with the traceback if asked for); returns exit status 1."""
    if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
        traceback.print_exc()
    print(diagnostic, file=sys.stderr)
    return 1
