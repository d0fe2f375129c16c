"""Custom differentiable functions: `pf.extend.AutogradFunction` (`torch.autograd.Function`).

    class CustomReLU(pf.extend.AutogradFunction):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return pf.maximum(input, 0)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            mask = input > 0
            return grad_output * mask

    y = CustomReLU.apply(x)        # lazy, like every op; pf.backward calls backward() above

`forward(ctx, *args)` runs under `no_grad` and builds the lazy result from PyFlame ops (it may
return one tensor or a tuple; non-tensor outputs pass through). When an input requires grad,
each tensor output is wrapped in an identity node (a same-shape `flame.reshape`, which costs no
data movement) that carries the function's gradient rule; `pf.backward` then calls
`backward(ctx, *grad_outputs)` once, with one gradient per output (zeros for an output that
does not reach the loss, unless `ctx.set_materialize_grads(False)`: then None), and routes the
returned gradients (one per `forward` argument; None for non-tensors and for inputs that need
no gradient) to the inputs. `backward` runs under `no_grad` too: its gradients are lazy nodes
of the same compiled program. A returned gradient may have a shape that broadcasts to its
input's (it is summed back, as in PyTorch) and is converted to the input's dtype.

Also as in PyTorch: `ctx.needs_input_grad` (one bool per `forward` argument), any attribute on
`ctx` (`ctx.alpha = alpha`), `ctx.mark_non_differentiable(*outputs)`, and the
`forward(*args)` + `setup_context(ctx, inputs, output)` style. Double backward
(`create_graph`) is not supported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyflame import ops
from pyflame.autograd import is_grad_enabled, no_grad
from pyflame.core.errors import ShapeError
from pyflame.lazy_tensor import Tensor, building_at, format_location, user_location
from pyflame.ops import saved

__all__ = ["AutogradFunction", "FunctionCtx"]


class FunctionCtx:
    """The `ctx` of `forward`/`backward`: saved tensors and whatever the user stores on it."""

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.needs_input_grad = needs_input_grad
        self._saved: tuple[Any, ...] = ()
        self._non_differentiable: set[int] = set()
        self.materialize_grads = True

    def save_for_backward(self, *tensors: Any) -> None:
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward can only save pf.Tensors (or None), got "
                    f"{type(t).__name__}; store other values as ctx attributes"
                )
        self._saved = tensors

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        return self._saved

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        self._non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)


class _OutputGrads:
    """The gradients of a function's outputs, gathered by the engine on the function node
    (the engine adds the contribution of each output: `+` merges them)."""

    shape: tuple[int, ...] = ()

    def __init__(self, grads: dict[int, Tensor]):
        self.grads = grads

    def __add__(self, other: _OutputGrads) -> _OutputGrads:
        merged = dict(self.grads)
        for i, g in other.grads.items():
            merged[i] = g if i not in merged else merged[i] + g
        return _OutputGrads(merged)


class _OutputRule:
    """Gradient rule of output `index`: hand its gradient to the function node."""

    def __init__(self, node: _FunctionNode, index: int):
        self.inputs = (node,)
        self.index = index

    def __call__(self, out: Tensor, g: Tensor) -> tuple[_OutputGrads]:
        return (_OutputGrads({self.index: g}),)


class _BackwardRule:
    """Gradient rule of the function node: call the user's backward once."""

    def __init__(self, node: _FunctionNode):
        self.node = node

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        return self.node.tensor_args

    def __call__(self, _node: Any, gathered: _OutputGrads) -> list[Tensor | None]:
        node = self.node
        ctx = node.ctx
        grad_outputs = []
        for i, out in enumerate(node.outputs):
            g = gathered.grads.get(i)
            if g is None and ctx.materialize_grads and isinstance(out, Tensor):
                g = ops.zeros_like(out)
            grad_outputs.append(g)
        with building_at(None):  # the user's code: its nodes at its own lines
            result = node.function.backward(ctx, *grad_outputs)
        if not isinstance(result, tuple):
            result = (result,)
        nargs = len(node.args)
        if len(result) > nargs and all(r is None for r in result[nargs:]):
            result = result[:nargs]
        if len(result) != nargs:
            raise RuntimeError(
                f"{node.op_name}: backward returned {len(result)} gradients, but "
                f"forward took {nargs} arguments (made at "
                f"{format_location(node.location)})"
            )
        grads: list[Tensor | None] = []
        for position, x in zip(node.tensor_positions, node.tensor_args, strict=True):
            gi = result[position]
            if gi is not None:
                gi = _check_grad(node, position, x, gi)
            grads.append(gi)
        return grads


