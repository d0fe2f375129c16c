"""Random tensors: `randn`, `rand`, `randint` (and `*_like`; PyTorch's `device=` and
`requires_grad=` as the creation ops), `bernoulli`, `dropout`,
`feature_dropout` (whole channels, under nn.functional's dropout1d/2d/3d).

randn is one flame.random_normal; the others draw from flame.random_uniform, whose values are a
function of (seed, global element index): the seed is drawn from the generator when the op is
built (a runtime input, so a cached program still gets fresh values), or fixed by `seed=` (the
same seed gives the same values every time). bernoulli and dropout compare a uniform draw with p.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from pyflame.core.dtypes import DType, as_dtype, bool_, float32, int32
from pyflame.dialects import flame
from pyflame.layout import MeshLayout
from pyflame.lazy_tensor import Tensor
from pyflame.ops.convert import astype
from pyflame.ops.creation import made
from pyflame.ops.elementwise import elementwise_op, mul
from pyflame.ops.node import _check_tensor, _fits, _is_scalar, _node, _shape_error, _sizes
from pyflame.random import draw_seed, fixed_seed


def randn(
    *size: Any,
    dtype: DType = float32,
    layout: MeshLayout | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Standard normal samples; the seed is drawn now and fed to the program at run time."""
    shape = _sizes(size, "randn")
    dtype = as_dtype(dtype)
    if not dtype.is_floating_point:
        raise TypeError(f"randn needs a floating-point dtype, got {dtype!r}")
    out = _node(flame.RandomNormalOp, (), shape, dtype, {"seed": draw_seed()}, layout)
    return made(out, device, requires_grad, "randn")


