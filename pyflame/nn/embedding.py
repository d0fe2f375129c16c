"""`nn.Embedding`: a table of `num_embeddings` vectors, looked up by int indices;
`nn.EmbeddingBag`: sums, means or maxima of bags of them (`F.embedding_bag`).

    emb = nn.Embedding(1000, 64, padding_idx=0)    # weight N(0, 1), row 0 zero
    vectors = emb(token_ids)                        # [..., 64]

The lookup is `pf.nn.functional.embedding` (a one-hot matrix product: no gather on a mesh).
As in PyTorch, the `padding_idx` row gets no gradient: the table is used as
`weight * keep + detach(weight) * (1 - keep)` with `keep` zero on that row, the same values.
"""

from __future__ import annotations

from typing import Any

from pyflame.lazy_tensor import Tensor
from pyflame.nn import functional as F
from pyflame.nn import init
from pyflame.nn.linear import empty_parameter
from pyflame.nn.module import Module
from pyflame.nn.parameter import Parameter, as_array


def _padding_index(padding_idx: int | None, num_embeddings: int, message: str) -> int | None:
    """`padding_idx` as a row of the table (a negative one counted from the end), checked
    (PyTorch's ValueError, in the module's own words)."""
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(message)
    return padding_idx % num_embeddings


def _init_table(
    module: Module, num_embeddings: int, embedding_dim: int, weight: Any, dtype: Any
) -> None:
    """`module.weight`: the given `_weight` (its shape checked, as PyTorch's), else a fresh
    table that `module.reset_parameters()` initialises."""
    if weight is None:
        module.weight = empty_parameter((num_embeddings, embedding_dim), dtype)
        module.reset_parameters()
        return
    array = as_array(weight)
    if array.shape != (num_embeddings, embedding_dim):
        raise ValueError("Shape of weight does not match num_embeddings and embedding_dim")
    module.weight = Parameter(array)


class Embedding(Module):
    """Embedding(num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
    norm_type=2.0, scale_grad_by_freq=False, sparse=False): `F.embedding` of its weight."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Any = None,
        _freeze: bool = False,
        *,
        dtype: Any = None,
    ):
        super().__init__()
        padding_idx = _padding_index(
            padding_idx, num_embeddings, "Padding_idx must be within num_embeddings"
        )
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        _init_table(self, num_embeddings, embedding_dim, _weight, dtype)
        self.weight.requires_grad = not _freeze

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            data = self.weight.numpy().copy()
            data[self.padding_idx] = 0
            self.weight._set_data(data)

    def forward(self, input: Tensor) -> Tensor:
        return F.embedding(
            input,
            self.weight,
            self.padding_idx,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.sparse,
        )

    @classmethod
    def from_pretrained(
        cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None
    ) -> Embedding:
        """An Embedding holding `embeddings` (2-D); `freeze` turns off its gradient."""
        weight = as_array(embeddings)
        if weight.ndim != 2:
            raise ValueError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = weight.shape
        return cls(rows, cols, padding_idx=padding_idx, _weight=weight, _freeze=freeze)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


class EmbeddingBag(Module):
    """EmbeddingBag(num_embeddings, embedding_dim, max_norm=None, norm_type=2.0,
    scale_grad_by_freq=False, mode='mean', sparse=False, _weight=None,
    include_last_offset=False, padding_idx=None): `F.embedding_bag` of its weight;
    `forward(input, offsets=None, per_sample_weights=None)`."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        _weight: Any = None,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
        *,
        dtype: Any = None,
    ):
        super().__init__()
        padding_idx = _padding_index(
            padding_idx, num_embeddings, "padding_idx must be within num_embeddings"
        )
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.mode = mode
        self.sparse = sparse
        self.include_last_offset = include_last_offset
        self.padding_idx = padding_idx
        _init_table(self, num_embeddings, embedding_dim, _weight, dtype)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            data = self.weight.numpy().copy()
            data[self.padding_idx] = 0
            self.weight._set_data(data)

    def forward(
        self,
        input: Tensor,
        offsets: Tensor | None = None,
        per_sample_weights: Tensor | None = None,
    ) -> Tensor:
        return F.embedding_bag(
            input,
            self.weight,
            offsets,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.mode,
            self.sparse,
            per_sample_weights,
            self.include_last_offset,
            self.padding_idx,
        )

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
    ) -> EmbeddingBag:
        """An EmbeddingBag holding `embeddings` (2-D); `freeze` turns off its gradient."""
        weight = as_array(embeddings)
        if weight.ndim != 2:
            raise ValueError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = weight.shape
        bag = cls(
            rows,
            cols,
            max_norm,
            norm_type,
            scale_grad_by_freq,
            mode,
            sparse,
            weight,
            include_last_offset,
            padding_idx,
        )
        bag.weight.requires_grad = not freeze
        return bag

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


__all__ = ["Embedding", "EmbeddingBag"]
