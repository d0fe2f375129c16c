"""`nn.Dropout`: inverted dropout in training mode, the identity in eval mode; `nn.Dropout1d`,
`nn.Dropout2d`, `nn.Dropout3d`: the same for whole channels (one draw per batch and channel);
`nn.AlphaDropout`, `nn.FeatureAlphaDropout`: SELU's alpha dropout (`F.alpha_dropout`).

In training mode every call draws a fresh seed from PyFlame's generator when the graph is
built (a runtime input of the compiled program), so a training loop compiles once and still
gets a new mask each step. Eval mode builds a graph without the dropout (a different program).
"""

from __future__ import annotations

from pyflame import inplace, ops
from pyflame.lazy_tensor import Tensor
from pyflame.nn import functional as F
from pyflame.nn.module import Module


class Dropout(Module):
    """Zero each element with probability p and scale the others by 1 / (1 - p) (training);
    `inplace=True` writes the result into the input, as PyTorch's."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if isinstance(p, bool) or not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        if self.inplace and self.training and self.p > 0:
            return inplace.apply_(input, self._drop, "Mul")
        return self._drop(input)

    def _drop(self, input: Tensor) -> Tensor:
        return ops.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(Dropout):
    """Channel dropout of [N, C, L] or [C, L] input (`F.dropout1d`): each channel zeroed
    whole with probability p, the others scaled by 1 / (1 - p); the identity in eval mode."""

    def _drop(self, input: Tensor) -> Tensor:
        return F.dropout1d(input, self.p, self.training)


class Dropout2d(Dropout):
    """Channel dropout of [N, C, H, W] input (`F.dropout2d`, PyTorch's reading of 3-D input
    as [N, C, L] with its warning)."""

    def _drop(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training)


class Dropout3d(Dropout):
    """Channel dropout of [N, C, D, H, W] or [C, D, H, W] input (`F.dropout3d`)."""

    def _drop(self, input: Tensor) -> Tensor:
        return F.dropout3d(input, self.p, self.training)


class AlphaDropout(Dropout):
    """Alpha dropout (`F.alpha_dropout`): keeps zero mean and unit variance of SELU
    activations; the identity in eval mode."""

    def forward(self, input: Tensor) -> Tensor:
        return F.alpha_dropout(input, self.p, self.training, self.inplace)


class FeatureAlphaDropout(Dropout):
    """Alpha dropout of whole channels (`F.feature_alpha_dropout`)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.feature_alpha_dropout(input, self.p, self.training, self.inplace)


__all__ = ["AlphaDropout", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "FeatureAlphaDropout"]
