"""Every elementwise function, in one table: its name, arity, operand kind, result kind, its
numpy meaning and its cost. The flame, mesh and pe dialects, the lowerings, the simulator and
the frontend all read this table, so adding an elementwise op is one entry here (plus its
gradient rule, later).

The numpy functions compute in the operands' dtype, except that float16/bfloat16 operands are
computed in float32 and rounded once, as PyTorch does on the CPU. numpy is imported when a
function first runs, not with the table: the dialects and pyflame-opt read the table without it
(numpy was a quarter of pyflame-opt's start-up, paid by every lit RUN line).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from xdsl.ir import Attribute
from xdsl.utils.str_enum import StrEnum

_SQRT_HALF = 1.0 / math.sqrt(2.0)


def numpy_function(name: str) -> Callable[..., Any]:
    """numpy's function `name` (`numpy_function("add")(a, b)`; a dotted name reaches an
    attribute: `numpy_function("add.reduce")`, np.sum's own reduction without its ~2 us
    wrapper), looked up at the first call (numpy imported then) and kept: every elementwise
    and reduce step calls it."""

    found: list[Callable[..., Any]] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        if not found:
            import numpy

            fn: Any = numpy
            for part in name.split("."):
                fn = getattr(fn, part)
            found.append(fn)
        return found[0](*args, **kwargs)

    call.__name__ = call.__qualname__ = f"numpy.{name}"
    return call


def _erf(x: np.ndarray) -> np.ndarray:
    """erf in float64, to about 1e-13 relative (float32 results correctly rounded but for ties
    closer than that), numpy only (no scipy needed): the Maclaurin series
    2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)) for |x| < 2 (30 terms; the largest term is
    below e^4, so at most 2 digits of float64 cancel), and 1 - erfc(|x|) beyond, erfc from its
    continued fraction exp(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...))))
    (30 levels, evaluated from the tail), with erf's sign. The former Abramowitz & Stegun 7.1.26
    (1.5e-7 absolute) was 2.3 float32 ulps off near 1 and 9% off at 1e-8."""
    import numpy as np

    x64 = np.asarray(x, dtype=np.float64)
    a = np.abs(x64)
    out = np.empty_like(a)
    small = a < 2.0
    s = a[small]
    s2, total = s * s, np.zeros_like(s)
    for c in _ERF_SERIES:  # Horner's rule in x^2, highest power first
        total = total * s2 + c
    out[small] = total * s
    b = a[~small]  # NaN too: it stays NaN
    tail = np.zeros_like(b)
    with np.errstate(invalid="ignore"):  # inf / inf at x = inf: its erfc is 0 whatever
        for k in range(_ERF_TERMS, 0, -1):
            tail = (k / 2) / (b + tail)
        erfc = np.exp(-b * b) * _ONE_OVER_SQRT_PI / (b + tail)
    out[~small] = 1.0 - np.where(np.isinf(b), 0.0, erfc)
    return np.copysign(out, x64)


_ERF_TERMS = 30
_ONE_OVER_SQRT_PI = 1.0 / math.sqrt(math.pi)
#: 2/sqrt(pi) (-1)^n / (n! (2n + 1)), n = 29 .. 0: erf's Maclaurin coefficients in x^2
_ERF_SERIES = tuple(
    2.0 * _ONE_OVER_SQRT_PI * (-1) ** n / (math.factorial(n) * (2 * n + 1))
    for n in reversed(range(_ERF_TERMS))
)


def _erf_same(x: np.ndarray) -> np.ndarray:
    """erf in the operand's dtype."""
    return _erf(x).astype(x.dtype, copy=False)


