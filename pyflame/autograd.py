"""Reverse-mode automatic differentiation over the lazy graph.

`pf.backward(loss)` (or `loss.backward()`) walks the graph that produced `loss` back to the
leaves that require gradients and gives each one a fresh `.grad`: a lazy tensor, computed by
the next `pf.eval` in the same program as everything else (the guide's training loop calls
`backward`, then `optimizer.step()`, then `pf.eval(loss)`: one compiled program). The gradient
of each op is a rule in `pyflame.gradients.GRADIENTS`, written with PyFlame's own ops.

Unlike PyTorch, gradients are not accumulated across `backward` calls: each call writes fresh
ones (the guide's loop has no `zero_grad`). Evaluating a tensor that needs gradients
(`print(loss.item())` before `loss.backward()`) keeps the graph that made it, as PyTorch keeps
`grad_fn`: `backward` still reaches the leaves, and sees the values they had when the tensor was
built. As in PyTorch, a tensor an op saved for backward and changed in place since (by an
in-place op, or an optimizer step of a parameter) makes `backward` raise "one of the variables
needed for gradient computation has been modified by an inplace operation" (pyflame/ops/saved.py
keeps the versions; each node is checked before its rule runs). `detach()` is what stops
gradients.

    with pf.autograd.enable_grad():
        loss = ((x @ w) - y).relu().sum()
    pf.backward(loss)
    pf.eval(w.grad)
"""

from __future__ import annotations

import sys
import threading
import warnings
import weakref
from collections.abc import Sequence
from typing import Any, cast

from pyflame import ops, tensor_methods
from pyflame.grad_mode import (
    GradMode,
    enable_grad,
    is_grad_enabled,
    no_grad,
    requires_grad_of,
    set_grad_enabled,
)
from pyflame.gradients import GRADIENTS, unbroadcast
from pyflame.lazy_tensor import Tensor, building_at, format_location, user_location, user_stacklevel
from pyflame.ops import saved

__all__ = [
    "backward",
    "custom_rule",
    "enable_grad",
    "grad",
    "is_grad_enabled",
    "no_grad",
    "requires_grad_of",
    "set_grad_enabled",
]


def custom_rule(node: Tensor) -> Any:
    """The node's own gradient function, if it has one (`pf.extend.AutogradFunction`): an
    object with `inputs` (where its gradients go, in place of `node.inputs`) that is called
    as a rule, `fn(node, g)` -> one gradient per `fn.inputs`. Evaluated tensors have none."""
    return node.__dict__.get("_grad_fn") if node._grad_node else None


def _rule_and_edges(node: Tensor) -> tuple[Any, tuple[Tensor, ...]]:
    """A node that has a gradient rule (`node._grad_node`): its own gradient function, if it
    has one (`custom_rule`), and where its gradients go (`_edges`)."""
    fn = node.__dict__.get("_grad_fn")
    return fn, (node.inputs if fn is None else fn.inputs)


def _edges(node: Tensor) -> tuple[Tensor, ...]:
    return _rule_and_edges(node)[1] if node._grad_node else ()


def _as_computed(node: Tensor) -> Tensor:
    """The node as its rule must see it: with the values its op read (a parameter's value from
    before, or after, an optimizer step; see `Tensor.value_inputs`), while gradients still go to
    `node.inputs`."""
    if not getattr(node, "_reads", None):  # (a pf.extend function node has none)
        return node
    proxy = object.__new__(type(node))
    proxy.__dict__.update(node.__dict__)
    proxy.inputs = node.value_inputs()
    proxy._reads = None
    return proxy


def _topological(root: Tensor) -> list[Tensor]:
    """Nodes that lead to `root` and need gradients, inputs before users (iterative).

    A depth-first walk: a node's edges are pushed once, and it is placed when it is met
    again on top of the stack. The order decides the order in which gradients are summed,
    so the graphs `backward` builds."""
    order: list[Tensor] = []
    placed: set[int] = set()
    expanded: set[int] = set()
    if not root.requires_grad:
        return order
    stack = [root]
    while stack:
        node = stack[-1]
        key = id(node)
        if key in placed:
            stack.pop()
            continue
        if key not in expanded:
            expanded.add(key)
            if node._grad_node:  # (a leaf has no edges)
                pushed = False
                for t in _rule_and_edges(node)[
                    1
                ]:  # (the last edge is explored first, as it always was)
                    if id(t) not in placed and t.requires_grad:
                        stack.append(t)
                        pushed = True
                if pushed:
                    continue
        stack.pop()
        placed.add(key)
        order.append(node)
    return order


