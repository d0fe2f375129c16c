"""`pf.nn.Parameter`: a data leaf that a `Module` registers as one of its parameters.

    self.scale = pf.nn.Parameter(pf.ones(8))           # registered: in parameters(), state_dict()
    self.scale = pf.nn.Parameter(np.ones(8, np.float32), layout=pf.MeshLayout.single())

A parameter is an ordinary `pf.Tensor` holding data (a lazy tensor is evaluated first), with
`requires_grad=True`, so `pf.backward(loss)` gives it a `.grad`. Optimizers and
`load_state_dict` replace its data in place (`_set_data`): the object, and every reference to it,
stays the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyflame.layout import MeshLayout
from pyflame.lazy_tensor import Tensor, user_location
from pyflame.ops import from_numpy


def as_array(value: Any) -> np.ndarray:
    """Data of a pf.Tensor (evaluated if lazy), a numpy array, or anything with `__array__`
    (a CPU torch tensor: `requires_grad` ones are detached first)."""
    if isinstance(value, Tensor):
        return value.numpy()
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without torch
        value = value.detach().cpu()
    return np.asarray(value)


class Parameter(Tensor):
    """A `pf.Tensor` leaf holding data, registered as a parameter when assigned to a Module."""

    def __init__(
        self, data: Any = None, requires_grad: bool = True, *, layout: MeshLayout | None = None
    ):
        if data is None:
            data = np.zeros((0,), np.float32)
        if layout is None and isinstance(data, Tensor):
            layout = data.layout
        leaf = from_numpy(as_array(data), layout=layout)  # checks the dtype and layout
        super().__init__(
            leaf.shape, leaf.dtype, layout=leaf.layout, data=leaf._data, location=user_location()
        )
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


__all__ = ["Parameter"]
