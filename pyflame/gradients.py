"""The gradient of every differentiable flame op, one rule per op class in `GRADIENTS`.

A rule gets the node (its op, inputs, attrs and shape) and the gradient of its output, and
returns one gradient per input (None where no gradient flows), written with PyFlame's own ops,
so gradients are lazy graph nodes that compile with the rest of the program. A gradient whose
shape differs from its input because the op broadcast (a rank-0 scalar operand) is summed back
by the engine (`unbroadcast`).

A composite whose gradient is not the one its parts give carries its own rule object, attached
by its builder: `Clamp` (pyflame/ops/elementwise.py), `AtIndices`, `Evenly` and `ProdOfAll`
(pyflame/ops/reductions.py; they sit with their builders, below this module), `SafeSoftmax`,
`LayerNorm`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from pyflame import ops
from pyflame.dialects import flame
from pyflame.lazy_tensor import Tensor, format_location
from pyflame.ops.conv import conv2d, conv2d_weight_grad, padded_conv2d
from pyflame.ops.node import NOT_DIFFERENTIABLE as NOT_DIFFERENTIABLE  # the rules' counterpart
from pyflame.ops.saved import is_python_number

Rule = Callable[[Tensor, Tensor], Sequence[Tensor | None]]


def unbroadcast(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum `g` down to `shape` over the dims broadcasting added or stretched."""
    if tuple(g.shape) == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    dims = list(range(lead)) + [
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1
    ]
    out = g.sum(dim=tuple(dims), keepdim=False) if dims else g
    return out.reshape(shape) if tuple(out.shape) != tuple(shape) else out


def _keep(node: Tensor, g: Tensor) -> Tensor:
    """A reduction's output gradient with the reduced dims put back as size 1."""
    if node.attrs.get("keepdim"):
        return g
    x = node.inputs[0]
    dims = node.attrs["dims"]
    return g.reshape(tuple(1 if i in dims else n for i, n in enumerate(x.shape)))


def _count(node: Tensor) -> int:
    x = node.inputs[0]
    return math.prod(x.shape[d] for d in node.attrs["dims"])


# ----------------------------------------------------------------- elementwise


