"""`nn.MultiheadAttention`, with PyTorch's parameters, masks and results.

    mha = nn.MultiheadAttention(64, 8, batch_first=True)
    out, weights = mha(x, x, x, key_padding_mask=pad)   # out [N, L, 64], weights [N, L, S]

Parameters as PyTorch, so a PyTorch state dict loads: `in_proj_weight` [3E, E] and
`in_proj_bias` [3E] packed q, k, v (or `q_proj_weight`, `k_proj_weight`, `v_proj_weight` when
`kdim`/`vdim` differ from `embed_dim`), and `out_proj` (a Linear). Initial values as PyTorch:
xavier_uniform in-projection, zero biases.

Masks as PyTorch's MultiheadAttention (not `scaled_dot_product_attention`): in a bool
`attn_mask` [L, S] or [N * heads, L, S] or `key_padding_mask` [N, S], True means *not*
allowed; float masks are added to the scores. The attention weights are averaged over heads
unless `average_attn_weights=False`. Dropout on the weights in training mode only.
"""

from __future__ import annotations

import math
from typing import Any

from pyflame import ops
from pyflame.core.dtypes import bool_
from pyflame.core.errors import ShapeError
from pyflame.lazy_tensor import Tensor, format_location, user_location
from pyflame.nn import functional as F
from pyflame.nn import init
from pyflame.nn.linear import Linear, empty_parameter
from pyflame.nn.module import Module


def _error(message: str) -> ShapeError:
    return ShapeError(f"{format_location(user_location())}: {message}")


def _float_mask(mask: Tensor, dtype: Any) -> Tensor:
    """A bool mask (True: masked) as -inf / 0 scores; a float mask as is."""
    if mask.dtype is bool_:
        return ops.where(mask, float("-inf"), ops.zeros(mask.shape, dtype=dtype))
    return mask.astype(dtype)


class MultiheadAttention(Module):
    """MultiheadAttention(embed_dim, num_heads, dropout=0.0, bias=True, kdim=None, vdim=None,
    batch_first=False)."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        *,
        dtype: Any = None,
    ):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"embed_dim and num_heads must be greater than 0, got "
                f"embed_dim={embed_dim} and num_heads={num_heads} instead"
            )
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError(
                "MultiheadAttention's add_bias_kv and add_zero_attn are not supported"
            )
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise ValueError("embed_dim must be divisible by num_heads")
        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty_parameter((3 * embed_dim, embed_dim), dtype)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = empty_parameter((embed_dim, embed_dim), dtype)
            self.k_proj_weight = empty_parameter((embed_dim, self.kdim), dtype)
            self.v_proj_weight = empty_parameter((embed_dim, self.vdim), dtype)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = empty_parameter((3 * embed_dim,), dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    # ---------------------------------------------------------------- forward

    def _projections(self) -> tuple[Tensor, Tensor, Tensor]:
        if self._qkv_same_embed_dim:
            q, k, v = ops.chunk(self.in_proj_weight, 3)
            return q, k, v
        return self.q_proj_weight, self.k_proj_weight, self.v_proj_weight

    def _mask(
        self,
        attn_mask: Tensor | None,
        key_padding_mask: Tensor | None,
        batch: int,
        length: int,
        source: int,
        dtype: Any,
    ) -> Tensor | None:
        """attn_mask and key_padding_mask merged into one float mask [1 or N*H, L, S]."""
        heads = self.num_heads
        mask = None
        if attn_mask is not None:
            if attn_mask.ndim == 2:
                if tuple(attn_mask.shape) != (length, source):
                    raise _error(
                        f"The shape of the 2D attn_mask is {list(attn_mask.shape)}, "
                        f"but should be {[length, source]}."
                    )
                attn_mask = attn_mask.unsqueeze(0)
            elif attn_mask.ndim == 3:
                if tuple(attn_mask.shape) != (batch * heads, length, source):
                    raise _error(
                        f"The shape of the 3D attn_mask is {list(attn_mask.shape)}, "
                        f"but should be {[batch * heads, length, source]}."
                    )
            else:
                raise _error(f"attn_mask's dimension {attn_mask.ndim} is not supported")
            mask = _float_mask(attn_mask, dtype)
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (batch, source):
                raise _error(
                    f"expecting key_padding_mask shape of {[batch, source]}, but got "
                    f"{list(key_padding_mask.shape)}"
                )
            kpm = _float_mask(key_padding_mask, dtype).reshape(batch, 1, 1, source)
            kpm = kpm.expand(batch, heads, 1, source).reshape(batch * heads, 1, source)
            mask = kpm if mask is None else mask + kpm
        return mask

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        if is_causal and attn_mask is None:
            raise RuntimeError(
                "Need attn_mask if specifying the is_causal hint. You may use the "
                "Transformer module method `generate_square_subsequent_mask` to "
                "create this mask."
            )
        batched = query.ndim == 3
        if query.ndim not in (2, 3):
            raise _error(
                f"query should be unbatched 2D or batched 3D tensor but received "
                f"{query.ndim}-D query tensor"
            )
        if self.batch_first and batched:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if not batched:
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        length, batch, embed = query.shape
        source = key.shape[0]
        if embed != self.embed_dim:
            raise _error(f"was expecting embedding dimension of {self.embed_dim}, but got {embed}")
        if key.shape[:2] != value.shape[:2]:
            raise _error(
                f"key shape {list(key.shape)} does not match value shape {list(value.shape)}"
            )
        heads, hd = self.num_heads, self.head_dim
        w_q, w_k, w_v = self._projections()
        b_q = b_k = b_v = None
        if self.in_proj_bias is not None:
            b_q, b_k, b_v = ops.chunk(self.in_proj_bias, 3)
        q = F.linear(query, w_q, b_q)
        k = F.linear(key, w_k, b_k)
        v = F.linear(value, w_v, b_v)
        mask = self._mask(attn_mask, key_padding_mask, batch, length, source, q.dtype)
        # [L, N, E] -> [N * H, L, hd]
        q = q.reshape(length, batch * heads, hd).transpose(0, 1)
        k = k.reshape(source, batch * heads, hd).transpose(0, 1)
        v = v.reshape(source, batch * heads, hd).transpose(0, 1)
        scores = (q * math.sqrt(1.0 / hd)) @ k.transpose(-2, -1)
        if mask is not None:
            scores = scores + mask
        weights = ops.softmax(scores, -1)
        dropout_p = self.dropout if self.training else 0.0
        if dropout_p > 0.0:
            weights = ops.dropout(weights, dropout_p)
        out = (weights @ v).transpose(0, 1).reshape(length * batch, embed)
        out = F.linear(out, self.out_proj.weight, self.out_proj.bias)
        out = out.reshape(length, batch, embed)
        if self.batch_first and batched:
            out = out.transpose(0, 1)
        elif not batched:
            out = out.squeeze(1)
        if not need_weights:
            return out, None
        w = weights.reshape(batch, heads, length, source)
        if average_attn_weights:
            w = w.mean(dim=1)
        if not batched:
            w = w.squeeze(0)
        return out, w


__all__ = ["MultiheadAttention"]
