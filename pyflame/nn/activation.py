"""Activation layers: `ReLU`, `GELU`, `SiLU`, `LeakyReLU`, `Sigmoid`, `Tanh`, `Softmax`,
`LogSoftmax`, `ELU`, `SELU`, `CELU`, `Softplus`, `Hardtanh`, `ReLU6`, `Hardsigmoid`,
`Hardswish`, `Mish`, `LogSigmoid`, `Softsign`, `Tanhshrink`, `Softshrink`, `Hardshrink`,
`Softmin`, `RReLU`, `PReLU`, `GLU`, `Threshold` (and `Softmax2d`), each
a module around the function of the same name (`gelu`, `leaky_relu` and the functions after
them are defined here, `pf.nn.functional` exports them).

The functions are composites of elementwise ops. Where PyTorch's gradient at a kink differs
from the one the parts would give, the formula is written with `where` so that it is
PyTorch's: `hardtanh` passes no gradient at its bounds, `elu` passes alpha at 0, `hardswish`
0 at -3 and 1 at 3. A branch `where` does not pick gets a safe input (0), so an overflow
there (exp of a large x) cannot turn its zero gradient into NaN. Comparisons that select the
input keep NaN as PyTorch (`threshold` tests x <= threshold, `hardtanh` each bound).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from pyflame import inplace as inplace_
from pyflame import ops
from pyflame.core.dtypes import as_dtype, bfloat16, bool_, float16, float32
from pyflame.core.errors import ShapeError
from pyflame.lazy_tensor import Tensor, format_location, user_location, user_stacklevel
from pyflame.nn import init as nn_init
from pyflame.nn.module import Module
from pyflame.nn.parameter import Parameter
from pyflame.ops import sampling


def _floats_only(x: Tensor, what: str) -> None:
    """PyTorch's NotImplementedError ("elu_cpu" not implemented for 'Int'): these activations
    have no integer or bool kernel (relu, hardtanh, threshold and the ones built on division
    or tanh take integers, as PyTorch's)."""
    if isinstance(x, Tensor) and not x.dtype.is_floating_point:
        raise NotImplementedError(
            f"{format_location(user_location())}: {what} is not implemented for {x.dtype!r} "
            "(as in PyTorch: floating point tensors only)"
        )


class ReLU(Module):
    """max(x, 0); `inplace=True` changes the input (`relu_`), as PyTorch's."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return input.relu_() if self.inplace else ops.relu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) (`approximate='none'`: `flame.gelu`, exact) or PyTorch's tanh
    approximation ('tanh': 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), elementwise
    ops), `torch.nn.functional.gelu`."""
    _floats_only(input, "gelu")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")
    if approximate == "none":
        return ops.gelu(input)
    if input.dtype in (float16, bfloat16):  # in float32, rounded once, as PyTorch
        return gelu(input.float(), "tanh").to(input.dtype)
    inner = (input + input * input * input * 0.044715) * math.sqrt(2 / math.pi)
    return input * 0.5 * (ops.tanh(inner) + 1.0)


class GELU(Module):
    """x * Phi(x) (`approximate='none'`, exact) or its tanh approximation ('tanh')."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(
                f"approximate argument must be either none or tanh, got {approximate!r}"
            )
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x); `inplace=True` writes it into the input, as PyTorch's."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return inplace_.apply_(input, ops.silu, "Silu") if self.inplace else ops.silu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x (`torch.nn.functional.leaky_relu`); the gradient
    at 0 is negative_slope, as PyTorch's. `inplace=True` writes it into `input`."""
    _floats_only(input, "leaky_relu")
    if inplace:
        return inplace_.apply_(input, lambda x: _leaky(x, negative_slope), "LeakyRelu")
    return _leaky(input, negative_slope)


def _leaky(input: Tensor, negative_slope: float) -> Tensor:
    return ops.where(input > 0, input, input * negative_slope)


class LeakyReLU(Module):
    """x where x > 0, else negative_slope * x (`leaky_relu`); `inplace=True` writes it into the
    input."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    def forward(self, input: Tensor) -> Tensor:
        return ops.sigmoid(input)


class Tanh(Module):
    def forward(self, input: Tensor) -> Tensor:
        return ops.tanh(input)


class Softmax(Module):
    """softmax along `dim`."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return ops.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log_softmax along `dim`."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return ops.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


# --------------------------------------------------------------------------- more activations


def _maybe_inplace(input: Tensor, inplace: bool, fn: Any, name: str) -> Tensor:
    return inplace_.apply_(input, fn, name) if inplace else fn(input)


def _opmath(fn: Any) -> Any:
    """`fn(x, ...)` computed in float32 for a float16/bfloat16 x and rounded once, as PyTorch's
    CPU kernel of the activation computes in its opmath type (the parts in the half dtype
    round at every step: softplus was 5 ulps off, hardsigmoid 14)."""

    def wrapped(x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if x.dtype in (float16, bfloat16):
            return fn(x.float(), *args, **kwargs).to(x.dtype)
        return fn(x, *args, **kwargs)

    wrapped.__name__, wrapped.__qualname__, wrapped.__doc__ = (
        fn.__name__,
        fn.__qualname__,
        fn.__doc__,
    )
    return wrapped


def _expm1_negative(x: Tensor, scale: float = 1.0) -> Tensor:
    """expm1(x * scale) where x <= 0, 0 elsewhere (no overflow on the side not taken, and no
    NaN: the zero gradient of the side not taken times expm1's derivative at NaN is NaN)."""
    taken = ops.where(x <= 0, x, 0.0)
    return ops.expm1(taken * scale if scale != 1.0 else taken)


@_opmath
def _elu(x: Tensor, alpha: float, scale: float = 1.0, input_scale: float = 1.0) -> Tensor:
    """PyTorch's elu kernel: scale * alpha * expm1(x * input_scale) where x <= 0, else
    scale * x (NaN takes the `else`, as PyTorch's: its gradient there is scale)."""
    negative = _expm1_negative(x, input_scale) * alpha
    out = ops.where(x <= 0, negative, x)
    return out * scale if scale != 1.0 else out


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha * (exp(x) - 1) (torch.nn.functional.elu)."""
    _floats_only(input, "elu")
    return _maybe_inplace(input, inplace, lambda x: _elu(x, alpha), "Elu")


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with PyTorch's constants (torch.nn.functional.selu)."""
    _floats_only(input, "selu")
    return _maybe_inplace(input, inplace, lambda x: _elu(x, _SELU_ALPHA, _SELU_SCALE), "Elu")


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha * (exp(x / alpha) - 1) (torch.nn.functional.celu)."""
    _floats_only(input, "celu")
    if alpha == 0:
        raise ZeroDivisionError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return _maybe_inplace(input, inplace, lambda x: _elu(x, alpha, 1.0, 1.0 / alpha), "Elu")


@_opmath
def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold
    (torch.nn.functional.softplus)."""
    _floats_only(input, "softplus")
    bx = input * beta
    linear = bx > threshold
    soft = ops.log1p(ops.exp(ops.where(linear, 0.0, bx)))
    return ops.where(linear, input, soft / beta if beta != 1.0 else soft)


def _hardtanh(x: Tensor, min_val: float, max_val: float) -> Tensor:
    if x.dtype is bool_:
        raise RuntimeError(
            f"{format_location(user_location())}: Bool inputs not supported for hardtanh"
        )
    if not x.dtype.is_floating_point:  # PyTorch: the bounds as integers, an integer result
        min_val, max_val = int(min_val), int(max_val)
    # no gradient at the bounds, as PyTorch's hardtanh_backward (clamp would pass it whole);
    # a value on a bound is x itself, as PyTorch's (relu6(-0.0) is -0.0)
    on_bound = x.detach()
    low = ops.where(x < min_val, min_val, on_bound)
    high = ops.where(x > max_val, max_val, on_bound)
    return ops.where(x <= min_val, low, ops.where(x >= max_val, high, x))


def hardtanh(
    input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    """x clamped to [min_val, max_val]; the gradient is 0 on and outside the bounds
    (torch.nn.functional.hardtanh)."""
    return _maybe_inplace(input, inplace, lambda x: _hardtanh(x, min_val, max_val), "Hardtanh")


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """hardtanh(x, 0, 6) (torch.nn.functional.relu6)."""
    return _maybe_inplace(input, inplace, lambda x: _hardtanh(x, 0.0, 6.0), "Hardtanh")


@_opmath
def _hardsigmoid(x: Tensor) -> Tensor:
    # PyTorch's gradient is 1/6 strictly between -3 and 3 only: 0 at NaN, whose value stays NaN
    between = ops.logical_and(x > -3.0, x < 3.0)
    outside = ops.where(x <= -3.0, 0.0, ops.where(x >= 3.0, 1.0, x.detach()))
    return ops.where(between, x / 6.0 + 0.5, outside)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """0 below -3, 1 above 3, x / 6 + 1/2 between (torch.nn.functional.hardsigmoid)."""
    _floats_only(input, "hardsigmoid")
    return _maybe_inplace(input, inplace, _hardsigmoid, "Hardsigmoid")


@_opmath
def _hardswish(x: Tensor) -> Tensor:
    # PyTorch's gradient: 0 up to -3, x / 3 + 1/2 strictly between, 1 from 3 on and at NaN.
    # Up to -3 the value is x * 0 as PyTorch's x * relu6(x + 3) / 6 (-0.0; NaN at -inf); the
    # middle branch sees 0 outside (-3, 3), else its zero gradient times NaN or inf is NaN.
    between = ops.logical_and(x > -3.0, x < 3.0)
    middle = ops.where(between, x, 0.0)
    return ops.where(x <= -3.0, x * 0.0, ops.where(between, middle * (middle + 3.0) / 6.0, x))


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6 (torch.nn.functional.hardswish)."""
    _floats_only(input, "hardswish")
    return _maybe_inplace(input, inplace, _hardswish, "Hardswish")


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)) (torch.nn.functional.mish)."""
    _floats_only(input, "mish")
    return _maybe_inplace(input, inplace, _mish, "Mish")


@_opmath
def _mish(x: Tensor) -> Tensor:
    return x * ops.tanh(softplus(x))


@_opmath
def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) without overflow: x - log1p(exp(x)) for x < 0, -log1p(exp(-x))
    otherwise (torch.nn.functional.logsigmoid; the gradient at 0 is 1/2)."""
    _floats_only(input, "logsigmoid")
    negative = input < 0
    low = ops.where(negative, input, 0.0)
    high = ops.where(negative, 0.0, input)
    # 0 - log1p(...): logsigmoid(inf) is +0.0, as PyTorch's min(x, 0) - log1p(exp(-|x|))
    return ops.where(negative, low - ops.log1p(ops.exp(low)), 0.0 - ops.log1p(ops.exp(-high)))


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|) (torch.nn.functional.softsign)."""
    return input / (ops.abs(input) + 1.0)


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x) (torch.nn.functional.tanhshrink)."""
    return input - ops.tanh(input)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd where x > lambd, x + lambd where x < -lambd, else 0 (x * 0: -0.0 below zero,
    as PyTorch's kernel) (torch.nn.functional.softshrink); the gradient is 1 outside
    [-lambd, lambd] (NaN too: its value stays NaN) and 0 on it, as PyTorch's. A negative
    lambd is PyTorch's RuntimeError; floating point only."""
    _floats_only(input, "softshrink")
    if not 0 <= lambd <= float(np.finfo(input.dtype.numpy).max):
        raise RuntimeError(
            f"{format_location(user_location())}: lambda must be in range [0, "
            f"{float(np.finfo(input.dtype.numpy).max):g}] for input dtype "
            f"{input.dtype!r}, but found {lambd:g}"
        )
    inside = ops.logical_and(input >= -lambd, input <= lambd)
    outside = ops.where(input > lambd, input - lambd, input + lambd)
    return ops.where(inside, input.detach() * 0.0, outside)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """0 where -lambd <= x <= lambd, else x (torch.nn.functional.hardshrink, `pf.hardshrink`)."""
    return ops.hardshrink(input, lambd)


def softmin(
    input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None
) -> Tensor:
    """softmax(-x) along `dim` (torch.nn.functional.softmin; `dtype` converts -x first). No
    dim is PyTorch's deprecated implicit choice (dim 0 for 0-, 1- and 3-D inputs, else 1),
    with its warning at the user's line."""
    if dim is None:
        warnings.warn(
            "Implicit dimension choice for softmin has been deprecated. Change the call to "
            "include dim=X as an argument.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return ops.softmax(-input, dim, dtype)


def gumbel_softmax(
    logits: Tensor,
    tau: float = 1,
    hard: bool = False,
    eps: float = 1e-10,
    dim: int = -1,
    *,
    seed: int | None = None,
) -> Tensor:
    """softmax((logits + g) / tau) along `dim`, g Gumbel(0, 1) noise drawn per element
    (-log of an Exponential(1) sample; a fresh draw per call, `seed=` fixes it), as
    torch.nn.functional.gumbel_softmax; `hard=True` gives the one-hot of the argmax with the
    soft sample's gradient (straight-through: y_hard - y_soft.detach() + y_soft). `eps` is
    unused, as in PyTorch (it warns there)."""
    if eps != 1e-10:
        warnings.warn(
            "`eps` parameter is deprecated and has no effect.", stacklevel=user_stacklevel()
        )
    _floats_only(logits, "gumbel_softmax")
    uniform = sampling.rand(logits.shape, layout=logits.layout, seed=seed)
    # Exponential(1) = -log(1 - U), kept above 0 (a zero would make the noise infinite)
    exponential = ops.clamp(-ops.log1p(-uniform), min=float(np.finfo(np.float32).tiny))
    gumbels = (-ops.log(exponential)).astype(logits.dtype)
    soft = ops.softmax((logits + gumbels) / tau, dim)
    if not hard:
        return soft
    d = dim + soft.ndim if dim < 0 else dim
    picked = soft.argmax(dim=d, keepdim=True)
    positions = ops.arange(soft.shape[d]).reshape(*(1 if a != d else -1 for a in range(soft.ndim)))
    one_hot = (positions == picked).astype(soft.dtype)
    return one_hot - soft.detach() + soft


def _check_rrelu_bounds(lower: float, upper: float) -> None:
    if lower > upper:
        raise RuntimeError(
            f"{format_location(user_location())}: Lower bound should be less than or equal to "
            f"the upper bound (rrelu: lower={lower}, upper={upper})"
        )


def _rrelu(x: Tensor, lower: float, upper: float, training: bool, seed: int | None) -> Tensor:
    if not training:  # PyTorch: leaky_relu with the mean slope
        return _leaky(x, (lower + upper) / 2)
    slope = sampling.rand(x.shape, layout=x.layout, seed=seed) * (upper - lower) + lower
    return ops.where(x > 0, x, x * slope.astype(x.dtype))


def rrelu(
    input: Tensor,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
    *,
    seed: int | None = None,
) -> Tensor:
    """Randomized leaky ReLU (torch.nn.functional.rrelu): x where x > 0, else a * x, a drawn
    uniformly from [lower, upper) per element in training (a fresh draw per call; `seed=`
    fixes it) and (lower + upper) / 2 in eval; the gradient there is a, as PyTorch's.
    `inplace=True` writes it into `input`."""
    _floats_only(input, "rrelu")
    _check_rrelu_bounds(lower, upper)
    return _maybe_inplace(
        input, inplace, lambda x: _rrelu(x, lower, upper, training, seed), "RreluWithNoise"
    )


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """value where x <= threshold, else x (torch.nn.functional.threshold; NaN stays NaN)."""
    return _maybe_inplace(
        input, inplace, lambda x: ops.where(x <= threshold, value, x), "Threshold"
    )


@_opmath
def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b), a and b the two halves of `input` along `dim`
    (torch.nn.functional.glu)."""
    _floats_only(input, "glu")
    if input.ndim == 0:
        raise ShapeError(
            f"{format_location(user_location())}: glu does not support scalars because halving "
            "size must be even"
        )
    d = dim + input.ndim if dim < 0 else dim
    if not 0 <= d < input.ndim:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-input.ndim}, "
            f"{input.ndim - 1}], but got {dim})"
        )
    if input.shape[d] % 2:
        raise ShapeError(
            f"{format_location(user_location())}: Halving dimension must be even, but dimension "
            f"{d} is size {input.shape[d]}"
        )
    a, b = ops.chunk(input, 2, dim=d)
    return a * ops.sigmoid(b)


prelu = ops.prelu  # (an op: also pf.prelu and x.prelu)


class _Inplace(Module):
    """An activation with only `inplace=` (shown in the repr when True)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ELU(Module):
    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(ELU):
    def forward(self, input: Tensor) -> Tensor:
        return celu(input, self.alpha, self.inplace)


class SELU(_Inplace):
    def forward(self, input: Tensor) -> Tensor:
        return selu(input, self.inplace)


class Softplus(Module):
    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    def __init__(
        self,
        min_val: float = -1.0,
        max_val: float = 1.0,
        inplace: bool = False,
        min_value: float | None = None,
        max_value: float | None = None,
    ):
        super().__init__()
        if min_value is not None:
            warnings.warn(
                "keyword argument `min_value` is deprecated and rename to `min_val`",
                FutureWarning,
                stacklevel=2,
            )
            min_val = min_value
        if max_value is not None:
            warnings.warn(
                "keyword argument `max_value` is deprecated and rename to `max_val`",
                FutureWarning,
                stacklevel=2,
            )
            max_val = max_value
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace
        assert self.max_val > self.min_val  # as PyTorch's

    def forward(self, input: Tensor) -> Tensor:
        return hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (
            ", inplace=True" if self.inplace else ""
        )


class ReLU6(Hardtanh):
    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Hardsigmoid(Module):
    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return hardsigmoid(input, self.inplace)


class Hardswish(Module):
    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return hardswish(input, self.inplace)


class Mish(_Inplace):
    def forward(self, input: Tensor) -> Tensor:
        return mish(input, self.inplace)


class LogSigmoid(Module):
    def forward(self, input: Tensor) -> Tensor:
        return logsigmoid(input)


class Softsign(Module):
    def forward(self, input: Tensor) -> Tensor:
        return softsign(input)


class Tanhshrink(Module):
    def forward(self, input: Tensor) -> Tensor:
        return tanhshrink(input)


class Threshold(Module):
    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (
            ", inplace=True" if self.inplace else ""
        )


class Softshrink(Module):
    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        return softshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Hardshrink(Softshrink):
    def forward(self, input: Tensor) -> Tensor:
        return hardshrink(input, self.lambd)


class Softmin(Softmax):
    """softmax(-x) along `dim`."""

    def forward(self, input: Tensor) -> Tensor:
        return softmin(input, self.dim)


class Softmax2d(Module):
    """softmax over the channels (dim -3) of a (N, C, H, W) or (C, H, W) input."""

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4):
            raise ShapeError(
                f"{format_location(user_location())}: Softmax2d: expected input to be 3D or 4D, "
                f"got {input.ndim}D instead"
            )
        return ops.softmax(input, -3)


class RReLU(Module):
    """Randomized leaky ReLU (`rrelu`): a random slope in [lower, upper) per negative element
    in training mode, their mean in eval mode."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower = lower
        self.upper = upper
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (
            ", inplace=True" if self.inplace else ""
        )


class GLU(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class PReLU(Module):
    """x where x > 0, else weight * x; `weight` a parameter of `num_parameters` slopes (1, or
    one per channel), all `init` at first."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, *, dtype: Any = None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        np_dtype = (float32 if dtype is None else as_dtype(dtype)).numpy
        self.weight = Parameter(np.full((num_parameters,), init, np_dtype))

    def reset_parameters(self) -> None:
        nn_init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        return prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


__all__ = [
    "CELU",
    "ELU",
    "GELU",
    "GLU",
    "Hardshrink",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "LeakyReLU",
    "LogSigmoid",
    "LogSoftmax",
    "Mish",
    "PReLU",
    "RReLU",
    "ReLU",
    "ReLU6",
    "SELU",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softmax2d",
    "Softmin",
    "Softplus",
    "Softshrink",
    "Softsign",
    "Tanh",
    "Tanhshrink",
    "Threshold",
]
