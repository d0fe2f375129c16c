"""Elementwise ops: one function per row of `pyflame.core.elementwise` (add, exp, eq, ...), with
PyTorch's type promotion and broadcasting, plus where and clamp.

    pf.add(x, 1.5)      # the scalar becomes a rank-0 flame.fill, converted and broadcast
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pyflame.core import elementwise, shapes
from pyflame.core.dtypes import DType, bfloat16, bool_, float16, float32, int32
from pyflame.core.errors import IntegerDivisionByZeroError
from pyflame.dialects import flame
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.ops.convert import astype
from pyflame.ops.node import _check_tensor, _fits, _is_scalar, _node, _shape_error
from pyflame.ops.saved import composite
from pyflame.ops.shape import broadcast_to
from pyflame.promotion import result_type

#: the flame op class of each elementwise function, by name (pyflame.core.elementwise's rows)
ELEMENTWISE_OPS: dict[str, type[flame.FlameOp]] = {**flame.UNARY_OPS, **flame.BINARY_OPS}


def _scalar(value: Any, dtype: DType) -> Tensor:
    """A Python scalar operand: a rank-0 `flame.fill` (one element per PE, broadcast)."""
    value = float(value)
    if not dtype.is_floating_point:  # floats round to inf as in PyTorch; ints never wrap
        _fits(value, dtype, "scalar operand")
    out = _node(flame.FillOp, (), (), dtype, {"value": value})
    out.__dict__["_python_number"] = True  # (ops.saved.is_python_number: PyTorch's Scalar)
    return out


def _check_kind(name: str, dtype: DType, kind: str) -> None:
    """The operand kinds an elementwise function takes (`pyflame.core.elementwise`'s rows):
    bool tensors, int tensors, numbers (not bool), floating point tensors."""
    if kind == "floating" and not dtype.is_floating_point:  # PyTorch: "hypot_cpu" not ...
        raise NotImplementedError(
            f"{format_location(user_location())}: {name} is not implemented for {dtype!r} "
            "(as in PyTorch: floating point tensors only)"
        )
    if kind == "bool" and dtype is not bool_:
        raise TypeError(
            f"{format_location(user_location())}: {name} takes bool tensors, got {dtype!r} "
            "(compare first, e.g. x > 0)"
        )
    if kind == "int" and dtype is not int32:  # PyTorch's words: "bitwise_and_cpu" not ...
        raise NotImplementedError(
            f"{format_location(user_location())}: {name} is not implemented for {dtype!r} "
            "(as in PyTorch: integer tensors, and bool ones for &, |, ^ and ~)"
        )
    if kind == "number" and dtype is bool_:
        raise TypeError(
            f"{format_location(user_location())}: {name} is not supported on bool tensors "
            "(as in PyTorch); convert with .int() or .float()"
        )


def _operands(
    name: str, args: Sequence[Any], kind: str
) -> tuple[list[Tensor], DType, tuple[int, ...]]:
    """Promote (PyTorch's rules), convert and broadcast the operands of an elementwise op: (the
    operands, their dtype, the result's shape: each operand has it, or is rank 0)."""
    first = args[0] if args else None
    if isinstance(first, Tensor):  # tensors of one shape and dtype: nothing to do (most ops)
        dtype, shape = first.dtype, first.shape
        for a in args:
            if not isinstance(a, Tensor) or a.dtype is not dtype or a.shape != shape:
                break
        else:
            if kind != "float" or dtype.is_floating_point:
                _check_kind(name, dtype, kind)
                return list(args), dtype, shape
    tensors: list[Tensor] = []
    scalars: list[Any] = []
    for a in args:
        if isinstance(a, Tensor):
            tensors.append(a)
        else:
            scalars.append(a)
    if not tensors:
        raise TypeError(f"{name} needs at least one pf.Tensor operand")
    for s in scalars:
        if not _is_scalar(s):
            raise TypeError(f"{name}: unsupported operand of type {type(s).__name__}")
    dtype = result_type(tensors, scalars)
    if kind == "float" and not dtype.is_floating_point:
        dtype = float32  # integer and bool operands of float functions, as in PyTorch
    _check_kind(name, dtype, kind)
    try:
        shape = tensors[0].shape
        for t in tensors:
            if t.shape != shape:
                shape = shapes.broadcast_all(*[t.shape for t in tensors])
                break
    except ValueError:
        raise _shape_error(
            f"{name}: shapes "
            + ", ".join(str(list(t.shape)) for t in tensors)
            + " cannot be broadcast together"
        ) from None
    out = []
    for a in args:
        if not isinstance(a, Tensor):
            out.append(_scalar(a, dtype))
            continue
        if a.dtype is not dtype:
            a = astype(a, dtype)
        if a.shape and a.shape != shape:
            a = broadcast_to(a, shape)
        out.append(a)
    return out, dtype, shape


#: the 16-bit floats, which PyTorch computes in float32 (its "opmath" type) and rounds once
HALF = (float16, bfloat16)


def _has_half(args: Sequence[Any]) -> bool:
    """Whether a tensor operand is float16/bfloat16 (`_half_opmath`'s first test, without
    its lists: every mul and div asks)."""
    for v in args:
        if isinstance(v, Tensor) and v.dtype in HALF:
            return True
    return False


def _exact_in(value: float, dtype: DType) -> bool:
    """Whether `dtype` holds `value` exactly (NaN counts as held)."""
    with np.errstate(over="ignore"):  # a number beyond the dtype is not held (inf)
        held = float(np.array(value, dtype.numpy))
    return held == value or (held != held and value != value)


def _half_opmath(name: str, a: Any, b: Any) -> Tensor | None:
    """torch's CPU `mul` and `div` of a float16/bfloat16 result read a number operand (a
    Python scalar on either side of mul, the divisor of div) or a second operand that is a 0-d
    tensor of another dtype at float32 precision: the half operand widened to float32, the
    product or quotient rounded to the half dtype once (`x * 3.3` is x * 3.2999999523, not
    x * 3.30078125). Spelled as convert, a float32 op and a convert back; None when the usual
    op gives the same value (the number is a value of the half dtype, or no such operand)."""
    tensors = [v for v in (a, b) if isinstance(v, Tensor)]
    if not any(t.dtype in HALF for t in tensors):
        return None  # (a half result needs a half operand: a float32 one promotes above it)
    if not builtins.all(isinstance(v, Tensor) or _is_scalar(v) for v in (a, b)):
        return None
    dtype = result_type(tensors, [v for v in (a, b) if not isinstance(v, Tensor)])
    if dtype not in HALF:
        return None
    candidates = (b, a) if name == "mul" else (b,)
    number = next((v for v in candidates if not isinstance(v, Tensor)), None)
    if number is not None:
        if _exact_in(float(number), dtype):
            return None
    elif not (isinstance(b, Tensor) and b.ndim == 0 and b.dtype is not dtype):
        return None
    # the tensor operand in the half dtype (as torch casts it), a 0-d second operand its own
    # value (torch's original_scalar_value), then both in float32
    wide = [
        astype(v if v is b and v.ndim == 0 else astype(v, dtype), float32)
        if isinstance(v, Tensor)
        else v
        for v in (a, b)
    ]
    return astype(elementwise_op(name, *wide), dtype)


def _half_by_one_element(fn: Callable[[Any, Any], Tensor], a: Any, b: Any) -> Tensor | None:
    """torch's CPU floor and trunc division (`//`, `floor_divide`, `div(rounding_mode=)`) of a
    float16/bfloat16 result by a one-element divisor (a number, or a tensor of one element:
    its `iter.is_scalar(2)`) take a kernel of their own: the dividend in float32, the divisor's
    own value in float32 (`original_scalar_value`: 0.3, not 0.3 rounded to the half dtype),
    the whole formula in float32 and one rounding at the end, where the elementwise kernel
    rounds after each step. `fn(a, b)` so computed; None for other operands."""
    if not isinstance(a, Tensor) and not _is_scalar(a):
        return None
    if isinstance(b, Tensor):
        if b.numel() != 1:
            return None
    elif not _is_scalar(b):
        return None
    tensors = [v for v in (a, b) if isinstance(v, Tensor)]
    if not tensors:
        return None
    dtype = result_type(tensors, [v for v in (a, b) if not isinstance(v, Tensor)])
    if dtype not in HALF:
        return None
    if isinstance(a, Tensor):  # torch casts the dividend to the result dtype first
        wide_a: Any = astype(astype(a, dtype), float32)
    else:
        with np.errstate(over="ignore"):
            wide_a = float(np.array(a, dtype.numpy))
    wide_b = astype(b, float32) if isinstance(b, Tensor) else b
    return astype(fn(wide_a, wide_b), dtype)


def elementwise_op(name: str, *args: Any) -> Tensor:
    """Build the flame op of elementwise function `name` (a row of pyflame.core.elementwise)."""
    if name in ("mul", "div") and len(args) == 2 and _has_half(args):
        widened = _half_opmath(name, *args)
        if widened is not None:
            return widened
    if name == "floor_divide" and len(args) == 2:
        widened = _half_by_one_element(floor_divide, *args)
        if widened is not None:
            return widened
    if name in ("sub", "neg"):
        _refuse_bool_subtraction(name, args)
    entry = elementwise.ALL[name]
    operands, dtype, shape = _operands(name, args, entry.operands)
    if name == "pow" and not dtype.is_floating_point and _negative_int(args[1]):
        # PyTorch's words; an integer tensor exponent gives 0, 1 or -1 there instead
        raise RuntimeError(
            f"{format_location(user_location())}: Integers to negative integer powers are not "
            "allowed."
        )
    if entry.divides and not dtype.is_floating_point and _is_zero_number(args[1]):
        raise IntegerDivisionByZeroError(
            f"{format_location(user_location())}: {name}: ZeroDivisionError: integer division "
            "by zero (PyTorch raises RuntimeError('ZeroDivisionError'))"
        )
    result = bool_ if entry.result == "bool" else dtype
    return _node(ELEMENTWISE_OPS[name], operands, shape, result)


def _refuse_bool_subtraction(name: str, args: Sequence[Any]) -> None:
    """PyTorch's RuntimeError for `-` with a bool operand (a tensor or a Python bool, either
    side) and for `-x` of a bool tensor: meaningless on masks, PyTorch points at `~` / `^`."""
    is_bool = [
        (isinstance(a, Tensor) and a.dtype is bool_) or isinstance(a, (builtins.bool, np.bool_))
        for a in args
    ]
    if not builtins.any(is_bool):
        return
    where_ = format_location(user_location())
    if name == "neg":
        raise RuntimeError(
            f"{where_}: Negation, the `-` operator, on a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    if builtins.all(is_bool):
        raise RuntimeError(
            f"{where_}: Subtraction, the `-` operator, with two bool tensors is not supported. "
            "Use the `^` or `logical_xor()` operator instead."
        )
    raise RuntimeError(
        f"{where_}: Subtraction, the `-` operator, with a bool tensor is not supported. If you "
        "are trying to invert a mask, use the `~` or `logical_not()` operator instead."
    )


def _is_zero_number(value: Any) -> bool:
    """A Python (or numpy) number equal to 0: an integer divisor known when the op is built."""
    return not isinstance(value, Tensor) and _is_scalar(value) and value == 0


def _negative_int(value: Any) -> bool:
    """A negative Python (or numpy) integer: `x ** -1` of an integer tensor is refused."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, builtins.bool):
        return False
    return builtins.bool(value < 0)


def binary(op: type[flame.ElementwiseBinaryOp], a: Any, b: Any) -> Tensor:
    """An elementwise op on tensors and python scalars (either side); NotImplemented for other
    operand types, so Python can try the other operand's operator."""
    if not (isinstance(a, Tensor) or _is_scalar(a)) or not (isinstance(b, Tensor) or _is_scalar(b)):
        return NotImplemented
    return elementwise_op(op.ENTRY.name, a, b)


def _unary_function(name: str) -> Callable[[Tensor], Tensor]:
    def fn(x: Tensor) -> Tensor:
        _check_tensor(x, name)
        return elementwise_op(name, x)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {elementwise.UNARY[name].doc or name}."
    return fn


def _binary_function(name: str) -> Callable[[Any, Any], Tensor]:
    def fn(a: Any, b: Any) -> Tensor:
        return elementwise_op(name, a, b)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {elementwise.BINARY[name].doc or name}, with broadcasting."
    return fn


(neg, abs, relu, exp, log, sqrt, rsqrt, tanh, sigmoid, gelu, silu, _logical_not) = (
    _unary_function(n) for n in list(elementwise.UNARY)[:12]
)
sin, cos, erf, floor, _round, _sign, log1p, expm1, trunc, _bitwise_not = (
    _unary_function(n) for n in list(elementwise.UNARY)[12:22]
)
(
    _add,
    _sub,
    mul,
    _div,
    pow,
    maximum,
    minimum,
    eq,
    ne,
    lt,
    le,
    gt,
    ge,
    _logical_and,
    _logical_or,
) = (_binary_function(n) for n in list(elementwise.BINARY)[:15])
floor_divide, remainder, _fmod = (_binary_function(n) for n in list(elementwise.BINARY)[15:18])
_bitwise_and, _bitwise_or, _bitwise_xor = (
    _binary_function(n) for n in list(elementwise.BINARY)[18:21]
)
bitwise_left_shift, bitwise_right_shift = (
    _binary_function(n) for n in list(elementwise.BINARY)[21:23]
)
(_signbit, exp2, log2, log10, tan, asin, acos, atan) = (
    _unary_function(n) for n in list(elementwise.UNARY)[22:30]
)
sinh, cosh, asinh, acosh, atanh, erfinv = (
    _unary_function(n) for n in list(elementwise.UNARY)[30:36]
)
atan2, hypot, nextafter = (_binary_function(n) for n in list(elementwise.BINARY)[23:26])


def operator(fn: Callable[[Any, Any], Tensor], a: Any, b: Any) -> Tensor:
    """`fn(a, b)` for a Tensor operator (`x & y`, `x // 2`); NotImplemented for operand types
    it does not take, so Python can try the other operand's operator."""
    if not all(isinstance(x, Tensor) or _is_scalar(x) for x in (a, b)):
        return NotImplemented
    return fn(a, b)


def _promoted(a: Any, b: Any) -> DType | None:
    """The dtype PyTorch's promotion gives (a, b), or None without a tensor operand."""
    tensors = [v for v in (a, b) if isinstance(v, Tensor)]
    if not tensors:
        return None
    return result_type(tensors, [v for v in (a, b) if not isinstance(v, Tensor)])


def bitwise_and(a: Any, b: Any) -> Tensor:
    """Elementwise a & b (torch.bitwise_and): bitwise on integers, logical_and on bools
    (floats refused, as PyTorch); with broadcasting."""
    if _promoted(a, b) is bool_:
        return _logical_and(a, b)
    return _bitwise_and(a, b)


def bitwise_or(a: Any, b: Any) -> Tensor:
    """Elementwise a | b (torch.bitwise_or): bitwise on integers, logical_or on bools."""
    if _promoted(a, b) is bool_:
        return _logical_or(a, b)
    return _bitwise_or(a, b)


def bitwise_xor(a: Any, b: Any) -> Tensor:
    """Elementwise a ^ b (torch.bitwise_xor): bitwise on integers, a != b on bools."""
    if _promoted(a, b) is bool_:
        return ne(a, b)
    return _bitwise_xor(a, b)


def bitwise_not(x: Tensor) -> Tensor:
    """Elementwise ~x (torch.bitwise_not): -x - 1 on integers, logical_not on bools."""
    _check_tensor(x, "bitwise_not")
    return _logical_not(x) if x.dtype is bool_ else _bitwise_not(x)


def _truth(value: Any) -> Any:
    """A logical op's operand as bool: a tensor `x != 0` (NaN is True, as PyTorch), a
    number `bool(value)`."""
    if not isinstance(value, Tensor):
        return builtins.bool(value) if _is_scalar(value) else value
    return value if value.dtype is bool_ else ne(value, 0)


def logical_and(a: Any, b: Any) -> Tensor:
    """Elementwise a and b (torch.logical_and), a bool tensor: nonzero operands are True."""
    return _logical_and(_truth(a), _truth(b))


def logical_or(a: Any, b: Any) -> Tensor:
    """Elementwise a or b (torch.logical_or), a bool tensor: nonzero operands are True."""
    return _logical_or(_truth(a), _truth(b))


def logical_xor(a: Any, b: Any) -> Tensor:
    """Elementwise a xor b (torch.logical_xor), a bool tensor: nonzero operands are True."""
    return ne(_truth(a), _truth(b))


def logical_not(x: Tensor) -> Tensor:
    """Elementwise not x (torch.logical_not), a bool tensor: True where x is 0."""
    _check_tensor(x, "logical_not")
    return _logical_not(x) if x.dtype is bool_ else eq(x, 0)


def fmod(a: Tensor, b: Any) -> Tensor:
    """Elementwise C remainder of a / b, the sign of a (torch.fmod), with broadcasting; `a`
    must be a tensor, as in PyTorch. An integer divisor of 0 is an error."""
    if not isinstance(a, Tensor):
        raise TypeError(
            f"{format_location(user_location())}: fmod takes a tensor as its first argument "
            f"(as torch.fmod), got {type(a).__name__}"
        )
    return _fmod(a, b)


ROUNDING_MODES = (None, "trunc", "floor")


def div(a: Any, b: Any, *, rounding_mode: str | None = None) -> Tensor:
    """Elementwise a / b (torch.div), with broadcasting. `rounding_mode=None`: true division
    (integers give float32); "trunc": rounded toward 0, "floor": toward -inf (both keep
    integers integer; an integer divisor of 0 is an error, as PyTorch's). The rounded forms
    have a zero gradient, as PyTorch's."""
    if rounding_mode is None:
        return _div(a, b)
    if rounding_mode not in ROUNDING_MODES:
        raise RuntimeError(
            f"{format_location(user_location())}: div expected rounding_mode to be one of "
            f"None, 'trunc', or 'floor' but found {rounding_mode!r}"
        )
    return _rounded_div(a, b, rounding_mode)


@composite(lambda out, a, b, mode: _div_saves(a, b), "Div")
def _rounded_div(a: Any, b: Any, mode: str) -> Tensor:
    if mode == "floor":
        out = floor_divide(a, b)
    else:
        out = _trunc_divide(a, b)
    if out.requires_grad:  # PyTorch's DivBackward2: zero, whatever the output gradient
        out._grad_fn = ZeroGradient(a, b)
    return out


def _div_saves(a: Any, b: Any) -> tuple[Tensor | None, ...]:
    """What PyTorch's div saves (with a rounding mode too): the divisor, and the dividend when
    the divisor needs a gradient."""
    other = b if isinstance(b, Tensor) else None
    self_ = a if isinstance(a, Tensor) and isinstance(b, Tensor) and b.requires_grad else None
    return (other, self_)


def _trunc_divide(a: Any, b: Any) -> Tensor:
    """a / b rounded toward 0: floats trunc(a / b) (PyTorch's formula, the quotient rounded to
    the operands' dtype first), integers (a - fmod(a, b)) // b (exact: b divides it)."""
    tensors = [v for v in (a, b) if isinstance(v, Tensor)]
    if not tensors:
        raise TypeError("div needs at least one pf.Tensor operand")
    dtype = result_type(tensors, [v for v in (a, b) if not isinstance(v, Tensor)])
    if dtype.is_floating_point:
        widened = _half_by_one_element(lambda x, y: trunc(_div(x, y)), a, b)
        return widened if widened is not None else trunc(_div(a, b))
    if dtype is not bool_:  # a bool operand counts as 0 / 1 of the integer type (the
        # subtraction below refuses bools), as PyTorch's `div(mask, n, rounding_mode="trunc")`
        a, b = (
            astype(v, dtype) if isinstance(v, Tensor) and v.dtype is bool_ else v for v in (a, b)
        )
    return floor_divide(_sub(a, _fmod(a, b)), b)


class ZeroGradient:
    """Gradient rule of an op PyTorch differentiates as zero (div with a rounding mode): a
    zero gradient for each tensor input (not `g * 0`, which would be NaN where g is inf)."""

    def __init__(self, *args: Any):
        self.inputs = tuple(t for t in args if isinstance(t, Tensor))

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        from pyflame.ops.creation import zeros_like

        return [zeros_like(g) for _ in self.inputs]


def add(a: Any, b: Any, *, alpha: Any = 1) -> Tensor:
    """Elementwise a + alpha * b (torch.add), with broadcasting."""
    if alpha == 1:
        return _add(a, b)
    return _alpha_op(_add, a, b, alpha)


def sub(a: Any, b: Any, *, alpha: Any = 1) -> Tensor:
    """Elementwise a - alpha * b (torch.sub), with broadcasting."""
    _refuse_bool_subtraction("sub", (a, b))  # (before alpha * b makes a mask a number)
    if alpha == 1:
        return _sub(a, b)
    return _alpha_op(_sub, a, b, alpha)


def _alpha_op(op: Callable[[Any, Any], Tensor], a: Any, b: Any, alpha: Any) -> Tensor:
    """a +/- alpha * b. A float16/bfloat16 result is torch's one expression in float32: alpha
    and a number b as values of the half dtype (as torch reads them), a + alpha * b rounded
    once (alpha * b is exact in float32), where a half product would round twice."""
    operands = [v for v in (a, b) if isinstance(v, Tensor)]
    numbers = [v for v in (a, b, alpha) if not isinstance(v, Tensor)]
    dtype = result_type(operands, numbers[:-1]) if operands else None
    if dtype is not None and not dtype.is_floating_point:
        if isinstance(alpha, (float, np.floating)):
            raise RuntimeError(
                f"{format_location(user_location())}: For integral input tensors, argument "
                "alpha must not be a floating point number."
            )
        if dtype is bool_ and op is _add:  # torch: a + bool(alpha) * b in bool, an `or`
            if not isinstance(b, Tensor):
                return logical_or(a, builtins.bool(b) and builtins.bool(alpha))
            return logical_or(a, logical_and(b, builtins.bool(alpha)))
    if dtype not in HALF or not isinstance(a, Tensor):
        # alpha * b in the result's dtype, as torch (b converted first: a float16 b of a
        # float32 sum is not rounded to float16 after its product with alpha)
        if isinstance(b, Tensor) and dtype is not None:
            b = astype(b, dtype)
        return op(a, mul(b, alpha) if isinstance(b, Tensor) else b * alpha)
    assert dtype is not None
    with np.errstate(over="ignore"):  # torch's half alpha: inf beyond the dtype
        alpha_h = float(np.array(alpha, dtype.numpy))
    wide_a = astype(astype(a, dtype), float32)
    if isinstance(b, Tensor):
        scaled: Any = mul(astype(astype(b, dtype), float32), alpha_h)
    else:
        with np.errstate(over="ignore"):
            scaled = float(np.array(b, dtype.numpy)) * alpha_h
    return astype(op(wide_a, scaled), dtype)


def round(x: Tensor, *, decimals: int = 0) -> Tensor:
    """Elementwise round half to even; `decimals` digits after the point as PyTorch computes
    it: round(x * 10**decimals) / 10**decimals (negative: before the point)."""
    _check_tensor(x, "round")
    if not decimals:
        return _round(x)
    if not x.dtype.is_floating_point:
        raise TypeError(
            f"{format_location(user_location())}: round with decimals is not supported for "
            f"{x.dtype!r} (as in PyTorch)"
        )
    if x.dtype in HALF:  # in float32, rounded to the half dtype once, as PyTorch
        return astype(round(astype(x, float32), decimals=decimals), x.dtype)
    if decimals > 0:
        scale = 10.0**decimals
        return div(_round(mul(x, scale)), scale)
    scale = 10.0 ** (-decimals)
    return mul(_round(div(x, scale)), scale)


def isnan(x: Tensor) -> Tensor:
    """Elementwise x is NaN, a bool tensor: `x != x` (only NaN differs from itself; all False
    for integers and bool)."""
    _check_tensor(x, "isnan")
    if not x.dtype.is_floating_point:
        return ne(x, x) if x.dtype is not bool_ else logical_and(x, logical_not(x))
    return ne(x, x)


@composite(lambda out, x, *args, **kwargs: (x,), "NanToNum")
def nan_to_num(
    x: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> Tensor:
    """NaN, +inf and -inf replaced by `nan`, `posinf`, `neginf` (by default 0 and the dtype's
    largest and lowest finite values, as PyTorch): three `where`s; integers unchanged."""
    _check_tensor(x, "nan_to_num")
    if not x.dtype.is_floating_point:
        return x
    import ml_dtypes  # (its finfo knows bfloat16 too)

    info = ml_dtypes.finfo(x.dtype.numpy)
    high = float(info.max) if posinf is None else posinf
    low = float(info.min) if neginf is None else neginf
    out = where(isnan(x), nan, x)
    out = where(eq(x, float("inf")), high, out)
    return where(eq(x, float("-inf")), low, out)


def where(condition: Tensor, x: Any, y: Any) -> Tensor:
    """`x` where `condition` holds, else `y` (tensors or scalars, broadcast)."""
    _check_tensor(condition, "where")
    if condition.dtype is not bool_:
        raise TypeError(
            f"{format_location(user_location())}: where's condition must be a bool tensor, "
            f"got {condition.dtype!r}"
        )
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):  # two scalars
        x = _scalar(x, result_type([], [x, y]))
    (a, b), dtype, shape = _operands("where", (x, y), "any")
    try:
        if condition.shape != shape:  # (a mask of the operands' shape needs no broadcasting)
            shape = shapes.broadcast_all(condition.shape, a.shape, b.shape)
    except ValueError:
        raise _shape_error(
            f"where: shapes {list(condition.shape)}, {list(a.shape)}, {list(b.shape)} cannot "
            "be broadcast together"
        ) from None
    c = condition if condition.shape in (shape, ()) else broadcast_to(condition, shape)
    a = a if a.shape in (shape, ()) else broadcast_to(a, shape)
    b = b if b.shape in (shape, ()) else broadcast_to(b, shape)
    return _node(flame.WhereOp, (c, a, b), shape, dtype)


@composite(
    lambda out, x, min=None, max=None: (x, *(b for b in (min, max) if isinstance(b, Tensor))),
    "Clamp",
)
def clamp(x: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """`x` limited to [min, max] (either may be None; scalars or tensors)."""
    _check_tensor(x, "clamp")
    if min is None and max is None:
        raise TypeError("clamp needs min or max")
    # PyTorch promotes x, min and max together (`clamp(int_x, f16_0d, f32_0d)` is float32),
    # where maximum then minimum would promote two at a time (float16 here)
    bounds = [v for v in (min, max) if v is not None]
    if any(not isinstance(v, Tensor) for v in bounds):
        # a number with a 0-d tensor bound: torch's Scalar overload reads both as numbers
        # (`clamp(int_x, 0.5, f16_0d)` is float32, the default dtype, not float16)
        bounds = [_as_number_kind(v) if isinstance(v, Tensor) and not v.ndim else v for v in bounds]
    dtype = result_type(
        [x, *(v for v in bounds if isinstance(v, Tensor))],
        [v for v in bounds if not isinstance(v, Tensor)],
    )
    out = x if dtype is x.dtype else astype(x, dtype)
    if not x.dtype.is_floating_point:  # an int bound beyond int32 is a no-op, not an overflow
        min, max = (
            builtins.min(builtins.max(v, -(2**31)), 2**31 - 1)
            if isinstance(v, (int, np.integer)) and not isinstance(v, builtins.bool)
            else v
            for v in (min, max)
        )
    # the bounds in that dtype too: maximum(float32 0-d x, bfloat16 [n] min) is bfloat16
    low, high = (astype(v, dtype) if isinstance(v, Tensor) else v for v in (min, max))
    if low is not None:
        out = maximum(out, low)
    if high is not None:
        out = minimum(out, high)
    if out.requires_grad:  # PyTorch's gradient: whole at a value on a bound, not halved
        out._grad_fn = Clamp(x, min, max)
    return out


def _as_number_kind(t: Tensor) -> Any:
    """A Python number of t's kind (bool, int or float), for type promotion only."""
    if t.dtype is bool_:
        return False
    return 0.0 if t.dtype.is_floating_point else 0


class Clamp:
    """Gradient rule of `clamp(x, min, max)` (attached to its result by `clamp` above, which is
    computed as minimum(maximum(x, min), max)): PyTorch's rule, the gradient passes whole
    where min <= x <= max (a value exactly on a bound included, where maximum/minimum would
    halve it); to min where x < min (and min < max), to max where x > max (or max < min)."""

    def __init__(self, x: Tensor, low: object, high: object):
        self.x, self.low, self.high = x, low, high
        self.inputs = tuple(t for t in (x, low, high) if isinstance(t, Tensor))

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        x, lo, hi = self.x, self.low, self.high
        if lo is not None and hi is not None:
            keep = (x >= lo) & (x <= hi)
            to_low = (x < lo) & lt(lo, hi) if isinstance(lo, Tensor) else None
            to_high = (x > hi) | lt(hi, lo) if isinstance(hi, Tensor) else None
        elif lo is not None:
            keep, to_low, to_high = x >= lo, x < lo, None
        else:
            keep, to_low, to_high = x <= hi, None, x > hi
        out = [where(keep, g, 0.0)]
        for bound, mask in ((lo, to_low), (hi, to_high)):
            if isinstance(bound, Tensor):
                assert mask is not None  # (a mask is made for every tensor bound)
                out.append(where(mask, g, 0.0))
        return out


# ---------------------------------------------------------------------------------------------
# torch names built from the ops above (each exact: no new rounding)


def sign(x: Tensor) -> Tensor:
    """-1, 0 or 1 (torch.sign; 0 at NaN, as PyTorch); a bool tensor is its own sign (a copy,
    as PyTorch's)."""
    _check_tensor(x, "sign")
    if x.dtype is bool_:
        return logical_or(x, False)
    return _sign(x)


def ceil(x: Tensor) -> Tensor:
    """The smallest integer >= x (torch.ceil) as -floor(-x): exact, -0.0 on (-1, 0) as
    PyTorch's, NaN and inf kept; an integer tensor is its own ceil (a copy, as PyTorch's);
    bool refused, as PyTorch ("ceil_vml_cpu" not implemented for 'Bool')."""
    _check_tensor(x, "ceil")
    if x.dtype is bool_:
        raise NotImplementedError(
            f"{format_location(user_location())}: ceil is not implemented for pf.bool (as in "
            "PyTorch)"
        )
    if not x.dtype.is_floating_point:
        return x + 0
    return neg(floor(neg(x)))


def square(x: Tensor) -> Tensor:
    """x * x (torch.square); bool counts as int32 (PyTorch: int64)."""
    _check_tensor(x, "square")
    x = astype(x, int32) if x.dtype is bool_ else x
    return mul(x, x)


def reciprocal(x: Tensor) -> Tensor:
    """1 / x (torch.reciprocal), one division; integers give float32."""
    _check_tensor(x, "reciprocal")
    return div(1, x)


def clip(x: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """torch.clip, `clamp`'s alias."""
    return clamp(x, min, max)


def frac(x: Tensor) -> Tensor:
    """x - trunc(x), the fractional part with x's sign (torch.frac); floats only, as PyTorch."""
    _check_tensor(x, "frac")
    if not x.dtype.is_floating_point:
        raise RuntimeError(
            f"{format_location(user_location())}: frac is not implemented for {x.dtype!r} "
            "(as in PyTorch: floating point tensors only)"
        )
    return sub(x, trunc(x))


def lerp(start: Tensor, end: Tensor, weight: Any) -> Tensor:
    """start + weight * (end - start) (torch.lerp), in PyTorch's two forms for precision: for
    |weight| < 0.5 from start, else end - (end - start) * (1 - weight), so lerp(a, b, 1) is b
    exactly. float16/bfloat16 compute in float32 and round once, as PyTorch."""
    _check_tensor(start, "lerp")
    _check_tensor(end, "lerp")
    if not start.dtype.is_floating_point:  # PyTorch: "lerp_kernel_scalar" not implemented ...
        raise NotImplementedError(
            f"{format_location(user_location())}: lerp is not implemented for {start.dtype!r} "
            "(as in PyTorch: floating point tensors only)"
        )
    if start.dtype in HALF and end.dtype is start.dtype:
        # (a half weight tensor is widened too; torch rounds once at the end, not per step)
        wide_w = astype(weight, float32) if isinstance(weight, Tensor) else weight
        out = astype(lerp(astype(start, float32), astype(end, float32), wide_w), start.dtype)
        if out.requires_grad and isinstance(weight, Tensor):  # in the half dtype, as PyTorch's
            out._grad_fn = Lerp(start, end, weight)
        return out
    diff = sub(end, start)
    if not isinstance(weight, Tensor):
        w = float(weight)
        if builtins.abs(w) < 0.5:
            return add(start, mul(diff, w))
        return sub(end, mul(diff, 1.0 - w))
    small = lt(abs(weight), 0.5)
    out = where(small, add(start, mul(weight, diff)), sub(end, mul(diff, sub(1.0, weight))))
    if out.requires_grad:  # (the where's own would be 0 * inf = NaN from the branch not taken)
        out._grad_fn = Lerp(start, end, weight)
    return out


class Lerp:
    """Gradient rule of `lerp(start, end, weight)` with a tensor weight, PyTorch's: g (1 - w)
    to start, g w to end, g (end - start) to weight, whichever branch computed the value (the
    decomposition's where would send the other branch 0 * (end - start): NaN at an infinite
    start or end, where PyTorch's weight gradient is inf)."""

    def __init__(self, start: Tensor, end: Tensor, weight: Tensor):
        self.inputs = (start, end, weight)

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        start, end, weight = self.inputs
        return (mul(g, sub(1.0, weight)), mul(g, weight), mul(g, sub(end, start)))


def clamp_min(x: Tensor, min: Any) -> Tensor:
    """`clamp(x, min=min)` (torch.clamp_min)."""
    return clamp(x, min=min)


def clamp_max(x: Tensor, max: Any) -> Tensor:
    """`clamp(x, max=max)` (torch.clamp_max)."""
    return clamp(x, max=max)


def _all(x: Tensor, value: bool) -> Tensor:
    """A bool tensor of x's shape, every element `value` (integers are never inf or NaN)."""
    return eq(x, x) if value else ne(x, x)


def isinf(x: Tensor) -> Tensor:
    """Where x is +inf or -inf (torch.isinf); all False for integers."""
    _check_tensor(x, "isinf")
    if not x.dtype.is_floating_point:
        return _all(x, False)
    return eq(abs(x), float("inf"))


def isposinf(x: Tensor) -> Tensor:
    _check_tensor(x, "isposinf")
    return eq(x, float("inf")) if x.dtype.is_floating_point else _all(x, False)


def isneginf(x: Tensor) -> Tensor:
    _check_tensor(x, "isneginf")
    return eq(x, float("-inf")) if x.dtype.is_floating_point else _all(x, False)


def isfinite(x: Tensor) -> Tensor:
    """Neither inf nor NaN (torch.isfinite); all True for integers."""
    _check_tensor(x, "isfinite")
    if not x.dtype.is_floating_point:
        return _all(x, True)
    return logical_and(eq(x, x), ne(abs(x), float("inf")))


def isclose(
    a: Tensor, b: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> Tensor:
    """|a - b| <= atol + |rtol * b| where finite, or a == b (torch.isclose, PyTorch's order of
    operations: integers compared as float32; NaN equal to NaN with `equal_nan`). Both
    tensors must have one dtype, as PyTorch's."""
    _check_tensor(a, "isclose")
    _check_tensor(b, "isclose")
    if a.dtype is not b.dtype:
        raise RuntimeError(
            f"{format_location(user_location())}: isclose: {a.dtype!r} did not match "
            f"{b.dtype!r} (convert one with .to(other.dtype))"
        )
    if rtol < 0 or atol < 0:
        raise RuntimeError(
            f"{format_location(user_location())}: isclose: rtol ({rtol}) and atol ({atol}) must "
            "be greater than or equal to zero"
        )
    close = eq(a, b)
    if equal_nan and a.dtype.is_floating_point:
        close = logical_or(close, logical_and(ne(a, a), ne(b, b)))
    if rtol == 0 and atol == 0:
        return close
    if not a.dtype.is_floating_point:
        a, b = astype(a, float32), astype(b, float32)
    allowed = add(abs(mul(b, rtol)), atol)
    actual = abs(sub(a, b))
    return logical_or(close, logical_and(isfinite(actual), le(actual, allowed)))


def allclose(
    a: Tensor, b: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> bool:
    """Whether every element is close (torch.allclose): a Python bool, so the tensors are
    evaluated here (a sync point, as `.item()`)."""
    return builtins.bool(isclose(a, b, rtol, atol, equal_nan).numpy().all())


def equal(a: Tensor, b: Tensor) -> bool:
    """Same shape and every element equal (torch.equal; NaN is not equal to itself): a Python
    bool, evaluated here (a sync point)."""
    _check_tensor(a, "equal")
    _check_tensor(b, "equal")
    if tuple(a.shape) != tuple(b.shape):
        return False
    return builtins.bool(eq(a, b).numpy().all())
