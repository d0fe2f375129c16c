"""In-place ops and item assignment, functionalised: `x.add_(y)`, `x[mask] = 0`, `x += 1`,
`w.data.sub_(...)` build the new value as an ordinary lazy node and *rebind* the Tensor object
`x` to it, so every name that refers to `x` sees the new value, as in PyTorch:

    x.add_(1)          # old = snapshot of x's node; x's node becomes add(old, 1)
    x[:, 1:3] = v      # x's node becomes index_set(old, key, v) (pyflame/index_set.py)

What keeps it PyTorch's semantics:
- Tensors built from `x` before the in-place op keep reading the old value: `Tensor._users`
  (weak references every op builder records, and nodes whose gradient rule reads x) are
  redirected to the snapshot `old`. For a leaf that requires grad (a parameter stepped under
  `no_grad`) `old` passes its gradient on to `x`, as PyTorch's AccumulateGrad of the same leaf
  does.
- Views alias (pyflame/ops/node.py `_as_view`: indexing, narrow, split/chunk, reshape/view and
  its kin when PyTorch's strides allow, permute/transpose, expand, diagonal, detach, `.data`):
  an in-place op on a view writes its new value into the base (`_put`: index_set, the inverse
  reshape or permute, diagonal_scatter), and after the base changes every live view of it is rebuilt from the new base
  (`_make`), each keeping its old value for its own earlier users. `y = x[0]; x.add_(1)`
  changes y; `x.t().reshape(-1)` copies in PyTorch, so it keeps its value here too.
- Autograd: the in-place op is an op in the graph (`x.add_(w)` sends gradients to w and to the
  old x). A leaf that requires grad modified in place under grad mode raises PyTorch's error
  (also through a view). Under `no_grad` (or through `.data` / `detach()`) the change is not
  recorded: a leaf stays a leaf, a non-leaf passes its gradient straight to the old version, as
  PyTorch's unchanged graph does.
- PyTorch's errors, not only its values: every change bumps the tensor's version counter
  (`assign`; shared with its views, not with `.data`), and `backward` raises PyTorch's "one of
  the variables needed for gradient computation has been modified by an inplace operation"
  where a tensor an op saved for backward was changed since (pyflame/ops/saved.py), though the
  old version is still in the graph and a gradient could be computed: code that runs here runs
  in PyTorch. The op's own input is saved as the value before the op (`saved.original_value`),
  as PyTorch keeps it; the tensor's grad_fn name after the change is PyTorch's (`Add`,
  `CopySlices`), which that error names.
- The result keeps x's shape and dtype (PyTorch's errors for a broadcast shape that differs and
  a result type that cannot be cast back, e.g. float into an int tensor).
"""

from __future__ import annotations

import contextlib
import sys
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame import indexed_writes, ops, runtime, tensor_methods
from pyflame.core import shapes, strides
from pyflame.core.dtypes import DType, bool_
from pyflame.dialects import flame
from pyflame.grad_mode import enable_grad, is_grad_enabled, no_grad
from pyflame.index_set import index_set
from pyflame.lazy_tensor import Tensor, VersionCounter, format_location, user_location
from pyflame.ops import saved
from pyflame.ops.node import _dim_arg, _node, _rule, _shape_error, _shape_rule
from pyflame.ops.shape import _reshape_node, strides_of
from pyflame.random import generator

#: the fields of a Tensor that make up its value (its node); the others (grad, name, users,
#: views, view link, pending update) belong to the object and stay with it when it is rebound
VALUE_FIELDS = (
    "shape",
    "dtype",
    "op",
    "inputs",
    "attrs",
    "layout",
    "location",
    "_requires_grad",
    "_grad_node",
    "_data",
    "_reads",
    "_grad_fn",
    "_checks",
    "_saved",
    "_torch_name",
)


# --------------------------------------------------------------------------- gradient rules


class PassThrough:
    """Gradient rule of a tensor changed in place without recording it (under `no_grad`, or
    through `.data` / `detach()`): PyTorch leaves the graph as it was, so the gradient goes
    on to the old version whole. Also the rule of a leaf's old value: its gradient goes to
    the leaf."""

    def __init__(self, target: Tensor):
        self.inputs = (target,)

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        return (g,)


class Overwritten:
    """Gradient rule of a tensor that needed gradients and was overwritten with a value that
    needs none (`y.zero_()`, `y.fill_(1)`, `y.copy_(constant)` under grad mode): the old
    version gets a zero gradient, as PyTorch's FillBackward gives it."""

    def __init__(self, old: Tensor):
        self.inputs = (old,)

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        return (ops.zeros_like(g),)


