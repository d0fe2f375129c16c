"""Optimizers: `pf.optim.SGD`, `pf.optim.Adam`, `pf.optim.AdamW`, `pf.optim.RMSprop`,
`pf.optim.Adagrad`, `pf.optim.Adamax`, `pf.optim.NAdam`, `pf.optim.RAdam`, `pf.optim.Adadelta`
(PyTorch's update formulas, in PyTorch's order of float32 operations).

`step()` builds each parameter's update lazily from its `.grad` and registers it, and the
update of every optimizer state tensor, as pending state (`runtime.add_pending_update`), so the
guide's loop is ONE compiled program per iteration, and the same program every iteration:

    opt = pf.optim.Adam(model.parameters(), lr=1e-3)
    for batch, target in loader:
        with pf.autograd.enable_grad():
            loss = criterion(model(pf.from_numpy(batch)), pf.from_numpy(target))
        pf.backward(loss)
        opt.step()             # nothing runs yet
        pf.eval(loss)          # forward + backward + update: compiled on the first iteration only

Compile once: every step builds the identical graph structure. The optimizer state (momentum
buffers, `exp_avg`, `exp_avg_sq`, ...) is held by data leaves that exist from the first step
(zeros made on the host), and whatever changes from step to step (the learning rate, the step
count's bias corrections `1 - beta**t`, SGD's "first step" momentum coefficients) enters the
program as rank-0 data tensors computed on the host in float64 exactly as PyTorch computes them,
never as constants baked into the graph. So changing `group["lr"]` (a schedule), SGD's
momentum or dampening, or Adam's beta1 (OneCycleLR and CyclicLR cycle them every step) never
recompiles; changing another hyper-parameter (beta2, weight decay, eps) compiles a new program
once.

Differences from PyTorch: a parameter changes when the next `pf.eval` runs, not inside
`step()` (a forward pass built between `step()` and `pf.eval` still sees the old values; a
second `step()` before `pf.eval` correctly builds on the first one's pending values). Updates of
float16/bfloat16 parameters are computed in float32 and rounded once per stored value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from pyflame import autograd, ops, runtime
from pyflame.autograd import enable_grad, no_grad
from pyflame.core.dtypes import bool_, float32
from pyflame.lazy_tensor import Tensor, building_at, pyflame_made, user_location

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
]


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


#: a default that every param group must give (as `torch.optim.optimizer.required`)
required = _Required()


def _number(value: Any, what: str) -> float:
    """A hyper-parameter as a Python float (a rank-0 pf.Tensor is read on the host)."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{what} must be a number or a one-element tensor")
        value = value.item()
    return float(value)


def _host_scalar(value: float) -> Tensor:
    """A rank-0 float32 data leaf: a runtime input of the program, never part of its key."""
    return Tensor((), float32, data=np.asarray(value, dtype=np.float32))


def _zeros_like(p: Tensor) -> Tensor:
    """A data leaf of zeros shaped like `p` (made on the host: the state exists from step 1)."""
    return Tensor(p.shape, p.dtype, data=np.zeros(p.shape, dtype=p.dtype.numpy))


