"""`pf.Tensor`: a lazy graph node.

A tensor is either a *leaf* holding data (from `pf.from_numpy`, or any tensor after `pf.eval`)
or the result of a flame op (`op` is the flame op name, e.g. "flame.add") applied to `inputs`
with python-valued `attrs`. Building a node only records shape, dtype, layout and the user's
source line; nothing is computed until `pf.eval` (or `numpy()`, `item()`, `print` ...), after
which the tensor keeps its data and drops its graph.

    x = pf.randn([4, 4])          # Tensor(op="flame.random_normal", attrs={"seed": ...})
    y = (x + 1).relu()            # Tensor(op="flame.relu", inputs=(x + 1,))
    y.numpy()                     # compiles, runs, and y becomes a leaf with data
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyflame.ir.dtypes import DType, bool_, float32
from pyflame.layout import MeshLayout

Location = tuple[str, int]


def user_location() -> Location:
    """(file, line) of the first stack frame outside the pyflame package."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name != "pyflame" and not name.startswith("pyflame."):
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back  # type: ignore[assignment]
    return "<unknown>", 0


def format_location(loc: Location | None) -> str:
    return "<unknown>" if loc is None else f"{loc[0]}:{loc[1]}"


class GradFn:
    """What `Tensor.grad_fn` returns: the flame op whose gradient rule `backward` applies."""

    __slots__ = ("op",)

    def __init__(self, op: str):
        self.op = op

    def name(self) -> str:
        return self.op

    def __repr__(self) -> str:
        return f"<GradFn {self.op}>"


