"""`pf.Tensor`: a lazy graph node.

A tensor is either a *leaf* holding data (from `pf.from_numpy`, or any tensor after `pf.eval`)
or the result of a flame op (`op` is the flame op class, e.g. `flame.AddOp`) applied to `inputs`
with python-valued `attrs`. Building a node only records shape, dtype, layout and the user's
source line; nothing is computed until `pf.eval` (or `numpy()`, `item()`, `print` ...), after
which the tensor keeps its data and drops its graph.

    x = pf.randn([4, 4])          # Tensor(op=flame.RandomNormalOp, attrs={"seed": ...})
    y = (x + 1).relu()            # Tensor(op=flame.ReluOp, inputs=(x + 1,))
    y.numpy()                     # compiles, runs, and y becomes a leaf with data
"""

from __future__ import annotations

import functools
import math
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import numpy as np

from pyflame.core.dtypes import DType, bool_, float32
from pyflame.core.errors import ShapeError
from pyflame.core.shapes import normalize_dim
from pyflame.grad_mode import no_grad
from pyflame.layout import MeshLayout
from pyflame.tensor_methods import BOUND, OpMethods

if TYPE_CHECKING:
    from pyflame.dialects.flame import FlameOp
    from pyflame.sim.device_array import DeviceArray

Location = tuple[str, int]
P = ParamSpec("P")
R = TypeVar("R")


class _LocationOverride(threading.local):
    #: the user's line every node built now gets (`building_at`), or None: walk the stack
    location: Location | None = None


_override = _LocationOverride()


@contextmanager
def building_at(location: Location | None) -> Iterator[None]:
    """Nodes built inside get `location` as their user's line without a stack walk each:
    `backward` builds every gradient node at the user's `.backward()` line (~1,600 walks of
    8-10 frames per MLP step). None inside restores the walk, for user code called back (a
    pf.extend Function's backward builds its nodes at its own lines)."""
    before = _override.location
    _override.location = location
    try:
        yield
    finally:
        _override.location = before


#: the code objects of the pyflame package's functions met by `user_location`, by id (a frame
#: of one is skipped at one lookup instead of a look at its module's name; code objects hash
#: slowly, and the dict keeps them alive, so no other object can take one's id); bounded by
#: pyflame's code
_PYFLAME_CODE: dict[int, CodeType] = {}