def _unary(fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> Rule:
    def rule(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        return (fn(node.inputs[0], node, g),)

    return rule


def _unary_kernel(fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> Rule:
    """`_unary` for an op whose PyTorch backward is one CPU kernel (tanh_backward,
    sigmoid_backward, gelu_backward, silu_backward): a float16/bfloat16 gradient computed in
    float32 and rounded once, as that kernel's opmath, not rounded at every step."""
    from pyflame.core.dtypes import bfloat16, float16, float32

    def rule(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        x = node.inputs[0]
        if node.dtype not in (float16, bfloat16):
            return (fn(x, node, g),)
        wide = (t.astype(float32) for t in (x, node, g))
        return (fn(*wide).astype(node.dtype),)

    return rule


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _gelu_grad(x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    cdf = (ops.gelu(x) / x).where(x != 0, 0.5)  # Phi(x) = gelu(x) / x
    pdf = ops.exp(x * x * -0.5) * (1 / math.sqrt(2 * math.pi))
    return g * (cdf + x * pdf)


def _silu_grad(x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    s = ops.sigmoid(x)
    return g * (s + x * s * (1 - s))


def _sub(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    return (g, -g)


def wanted(node: Tensor, i: int) -> bool:
    """Whether the backward pass running `node`'s rule uses the gradient of input `i` (it
    drops those of inputs that do not require grad: a rule may skip making them, as
    PyTorch's engine skips them by `needs_input_grad`). Set by autograd.backward while the
    rule runs (`_grads_wanted`); every gradient is wanted when unset."""
    flags = node.__dict__.get("_grads_wanted")
    return flags is None or flags[i]


def _mul(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    a, b = node.inputs
    return (g * b if wanted(node, 0) else None, g * a if wanted(node, 1) else None)


def _div(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    """PyTorch's: g / b to a, -g * ((a / b) / b) to b (a / b being the node): a / (b * b)
    was NaN where b * b underflows (0 / 1e-30) and where it overflows (inf / 3e38)."""
    a, b = node.inputs
    return (g / b if wanted(node, 0) else None, -g * (node / b) if wanted(node, 1) else None)


_LN2, _LN10, _HALF_SQRT_PI = math.log(2.0), math.log(10.0), 0.5 * math.sqrt(math.pi)


def _atan2(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    """PyTorch's: g * b / (a^2 + b^2) to a, -g * a / (a^2 + b^2) to b; 0 where a^2 + b^2
    is 0 (both zero, or both squares underflowing), as PyTorch's."""
    a, b = node.inputs
    squares = a * a + b * b
    r, vanishes = 1 / squares, squares == 0
    return (ops.where(vanishes, 0.0, g * b * r), ops.where(vanishes, 0.0, g * -a * r))


def _hypot(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    a, b = node.inputs
    return (g * a / node, g * b / node)


def _pow(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    """PyTorch's rule: 0 where the exponent is 0 (not 0 * 0^-1 = NaN); the exponent's
    gradient is 0 where the base is 0 and the exponent >= 0 (not 0 * log 0 = NaN). In its
    order, g * (b * a^(b - 1)) and g * (a^b * log a): g * b first overflowed a huge exponent
    to inf, and inf * 0 (0.5^3e38) was NaN where PyTorch's gradient is 0."""
    a, b = node.inputs
    ga = ops.where(b == 0, 0.0, g * (b * ops.pow(a, b - 1))) if a.requires_grad else None
    gb = ops.where((a == 0) & (b >= 0), 0.0, g * (node * ops.log(a))) if b.requires_grad else None
    return (ga, gb)


def _not_implemented(name: str) -> Rule:
    """PyTorch's op has no derivative (`torch.floor_divide`; `remainder` of a number by a
    tensor): its result requires grad, and backward through it raises PyTorch's error."""

    def rule(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        raise RuntimeError(
            f"{format_location(node.location)}: derivative for aten::{name} is not implemented"
        )

    return rule


def _remainder(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    """PyTorch's rule: g for a; -g * floor(a / b) (div_floor) for b. A number a (`2 % x`)
    has no derivative in PyTorch (its remainder(Scalar, Tensor) has none)."""
    a, b = node.inputs
    if is_python_number(a) and b.requires_grad:
        return _not_implemented("remainder")(node, g)
    gb = -g * ops.div(a, b, rounding_mode="floor") if b.requires_grad else None
    return (g, gb)


def _fmod(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    """PyTorch's rule: g for a; -g * trunc(a / b) (div_trunc) for b."""
    a, b = node.inputs
    return (g, -g * ops.div(a, b, rounding_mode="trunc") if b.requires_grad else None)


def _extreme(lhs_loses: Callable[[Tensor, Tensor], Tensor]) -> Rule:
    """maximum/minimum as PyTorch: ties split half/half; a NaN (no order) passes the whole
    gradient to both sides; otherwise all of it to the side that won."""

    def rule(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        a, b = node.inputs
        half = ops.where(a == b, g * 0.5, g)
        return (ops.where(lhs_loses(a, b), 0.0, half), ops.where(lhs_loses(b, a), 0.0, half))

    return rule


def _where(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    c = node.inputs[0]
    return (  # (a number: a rank-0 fill, not a tensor of zeros of g's shape)
        None,
        ops.where(c, g, 0.0) if wanted(node, 1) else None,
        ops.where(c, 0.0, g) if wanted(node, 2) else None,
    )


def _convert(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    x = node.inputs[0]
    return (g.astype(x.dtype) if x.dtype.is_floating_point else None,)


# ----------------------------------------------------------------- reductions


def _sum(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    return (ops.broadcast_to(_keep(node, g), node.inputs[0].shape),)


def _mean(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    return (ops.broadcast_to(_keep(node, g), node.inputs[0].shape) / _count(node),)


def _amax(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    """Evenly among the elements equal to the max (as torch.amax)."""
    x = node.inputs[0]
    dims = node.attrs["dims"]
    hit = (x == ops.broadcast_to(_keep(node, node), x.shape)).astype(g.dtype)
    count = hit.sum(dim=dims, keepdim=True)
    return (ops.broadcast_to(_keep(node, g), x.shape) * hit / count,)


def _prod(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    """g * product / x where the group holds no zero; with one zero, the zero gets g times
    the product of the others and the rest g * 0; with two or more, all g * 0 (PyTorch's
    rule over given dims, `prod_safe_zeros_backward`: NaN where g is not finite). `prod(x)`
    without dim has a rule of its own (pyflame/ops/reductions.py `ProdOfAll`)."""
    x = node.inputs[0]
    dims = node.attrs["dims"]
    if not dims:  # nothing reduced: the identity
        return (g,)
    zero = x == 0
    zeros = zero.astype(g.dtype).sum(dim=dims, keepdim=True)
    others = ops.where(zero, 1.0, x).prod(dim=dims, keepdim=True)  # the product without zeros
    grow = ops.broadcast_to(_keep(node, g), x.shape)
    no_zero = ops.broadcast_to(_keep(node, node), x.shape) / ops.where(zero, 1.0, x)
    at_zero = ops.where(
        ops.broadcast_to(zeros == 1, x.shape), ops.broadcast_to(others, x.shape), 0.0
    )
    rest = ops.where(ops.broadcast_to(zeros == 0, x.shape), no_zero, 0.0)
    return (grow * ops.where(zero, at_zero, rest),)


class SafeSoftmax:
    """Gradient rule of the attention softmax (attached by `scaled_dot_product_attention`),
    as torch's `_safe_softmax`: out * (g - sum(g * out)) with `out` the result, zeros in a row
    that is all -inf, so such a row gets 0 * (...) (NaN when its g is not finite, as torch), not
    the 0 that a `where` around a plain softmax would give."""

    def __init__(self, x: Tensor, dim: int):
        self.inputs = (x,)
        self.dim = dim

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        d = self.dim
        return (_in_float32(lambda y, g: y * (g - (g * y).sum(dim=d, keepdim=True)), node, g),)


class LayerNorm:
    """Gradient rule of layer_norm (attached by `nn.functional.layer_norm`), PyTorch's native
    kernel's formula, so that non-finite values go where they go there. Per normalised row,
    with gw = g * weight, N its size, mean and rstd the row's statistics (as the forward
    computes them): ds = sum(gw * x), db = sum(gw), b = (db * mean - ds) * rstd^3 / N,
    c = -b * mean - db * rstd / N, dx = rstd * gw + b * x + c; dweight = the sum over rows of
    g * (x - mean) * rstd, dbias = the sum over rows of g. Autograd through the decomposition
    gives the same numbers for finite values but NaN where this formula gives +-inf (a row
    whose weight holds -inf: differential fuzzer seed 16, program 57). `mean` and `rstd` are
    the forward's (float32, keepdim), not computed again."""

    def __init__(
        self,
        x: Tensor,
        weight: Tensor | None,
        bias: Tensor | None,
        dims: tuple,
        mean: Tensor,
        rstd: Tensor,
    ):
        self.x, self.weight, self.bias = x, weight, bias
        self.inputs = tuple(t for t in (x, weight, bias) if t is not None)
        self.dims, self.mean, self.rstd = dims, mean, rstd

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        from pyflame.core.dtypes import float32

        def up(t: Tensor) -> Tensor:
            return t.astype(float32) if t.dtype.itemsize == 2 else t

        x, dy, dims = up(self.x), up(g), self.dims
        n = math.prod(x.shape[d] for d in dims)
        mean, rstd = self.mean, self.rstd
        centered = x - mean
        gw = dy * up(self.weight) if self.weight is not None else dy
        ds = (gw * x).sum(dim=dims, keepdim=True)
        db = gw.sum(dim=dims, keepdim=True)
        inv_n = 1.0 / n if n else 0.0  # (n = 0: x is empty, so is every gradient)
        b = (db * mean - ds) * rstd * rstd * rstd * inv_n
        c = -b * mean - db * rstd * inv_n
        grads: list[Tensor | None] = [(rstd * gw + b * x + c).astype(self.x.dtype)]
        rows = tuple(range(x.ndim - len(dims)))
        if self.weight is not None:
            dw = dy * centered * rstd
            dw = dw.sum(dim=rows) if rows else dw
            grads.append(dw.astype(self.weight.dtype))
        if self.bias is not None:
            grads.append((dy.sum(dim=rows) if rows else dy).astype(self.bias.dtype))
        return grads


def _var(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    x = node.inputs[0]
    dims = node.attrs["dims"]
    dof = max(_count(node) - node.attrs.get("correction", 1.0), 0)
    centered = x - x.mean(dim=dims, keepdim=True)
    scale = ops.broadcast_to(_keep(node, g), x.shape) * (2.0 / dof if dof else math.nan)
    return (scale * centered,)


def _std(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    x = node.inputs[0]
    dims = node.attrs["dims"]
    dof = max(_count(node) - node.attrs.get("correction", 1.0), 0)
    centered = x - x.mean(dim=dims, keepdim=True)
    # a constant group (std 0) gets gradient 0, as in PyTorch, not g / 0 * 0 = NaN
    inv = ops.where(node == 0, 0.0, g / ops.where(node == 0, 1.0, node))
    per = ops.broadcast_to(_keep(node, inv), x.shape) * (1.0 / dof if dof else math.nan)
    return (per * centered,)


def _logsumexp(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    x = node.inputs[0]
    return (
        ops.broadcast_to(_keep(node, g), x.shape)
        * ops.exp(x - ops.broadcast_to(_keep(node, node), x.shape)),
    )


def _in_float32(rule: Callable[[Tensor, Tensor], Tensor], node: Tensor, g: Tensor) -> Tensor:
    """`rule(out, g)` in float32 for a float16/bfloat16 result, rounded once: PyTorch's CPU
    softmax backward kernels compute in float32 (in the half dtype, `g - sum(g * out)`
    cancels: a bfloat16 log_softmax gradient was 3x further from the exact one than torch's)."""
    from pyflame.core.dtypes import bfloat16, float16, float32

    if node.dtype not in (float16, bfloat16):
        return rule(node, g)
    return rule(node.astype(float32), g.astype(float32)).astype(node.dtype)


def _softmax(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    d = node.attrs["dim"]
    return (_in_float32(lambda y, g: y * (g - (g * y).sum(dim=d, keepdim=True)), node, g),)


def _log_softmax(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    d = node.attrs["dim"]
    return (_in_float32(lambda y, g: g - ops.exp(y) * g.sum(dim=d, keepdim=True), node, g),)


# ----------------------------------------------------------------- linear algebra and shape


def _matmul(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    a, b = node.inputs
    # an operand without batch dims is shared by every batch entry: its gradient sums over the
    # batch; of a half type, as one product of the entries stacked, so it is rounded once as
    # PyTorch's (a batched product, then a sum over the batch in the half type, rounds twice)
    stack = a.dtype.is_floating_point and a.dtype.itemsize == 2
    ga = gb = None
    if a.requires_grad and stack and a.ndim == 2 < b.ndim:
        rows = g.movedim(-2, 0).reshape(a.shape[0], -1)  # [m, B*n]
        ga = rows @ b.transpose(-2, -1).reshape(-1, a.shape[1])  # @ [B*n, k]
    elif a.requires_grad:
        ga = g @ b.transpose(-2, -1)
    if b.requires_grad and stack and b.ndim == 2 < a.ndim:
        gb = a.reshape(-1, a.shape[-1]).transpose(0, 1) @ g.reshape(-1, g.shape[-1])
    elif b.requires_grad:
        gb = a.transpose(-2, -1) @ g
    return (ga, gb)


def _transpose(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    perm = node.attrs["perm"]
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return (g.permute(*inverse),)


def _reshape(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    return (g.reshape(node.inputs[0].shape),)


def _broadcast_to(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    return (unbroadcast(g, node.inputs[0].shape),)


def _pad(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    """The inverse pad: crop what was padded, zero-fill what a negative width cropped."""
    low, high = node.attrs["low"], node.attrs["high"]
    if not any(low) and not any(high):
        return (g,)
    widths: list[int] = []
    for lo, hi in zip(reversed(low), reversed(high), strict=True):  # F.pad order: last dim first
        widths += [-lo, -hi]
    return (ops.pad(g, widths),)


def embed(g: Tensor, shape: Sequence[int], start: Sequence[int], step: Sequence[int]) -> Tensor:
    """Zeros of `shape` with `g` at positions start + i * step (the inverse of a slice):
    spread each strided dim with padding, then pad the ends."""
    out = g
    for d, (n, s0, st) in enumerate(zip(shape, start, step, strict=True)):
        m = out.shape[d]
        if m == 0:
            return ops.zeros(tuple(shape), dtype=g.dtype)
        if st != 1:  # [.., m, ..] -> [.., m, st, ..] with zeros -> [.., m * st, ..]
            out = out.unsqueeze(d + 1)
            pad = [0, 0] * (out.ndim - d - 2) + [0, st - 1]
            out = ops.pad(out, pad).reshape(*out.shape[:d], m * st, *out.shape[d + 2 :])
            out = ops.narrow(out, d, 0, (m - 1) * st + 1)
        span = out.shape[d]
        pad = [0, 0] * (out.ndim - d - 1) + [s0, n - s0 - span]
        out = ops.pad(out, pad)
    return out


def _slice(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    x = node.inputs[0]
    return (embed(g, x.shape, node.attrs["start"], node.attrs["step"]),)


# ----------------------------------------------------------------- convolution and pooling


def _window_taps(node: Tensor):
    """Per kernel offset (a, b): where its taps start in the padded input and their step."""
    kh, kw = node.attrs.get("kernel") or node.inputs[1].shape[2:]
    s, d = node.attrs["stride"], node.attrs["dilation"]
    for a in range(kh):
        for b in range(kw):
            yield a, b, (a * d[0], b * d[1]), s


def _padded(node: Tensor, x: Tensor, value: float) -> Tensor:
    top, bottom, left, right = node.attrs["padding"]
    if not any(node.attrs["padding"]):
        return x
    return ops.pad(x, [left, right, top, bottom], value=value)


def _crop(node: Tensor, gp: Tensor, shape: Sequence[int]) -> Tensor:
    top, _, left, _ = node.attrs["padding"]
    return gp[:, :, top : top + shape[2], left : left + shape[3]]


def _taps(xp: Tensor, start: Sequence[int], step: Sequence[int], out_hw: Sequence[int]) -> Tensor:
    """The input value under one kernel tap for every output position (a strided slice)."""
    (h0, w0), (sh, sw), (oh, ow) = start, step, out_hw
    return xp[:, :, h0 : h0 + (oh - 1) * sh + 1 : sh, w0 : w0 + (ow - 1) * sw + 1 : sw]


def _flip_hw(w: Tensor) -> Tensor:
    rows = [w[:, :, i : i + 1] for i in reversed(range(w.shape[2]))]
    w = ops.cat(rows, dim=2) if len(rows) > 1 else w
    cols = [w[:, :, :, j : j + 1] for j in reversed(range(w.shape[3]))]
    return ops.cat(cols, dim=3) if len(cols) > 1 else w


def conv_input_grad(
    g: Tensor, w: Tensor, x_shape: Sequence[int], attrs: dict, kernel: Sequence[int]
) -> Tensor:
    """The input gradient of a conv2d of an input of `x_shape` with weight `w`, given the
    output gradient `g`: a full correlation of the stride-dilated gradient with the flipped,
    channel-transposed kernel, cropped to the input. With stride 1 (and no padding wider than
    the dilated kernel) that is one conv2d of `g` itself, padded by the kernel's reach minus
    the forward's padding: no dilated or padded copy of the gradient, no crop.

    Also F.conv_transpose2d (pyflame/nn/conv_functional.py), whose output_padding is a bottom
    (right) padding smaller than the top (left) one, possibly negative."""
    groups = attrs["groups"]
    (sh, sw), (dh, dw) = attrs["stride"], attrs["dilation"]
    top, bottom, left, right = attrs["padding"]
    n, _, h, wd = x_shape
    o = w.shape[0]
    kh, kw = kernel
    oh, ow = g.shape[2], g.shape[3]
    eh, ew = dh * (kh - 1), dw * (kw - 1)
    og = o // groups
    wt = (
        ops.cat([w[i * og : (i + 1) * og].transpose(0, 1) for i in range(groups)], dim=0)
        if groups > 1
        else w.transpose(0, 1)
    )
    flipped = _flip_hw(wt)
    reach = (eh - top, eh - bottom, ew - left, ew - right)
    if (sh, sw) == (1, 1) and min(reach) >= 0:
        return padded_conv2d(g, flipped, reach, (dh, dw), groups)
    gd = embed(g, (n, o, (oh - 1) * sh + 1, (ow - 1) * sw + 1), (0, 0, 0, 0), (1, 1, sh, sw))
    gd = ops.pad(gd, [ew, ew, eh, eh])
    gp = conv2d(gd, flipped, dilation=(dh, dw), groups=groups)
    # rows/cols past the last window get no gradient (and a negative bottom/right padding
    # leaves fewer rows/cols than the crop below needs)
    missing_h, missing_w = max(0, top + h - gp.shape[2]), max(0, left + wd - gp.shape[3])
    if missing_h or missing_w:
        gp = ops.pad(gp, [0, missing_w, 0, missing_h])
    return gp[:, :, top : top + h, left : left + wd]


def _conv2d(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    """d input: `conv_input_grad`; d weight: one flame.conv2d_weight_grad (per kernel tap, a
    product of the gradient with the shifted input over each PE's pixels, summed over the
    grid: passes/flame_lowering/windowed.py); d bias: the gradient summed over batch and
    space."""
    x, w = node.inputs[0], node.inputs[1]
    gx = gw = gb = None
    if x.requires_grad:
        gx = conv_input_grad(g, w, x.shape, node.attrs, w.shape[2:])
    if w.requires_grad:
        a = node.attrs
        gw = conv2d_weight_grad(
            x, g, w.shape[2:], a["stride"], a["padding"], a["dilation"], a["groups"]
        )
    if len(node.inputs) > 2 and node.inputs[2].requires_grad:
        gb = g.sum(dim=(0, 2, 3))
    return (gx, gw, gb)[: len(node.inputs)]


def _conv2d_weight_grad(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    """dW is bilinear in (x, dy): d dy is the conv2d of x with g as the weight, d x the input
    gradient of that conv2d (second derivatives, `create_graph=True`)."""
    x, dy = node.inputs
    a = node.attrs
    gx = gdy = None
    if x.requires_grad:
        gx = conv_input_grad(dy, g, x.shape, a, a["kernel"])
    if dy.requires_grad:
        p = a["padding"]
        if p[0] == p[1] and p[2] == p[3]:
            pads: tuple[int, int] | str = (p[0], p[2])
            xp = x
        else:
            pads, xp = (0, 0), _padded(node, x, 0.0)
        gdy = conv2d(
            xp, g, stride=a["stride"], padding=pads, dilation=a["dilation"], groups=a["groups"]
        )
    return (gx, gdy)


def _max_pool2d(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    """Each window's gradient goes to its first maximum (row-major) among its in-bounds taps,
    or to its last NaN when it holds one, as PyTorch's CPU kernel (`val > max || isnan(val)`
    picks the max, starting from the window's first in-bounds element): padding (and ceil_mode's
    taps past the padded input) never takes it, even when every in-bounds value is -inf."""
    x = node.inputs[0]
    xp = _padded(node, x, float("-inf"))
    out_hw = node.shape[2:]
    top, _, left, _ = node.attrs["padding"]
    h, w = x.shape[2:]
    inside = None  # 1 over the input, 0 over its padding: which taps are in bounds

    def in_bounds(start: Sequence[int], step: Sequence[int]) -> Tensor | None:
        nonlocal inside
        rows = [start[0] + i * step[0] for i in range(out_hw[0])]
        cols = [start[1] + j * step[1] for j in range(out_hw[1])]
        if all(top <= r < top + h for r in rows) and all(left <= c < left + w for c in cols):
            return None
        if inside is None:
            inside = _padded(node, ops.ones((1, 1, h, w), dtype=g.dtype), 0.0)
        return _taps(inside, start, step, out_hw) > 0

    taps = [
        (start, step, _taps(xp, start, step, out_hw), in_bounds(start, step))
        for _, _, start, step in _window_taps(node)
    ]
    nan_hits: list[Tensor] = []
    later = None  # a NaN under a later tap of the window: the later one takes the gradient
    for _, _, v, _ in reversed(taps):
        nan = v != v
        nan_hits.append(nan if later is None else nan & ~later)
        later = nan if later is None else later | nan
    nan_hits.reverse()
    taken = None
    grad = None
    for (start, step, v, valid), nan_hit in zip(taps, nan_hits, strict=True):
        hit = v == node  # never true in a window whose max is NaN
        if valid is not None:  # a padding tap equals only an all -inf window's max: skip it
            hit = hit & valid
        if taken is not None:
            hit = hit & ~taken
            taken = taken | hit
        else:
            taken = hit
        part = embed(ops.where(hit | nan_hit, g, 0.0), xp.shape, (0, 0, *start), (1, 1, *step))
        grad = part if grad is None else grad + part
    assert grad is not None  # a window has at least one tap
    return (_crop(node, grad, x.shape),)


def _avg_pool2d(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    x = node.inputs[0]
    kh, kw = node.attrs["kernel"]
    divisor = node.attrs.get("divisor")
    if divisor is not None:
        scale = g / divisor
    elif node.attrs.get("count_include_pad", True):
        scale = g / (kh * kw)
    else:  # the in-bounds taps of each window (padding and ceil_mode's extra excluded): the
        # window sums of ones, the same op with divisor 1
        count = ops._node(
            flame.AvgPool2dOp,
            (ops.ones(x.shape, dtype=g.dtype),),
            node.shape,
            g.dtype,
            {**node.attrs, "count_include_pad": True, "divisor": 1},
        )
        scale = g / count
    xp_shape = (
        x.shape[0],
        x.shape[1],
        x.shape[2] + sum(node.attrs["padding"][:2]),
        x.shape[3] + sum(node.attrs["padding"][2:]),
    )
    grad = None
    for _, _, start, step in _window_taps(node):
        part = embed(scale, xp_shape, (0, 0, *start), (1, 1, *step))
        grad = part if grad is None else grad + part
    assert grad is not None  # a window has at least one tap
    return (_crop(node, grad, x.shape),)


def _concat(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    d = node.attrs["dim"]
    out, start = [], 0
    for t in node.inputs:
        out.append(ops.narrow(g, d, start, t.shape[d]))
        start += t.shape[d]
    return out


def _gather_rows(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    table, index = node.inputs  # the gradient goes where the table is
    return (ops.scatter_add_rows(index, g, table.shape[0], layout=table.layout), None)


def _scatter_add_rows(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    return (None, ops.gather_rows(g, node.inputs[0]))


GRADIENTS: dict[type[flame.FlameOp], Rule] = {
    flame.AddOp: lambda node, g: (g, g),
    flame.SubOp: _sub,
    flame.MulOp: _mul,
    flame.DivOp: _div,
    flame.PowOp: _pow,
    flame.MaximumOp: _extreme(lambda a, b: a < b),
    flame.MinimumOp: _extreme(lambda a, b: a > b),
    flame.NegOp: _unary(lambda x, y, g: -g),
    flame.AbsOp: _unary(lambda x, y, g: g * ((x > 0).astype(g.dtype) - (x < 0).astype(g.dtype))),
    # 0 where x <= 0 (at 0 too); g at NaN, as torch's threshold_backward
    flame.ReluOp: _unary(lambda x, y, g: ops.where(x <= 0, 0.0, g)),
    flame.ExpOp: _unary(lambda x, y, g: g * y),
    flame.LogOp: _unary(lambda x, y, g: g / x),
    flame.SqrtOp: _unary(lambda x, y, g: g * 0.5 / y),
    flame.RsqrtOp: _unary(lambda x, y, g: g * -0.5 * y * y * y),
    flame.TanhOp: _unary_kernel(lambda x, y, g: g * (1 - y * y)),
    flame.SigmoidOp: _unary_kernel(lambda x, y, g: g * y * (1 - y)),
    flame.GeluOp: _unary_kernel(lambda x, y, g: _gelu_grad(x, y, g)),
    flame.SiluOp: _unary_kernel(lambda x, y, g: _silu_grad(x, y, g)),
    flame.SinOp: _unary(lambda x, y, g: g * ops.cos(x)),
    flame.CosOp: _unary(lambda x, y, g: -g * ops.sin(x)),
    flame.ErfOp: _unary(lambda x, y, g: g * _TWO_OVER_SQRT_PI * ops.exp(-x * x)),
    # piecewise constant: zero gradient, as PyTorch
    flame.FloorOp: _unary(lambda x, y, g: ops.zeros_like(g)),
    flame.RoundOp: _unary(lambda x, y, g: ops.zeros_like(g)),
    flame.SignOp: _unary(lambda x, y, g: ops.zeros_like(g)),
    flame.Log1pOp: _unary(lambda x, y, g: g / (x + 1)),
    flame.Expm1Op: _unary(lambda x, y, g: g * (y + 1)),
    flame.TruncOp: _unary(lambda x, y, g: ops.zeros_like(g)),
    flame.Exp2Op: _unary(lambda x, y, g: g * y * _LN2),
    flame.Log2Op: _unary(lambda x, y, g: g / (x * _LN2)),
    flame.Log10Op: _unary(lambda x, y, g: g / (x * _LN10)),
    flame.TanOp: _unary(lambda x, y, g: g * (1 + y * y)),
    flame.AsinOp: _unary(lambda x, y, g: g * ops.rsqrt(1 - x * x)),
    flame.AcosOp: _unary(lambda x, y, g: -g * ops.rsqrt(1 - x * x)),
    flame.AtanOp: _unary(lambda x, y, g: g / (x * x + 1)),
    flame.SinhOp: _unary(lambda x, y, g: g * ops.cosh(x)),
    flame.CoshOp: _unary(lambda x, y, g: g * ops.sinh(x)),
    flame.AsinhOp: _unary(lambda x, y, g: g * ops.rsqrt(x * x + 1)),
    flame.AcoshOp: _unary(lambda x, y, g: g * ops.rsqrt(x * x - 1)),
    flame.AtanhOp: _unary(lambda x, y, g: g / (1 - x * x)),
    flame.ErfinvOp: _unary(lambda x, y, g: g * _HALF_SQRT_PI * ops.exp(y * y)),
    flame.Atan2Op: _atan2,
    flame.HypotOp: _hypot,
    flame.NextafterOp: _not_implemented("nextafter"),
    flame.FloorDivideOp: _not_implemented("floor_divide"),
    flame.RemainderOp: _remainder,
    flame.FmodOp: _fmod,
    flame.WhereOp: _where,
    flame.ConvertOp: _convert,
    flame.ReduceSumOp: _sum,
    flame.ReduceMeanOp: _mean,
    flame.ReduceMaxOp: _amax,
    flame.ReduceMinOp: _amax,
    flame.ReduceProdOp: _prod,
    flame.VarOp: _var,
    flame.StdOp: _std,
    flame.LogsumexpOp: _logsumexp,
    flame.SoftmaxOp: _softmax,
    flame.LogSoftmaxOp: _log_softmax,
    flame.MatmulOp: _matmul,
    flame.TransposeOp: _transpose,
    flame.ReshapeOp: _reshape,
    flame.BroadcastToOp: _broadcast_to,
    flame.PadOp: _pad,
    flame.SliceOp: _slice,
    flame.ConcatOp: _concat,
    flame.Conv2dOp: _conv2d,
    flame.Conv2dWeightGradOp: _conv2d_weight_grad,
    flame.MaxPool2dOp: _max_pool2d,
    flame.AvgPool2dOp: _avg_pool2d,
    # indexed rows: each is the other's transpose (embedding's weight gradient is a scatter-add)
    flame.GatherRowsOp: _gather_rows,
    flame.ScatterAddRowsOp: _scatter_add_rows,
}