def _power(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a ** b; integers to negative integer powers as PyTorch: 1 ** n is 1, (-1) ** n is 1 or
    -1 by n's parity, anything else 0 (numpy raises a ValueError there)."""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind not in "iub" or b.dtype.kind not in "iub":
        return np.power(a, b)
    negative = b < 0
    if not negative.any():
        return np.power(a, b)
    out = np.power(a, np.where(negative, 0, b))
    odd = (b % 2).astype(bool)
    small = np.where(a == 1, 1, np.where(a == -1, np.where(odd, -1, 1), 0)).astype(out.dtype)
    return np.where(negative, small, out)


def _nonzero_divisor(b: np.ndarray) -> np.ndarray:
    """An integer divisor with its zeros made 1: the simulator refuses an integer division by
    zero before it computes (IntegerDivisionByZeroError), so a 0 here is in a padding lane
    or a lane whose result nobody reads, and numpy's warning would be noise."""
    import numpy as np

    return np.where(b == 0, np.ones((), b.dtype), b)


def _floor_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a // b rounded toward -inf, as PyTorch. Integers: Python's floor division. Floats:
    c10's `div_floor_floating`, computed in the operands' dtype step by step (a float16 or
    bfloat16 operand rounds after each step, as PyTorch's CPU kernel does, which one final
    rounding of the float32 result does not reproduce):

        b == 0: a / b (inf, -inf, NaN); else mod = fmod(a, b); div = (a - mod) / b,
        minus 1 when mod != 0 and mod's sign differs from b's; floor(div), plus 1 when
        div - floor(div) > 0.5; a zero quotient takes the sign of a / b."""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "iub":
        return np.floor_divide(a, _nonzero_divisor(b))
    dtype = a.dtype
    one, half = np.ones((), dtype), np.array(0.5, dtype)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mod = np.fmod(a, b)
        div = ((a - mod) / b).astype(dtype, copy=False)
        div = np.where((mod != 0) & ((b < 0) != (mod < 0)), div - one, div).astype(dtype)
        floor = np.floor(div)
        floor = np.where(div - floor > half, floor + one, floor).astype(dtype)
        quotient = (a / b).astype(dtype, copy=False)
        out = np.where(div != 0, floor, np.copysign(np.zeros((), dtype), quotient))
        return np.where(b == 0, quotient, out).astype(dtype, copy=False)


def _remainder(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a mod b with the sign of b, as PyTorch: fmod(a, b), plus b when that is nonzero and
    its sign differs from b's. Integers: Python's %. (A zero keeps fmod's sign, the
    dividend's: numpy's remainder gives it b's sign instead.)"""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "iub":
        return np.remainder(a, _nonzero_divisor(b))
    with np.errstate(invalid="ignore"):
        mod = np.fmod(a, b)
        return np.where((mod != 0) & ((b < 0) != (mod < 0)), mod + b, mod).astype(a.dtype)


def _fmod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C's fmod: a - trunc(a / b) * b computed exactly, the sign of a. (PyTorch's vectorized
    float kernel gives NaN instead where |a / b| is beyond float32's range, for the elements
    its SIMD loop takes; its scalar loop, and this, give the exact remainder.)"""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "iub":
        return np.fmod(a, _nonzero_divisor(b))
    with np.errstate(invalid="ignore"):
        return np.fmod(a, b)


#: PyTorch's shift counts are taken modulo nothing: a count outside [0, 64) (int64's width,
#: the integers PyFlame's int32 stands for) shifts everything out
SHIFT_BITS = 64


def _left_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a << b as PyTorch's int64: 0 for a count below 0 or from 64 on. (The simulator
    computes int32 operands in int64 and refuses a result beyond int32, checked first in
    float64, as for pow.)"""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    out = (b < 0) | (b >= SHIFT_BITS)
    shifted = np.left_shift(a, np.where(out, 0, b).astype(a.dtype))
    return np.where(out, np.zeros((), a.dtype), shifted)