class Optimizer:
    """Base class: `param_groups` (list of dicts with "params" and the options), `state`
    (parameter -> dict of state), `zero_grad()`, `step()`, `state_dict()`,
    `load_state_dict()`, `add_param_group()`, as `torch.optim.Optimizer`."""

    #: the state entries `step()` keeps per parameter (`load_state_dict` refuses others) and
    #: those a non-empty state must have
    state_names: frozenset[str] = frozenset()
    required_state: frozenset[str] = frozenset()

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}  # keyed by identity (Tensor.__hash__)
        self.param_groups: list[dict[str, Any]] = []
        #: this step's coefficients shared by a group's parameters (`_group_scalar`)
        self._group_scalars: dict[tuple[int, str], Tensor] = {}
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {type(params).__name__}"
            )
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (the rest from `defaults`)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, "
                "but the ordering of tensors in sets will change between runs; "
                "use a list instead"
            )
        elif params is None:
            raise ValueError("a param group needs a 'params' entry")
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        tensors = [p[1] if isinstance(p, tuple) else p for p in params]
        if names and len(names) != len(tensors):
            raise ValueError(
                "all optimizer params should be with/without names; some param names are missing"
            )
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"optimizer can only optimize pf.Tensors, but one of the params "
                    f"is {type(p).__name__}"
                )
            if not (p.is_leaf or p.retains_grad):  # its .grad never comes: a silent no-op
                raise ValueError("can't optimize a non-leaf Tensor")
        group["params"] = tensors
        if names:
            group["param_names"] = names
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(
                    f"parameter group didn't specify a value of required "
                    f"optimization parameter {name}"
                )
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in tensors}) != len(tensors):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        if any(id(p) in seen for p in tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate a group's options (subclasses)."""

    # ------------------------------------------------------------------ gradients

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Harmless in PyFlame (`pf.backward` writes fresh gradients); as in PyTorch, gradients
        become None (or zeros with `set_to_none=False`)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.grad = None if set_to_none else ops.zeros_like(p)

    # ------------------------------------------------------------------ step

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Register the update of every parameter that has a `.grad` (and of the optimizer's
        state) as pending state: the next `pf.eval` computes it in the same program as
        everything else. Returns `closure()` when a closure is given (as in PyTorch)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._group_scalars = {}
        try:
            with no_grad(), self._building_at():
                for group in self.param_groups:
                    for p in group["params"]:
                        if p.grad is None:
                            continue
                        state = self.state.setdefault(p, {})
                        self._update(p, p.grad, group, state)
                    autograd.gradients_applied(group["params"])
        finally:
            self._group_scalars = {}
        return loss

    def _group_scalar(self, group: dict[str, Any], name: str, value: float) -> Tensor:
        """`_host_scalar(value)` for a coefficient made from `group`'s options alone (`name`
        says which: SGD's -lr), one leaf for all the group's parameters in this step: one
        argument and one host input of the program, not one per parameter. Shared by role,
        never by equal values (which would make the program depend on the data)."""
        key = (id(group), name)
        leaf = self._group_scalars.get(key)
        if leaf is None:
            leaf = self._group_scalars[key] = _host_scalar(value)
        return leaf

    def _building_at(self) -> contextlib.AbstractContextManager[None]:
        """The update's nodes made at the user's `step()` line from one stack walk (not one per
        node), when no user code runs in it: the optimizer's class, its parameters and their
        gradients are all pyflame's (a user's subclass may override `_update`, a Tensor
        subclass an operator: their nodes belong to their own lines)."""
        if pyflame_made(type(self)) and all(
            pyflame_made(type(p)) and (p._grad is None or pyflame_made(type(p._grad)))
            for group in self.param_groups
            for p in group["params"]
        ):
            return building_at(user_location())
        return contextlib.nullcontext()

    def _value(self, t: Tensor) -> Tensor:
        """`t`'s current value: its pending new value if a step registered one (so a second
        step() before pf.eval builds on the first), else `t` itself."""
        return t._pending_value if t._pending_value is not None else t

    def _compute(self, t: Tensor) -> Tensor:
        """`t`'s current value in the dtype updates are computed in (float32)."""
        v = self._value(t)
        return v if v.dtype is float32 or not v.dtype.is_floating_point else v.astype(float32)

    def _assign(self, target: Tensor, value: Tensor) -> None:
        if value.dtype is not target.dtype:
            value = value.astype(target.dtype)
        runtime.add_pending_update(target, value)

    def _update(
        self, p: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ state dicts

    def state_dict(self) -> dict[str, Any]:
        """`{"state": {index: {name: tensor}}, "param_groups": [{..., "params": [index]}]}` as
        PyTorch (save it with `pf.save`). Like `Module.state_dict()`, the tensors are snapshots
        of the current data: updates registered by a `step()` not yet evaluated are not in it
        (call `pf.eval` first), and later steps do not change it."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {
            index[id(p)]: {k: _snapshot(v) for k, v in s.items()}
            for p, s in self.state.items()
            if id(p) in index and s
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore options and state saved by `state_dict()` (possibly through `pf.save` and
        `pf.load`: tensors may be pf.Tensors or numpy arrays, group indices ints or strings)."""
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict:
            raise ValueError("load_state_dict expects a dict with 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                "loaded state dict has a different number of parameter groups "
                f"({len(saved_groups)}) than the optimizer "
                f"({len(self.param_groups)})"
            )
        for i, (g, s) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(
                    f"loaded state dict contains a parameter group {i} of "
                    f"{len(s['params'])} parameters that doesn't match the size "
                    f"of the optimizer's group ({len(g['params'])})"
                )
        # everything is checked before anything changes: a refused state leaves the optimizer
        # as it was
        new_groups = [
            self._loaded_group(i, g, s)
            for i, (g, s) in enumerate(zip(self.param_groups, saved_groups, strict=True))
        ]
        by_index: dict[int, Tensor] = {}
        for g, s in zip(self.param_groups, saved_groups, strict=True):
            for p, i in zip(g["params"], s["params"], strict=True):
                by_index[int(i)] = p
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, values in state_dict.get("state", {}).items():
            p = by_index.get(int(key))
            if p is None:
                continue
            self._check_state_names(int(key), values)
            new_state[p] = {name: _state_value(name, v, p) for name, v in values.items()}
        self.state = new_state
        for g, new in zip(self.param_groups, new_groups, strict=True):
            g.update(new)

    def _loaded_group(self, i: int, group: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
        """The options of saved group `i`, refused when they are another optimizer's (PyTorch
        accepts an Adam state in SGD and fails at the next step; PyFlame refuses it here)."""
        name = type(self).__name__
        options = {
            k: (tuple(v) if k == "betas" else v)
            for k, v in saved.items()
            if k not in ("params", "param_names")
        }
        foreign = sorted(
            set(options) - set(self.defaults) - _TORCH_ONLY_OPTIONS - _SCHEDULER_OPTIONS
        )
        if foreign:
            raise ValueError(
                f"loaded state dict's parameter group {i} has options {foreign} that {name} does "
                f"not take: it was saved by another optimizer class (create the optimizer the "
                f"checkpoint was saved from, or start {name} from its own state)"
            )
        merged = {**group, **options}
        self._check_group(merged)  # a bad value (lr < 0, ...) is refused as in the constructor
        return {k: v for k, v in merged.items() if k != "params"}

    def _check_state_names(self, index: int, values: dict[str, Any]) -> None:
        name = type(self).__name__
        foreign = sorted(set(values) - self.state_names)
        if foreign:
            raise ValueError(
                f"loaded state dict has optimizer state {foreign} for parameter {index}, which "
                f"{name} does not keep ({sorted(self.state_names) or 'no state'}): it was saved "
                "by another optimizer class"
            )
        missing = sorted(self.required_state - set(values)) if values else []
        if missing:
            raise ValueError(
                f"loaded state dict lacks optimizer state {missing} for parameter "
                f"{index}, which {name} needs"
            )

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


#: group options PyTorch's optimizers save that PyFlame's ignore (so a torch state dict loads),
#: and the entries learning-rate schedulers add to the groups (pyflame/optim/lr_scheduler.py)
_TORCH_ONLY_OPTIONS = frozenset({"foreach", "capturable", "differentiable", "fused"})
_SCHEDULER_OPTIONS = frozenset({"initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"})


def _snapshot(value: Any) -> Any:
    """A data leaf with `value`'s current data (the data array is shared, never mutated)."""
    if not isinstance(value, Tensor):
        return value
    return Tensor(value.shape, value.dtype, layout=value.layout, data=value.numpy())


def _state_value(name: str, value: Any, p: Tensor) -> Any:
    """A loaded state entry as a fresh data leaf (param dtype for param-shaped state)."""
    if isinstance(value, Tensor):
        value = value.numpy()
    elif hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without torch
        value = np.array(value.detach().cpu().numpy(), copy=True)  # (torch steps its own in place)
    if not isinstance(value, np.ndarray | np.generic | float | int):
        return value
    array = np.asarray(value)
    if name in _SCALAR_STATE:
        return Tensor((), float32, data=np.array(array.reshape(()), np.float32))
    if array.shape != p.shape:
        raise ValueError(
            f"optimizer state {name!r} has shape {list(array.shape)}, but its "
            f"parameter has shape {list(p.shape)}"
        )
    data = np.array(array, dtype=p.dtype.numpy, order="C")
    return Tensor(p.shape, p.dtype, data=data)


#: state entries that are one float32 number per parameter (PyTorch keeps them on the CPU)
_SCALAR_STATE = frozenset({"step", "mu_product"})


def _check_number(name: str, value: Any, low: float = 0.0) -> None:
    if isinstance(value, Tensor):
        return
    if not isinstance(value, int | float | np.floating | np.integer) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not value >= low:
        raise ValueError(f"Invalid {name}: {value}")


# ---------------------------------------------------------------------- SGD


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, weight decay and Nesterov, as
    `torch.optim.SGD` (the momentum buffer starts as the first gradient)."""

    state_names = frozenset({"momentum_buffer"})

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_number("learning rate", group["lr"])
        _check_number("momentum value", group["momentum"])
        _check_number("dampening value", group["dampening"], low=-float("inf"))
        _check_number("weight_decay value", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(
        self, p: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        lr = _number(group["lr"], "lr")
        momentum = float(group["momentum"])
        dampening = float(group["dampening"])
        weight_decay = float(group["weight_decay"])
        param = self._compute(p)
        g = grad if grad.dtype is float32 else grad.astype(float32)
        if group["maximize"]:
            g = -g
        if weight_decay != 0:
            g = g + param * weight_decay  # grad.add(param, alpha=weight_decay)
        if momentum != 0:
            if "momentum_buffer" not in state:
                # PyTorch's first step sets buf = grad: the same graph as later steps, with
                # coefficients (0, 1) instead of (momentum, 1 - dampening) as runtime data
                state["momentum_buffer"] = _zeros_like(p)
                keep, add = 0.0, 1.0
            else:
                keep, add = momentum, 1.0 - dampening
            buf = self._compute(state["momentum_buffer"])
            buf = buf * _host_scalar(keep) + g * _host_scalar(add)
            self._assign(state["momentum_buffer"], buf)
            # momentum is runtime data here too: a scheduler cycling it never recompiles
            g = g + buf * _host_scalar(momentum) if group["nesterov"] else buf
        self._assign(p, param + self._group_scalar(group, "-lr", -lr) * g)  # add_(g, alpha=-lr)


# ---------------------------------------------------------------------- Adam, AdamW


class Adam(Optimizer):
    """Adam as `torch.optim.Adam` (bias-corrected moments; `weight_decay` adds
    `weight_decay * param` to the gradient, or with `decoupled_weight_decay=True` scales the
    parameter by `1 - lr * weight_decay` first, which is AdamW; `amsgrad`, `maximize`)."""

    state_names = frozenset({"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"})
    required_state = frozenset({"step", "exp_avg", "exp_avg_sq"})

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ):
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_adam_like(group)

    def _update(
        self, p: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        lr = _number(group["lr"], "lr")
        beta1, beta2 = (_number(b, "betas") for b in group["betas"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        amsgrad = bool(group["amsgrad"])
        if not state:
            state["step"] = Tensor((), float32, data=np.zeros((), np.float32))
            state["exp_avg"] = _zeros_like(p)
            state["exp_avg_sq"] = _zeros_like(p)
        if amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = _zeros_like(p)
        # the step count is a float32 rank-0 data tensor (as PyTorch's), counted on the host:
        # its new value is pending like the rest of the state, and the bias corrections
        # computed from it enter the program as data
        step = float(np.float32(self._value(state["step"]).numpy()) + np.float32(1))
        self._assign(state["step"], _host_scalar(step))
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5

        param = self._compute(p)
        g = grad if grad.dtype is float32 else grad.astype(float32)
        if group["maximize"]:
            g = -g
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                # param.mul_(1 - lr * wd)
                param = param * self._group_scalar(group, "1-lr*wd", 1 - lr * weight_decay)
            else:
                g = g + param * weight_decay  # grad.add(param, alpha=weight_decay)
        exp_avg = _lerp(self._compute(state["exp_avg"]), g, 1 - beta1)
        exp_avg_sq = self._compute(state["exp_avg_sq"]) * beta2 + g * (1 - beta2) * g
        self._assign(state["exp_avg"], exp_avg)
        self._assign(state["exp_avg_sq"], exp_avg_sq)
        second = exp_avg_sq
        if amsgrad:
            second = ops.maximum(self._compute(state["max_exp_avg_sq"]), exp_avg_sq)
            self._assign(state["max_exp_avg_sq"], second)
        denom = ops.sqrt(second) / _host_scalar(bias_correction2_sqrt) + eps
        # param.addcdiv_(exp_avg, denom, value=-step_size)
        self._assign(p, param + _host_scalar(-step_size) * exp_avg / denom)


class AdamW(Adam):
    """AdamW as `torch.optim.AdamW`: Adam with decoupled weight decay (default 1e-2)."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for i, group in enumerate(
            state_dict.get("param_groups", ()) if isinstance(state_dict, dict) else ()
        ):
            if isinstance(group, dict) and not group.get("decoupled_weight_decay", True):
                raise ValueError(
                    f"loaded state dict's parameter group {i} has decoupled_weight_decay=False: "
                    "it was saved by Adam, whose weight decay AdamW does not apply (load it "
                    "into pf.optim.Adam)"
                )
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


def _check_adam_like(group: dict[str, Any]) -> None:
    """lr, eps, weight_decay >= 0 and betas in [0, 1), PyTorch's checks and words."""
    _check_number("learning rate", group["lr"])
    _check_number("epsilon value", group["eps"])
    _check_number("weight_decay value", group["weight_decay"])
    betas = tuple(group["betas"])
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair, got {group['betas']!r}")
    for i, b in enumerate(betas):
        _check_number(f"beta parameter at index {i}", b)
        if not b < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {b}")
    group["betas"] = betas


def _lerp(start: Tensor, end: Tensor, weight: float) -> Tensor:
    """`start.lerp(end, weight)` with PyTorch's CPU formula (weight rounded to float32 first,
    and the branch on |weight| < 0.5 that keeps the result exact at both ends). The weight
    (Adam's `1 - beta1`, which OneCycleLR and CyclicLR change every step) is runtime data: only
    the branch is part of the program."""
    w = np.float32(weight)
    if abs(w) < 0.5:
        return start + (end - start) * _host_scalar(float(w))
    return end - (end - start) * _host_scalar(float(np.float32(1) - w))


# ---------------------------------------------------------------------- RMSprop, Adagrad


class RMSprop(Optimizer):
    """RMSprop as `torch.optim.RMSprop`: a running average of squared gradients (`alpha`),
    optionally centered (minus the squared running average of gradients) and with momentum;
    `weight_decay` adds `weight_decay * param` to the gradient; `maximize`."""

    state_names = frozenset({"step", "square_avg", "momentum_buffer", "grad_avg"})
    required_state = frozenset({"step", "square_avg"})

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ):
        del capturable, foreach, differentiable  # (PyTorch's device and autograd options)
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_number("learning rate", group["lr"])
        _check_number("epsilon value", group["eps"])
        _check_number("momentum value", group["momentum"])
        _check_number("weight_decay value", group["weight_decay"])
        _check_number("alpha value", group["alpha"])

    def _update(
        self, p: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        lr = _number(group["lr"], "lr")
        alpha, eps = float(group["alpha"]), float(group["eps"])
        weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
        if not state:
            state["step"] = Tensor((), float32, data=np.zeros((), np.float32))
            state["square_avg"] = _zeros_like(p)
        if momentum > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = _zeros_like(p)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = _zeros_like(p)
        step = float(np.float32(self._value(state["step"]).numpy()) + np.float32(1))
        self._assign(state["step"], _host_scalar(step))
        param = self._compute(p)
        g = grad if grad.dtype is float32 else grad.astype(float32)
        if group["maximize"]:
            g = -g
        if weight_decay != 0:
            g = g + param * weight_decay  # grad.add(param, alpha=weight_decay)
        # square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        square_avg = self._compute(state["square_avg"]) * alpha + g * (1 - alpha) * g
        self._assign(state["square_avg"], square_avg)
        if group["centered"]:
            grad_avg = _lerp(self._compute(state["grad_avg"]), g, 1 - alpha)
            self._assign(state["grad_avg"], grad_avg)
            avg = ops.sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            avg = ops.sqrt(square_avg) + eps
        if momentum > 0:
            # buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=-lr)
            buf = self._compute(state["momentum_buffer"]) * momentum + g / avg
            self._assign(state["momentum_buffer"], buf)
            self._assign(p, param + self._group_scalar(group, "-lr", -lr) * buf)
        else:
            # addcdiv_(value=-lr)
            self._assign(p, param + self._group_scalar(group, "-lr", -lr) * g / avg)


class Adagrad(Optimizer):
    """Adagrad as `torch.optim.Adagrad`: the sum of squared gradients (from
    `initial_accumulator_value`), a learning rate decayed as lr / (1 + (step - 1) * lr_decay);
    `weight_decay` adds `weight_decay * param` to the gradient; `maximize`. As PyTorch's, the
    state exists from the constructor (a state_dict before the first step holds it)."""

    state_names = frozenset({"step", "sum"})
    required_state = frozenset({"step", "sum"})

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        del foreach, differentiable, fused  # (PyTorch's device and autograd options)
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            maximize=maximize,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            start = float(group["initial_accumulator_value"])
            for p in group["params"]:
                self.state[p] = {
                    "step": Tensor((), float32, data=np.zeros((), np.float32)),
                    "sum": Tensor(p.shape, p.dtype, data=np.full(p.shape, start, p.dtype.numpy)),
                }

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_number("learning rate", group["lr"])
        _check_number("lr_decay value", group["lr_decay"])
        _check_number("weight_decay value", group["weight_decay"])
        _check_number("initial_accumulator_value value", group["initial_accumulator_value"])
        _check_number("epsilon value", group["eps"])

    def _update(
        self, p: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        lr = _number(group["lr"], "lr")
        lr_decay, eps = float(group["lr_decay"]), float(group["eps"])
        weight_decay = float(group["weight_decay"])
        if not state:  # a parameter added by add_param_group after the constructor
            start = float(group["initial_accumulator_value"])
            state["step"] = Tensor((), float32, data=np.zeros((), np.float32))
            state["sum"] = Tensor(p.shape, p.dtype, data=np.full(p.shape, start, p.dtype.numpy))
        step = float(np.float32(self._value(state["step"]).numpy()) + np.float32(1))
        self._assign(state["step"], _host_scalar(step))
        param = self._compute(p)
        g = grad if grad.dtype is float32 else grad.astype(float32)
        if group["maximize"]:
            g = -g
        if weight_decay != 0:
            g = g + param * weight_decay  # grad.add(param, alpha=weight_decay)
        clr = lr / (1 + (step - 1) * lr_decay)  # on the host in float64, as PyTorch's
        total = self._compute(state["sum"]) + g * g  # state_sum.addcmul_(grad, grad, value=1)
        self._assign(state["sum"], total)
        std = ops.sqrt(total) + eps
        self._assign(p, param + _host_scalar(-clr) * g / std)  # addcdiv_(grad, std, value=-clr)


# ---------------------------------------------------------------------- Adamax, NAdam, RAdam


def _next_step(opt: Optimizer, state: dict[str, Any]) -> float:
    """The step count after this step (float32, counted on the host as PyTorch's CPU
    `step` tensor), registered as the state's pending value."""
    step = float(np.float32(opt._value(state["step"]).numpy()) + np.float32(1))
    opt._assign(state["step"], _host_scalar(step))
    return step


def _decayed(
    opt: Optimizer, p: Tensor, grad: Tensor, group: dict[str, Any], lr: float, decoupled: bool
) -> tuple[Tensor, Tensor]:
    """(param, grad) in float32 after `maximize` and weight decay: added to the gradient
    (`grad.add(param, alpha=weight_decay)`), or with `decoupled` the parameter scaled by
    1 - lr * weight_decay first (`param.mul_(...)`, AdamW's)."""
    param = opt._compute(p)
    g = grad if grad.dtype is float32 else grad.astype(float32)
    if group["maximize"]:
        g = -g
    weight_decay = float(group["weight_decay"])
    if weight_decay != 0:
        if decoupled:
            param = param * _host_scalar(1 - lr * weight_decay)
        else:
            g = g + param * weight_decay
    return param, g


def _moments(
    opt: Optimizer, state: dict[str, Any], g: Tensor, beta1: float, beta2: float
) -> tuple[Tensor, Tensor]:
    """Adam's moments: `exp_avg.lerp_(grad, 1 - beta1)` and
    `exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)`, registered."""
    exp_avg = _lerp(opt._compute(state["exp_avg"]), g, 1 - beta1)
    exp_avg_sq = opt._compute(state["exp_avg_sq"]) * beta2 + g * (1 - beta2) * g
    opt._assign(state["exp_avg"], exp_avg)
    opt._assign(state["exp_avg_sq"], exp_avg_sq)
    return exp_avg, exp_avg_sq


def _fresh_state(p: Tensor, *names: str) -> dict[str, Any]:
    """A step count of 0 and zeros shaped like p for each name (data leaves)."""
    state: dict[str, Any] = {"step": Tensor((), float32, data=np.zeros((), np.float32))}
    state.update({name: _zeros_like(p) for name in names})
    return state


class Adamax(Optimizer):
    """Adamax as `torch.optim.Adamax`: Adam with the infinity norm, exp_inf =
    max(beta2 * exp_inf, |grad| + eps), and a step of lr / (1 - beta1**t) along
    exp_avg / exp_inf; `weight_decay` adds `weight_decay * param` to the gradient; `maximize`."""

    state_names = frozenset({"step", "exp_avg", "exp_inf"})
    required_state = state_names

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ):
        del foreach, differentiable, capturable  # (PyTorch's device and autograd options)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_adam_like(group)

    def _update(
        self, p: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        lr = _number(group["lr"], "lr")
        beta1, beta2 = (_number(b, "betas") for b in group["betas"])
        if not state:
            state.update(_fresh_state(p, "exp_avg", "exp_inf"))
        step = _next_step(self, state)
        param, g = _decayed(self, p, grad, group, lr, False)
        exp_avg = _lerp(self._compute(state["exp_avg"]), g, 1 - beta1)
        # torch.maximum(exp_inf.mul_(beta2), grad.abs().add_(eps))
        exp_inf = ops.maximum(
            self._compute(state["exp_inf"]) * beta2, ops.abs(g) + float(group["eps"])
        )
        self._assign(state["exp_avg"], exp_avg)
        self._assign(state["exp_inf"], exp_inf)
        clr = lr / (1 - beta1**step)  # on the host in float64, as PyTorch's
        self._assign(p, param + _host_scalar(-clr) * exp_avg / exp_inf)  # addcdiv_(value=-clr)


class NAdam(Optimizer):
    """NAdam as `torch.optim.NAdam`: Adam with Nesterov momentum, the momentum schedule
    mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay)) and its running product
    (`mu_product`, a float32 number per parameter as PyTorch's, kept on the host: the step's
    coefficients enter the program as data); `decoupled_weight_decay` (NAdamW), `maximize`."""

    state_names = frozenset({"step", "mu_product", "exp_avg", "exp_avg_sq"})
    required_state = state_names

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ):
        del foreach, capturable, differentiable  # (PyTorch's device and autograd options)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_adam_like(group)
        _check_number("momentum_decay value", group["momentum_decay"])

    def _update(
        self, p: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        lr = _number(group["lr"], "lr")
        beta1, beta2 = (_number(b, "betas") for b in group["betas"])
        momentum_decay = float(group["momentum_decay"])
        if not state:
            state.update(_fresh_state(p, "exp_avg", "exp_avg_sq"))
            state["mu_product"] = Tensor((), float32, data=np.ones((), np.float32))
        step = _next_step(self, state)
        bias_correction2 = 1 - beta2**step
        param, g = _decayed(self, p, grad, group, lr, bool(group["decoupled_weight_decay"]))
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        # mu_product *= mu: a float32 tensor times a Python float, in float32
        old = np.float32(self._value(state["mu_product"]).numpy())
        mu_product = float(np.float32(old * np.float32(mu)))
        self._assign(state["mu_product"], _host_scalar(mu_product))
        exp_avg, exp_avg_sq = _moments(self, state, g, beta1, beta2)
        denom = ops.sqrt(exp_avg_sq / _host_scalar(bias_correction2)) + float(group["eps"])
        on_grad = -lr * (1.0 - mu) / (1.0 - mu_product)  # the two addcdiv_ values, float64
        on_avg = (-lr * mu_next) / (1.0 - mu_product * mu_next)
        param = param + _host_scalar(on_grad) * g / denom
        self._assign(p, param + _host_scalar(on_avg) * exp_avg / denom)


class RAdam(Optimizer):
    """RAdam as `torch.optim.RAdam`: Adam whose adaptive step is switched on, with the
    variance rectification, once the approximated SMA length rho_t exceeds 5 (before that, a
    momentum step lr * bias-corrected exp_avg); both branches are in the program, picked by
    a flag that is data, so the step that switches does not recompile; `decoupled_weight_decay`
    (RAdamW), `maximize`."""

    state_names = frozenset({"step", "exp_avg", "exp_avg_sq"})
    required_state = state_names

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ):
        del foreach, capturable, differentiable  # (PyTorch's device and autograd options)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_adam_like(group)

    def _update(
        self, p: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        lr = _number(group["lr"], "lr")
        beta1, beta2 = (_number(b, "betas") for b in group["betas"])
        if not state:
            state.update(_fresh_state(p, "exp_avg", "exp_avg_sq"))
        step = _next_step(self, state)
        param, g = _decayed(self, p, grad, group, lr, bool(group["decoupled_weight_decay"]))
        exp_avg, exp_avg_sq = _moments(self, state, g, beta1, beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        rectified = rho_t > 5.0
        rect = 0.0
        if rectified:
            rect = (
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            ) ** 0.5
        momentum_step = exp_avg / _host_scalar(bias_correction1) * _host_scalar(lr)
        # (bias_correction2 ** 0.5) / (sqrt(exp_avg_sq) + eps): torch's number / tensor is
        # tensor.reciprocal() * number
        adaptive = (1 / (ops.sqrt(exp_avg_sq) + float(group["eps"]))) * _host_scalar(
            bias_correction2**0.5
        )
        adaptive_step = momentum_step * adaptive * _host_scalar(rect)
        flag = Tensor((), bool_, data=np.asarray(rectified))
        self._assign(p, param - ops.where(flag, adaptive_step, momentum_step))


# ---------------------------------------------------------------------- Adadelta


class Adadelta(Optimizer):
    """Adadelta as `torch.optim.Adadelta`: running averages (`rho`) of squared gradients and
    of squared updates; the update sqrt(acc_delta + eps) / sqrt(square_avg + eps) * grad,
    times lr; `weight_decay` adds `weight_decay * param` to the gradient; `maximize`."""

    state_names = frozenset({"step", "square_avg", "acc_delta"})
    required_state = state_names

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ):
        del foreach, capturable, differentiable  # (PyTorch's device and autograd options)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        _check_number("learning rate", group["lr"])
        _check_number("rho value", group["rho"])
        if not isinstance(group["rho"], Tensor) and group["rho"] > 1.0:
            raise ValueError(f"Invalid rho value: {group['rho']}")
        _check_number("epsilon value", group["eps"])
        _check_number("weight_decay value", group["weight_decay"])

    def _update(
        self, p: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        lr = _number(group["lr"], "lr")
        rho, eps = float(group["rho"]), float(group["eps"])
        if not state:
            state.update(_fresh_state(p, "square_avg", "acc_delta"))
        _next_step(self, state)
        param, g = _decayed(self, p, grad, group, lr, False)
        # square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
        square_avg = self._compute(state["square_avg"]) * rho + g * (1 - rho) * g
        std = ops.sqrt(square_avg + eps)
        acc = self._compute(state["acc_delta"])
        delta = ops.sqrt(acc + eps) / std * g  # delta.div_(std).mul_(grad)
        acc = acc * rho + delta * (1 - rho) * delta  # acc_delta.mul_(rho).addcmul_(...)
        self._assign(state["square_avg"], square_avg)
        self._assign(state["acc_delta"], acc)
        # param.add_(delta, alpha=-lr)
        self._assign(p, param + self._group_scalar(group, "-lr", -lr) * delta)
