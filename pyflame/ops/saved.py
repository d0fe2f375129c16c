"""What each op saves for backward, as PyTorch saves it, and PyTorch's check at backward that no
in-place op changed a saved tensor since.

PyFlame's graph is functional (an in-place op makes a new node; the old value stays in the graph,
pyflame/inplace.py), so it could always compute a gradient. PyTorch cannot: its ops save tensors
(exp its result, mul each input when the other needs a gradient, add nothing) and `backward`
raises "one of the variables needed for gradient computation has been modified by an inplace
operation" when a saved tensor's version counter (`Tensor._version_counter`, shared by a tensor
and its views) moved. PyFlame raises the same error at the same places:

- every op records on its result node (`_saved`, a value field) the tensors PyTorch's op saves,
  each with the version it had (`Saved`); which ones, per op, was found by experiment with
  PyTorch (tests/unit/test_inplace.py sweeps them against torch);
- a user-level op made of several flame ops (`composite`: layer_norm, linear, a 1-D matmul,
  clamp...) records what PyTorch's op saves on its result, and its inner nodes record nothing
  (their inputs are often the user's tensors, which PyTorch's op does not always save);
- an in-place op bumps the counter (pyflame/inplace.py), and its own input is saved as the value
  before the op (`original_value`): PyTorch keeps that one, so only the other saves can go stale;
- `backward` calls `check` on every node whose rule it applies.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

from pyflame.core.dtypes import DType
from pyflame.dialects import flame
from pyflame.lazy_tensor import Tensor, VersionCounter, format_location

F = TypeVar("F", bound=Callable[..., Any])


#: One saved tensor, a plain tuple (every op of a training step makes one or two, so saving
#: must cost next to nothing): its storage's counter and the version it had; then, for an input
#: (None for the node's own result), a weak reference to it and its dtype, shape and maker when
#: saved. PyTorch's error names the tensor (`[torch.FloatTensor [3, 4]], which is output 0 of
#: Exp,`) as it is when backward finds it changed (`Add` after `a.add_(1)`), so the text is
#: made then (`_saved_text`), from what was saved only once the user dropped the tensor.
Saved = tuple[VersionCounter, int, Any, Any, Any, Any]


def _saved_text(s: Saved, node: Any) -> str:
    counter, version, ref, dtype, shape, maker = s
    if ref is None:  # the node's own result
        return describe(node)
    t = ref()
    return _describe(dtype, shape, maker) if t is None else describe(t)


_TORCH_TYPES = {"float32": "Float", "float16": "Half", "bfloat16": "BFloat16", "int32": "Int"}

#: PyTorch's name of the autograd node (`ExpBackward0` without `Backward0`) of a flame op's
#: result, for "which is output 0 of Exp"; a composite's result carries its own (`_torch_name`)
_TORCH_NAMES: dict[type[flame.FlameOp], str] = {
    flame.ConvertOp: "ToCopy",
    flame.ReduceSumOp: "Sum",
    flame.ReduceMeanOp: "Mean",
    flame.ReduceProdOp: "Prod",
    flame.ReduceMaxOp: "Amax",
    flame.ReduceMinOp: "Amin",
    flame.MatmulOp: "Mm",
    flame.TransposeOp: "Transpose",
    flame.ReshapeOp: "View",
    flame.BroadcastToOp: "Expand",
    flame.ConcatOp: "Cat",
    flame.PadOp: "ConstantPadNd",
    flame.Conv2dOp: "Convolution",
    flame.MaxPool2dOp: "MaxPool2DWithIndices",
    flame.AvgPool2dOp: "AvgPool2D",
    flame.GatherRowsOp: "Embedding",
}


def _maker(t: Any) -> Any:
    """What made a non-leaf (its PyTorch name if it has one, else its op class); None for a
    leaf."""
    if not t._grad_node:
        return None
    return t.__dict__.get("_torch_name") or t.op


def _name_of(maker: Any) -> str:
    if isinstance(maker, str):
        return maker
    if maker is None:
        return "Unknown"
    return _TORCH_NAMES.get(maker) or maker.name.removeprefix("flame.").title().replace("_", "")


def torch_name(t: Any) -> str:
    """PyTorch's name of the node that made `t` (`Exp` for exp's result)."""
    return _name_of(t.__dict__.get("_torch_name") or t.op)


def _describe(dtype: DType, shape: tuple[int, ...], maker: Any) -> str:
    what = f"[torch.{_TORCH_TYPES.get(dtype.name, 'Bool')}Tensor {list(shape)}]"
    return what if maker is None else f"{what}, which is output 0 of {_name_of(maker)},"


def describe(t: Any) -> str:
    """`[torch.FloatTensor [3, 4]]`, and `, which is output 0 of Exp,` for a non-leaf."""
    return _describe(t.dtype, t.shape, _maker(t))


def record(node: Any, tensors: Sequence[Tensor | None]) -> None:
    """`node`'s op saved `tensors` (None: not saved) at their current versions, in the order
    PyTorch's backward unpacks them (the first changed one is the one its error names).
    `node`: a Tensor, or a pf.extend function's node (which saves what `ctx` saved)."""
    saved: list[Saved] = []
    for t in tensors:
        if t is None:
            continue
        counter = t._version_counter
        if t is node:
            saved.append((counter, counter.value, None, None, None, None))
        else:
            maker = (t.__dict__.get("_torch_name") or t.op) if t._grad_node else None
            saved.append((counter, counter.value, weakref.ref(t), t.dtype, t.shape, maker))
    if saved:
        node.__dict__["_saved"] = (*saved, *node.__dict__.get("_saved", ()))