class CopiedOver:
    """Gradient rule of `x.copy_(src)` on a non-leaf: all of it to src, a zero one to the old
    x, as PyTorch's CopyBackwards (whose edge to the old x makes backward reach, and check,
    the op that made it)."""

    def __init__(self, old: Tensor, src: Tensor):
        self.inputs = (old, src)

    def __call__(self, node: Tensor, g: Tensor) -> Sequence[Tensor | None]:
        return (ops.zeros_like(g), g)


# --------------------------------------------------------------------------- checks


_TORCH_NAMES = {"float32": "Float", "float16": "Half", "bfloat16": "BFloat16", "int32": "Int"}


def _type_name(dtype: DType) -> str:
    return _TORCH_NAMES.get(dtype.name, "Bool")


def _can_cast(src: DType, dst: DType) -> bool:
    """torch.can_cast: no float to int or bool, no int to bool."""
    if src.is_floating_point:
        return dst.is_floating_point
    if src is not bool_:
        return dst is not bool_
    return True


def _root_of(t: Tensor) -> Tensor:
    """The tensor whose storage `t` views (itself when it is not a view); `detach()` and
    `.data` start a new autograd history, so the walk stops there."""
    while t._view_of is not None and t._view_of[1] != "detach":
        t = t._view_of[0]
    return t


def check_writable(t: Tensor, through_view: bool = False) -> None:
    """PyTorch's errors for an in-place op on `t`, raised before anything is built
    (`through_view`: a basic-index assignment, which PyTorch makes through a view of t)."""
    where = format_location(user_location())
    if t._view_of is not None and any(
        s == 0 and n > 1 for s, n in zip(strides_of(t), t.shape, strict=True)
    ):
        raise RuntimeError(
            f"{where}: unsupported operation: more than one element of the written-to tensor "
            "refers to a single memory location. Please clone() the tensor before performing "
            "the operation."
        )
    view = t
    while view._view_of is not None and view._view_of[1] != "detach":
        base = view._view_of[0]
        if view._view_of[1] == "unfold" and _overlapping_windows(view):
            raise RuntimeError(
                f"{where}: writing into overlapping windows of unfold is not supported: their "
                "elements share memory in PyTorch, where the result depends on the order its "
                "kernel writes them. clone() the windows first, or write to the tensor."
            )
        if view._view_of[1] == "expand" and view.numel() != base.numel():
            # (t selects some of the copies: writing them back would need to know which
            # element of the base each written copy shares, which the functional write-back
            # through the views does not track)
            raise RuntimeError(
                f"{where}: writing to part of an expanded tensor (an expand, then indexing) is "
                "not supported: in PyTorch the expanded copies share one memory location each. "
                "clone() the expanded tensor first, or write to the tensor it expands."
            )
        view = base
    if not is_grad_enabled():
        return
    if t.requires_grad and t.is_leaf and not through_view:
        raise RuntimeError(
            f"{where}: a leaf Variable that requires grad is being used in an in-place operation."
        )
    root = _root_of(t)
    if (root is not t or through_view) and root.requires_grad and root.is_leaf:
        raise RuntimeError(
            f"{where}: a view of a leaf Variable that requires grad is being used in an "
            "in-place operation."
        )


# --------------------------------------------------------------------------- rebinding


def _fresh(new: Tensor) -> Tensor:
    """`new` as a node no one else refers to (its state moves into the rebound tensor): a
    copy when it is an existing tensor (data, a view, or used elsewhere)."""
    if new._data is None and not new._users and new._view_of is None and not new._views:
        return new
    return _reshape_node(new, new.shape)


def _register(user: Tensor) -> None:
    for t in user.inputs:
        if t._users is None:
            t._users = {}
        t._users[id(user)] = weakref.ref(user)


def _snapshot(t: Tensor) -> Tensor:
    """A new Tensor object holding t's current value (node or data)."""
    old = object.__new__(Tensor)
    old.__dict__.update({k: v for k, v in t.__dict__.items() if k in VALUE_FIELDS})
    old.grad = None
    old._users = None
    old._pending_value = t._pending_value
    old._view_of = None
    old._views = None
    old._strides = None
    old._version_counter = VersionCounter()  # (t's counter stays with t's storage)
    if "name" in t.__dict__:  # the program input it becomes keeps the name (`%fc1.weight`)
        old.name = t.name
    _register(old)
    return old


def _rewrite_rule(rule: Any, t: Tensor, old: Tensor) -> bool:
    """A custom gradient rule (`_grad_fn`) that refers to `t` (as an input or a value it
    reads) refers to `old` instead. Whether it referred to t."""
    found = False
    for name, value in list(vars(rule).items()):
        if value is t:
            found = True
            setattr(rule, name, old)
        elif isinstance(value, tuple) and any(v is t for v in value):
            found = True
            setattr(rule, name, tuple(old if v is t else v for v in value))
    return found


