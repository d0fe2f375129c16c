"""The decisions of the `plan-placement` pass, carried in the IR for flame-to-mesh to follow.

    builtin.module attributes {pf.placement = #pf.placement<single_pe_bytes = 4096>} { ... }

`single_pe_bytes`: tensors that nobody placed and that have at most this many bytes go on one
PE (larger ones get a grid; see passes/layouts.py). The default, 16 KiB, is what flame-to-mesh
uses on a module without the attribute; plan-placement lowers it for a program of many small
tensors that would not fit PE (0, 0).
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import IntAttr, ModuleOp
from xdsl.ir import Attribute, ParametrizedAttribute
from xdsl.irdl import irdl_attr_definition, param_def
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from pyflame.core.errors import CompileError

PLACEMENT_ATTR = "pf.placement"

#: tensors up to this many bytes default to a single PE
SINGLE_PE_BYTES = 16 * 1024
#: the single-PE budgets plan-placement tries, in turn: the first under which the program fits
SINGLE_PE_BUDGETS = (SINGLE_PE_BYTES, 4 * 1024, 1024, 0)


@irdl_attr_definition
class PlacementAttr(ParametrizedAttribute):
    """How flame-to-mesh places tensors nobody placed: `#pf.placement<single_pe_bytes = 4096>`."""

    name = "pf.placement"

    single_pe_bytes: IntAttr = param_def()

    def __init__(self, single_pe_bytes: int):
        super().__init__(IntAttr(single_pe_bytes))

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            parser.parse_keyword("single_pe_bytes")
            parser.parse_punctuation("=")
            return (IntAttr(parser.parse_integer(allow_boolean=False)),)

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string(f"<single_pe_bytes = {self.single_pe_bytes.data}>")

    def verify(self) -> None:
        if self.single_pe_bytes.data < 0:
            raise VerifyException(
                f"#pf.placement: single_pe_bytes must be at least 0, got "
                f"{self.single_pe_bytes.data}"
            )


def single_pe_bytes_of(module: ModuleOp) -> int:
    """The module's single-PE budget: its `pf.placement`, else the default (16 KiB)."""
    attr = module.attributes.get(PLACEMENT_ATTR)
    if attr is None:
        return SINGLE_PE_BYTES
    if not isinstance(attr, PlacementAttr):
        raise CompileError(
            f"'{PLACEMENT_ATTR}' must be a #pf.placement<single_pe_bytes = N>, got {attr}"
        )
    return attr.single_pe_bytes.data
