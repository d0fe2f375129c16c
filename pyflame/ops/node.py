"""What every op builder shares: making the graph node, and checking arguments at the user's line.

`_node` makes the lazy `Tensor` of one flame op: it refuses a negative size, marks the result as
needing gradients when an input does (unless the op is in `NOT_DIFFERENTIABLE`) and records
which inputs have a pending update (`Tensor._reads`); every input remembers the result as a user
(`Tensor._users`, weakly: an in-place op on the input redirects them to its old value). The other
helpers turn a bad argument into `pf.ShapeError` / `TypeError` naming the user's `file:line`.
"""

from __future__ import annotations

import builtins
import functools
import math
import numbers
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from pyflame.core.dtypes import DType, bool_
from pyflame.core.errors import IntegerOverflowError, ShapeError
from pyflame.devices import is_device
from pyflame.dialects import flame
from pyflame.grad_mode import _state as _grad_state
from pyflame.layout import MeshLayout
from pyflame.lazy_tensor import (
    Location,
    Tensor,
    _override,
    drop_dead,
    format_location,
    new_node,
    user_location,
)
from pyflame.ops.saved import FLAME_SAVES, record_flame_op

T = TypeVar("T")

#: ops through which no gradient flows (their results do not require grad)
NOT_DIFFERENTIABLE: frozenset[type[flame.FlameOp]] = frozenset(
    {
        flame.FillOp,
        flame.RandomNormalOp,
        flame.RandomUniformOp,
        flame.IotaOp,
        flame.EqOp,
        flame.NeOp,
        flame.LtOp,
        flame.LeOp,
        flame.GtOp,
        flame.GeOp,
        flame.LogicalAndOp,
        flame.LogicalOrOp,
        flame.LogicalNotOp,
        flame.SignbitOp,
        flame.BitwiseNotOp,  # (integers only: never a gradient)
        flame.BitwiseAndOp,
        flame.BitwiseOrOp,
        flame.BitwiseXorOp,
        flame.BitwiseLeftShiftOp,
        flame.BitwiseRightShiftOp,
        flame.ArgmaxOp,
        flame.ArgminOp,
    }
)


def _node(
    op: type[flame.FlameOp],
    inputs: Sequence[Tensor],
    shape: Sequence[int],
    dtype: DType,
    attrs: dict[str, Any] | None = None,
    layout: MeshLayout | None = None,
    location: Location | None = None,
) -> Tensor:
    if shape and min(shape) < 0:  # every builder checks its sizes; this is the safety net
        raise _shape_error(
            f"{op.name.removeprefix('flame.')}: negative dimension in the result shape {list(shape)}",
            location,
        )
    if layout is not None:
        _check_layout(layout)
    out = new_node(
        shape, dtype, op, inputs, attrs, layout, location or _override.location or user_location()
    )
    if not inputs:
        return out
    if dtype.is_floating_point and op not in NOT_DIFFERENTIABLE and _grad_state.enabled[-1]:
        for t in inputs:  # (requires_grad_of, inlined: every node asks)
            if t.requires_grad:
                out._requires_grad = out._grad_node = True
                break
    me = weakref.ref(out)
    key = id(out)
    for i, t in enumerate(inputs):
        if t._pending_value is not None:  # stepped, not yet evaluated: read the new value
            if out._reads is None:
                out._reads = {}
            out._reads[i] = t._pending_value
        # remember this user: a pending update of a leaf (runtime) or an in-place op on any
        # tensor (pyflame/inplace.py) leaves it the value it was built from
        users = t._users
        if users is None:
            t._users = {key: me}
            continue
        users[key] = me
        n = len(users)
        if n >= 256 and not n & (n - 1):  # (drop_dead's test, inlined: ~100 calls a step)
            drop_dead(users, 256)
    if out._grad_node and op in FLAME_SAVES:
        record_flame_op(out)  # what PyTorch's op saves for backward (versions checked there)
    return out


def _as_view(out: Tensor, base: Tensor, kind: str, params: Any) -> Tensor:
    """Record that `out` is a view of `base`, as PyTorch's view ops make one (`kind`: "index"
    with the basic key, "reshape", "permute" with the perm, "expand", "detach", "diagonal"
    with (offset, dim1, dim2)): an in-place op on either one then changes the other (pyflame/inplace.py); `ops.shape.strides_of` derives
    PyTorch's strides of the view from it, which decide whether a reshape of it is a view."""
    out._view_of = (base, kind, params)
    out._version_counter = base._version_counter  # one storage, one version (as PyTorch)
    base._add_view(out)
    return out