def check(node: Tensor) -> None:
    """PyTorch's error when a tensor `node`'s op saved was changed in place since (backward
    calls it on each node whose gradient it computes)."""
    for s in node.__dict__.get("_saved", ()):
        counter, version = s[0], s[1]
        now = counter.value
        if now == version:
            continue
        made_at = counter.made_at(version + 1)
        where = format_location(made_at) if made_at else "<an earlier line>"
        raise RuntimeError(
            f"{where}: one of the variables needed for gradient computation has been modified "
            f"by an inplace operation: {_saved_text(s, node)} is at version {now}; expected "
            f"version {version} instead. The in-place operation at {where} changed a tensor that "
            f"{torch_name(node)} at {format_location(node.location)} saved for backward: "
            "clone() the tensor before changing it in place, or make the change out of "
            "place (`y = y + 1`)."
        )


def restamp(node: Tensor, made: VersionCounter, target: Tensor, version: int) -> None:
    """The result of an in-place op (`exp_` saves it) is `target` at `version`: its saves of
    itself (`made`, the counter of the node before it became target's value) move there."""
    saved = node.__dict__.get("_saved")
    if saved:
        counter = target._version_counter
        node.__dict__["_saved"] = tuple(
            (counter, version, None, None, None, None) if s[0] is made else s for s in saved
        )


# --------------------------------------------------------------------------- composites


_state = threading.local()


def _inside() -> bool:
    try:
        return _state.depth > 0
    except AttributeError:  # a thread's first op
        _state.depth = 0
        return False


def _is_argument(out: Tensor, args: tuple[Any, ...]) -> bool:
    for a in args:
        if out is a:
            return True
    return False


def composite(saves: Callable[..., Sequence[Tensor | None]], name: str | None = None) -> Any:
    """Decorator of a user-level op built from several flame ops: its inner nodes record
    nothing, and its result records `saves(result, *args, **kwargs)` (PyTorch's saved
    tensors of this op) and PyTorch's node `name`. A composite inside another is inner."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if _inside():
                return fn(*args, **kwargs)
            _state.depth += 1  # (its inner nodes are inside; no generator's context manager)
            try:
                out = fn(*args, **kwargs)
            finally:
                _state.depth -= 1
            if isinstance(out, Tensor) and out._grad_node and not _is_argument(out, args):
                record(out, saves(out, *args, **kwargs))
                if name is not None:
                    out.__dict__["_torch_name"] = name
            return out

        return cast(F, wrapper)

    return decorate


@contextlib.contextmanager
def original_value(t: Tensor) -> Iterator[None]:
    """While an in-place op builds t's new value, what it saves of t is t before the op, which
    PyTorch keeps for it (so it never goes stale): a throwaway counter stands in for t's."""
    real = t._version_counter
    t._version_counter = VersionCounter()
    try:
        yield
    finally:
        t._version_counter = real


# --------------------------------------------------------------------------- flame ops


def _needs(t: Tensor) -> bool:
    return t.requires_grad


def is_python_number(t: Tensor) -> bool:
    """A Python number made into a rank-0 constant operand (`x * 2`, `x ** 2`: PyTorch's
    Scalar overloads), not a rank-0 tensor the user made (`pf.zeros([])`, `pf.tensor(2.0)`:
    its Tensor overloads). `ops.elementwise` marks the constants it makes."""
    return t.__dict__.get("_python_number", False)