def backward(
    tensor: Tensor,
    gradient: Tensor | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Sequence[Tensor] | None = None,
) -> None:
    """Give every leaf that requires gradients and leads to `tensor` a fresh `.grad`.

    As in PyTorch: `gradient` for a non-scalar tensor; `create_graph=True` records the gradient
    computation itself, so gradients can be differentiated again; `inputs` limits which leaves
    get a `.grad` (a non-leaf in it gets one too); a non-leaf that called `retain_grad()` gets
    the gradient that reaches it. `retain_graph` is accepted and changes nothing: graphs are
    lazy and kept."""
    del retain_graph
    if not tensor.requires_grad:
        raise RuntimeError(
            "backward: the tensor does not require grad (no input had requires_grad=True, or "
            "it was built under no_grad() or from detach())"
        )
    where = user_location()  # (one stack walk: every node built here is made at this line)
    if gradient is None:
        if tensor.numel() != 1:
            raise RuntimeError(
                f"backward needs a gradient for a non-scalar tensor of shape {list(tensor.shape)}"
            )
        with building_at(where):
            gradient = ops.ones_like(tensor)
    elif not hasattr(gradient, "shape") or tuple(gradient.shape) != tensor.shape:
        raise RuntimeError(
            f"backward: gradient of shape {list(getattr(gradient, 'shape', ()))} for a tensor of "
            f"shape {list(tensor.shape)} (they must match)"
        )
    wanted = None if inputs is None else {id(t) for t in inputs}
    order = _topological(tensor)
    if inputs is None:
        _forget_applied_gradients({id(t) for t in order if not t._grad_node})  # (the leaves)
    # with `inputs`, only the nodes on a path to one of them run (as PyTorch's engine): a
    # retained tensor below them gets no gradient, and nothing below is computed
    needed = None if wanted is None else _leading_to(order, wanted)
    grads: dict[int, Tensor] = {id(tensor): gradient}
    replaced = 0  # leaves whose gradient nothing read before this call replaced it
    with GradMode(create_graph), building_at(where):
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None or (needed is not None and id(node) not in needed):
                continue
            if not node._grad_node:  # a leaf: fresh gradient, as the guide's loop expects
                if wanted is None or id(node) in wanted:
                    replaced += _write_grad(node, g)
                continue
            # retain_grad(), or a non-leaf in `inputs` (a pf.extend function node is neither)
            if getattr(node, "_retains_grad", False) or (wanted is not None and id(node) in wanted):
                replaced += _write_grad(node, g)
            fn, edges = _rule_and_edges(node)
            rule = fn or (GRADIENTS.get(node.op) if node.op is not None else None)
            if rule is None:
                raise NotImplementedError(
                    f"no gradient rule for {node.op_name} (made at "
                    f"{node.location[0]}:{node.location[1]})"
                )
            saved.check(node)  # PyTorch's error when a tensor it saved was changed in place
            computed = _as_computed(node)
            # (the rule may skip gradients nothing uses: gradients.wanted)
            if len(edges) == 1:  # (no list to build for most nodes)
                flags: tuple[bool, ...] = (edges[0].requires_grad,)
            else:
                flags = tuple([t.requires_grad for t in edges])
            computed.__dict__["_grads_wanted"] = flags
            try:
                input_grads = rule(computed, g)
            finally:
                del computed.__dict__["_grads_wanted"]
            for inp, gi in zip(edges, input_grads, strict=True):
                if gi is None or not inp.requires_grad:
                    continue
                shape = inp.shape
                if gi.shape != shape:  # (the common case needs no call)
                    gi = unbroadcast(gi, shape)
                prev = grads.get(id(inp))
                grads[id(inp)] = gi if prev is None else prev + gi
    if replaced:
        _warn_replaced(replaced)


def _write_grad(node: Tensor, g: Tensor) -> bool:
    """Give `node` the fresh `.grad` g (in its dtype); True when it replaces one that nothing
    read (for the warning of `_warn_replaced`)."""
    replaced = node._grad_unread
    node.grad = g if g.dtype is node.dtype else g.astype(node.dtype)
    node._grad_unread = True
    return replaced


