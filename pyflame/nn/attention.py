"""`scaled_dot_product_attention` as PyTorch defines it, decomposed into batched matmuls, a
masked softmax and dropout when the graph is built."""

from __future__ import annotations

import math

from pyflame import ops
from pyflame.dtypes import bool_
from pyflame.tensor import Tensor


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """softmax(q @ k^T * scale + mask) @ v. A bool mask keeps the True positions (others get
    -inf); a float mask is added. `is_causal` keeps key positions <= query positions. A query
    row that the mask leaves nothing to attend to gives zeros (and zero gradients), as in
    PyTorch 2.13."""
    length, source = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * scale
    if is_causal:
        rows = ops.arange(length).reshape(length, 1)
        cols = ops.arange(source).reshape(1, source)
        scores = ops.where(cols <= rows, scores, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype is bool_:
            scores = ops.where(attn_mask, scores, float("-inf"))
        else:
            scores = scores + attn_mask
    masked = is_causal or attn_mask is not None
    if masked:  # a query row that may attend to nothing gives zeros, as PyTorch 2.13 (not the
        # NaN of a softmax over -inf), and no NaN in the gradients: softmax a safe row
        empty = ops.amax(scores, -1, keepdim=True) == float("-inf")
        scores = ops.where(empty, 0.0, scores)
    weights = ops.softmax(scores, -1)
    if masked:
        weights = ops.where(empty, 0.0, weights)
    if dropout_p:
        weights = ops.dropout(weights, dropout_p)
    return weights @ value
