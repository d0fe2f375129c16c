"""`F.max_pool3d` and `F.avg_pool3d`: the 2-D pools, once over (H, W) and once over D.

A 3-D window is a box, so its max is the max over its depths of each depth's (H, W) window
max, and its mean the mean of those means (each divisor, with or without the padding, is a
product of one count per dim, as PyTorch's): a max_pool2d / avg_pool2d of the [N, C * D, H, W]
planes, then one of [N * C, 1, D, Ho * Wo] with a (kd, 1) kernel.

    x [N, C, D, H, W] -> [N, C*D, H, W] --pool (kh, kw)--> [N, C*D, Ho, Wo]
      -> [N*C, 1, D, Ho*Wo] --pool (kd, 1)--> [N*C, 1, Do, Ho*Wo] -> [N, C, Do, Ho, Wo]

Max indices are PyTorch's flat d * H * W + h * W + w (int32; PyTorch: int64): the depth
step's pick, then the plane step's index at that depth; the first max in (d, h, w) order, or
the last NaN, as PyTorch's loop. Gradients come from the two pools.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyflame.core.dtypes import int32
from pyflame.indexing import gather
from pyflame.lazy_tensor import Tensor
from pyflame.nn.conv_functional import _triple
from pyflame.ops.conv import avg_pool2d, max_pool2d
from pyflame.ops.node import _check_tensor, _shape_error


def _as_5d(input: Tensor, what: str) -> tuple[Tensor, bool]:
    _check_tensor(input, what)
    if input.ndim not in (4, 5):
        raise _shape_error(
            f"{what}: Expected 4D or 5D (batch mode) tensor with optional 0 dim batch size for "
            f"input, but got: {list(input.shape)}"
        )
    return (input, False) if input.ndim == 5 else (input.unsqueeze(0), True)


def _stride(stride: Any, kernel: tuple[int, int, int], what: str) -> tuple[int, int, int]:
    if stride is None or (isinstance(stride, Sequence) and len(stride) == 0):
        return kernel
    return _triple(stride, f"{what} stride")


def max_pool3d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Max over each window of an (N, C, D, H, W) or (C, D, H, W) input (stride defaults to
    the kernel size), torch.nn.functional.max_pool3d; with `return_indices` also each max's
    flat index d * H * W + h * W + w (int32)."""
    x, unbatched = _as_5d(input, "max_pool3d")
    k = _triple(kernel_size, "max_pool3d kernel_size")
    s = _stride(stride, k, "max_pool3d")
    p, d = _triple(padding, "max_pool3d padding"), _triple(dilation, "max_pool3d dilation")
    n, c, depth, h, w = x.shape
    planes = max_pool2d(
        x.reshape(n, c * depth, h, w), k[1:], s[1:], p[1:], d[1:], ceil_mode, return_indices
    )
    plane_values = planes[0] if return_indices else planes
    ho, wo = plane_values.shape[2:]
    column = plane_values.reshape(n * c, 1, depth, ho * wo)
    pooled = max_pool2d(
        column, (k[0], 1), (s[0], 1), (p[0], 0), (d[0], 1), ceil_mode, return_indices
    )
    values = pooled[0] if return_indices else pooled
    do = values.shape[2]
    values = values.reshape(n, c, do, ho, wo)
    if not return_indices:
        return values.squeeze(0) if unbatched else values
    # the depth each max came from, then the plane index at that depth
    picked_depth = (pooled[1] // (ho * wo)).reshape(n, c, do, ho * wo)
    plane_index = planes[1].reshape(n, c, depth, ho * wo)
    within = gather(plane_index, 2, picked_depth.astype(int32))
    index = (picked_depth * (h * w) + within).astype(int32).reshape(n, c, do, ho, wo)
    if unbatched:
        return values.squeeze(0), index.squeeze(0)
    return values, index


def avg_pool3d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over each window of an (N, C, D, H, W) or (C, D, H, W) input (stride defaults to
    the kernel size), torch.nn.functional.avg_pool3d: zero padding counts in the divisor
    unless `count_include_pad=False`; `divisor_override` replaces the divisor."""
    x, unbatched = _as_5d(input, "avg_pool3d")
    k = _triple(kernel_size, "avg_pool3d kernel_size")
    s = _stride(stride, k, "avg_pool3d")
    p = _triple(padding, "avg_pool3d padding")
    if divisor_override is not None and (
        isinstance(divisor_override, bool) or divisor_override == 0
    ):
        raise ValueError(f"divisor must be not zero, got {divisor_override!r}")
    n, c, depth, h, w = x.shape
    # sums (divisor 1) when the divisor is given, else the means of the means
    divisor = None if divisor_override is None else 1
    planes = avg_pool2d(
        x.reshape(n, c * depth, h, w), k[1:], s[1:], p[1:], ceil_mode, count_include_pad, divisor
    )
    ho, wo = planes.shape[2:]
    pooled = avg_pool2d(
        planes.reshape(n * c, 1, depth, ho * wo),
        (k[0], 1),
        (s[0], 1),
        (p[0], 0),
        ceil_mode,
        count_include_pad,
        divisor,
    )
    out = pooled.reshape(n, c, pooled.shape[2], ho, wo)
    if divisor_override is not None:
        out = out / float(divisor_override)
    return out.squeeze(0) if unbatched else out


__all__ = ["avg_pool3d", "max_pool3d"]