def _right_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a >> b (arithmetic) as PyTorch's int64: a count below 0 or from 64 on gives a >> 63
    (0 or -1, the sign)."""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    out = (b < 0) | (b >= SHIFT_BITS)
    count = np.where(out, min(SHIFT_BITS, 8 * a.dtype.itemsize) - 1, b)
    return np.right_shift(a, count.astype(a.dtype))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    import numpy as np

    # exp of a non-positive number only: no overflow warnings for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * _SQRT_HALF))


#: results of at most this many elements are written in numpy's own loop order (`ufunc_into`)
UFUNC_INTO_DIRECT = 1024


def ufunc_into(ufunc: Any, out: np.ndarray, *args: Any) -> np.ndarray:
    """ufunc(*args, out=out), its loops in `out`'s memory order. numpy's ufunc loops follow
    the operands' axis order when their layouts disagree: adding a C-ordered product into the
    simulator's lane-major tiles (each lane one plane) ran its inner loop across planes, 7-8x
    slower than with the axes put in `out`'s order first (the 4096^2 GEMV's accumulate: 1.8
    -> 0.22 ms). Elementwise, so the same numbers whatever the order."""
    import numpy as np

    if out.size <= UFUNC_INTO_DIRECT:  # (a few lanes of one PE column: the order's test costs
        return ufunc(*args, out=out)  # more than any loop order; the same numbers either way)
    # full-size operands laid out otherwise than out (a quick test first: this is every
    # fused step's and combining receive's call)
    other = [
        a
        for a in args
        if isinstance(a, np.ndarray) and a.shape == out.shape and a.strides != out.strides
    ]
    order = _memory_order(out) if other else []
    if not other or all(_memory_order(a) == order for a in other):
        return ufunc(*args, out=out)  # the layouts agree: numpy's own loop
    moved = [
        (a if a.ndim == out.ndim else np.broadcast_to(a, out.shape)).transpose(order)
        if isinstance(a, np.ndarray)
        else a
        for a in args
    ]
    ufunc(*moved, out=out.transpose(order))
    return out


def _memory_order(a: np.ndarray) -> list[int]:
    """`a`'s axes from the largest stride to the smallest (axes of one element left in place)."""
    return sorted(range(a.ndim), key=lambda k: -abs(a.strides[k]) if a.shape[k] > 1 else 0)


#: fewer elements than this: np.where's one call beats the bit select's several
WHERE_MIN_SIZE = 1024


def where(cond: Any, x: Any, y: Any) -> np.ndarray:
    """np.where(cond, x, y) bit for bit when x and y are numpy arrays of one dtype: the items'
    bits selected as y ^ ((x ^ y) & mask), mask all ones where cond holds, in unsigned
    integers as wide as an item, over contiguous copies. np.where branches on each element
    (about 5 ns an element when the condition is random, as relu's is on activations) and
    moves one item per call on strided views (the simulator's tiles); the copies and bit
    operations run whole arrays at a time (a relu of 4 lanes on 64x64 PEs: 139 -> 118 us CPU
    time in the MLP step). On a regular condition (a one-hot mask) np.where's branches predict
    well and it is the faster (126 us against 155 for pe.select's 10 lanes): conditions read
    from bool buffers keep np.where (pe.select, a fused select of an input)."""
    import numpy as np

    if type(x) is not np.ndarray or type(y) is not np.ndarray or x.dtype != y.dtype:
        return np.where(cond, x, y)
    cond = np.asarray(cond)
    if cond.dtype != np.bool_:
        cond = cond.astype(np.bool_)  # (numpy's truth: nonzero, NaN true)
    shape = np.broadcast_shapes(cond.shape, x.shape, y.shape)
    if x.dtype.kind not in "fiubV" or x.dtype.itemsize not in _UNSIGNED:
        return np.where(cond, x, y)
    if math.prod(shape) < WHERE_MIN_SIZE:
        return np.where(cond, x, y)
    bits = _UNSIGNED[x.dtype.itemsize]
    # laid out as a full-size operand (numpy's empty_like keeps its axes' order: the
    # simulator's lane-major tiles stay one pass per lane plane)
    like = next((a for a in (x, y, cond) if a.shape == shape), None)
    out = np.empty(shape, x.dtype) if like is None else np.empty_like(like, x.dtype)
    zero = _zero_side(x, y, bits)
    if zero is not None:  # relu, its gradient, masking: the kept side's bits times 0 or 1
        kept = y if zero == 0 else x
        keep = np.logical_not(cond) if zero == 0 else cond
        np.multiply(np.broadcast_to(kept, shape).view(bits), keep, out=out.view(bits))
        return out
    np.copyto(out, x)
    other = np.empty_like(out)
    np.copyto(other, y)
    mask = np.empty_like(out, bits)
    np.copyto(mask, cond, casting="unsafe")  # 0 or 1 (a nonzero item of cond is true)
    np.subtract(0, mask, out=mask)  # 0 or all ones (not np.negative: `on_contiguous`)
    o, b = out.view(bits), other.view(bits)
    np.bitwise_xor(o, b, out=o)
    np.bitwise_and(o, mask, out=o)
    np.bitwise_xor(o, b, out=o)
    return out


_UNSIGNED = {1: "uint8", 2: "uint16", 4: "uint32", 8: "uint64"}


