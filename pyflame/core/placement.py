"""The decisions of the `plan-placement` pass, carried in the IR for flame-to-mesh to follow.

    builtin.module attributes {pf.placement = #pf.placement<single_pe_bytes = 4096>} { ... }

`single_pe_bytes`: tensors that nobody placed and that have at most this many bytes go on one
PE (larger ones get a grid; see passes/layouts.py). The default, 16 KiB, is what flame-to-mesh
uses on a module without the attribute; plan-placement lowers it for a program of many small
tensors that would not fit PE (0, 0).

`hinted_only` (absent by default): a user's `layout=` binds the hinted tensor only. Without it a
hinted layout spreads to what is derived from the hinted tensor (an elementwise result takes its
operand's layout, a transpose permutes it, ...): a tensor hinted `replicated` or `single` then
makes every derived tensor a whole copy per PE. plan-placement sets it, as a last resort, when
no budget fits with the hints spread; the hinted tensor keeps its layout and its uses read one
copy of it in the compiler's layout.

    #pf.placement<single_pe_bytes = 1024, hinted_only>
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Placement:
    """How flame-to-mesh places the tensors nobody placed (what `#pf.placement` says)."""

    #: tensors nobody placed of at most this many bytes go on one PE
    single_pe_bytes: int = SINGLE_PE_BYTES
    #: a user's hint binds the hinted tensor only; derived tensors get the compiler's layout
    hinted_only: bool = False

    def attr(self) -> PlacementAttr:
        return PlacementAttr(self.single_pe_bytes, self.hinted_only)


#: flame-to-mesh's placement on a module without `pf.placement`
DEFAULT_PLACEMENT = Placement()

#: what plan-placement tries, in turn: every budget with the hints spread to derived tensors,
#: then every budget with the hints binding the hinted tensors only (the first that fits wins)
PLACEMENTS = tuple(Placement(b) for b in SINGLE_PE_BUDGETS) + tuple(
    Placement(b, hinted_only=True) for b in SINGLE_PE_BUDGETS
)


@irdl_attr_definition
class PlacementAttr(ParametrizedAttribute):
    """How flame-to-mesh places tensors nobody placed: `#pf.placement<single_pe_bytes = 4096>`,
    `#pf.placement<single_pe_bytes = 0, hinted_only>` (module docstring)."""

    name = "pf.placement"

    single_pe_bytes: IntAttr = param_def()
    #: 1: hints bind the hinted tensors only (printed `, hinted_only`); 0: they spread
    hinted_only: IntAttr = param_def()

    def __init__(self, single_pe_bytes: int, hinted_only: bool = False):
        super().__init__(IntAttr(single_pe_bytes), IntAttr(int(hinted_only)))

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            parser.parse_keyword("single_pe_bytes")
            parser.parse_punctuation("=")
            budget = IntAttr(parser.parse_integer(allow_boolean=False))
            hinted_only = parser.parse_optional_punctuation(",") is not None
            if hinted_only:
                parser.parse_keyword("hinted_only")
            return (budget, IntAttr(int(hinted_only)))

    def print_parameters(self, printer: Printer) -> None:
        extra = ", hinted_only" if self.hinted_only.data else ""
        printer.print_string(f"<single_pe_bytes = {self.single_pe_bytes.data}{extra}>")

    def placement(self) -> Placement:
        return Placement(self.single_pe_bytes.data, bool(self.hinted_only.data))

    def verify(self) -> None:
        if self.single_pe_bytes.data < 0:
            raise VerifyException(
                f"#pf.placement: single_pe_bytes must be at least 0, got "
                f"{self.single_pe_bytes.data}"
            )
        if self.hinted_only.data not in (0, 1):
            raise VerifyException(
                f"#pf.placement: hinted_only must be 0 or 1, got {self.hinted_only.data}"
            )


def placement_of(module: ModuleOp) -> Placement:
    """The module's `pf.placement`, else the default (16 KiB, hints spread)."""
    attr = module.attributes.get(PLACEMENT_ATTR)
    if attr is None:
        return DEFAULT_PLACEMENT
    if not isinstance(attr, PlacementAttr):
        raise CompileError(
            f"'{PLACEMENT_ATTR}' must be a #pf.placement<single_pe_bytes = N>, got {attr}"
        )
    return attr.placement()


def single_pe_bytes_of(module: ModuleOp) -> int:
    """The module's single-PE budget: its `pf.placement`, else the default (16 KiB)."""
    return placement_of(module).single_pe_bytes
