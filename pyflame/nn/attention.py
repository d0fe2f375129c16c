"""`scaled_dot_product_attention` as PyTorch 2.13's math path computes it, decomposed into
batched matmuls, an additive mask, a "safe" softmax and dropout when the graph is built."""

from __future__ import annotations

import math

from pyflame import ops
from pyflame.core.dtypes import bfloat16, bool_, float16, float32
from pyflame.gradients import SafeSoftmax
from pyflame.lazy_tensor import Tensor, format_location, user_location


def _safe_softmax(x: Tensor, dim: int) -> Tensor:
    """softmax along `dim`, except that a row that is all -inf gives zeros (torch's
    `_safe_softmax`; a row with a NaN or +inf still gives NaN). Its gradient is torch's too,
    out * (g - sum(g * out)) (`gradients.SafeSoftmax`)."""
    empty = ops.amax(x, dim, keepdim=True) == float("-inf")  # NaN wins amax: not empty
    out = ops.where(empty, 0.0, ops.softmax(ops.where(empty, 0.0, x), dim))
    if out.requires_grad:
        out._grad_fn = SafeSoftmax(x, dim)
    return out


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(q @ k^T * scale + mask) @ v, as PyTorch 2.13's math path: q and k are each
    scaled by sqrt(scale); a bool mask (or `is_causal`, which keeps key positions <= query
    positions; with a mask too it is PyTorch's RuntimeError) becomes an additive mask of 0 and
    -inf, so a NaN or +inf score stays NaN where it is masked; a float mask is added. A query
    row whose scores are all -inf (the mask leaves it nothing, or -inf in q or k) gives zeros,
    with torch's gradients. `enable_gqa`: key and value with fewer heads (dim -3) than the
    query, each repeated (`repeat_interleave`) to the query's."""
    if is_causal and attn_mask is not None:
        raise RuntimeError(  # PyTorch's: it added both masks before
            f"{format_location(user_location())}: _scaled_dot_product_attention: Explicit "
            "attn_mask should not be set when is_causal=True"
        )
    if enable_gqa and query.ndim >= 3 and key.ndim >= 3 and value.ndim >= 3:
        heads = query.shape[-3]
        if heads % key.shape[-3] or heads % value.shape[-3]:
            raise RuntimeError(
                f"{format_location(user_location())}: Number of heads in key and value must "
                f"divide the number of heads in query (query {heads}, key {key.shape[-3]}, "
                f"value {value.shape[-3]})"
            )
        key = key.repeat_interleave(heads // key.shape[-3], dim=-3)
        value = value.repeat_interleave(heads // value.shape[-3], dim=-3)
    if query.dtype in (float16, bfloat16):
        # the math path keeps float16/bfloat16 q, k and v in float32 "for accuracy" and
        # rounds the output once (every step in the half dtype was 1.5-3x further off)
        q, k, v = (t.astype(float32) for t in (query, key, value))
        out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale)
        return out.astype(query.dtype)
    length, source = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    root = math.sqrt(abs(scale))
    scores = (query * (-root if scale < 0 else root)) @ (key.transpose(-2, -1) * root)
    if is_causal:
        rows = ops.arange(length).reshape(length, 1)
        cols = ops.arange(source).reshape(1, source)
        scores = scores + ops.where(cols <= rows, 0.0, float("-inf")).astype(scores.dtype)
    if attn_mask is not None:
        if attn_mask.dtype is bool_:
            attn_mask = ops.where(attn_mask, 0.0, float("-inf")).astype(scores.dtype)
        scores = scores + attn_mask
    weights = _safe_softmax(scores, -1)
    if dropout_p:
        weights = ops.dropout(weights, dropout_p)
    return weights @ value