def _zero_side(x: np.ndarray, y: np.ndarray, bits: str) -> int | None:
    """Which operand of `where` is one item of all-zero bits (+0.0, integer 0), 0 for x, 1 for
    y, when the other is not: the result is then the other one's bits times the condition (or
    its negation) as 0 or 1, three passes instead of the bit select's eight (a relu of 4 lanes
    on 64x64 PEs: 69 -> ~25 us)."""
    for side, (a, other) in enumerate(((x, y), (y, x))):
        if a.size == 1 and other.size > 1 and not a.view(bits).any():
            return side
    return None


def _relu(x: np.ndarray) -> np.ndarray:
    """0 where x < 0, else x: -0.0 and NaN stay, as PyTorch's relu (np.maximum(-0.0, 0.0) is
    +0.0)."""
    import numpy as np

    return where(x < 0, np.zeros((), x.dtype), x)


def _maximum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """b where a < b (or b is NaN), else a: on a tie (-0.0 and 0.0) the first operand, as
    PyTorch's scalar kernel and clamp(x, min=0) (np.maximum gives the second); NaN from either."""

    return where((a < b) | (b != b), b, a)


def _minimum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """b where a > b (or b is NaN), else a (ties: the first operand, as `_maximum`)."""

    return where((a > b) | (b != b), b, a)


def _rsqrt(x: np.ndarray) -> np.ndarray:
    import numpy as np

    return 1 / np.sqrt(x)


