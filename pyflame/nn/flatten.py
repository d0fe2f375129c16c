"""`nn.Flatten`: dims `start_dim` .. `end_dim` merged into one (a reshape); `nn.Unflatten`:
one dim split into `unflattened_size` (the reverse)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyflame import ops
from pyflame.core.errors import ShapeError
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.nn.module import Module


class Flatten(Module):
    """Flatten(start_dim=1, end_dim=-1): keeps the batch dim, as PyTorch."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return ops.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Unflatten(dim, unflattened_size): dim `dim` becomes the dims `unflattened_size` (one
    of them may be -1)."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]):
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(
                "unflattened_size must be tuple of ints, but found type "
                f"{type(unflattened_size).__name__}"
            )
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input: Tensor) -> Tensor:
        d = self.dim + input.ndim if self.dim < 0 else self.dim
        if not 0 <= d < input.ndim:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-input.ndim}, "
                f"{input.ndim - 1}], but got {self.dim})"
            )
        sizes = [int(n) for n in self.unflattened_size]
        known = math.prod(n for n in sizes if n != -1)
        n = input.shape[d]
        if (-1 not in sizes and known != n) or (-1 in sizes and (known == 0 or n % known)):
            raise ShapeError(
                f"{format_location(user_location())}: unflatten: Provided sizes {sizes} don't "
                f"multiply up to the size of dim {d} ({n}) in the input tensor"
            )
        return input.reshape(*input.shape[:d], *sizes, *input.shape[d + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


__all__ = ["Flatten", "Unflatten"]
