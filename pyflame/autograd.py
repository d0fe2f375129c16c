"""Reverse-mode automatic differentiation over the lazy graph.

`pf.backward(loss)` (or `loss.backward()`) walks the graph that produced `loss` back to the
leaves that require gradients and gives each one a fresh `.grad`: a lazy tensor, computed by
the next `pf.eval` in the same program as everything else (the guide's training loop calls
`backward`, then `optimizer.step()`, then `pf.eval(loss)`: one compiled program). The gradient
of each op is a rule in `pyflame.gradients.GRADIENTS`, written with PyFlame's own ops.

Unlike PyTorch, gradients are not accumulated across `backward` calls: each call writes fresh
ones (the guide's loop has no `zero_grad`). A tensor that was evaluated has dropped its graph,
so gradients stop there (it is a constant from then on), as after `detach()` in PyTorch.

    with pf.autograd.enable_grad():
        loss = ((x @ w) - y).relu().sum()
    pf.backward(loss)
    pf.eval(w.grad)
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the op builders import this module: no runtime import of tensor here
    from pyflame.tensor import Tensor

_enabled: list[bool] = [True]


def is_grad_enabled() -> bool:
    """Whether new ops record that they need gradients (on by default, as in PyTorch)."""
    return _enabled[-1]


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self) -> None:
        _enabled.append(self.enabled)

    def __exit__(self, *exc: object) -> None:
        _enabled.pop()


def enable_grad() -> _GradMode:
    """`with pf.autograd.enable_grad():` (or as a decorator): ops record gradients."""
    return _GradMode(True)


def no_grad() -> _GradMode:
    """`with pf.autograd.no_grad():`: ops build no gradient graph (inference, updates)."""
    return _GradMode(False)


def set_grad_enabled(mode: bool) -> _GradMode:
    return _GradMode(mode)


def requires_grad_of(inputs: tuple[Tensor, ...]) -> bool:
    """Whether an op on `inputs` needs a gradient (asked by every op builder)."""
    return _enabled[-1] and any(t.requires_grad for t in inputs)


def custom_rule(node: Tensor) -> Any:
    """The node's own gradient function, if it has one (`pf.extend.AutogradFunction`): an
    object with `inputs` (where its gradients go, in place of `node.inputs`) that is called
    as a rule, `fn(node, g)` -> one gradient per `fn.inputs`. Evaluated tensors have none."""
    return node.__dict__.get("_grad_fn") if node.op is not None else None


def _edges(node: Tensor) -> tuple[Tensor, ...]:
    fn = custom_rule(node)
    return node.inputs if fn is None else fn.inputs


def _topological(root: Tensor) -> list[Tensor]:
    """Nodes that lead to `root` and need gradients, inputs before users (iterative)."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen or not node.requires_grad:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for t in _edges(node):
            if t.requires_grad and id(t) not in seen:
                stack.append((t, False))
    return order


def backward(tensor: Tensor, gradient: Tensor | None = None) -> None:
    """Give every leaf that requires gradients and leads to `tensor` a fresh `.grad`."""
    from pyflame import ops
    from pyflame.gradients import GRADIENTS, unbroadcast

    if not tensor.requires_grad:
        raise RuntimeError(
            "backward: the tensor does not require grad (no input had requires_grad=True, it "
            "was built under no_grad(), or it was evaluated before backward dropped its graph)"
        )
    if gradient is None:
        if tensor.numel() != 1:
            raise RuntimeError(
                f"backward needs a gradient for a non-scalar tensor of shape {list(tensor.shape)}"
            )
        gradient = ops.ones_like(tensor)
    grads: dict[int, Tensor] = {id(tensor): gradient}
    with no_grad():
        for node in reversed(_topological(tensor)):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node.op is None:  # a leaf: fresh gradient, as the guide's loop expects
                node.grad = g if g.dtype is node.dtype else g.astype(node.dtype)
                continue
            rule = custom_rule(node) or GRADIENTS.get(node.op)
            if rule is None:
                raise NotImplementedError(f"no gradient rule for {node.op} (made at "
                                          f"{node.location[0]}:{node.location[1]})")
            for inp, gi in zip(_edges(node), rule(node, g), strict=True):
                if gi is None or not inp.requires_grad:
                    continue
                gi = unbroadcast(gi, inp.shape)
                prev = grads.get(id(inp))
                grads[id(inp)] = gi if prev is None else prev + gi


def grad(outputs: Tensor, inputs: list[Tensor]) -> list[Tensor | None]:
    """Gradients of scalar `outputs` with respect to `inputs` (their `.grad` is left alone)."""
    saved = [(t, t.grad) for t in inputs]
    leaves = [t for t in inputs if t.op is None]
    try:
        for t in leaves:
            t.grad = None
        backward(outputs)
        return [t.grad for t in inputs]
    finally:
        for t, g in saved:
            t.grad = g