def _redirect_users(t: Tensor, old: Tensor) -> None:
    """Everything built from `t` so far reads `old` from now on (their inputs, and the custom
    gradient rules that read t)."""
    users = t._users or {}
    t._users = None
    for ref in users.values():
        user = ref()
        if user is None or user is t or (user._data is not None and not user._grad_node):
            continue
        positions = [i for i, x in enumerate(user.inputs) if x is t]
        if positions:
            user.inputs = tuple(old if x is t else x for x in user.inputs)
        rule = user.__dict__.get("_grad_fn")
        in_rule = rule is not None and hasattr(rule, "__dict__") and _rewrite_rule(rule, t, old)
        if positions or in_rule:
            if old._users is None:
                old._users = {}
            old._users[id(user)] = ref


def rebind(t: Tensor, new: Tensor, record: bool, *, keep_views: bool = True) -> Tensor:
    """Make `new` the value of the Tensor object `t` (a new version of t in the graph); the
    old version is returned. `record`: autograd records the change (grad mode, not through
    `.data` / `detach()`). `keep_views=False` (`t.data = v`): t's views keep the old value,
    as they keep the old storage in PyTorch."""
    new = _fresh(new)
    leaf_with_grad = t._requires_grad and not t._grad_node
    non_leaf = t._grad_node
    old = _snapshot(t)
    _redirect_users(t, old)
    if leaf_with_grad:  # the old value sends its gradients on to the leaf, as AccumulateGrad
        old._requires_grad = old._grad_node = True  # of the same leaf does in PyTorch
        old.__dict__["_grad_fn"] = PassThrough(t)  # (no user entry: t stays the target)
    if t._pending_value is not None:  # an optimizer step not yet applied goes to the old value
        runtime.retarget_pending_update(t, old)
        t._pending_value = None
    for k in VALUE_FIELDS:  # (`new` may live on as the user's own tensor: nothing is shared
        t.__dict__.pop(k, None)  # that a later redirect mutates, and it stays a user too)
        if k in new.__dict__:
            value = new.__dict__[k]
            t.__dict__[k] = dict(value) if k == "_reads" and value else value
    _register(t)
    if leaf_with_grad:  # only without recording (check_writable refuses the rest): a leaf stays one
        t.__dict__.pop("_grad_fn", None)
        t._requires_grad, t._grad_node = True, False
    elif non_leaf and not record:
        t._requires_grad = t._grad_node = True
        t.__dict__["_grad_fn"] = PassThrough(old)  # (old is no one's to rebind: no user entry)
    elif non_leaf and not new._requires_grad:
        t._requires_grad = t._grad_node = True
        t.__dict__["_grad_fn"] = Overwritten(old)
    if old._data is not None or not old.inputs:
        # state (a parameter, a buffer, a cache made by pf.zeros): data again after the next
        # eval, so a loop that updates it runs one program, not a graph growing every step;
        # an intermediate of a forward pass (it has inputs) stays lazy, as nothing reads it
        runtime.compute_at_next_eval(t)
    if not keep_views:
        old._views, t._views = t._views, None
        for ref in (old._views or {}).values():
            view = ref()
            if view is not None and view._view_of is not None and view._view_of[0] is t:
                view._view_of = (old, *view._view_of[1:])
    return old


def _make(base: Tensor, kind: str, params: Any) -> Tensor:
    """The view of `kind` replayed on the (new) base."""
    if kind == "detach":
        return base.detach()
    with enable_grad():
        if kind == "index":
            return ops.getitem(base, params)
        if kind == "reshape":
            return ops.reshape(base, params)
        if kind == "permute":
            return ops.permute(base, *params)
        if kind == "expand":
            return ops.expand(base, params)
        if kind == "diagonal":
            return ops.diagonal(base, *params)
        if kind == "unfold":
            return ops.unfold(base, *params)
    raise ValueError(f"unknown view kind {kind!r}")


def _put(base: Tensor, kind: str, params: Any, value: Tensor) -> Tensor:
    """The new value of `base` after its view (of `kind`) takes `value`."""
    if kind == "index":
        return index_set(base, params, value)
    if kind == "diagonal":
        return ops.diagonal_scatter(base, value, *params)
    if kind == "unfold":
        return _unfold_put(base, value, *params)
    if kind == "permute":
        inverse = [0] * len(params)
        for i, p in enumerate(params):
            inverse[p] = i
        return ops.permute(value, *inverse)
    return _reshape_node(value, base.shape)  # reshape; detach; an expand that repeats nothing


def _overlapping_windows(view: Tensor) -> bool:
    """Whether the unfold `view` has windows that share elements (step < size)."""
    d, size, step = view._view_of[2]  # type: ignore[index]  # (an unfold view: its params)
    return step < size and view.shape[d] > 1


