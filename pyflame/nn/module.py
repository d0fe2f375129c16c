"""`pf.nn.Module`: the base class of layers and models, as `torch.nn.Module`.

    class MyLayer(pf.nn.Module):
        def __init__(self, in_features, out_features):
            super().__init__()
            self.linear = pf.nn.Linear(in_features, out_features)   # a registered submodule

        def forward(self, x):
            return self.linear(x)

Assigning a `Module` to an attribute registers a submodule, a `pf.nn.Parameter` a parameter,
and `register_buffer` a buffer (state that is not trained, such as BatchNorm's running
statistics). `named_parameters()`, `state_dict()` ... walk them with PyTorch's dotted names and
order, so a PyTorch state dict loads into the same architecture written with `pf.nn`.

Calling a module builds graph nodes; nothing runs until `pf.eval`. A module may define
`forward_train` and `forward_eval` next to (or instead of) `forward`: `module(x)` calls
`forward_train` in training mode and `forward_eval` in eval mode when they exist, `forward`
otherwise (PyFlame compiles one static graph per mode; see the migration guide).

Parameters and buffers are leaves holding data. Their values change only by replacing that data
in the same object: `load_state_dict`, optimizer steps and BatchNorm's running statistics (the
last two as pending updates of the next `pf.eval`, `pyflame.runtime.add_pending_update`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from pyflame.core.dtypes import DType, as_dtype
from pyflame.devices import is_device
from pyflame.lazy_tensor import Tensor
from pyflame.nn.parameter import Parameter, as_array


def _load_into(target: Tensor, array: np.ndarray) -> None:
    """`target.copy_(array)` without recording, as PyTorch's load_state_dict does: the loaded
    values replace everything pending on the tensor (an `optimizer.step()` or a BatchNorm
    running-statistics update not yet evaluated belongs to the value it replaced, and ops
    built from the tensor before keep reading that value). A plain leaf holding data, with
    nothing built from it, simply takes the array."""
    plain = (
        target._data is not None
        and target.op is None
        and target._pending_value is None
        and not target._users
        and not target._has_views()
        and target._view_of is None
    )
    if plain:
        target._set_data(array)
        return
    from pyflame import inplace  # (it imports the op library, which imports nn)
    from pyflame.grad_mode import no_grad
    from pyflame.ops.creation import from_numpy

    with no_grad():
        inplace.copy_(target, from_numpy(array))


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(..., strict=False)` returns (PyTorch's `_IncompatibleKeys`)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


def _snapshot(t: Tensor) -> Tensor:
    """A leaf with `t`'s current data and layout and no gradient history (what state_dict
    holds, like PyTorch's detached tensors); later updates of `t` replace its data, not this."""
    return Tensor(t.shape, t.dtype, layout=t.layout, data=t.numpy(), location=t.location)


def _checked_array(key: str, value: Any, target: Tensor, errors: list[str]) -> np.ndarray | None:
    """`value` as an array of `target`'s shape and dtype, or None with an error message."""
    try:
        array = as_array(value)
    except Exception as err:  # noqa: BLE001 (any conversion failure is the user's value)
        errors.append(f'could not read "{key}" ({type(value).__name__}): {err}')
        return None
    if tuple(array.shape) != tuple(target.shape):
        errors.append(
            f"size mismatch for {key}: copying a param with shape {list(array.shape)} from "
            f"checkpoint, the shape in current model is {list(target.shape)}."
        )
        return None
    want = target.dtype.numpy
    if array.dtype.kind in "iub" and np.dtype(want).kind in "iu":
        info = np.iinfo(want)
        if array.size and (array.min() < info.min or array.max() > info.max):
            errors.append(
                f"values of {key} in [{array.min()}, {array.max()}] do not fit {target.dtype!r}"
            )
            return None
    if (
        array.dtype.kind in "OUSVMm"
        and array.dtype != want
        and array.dtype.name not in ("bfloat16", "float16")
    ):
        errors.append(f"{key}: cannot load {array.dtype} data into a {target.dtype!r} tensor")
        return None
    return np.array(array, dtype=want, copy=True, order="C")


def _defined_in(cls: type, name: str) -> bool:
    """Whether `cls` or a class it inherits from defines `name`."""
    for c in cls.__mro__:
        if name in c.__dict__:
            return True
    return False


