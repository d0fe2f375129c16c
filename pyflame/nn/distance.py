"""Vector norms and distances of `pf.nn.functional`: `normalize`, `cosine_similarity`,
`pairwise_distance`, each PyTorch's formula spelled with PyFlame's ops (so gradients follow):

    F.normalize(x, p=2, dim=1, eps=1e-12)      # x / max(||x||_p over dim, eps)
    F.cosine_similarity(a, b, dim=1, eps=1e-8)  # sum over dim of (a / max(||a||, eps)) *
                                                # (b / max(||b||, eps)), a and b broadcast
    F.pairwise_distance(a, b, p=2, eps=1e-6)    # ||a - b + eps||_p over the last dim
    F.pdist(x, p=2)                             # ||x_i - x_j||_p for the rows i < j

`PairwiseDistance(p=2.0, eps=1e-6, keepdim=False)` and `CosineSimilarity(dim=1, eps=1e-8)` are
the modules around the last two.

One difference: PyTorch clamps cosine_similarity's norms in place under no_grad, so a norm
below eps still passes its gradient; here the clamp's gradient is 0 there (only a vector
shorter than eps = 1e-8 sees it).
"""

from __future__ import annotations

import numpy as np

from pyflame import ops
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.nn.module import Module
from pyflame.ops.node import _check_tensor, _shape_error


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """`input / input.norm(p, dim, keepdim=True).clamp_min(eps)`, as
    torch.nn.functional.normalize."""
    _check_tensor(input, "normalize")
    denom = ops.clamp(ops.norm(input, p, dim, keepdim=True), min=eps)
    return input / denom


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """The cosine of the angle between x1 and x2 along `dim` (broadcast together first), as
    PyTorch's ATen cosine_similarity: each divided by its 2-norm (at least eps), then the
    product summed."""
    _check_tensor(x1, "cosine_similarity")
    _check_tensor(x2, "cosine_similarity")
    a, b = x1, x2
    if x1.shape != x2.shape:
        try:
            shape = np.broadcast_shapes(x1.shape, x2.shape)
        except ValueError:
            raise _shape_error(
                f"cosine_similarity: shapes {list(x1.shape)} and {list(x2.shape)} cannot be "
                "broadcast together"
            ) from None
        a, b = ops.broadcast_to(x1, shape), ops.broadcast_to(x2, shape)
    na = ops.clamp(ops.norm(a, 2, dim, keepdim=True), min=eps)
    nb = ops.clamp(ops.norm(b, 2, dim, keepdim=True), min=eps)
    return ops.sum((a / na) * (b / nb), dim)


def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    """`(x1 - x2 + eps).norm(p, dim=-1, keepdim)`, as torch.nn.functional.pairwise_distance."""
    _check_tensor(x1, "pairwise_distance")
    _check_tensor(x2, "pairwise_distance")
    return ops.norm(x1 - x2 + eps, p, -1, keepdim)


def pdist(input: Tensor, p: float = 2) -> Tensor:
    """The p-norm distances between the rows of an [N, M] input, for every pair i < j in
    row-major order ([N (N - 1) / 2], torch.nn.functional.pdist): the rows picked by two
    index vectors, subtracted, normed; the gradient of a zero distance is 0, as PyTorch's."""
    _check_tensor(input, "pdist")
    if input.ndim != 2:
        raise _shape_error(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if p < 0:
        raise RuntimeError(
            f"{format_location(user_location())}: pdist only supports non-negative p values"
        )
    rows = input.shape[0]
    first, second = np.triu_indices(rows, k=1)
    if not first.size:
        return ops.zeros((0,), dtype=input.dtype)
    a = input.index_select(0, ops.from_numpy(first.astype(np.int32)))
    b = input.index_select(0, ops.from_numpy(second.astype(np.int32)))
    return ops.norm(a - b, p, 1)


class PairwiseDistance(Module):
    """`pairwise_distance(x1, x2, p, eps, keepdim)`: the p-norm of x1 - x2 (+ eps) over the
    last dim."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm = p
        self.eps = eps
        self.keepdim = keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class CosineSimilarity(Module):
    """`cosine_similarity(x1, x2, dim, eps)`: the cosine of the angle between x1 and x2 along
    `dim`."""

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return cosine_similarity(x1, x2, self.dim, self.eps)


__all__ = [
    "CosineSimilarity",
    "PairwiseDistance",
    "cosine_similarity",
    "normalize",
    "pairwise_distance",
]