def _unfold_put(base: Tensor, value: Tensor, d: int, size: int, step: int) -> Tensor:
    """base with its windows along `d` (`size` elements, `step` >= size apart, or one) taking
    `value` ([.., windows, .., size]): the windows laid end to end (each padded to `step`),
    placed along d, and a `where` keeps base between and after them."""
    n, windows = base.shape[d], value.shape[d]
    pitch = step if windows > 1 else size  # (one window: any step)
    laid = ops.movedim(value, -1, d + 1)  # [.., windows, size, ..]
    if pitch > size:
        laid = ops.pad(laid, [0, 0] * (laid.ndim - d - 2) + [0, pitch - size])
    shape = list(base.shape)
    shape[d] = windows * pitch
    laid = laid.reshape(shape)
    keep = (slice(None),) * d
    if windows * pitch >= n:
        laid = laid[(*keep, slice(0, n))]
    else:
        laid = ops.pad(laid, [0, 0] * (base.ndim - d - 1) + [0, n - windows * pitch])
    covered = np.zeros(n, bool)
    for w in range(windows):
        covered[w * step : w * step + size] = True
    mask = ops.from_numpy(covered.reshape(n, *[1] * (base.ndim - d - 1)))
    return ops.where(mask, laid, base)


def _refresh_views(t: Tensor) -> None:
    """Every live view of `t` rebuilt from t's new value (and their views, and so on)."""
    for ref in list((t._views or {}).values()):
        view = ref()
        if view is None or view._view_of is None or view._view_of[0] is not t:
            continue
        _, kind, params = view._view_of
        rebind(view, _make(t, kind, params), record=True)
        _refresh_views(view)


def assign(t: Tensor, new: Tensor, record: bool | None = None, name: str | None = None) -> Tensor:
    """`t` takes the value `new` (same shape and dtype): through its base when it is a view,
    then every view of the changed tensor is rebuilt. Returns t. As every in-place change in
    PyTorch, recorded or not, it bumps t's version (shared with its views, not with `.data`).
    `name`: PyTorch's node of the change (`Add`), which its saved-tensor error names."""
    record = is_grad_enabled() if record is None else record
    t._version_counter.bump(user_location())
    _assign(t, new, record)
    if record and name is not None:
        _name_change(t, name)
    return t


def _name_change(t: Tensor, name: str) -> None:
    """PyTorch's grad_fn names after an in-place op: the op's on t; through a view,
    `AsStrided` on the view and `CopySlices` on the base it wrote to."""
    if t._view_of is None:
        if t._grad_node:
            t.__dict__["_torch_name"] = name
        return
    while t._view_of is not None and t._view_of[1] != "detach":
        if t._grad_node:
            t.__dict__["_torch_name"] = "AsStrided"
        t = t._view_of[0]
    if t._grad_node:
        t.__dict__["_torch_name"] = "CopySlices"


def _assign(t: Tensor, new: Tensor, record: bool) -> None:
    if t._view_of is not None:
        base, kind, params = t._view_of
        with contextlib.nullcontext() if record else no_grad():
            new_base = _put(base, kind, params, new)
        _assign(base, new_base, record and kind != "detach")
        return
    rebind(t, new, record)
    _refresh_views(t)


def update(x: Tensor, new: Tensor, name: str | None = None) -> Tensor:
    """Finish an in-place op: `new` (computed from x) must have x's shape and a dtype that
    casts back to x's, as PyTorch requires; then x takes it."""
    if new.shape != x.shape:
        raise _shape_error(
            f"output with shape {list(x.shape)} doesn't match the broadcast shape {list(new.shape)}"
        )
    if new.dtype is not x.dtype:
        if not _can_cast(new.dtype, x.dtype):
            raise RuntimeError(
                f"{format_location(user_location())}: result type {_type_name(new.dtype)} can't "
                f"be cast to the desired output type {_type_name(x.dtype)}"
            )
        new = ops.astype(new, x.dtype)
    return assign(x, new, name=name)


# --------------------------------------------------------------------------- the ops


def _inplace(x: Tensor, name: str, build: Any, other: Any = None) -> Tensor:
    """x takes `build()` (made from x): PyTorch's checks first; what the op saves of x is x
    before the op, which PyTorch keeps for it (pyflame/ops/saved.py). Unless the op's other
    operand is x itself (`x.mul_(x)`): PyTorch saves that one as x, which the op then changes."""
    check_writable(x)
    with contextlib.nullcontext() if other is x else saved.original_value(x):
        new = build()
    if new is not x and new is not other:  # a node the op made: what it saved of itself
        saved.restamp(new, new._version_counter, x, x._version + 1)  # (`exp_`) is x after it
    return update(x, new, name)