def randn_like(
    x: Tensor,
    *,
    dtype: DType | None = None,
    layout: MeshLayout | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    _check_tensor(x, "randn_like")
    out = randn(x.shape, dtype=dtype or x.dtype, layout=layout)
    return made(out, device, requires_grad, "randn_like")


def _draw(seed: int | None) -> int:
    return draw_seed() if seed is None else fixed_seed(seed)


def _uniform(
    shape: tuple[int, ...],
    dtype: DType,
    low: float,
    high: float,
    layout: MeshLayout | None,
    seed: int | None,
) -> Tensor:
    attrs = {"seed": _draw(seed), "minval": float(low), "maxval": float(high)}
    return _node(flame.RandomUniformOp, (), shape, dtype, attrs, layout)


def rand(
    *size: Any,
    dtype: DType = float32,
    layout: MeshLayout | None = None,
    seed: int | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Uniform samples in [0, 1) (torch.rand); `seed=` fixes the draw."""
    shape = _sizes(size, "rand")
    dtype = as_dtype(dtype)
    if not dtype.is_floating_point:
        raise TypeError(f"rand needs a floating-point dtype, got {dtype!r}")
    return made(_uniform(shape, dtype, 0.0, 1.0, layout, seed), device, requires_grad, "rand")


def rand_like(
    x: Tensor,
    *,
    dtype: DType | None = None,
    layout: MeshLayout | None = None,
    seed: int | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    _check_tensor(x, "rand_like")
    out = rand(x.shape, dtype=dtype or x.dtype, layout=layout, seed=seed)
    return made(out, device, requires_grad, "rand_like")


def randint(
    low: int,
    high: Any = None,
    size: Any = None,
    *,
    dtype: DType = int32,
    layout: MeshLayout | None = None,
    seed: int | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Uniform integers in [low, high) (torch.randint): `randint(high, size)` or
    `randint(low, high, size)`; int32 by default (PyTorch: int64), any dtype that holds them."""
    if size is None:
        if high is None:
            raise TypeError(
                "randint needs high and size: randint(high, size) or randint(low, high, size)"
            )
        low, high, size = 0, low, high
    elif high is None:  # randint(high, size=...)
        low, high = 0, low
    shape = _sizes((size,), "randint")
    out = _randint(shape, low, high, as_dtype(dtype), layout, seed)
    return made(out, device, requires_grad, "randint")


def _randint(
    shape: tuple[int, ...],
    low: Any,
    high: Any,
    dtype: DType,
    layout: MeshLayout | None,
    seed: int | None,
) -> Tensor:
    for v, what in ((low, "low"), (high, "high")):
        if isinstance(v, builtins.bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"randint: {what} must be an int, got {v!r}")
    low, high = int(low), int(high)
    if low >= high:
        raise ValueError(f"randint: low must be less than high, got low={low} >= high={high}")
    if low < -(2**31) or high > 2**31:
        raise ValueError(f"randint: [{low}, {high}) does not fit int32")
    if dtype is bool_:
        raise TypeError("randint does not make bool tensors")
    for v in (low, high - 1):  # float16 holds up to 65504 (PyTorch refuses more, too)
        _fits(float(v), dtype, "randint")
    ints = _uniform(shape, int32, low, high, None if dtype is not int32 else layout, seed)
    return ints if dtype is int32 else _node(flame.ConvertOp, (ints,), shape, dtype, layout=layout)


def randint_like(
    x: Tensor,
    low: int = 0,
    high: int | None = None,
    *,
    dtype: DType | None = None,
    layout: MeshLayout | None = None,
    seed: int | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """`randint_like(x, high)` or `randint_like(x, low, high)`: x's shape and (by default)
    dtype."""
    _check_tensor(x, "randint_like")
    if high is None:
        low, high = 0, low
    out = _randint(x.shape, low, high, as_dtype(dtype or x.dtype), layout, seed)
    return made(out, device, requires_grad, "randint_like")


def _probability(p: Any, what: str) -> float:
    if isinstance(p, builtins.bool) or not _is_scalar(p):
        raise TypeError(f"{what} must be a number in [0, 1], got {p!r}")
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{what} has to be between 0 and 1, but got {p}")
    return p


def bernoulli(x: Tensor, p: float | None = None, *, seed: int | None = None) -> Tensor:
    """0/1 samples of x's shape and dtype (torch.bernoulli): each element is 1 with probability
    x[i] (x must then be floating-point, values in [0, 1]), or, with `p`, with probability p
    for every element (x's values are ignored: `pf.bernoulli(pf.ones_like(x), p=keep)` is a
    dropout keep-mask). `seed=` fixes the draw: the same seed gives the same mask every time."""
    _check_tensor(x, "bernoulli")
    u = _uniform(x.shape, float32, 0.0, 1.0, x.layout, seed)  # drawn where x is placed
    if p is None:
        if not x.dtype.is_floating_point:
            raise TypeError(f"bernoulli needs floating-point probabilities, got {x.dtype!r}")
        hit = elementwise_op("lt", u, x)
    else:
        hit = elementwise_op("lt", u, _probability(p, "bernoulli's p"))
    return astype(hit, x.dtype)


def dropout(
    x: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    seed: int | None = None,
) -> Tensor:
    """Inverted dropout (torch.nn.functional.dropout): in training, every element is zeroed
    with probability p and the others are scaled by 1 / (1 - p); `x` itself otherwise.
    `seed=` fixes the mask. (`inplace=True` is `pf.nn.functional.dropout`'s: it writes the
    result into x; here it is accepted and ignored.)"""
    _check_tensor(x, "dropout")
    p = _probability(p, "dropout probability")
    if not x.dtype.is_floating_point:
        raise TypeError(f"dropout needs a floating-point input, got {x.dtype!r}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return mul(x, 0.0)
    keep = elementwise_op("ge", _uniform(x.shape, float32, 0.0, 1.0, x.layout, seed), p)
    one = x.dtype.numpy.type(1.0)
    scale = float(one / x.dtype.numpy.type(1.0 - p))  # 1 / (1 - p) in x's dtype, as PyTorch
    return mul(x, mul(astype(keep, x.dtype), scale))


def feature_dropout(
    x: Tensor, p: float = 0.5, training: bool = True, *, seed: int | None = None
) -> Tensor:
    """Channel dropout (ATen's feature_dropout, under torch's dropout1d/2d/3d): one draw per
    (batch, channel) pair, the first two dims of x ([N, C, 1, ..] broadcast over the others),
    so a channel is zeroed whole with probability p and kept scaled by 1 / (1 - p);
    `x` itself when not training, for p = 0 or an empty x; x * 0 for p = 1."""
    _check_tensor(x, "feature_dropout")
    p = _probability(p, "dropout probability")
    if not x.dtype.is_floating_point:
        raise TypeError(f"dropout needs a floating-point input, got {x.dtype!r}")
    if x.ndim < 2:
        raise _shape_error(
            f"Feature dropout requires at least 2 dimensions in the input, got {list(x.shape)}"
        )
    if not training or p == 0.0 or not x.numel():
        return x
    if p == 1.0:
        return mul(x, 0.0)
    noise = tuple(x.shape[:2]) + (1,) * (x.ndim - 2)
    keep = elementwise_op("ge", _uniform(noise, float32, 0.0, 1.0, None, seed), p)
    one = x.dtype.numpy.type(1.0)
    scale = float(one / x.dtype.numpy.type(1.0 - p))  # 1 / (1 - p) in x's dtype, as PyTorch
    return mul(x, mul(astype(keep, x.dtype), scale))
