"""What `pyflame-opt` and `pyflame-run` share: registering PyFlame's dialects and a parser that
remembers where each op was written, so that a diagnostic on an op without a `loc(...)` still
names its line."""

from __future__ import annotations

import dataclasses

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Attribute, Operation, TypeAttribute
from xdsl.parser import Parser
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.lexer import Span

from pyflame.dialects import all_dialects

#: Where each parsed op starts in its source text.
SourcePositions = dict[Operation, Span[str]]


def register_pyflame_dialects(ctx: Context) -> None:
    """Register `flame`, `mesh`, `pe` and `pf` (the target and placement attributes), each
    loaded lazily, on first use."""
    for name, loader in all_dialects().items():
        ctx.register_dialect(name, loader)


class LocatingParser(Parser):
    """A `Parser` that records the source position of every op it parses into `positions`."""

    def __init__(
        self,
        ctx: Context,
        text: str | bytes,
        name: str,
        positions: SourcePositions,
        line_offset: int = 0,
    ):
        super().__init__(ctx, text, name)
        self.positions = positions
        self.line_offset = line_offset

    def parse_optional_type(self) -> TypeAttribute | None:
        start = self.pos
        try:
            return super().parse_optional_type()
        except VerifyException as err:  # a type whose parameters fail its verifier
            self.raise_error(str(err), start, self._end_since(start))

    def parse_optional_attribute(self) -> Attribute | None:
        start = self.pos
        try:
            return super().parse_optional_attribute()
        except VerifyException as err:  # an attribute whose parameters fail its verifier
            self.raise_error(str(err), start, self._end_since(start))

    def _end_since(self, start: int) -> int:
        """The end of the text parsed since `start` (without the whitespace after it)."""
        return start + len(self.lexer.input.content[start : self.pos].rstrip())

    def parse_operation(self) -> Operation:
        span = self._current_token.span
        op = super().parse_operation()
        self.positions[op] = dataclasses.replace(span, line_offset=self.line_offset)
        return op


def parse_module(
    ctx: Context, text: str | bytes, name: str, positions: SourcePositions | None = None
) -> ModuleOp:
    """Parse `text` (named `name` in diagnostics) into a module; raises xDSL's `ParseError`."""
    return LocatingParser(ctx, text, name, {} if positions is None else positions).parse_module()