def apply_(x: Tensor, fn: Any, name: str) -> Tensor:
    """x takes `fn(x)` as one in-place op named `name` in PyTorch's errors (the layers'
    `inplace=True`: `nn.SiLU`, `nn.LeakyReLU`, `nn.Dropout`)."""
    return _inplace(x, name, lambda: fn(x))


def _unary(name: str) -> Any:
    builder = getattr(ops, name)
    torch_name = name.title().replace("_", "")  # PyTorch's node: Exp, Log1P, LogicalNot

    def method(x: Tensor) -> Tensor:
        return _inplace(x, torch_name, lambda: builder(x))

    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"`x.{name}_()`: x takes `pf.{name}(x)` (in place)."
    return method


neg_ = _unary("neg")
abs_ = _unary("abs")
relu_ = _unary("relu")
exp_ = _unary("exp")
log_ = _unary("log")
sqrt_ = _unary("sqrt")
rsqrt_ = _unary("rsqrt")
tanh_ = _unary("tanh")
sigmoid_ = _unary("sigmoid")
sin_ = _unary("sin")
cos_ = _unary("cos")
erf_ = _unary("erf")
floor_ = _unary("floor")
sign_ = _unary("sign")
log1p_ = _unary("log1p")
expm1_ = _unary("expm1")
trunc_ = _unary("trunc")
logical_not_ = _unary("logical_not")
bitwise_not_ = _unary("bitwise_not")
exp2_ = _unary("exp2")
log2_ = _unary("log2")
log10_ = _unary("log10")
tan_ = _unary("tan")
asin_ = _unary("asin")
acos_ = _unary("acos")
atan_ = _unary("atan")
sinh_ = _unary("sinh")
cosh_ = _unary("cosh")
asinh_ = _unary("asinh")
acosh_ = _unary("acosh")
atanh_ = _unary("atanh")
erfinv_ = _unary("erfinv")
sinc_ = _unary("sinc")
deg2rad_ = _unary("deg2rad")
rad2deg_ = _unary("rad2deg")
arcsin_ = _unary("arcsin")
arccos_ = _unary("arccos")
arctan_ = _unary("arctan")
arcsinh_ = _unary("arcsinh")
arccosh_ = _unary("arccosh")
arctanh_ = _unary("arctanh")
ceil_ = _unary("ceil")
frac_ = _unary("frac")
reciprocal_ = _unary("reciprocal")
square_ = _unary("square")
fix_ = _unary("fix")
sgn_ = _unary("sgn")
digamma_ = _unary("digamma")
lgamma_ = _unary("lgamma")
erfc_ = _unary("erfc")
i0_ = _unary("i0")


def _binary(name: str, torch_name: str) -> Any:
    builder = getattr(ops, name)

    def method(x: Tensor, other: Any) -> Tensor:
        return _inplace(x, torch_name, lambda: builder(x, other), other)

    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"`x.{name}_(other)`: x takes `pf.{name}(x, other)` (in place)."
    return method


bitwise_and_ = _binary("bitwise_and", "BitwiseAnd")
bitwise_or_ = _binary("bitwise_or", "BitwiseOr")
bitwise_xor_ = _binary("bitwise_xor", "BitwiseXor")
bitwise_left_shift_ = _binary("bitwise_left_shift", "BitwiseLeftShift")
bitwise_right_shift_ = _binary("bitwise_right_shift", "BitwiseRightShift")
logical_and_ = _binary("logical_and", "LogicalAnd")
logical_or_ = _binary("logical_or", "LogicalOr")
logical_xor_ = _binary("logical_xor", "LogicalXor")
atan2_ = _binary("atan2", "Atan2")
arctan2_ = _binary("arctan2", "Atan2")
hypot_ = _binary("hypot", "Hypot")
nextafter_ = _binary("nextafter", "Nextafter")
xlogy_ = _binary("xlogy", "Xlogy")
copysign_ = _binary("copysign", "Copysign")
heaviside_ = _binary("heaviside", "Heaviside")
true_divide_ = _binary("true_divide", "Div")
eq_ = _binary("eq", "Eq")
ne_ = _binary("ne", "Ne")
lt_ = _binary("lt", "Lt")
le_ = _binary("le", "Le")
gt_ = _binary("gt", "Gt")
ge_ = _binary("ge", "Ge")
ldexp_ = _binary("ldexp", "Ldexp")
gcd_ = _binary("gcd", "Gcd")
lcm_ = _binary("lcm", "Lcm")


def polygamma_(x: Tensor, n: int) -> Tensor:
    return _inplace(x, "Polygamma", lambda: ops.polygamma(n, x))


def clamp_min_(x: Tensor, min: Any) -> Tensor:
    return _inplace(x, "ClampMin", lambda: ops.clamp_min(x, min), min)


def clamp_max_(x: Tensor, max: Any) -> Tensor:
    return _inplace(x, "ClampMax", lambda: ops.clamp_max(x, max), max)


