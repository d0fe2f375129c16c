"""The module checks xDSL has no verifier hook for, and the tensor types PyFlame runs.

Apart from the flame dialect, whose verifiers use `check_tensor_type`: `pyflame-opt` and
`pyflame-run` run `verify_module` on every module, and a program of mesh or pe ops then never
loads the flame dialect (~80 ms of each tool's ~0.42 s start; the lit suite starts the tools
270 times)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xdsl.dialects.builtin import TensorType
from xdsl.ir import Attribute, Operation
from xdsl.utils.exceptions import VerifyException

from pyflame.core import elementwise

if TYPE_CHECKING:
    from xdsl.dialects import func

#: the function argument attribute holding an input's layout hint (read by flame-to-mesh)
ARG_LAYOUT_ATTR = "flame.layout"


def verify_module(module: Operation) -> None:
    """The checks xDSL has no verifier hook for (MLIR's dialect `verifyRegionArgAttribute` and
    `verifyOperationAttribute`): every function's signature holds tensors PyFlame runs
    (`check_tensor_type`); `flame.layout` on a function argument is a `#flame.layout<...>`;
    no other `flame.*` attribute appears anywhere. Raises xDSL's DiagnosticException on the
    offending op, as its verifier would. Run by pyflame-opt after the verifiers."""
    from xdsl.dialects import func

    for op in module.walk():
        try:
            if op is module:
                _verify_target(op)
            for name in op.attributes:
                if name.startswith("flame."):
                    raise VerifyException(
                        f"unknown attribute '{name}' (a flame op takes `layout = "
                        f"#flame.layout<...>`, a function argument `{ARG_LAYOUT_ATTR}`)"
                    )
            if isinstance(op, func.FuncOp):
                _verify_signature(op)
        except VerifyException as err:
            op.emit_error(f"Operation does not verify: {err}", err)


def _verify_target(module: Operation) -> None:
    """`pf.target`, if present, is a `#pf.target<...>` (the old dictionary form is refused with
    the new spelling of the same target); `pf.placement`, if present, a `#pf.placement<...>`."""
    from pyflame.core.placement import PLACEMENT_ATTR, PlacementAttr
    from pyflame.core.target import TARGET_ATTR, TargetAttr, wrong_form_message

    attr = module.attributes.get(TARGET_ATTR)
    if attr is not None and not isinstance(attr, TargetAttr):
        raise VerifyException(wrong_form_message(attr))
    placement = module.attributes.get(PLACEMENT_ATTR)
    if placement is not None and not isinstance(placement, PlacementAttr):
        raise VerifyException(
            f"'{PLACEMENT_ATTR}' must be a #pf.placement<single_pe_bytes = N>, got {placement}"
        )


def _verify_signature(fn: func.FuncOp) -> None:
    from xdsl.dialects.builtin import DictionaryAttr

    typ = fn.function_type
    for i, t in enumerate(typ.inputs):
        check_tensor_type(t, f"argument {i}")
    for i, t in enumerate(typ.outputs):
        check_tensor_type(t, f"result {i}")
    for what, dicts in (("argument", fn.arg_attrs), ("result", fn.res_attrs)):
        for i, attrs in enumerate(dicts.data if dicts is not None else ()):
            if not isinstance(attrs, DictionaryAttr):
                continue
            for name, value in attrs.data.items():
                if not name.startswith("flame."):
                    continue
                if name != ARG_LAYOUT_ATTR or what == "result":
                    raise VerifyException(
                        f"{what} {i}: unknown attribute '{name}' (only function arguments take "
                        f"'{ARG_LAYOUT_ATTR}'; a result's layout is the `layout` of the op "
                        "making it)"
                    )
                # (flame's LayoutAttr by its name: the dialects stand on pyflame.core)
                if getattr(value, "name", None) != ARG_LAYOUT_ATTR:
                    raise VerifyException(
                        f"argument {i}: '{ARG_LAYOUT_ATTR}' must be a layout such as "
                        f"#flame.layout<grid [2, 2]>, got {value}"
                    )


def check_tensor_type(typ: Attribute, what: str) -> None:
    """A tensor type every later stage handles: a static shape (no `?`) and an element type of
    `elementwise.ELEMENT_TYPES` (f32, f16, bf16, i32, i1). Zero-size dims are fine (the
    decompose pass folds ops on them). Shared by the flame verifiers and `verify_module`."""
    if not isinstance(typ, TensorType):
        return
    if any(n < 0 for n in typ.get_shape()):
        raise VerifyException(
            f"{what} {typ} has a dynamic dim ('?'): PyFlame tensors have static shapes"
        )
    elem = elementwise.type_name(typ.element_type)
    if elem not in elementwise.ELEMENT_TYPES:
        hint = " (use f32)" if elem.startswith("f") else ""
        raise VerifyException(
            f"{what} {typ} holds {elem}, which PyFlame does not run{hint}; element types: "
            + ", ".join(elementwise.ELEMENT_TYPES)
        )


__all__ = ["ARG_LAYOUT_ATTR", "check_tensor_type", "verify_module"]