def at_callers_line(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn`, a pyflame function that calls no user code, builds its nodes at its caller's
    line from one stack walk instead of one per node (as `building_at`): cross_entropy's 18
    nodes. Only when every argument is of a plain type (`pyflame_made`): a user's Tensor
    subclass may override an operator, whose nodes belong to its own lines; then each node
    walks the stack as usual."""

    @functools.wraps(fn)
    def at_caller(*args: P.args, **kwargs: P.kwargs) -> R:
        if _override.location is not None or not (
            _all_plain(args) and (not kwargs or _all_plain(kwargs.values()))
        ):
            return fn(*args, **kwargs)
        _override.location = user_location()
        try:
            return fn(*args, **kwargs)
        finally:
            _override.location = None

    return at_caller


#: argument types whose methods `at_callers_line` may call (no user code in them)
_PLAIN = frozenset({type(None), bool, int, float, str})


def _all_plain(args: Iterable[Any]) -> bool:
    """Whether every argument is of a `_PLAIN` type or a `pyflame_made` class (a loop, not
    all() of a generator: cross_entropy and linear ask at every call)."""
    for a in args:
        cls = type(a)
        if cls not in _PLAIN and not pyflame_made(cls):
            return False
    return True


#: by class: whether every class of its MRO (but `object`) is the pyflame package's
_PYFLAME_MADE: dict[type, bool] = {}


def pyflame_made(cls: type) -> bool:
    """Whether `cls` and every base class it inherits from (but `object`) are defined in the
    pyflame package: their methods run no user code."""
    made = _PYFLAME_MADE.get(cls)
    if made is None:
        made = _PYFLAME_MADE[cls] = all(
            c is object or c.__module__ == "pyflame" or c.__module__.startswith("pyflame.")
            for c in cls.__mro__
        )
    return made


def user_location() -> Location:
    """(file, line) of the first stack frame outside the pyflame package."""
    if _override.location is not None:
        return _override.location
    frame: FrameType | None = sys._getframe(1)
    pyflame_code = _PYFLAME_CODE
    while frame is not None:
        code = frame.f_code
        if id(code) not in pyflame_code:
            name = frame.f_globals.get("__name__", "")
            if name != "pyflame" and not name.startswith("pyflame."):
                return code.co_filename, frame.f_lineno
            pyflame_code[id(code)] = code
        frame = frame.f_back
    return "<unknown>", 0


#: PyTorch's words for reading the .grad of a non-leaf that does not retain it
_NON_LEAF_GRAD = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
    "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
    "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor instead."
)


def user_stacklevel() -> int:
    """The `stacklevel` that makes `warnings.warn`, called by the caller, point at the first
    frame outside the pyflame package (the user's line)."""
    frame: FrameType | None = sys._getframe(2)
    level = 2
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name != "pyflame" and not name.startswith("pyflame."):
            return level
        frame, level = frame.f_back, level + 1
    return level


def format_location(loc: Location | None) -> str:
    return "<unknown>" if loc is None else f"{loc[0]}:{loc[1]}"


class VersionCounter:
    """PyTorch's version counter of a tensor's storage: every in-place change bumps it (the
    tensor's views share it, `.data` gets its own), and an op that saves a tensor for backward
    records the version it saw (pyflame/ops/saved.py); `backward` refuses a saved tensor whose
    version moved since. It remembers where the last few changes were made, for that error.
    (Class defaults, no __init__: every tensor makes one, most are never changed.)"""

    value = 0
    #: (version made, user's line) of the latest changes (a kv cache changes every step)
    changes: tuple[tuple[int, Location], ...] = ()

    def bump(self, location: Location) -> None:
        self.value += 1
        self.changes = (*self.changes[-15:], (self.value, location))

    def made_at(self, version: int) -> Location | None:
        """The user's line of the in-place op that made `version` (None once forgotten)."""
        return next((loc for v, loc in self.changes if v == version), None)


class GradFn:
    """What `Tensor.grad_fn` returns: the flame op whose gradient rule `backward` applies."""

    __slots__ = ("op",)

    def __init__(self, op: type[FlameOp]):
        self.op = op

    def name(self) -> str:
        return self.op.name

    def __repr__(self) -> str:
        return f"<GradFn {self.op.name}>"


#: a tensor's record of its views drops the dead ones from this many on (`_add_view`)
VIEWS_PRUNED_AT = 16


def drop_dead(refs: dict[int, weakref.ref], least: int) -> None:
    """Drop the dead weak references of a tensor's record of its users or views (by id) when
    it has just reached a power of two entries, `least` or more: amortised O(1) per entry.
    Iterates a copy and pops by key: another thread may add to a shared parameter's record
    meanwhile."""
    n = len(refs)
    if n >= least and not n & (n - 1):
        for key, ref in list(refs.items()):
            if ref() is None:
                refs.pop(key, None)


class Tensor(OpMethods):
    """A lazy tensor: shape, dtype, layout, producing op, inputs, attrs and source location.

    The operators and op methods (`x + y`, `x.exp()`, `x.sum(1)`, ...) come from `OpMethods`
    (pyflame/tensor_methods.py); this class holds the node and its state."""

    # numpy must not treat a Tensor as an object scalar: `array + t` calls `t.__radd__`
    __array_ufunc__ = None

    # Attributes set only on some tensors, declared (without a value) so mypy knows them; code
    # reads them with getattr(t, ..., None) or t.__dict__.get(...), as most tensors lack them.
    #: the user's name for an argument or parameter (pf.tensor(name=...), nn.Module): tracing.py
    #: names the function's arguments after it
    name: str
    #: runtime checks guarding this tensor (pyflame/checks.py)
    _checks: list[Any] | None
    #: `retain_grad()` was called on this non-leaf: `backward` writes its `.grad` too (a class
    #: default: most tensors never set it; it belongs to the object, so an in-place op that
    #: rebinds the tensor keeps it, as PyTorch moves its retains_grad hook)
    _retains_grad = False

    def __init__(
        self,
        shape: Sequence[int],
        dtype: DType = float32,
        op: type[FlameOp] | None = None,
        inputs: Sequence[Tensor] = (),
        attrs: dict[str, Any] | None = None,
        *,
        layout: MeshLayout | None = None,
        data: np.ndarray | DeviceArray | None = None,
        location: Location | None = None,
    ):
        if op is None and data is None:
            raise ValueError("a Tensor needs either a producing op or data")
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype = dtype
        self.op = op
        self.inputs: tuple[Tensor, ...] = tuple(inputs)
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.layout = layout
        self.location: Location = location if location is not None else user_location()
        self._requires_grad = False
        #: made by an op on inputs that need gradients (PyTorch's `grad_fn is not None`): the
        #: graph below it is kept after evaluation, so `backward` still reaches the leaves
        self._grad_node = False
        self._grad: Tensor | None = None
        #: `backward` wrote `.grad` and nothing has asked for it since (`grad`): a second
        #: backward replacing it warns (PyTorch would have added to it)
        self._grad_unread = False
        #: the values once evaluated: a host array, or a program's device array (gathered into
        #: one when read: `_host_data`)
        self._data: np.ndarray | DeviceArray | None = data
        #: weak references to the tensors built on this one (id -> ref), so that a pending update
        #: or an in-place op (pyflame/inplace.py) can leave them the old value
        self._users: dict[int, Any] | None = None
        #: (base, kind, params) when a view op made this tensor from `base` (ops/node._as_view):
        #: an in-place op on the view changes the base and the other way round, as in PyTorch
        self._view_of: tuple[Tensor, str, Any] | None = None
        #: weak references to this tensor's views (id -> ref)
        self._views: dict[int, Any] | None = None
        #: PyTorch's strides of a view over its storage, once asked for (ops.shape.strides_of)
        self._strides: tuple[int, ...] | None = None
        #: the new value of a pending update of this leaf (`optimizer.step()` before `pf.eval`):
        #: ops built from now on read it, as they would see the stepped parameter in PyTorch
        self._pending_value: Tensor | None = None
        #: input position -> the pending value this op read in place of that input (the input
        #: stays in `inputs`, so gradients still reach the leaf)
        self._reads: dict[int, Tensor] | None = None
        #: PyTorch's version counter of the storage (shared with views, see VersionCounter)
        self._version_counter = VersionCounter()

    # ---------------------------------------------------------------- structure

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def size(self, dim: int | None = None) -> Any:
        if dim is None:
            return self.shape
        return self.shape[normalize_dim(dim, self.ndim)]

    def numel(self) -> int:
        return math.prod(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    @property
    def _version(self) -> int:
        """How many in-place changes the tensor's storage has had (`torch.Tensor._version`)."""
        return self._version_counter.value

    @property
    def is_evaluated(self) -> bool:
        """True when the tensor holds data (a leaf); False while it is a lazy graph node."""
        return self._data is not None

    def _host_data(self) -> np.ndarray | None:
        """The data as a host array (None while lazy). A program's large outputs are held as
        device arrays (pyflame/sim/device_array.py: the tiles as the PEs held them, which the
        next program takes back as they are); reading the values gathers them, once."""
        data = self._data
        if data is not None and not isinstance(data, np.ndarray):
            data = self._data = np.asarray(data)
        return data

    def _set_data(self, value: np.ndarray | DeviceArray, *, keep_grad_graph: bool = False) -> None:
        """Hold `value`. The graph that produced it is dropped, unless `keep_grad_graph` and the
        tensor is part of a gradient graph: then (as PyTorch keeps `grad_fn`) `backward` still
        goes through it after `print(loss.item())`, while evaluation treats it as data."""
        self._data = value
        if keep_grad_graph and self._grad_node:
            return
        self._grad_node = False
        self.op = None
        self.inputs = ()
        self.attrs = {}
        self._reads = None
        self.__dict__.pop("_saved", None)

    def value_inputs(self) -> tuple[Tensor, ...]:
        """The tensors whose values this op computes from: `inputs`, except that an input with a
        pending update when the op was built is read as that update's new value."""
        if not self._reads:
            return self.inputs
        return tuple(self._reads.get(i, t) for i, t in enumerate(self.inputs))

    @property
    def _grad_fn(self) -> Any:
        """A node's own gradient rule (pf.extend, ops with a custom backward), see
        autograd.custom_rule; kept in the instance dict (read there by autograd)."""
        try:
            return self.__dict__["_grad_fn"]
        except KeyError:
            raise AttributeError("_grad_fn") from None

    @_grad_fn.setter
    def _grad_fn(self, rule: Any) -> None:
        """Setting a rule records this node as a user of the rule's `inputs` (which it may
        read besides its own inputs: clamp's rule reads x), so an in-place op on one of them
        can leave the rule the old value (pyflame/inplace.py)."""
        self.__dict__["_grad_fn"] = rule
        me = weakref.ref(self)
        for t in getattr(rule, "inputs", ()):
            if isinstance(t, Tensor):
                if t._users is None:
                    t._users = {}
                t._users[id(self)] = me

    @property
    def op_name(self) -> str | None:
        """The flame op's name (`"flame.add"`), None on a leaf."""
        return None if self.op is None else self.op.name

    # ---------------------------------------------------------------- autograd state

    @property
    def grad(self) -> Tensor | None:
        """The gradient the last `backward` wrote (fresh each call, API.md), or None. A
        non-leaf's is None unless retained, with PyTorch's warning (a user reading `y.grad`
        where `x.grad` was meant)."""
        self._grad_unread = False
        if self._grad is None and self._grad_node and not self._retains_grad:
            warnings.warn(_NON_LEAF_GRAD, UserWarning, stacklevel=user_stacklevel())
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        self._grad = value
        self._grad_unread = False

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if value and not self.dtype.is_floating_point:
            raise RuntimeError(
                f"{format_location(user_location())}: only Tensors of floating point dtype can "
                f"require gradients (this one is {self.dtype!r}; convert it with .float() first)"
            )
        if not value and self._grad_node:
            raise RuntimeError(
                f"{format_location(user_location())}: you can only change requires_grad flags of "
                "leaf variables. If you want to use a computed variable in a subgraph that "
                "doesn't require differentiation use var_no_grad = var.detach()."
            )
        self._requires_grad = value

    def retain_grad(self) -> None:
        """Let `backward` write this non-leaf's `.grad` (the total gradient that reaches it,
        fresh at each backward as for leaves), as `torch.Tensor.retain_grad`. A leaf keeps its
        `.grad` anyway (no-op); a tensor that does not require grad is PyTorch's RuntimeError."""
        if not self._requires_grad:
            raise RuntimeError(
                f"{format_location(user_location())}: can't retain_grad on Tensor that has "
                "requires_grad=False"
            )
        if self._grad_node:
            self._retains_grad = True

    @property
    def retains_grad(self) -> bool:
        """True for a non-leaf whose `retain_grad()` was called (False on leaves), as PyTorch."""
        return self._retains_grad and self._grad_node

    @property
    def is_leaf(self) -> bool:
        """True unless an op on inputs that need gradients made this tensor (as in PyTorch)."""
        return not self._grad_node

    @property
    def grad_fn(self) -> GradFn | None:
        """The op that `backward` goes through to reach this tensor's inputs (None on leaves)."""
        return GradFn(self.op) if self._grad_node and self.op is not None else None

    # ---------------------------------------------------------------- copies

    def __deepcopy__(self, memo: dict) -> Tensor:
        """`copy.deepcopy`: a new leaf holding this tensor's current values (a pending
        optimizer step or BatchNorm update is evaluated first: in PyTorch it has already
        happened), with its dtype, layout, name and `requires_grad`, and a copy of its `.grad`;
        a Parameter stays one. As in PyTorch, a tensor with gradient history does not copy."""
        self._check_copyable("deepcopy")
        new = _rebuild_tensor(*self._rebuild_args())
        memo[id(self)] = new
        if self._grad is not None:
            new._grad = self._grad.__deepcopy__(memo)
        return new

    def __reduce_ex__(self, protocol: Any) -> tuple:
        """pickle: as deepcopy, without `.grad` (PyTorch pickles a parameter's data and
        `requires_grad`)."""
        self._check_copyable("pickle")
        return (_rebuild_tensor, self._rebuild_args())

    def _check_copyable(self, how: str) -> None:
        if self._grad_node:
            raise RuntimeError(
                f"Only Tensors created explicitly by the user (graph leaves) support the {how} "
                "protocol: this one has gradient history (detach() it first)"
            )

    def _rebuild_args(self) -> tuple:
        values = np.array(self.numpy(), copy=True)
        return (
            type(self),
            values,
            self.dtype.name,
            self._requires_grad,
            self.layout,
            self.__dict__.get("name"),
        )

    # ---------------------------------------------------------------- evaluation

    def numpy(self) -> np.ndarray:
        """The data as a numpy array (evaluates the tensor if needed). A tensor with a pending
        update (a parameter after `optimizer.step()`) evaluates it first: PyTorch's step
        changes the parameter at once, so reading it shows the new values."""
        if self._data is None or self._pending_value is not None:
            BOUND.runtime.eval(self)
        data = self._host_data()
        assert data is not None
        return data

    def item(self) -> Any:
        if self.numel() != 1:
            raise ValueError(
                f"a Tensor with {self.numel()} elements cannot be converted to a Python scalar"
            )
        return self.numpy().reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        data = self.numpy()
        if dtype is not None and np.dtype(dtype) != data.dtype:
            return data.astype(dtype)
        return data.copy() if copy else data

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise ValueError(f"Boolean value of Tensor with {self.numel()} elements is ambiguous")
        return bool(self.item())

    def __repr__(self) -> str:
        if self._data is None:
            # without a hint the compiler places the tensor (not "no layout", as None suggested)
            layout = "auto" if self.layout is None else repr(self.layout)
            return f"tensor(<lazy> shape={list(self.shape)}, dtype={self.dtype!r}, layout={layout})"
        return _format_data(cast(np.ndarray, self._host_data()), self.dtype)

    def __str__(self) -> str:
        self.numpy()
        return repr(self)

    def __format__(self, spec: str) -> str:
        if spec and self.numel() == 1:
            return format(self.item(), spec)
        return format(str(self), spec)

    # ---------------------------------------------------------------- autograd

    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        """Fresh `.grad` for every leaf that requires grad and leads here (pf.backward)."""
        BOUND.autograd.backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self) -> Tensor:
        """The same values with no gradient history: a same-shape reshape (no data moves). As in
        PyTorch it is a view: an in-place op on either changes the other (pyflame/inplace.py)."""
        with no_grad():
            out: Tensor = BOUND.ops.reshape(self, self.shape)
        out._view_of = (self, "detach", None)
        out._version_counter = self._version_counter
        self._add_view(out)
        return out

    def _add_view(self, view: Tensor) -> None:
        """Record `view` as a view of this tensor (a weak reference: a view nobody holds goes).
        Dead entries are dropped as the record grows (`drop_dead`): a parameter's `w.T` of
        every training step would otherwise pile up (only a reused id replaced one)."""
        views = self._views
        if views is None:
            views = self._views = {}
        views[id(view)] = weakref.ref(view)
        n = len(views)
        if n >= VIEWS_PRUNED_AT and not n & (n - 1):  # (drop_dead's test, without a call)
            drop_dead(views, VIEWS_PRUNED_AT)

    def _has_views(self) -> bool:
        """Whether a view of this tensor is still alive."""
        views = self._views
        return views is not None and any(ref() is not None for ref in views.values())

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise ShapeError(
                f"{format_location(user_location())}: t() expects a tensor with <= 2 dims, "
                f"got shape {list(self.shape)}"
            )
        return self if self.ndim < 2 else BOUND.ops.transpose(self, 0, 1)

    @property
    def T(self) -> Tensor:
        """Reversed dimensions (the matrix transpose for 2-D tensors)."""
        if self.ndim < 2:
            return self
        return BOUND.ops.permute(self, *reversed(range(self.ndim)))

    def __iter__(self) -> Any:
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (BOUND.ops.getitem(self, i) for i in range(self.shape[0]))


_new_object = object.__new__


def new_node(
    shape: Sequence[int],
    dtype: DType,
    op: type[FlameOp],
    inputs: Sequence[Tensor],
    attrs: dict[str, Any] | None,
    layout: MeshLayout | None,
    location: Location,
) -> Tensor:
    """`Tensor(shape, dtype, op, inputs, attrs, layout=layout, location=location)`, as
    `ops._node` makes every node, without the class call's ~0.4 us (of ~2 per node): the
    attributes `Tensor.__init__` sets, in its order (kept in step with it:
    tests/unit/test_lazy_tensor.py compares the two)."""
    self: Tensor = _new_object(Tensor)
    self.shape = tuple(shape)
    self.dtype = dtype
    self.op = op
    self.inputs = tuple(inputs)
    self.attrs = dict(attrs) if attrs else {}
    self.layout = layout
    self.location = location
    self._requires_grad = False
    self._grad_node = False
    self._grad = None
    self._grad_unread = False
    self._data = None
    self._users = None
    self._view_of = None
    self._views = None
    self._strides = None
    self._pending_value = None
    self._reads = None
    self._version_counter = VersionCounter()
    return self


# ---------------------------------------------------------------- printing


def _format_data(data: np.ndarray, dtype: DType) -> str:
    """`tensor([[1., 2.], [3., 4.]])` in PyTorch's style."""
    options: dict[str, Any] = {
        "separator": ", ",
        "prefix": "tensor(",
        "threshold": 1000,
        "edgeitems": 3,
        "max_line_width": 80,
    }
    array = data
    if dtype.is_floating_point:
        array = data.astype(np.float32) if data.dtype != np.float32 else data
        finite = array[np.isfinite(array)]
        integral = finite.size == 0 or bool(np.all(finite == np.round(finite)))
        options["precision"] = 4
        options["floatmode"] = "unique" if integral else "fixed"
    body = np.array2string(array, **options)
    suffix = "" if dtype in (float32, bool_) else f", dtype={dtype!r}"
    return f"tensor({body}{suffix})"


def _rebuild_tensor(
    cls: type[Tensor],
    values: np.ndarray,
    dtype: str,
    requires_grad: bool,
    layout: MeshLayout | None,
    name: str | None,
) -> Tensor:
    """A leaf of class `cls` holding `values` (`Tensor.__deepcopy__`, unpickling)."""
    from pyflame.core.dtypes import as_dtype

    new = cls.__new__(cls)
    Tensor.__init__(
        new, values.shape, as_dtype(dtype), layout=layout, data=values, location=user_location()
    )
    new._requires_grad = requires_grad
    if name is not None:
        new.name = name
    return new