class Tensor:
    """A lazy tensor: shape, dtype, layout, producing op, inputs, attrs and source location."""

    # numpy must not treat a Tensor as an object scalar: `array + t` calls `t.__radd__`
    __array_ufunc__ = None

    def __init__(
        self,
        shape: Sequence[int],
        dtype: DType = float32,
        op: str | None = None,
        inputs: Sequence[Tensor] = (),
        attrs: dict[str, Any] | None = None,
        *,
        layout: MeshLayout | None = None,
        data: np.ndarray | None = None,
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
        self.grad: Tensor | None = None
        self._data = data
        #: weak references to the lazy tensors built on this leaf (id -> ref), so that a
        #: pending update can leave them the old value
        self._users: dict[int, Any] | None = None
        #: the new value of a pending update of this leaf (`optimizer.step()` before `pf.eval`):
        #: ops built from now on read it, as they would see the stepped parameter in PyTorch
        self._pending_value: Tensor | None = None
        #: input position -> the pending value this op read in place of that input (the input
        #: stays in `inputs`, so gradients still reach the leaf)
        self._reads: dict[int, Tensor] | None = None

    # ---------------------------------------------------------------- structure

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def size(self, dim: int | None = None) -> Any:
        if dim is None:
            return self.shape
        from pyflame.ir.shapes import normalize_dim

        return self.shape[normalize_dim(dim, self.ndim)]

    def numel(self) -> int:
        return math.prod(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    @property
    def is_evaluated(self) -> bool:
        """True when the tensor holds data (a leaf); False while it is a lazy graph node."""
        return self._data is not None

    def _set_data(self, value: np.ndarray, *, keep_grad_graph: bool = False) -> None:
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

    def value_inputs(self) -> tuple[Tensor, ...]:
        """The tensors whose values this op computes from: `inputs`, except that an input with a
        pending update when the op was built is read as that update's new value."""
        if not self._reads:
            return self.inputs
        return tuple(self._reads.get(i, t) for i, t in enumerate(self.inputs))

    # ---------------------------------------------------------------- autograd state

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

    @property
    def is_leaf(self) -> bool:
        """True unless an op on inputs that need gradients made this tensor (as in PyTorch)."""
        return not self._grad_node

    @property
    def grad_fn(self) -> GradFn | None:
        """The op that `backward` goes through to reach this tensor's inputs (None on leaves)."""
        return GradFn(self.op) if self._grad_node and self.op is not None else None

    # ---------------------------------------------------------------- evaluation

    def numpy(self) -> np.ndarray:
        """The data as a numpy array (evaluates the tensor if needed)."""
        if self._data is None:
            from pyflame import runtime

            runtime.eval(self)
        assert self._data is not None
        return self._data

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
            return (
                f"tensor(<lazy> shape={list(self.shape)}, dtype={self.dtype!r}, "
                f"layout={layout})"
            )
        return _format_data(self._data, self.dtype)

    def __str__(self) -> str:
        self.numpy()
        return repr(self)

    def __format__(self, spec: str) -> str:
        if spec and self.numel() == 1:
            return format(self.item(), spec)
        return format(str(self), spec)

    # ---------------------------------------------------------------- operators

    def __add__(self, other: Any) -> Tensor:
        return _ops.binary("flame.add", self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops.binary("flame.add", other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops.binary("flame.sub", self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.binary("flame.sub", other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops.binary("flame.mul", self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.binary("flame.mul", other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.binary("flame.div", self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.binary("flame.div", other, self)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __abs__(self) -> Tensor:
        return _ops.abs(self)

    def __pow__(self, other: Any) -> Tensor:
        return _ops.binary("flame.pow", self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ops.binary("flame.pow", other, self)

    # comparisons give bool tensors, as in PyTorch (so Tensors hash by identity)
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ops.binary("flame.eq", self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ops.binary("flame.ne", self, other)

    def __lt__(self, other: Any) -> Tensor:
        return _ops.binary("flame.lt", self, other)

    def __le__(self, other: Any) -> Tensor:
        return _ops.binary("flame.le", self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _ops.binary("flame.gt", self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _ops.binary("flame.ge", self, other)

    __hash__ = object.__hash__

    def __and__(self, other: Any) -> Tensor:
        return _ops.binary("flame.logical_and", self, other)

    def __rand__(self, other: Any) -> Tensor:
        return _ops.binary("flame.logical_and", other, self)

    def __or__(self, other: Any) -> Tensor:
        return _ops.binary("flame.logical_or", self, other)

    def __ror__(self, other: Any) -> Tensor:
        return _ops.binary("flame.logical_or", other, self)

    def __invert__(self) -> Tensor:
        return _ops.logical_not(self)

    def astype(self, dtype: Any) -> Tensor:
        return _ops.astype(self, dtype)

    # ---------------------------------------------------------------- autograd

    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        """Fresh `.grad` for every leaf that requires grad and leads here (pf.backward)."""
        from pyflame.autograd import backward

        backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self) -> Tensor:
        """The same values with no gradient history: a same-shape reshape (no data moves)."""
        from pyflame.autograd import no_grad

        with no_grad():
            return _ops.reshape(self, self.shape)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    def to(self, dtype: Any) -> Tensor:
        """`x.to(dtype)`: a dtype conversion (PyFlame tensors have no device)."""
        return _ops.astype(self, dtype)

    def float(self) -> Tensor:
        return _ops.astype(self, "float32")

    def half(self) -> Tensor:
        return _ops.astype(self, "float16")

    def bfloat16(self) -> Tensor:
        return _ops.astype(self, "bfloat16")

    def int(self) -> Tensor:
        return _ops.astype(self, "int32")

    def bool(self) -> Tensor:
        return _ops.astype(self, "bool")

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        return _ops.clamp(self, min, max)

    clip = clamp

    def where(self, condition: Tensor, other: Any) -> Tensor:
        """`x.where(cond, y)` is `pf.where(cond, x, y)`, as in PyTorch."""
        return _ops.where(condition, self, other)

    def __matmul__(self, other: Any) -> Tensor:
        if not isinstance(other, Tensor):
            return NotImplemented
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        if not isinstance(other, Tensor):
            return NotImplemented
        return _ops.matmul(other, self)

    # ---------------------------------------------------------------- methods

    def add(self, other: Any) -> Tensor:
        return _ops.add(self, other)

    def sub(self, other: Any) -> Tensor:
        return _ops.sub(self, other)

    def mul(self, other: Any) -> Tensor:
        return _ops.mul(self, other)

    def div(self, other: Any) -> Tensor:
        return _ops.div(self, other)

    def neg(self) -> Tensor:
        return _ops.neg(self)

    def relu(self) -> Tensor:
        return _ops.relu(self)

    def sum(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        return _ops.sum(self, dim, keepdim)

    def mean(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        return _ops.mean(self, dim, keepdim)

    def matmul(self, other: Tensor) -> Tensor:
        return _ops.matmul(self, other)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return _ops.transpose(self, dim0, dim1)

    def permute(self, *dims: Any) -> Tensor:
        return _ops.permute(self, *dims)

    def t(self) -> Tensor:
        if self.ndim > 2:
            from pyflame.ir.errors import ShapeError

            raise ShapeError(
                f"{format_location(user_location())}: t() expects a tensor with <= 2 dims, "
                f"got shape {list(self.shape)}"
            )
        return self if self.ndim < 2 else _ops.transpose(self, 0, 1)

    @property
    def T(self) -> Tensor:
        """Reversed dimensions (the matrix transpose for 2-D tensors)."""
        if self.ndim < 2:
            return self
        return _ops.permute(self, *reversed(range(self.ndim)))

    def reshape(self, *shape: Any) -> Tensor:
        return _ops.reshape(self, *shape)

    def view(self, *shape: Any) -> Tensor:
        return _ops.reshape(self, *shape)

    # --- shape ops (pyflame.ops shape-ops section) -----------------------------------------

    def __getitem__(self, key: Any) -> Tensor:
        """Basic indexing: `x[1:7:2, ::3]`, `x[..., -1]`, `x[:, None]` (no tensor indices)."""
        return _ops.getitem(self, key)

    def __iter__(self) -> Any:
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (_ops.getitem(self, i) for i in range(self.shape[0]))

    def unsqueeze(self, dim: int) -> Tensor:
        return _ops.unsqueeze(self, dim)

    def squeeze(self, dim: int | Sequence[int] | None = None) -> Tensor:
        return _ops.squeeze(self, dim)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return _ops.flatten(self, start_dim, end_dim)

    def expand(self, *sizes: Any) -> Tensor:
        return _ops.expand(self, *sizes)

    def expand_as(self, other: Tensor) -> Tensor:
        return _ops.expand_as(self, other)

    def broadcast_to(self, *size: Any) -> Tensor:
        return _ops.broadcast_to(self, *size)

    def split(self, split_size: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
        return _ops.split(self, split_size, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return _ops.chunk(self, chunks, dim)

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        return _ops.narrow(self, dim, start, length)


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


# ops uses Tensor, Tensor's operators use ops: bind the module after the class exists
from pyflame import ops as _ops  # noqa: E402
from pyflame.ir import elementwise as _elementwise_table  # noqa: E402


# x.exp(), x.sigmoid(), x.maximum(y), x.eq(y), ... : one method per elementwise function
def _method(name: str) -> Any:
    def method(self: Tensor, *args: Any) -> Tensor:
        return getattr(_ops, name)(self, *args)  # looked up late: ops imports this module

    method.__name__ = method.__qualname__ = name
    return method


for _name in (*_elementwise_table.UNARY, *_elementwise_table.BINARY):
    if not hasattr(Tensor, _name):
        setattr(Tensor, _name, _method(_name))


# --- reductions ---------------------------------------------------------------------------
# x.max(), x.max(dim) -> (values, indices), x.amax(dim), x.argmax(dim), x.var(dim), x.softmax(dim),
# ...: the methods PyTorch has, each calling the pf function of the same name.
def _reduction_method(name: str, fn: str) -> Any:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        return getattr(_ops, fn)(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"`pf.{name}(x, ...)`."
    return method


for _name, _fn in (("max", "max_"), ("min", "min_"), ("amax", "amax"), ("amin", "amin"),
                   ("argmax", "argmax"), ("argmin", "argmin"), ("prod", "prod"), ("var", "var"),
                   ("std", "std"), ("logsumexp", "logsumexp"), ("softmax", "softmax"),
                   ("log_softmax", "log_softmax")):
    setattr(Tensor, _name, _reduction_method(_name, _fn))


# --- creation and matmul methods: x.bmm(y), x.bernoulli(p), x.bernoulli() ----------------------
def _bmm(self: Tensor, other: Tensor) -> Tensor:
    """`pf.bmm(x, other)`."""
    return _ops.bmm(self, other)


def _bernoulli(self: Tensor, p: float | None = None, *, seed: int | None = None) -> Tensor:
    """`pf.bernoulli(x, p, seed=seed)`."""
    return _ops.bernoulli(self, p, seed=seed)


Tensor.bmm = _bmm  # type: ignore[attr-defined]
Tensor.bernoulli = _bernoulli  # type: ignore[attr-defined]