def lerp_(x: Tensor, end: Tensor, weight: Any) -> Tensor:
    return _inplace(x, "Lerp", lambda: ops.lerp(x, end, weight), end)


def cumsum_(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    return _inplace(x, "Cumsum", lambda: ops.cumsum(x, dim, dtype=dtype))


def cumprod_(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    return _inplace(x, "Cumprod", lambda: ops.cumprod(x, dim, dtype=dtype))


def tril_(x: Tensor, diagonal: int = 0) -> Tensor:
    return _inplace(x, "Tril", lambda: ops.tril(x, diagonal))


def triu_(x: Tensor, diagonal: int = 0) -> Tensor:
    return _inplace(x, "Triu", lambda: ops.triu(x, diagonal))


def addcmul_(x: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
    return _inplace(x, "Addcmul", lambda: ops.addcmul(x, tensor1, tensor2, value=value))


def addcdiv_(x: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
    return _inplace(x, "Addcdiv", lambda: ops.addcdiv(x, tensor1, tensor2, value=value))


def fill_diagonal_(x: Tensor, fill_value: Any, wrap: bool = False) -> Tensor:
    """The main diagonal of x (every dim of one size, or a 2-D matrix) takes fill_value
    (torch.Tensor.fill_diagonal_; `wrap`: a tall matrix's diagonal starts again after
    every N + 1 rows, as numpy's). The positions come from the shape alone (host)."""
    where = format_location(user_location())
    if x.ndim < 2:
        raise RuntimeError(f"{where}: dimensions must larger than 1")
    if x.ndim > 2 and len(set(x.shape)) != 1:
        raise RuntimeError(f"{where}: all dimensions of input must be of equal length")
    mask = np.zeros(x.shape, bool)
    if x.ndim > 2:
        mask[(np.arange(x.shape[0]),) * x.ndim] = True
    else:
        rows, cols = x.shape
        flat = mask.reshape(-1)
        step = cols + 1
        end = rows * cols if wrap else min(rows, cols) * cols
        flat[np.arange(0, end, step)] = True
    value = ops.full((), fill_value, dtype=x.dtype)
    return _inplace(x, "FillDiagonal", lambda: ops.where(ops.from_numpy(mask), value, x))


def logit_(x: Tensor, eps: float | None = None) -> Tensor:
    return _inplace(x, "Logit", lambda: ops.logit(x, eps))


def add_(x: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
    return _inplace(x, "Add", lambda: ops.add(x, other, alpha=alpha), other)


def sub_(x: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
    return _inplace(x, "Sub", lambda: ops.sub(x, other, alpha=alpha), other)


def mul_(x: Tensor, other: Any) -> Tensor:
    return _inplace(x, "Mul", lambda: ops.mul(x, other), other)


def div_(x: Tensor, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    return _inplace(x, "Div", lambda: ops.div(x, other, rounding_mode=rounding_mode), other)


def floor_divide_(x: Tensor, other: Any) -> Tensor:
    return _inplace(x, "FloorDivide", lambda: ops.floor_divide(x, other), other)


def remainder_(x: Tensor, other: Any) -> Tensor:
    return _inplace(x, "Remainder", lambda: ops.remainder(x, other), other)


def fmod_(x: Tensor, other: Any) -> Tensor:
    return _inplace(x, "Fmod", lambda: ops.fmod(x, other), other)


def pow_(x: Tensor, exponent: Any) -> Tensor:
    return _inplace(x, "Pow", lambda: ops.pow(x, exponent), exponent)


def round_(x: Tensor, *, decimals: int = 0) -> Tensor:
    return _inplace(x, "Round", lambda: ops.round(x, decimals=decimals))


def clamp_(x: Tensor, min: Any = None, max: Any = None) -> Tensor:
    return _inplace(x, "Clamp", lambda: ops.clamp(x, min, max))


def nan_to_num_(
    x: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> Tensor:
    return _inplace(x, "NanToNum", lambda: ops.nan_to_num(x, nan, posinf, neginf))


def masked_fill_(x: Tensor, mask: Tensor, value: Any) -> Tensor:
    return _inplace(x, "MaskedFill", lambda: ops.masked_fill(x, mask, value))


def masked_scatter_(x: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    return _inplace(
        x, "MaskedScatter", lambda: indexed_writes.masked_scatter(x, mask, source), source
    )


def scatter_(
    x: Tensor, dim: int, index: Tensor, src: Any = None, *, value: Any = None, reduce: Any = None
) -> Tensor:
    return _inplace(
        x,
        "Scatter",
        lambda: indexed_writes.scatter(x, dim, index, src, value=value, reduce=reduce),
        src,
    )


def scatter_add_(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    return _inplace(x, "ScatterAdd", lambda: indexed_writes.scatter_add(x, dim, index, src), src)


def index_add_(x: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
    build = lambda: indexed_writes.index_add(x, dim, index, source, alpha=alpha)  # noqa: E731
    return _inplace(x, "IndexAdd", build, source)


def index_copy_(x: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    build = lambda: indexed_writes.index_copy(x, dim, index, source)  # noqa: E731
    return _inplace(x, "IndexCopy", build, source)


def index_fill_(x: Tensor, dim: int, index: Tensor, value: Any) -> Tensor:
    build = lambda: indexed_writes.index_fill(x, dim, index, value)  # noqa: E731
    return _inplace(x, "IndexFill", build, value)


def scatter_reduce_(
    x: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True
) -> Tensor:
    build = lambda: indexed_writes.scatter_reduce(  # noqa: E731
        x, dim, index, src, reduce, include_self=include_self
    )
    return _inplace(x, "ScatterReduce", build, src)


def index_put_(x: Tensor, indices: Any, values: Tensor, accumulate: bool = False) -> Tensor:
    build = lambda: indexed_writes.index_put(x, indices, values, accumulate)  # noqa: E731
    return _inplace(x, "IndexPut", build, values)


def fill_(x: Tensor, value: Any) -> Tensor:
    """Every element `value` (a number or a 0-d tensor, whose gradient is the sum of x's)."""
    check_writable(x)
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(
                "fill_ only supports 0-dimension value tensor but got tensor with "
                f"{value.ndim} dimensions."
            )
        return update(x, ops.broadcast_to(ops.astype(value, x.dtype), x.shape), "Fill")
    return update(x, ops.full(x.shape, value, dtype=x.dtype), "Fill")


def zero_(x: Tensor) -> Tensor:
    return _inplace(x, "Zero", lambda: ops.zeros(x.shape, dtype=x.dtype))


def _drawn(x: Tensor, values: np.ndarray, what: str) -> Tensor:
    """x takes values drawn on the host (as pf.nn.init draws them: PyFlame's generator, so
    `pf.manual_seed` makes them reproducible; PyTorch's distribution, not its numbers)."""
    check_writable(x)
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"{what} expects a floating-point tensor, got {x.dtype!r}")
    return assign(x, ops.from_numpy(np.asarray(values, dtype=x.dtype.numpy)))


def overwrite(x: Tensor, values: np.ndarray) -> Tensor:
    """x takes host `values` without recording it (pf.nn.init on a view, or on a parameter an
    earlier in-place op left lazy), as PyTorch's init functions do under no_grad."""
    with no_grad():
        return assign(x, ops.from_numpy(np.ascontiguousarray(values)), record=False)


def normal_(x: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """`w.data.normal_(0, 0.02)`: values from N(mean, std**2)."""
    return _drawn(x, generator().normal(mean, std, x.shape), "normal_")


def uniform_(x: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Values from U(a, b)."""
    return _drawn(x, generator().uniform(a, b, x.shape), "uniform_")


def copy_(x: Tensor, src: Any, non_blocking: bool = False) -> Tensor:
    """x takes `src` broadcast to its shape and converted to its dtype (any dtype, as
    PyTorch's copy_); the gradient goes to src."""
    del non_blocking
    check_writable(x)
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be a pf.Tensor, got {type(src).__name__}")
    value = src if src.dtype is x.dtype else ops.astype(src, x.dtype)
    if value.shape != x.shape:
        try:
            value = ops.broadcast_to(value, x.shape)
        except ValueError:
            raise _shape_error(
                f"The size of tensor a ({list(x.shape)}) must match the size of tensor b "
                f"({list(src.shape)}) (copy_ broadcasts src to the destination's shape)"
            ) from None
    if x._grad_node and x._view_of is None and value.requires_grad and is_grad_enabled():
        # PyTorch's CopyBackwards keeps an edge to the old x (a zero gradient), so backward
        # still checks what the old x's op saved; an identity node with both edges does that
        with no_grad():
            copied = _reshape_node(value, value.shape)
        copied._requires_grad = copied._grad_node = True
        copied._grad_fn = CopiedOver(x, value)
        value = copied
    return assign(x, value, name="Copy")


def setitem(x: Tensor, key: Any, value: Any) -> None:
    """`x[key] = value` (pyflame/index_set.py builds the new value)."""
    items = key if isinstance(key, tuple) else (key,)
    basic = not any(isinstance(k, (Tensor, list, np.ndarray)) for k in items)
    check_writable(x, through_view=basic)
    with saved.original_value(x):
        new = index_set(x, key, value)
    if new is not x:
        assign(x, new, name="CopySlices" if basic else "IndexPut")
    else:  # nothing selected: x keeps its value, and PyTorch still counts a change
        x._version_counter.bump(user_location())


def clone(x: Tensor) -> Tensor:
    """A copy: the same values (and gradient path) in a tensor no in-place op of x reaches."""
    return _reshape_node(x, x.shape)


def contiguous(x: Tensor) -> Tensor:
    """x itself when its elements are in row-major order over its storage, else a copy (a
    transposed or strided view), as PyTorch's."""
    if x._view_of is None or strides.is_contiguous(x.shape, strides_of(x)):
        return x
    return clone(x)


def data(x: Tensor) -> Tensor:
    """`x.data`: x's values without gradient history, sharing them as PyTorch's does (an
    in-place op on it changes x, unrecorded: `w.data.sub_(lr * w.grad)`); unlike `detach()`
    it has its own version counter, so such a change is not one autograd checks for."""
    out = x.detach()
    out._version_counter = VersionCounter()
    return out


def set_data(x: Tensor, value: Any) -> None:
    """`x.data = value`: x takes value's values (shape and dtype included) without recording
    it; x keeps its autograd state, views made before keep the old values."""
    if not isinstance(value, Tensor):
        raise TypeError(f"data must be a pf.Tensor, got {type(value).__name__}")
    with no_grad():
        new = _reshape_node(value, value.shape)
    rebind(x, new, record=False, keep_views=False)


tensor_methods.bind("inplace", sys.modules[__name__])  # `x.add_(y)`, `x[k] = v`, `x.data`


def put_(x: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    return _inplace(x, "Put", lambda: indexed_writes.put(x, index, source, accumulate), source)


def index_reduce_(
    x: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *, include_self: bool = True
) -> Tensor:
    build = lambda: indexed_writes.index_reduce(  # noqa: E731
        x, dim, index, source, reduce, include_self=include_self
    )
    return _inplace(x, "IndexReduce", build, source)


# --------------------------------------------------------------------------- shape in place


def _reshaped(x: Tensor, method: str, torch_name: str, shape: Any, perm: Any = None) -> Tensor:
    """x takes a new shape (squeeze_, unsqueeze_) or its dims permuted (t_, transpose_): a new
    version of x, recorded as the op (PyTorch's grad_fn, version bump, the leaf check). x
    then holds its values contiguously (PyTorch keeps the old storage with new strides, so
    `x.stride()` differs and a later `x.view` PyTorch refuses works here). A tensor that is a
    view, or has live views, is refused: PyTorch's views would keep aliasing the storage."""
    check_writable(x)
    if x._view_of is not None or x._has_views():
        raise NotImplementedError(
            f"{format_location(user_location())}: x.{method}() of a tensor that is a view or has "
            f"views is not supported in PyFlame (use the out-of-place x = x.{method[:-1]}(...))"
        )
    if perm is None:
        new = _reshape_node(x, shape)
    else:  # (a plain node: the view ops would record it as a view of x itself)
        new = _node(flame.TransposeOp, (x,), shape, x.dtype, {"perm": tuple(perm)})
    return assign(x, new, name=torch_name)


def squeeze_(x: Tensor, dim: Any = None) -> Tensor:
    return _reshaped(x, "squeeze_", "Squeeze", _shape_rule(shapes.squeeze, x.shape, dim))


def unsqueeze_(x: Tensor, dim: int) -> Tensor:
    shape = _shape_rule(shapes.unsqueeze, x.shape, _dim_arg(dim, "unsqueeze_"))
    return _reshaped(x, "unsqueeze_", "Unsqueeze", shape)


def transpose_(x: Tensor, dim0: int, dim1: int) -> Tensor:
    perm = _rule(shapes.transpose_perm, x.ndim, dim0, dim1)
    return _reshaped(x, "transpose_", "Transpose", _rule(shapes.permute, x.shape, perm), perm)


def t_(x: Tensor) -> Tensor:
    if x.ndim > 2:
        raise _shape_error(f"t_() expects a tensor with <= 2 dims, got shape {list(x.shape)}")
    return transpose_(x, 0, 1) if x.ndim == 2 else _reshaped(x, "t_", "T", x.shape)


def detach_(x: Tensor) -> Tensor:
    """x leaves the graph in place (torch.Tensor.detach_): a leaf that requires no grad, its
    value unchanged (the values it was computed from stay its inputs, unrecorded)."""
    if x._view_of is not None and x._view_of[1] != "detach":
        raise RuntimeError(
            f"{format_location(user_location())}: Can't detach views in-place. Use detach() "
            "instead. If you are using DistributedDataParallel (DDP) for training, and "
            "gradient_as_bucket_view is set as True, gradients are returned as views. In this "
            "case, detach_() on them is not allowed."
        )
    x.__dict__.pop("_grad_fn", None)
    x._requires_grad = x._grad_node = False
    return x