def _shape_error(message: str, location: Location | None = None) -> ShapeError:
    return ShapeError(f"{format_location(location or user_location())}: {message}")


def _rule(rule: Callable[..., T], *args: Any) -> T:
    """Apply a shape rule; its ShapeError gets the user's file:line."""
    try:
        return rule(*args)
    except ShapeError as err:
        raise _shape_error(str(err)) from None


def _check_layout(layout: object) -> MeshLayout | None:
    if layout is None or isinstance(layout, MeshLayout):
        return layout
    raise TypeError(f"layout= expects a pf.MeshLayout or None, got {type(layout).__name__}")


def _check_tensor(x: object, what: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{what} expects a pf.Tensor, got {type(x).__name__}")
    return x


def _check_device(device: Any, what: str) -> None:
    """`device=` of a creation op or `to`: None or a device argument (pyflame/devices.py:
    PyFlame has one device, so a valid one changes nothing), else a TypeError at the user's
    line (a dtype passed as the device would otherwise pass silently)."""
    if device is None or is_device(device):
        return
    raise TypeError(
        f"{format_location(user_location())}: {what}: device= expects a device (a name such as "
        f"'cpu', 'cuda:0' or 'wse', an index, a pf.device or a torch.device), got {device!r}"
    )


def _shape_arg(size: tuple[Any, ...], what: str) -> tuple[int, ...]:
    """`f([2, 3])`, `f((2, 3))` and `f(2, 3)` all mean shape (2, 3)."""
    if len(size) == 1 and isinstance(size[0], (list, tuple)):
        size = tuple(size[0])
    out = []
    for n in size:
        if type(n) is int:  # (the common case, without the checks below)
            out.append(n)
            continue
        if isinstance(n, builtins.bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"{what}: sizes must be ints, got {n!r} in {list(size)}")
        out.append(int(n))
    return tuple(out)


def _sizes(size: tuple[Any, ...], what: str) -> tuple[int, ...]:
    """A creation op's shape (as `_shape_arg`): a negative size is a pf.ShapeError at the
    user's line, in PyTorch's words."""
    shape = _shape_arg(size, what)
    for n in shape:
        if n < 0:
            raise _shape_error(
                f"{what}: Trying to create tensor with negative dimension {n}: {list(shape)}"
            )
    return shape


#: the Python number types that are scalar operands (decided without the ABC checks below)
_PLAIN_SCALARS = frozenset({float, int, bool})


def _is_scalar(x: object) -> bool:
    if type(x) in _PLAIN_SCALARS:
        return True
    return isinstance(x, (numbers.Number, np.number, np.bool_)) and not isinstance(
        x, (complex, np.complexfloating)
    )


@functools.cache  # (a dtype is a singleton; np.finfo takes microseconds: full() asks each time)
def _float_max(dtype: DType) -> float:
    """The largest finite value of a float dtype. ml_dtypes (half a second to import) only for
    bfloat16, whose numpy dtype already needed it."""
    if dtype.name == "bfloat16":
        import ml_dtypes

        return float(ml_dtypes.finfo(dtype.numpy).max)
    return float(np.finfo(dtype.numpy).max)


def _fits(value: float, dtype: DType, what: str) -> float:
    """`value` when `dtype` holds it; else an OverflowError at the user's line, as PyTorch
    refuses `torch.full([2], 2**40, dtype=torch.int32)` (never a wrapped or infinite value)."""
    if dtype is bool_ or not math.isfinite(value):  # (a Python float: no numpy call)
        return value
    if dtype.is_floating_point:
        high = _float_max(dtype)
        if builtins.abs(value) <= high:
            return value
    elif -(2**31) <= value <= 2**31 - 1:
        return value
    if dtype.is_floating_point:  # a plain OverflowError, as the integer one is also one
        raise OverflowError(
            f"{format_location(user_location())}: {what}: value {value:g} "
            f"cannot be converted to {dtype!r} without overflow"
        )
    raise IntegerOverflowError(
        f"{format_location(user_location())}: {what}: value {int(value)} cannot be converted to "
        f"{dtype!r} without overflow (PyFlame's widest integer is pf.int32: use a float dtype "
        "for larger values)"
    )


def _shape_rule(rule: Callable[..., T], *args: Any) -> T:
    """Like `_rule`, but keeps the error's class (an IndexShapeError stays an IndexError)."""
    try:
        return rule(*args)
    except ShapeError as err:
        raise type(err)(f"{format_location(user_location())}: {err}") from None


def _dim_arg(dim: Any, what: str) -> int:
    if isinstance(dim, builtins.bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(
            f"{format_location(user_location())}: {what}: dim must be an int, got {dim!r}"
        )
    return int(dim)