def _integer_or(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """numpy's `name` on floats; integers unchanged (numpy's floor/round of an int32 array is a
    float64 array; PyTorch's keeps the integers)."""

    def call(x: np.ndarray) -> np.ndarray:
        import numpy as np

        return x if x.dtype.kind in "iub" else getattr(np, name)(x)

    call.__name__ = call.__qualname__ = f"numpy.{name}"
    return call


def _sign(x: np.ndarray) -> np.ndarray:
    import numpy as np

    # PyTorch's sign(NaN) is 0 (numpy's is NaN)
    return where(x != x, np.zeros((), x.dtype), np.sign(x))


def _signbit(x: np.ndarray) -> np.ndarray:
    """1 where the sign bit is set (-0.0 and a negative NaN too; integers: x < 0), else 0, in
    x's dtype (pf.signbit compares it with 0: a unary op keeps its operand's type). On a
    contiguous copy of a strided x (`on_contiguous`)."""
    import numpy as np

    return np.signbit(on_contiguous(x)).astype(x.dtype)


def _negative(x: np.ndarray) -> np.ndarray:
    """-x, on a contiguous copy of a strided x (`on_contiguous`)."""
    import numpy as np

    return np.negative(on_contiguous(x))


def on_contiguous(x: Any) -> Any:
    """`x` as a C-contiguous array, for numpy's ufuncs whose SIMD loops give wrong values on
    strided operands: on this project's machines (AVX-512), numpy 2.3 and 2.4 `negative`
    (input and output strided: 16 bytes apart for float32/int32, 64 for float64/int64, in
    place or not) and `isnan` / `isinf` / `isfinite` / `signbit` (a strided output: all
    False). Found in session 27 as a fused `abs; neg` written into a lane-major SRAM view
    (logaddexp's gradient: silently wrong). tests/unit/test_elementwise.py checks the ops
    that call them on strided views of every kind; binary ufuncs and the other unary ones
    are checked there too and are right."""
    import numpy as np

    return np.ascontiguousarray(x) if isinstance(x, np.ndarray) else x


def _nextafter(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The next value of a's dtype after a toward b (b where they are equal, NaN from either),
    in the operands' own dtype: float16/bfloat16 step their own bits (numpy has no bfloat16
    nextafter, and a float32 step rounds back to a)."""
    import numpy as np

    if a.dtype.itemsize != 2:
        return np.nextafter(a, b)
    bits = a.view(np.uint16).astype(np.int32)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    away = (b32 > a32) == (a32 > 0)  # (a nonzero: away from 0 is one bit up)
    stepped = np.where(away, bits + 1, bits - 1)
    tiny = np.where(b32 < 0, 0x8001, 0x0001)  # from a zero: the least subnormal, b's sign
    out = np.where(a32 == 0, tiny, stepped).astype(np.uint16).view(a.dtype)
    out = np.where(a32 == b32, b, out)
    return np.where(np.isnan(a32) | np.isnan(b32), np.array(np.nan, a.dtype), out).astype(a.dtype)


#: Giles' single-precision starting point for erfinv ("Approximating the erfinv function",
#: GPU Computing Gems, 2011), highest power first: for w = -log(1 - x^2) < 5 (in w - 2.5)
#: and beyond (in sqrt(w) - 3)
_ERFINV_CENTRAL = (
    2.81022636e-08,
    3.43273939e-07,
    -3.5233877e-06,
    -4.39150654e-06,
    0.00021858087,
    -0.00125372503,
    -0.00417768164,
    0.246640727,
    1.50140941,
)
_ERFINV_TAIL = (
    -0.000200214257,
    0.000100950558,
    0.00134934322,
    -0.00367342844,
    0.00573950773,
    -0.0076224613,
    0.00943887047,
    1.00167406,
    2.83297682,
)


def _erfinv(x: np.ndarray) -> np.ndarray:
    """The inverse of erf, in float64 and rounded to x's dtype once: Giles' approximation
    (about 1e-7 relative), then three Newton steps on float64 `_erf` (about 1e-13), so a
    float32 result is correctly rounded but for near-ties; +-inf at +-1, NaN beyond."""
    import numpy as np

    y = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = -np.log((1.0 - y) * (1.0 + y))
        central, tail = w - 2.5, np.sqrt(w) - 3.0
        p_c, p_t = np.zeros_like(y), np.zeros_like(y)
        for c in _ERFINV_CENTRAL:
            p_c = p_c * central + c
        for c in _ERFINV_TAIL:
            p_t = p_t * tail + c
        out = np.where(w < 5.0, p_c, p_t) * y
        inner = np.abs(y) < 1.0
        for _ in range(3):  # Newton on erf(out) = y, where the slope is not 0
            slope = 2.0 * _ONE_OVER_SQRT_PI * np.exp(-out * out)
            step = np.where(inner & (slope > 0), (_erf(out) - y) / slope, 0.0)
            out = out - step
        out = np.where(np.abs(y) == 1.0, np.copysign(np.inf, y), out)
        out = np.where(np.abs(y) > 1.0, np.nan, out)
    return out.astype(x.dtype, copy=False)


@dataclass(frozen=True)
class Elementwise:
    """One elementwise function."""

    name: str
    arity: int
    fn: Callable[..., np.ndarray]
    #: operands: "number" (float or int), "float" (integers and bool promote to float32),
    #: "floating" (floats only: PyTorch has no integer kernel), "bool", "int" (int32 only), "any"
    operands: str = "number"
    #: result: "same" (the operands' dtype), "bool"
    result: str = "same"
    #: floating-point operations per element (for the cost model)
    flops: int = 1
    doc: str = ""
    #: float16/bfloat16 operands reach `fn` as they are (it rounds after each step, as
    #: PyTorch's kernel does) instead of in float32 with the result rounded once
    half_steps: bool = False
    #: an integer division (the simulator refuses a zero divisor of an int32 operand)
    divides: bool = False


def _entries(*items: Elementwise) -> dict[str, Elementwise]:
    return {e.name: e for e in items}


UNARY = _entries(
    Elementwise("neg", 1, _negative, doc="-x"),
    Elementwise("abs", 1, numpy_function("abs"), doc="|x|"),
    Elementwise("relu", 1, _relu, doc="max(x, 0)"),
    Elementwise("exp", 1, numpy_function("exp"), "float", flops=8),
    Elementwise("log", 1, numpy_function("log"), "float", flops=8),
    Elementwise("sqrt", 1, numpy_function("sqrt"), "float", flops=4),
    Elementwise("rsqrt", 1, _rsqrt, "float", flops=5, doc="1 / sqrt(x)"),
    Elementwise("tanh", 1, numpy_function("tanh"), "float", flops=10),
    Elementwise("sigmoid", 1, _sigmoid, "float", flops=10, doc="1 / (1 + exp(-x))"),
    Elementwise("gelu", 1, _gelu, "floating", flops=16, doc="x * Phi(x) (exact, erf)"),
    Elementwise("silu", 1, lambda x: x * _sigmoid(x), "floating", flops=11, doc="x * sigmoid(x)"),
    Elementwise("logical_not", 1, numpy_function("logical_not"), "bool", "bool", doc="~x on bool"),
    Elementwise("sin", 1, numpy_function("sin"), "float", flops=10),
    Elementwise("cos", 1, numpy_function("cos"), "float", flops=10),
    Elementwise("erf", 1, _erf_same, "float", flops=14, doc="the error function"),
    Elementwise("floor", 1, _integer_or("floor"), doc="round down (integers unchanged)"),
    Elementwise(
        "round", 1, _integer_or("round"), flops=2, doc="round half to even (integers unchanged)"
    ),
    Elementwise("sign", 1, _sign, flops=2, doc="-1, 0 or 1 (0 at NaN, as PyTorch)"),
    Elementwise("log1p", 1, numpy_function("log1p"), "float", flops=9, doc="log(1 + x)"),
    Elementwise("expm1", 1, numpy_function("expm1"), "float", flops=9, doc="exp(x) - 1"),
    Elementwise("trunc", 1, _integer_or("trunc"), doc="round toward 0 (integers unchanged)"),
    Elementwise("bitwise_not", 1, numpy_function("invert"), "int", doc="~x on integers"),
    Elementwise("signbit", 1, _signbit, doc="1 where the sign bit is set (-0.0 too), else 0"),
    Elementwise("exp2", 1, numpy_function("exp2"), "float", flops=8, doc="2 ** x"),
    Elementwise("log2", 1, numpy_function("log2"), "float", flops=8, doc="log base 2"),
    Elementwise("log10", 1, numpy_function("log10"), "float", flops=9, doc="log base 10"),
    Elementwise("tan", 1, numpy_function("tan"), "float", flops=12),
    Elementwise("asin", 1, numpy_function("arcsin"), "float", flops=12, doc="arcsine"),
    Elementwise("acos", 1, numpy_function("arccos"), "float", flops=12, doc="arccosine"),
    Elementwise("atan", 1, numpy_function("arctan"), "float", flops=12, doc="arctangent"),
    Elementwise("sinh", 1, numpy_function("sinh"), "float", flops=10),
    Elementwise("cosh", 1, numpy_function("cosh"), "float", flops=10),
    Elementwise("asinh", 1, numpy_function("arcsinh"), "float", flops=12, doc="inverse sinh"),
    Elementwise("acosh", 1, numpy_function("arccosh"), "float", flops=12, doc="inverse cosh"),
    Elementwise("atanh", 1, numpy_function("arctanh"), "float", flops=12, doc="inverse tanh"),
    Elementwise("erfinv", 1, _erfinv, "float", flops=40, doc="the inverse of erf"),
)

BINARY = _entries(
    Elementwise("add", 2, numpy_function("add"), "any", doc="a + b (or on bool)"),
    Elementwise("sub", 2, numpy_function("subtract")),
    Elementwise("mul", 2, numpy_function("multiply"), "any", doc="a * b (and on bool)"),
    Elementwise("div", 2, numpy_function("divide"), "float", flops=4, doc="true division"),
    Elementwise("pow", 2, _power, flops=16, doc="a ** b (integers stay integers)"),
    Elementwise("maximum", 2, _maximum, "any", doc="max(a, b); a on a tie (-0.0, 0.0)"),
    Elementwise("minimum", 2, _minimum, "any", doc="min(a, b); a on a tie (-0.0, 0.0)"),
    Elementwise("eq", 2, numpy_function("equal"), "any", "bool"),
    Elementwise("ne", 2, numpy_function("not_equal"), "any", "bool"),
    Elementwise("lt", 2, numpy_function("less"), "any", "bool"),
    Elementwise("le", 2, numpy_function("less_equal"), "any", "bool"),
    Elementwise("gt", 2, numpy_function("greater"), "any", "bool"),
    Elementwise("ge", 2, numpy_function("greater_equal"), "any", "bool"),
    Elementwise(
        "logical_and", 2, numpy_function("logical_and"), "bool", "bool", doc="a & b on bool"
    ),
    Elementwise("logical_or", 2, numpy_function("logical_or"), "bool", "bool", doc="a | b on bool"),
    Elementwise(
        "floor_divide",
        2,
        _floor_divide,
        flops=8,
        doc="a // b, rounded toward -inf",
        half_steps=True,
        divides=True,
    ),
    Elementwise("remainder", 2, _remainder, flops=8, doc="a % b, the sign of b", divides=True),
    Elementwise("fmod", 2, _fmod, flops=8, doc="C's fmod, the sign of a", divides=True),
    Elementwise("bitwise_and", 2, numpy_function("bitwise_and"), "int", doc="a & b on integers"),
    Elementwise("bitwise_or", 2, numpy_function("bitwise_or"), "int", doc="a | b on integers"),
    Elementwise("bitwise_xor", 2, numpy_function("bitwise_xor"), "int", doc="a ^ b on integers"),
    Elementwise("bitwise_left_shift", 2, _left_shift, "int", doc="a << b (0 from 64 bits on)"),
    Elementwise("bitwise_right_shift", 2, _right_shift, "int", doc="a >> b, the sign filling in"),
    Elementwise(
        "atan2",
        2,
        numpy_function("arctan2"),
        "float",
        flops=16,
        doc="atan(a / b), quadrant by signs",
    ),
    Elementwise(
        "hypot", 2, numpy_function("hypot"), "floating", flops=6, doc="sqrt(a*a + b*b), no overflow"
    ),
    Elementwise(
        "nextafter",
        2,
        _nextafter,
        "floating",
        flops=2,
        doc="the next float after a toward b",
        half_steps=True,  # (in the operands' own dtype: a float32 step would round back)
    ),
)

ALL = {**UNARY, **BINARY}

#: The closed sets of names that the mesh and pe dialects' `fn` attributes take (their enum
#: attributes wrap these), built from the tables so that an entry above is the only edit. "scale"
#: is x * scalar, an op of the tile level rather than of the table.
#: mypy cannot list members built from a table, hence the ignores.
UnaryFn = StrEnum("UnaryFn", [(n, n) for n in [*UNARY, "scale"]])  # type: ignore[call-overload]  # members from the table
BinaryFn = StrEnum("BinaryFn", [(n, n) for n in BINARY])  # type: ignore[call-overload]  # members from the table

#: element types by MLIR name: (numpy dtype name, bytes, is float)
ELEMENT_TYPES = {
    "f32": ("float32", 4, True),
    "f16": ("float16", 2, True),
    "bf16": ("bfloat16", 2, True),
    "i32": ("int32", 4, False),
    "i1": ("bool", 1, False),
}


@functools.cache
def type_name(element_type: Attribute) -> str:
    """`str(element_type)` (`f32`, `bf16`, `i1`, ...), remembered: xDSL prints an attribute
    anew at each str() (~8 us), and verifying, lowering and planning a program ask tens of
    thousands of times (a 30-op program's compile spent 0.9 s of 7.6 in it)."""
    return str(element_type)


@functools.cache  # (every fused step's cast asks: np.dtype(name) parses the name each time)
def numpy_dtype(element_type: str) -> np.dtype:
    """The numpy dtype holding an MLIR element type (`f32`, `bf16`, `i1`, ...)."""
    import numpy as np

    name = ELEMENT_TYPES[element_type][0]
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def accepts(entry: Elementwise, element_type: str) -> bool:
    """Whether `entry` takes operands of this MLIR element type."""
    is_float = ELEMENT_TYPES.get(element_type, ("", 0, False))[2]
    return {
        "number": element_type != "i1",
        "float": is_float,
        "floating": is_float,
        "bool": element_type == "i1",
        "int": element_type == "i32",
        "any": True,
    }[entry.operands]


def result_type(entry: Elementwise, element_type: str) -> str:
    return "i1" if entry.result == "bool" else element_type


def apply(entry: Elementwise, *operands: np.ndarray) -> np.ndarray:
    """The function on numpy operands; half-precision floats are computed in float32."""
    import numpy as np

    dtype = operands[0].dtype
    # (str(dtype) only for 2-byte items: it costs ~1 us a call, every elementwise step's)
    low = dtype.itemsize == 2 and (dtype.kind in "fV" or str(dtype) == "bfloat16")
    if low and entry.half_steps:
        return entry.fn(*operands)
    if low:
        operands = tuple(o.astype(np.float32) for o in operands)
    out = entry.fn(*operands)
    if entry.result == "bool":
        return out
    return out.astype(dtype, copy=False) if low else out
