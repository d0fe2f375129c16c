"""The gradient of every differentiable flame op, one rule per op in `GRADIENTS`.

A rule gets the node (its op, inputs, attrs and shape) and the gradient of its output, and
returns one gradient per input (None where no gradient flows), written with PyFlame's own ops,
so gradients are lazy graph nodes that compile with the rest of the program. A gradient whose
shape differs from its input because the op broadcast (a rank-0 scalar operand) is summed back
by the engine (`unbroadcast`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from pyflame import ops
from pyflame.tensor import Tensor

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


def _gelu_grad(x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    cdf = (ops.gelu(x) / x).where(x != 0, 0.5)  # Phi(x) = gelu(x) / x
    pdf = ops.exp(x * x * -0.5) * (1 / math.sqrt(2 * math.pi))
    return g * (cdf + x * pdf)


def _silu_grad(x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    s = ops.sigmoid(x)
    return g * (s + x * s * (1 - s))


def _sub(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    return (g, -g)


def _mul(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    a, b = node.inputs
    return (g * b, g * a)


def _div(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    a, b = node.inputs
    return (g / b, -g * a / (b * b))


def _pow(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    a, b = node.inputs
    ga = g * b * ops.pow(a, b - 1)
    gb = g * node * ops.log(a) if b.requires_grad else None
    return (ga, gb)


def _extreme(pick_lhs: Callable[[Tensor, Tensor], Tensor]) -> Rule:
    def rule(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        a, b = node.inputs
        take_a = pick_lhs(a, b)
        tie = (a == b).astype(g.dtype) * 0.5  # PyTorch splits the gradient of ties evenly
        wa = take_a.astype(g.dtype) * (1 - tie * 2) + tie
        return (g * wa, g * (1 - wa))

    return rule


def _where(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    c = node.inputs[0]
    zero = ops.zeros_like(g)
    return (None, ops.where(c, g, zero), ops.where(c, zero, g))


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
    x = node.inputs[0]
    return (ops.broadcast_to(_keep(node, g * node), x.shape) / x,)


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
    per = ops.broadcast_to(_keep(node, g / node), x.shape) * (1.0 / dof if dof else math.nan)
    return (per * centered,)


def _logsumexp(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    x = node.inputs[0]
    return (ops.broadcast_to(_keep(node, g), x.shape)
            * ops.exp(x - ops.broadcast_to(_keep(node, node), x.shape)),)


def _softmax(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    d = node.attrs["dim"]
    return (node * (g - (g * node).sum(dim=d, keepdim=True)),)


def _log_softmax(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    d = node.attrs["dim"]
    return (g - ops.exp(node) * g.sum(dim=d, keepdim=True),)


# ----------------------------------------------------------------- linear algebra and shape


def _matmul(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    a, b = node.inputs
    ga = g @ b.transpose(-2, -1) if a.requires_grad else None
    gb = a.transpose(-2, -1) @ g if b.requires_grad else None
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
    low, x = node.attrs["low"], node.inputs[0]
    key = tuple(slice(lo, lo + n) for lo, n in zip(low, x.shape, strict=True))
    return (g[key],)


def _slice(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    """Scatter `g` back into zeros: spread each strided dim with padding, then pad the ends."""
    x = node.inputs[0]
    start, step = node.attrs["start"], node.attrs["step"]
    out = g
    for d, (n, s0, st) in enumerate(zip(x.shape, start, step, strict=True)):
        m = out.shape[d]
        if m == 0:
            return (ops.zeros(x.shape, dtype=g.dtype),)
        if st != 1:  # [.., m, ..] -> [.., m, st, ..] with zeros -> [.., m * st, ..]
            out = out.unsqueeze(d + 1)
            pad = [0, 0] * (out.ndim - d - 2) + [0, st - 1]
            out = ops.pad(out, pad).reshape(*out.shape[:d], m * st, *out.shape[d + 2:])
            out = out.narrow(d, 0, (m - 1) * st + 1)
        span = out.shape[d]
        pad = [0, 0] * (out.ndim - d - 1) + [s0, n - s0 - span]
        out = ops.pad(out, pad)
    return (out,)


def _concat(node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
    d = node.attrs["dim"]
    out, start = [], 0
    for t in node.inputs:
        out.append(g.narrow(d, start, t.shape[d]))
        start += t.shape[d]
    return out


GRADIENTS: dict[str, Rule] = {
    "flame.add": lambda node, g: (g, g),
    "flame.sub": _sub,
    "flame.mul": _mul,
    "flame.div": _div,
    "flame.pow": _pow,
    "flame.maximum": _extreme(lambda a, b: a > b),
    "flame.minimum": _extreme(lambda a, b: a < b),
    "flame.neg": _unary(lambda x, y, g: -g),
    "flame.abs": _unary(lambda x, y, g: g * ((x > 0).astype(g.dtype) - (x < 0).astype(g.dtype))),
    "flame.relu": _unary(lambda x, y, g: g * (x > 0).astype(g.dtype)),
    "flame.exp": _unary(lambda x, y, g: g * y),
    "flame.log": _unary(lambda x, y, g: g / x),
    "flame.sqrt": _unary(lambda x, y, g: g * 0.5 / y),
    "flame.rsqrt": _unary(lambda x, y, g: g * -0.5 * y * y * y),
    "flame.tanh": _unary(lambda x, y, g: g * (1 - y * y)),
    "flame.sigmoid": _unary(lambda x, y, g: g * y * (1 - y)),
    "flame.gelu": _unary(lambda x, y, g: _gelu_grad(x, y, g)),
    "flame.silu": _unary(lambda x, y, g: _silu_grad(x, y, g)),
    "flame.where": _where,
    "flame.convert": _convert,
    "flame.reduce_sum": _sum,
    "flame.reduce_mean": _mean,
    "flame.reduce_max": _amax,
    "flame.reduce_min": _amax,
    "flame.reduce_prod": _prod,
    "flame.var": _var,
    "flame.std": _std,
    "flame.logsumexp": _logsumexp,
    "flame.softmax": _softmax,
    "flame.log_softmax": _log_softmax,
    "flame.matmul": _matmul,
    "flame.transpose": _transpose,
    "flame.reshape": _reshape,
    "flame.broadcast_to": _broadcast_to,
    "flame.pad": _pad,
    "flame.slice": _slice,
    "flame.concat": _concat,
}

#: ops through which no gradient flows (their results do not require grad)
NOT_DIFFERENTIABLE = frozenset({
    "flame.fill", "flame.random_normal", "flame.random_uniform", "flame.iota", "flame.eq",
    "flame.ne", "flame.lt", "flame.le", "flame.gt", "flame.ge", "flame.logical_and",
    "flame.logical_or", "flame.logical_not", "flame.argmax", "flame.argmin",
})