def _pow(out: Tensor, a: Tensor, b: Tensor) -> Sequence[Tensor | None]:
    if is_python_number(b):  # pow(Tensor, Scalar) saves self
        return (a,)
    if is_python_number(a):  # pow(Scalar, Tensor) saves the exponent and the result
        return (b, out)
    return (b, a, out)


def each_if_other(out: Tensor, a: Tensor, b: Tensor) -> Sequence[Tensor | None]:
    """mul, matmul: each operand when the other one needs a gradient (PyTorch unpacks the
    second operand first)."""
    return (b if _needs(a) else None, a if _needs(b) else None)


def _result(out: Tensor, *inputs: Tensor) -> Sequence[Tensor | None]:
    return (out,)


def _first(out: Tensor, *inputs: Tensor) -> Sequence[Tensor | None]:
    return (inputs[0],)


def _first_and_result(out: Tensor, *inputs: Tensor) -> Sequence[Tensor | None]:
    return (inputs[0], out)


def _second_then_first(out: Tensor, a: Tensor, b: Tensor) -> Sequence[Tensor | None]:
    return (b, a)


#: what PyTorch's op of each flame op saves (found by experiment, torch 2.13); ops absent
#: save nothing (add, sub, neg, floor, round, sign, sums and means, shape ops, convert)
FLAME_SAVES: dict[type[flame.FlameOp], Callable[..., Sequence[Tensor | None]]] = {
    flame.ExpOp: _result,
    flame.ReluOp: _result,
    flame.SqrtOp: _result,
    flame.RsqrtOp: _result,
    flame.TanhOp: _result,
    flame.SigmoidOp: _result,
    flame.Expm1Op: _result,
    flame.SoftmaxOp: _result,
    flame.LogSoftmaxOp: _result,
    flame.LogOp: _first,
    flame.AbsOp: _first,
    flame.GeluOp: _first,
    flame.SiluOp: _first,
    flame.SinOp: _first,
    flame.CosOp: _first,
    flame.ErfOp: _first,
    flame.Log1pOp: _first,
    flame.Log2Op: _first,
    flame.Log10Op: _first,
    flame.AsinOp: _first,
    flame.AcosOp: _first,
    flame.AtanOp: _first,
    flame.SinhOp: _first,
    flame.CoshOp: _first,
    flame.AsinhOp: _first,
    flame.AcoshOp: _first,
    flame.AtanhOp: _first,
    flame.ErfinvOp: _first,
    flame.Exp2Op: _result,
    flame.TanOp: _result,
    flame.Atan2Op: lambda out, a, b: (a, b),
    flame.HypotOp: lambda out, a, b: (a, b, out),
    flame.VarOp: _first,
    flame.AvgPool2dOp: _first,
    flame.MaxPool2dOp: _first,
    flame.ReduceMaxOp: _first_and_result,
    flame.ReduceMinOp: _first_and_result,
    flame.ReduceProdOp: _first_and_result,
    flame.LogsumexpOp: _first_and_result,
    flame.StdOp: _first_and_result,
    flame.MulOp: each_if_other,
    flame.MatmulOp: each_if_other,
    flame.DivOp: lambda out, a, b: (b, a if _needs(b) else None),
    flame.PowOp: _pow,
    flame.MaximumOp: _second_then_first,
    flame.MinimumOp: _second_then_first,
    flame.Conv2dOp: lambda out, x, w, *bias: (x, w),
    flame.Conv2dWeightGradOp: lambda out, x, dy: (x, dy),
    flame.WhereOp: _first,  # the condition
    # both operands, when the divisor needs a gradient (a tensor divisor: Backward1)
    flame.RemainderOp: lambda out, a, b: (a, b) if _needs(b) and not is_python_number(b) else (),
    flame.FmodOp: lambda out, a, b: (a, b) if _needs(b) and not is_python_number(b) else (),
}


def record_flame_op(out: Tensor) -> None:
    """`_node` calls it on each node it makes: a flame op called directly (not inside a
    composite) saves what PyTorch's op saves."""
    if not out._grad_node or out.op is None or _inside():
        return
    saves = FLAME_SAVES.get(out.op)
    if saves is not None:
        record(out, saves(out, *out.inputs))


__all__ = [
    "FLAME_SAVES",
    "Saved",
    "check",
    "composite",
    "describe",
    "original_value",
    "record",
    "record_flame_op",
    "restamp",
    "torch_name",
]
