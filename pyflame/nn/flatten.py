"""`nn.Flatten`: dims `start_dim` .. `end_dim` merged into one (a reshape)."""

from __future__ import annotations

from pyflame import ops
from pyflame.nn.module import Module
from pyflame.tensor import Tensor


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


__all__ = ["Flatten"]