def _leading_to(order: list[Tensor], wanted: set[int]) -> set[int]:
    """ids of the nodes of `order` (inputs before users) from which a node of `wanted` is
    reached through gradient edges, `wanted` included."""
    needed: set[int] = set()
    for node in order:
        if id(node) in wanted or any(id(t) in needed for t in _edges(node)):
            needed.add(id(node))
    return needed


class _Applied(threading.local):
    """Per thread (as pending updates are): each optimizer step's record of the gradients it
    applied, `[(the leaves weakly, each one's applied .grad), ...]`, one entry per step, until
    a backward reaches one of its leaves (weak: a dropped model is not kept alive)."""

    def __init__(self) -> None:
        #: keyed by the leaves' ids: a step of the same parameters again replaces its record
        self.steps: dict[tuple[int, ...], list[tuple[weakref.ref[Tensor], Tensor]]] = {}


_applied = _Applied()


def gradients_applied(params: Sequence[Tensor]) -> None:
    """An optimizer step used these leaves' `.grad` (Optimizer.step). The next backward that
    reaches any of them clears them all first, so the gradients after it are that backward's
    alone: a parameter of that optimizer its loss does not reach has no `.grad` and the next
    step skips it, as after PyTorch's `zero_grad()` (the guide's loop has none), instead of
    applying the old gradient again. A backward of another model (reaching none of them)
    leaves them, as PyTorch does."""
    stepped = [p for p in params if p._grad is not None]
    if stepped:
        key = tuple(id(p) for p in stepped)
        _applied.steps[key] = [(weakref.ref(p), cast(Tensor, p._grad)) for p in stepped]


def _forget_applied_gradients(leaves: set[int]) -> None:
    """Clear the gradients each step applied whose leaves this backward (of `leaves`, ids)
    reaches in part (those the user has not replaced since); keep the other steps' records."""
    keep = {}
    for key, record in _applied.steps.items():
        alive = [(ref(), g) for ref, g in record]
        if not any(leaf is not None and id(leaf) in leaves for leaf, _ in alive):
            keep[key] = record
            continue
        for leaf, applied in alive:
            if leaf is not None and leaf._grad is applied:
                leaf._grad = None
                leaf._grad_unread = False
    _applied.steps = keep


def _warn_replaced(count: int) -> None:
    """A second backward replaced gradients nothing had read (no optimizer step, no
    zero_grad, no `.grad`): PyTorch would have summed them. Said once per line of the user's
    (warnings' default filter), never silently different from PyTorch."""
    warnings.warn(
        f"backward replaced the .grad of {count} tensor{'s' * (count > 1)} that an earlier "
        "backward wrote and nothing read (no optimizer.step(), zero_grad() or .grad since): "
        "PyFlame writes fresh gradients at every backward (the guide's training loop has no "
        "zero_grad), where PyTorch would add them up. To accumulate gradients over "
        "micro-batches, add their losses and call backward once.",
        UserWarning,
        stacklevel=user_stacklevel(),
    )


def grad(
    outputs: Tensor,
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Tensor | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    *,
    materialize_grads: bool = False,
) -> list[Tensor | None]:
    """Gradients of `outputs` with respect to `inputs` (their `.grad` is left alone), as
    `torch.autograd.grad`; `create_graph=True` makes them differentiable again. An input the
    outputs do not depend on is PyTorch's RuntimeError, unless `allow_unused=True` (its
    gradient is None) or `materialize_grads=True` (zeros of its shape)."""
    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, but "
            "got: allow_unused=False."
        )
    wrt = inputs if isinstance(inputs, (list, tuple)) else [cast(Tensor, inputs)]
    saved = [(t, t._grad) for t in wrt]  # (._grad: a non-leaf's reads warn)
    try:
        for t in wrt:  # (a non-leaf input gets its gradient as one in backward's `inputs`)
            t.grad = None
        backward(outputs, grad_outputs, retain_graph, create_graph, wrt)
        grads = [t._grad for t in wrt]
    finally:
        for t, g in saved:
            t.grad = g
    for i, (t, g) in enumerate(zip(wrt, grads, strict=True)):
        if g is not None:
            continue
        if materialize_grads:
            grads[i] = ops.zeros_like(t)
        elif not allow_unused:
            raise RuntimeError(
                f"{format_location(user_location())}: The differentiated Tensor at index {i} "
                "appears to not have been used in the graph. Set allow_unused=True if this is "
                "the desired behavior."
            )
    return grads


tensor_methods.bind("autograd", sys.modules[__name__])  # `x.backward()` calls `backward` above