class Module:
    """Base class of every layer and model; subclasses define `forward` (or `forward_train`
    and `forward_eval`) and assign their parameters and submodules in `__init__`."""

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _non_persistent_buffers: set[str]
    _modules: dict[str, Module | None]

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})

    # ---------------------------------------------------------------- forward

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        modes = [m for m in ("forward_train", "forward_eval") if hasattr(self, m)]
        if modes:
            mode = "training" if self.training else "eval"
            raise NotImplementedError(
                f"{self._get_name()} defines {' and '.join(modes)} but no forward for {mode} mode"
            )
        raise NotImplementedError(
            f'Module [{self._get_name()}] is missing the required "forward" function'
        )

    def _forward_for_mode(self) -> Callable[..., Any]:
        name = "forward_train" if self.training else "forward_eval"
        cls = type(self)
        if (
            cls.__getattr__ is Module.__getattr__
            and cls.__getattribute__ is Module.__getattribute__
            and name not in self.__dict__
            and not _defined_in(cls, name)
        ):
            # what getattr(self, name, None) finds, without Module.__getattr__ raising the
            # AttributeError it would catch (most modules define neither: every call asks)
            fn = self._stored(name)
        else:
            fn = getattr(self, name, None)
        return fn if callable(fn) else self.forward

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """`forward_train` (training mode) or `forward_eval` (eval mode) when the module defines
        it, else `forward`."""
        return self._forward_for_mode()(*args, **kwargs)

    # ---------------------------------------------------------------- registration

    def _check_init(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {what} before Module.__init__() call (call "
                "super().__init__() first)"
            )

    @staticmethod
    def _check_name(name: Any, what: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{what} name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f'{what} name can\'t be empty or contain ".", got "{name}"')

    def _forget(self, name: str, keep: dict[str, Any]) -> None:
        """Drop `name` from every store but `keep` (where assigning keeps its position)."""
        for store in (self.__dict__, self._parameters, self._buffers, self._modules):
            if store is not keep:
                store.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (None keeps the name, as for an absent bias)."""
        self._check_init("parameters")
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter "
                f"'{name}' (pf.nn.Parameter or None required)"
            )
        self._forget(name, self._parameters)
        self._parameters[name] = param
        self._name_leaves()

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Add a buffer: state saved in `state_dict` (unless not persistent) but not trained.
        A numpy array becomes a pf.Tensor."""
        self._check_init("buffers")
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            if not isinstance(tensor, np.ndarray):
                raise TypeError(
                    f"cannot assign '{type(tensor).__name__}' object to buffer "
                    f"'{name}' (pf.Tensor, numpy array or None required)"
                )
            tensor = Tensor(tensor.shape, as_dtype(tensor.dtype), data=np.array(tensor))
        self._forget(name, self._buffers)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)
        self._name_leaves()

    def add_module(self, name: str, module: Module | None) -> None:
        self._check_init("child modules")
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a pf.nn.Module subclass")
        self._forget(name, self._modules)
        self._modules[name] = module
        self._name_leaves()

    register_module = add_module

    def _name_leaves(self) -> None:
        """Name every parameter and buffer under this module by its path (`fc1.weight`): traced
        programs name @main's arguments so (see pyflame.tracing). The outermost module a tensor
        is registered in last names it."""
        for path, t in self.named_parameters():
            t.name = path
        for path, buffer in self.named_buffers():
            buffer.name = path

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            self._check_init("parameters")
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(pf.nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            self._check_init("child modules")
            self.add_module(name, value)
        elif name in self.__dict__.get("_modules", {}):
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module "
                    f"'{name}' (pf.nn.Module or None expected)"
                )
            self._modules[name] = None
        elif name in self.__dict__.get("_buffers", {}):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                    "(pf.Tensor or None expected)"
                )
            self._buffers[name] = value
            if value is not None:
                value.name = name
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: parameters, buffers and submodules live here
        # (its own loop, not a call of `_stored`: `self.weight` of every forward comes here)
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def _stored(self, name: str) -> Any:
        """The parameter, buffer or submodule `name` (what `__getattr__` finds), else None."""
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        return None

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        return sorted(
            set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules)
        )

    # ---------------------------------------------------------------- traversal

    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """This module and every submodule, depth first, with dotted names ('' for this one)."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(
                memo, f"{prefix}.{name}" if prefix else name, remove_duplicate
            )

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(
        self, store: str, prefix: str, recurse: bool, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        modules = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else iter([(prefix, self)])
        )
        for module_prefix, module in modules:
            for name, t in getattr(module, store).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield (f"{module_prefix}.{name}" if module_prefix else name), t

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs, PyTorch's names and order; a shared parameter once."""
        # _parameters holds only Parameters, though _named_members is typed to yield Tensors
        yield from self._named_members(
            "_parameters",
            prefix,
            recurse,  # type: ignore[misc]  # _parameters holds only Parameters (see above)
            remove_duplicate,
        )

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        module: Module = self
        for item in target.split(".") if target else []:
            child = module._modules.get(item)
            if child is None:
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`")
            module = child
        return module

    def get_parameter(self, target: str) -> Parameter:
        path, _, name = target.rpartition(".")
        param = self.get_submodule(path)._parameters.get(name)
        if param is None:
            raise AttributeError(f"`{target}` is not a parameter")
        return param

    def get_buffer(self, target: str) -> Tensor:
        path, _, name = target.rpartition(".")
        buf = self.get_submodule(path)._buffers.get(name)
        if buf is None:
            raise AttributeError(f"`{target}` is not a buffer")
        return buf

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """`fn` on every submodule (children first), then on this module."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ---------------------------------------------------------------- state dict

    def _state_items(self) -> Iterator[tuple[str, Tensor]]:
        """What state_dict holds: per module (depth first) its parameters, then its persistent
        buffers, skipping None; a tensor shared by two modules appears under both names."""
        for prefix, module in self.named_modules(remove_duplicate=True):
            dot = f"{prefix}." if prefix else ""
            for name, p in module._parameters.items():
                if p is not None:
                    yield dot + name, p
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent_buffers:
                    yield dot + name, b

    def state_dict(
        self,
        destination: dict[str, Any] | None = None,
        prefix: str = "",
        keep_vars: bool = False,
    ) -> dict[str, Tensor]:
        """Name -> pf.Tensor for every parameter and persistent buffer (PyTorch's keys and
        order). The values are snapshots of the current data (`keep_vars=True`: the module's
        own tensors). Pending updates not yet evaluated (an optimizer step before `pf.eval`)
        are not in it."""
        # an OrderedDict unless the caller passes its own dict (as in PyTorch)
        out: dict[str, Tensor] = OrderedDict() if destination is None else destination
        for name, t in self._state_items():
            out[prefix + name] = t if keep_vars else _snapshot(t)
        return out

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> IncompatibleKeys:
        """Copy values (pf.Tensors, numpy arrays, CPU torch tensors) into this module's
        parameters and buffers, which keep their identity (optimizers keep working). Shapes
        must match; values are converted to each tensor's dtype (int64 -> int32 when they fit).
        Nothing is changed when an error is raised."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        own = dict(self._state_items())
        given = list(state_dict.keys())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in given if k not in own]
        errors: list[str] = []
        if strict:
            if unexpected:
                errors.append(
                    "Unexpected key(s) in state_dict: "
                    + ", ".join(f'"{k}"' for k in unexpected)
                    + ". "
                )
            if missing:
                errors.append(
                    "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". "
                )
        copies: list[tuple[Tensor, np.ndarray]] = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            array = _checked_array(key, state_dict[key], target, errors)
            if array is not None:
                copies.append((target, array))
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {self._get_name()}:\n\t" + "\n\t".join(errors)
            )
        for target, array in copies:
            _load_into(target, array)
        return IncompatibleKeys(missing, unexpected)

    # ---------------------------------------------------------------- modes and gradients

    def train(self, mode: bool = True) -> Module:
        """Training mode (`mode=True`) or eval mode for this module and every submodule."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Eval mode: Dropout is the identity, BatchNorm uses its running statistics."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the parameters' gradients (harmless: `pf.backward` writes fresh ones): None,
        or zeros with `set_to_none=False` (so an optimizer still steps them: momentum and
        weight decay go on, as in PyTorch)."""
        from pyflame import ops  # (the op library imports the frontend, which imports nn)

        for p in self.parameters():
            if p.grad is not None:
                p.grad = None if set_to_none else ops.zeros_like(p)

    # ---------------------------------------------------------------- dtype

    def to(self, *args: Any, dtype: Any = None, **kwargs: Any) -> Module:
        """`model.to(pf.float16)`: floating-point parameters and buffers converted in place
        (integer buffers such as `num_batches_tracked` keep their dtype). Device arguments
        (`"cpu"`, `"cuda"`, ...) are accepted and do nothing: PyFlame has one device."""
        target: DType | None = None if dtype is None else as_dtype(dtype)
        for arg in list(args) + list(kwargs.values()):
            if arg is None or (not isinstance(arg, Tensor) and is_device(arg)):
                continue  # a device: PyFlame has one (the wafer), so it changes nothing
            target = arg.dtype if isinstance(arg, Tensor) else as_dtype(arg)
        if target is None:
            return self
        if not target.is_floating_point:
            raise TypeError(f"Module.to only accepts floating point dtypes, got {target!r}")
        for t in [*self.parameters(), *self.buffers()]:
            if t.dtype.is_floating_point and t.dtype is not target:
                t._set_data(np.ascontiguousarray(t.numpy().astype(target.numpy)))
                t.dtype = target
                t.grad = None
        return self

    def float(self) -> Module:
        return self.to("float32")

    def half(self) -> Module:
        return self.to("float16")

    def bfloat16(self) -> Module:
        return self.to("bfloat16")

    def cpu(self) -> Module:
        return self

    # ---------------------------------------------------------------- printing

    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in `repr` (layers override it)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, module in self._modules.items():
            lines.append(f"({name}): " + _addindent(repr(module), 2))
        body = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                body += lines[0]
            else:
                body += "\n  " + "\n  ".join(lines) + "\n"
        return body + ")"


__all__ = ["IncompatibleKeys", "Module"]
