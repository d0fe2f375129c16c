"""torch's math functions built from the elementwise ops, each PyTorch's CPU kernel written
as flame ops (same formula, same order of steps, so the same roundings up to the ulp or two
by which numpy's exp/log/sin differ from PyTorch's vectorized ones):

    pf.xlogy(x, y)        # where(isnan(y), nan, where(x == 0, 0, x * log(y)))
    pf.logaddexp(a, b)    # where(isinf(a) & (a == b), a, max(a, b) + log1p(exp(-|a - b|)))
    pf.sinc(x)            # where(x == 0, 1, sin(pi x) / (pi x))

float16/bfloat16 compute in float32 and round once at the end, as PyTorch's kernels do (their
opmath); integer and bool operands give float32, as PyTorch promotes them. Gradients are PyTorch's
formulas (derivatives.yaml), given as the composite's own rule where the decomposition's
chain rule would differ (sinc at 0, xlogy at x = 0, logaddexp's ties, logit outside its
bounds).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pyflame.core import shapes
from pyflame.core.dtypes import DType, bfloat16, bool_, float16, float32, int32
from pyflame.grad_mode import requires_grad_of
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.ops.convert import astype
from pyflame.ops.creation import full, zeros_like
from pyflame.ops.elementwise import (
    _promoted,
    _signbit,
    abs,
    add,
    cos,
    div,
    eq,
    erf,
    exp,
    exp2,
    floor,
    floor_divide,
    ge,
    gt,
    isfinite,
    isinf,
    isnan,
    le,
    log,
    log1p,
    log2,
    logical_and,
    logical_not,
    logical_or,
    lt,
    maximum,
    minimum,
    mul,
    ne,
    neg,
    pow,
    remainder,
    round,
    rsqrt,
    sign,
    sin,
    sub,
    tan,
    trunc,
    where,
)
from pyflame.ops.node import _check_tensor, _is_scalar, _shape_error
from pyflame.ops.shape import broadcast_to, reshape
from pyflame.promotion import result_type

_HALF = (float16, bfloat16)
#: PyTorch's constants, as its kernels use them: M_PI / 180 and 180 / M_PI (doubles, read in
#: the tensor's dtype by `mul`), pi in float32 (sinc's c10::pi<float>), 1 / ln 2
_PI_OVER_180 = math.pi / 180.0
_180_OVER_PI = 180.0 / math.pi
_PI_F32 = float(np.float32(math.pi))
_INV_LN2 = 1.0 / math.log(2.0)


def _float_dtype(name: str, *args: Any) -> DType:
    """The result dtype of a float function of these operands: PyTorch's promotion, integers
    and bool to float32."""
    for a in args:
        if not isinstance(a, Tensor) and not _is_scalar(a):
            raise TypeError(f"{name}: unsupported operand of type {type(a).__name__}")
    dtype = _promoted(*args) if len(args) == 2 else args[0].dtype
    if dtype is None:
        raise TypeError(f"{name} needs at least one pf.Tensor operand")
    return dtype if dtype.is_floating_point else float32


def _opmath(name: str, fn: Callable[..., Tensor], *args: Any, steps: bool = False) -> Tensor:
    """`fn` of the operands as tensors of the result dtype, broadcast together (numbers as
    0-d tensors); a float16/bfloat16 result computed in float32 and rounded once, or rounded
    at every step (`steps`: PyTorch's kernel computes in the half dtype itself)."""
    dtype = _float_dtype(name, *args)
    work = float32 if dtype in _HALF and not steps else dtype
    tensors = [
        astype(astype(a, dtype), work) if isinstance(a, Tensor) else full((), a, dtype=work)
        for a in args
    ]
    shape = shapes.broadcast_all(*(t.shape for t in tensors))
    tensors = [t if t.shape == shape else broadcast_to(t, shape) for t in tensors]
    out = fn(*tensors)
    return astype(out, dtype) if work is not dtype else out


class _Rule:
    """A composite's gradient by PyTorch's formula (`fn(node, g, *inputs)`), where the
    decomposition's own would differ (a tie, a point outside the domain)."""

    def __init__(self, fn: Callable[..., Sequence[Tensor | None]], *inputs: Tensor):
        self.inputs, self.fn = inputs, fn

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        return self.fn(node, g, *self.inputs)


def _with_rule(out: Tensor, fn: Callable[..., Sequence[Tensor | None]], *inputs: Tensor) -> Tensor:
    if out.requires_grad:
        out._grad_fn = _Rule(fn, *inputs)
    return out


# --------------------------------------------------------------------------- one operand


def signbit(x: Tensor) -> Tensor:
    """Whether x's sign bit is set (torch.signbit): -0.0 and a negative NaN too, integers
    below 0, bool never. `flame.signbit` (1 or 0 in x's dtype), then `flame.ne` with 0: exact."""
    _check_tensor(x, "signbit")
    if x.dtype is bool_:
        return ne(x, x)  # (False everywhere, x's shape)
    return ne(_signbit(x), 0)


def deg2rad(x: Tensor) -> Tensor:
    """x * (pi / 180) (torch.deg2rad: one multiplication by the constant in x's dtype)."""
    _check_tensor(x, "deg2rad")
    return mul(x if x.dtype.is_floating_point else astype(x, float32), _PI_OVER_180)


def rad2deg(x: Tensor) -> Tensor:
    """x * (180 / pi) (torch.rad2deg)."""
    _check_tensor(x, "rad2deg")
    return mul(x if x.dtype.is_floating_point else astype(x, float32), _180_OVER_PI)


def sinc(x: Tensor) -> Tensor:
    """sin(pi x) / (pi x), 1 at 0 (torch.sinc; pi x rounded to the dtype first, as PyTorch);
    PyTorch's gradient formula."""
    _check_tensor(x, "sinc")

    def formula(t: Tensor) -> Tensor:
        zero = eq(t, 0)
        product = where(zero, 1.0, mul(t, _PI_F32))
        return _with_rule(where(zero, 1.0, div(sin(product), product)), _sinc_grad, t)

    return _opmath("sinc", formula, x)


def _sinc_grad(node: Tensor, g: Tensor, x: Tensor) -> Sequence[Tensor | None]:
    """PyTorch's sinc_backward: g * (pi x cos(pi x) - sin(pi x)) / (x x pi), 0 where that
    denominator is 0 (x = 0, or x * x underflowing)."""
    x_pi, squared_pi = mul(x, math.pi), mul(mul(x, x), math.pi)
    out = div(mul(g, sub(mul(x_pi, cos(x_pi)), sin(x_pi))), squared_pi)
    return (where(eq(squared_pi, 0.0), 0.0, out),)


def hardshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    """0 where -lambd <= x <= lambd, else x (torch.hardshrink, `x.hardshrink(lambd)`): one
    `where`, so NaN stays NaN and the gradient is 1 outside [-lambd, lambd] (at NaN too) and
    0 on it, as PyTorch's. Floating point only, as PyTorch ("hardshrink_cpu")."""
    _check_tensor(x, "hardshrink")
    _float_only("hardshrink", x, x)
    inside = logical_and(ge(x, -lambd), le(x, lambd))
    return where(inside, 0.0, x)


def logit(x: Tensor, eps: float | None = None) -> Tensor:
    """log(x / (1 - x)) (torch.logit), x clamped to [eps, 1 - eps] first when eps is given
    (bounds in float32, as PyTorch's); float16/bfloat16 round at every step, as PyTorch's. Gradient PyTorch's: g / (x (1 - x)), 0 outside the
    bounds (NaN outside [0, 1] without eps)."""
    _check_tensor(x, "logit")
    if eps is not None:
        lo = float(np.float32(eps))
        hi = float(np.float32(1) - np.float32(eps))

    def formula(t: Tensor) -> Tensor:
        z = t
        if eps is not None:  # x < lo ? lo : (x > hi ? hi : x): NaN stays
            z = where(lt(t, lo), lo, where(gt(t, hi), hi, t))
        out = log(div(z, sub(1.0, z)))

        def rule(node: Tensor, g: Tensor, t: Tensor) -> Sequence[Tensor | None]:
            grad = div(g, mul(t, sub(1.0, t)))
            if eps is None:
                outside = lt(t, 0.0) | gt(t, 1.0)
                return (where(outside, math.nan, grad),)
            return (where(lt(t, lo) | gt(t, hi), 0.0, grad),)

        return _with_rule(out, rule, t)

    return _opmath("logit", formula, x, steps=True)  # (PyTorch's rounds 1 - x, the quotient)


# --------------------------------------------------------------------------- two operands


def xlogy(x: Any, y: Any) -> Tensor:
    """x * log(y), 0 where x is 0, NaN where y is NaN (torch.xlogy; numbers either side);
    PyTorch's gradients: xlogy(g, y) to x (0 where x is 0 and y <= 0), g x / y to y."""

    def formula(a: Tensor, b: Tensor) -> Tensor:
        zero = eq(a, 0)
        out = where(isnan(b), math.nan, where(zero, 0.0, mul(a, log(b))))
        return _with_rule(out, _xlogy_grad, a, b)

    return _opmath("xlogy", formula, x, y)


def _xlogy_grad(node: Tensor, g: Tensor, a: Tensor, b: Tensor) -> Sequence[Tensor | None]:
    g_a = where(eq(a, 0) & le(b, 0), 0.0, xlogy(g, b))
    return (g_a, div(mul(g, a), b))


def xlog1py(x: Any, y: Any) -> Tensor:
    """x * log1p(y), 0 where x is 0, NaN where y is NaN (torch.special.xlog1py); PyTorch's
    gradients: xlog1py(g, y) to x (0 where x is 0 and y <= -1), g x / (y + 1) to y."""

    def formula(a: Tensor, b: Tensor) -> Tensor:
        out = where(isnan(b), math.nan, where(eq(a, 0), 0.0, mul(a, log1p(b))))
        return _with_rule(out, _xlog1py_grad, a, b)

    return _opmath("xlog1py", formula, x, y)


def _xlog1py_grad(node: Tensor, g: Tensor, a: Tensor, b: Tensor) -> Sequence[Tensor | None]:
    g_a = where(eq(a, 0) & le(b, -1), 0.0, xlog1py(g, b))
    return (g_a, div(mul(g, a), add(b, 1.0)))


def entr(x: Tensor) -> Tensor:
    """-x log(x) for x > 0, 0 at 0, -inf below (torch.special.entr; NaN stays NaN);
    PyTorch's gradient -(1 + log x) (inf at 0)."""
    _check_tensor(x, "entr")

    def formula(a: Tensor) -> Tensor:
        inside = neg(mul(a, log(where(gt(a, 0), a, 1.0))))
        out = where(gt(a, 0), inside, where(eq(a, 0), 0.0, where(isnan(a), math.nan, -math.inf)))
        return _with_rule(out, _entr_grad, a)

    return _opmath("entr", formula, x)


def _entr_grad(node: Tensor, g: Tensor, a: Tensor) -> Sequence[Tensor | None]:
    return (mul(g, neg(add(log(a), 1.0))),)


def _float_only(name: str, *args: Any) -> None:
    """PyTorch's NotImplementedError for integer or bool operands ("logaddexp_cpu" ...)."""
    dtype = _promoted(*args)
    if dtype is not None and not dtype.is_floating_point:
        raise NotImplementedError(
            f"{format_location(user_location())}: {name} is not implemented for {dtype!r} "
            "(as in PyTorch: floating point tensors only)"
        )


def _logaddexp_with(name: str, power: Callable[[Tensor], Tensor], scale: float) -> Any:
    """logaddexp (power exp, scale 1) or logaddexp2 (exp2, 1 / ln 2): PyTorch's kernel
    `isinf(a) && a == b ? a : max(a, b) + log1p(power(-|a - b|)) * scale`; gradients
    PyTorch's, g / (1 + power(b - a)) to a (half each on a tie, where max would give all)."""

    def function(a: Any, b: Any) -> Tensor:
        _float_only(name, a, b)

        def formula(x: Tensor, y: Tensor) -> Tensor:
            tail = log1p(power(neg(abs(sub(x, y)))))
            out = where(
                isinf(x) & eq(x, y), x, maximum(x, y) + (tail * scale if scale != 1 else tail)
            )

            def rule(node: Tensor, g: Tensor, x: Tensor, y: Tensor) -> Sequence[Tensor | None]:
                return (div(g, 1.0 + power(sub(y, x))), div(g, 1.0 + power(sub(x, y))))

            return _with_rule(out, rule, x, y)

        return _opmath(name, formula, a, b)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = (
        f"log({'exp' if scale == 1 else '2 **'}(a) + ...(b)), PyTorch's {name} kernel"
    )
    return function


logaddexp = _logaddexp_with("logaddexp", exp, 1.0)
logaddexp2 = _logaddexp_with("logaddexp2", exp2, _INV_LN2)


def copysign(a: Any, b: Any) -> Tensor:
    """|a| with b's sign bit (torch.copysign; -0.0 and a negative NaN count as negative):
    exact. Integers give float32. Gradient PyTorch's: g * result / a (0 where a is 0) for a,
    zeros for b (b gets a .grad, as in PyTorch, though its sign bit has no derivative)."""

    def formula(x: Tensor, y: Tensor) -> Tensor:
        magnitude = abs(x)
        out = where(signbit(y), neg(magnitude), magnitude)
        if requires_grad_of((x, y)):
            out._requires_grad = out._grad_node = True  # (y alone: signbit has no gradient)
        return _with_rule(out, _copysign_grad, x, y)

    return _opmath("copysign", formula, a, b)


def _copysign_grad(node: Tensor, g: Tensor, x: Tensor, y: Tensor) -> Sequence[Tensor | None]:
    """PyTorch's copysign_tensor_self_backward (g * result / self, 0 where self is 0) and
    zeros_like(other)."""
    ratio = where(eq(x, 0.0), 0.0, div(node, x))
    return (mul(g, ratio), zeros_like(g))


def heaviside(input: Tensor, values: Tensor) -> Tensor:
    """values where input is 0, else 1 where input > 0 and 0 elsewhere (NaN too), in input's
    dtype (torch.heaviside: both tensors of one dtype; no gradient, as PyTorch)."""
    _check_tensor(input, "heaviside")
    _check_tensor(values, "heaviside")
    if input.dtype is not values.dtype:
        raise RuntimeError(
            f"{format_location(user_location())}: heaviside is not yet implemented for tensors "
            f"with different dtypes ({input.dtype!r} and {values.dtype!r})."
        )
    positive = gt(input, 0)
    step = positive if input.dtype is bool_ else astype(positive, input.dtype)
    out = where(eq(input, 0), values, step)

    def rule(node: Tensor, g: Tensor, *inputs: Tensor) -> Sequence[Tensor | None]:
        raise RuntimeError(
            f"{format_location(node.location)}: the derivative for 'heaviside' is not implemented."
        )

    if out.dtype.is_floating_point and requires_grad_of((input, values)):
        out._requires_grad = out._grad_node = True  # (as PyTorch's: backward then raises)
    return _with_rule(out, rule, input, values)


def true_divide(a: Any, b: Any) -> Tensor:
    """torch.true_divide, `div`'s alias."""
    return div(a, b)


# --------------------------------------------------------------------------- three operands


def _three_dtype(what: str, *args: Any) -> DType:
    """The promoted dtype of tensor operands (PyTorch takes no numbers here)."""
    for name, a in zip(("input", "tensor1", "tensor2"), args, strict=False):
        if not isinstance(a, Tensor):
            raise TypeError(
                f"{format_location(user_location())}: {what}(): argument '{name}' must be "
                f"Tensor, not {type(a).__name__}"
            )
    return result_type(list(args), [])


def _in_opmath(dtype: DType, fn: Callable[..., Tensor], *args: Any) -> Tensor:
    """fn of the operands converted to the result dtype first (as PyTorch: a float32 input
    with bfloat16 tensor1 and tensor2 multiplies them in float32, not bfloat16), in float32
    for a float16/bfloat16 result, rounded once (PyTorch's CPU kernels compute these in
    float)."""
    args = tuple(astype(a, dtype) if isinstance(a, Tensor) else a for a in args)
    if dtype not in _HALF:
        return fn(*args)
    wide = [astype(a, float32) if isinstance(a, Tensor) else a for a in args]
    return astype(fn(*wide), dtype)


def addcmul(input: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
    """input + value * tensor1 * tensor2, broadcast together (torch.addcmul; PyTorch's
    kernel's order, (value * tensor1) * tensor2 then the add, in float for half dtypes)."""
    dtype = _three_dtype("addcmul", input, tensor1, tensor2)
    if not dtype.is_floating_point and isinstance(value, float):
        raise RuntimeError(
            f"{format_location(user_location())}: addcmul: For integral input tensors, "
            "argument value must not be a floating point number."
        )

    def formula(i: Any, a: Any, b: Any) -> Tensor:
        return add(i, mul(a, b) if value == 1 else mul(mul(a, value), b))

    return _in_opmath(dtype, formula, input, tensor1, tensor2)


def addcdiv(input: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
    """input + value * tensor1 / tensor2 (torch.addcdiv: (value * tensor1) / tensor2 then the
    add, in float for half dtypes); integer tensor1 and tensor2 are refused, as PyTorch
    refuses their integer division."""
    dtype = _three_dtype("addcdiv", input, tensor1, tensor2)
    if not _three_dtype("addcdiv", tensor1, tensor2).is_floating_point:
        raise RuntimeError(
            f"{format_location(user_location())}: Integer division with addcdiv is no longer "
            "supported, and in a future release addcdiv will perform a true division of "
            "tensor1 and tensor2. The historic addcdiv behavior can be implemented as (input + "
            "value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs and as "
            "(input + value * tensor1 / tensor2) for float inputs. The future addcdiv behavior "
            "is just the latter implementation: (input + value * tensor1 / tensor2), for all "
            "dtypes."
        )

    def formula(i: Any, a: Any, b: Any) -> Tensor:
        return add(i, div(a, b) if value == 1 else div(mul(a, value), b))

    return _in_opmath(dtype, formula, input, tensor1, tensor2)


# --------------------------------------------------------------------------- torch's aliases


def sgn(x: Tensor) -> Tensor:
    """sign of a real tensor (torch.sgn: x / |x| for complex, which PyFlame has not)."""
    return sign(x)


def positive(x: Tensor) -> Tensor:
    """x itself (torch.positive; a bool tensor is PyTorch's error)."""
    _check_tensor(x, "positive")
    if x.dtype is bool_:
        raise RuntimeError(
            f"{format_location(user_location())}: The `+` operator, on a bool tensor is not "
            "supported."
        )
    return x


def fix(x: Tensor) -> Tensor:
    """trunc (torch.fix, its numpy name)."""
    return trunc(x)


def _nan_skipping(name: str, a: Any, b: Any, keep_a: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    dtype = _promoted(a, b)
    if dtype is None:
        raise TypeError(f"{name} needs at least one pf.Tensor operand")
    x, y = (astype(v, dtype) if isinstance(v, Tensor) else full((), v, dtype=dtype) for v in (a, b))
    shape = shapes.broadcast_all(x.shape, y.shape)
    x, y = (v if v.shape == shape else broadcast_to(v, shape) for v in (x, y))
    take_a = keep_a(x, y)
    if dtype.is_floating_point:
        take_a = logical_or(take_a, isnan(y))
    return where(take_a, x, y)


def fmax(a: Any, b: Any) -> Tensor:
    """The larger of a and b, the number where one is NaN (torch.fmax): PyTorch's rule,
    where(a >= b or b is NaN, a, b), so a tie sends the gradient to a, as PyTorch's."""
    return _nan_skipping("fmax", a, b, ge)


def fmin(a: Any, b: Any) -> Tensor:
    """The smaller of a and b, the number where one is NaN (torch.fmin), as fmax."""
    return _nan_skipping("fmin", a, b, le)


def ldexp(x: Any, other: Any) -> Tensor:
    """x * 2 ** other (torch.ldexp: `x * pow(2., other)`), a float result: the power in
    other's dtype (float32 for integers) and rounded there, as PyTorch's, then the product
    in the promoted dtype (a float32 x with a float16 exponent multiplies by a float16
    power)."""
    if isinstance(x, Tensor) and isinstance(other, Tensor):
        _float_dtype("ldexp", x, other)
        return mul(x, exp2(other))  # (exp2 of integers and bool: float32)
    return _opmath("ldexp", lambda a, b: mul(a, exp2(b)), x, other, steps=True)


FrexpResult = collections.namedtuple("frexp", ["mantissa", "exponent"])  # type: ignore[name-match]  # named as torch names it


def frexp(input: Tensor) -> Any:
    """(mantissa, exponent) with input = mantissa * 2 ** exponent, |mantissa| in [0.5, 1)
    (torch.frexp): mantissa in input's dtype, exponent int32; 0, -0.0, inf and NaN are their
    own mantissa with exponent 0, as PyTorch's CPU kernel (std::frexp). Floats only (PyTorch's
    RuntimeError for integers and bool). Computed in float32 (a half input widens exactly):
    e = floor(log2 |x|) + 1, |x| scaled by 2 ** -e in two exact halves (2 ** e alone leaves
    float32 at the ends: 2 ** 128, 2 ** -149), then one step either way where log2 rounded
    across a power of two. PyTorch's gradient: g / 2 ** exponent to input."""
    _check_tensor(input, "frexp")
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            f"{format_location(user_location())}: torch.frexp() only supports floating-point "
            f"dtypes (got {input.dtype!r})"
        )
    x = astype(input, float32) if input.dtype in _HALF else input
    a = abs(x)
    scaled = logical_and(isfinite(x), ne(x, 0.0))
    safe = where(scaled, a, 1.0)
    e = add(floor(log2(safe)), 1.0)
    half_e = floor(mul(e, 0.5))
    m = mul(mul(safe, exp2(neg(half_e))), exp2(sub(half_e, e)))
    up, down = ge(m, 1.0), lt(m, 0.5)
    m = where(up, mul(m, 0.5), where(down, mul(m, 2.0), m))
    e = where(up, add(e, 1.0), where(down, sub(e, 1.0), e))
    mantissa = where(scaled, where(lt(x, 0.0), neg(m), m), x)
    exponent = astype(where(scaled, e, 0.0), int32)
    if mantissa.dtype is not input.dtype:
        mantissa = astype(mantissa, input.dtype)  # (exact: at most 11 significant bits)
    if requires_grad_of((input,)):
        mantissa = _with_rule(mantissa, _frexp_grad, input, exponent)
    return FrexpResult(mantissa, exponent)


def _frexp_grad(node: Tensor, g: Tensor, x: Tensor, exponent: Tensor) -> Sequence[Tensor | None]:
    # PyTorch's `grad / exponent.exp2()`: the power in float32 (inf past 2 ** 127), no
    # gradient to the int32 exponent
    return (div(g, exp2(exponent)), None)


def float_power(input: Any, exponent: Any) -> Tensor:
    """input ** exponent (torch.float_power), tensors or one number, every dtype (integers and
    bool too: 2 ** -1 is 0.5). PyTorch computes and returns float64, which PyFlame does not
    hold (its PEs compute in 32 bits): the power is computed and returned in float32, as
    PyFlame holds PyTorch's int64 as int32 (docs/ops.md: within an ulp or so of PyTorch's
    float64 value rounded to float32; integers beyond 2 ** 24 round on the way in). Gradients
    are `pow`'s."""
    if not isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        raise TypeError(
            f"{format_location(user_location())}: float_power(): one of input and exponent "
            "must be a pf.Tensor (PyTorch's overloads: (Tensor, Tensor), (Tensor, Number), "
            "(Number, Tensor))"
        )
    for v in (input, exponent):
        if not isinstance(v, Tensor) and not _is_scalar(v):
            raise TypeError(
                f"{format_location(user_location())}: float_power: unsupported operand of type "
                f"{type(v).__name__}"
            )
    base, power = (
        astype(v, float32) if isinstance(v, Tensor) else float(v) for v in (input, exponent)
    )
    return pow(base, power)


def rsub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """other - alpha * input (torch.rsub)."""
    return sub(other, input, alpha=alpha)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else weight * x, with one weight or one per channel (dim 1; a 1-D input
    has one channel) (torch.nn.functional.prelu)."""
    _check_tensor(input, "prelu")
    _check_tensor(weight, "prelu weight")
    count = weight.numel()
    if count == 1:
        slope = reshape(weight, ())
    else:
        channels = input.shape[1] if input.ndim >= 2 else 1
        if weight.ndim != 1 or count != channels:
            raise _shape_error(
                "Mismatch of parameter numbers and input "
                f"channel size. Found parameter numbers = {count} and channel size = {channels}."
            )
        slope = reshape(weight, (1, channels, *(1,) * (input.ndim - 2)))
    return where(gt(input, 0), input, mul(slope, input))


#: Euclid's steps that every pair of int32 values finishes within (consecutive Fibonacci
#: numbers below 2**31 need 45)
_EUCLID_STEPS = 46


def gcd(a: Any, b: Any) -> Tensor:
    """The greatest common divisor of integers (torch.gcd; gcd(0, 0) = 0, always >= 0):
    Euclid's algorithm unrolled over the steps any int32 pair needs, each step where the
    divisor is not yet 0 (exact; integer tensors only, as PyTorch)."""
    dtype = _promoted(a, b)
    if dtype is None or dtype.is_floating_point or dtype is bool_:
        raise RuntimeError(
            f'{format_location(user_location())}: "gcd_cpu" not implemented for '
            f"{'a Python number' if dtype is None else repr(dtype)}"
        )
    x, y = (
        abs(v) if isinstance(v, Tensor) else full((), -v if v < 0 else v, dtype=dtype)
        for v in (a, b)
    )
    shape = shapes.broadcast_all(x.shape, y.shape)
    x, y = (v if v.shape == shape else broadcast_to(v, shape) for v in (x, y))
    for _ in range(_EUCLID_STEPS):
        going = ne(y, 0)
        rest = remainder(x, where(going, y, 1))
        x, y = where(going, y, x), where(going, rest, 0)
    return x


def lcm(a: Any, b: Any) -> Tensor:
    """The least common multiple of integers (torch.lcm): |a / gcd(a, b) * b|, 0 when either
    is 0; a result beyond int32 is PyFlame's IntegerOverflowError (PyTorch's int32 wraps)."""
    g = gcd(a, b)
    zero = eq(g, 0)
    return abs(mul(floor_divide(a, where(zero, 1, g)), b))


#: PyTorch's calc_digamma (aten/src/ATen/native/Math.h): psi(10), and the asymptotic series'
#: coefficients (Cephes psi's), highest power first as polevl reads them
_PSI_10 = 2.25175258906672110764
_PSI_SERIES = (
    8.33333333333333333333e-2,
    -2.10927960927960927961e-2,
    7.57575757575757575758e-3,
    -4.16666666666666666667e-3,
    3.96825396825396825397e-3,
    -8.33333333333333333333e-3,
    8.33333333333333333333e-2,
)


def digamma(x: Tensor) -> Tensor:
    """The logarithmic derivative of the gamma function (torch.digamma, torch.special.psi),
    PyTorch's float algorithm step by step: x < 0 by reflection, psi(1 - x) - pi / tan(pi r)
    (r x's fractional part); x pushed to >= 10 by psi(x) = psi(x + 1) - 1 / x (at most 10
    steps, unrolled); then log(x) - 0.5 / x - z P(z), z = 1 / x^2. +-inf at +-0, NaN at
    negative integers. Integers give float32. The gradient is the algorithm's derivative
    (PyTorch's is polygamma(1, x): equal to float32 rounding)."""
    _check_tensor(x, "digamma")

    def formula(a: Tensor) -> Tensor:
        negative = lt(a, 0.0)
        fraction = sub(a, trunc(a))
        reflected = where(negative, sub(1.0, a), a)  # >= 1 where a < 0
        shift = full((), 0.0, dtype=a.dtype)
        z = reflected
        for _ in range(10):  # PyTorch's `while (x < 10) { result -= 1 / x; x += 1; }`
            small = lt(z, 10.0)
            shift = where(small, sub(shift, div(1.0, where(small, z, 1.0))), shift)
            z = where(small, add(z, 1.0), z)
        inv2 = div(1.0, mul(z, z))
        series = full((), _PSI_SERIES[0], dtype=a.dtype)
        for c in _PSI_SERIES[1:]:
            series = add(mul(series, inv2), c)
        y = where(lt(z, 1.0e17), mul(inv2, series), 0.0)
        tail = where(eq(z, 10.0), _PSI_10, sub(sub(log(z), div(0.5, z)), y))
        psi = add(shift, tail)
        reflecting = logical_and(negative, ne(fraction, 0.0))
        # (an unused branch kept finite: its zero gradient times inf would be NaN)
        # tan has period pi: r moved into [-0.5, 0.5] (exactly) keeps pi r small near a pole,
        # where PyTorch's double tan is accurate and a float32 pi r would not be
        r = where(lt(fraction, -0.5), add(fraction, 1.0), fraction)
        pi_over_tan = div(math.pi, tan(mul(where(reflecting, r, 0.25), math.pi)))
        out = where(negative, sub(psi, pi_over_tan), psi)
        out = where(logical_and(negative, eq(fraction, 0.0)), math.nan, out)
        out = where(eq(a, 0.0), where(signbit(a), math.inf, -math.inf), out)
        return _with_rule(out, _digamma_grad, a)

    return _opmath("digamma", formula, x)


def _digamma_grad(node: Tensor, g: Tensor, a: Tensor) -> Sequence[Tensor | None]:
    return (mul(g, _trigamma(a)),)  # PyTorch's: grad * polygamma(1, x)


def _trigamma(a: Tensor) -> Tensor:
    """PyTorch's calc_trigamma: x < 0.5 reflected (-(pi / sin(pi x))^2, x -> 1 - x), six
    steps of 1 / x^2 pushing x up, then the asymptotic series."""
    low = lt(a, 0.5)
    sin_pi_x = sin(mul(where(low, a, 0.25), math.pi))  # (the unused branch kept finite)
    result = where(low, neg(div(math.pi * math.pi, mul(sin_pi_x, sin_pi_x))), 0.0)
    z = where(low, sub(1.0, a), a)
    for _ in range(6):
        result = add(result, div(1.0, mul(z, z)))
        z = add(z, 1.0)
    ixx = div(1.0, mul(z, z))
    series = sub(1.0 / 6, mul(ixx, sub(1.0 / 30, mul(ixx, 1.0 / 42))))
    result = add(result, div(add(add(1.0, div(1.0, mul(z, 2.0))), mul(ixx, series)), z))
    return where(low, neg(result), result)


def polygamma(n: int, x: Tensor) -> Tensor:
    """The n-th derivative of digamma (torch.polygamma): n = 0 is digamma, n = 1 PyTorch's
    trigamma algorithm; n >= 2 needs the Hurwitz zeta function, which PyFlame does not compute
    (a NotImplementedError)."""
    _check_tensor(x, "polygamma")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise RuntimeError(
            f"{format_location(user_location())}: polygamma(n, x) does not support negative n."
        )
    if n == 0:
        return digamma(x)
    if n > 1:
        raise NotImplementedError(
            f"{format_location(user_location())}: polygamma(n, x) for n >= 2 needs the Hurwitz "
            "zeta function, which PyFlame does not compute"
        )
    return _opmath("polygamma", _trigamma, x)


#: lgamma(1 + e) = -euler e + sum_k (-1)^k zeta(k) / k e^k (|e| <= 0.5): the coefficients
#: of e^1 .. e^30 (computed once with mpmath at 30 digits)
_LGAMMA1P_SERIES = (
    -0.5772156649015329,
    0.8224670334241132,
    -0.40068563438653143,
    0.27058080842778454,
    -0.20738555102867398,
    0.1695571769974082,
    -0.1440498967688461,
    0.12550966952474304,
    -0.11133426586956469,
    0.1000994575127818,
    -0.09095401714582904,
    0.083353840546109,
    -0.0769325164113522,
    0.07143294629536133,
    -0.06666870588242046,
    0.06250095514121304,
    -0.058823978658684585,
    0.055555767627403614,
    -0.05263167937961666,
    0.05000004769810169,
    -0.047619070330142226,
    0.04545455629320467,
    -0.04347826605304026,
    0.04166666915034121,
    -0.04000000119214014,
    0.03846153903467518,
    -0.037037037312989324,
    0.035714285847333355,
    -0.034482758684919304,
    0.03333333336437758,
)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _lgamma_positive(z: Tensor) -> Tensor:
    """lgamma of z > 0 with relative accuracy near its zeros at 1 and 2: z in [2.5, 10)
    brought down to [1.5, 2.5) (lgamma(z) = lgamma(z - 1) + log(z - 1), exact steps); below
    2.5 the series of lgamma(1 + e) around 1 or 2 (lgamma(2 + e) = lgamma(1 + e) +
    log1p(e); below 0.5, lgamma(1 + z) - log(z)); from 10 Stirling's series."""
    logs = full((), 0.0, dtype=z.dtype)
    w = z
    for _ in range(8):
        down = logical_and(ge(w, 2.5), lt(w, 10.0))
        logs = where(down, add(logs, log(where(down, sub(w, 1.0), 1.0))), logs)
        w = where(down, sub(w, 1.0), w)
    e = where(lt(w, 0.5), w, where(lt(w, 1.5), sub(w, 1.0), sub(w, 2.0)))
    series = full((), _LGAMMA1P_SERIES[-1], dtype=z.dtype)
    for c in reversed(_LGAMMA1P_SERIES[:-1]):
        series = add(mul(series, e), c)
    series = mul(series, e)
    small = where(
        lt(w, 0.5),
        sub(series, log(where(lt(w, 0.5), w, 1.0))),
        where(lt(w, 1.5), series, add(series, log1p(e))),
    )
    big_z = where(ge(w, 10.0), w, 10.0)
    inv = div(1.0, big_z)
    inv2 = mul(inv, inv)
    correction = mul(
        inv,
        sub(1.0 / 12, mul(inv2, sub(1.0 / 360, mul(inv2, sub(1.0 / 1260, mul(inv2, 1.0 / 1680)))))),
    )
    stirling = add(add(sub(mul(sub(big_z, 0.5), log(big_z)), big_z), _HALF_LOG_2PI), correction)
    return add(where(ge(w, 10.0), stirling, small), logs)


def lgamma(x: Tensor) -> Tensor:
    """log |gamma(x)| (torch.lgamma, torch.special.gammaln): for x > 0 `_lgamma_positive`
    (relative accuracy near the zeros at 1 and 2, as PyTorch's libm); for x < 0 the
    reflection log(pi / |sin(pi x)|) - lgamma(1 - x), sin taken of x's distance to the
    nearest integer; inf at 0, the negative integers and +-inf, NaN at NaN. Integers give
    float32. Gradient: PyTorch's, grad * digamma(x)."""
    _check_tensor(x, "lgamma")

    def formula(a: Tensor) -> Tensor:
        negative = lt(a, 0.0)
        whole = eq(a, trunc(a))
        pole = logical_or(logical_and(negative, whole), eq(a, 0.0))
        finite = isfinite(a)
        safe = where(logical_and(finite, logical_not(pole)), a, 1.5)
        positive = _lgamma_positive(where(lt(safe, 0.0), sub(1.0, safe), safe))
        r = sub(safe, round(safe))  # in [-0.5, 0.5]: sin(pi r) keeps its accuracy near integers
        sin_term = log(div(math.pi, abs(sin(mul(where(negative, r, 0.25), math.pi)))))
        out = where(lt(safe, 0.0), sub(sin_term, positive), positive)
        out = where(pole, math.inf, out)
        out = where(isinf(a), math.inf, out)
        out = where(isnan(a), math.nan, out)
        return _with_rule(out, _lgamma_grad, a)

    return _opmath("lgamma", formula, x)


def _lgamma_grad(node: Tensor, g: Tensor, a: Tensor) -> Sequence[Tensor | None]:
    return (mul(g, digamma(a)),)


#: erfcx(x) = exp(x^2) erfc(x) as Chebyshev series (fitted once with numpy to mpmath's values
#: at 40 digits; relative error below 1e-9 in float64): on x in [0.5, 2.5], and x erfcx(x) in
#: u = 1 / x on [0, 0.4] (x >= 2.5)
_ERFCX_NEAR = (
    0.3653340484264041,
    -0.19193849097078516,
    0.045756257522956874,
    -0.0100843252306878,
    0.002080569540687821,
    -0.00040547563985092173,
    7.515242494393251e-05,
    -1.3317484946314623e-05,
    2.265976646933937e-06,
    -3.7150571048467455e-07,
    5.8860885066726714e-08,
    -9.034870876578185e-09,
    1.346426087155794e-09,
)
_ERFCX_FAR = (
    0.5495480779807946,
    -0.018976192136099346,
    -0.00396076917174238,
    0.000396627744380747,
    1.4914259538250803e-05,
    -7.358281161543802e-06,
    5.478078540888854e-07,
    8.462658419457862e-08,
    -2.4489943039018184e-08,
    1.4692590012678026e-09,
)


def _chebyshev(t: Tensor, coefficients: Sequence[float]) -> Tensor:
    """sum c_k T_k(t) for t in [-1, 1] by Clenshaw's recurrence."""
    b1 = full((), 0.0, dtype=t.dtype)
    b2 = b1
    for c in reversed(coefficients[1:]):
        b1, b2 = add(sub(mul(mul(t, 2.0), b1), b2), c), b1
    return add(sub(mul(t, b1), b2), coefficients[0])


def erfc(x: Tensor) -> Tensor:
    """1 - erf(x) without its cancellation (torch.erfc, torch.special.erfc): below 0.5 that
    difference (no cancellation there); above, exp(-x^2) erfcx(x), erfcx from Chebyshev
    series fitted to 1e-9 and exp(-x^2) as exp(-h^2) exp(-(x - h)(x + h)) with h x cut to 8
    fraction bits (h^2 exact), so the tail keeps its relative accuracy down to the float32
    underflow. Gradient PyTorch's: -2 / sqrt(pi) exp(-x^2)."""
    _check_tensor(x, "erfc")

    def formula(x: Tensor) -> Tensor:
        a = minimum(x, 11.0)  # (erfc underflows to 0 from 10.06; inf kept out of h below)
        near = lt(a, 2.5)
        head = trunc(mul(a, 256.0))
        h = div(head, 256.0)
        gauss = mul(exp(neg(mul(h, h))), exp(neg(mul(sub(a, h), add(a, h)))))
        z = where(near, a, 2.5)
        inner = _chebyshev(sub(z, 1.5), _ERFCX_NEAR)  # t = (2x - 3) / 2 on [0.5, 2.5]
        u = div(1.0, where(near, 2.5, a))
        outer = div(_chebyshev(sub(mul(u, 5.0), 1.0), _ERFCX_FAR), where(near, 2.5, a))
        tail = mul(gauss, where(near, inner, outer))
        out = where(lt(a, 0.5), sub(1.0, erf(a)), tail)
        return _with_rule(out, _erfc_grad, x)

    return _opmath("erfc", formula, x)


def _erfc_grad(node: Tensor, g: Tensor, a: Tensor) -> Sequence[Tensor | None]:
    return (mul(g, mul(exp(neg(mul(a, a))), -2.0 / math.sqrt(math.pi))),)


def ndtr(x: Tensor) -> Tensor:
    """The standard normal CDF (torch.special.ndtr), as PyTorch's calc_ndtr: with t = x /
    sqrt(2), 0.5 + 0.5 erf(t) where |t| < 1 / sqrt(2), else 0.5 erfc(|t|), taken from 1 for
    t > 0 (the lower tail keeps its relative accuracy)."""
    _check_tensor(x, "ndtr")

    def formula(a: Tensor) -> Tensor:
        t = mul(a, math.sqrt(0.5))
        z = abs(t)
        tail = mul(erfc(z), 0.5)
        return where(
            lt(z, math.sqrt(0.5)),
            add(mul(erf(t), 0.5), 0.5),
            where(gt(t, 0.0), sub(1.0, tail), tail),
        )

    return _opmath("ndtr", formula, x)


#: exp(-|x|) I0(x), exp(-|x|) I1(x) / x on [0, 8] and sqrt(x) exp(-x) I0(x), I1(x) in u = 1 / x on
#: [0, 1/8] as Chebyshev series (fitted once with numpy to mpmath's values at 40 digits: relative
#: error below 4e-9)
_I0E_NEAR = (
    0.3383976372047382,
    -0.30468267234319835,
    0.17162090152220874,
    -0.09490109704804754,
    0.049305284239670726,
    -0.023737414805899457,
    0.010546460394594986,
    -0.004324309995050588,
    0.0016394756169413555,
    -0.000576375574538648,
    0.00018850288509584225,
    -5.7541950100812386e-05,
    1.6448448070838563e-05,
    -4.41673835837175e-06,
    1.1173875390899633e-06,
    -2.6707938540228784e-07,
    6.046995015468886e-08,
    -1.3000250053375486e-08,
    2.659823735602202e-09,
)
_I1E_OVER_X_NEAR = (
    0.12629359322181682,
    -0.17641651835783415,
    0.1026436586898471,
    -0.052945981208094954,
    0.02472644903062651,
    -0.01056408489462621,
    0.004156422944312894,
    -0.0015135724506312482,
    0.000512285956168607,
    -0.0001617608158259307,
    4.7815651075491963e-05,
    -1.3273163656057164e-05,
    3.4702513081837155e-06,
    -8.568720264402146e-07,
    2.0032947531012576e-07,
    -4.4450591310767095e-08,
    9.38153730706538e-09,
    -1.8872496998805526e-09,
    3.625590509669928e-10,
)
_I0E_FAR = (
    0.40224520550705467,
    0.0033691164782557225,
    6.889758346919852e-05,
    2.8913705208640953e-06,
    2.0489185897720854e-07,
    2.2666689933022472e-08,
    3.3962320555816065e-09,
    4.940602667363692e-10,
    1.1889175181576525e-11,
)
_I1E_FAR = (
    0.3892881175091401,
    -0.00976109749136146,
    -0.00011058893876262001,
    -3.882564808876447e-06,
    -2.512236237858505e-07,
    -2.631468846191099e-08,
    -3.835380386902968e-09,
    -5.58974338818086e-10,
    -1.8974956330345177e-11,
)


def _scaled_bessel(a: Tensor, order: int) -> Tensor:
    """exp(-|x|) I_order(x) (order 0 or 1) from the series above."""
    z = abs(a)
    near = le(z, 8.0)
    t_near = sub(div(where(near, z, 8.0), 4.0), 1.0)
    far_z = where(near, 8.0, z)
    t_far = sub(div(16.0, far_z), 1.0)
    scale = rsqrt(far_z)
    if order == 0:
        inside = _chebyshev(t_near, _I0E_NEAR)
        outside = mul(_chebyshev(t_far, _I0E_FAR), scale)
        return where(near, inside, outside)
    inside = mul(_chebyshev(t_near, _I1E_OVER_X_NEAR), a)
    outside = mul(mul(_chebyshev(t_far, _I1E_FAR), scale), sign(a))
    return where(near, inside, outside)


def _bessel(name: str, x: Tensor, order: int, scaled: bool) -> Tensor:
    _check_tensor(x, name)

    def formula(a: Tensor) -> Tensor:
        safe = where(isinf(a), 0.0, a)  # (inf: the limit below, not inf * 0)
        out = _scaled_bessel(safe, order)
        if not scaled:
            out = mul(out, exp(abs(safe)))
        # +-inf: PyTorch's algorithms give NaN for i0 and i1 (exp(inf) times 0), 0 scaled
        out = where(isinf(a), 0.0 if scaled else math.nan, out)
        return _with_rule(out, _bessel_grad(order, scaled), a)

    return _opmath(name, formula, x)


def _bessel_grad(order: int, scaled: bool) -> Callable[..., Sequence[Tensor | None]]:
    """PyTorch's formulas: i0' = i1; i0e' = i1e - sgn(x) i0e; i1' = i0 - i1 / x (1/2 at 0);
    i1e' = i0e - i1e (sgn(x) + 1 / x) (1/2 at 0)."""

    def rule(node: Tensor, g: Tensor, a: Tensor) -> Sequence[Tensor | None]:
        e0, e1 = _scaled_bessel(a, 0), _scaled_bessel(a, 1)
        if order == 0:
            d = sub(e1, mul(sign(a), e0)) if scaled else mul(e1, exp(abs(a)))
            return (mul(g, d),)
        zero = eq(a, 0.0)
        over_x = div(e1, where(zero, 1.0, a))
        d = sub(e0, mul(e1, sign(a))) if scaled else e0
        d = sub(d, over_x) if scaled else mul(sub(d, over_x), exp(abs(a)))
        return (mul(g, where(zero, 0.5, d)),)

    return rule


def i0(x: Tensor) -> Tensor:
    """The modified Bessel function of the first kind, order 0 (torch.i0, torch.special.i0):
    exp(|x|) times Chebyshev series of exp(-|x|) I0(x) (to 8, then in 1 / x), fitted to
    mpmath: within 1e-6 of PyTorch's (NaN at +-inf, as PyTorch's). Gradient PyTorch's,
    i1(x)."""
    return _bessel("i0", x, 0, scaled=False)


def i0e(x: Tensor) -> Tensor:
    """exp(-|x|) I0(x) (torch.special.i0e), as i0 without the exp."""
    return _bessel("i0e", x, 0, scaled=True)


def i1(x: Tensor) -> Tensor:
    """The modified Bessel function of the first kind, order 1 (torch.special.i1), as i0."""
    return _bessel("i1", x, 1, scaled=False)


def i1e(x: Tensor) -> Tensor:
    """exp(-|x|) I1(x) (torch.special.i1e)."""
    return _bessel("i1e", x, 1, scaled=True)