def _check_grad(node: _FunctionNode, position: int, x: Tensor, g: Any) -> Tensor:
    where = f"{node.op_name} (made at {format_location(node.location)})"
    if not isinstance(g, Tensor):
        raise TypeError(
            f"{where}: backward returned a {type(g).__name__} as the gradient of "
            f"argument {position}; expected a pf.Tensor or None"
        )
    if g.shape != x.shape:
        try:
            fits = np.broadcast_shapes(g.shape, x.shape) == g.shape
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(
                f"{where}: backward returned a gradient of shape {list(g.shape)} "
                f"for argument {position} of shape {list(x.shape)}"
            )
    if x.dtype.is_floating_point and g.dtype is not x.dtype:
        g = g.astype(x.dtype)
    return g


class _FunctionNode:
    """One application of a function in the gradient graph: outputs -> this -> inputs.
    Never part of a compiled program (no op refers to it)."""

    requires_grad = True
    is_leaf = False
    _grad_node = True
    shape: tuple[int, ...] = ()

    @property
    def op_name(self) -> str:
        """`pf.extend.<the function's class name>`, for messages (`Tensor.op_name` is the flame
        op's name)."""
        return f"pf.extend.{self.function.__name__}"

    def __init__(
        self,
        function: type[AutogradFunction],
        ctx: FunctionCtx,
        args: tuple[Any, ...],
        outputs: tuple[Any, ...],
    ):
        self.function = function
        #: the node's op is the user's function class, as a Tensor's op is its flame op class
        self.op: type[AutogradFunction] = function
        self.ctx = ctx
        self.args = args
        self.tensor_positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        self.tensor_args = tuple(args[i] for i in self.tensor_positions)
        self.inputs: tuple[Tensor, ...] = ()
        self.outputs = outputs
        self.location = user_location()
        self._grad_fn = _BackwardRule(self)


class AutogradFunction:
    """Subclass with static `forward(ctx, *args)` and `backward(ctx, *grad_outputs)`; call
    `MyFunction.apply(*args)`."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Any:
        raise NotImplementedError("AutogradFunction subclasses must define forward()")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError(
            "AutogradFunction subclasses must define backward() to be differentiated"
        )

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple[Any, ...], output: Any) -> None:
        """Optional (PyTorch 2 style): with it, `forward` takes no ctx."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError(f"{cls.__name__}.apply takes positional arguments only (as in PyTorch)")
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        differentiable = is_grad_enabled() and any(needs)
        ctx = FunctionCtx(needs if is_grad_enabled() else (False,) * len(args))
        separate = cls.setup_context is not AutogradFunction.setup_context
        with no_grad():
            if separate:
                output = cls.forward(*args)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args)
        if not differentiable:
            return output
        single = not isinstance(output, tuple)
        outputs = (output,) if single else tuple(output)
        node = _FunctionNode(cls, ctx, args, outputs)
        node.__dict__["_torch_name"] = cls.__name__  # PyTorch's node name, for its errors
        # what ctx saved, at its versions: backward refuses one changed in place since
        saved.record(node, [t for t in ctx._saved if isinstance(t, Tensor)])
        wrapped = []
        for i, out in enumerate(outputs):
            if (
                not isinstance(out, Tensor)
                or id(out) in ctx._non_differentiable
                or not (out.dtype.is_floating_point)
            ):
                wrapped.append(out)
                continue
            with no_grad():  # an identity node (no data movement) that carries the rule
                identity = ops.reshape(out, out.shape)
            identity._requires_grad = identity._grad_node = True
            identity._grad_fn = _OutputRule(node, i)
            if not any(out is a for a in args):  # the user's output is the one ctx may save
                identity._version_counter = out._version_counter
            wrapped.append(identity)
        return wrapped[0] if single else tuple(wrapped)
