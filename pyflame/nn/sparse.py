"""`one_hot`, `embedding` and `embedding_bag` (sums, means or maxima of bags of embedding
rows: the rows looked up by `embedding`, then reduced per bag through a [bags, positions]
membership matrix built from the offsets with compares). `one_hot` compares the indices with an index ramp made on the PEs;
`embedding` reads the rows it needs (`flame.gather_rows`: the index goes to the PEs holding the
table's rows, each reads the rows it owns, a sum across the row split puts them together), so
a lookup moves index-sized and output-sized data and costs work per row returned, not per
vocabulary entry. Its gradient is the transpose, a scatter-add into the rows
(`flame.scatter_add_rows`). Indices out of range are an IndexError, as in PyTorch: at once for
data at hand, after the run (naming the user's line) for indices computed on the device
(`check_indices`; the lookup itself reads a zero row for them)."""

from __future__ import annotations

from collections.abc import Callable

from pyflame import ops
from pyflame.autograd import no_grad
from pyflame.checks import check_indices, data_at_hand
from pyflame.core.dtypes import bool_, int32
from pyflame.core.errors import ShapeError
from pyflame.lazy_tensor import Location, Tensor, format_location, user_location
from pyflame.runtime import add_pending_update


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """(…) int indices -> (…, num_classes) int32 with a 1 at each index. As in PyTorch, a value
    < 0 or >= num_classes is an error: at once for data at hand, after the run (naming this
    line) for indices computed on the device. `num_classes=-1` takes the largest value + 1 of
    data at hand; lazy indices need it (PyFlame compiles static shapes)."""
    location = user_location()
    if not isinstance(tensor, Tensor):
        raise TypeError(
            f"{format_location(location)}: one_hot expects a pf.Tensor, got {type(tensor).__name__}"
        )
    if tensor.dtype.is_floating_point or tensor.dtype is bool_:
        raise TypeError(
            f"{format_location(location)}: one_hot needs integer indices, got {tensor.dtype!r}"
        )
    data = tensor._host_data()
    if num_classes == -1 and data is not None and tensor.numel():
        num_classes = max(int(data.max()) + 1, 0)
    if num_classes is None or isinstance(num_classes, bool) or num_classes < 0:
        raise ValueError(
            f"{format_location(location)}: one_hot needs num_classes >= 0, got {num_classes!r} "
            "(PyFlame compiles static shapes, so it cannot read the largest index from lazy "
            "data: pass num_classes)"
        )

    def message(value: int, count: int) -> str:
        if value < 0:
            return (
                f"one_hot: Class values must be non-negative, got {value} "
                f"({_elements(count)} out of range)"
            )
        return (
            f"one_hot: Class values must be smaller than num_classes ({num_classes}), got "
            f"{value} ({_elements(count)} out of range)"
        )

    return checked_one_hot_mask(tensor, num_classes, message, location=location).astype(int32)


def _elements(count: int) -> str:
    return f"{count} element{'s' if count != 1 else ''}"


def checked_one_hot_mask(
    indices: Tensor,
    classes: int,
    message: Callable[[int, int], str],
    *,
    ignore_index: int | None = None,
    location: Location | None = None,
) -> Tensor:
    """The one-hot of indices that must lie in [0, classes) (or equal `ignore_index`, which
    gives a False row) as a bool mask, indices[..., None] == arange(classes) (`one_hot` makes
    it int32; a loss selects with it as it is): checked now when `indices` holds data, else
    by a runtime check (pyflame/checks.py) on the result. `message(value, count)` words the
    error."""
    location = location or user_location()
    ramp = ops.arange(classes, dtype=int32)
    mask = indices.unsqueeze(-1) == ramp
    check_indices(
        indices, classes, message, guarded=mask, ignore_index=ignore_index, location=location
    )
    return mask


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of `weight` (num_embeddings, dim) picked by the int indices in `input`; an index
    outside [0, num_embeddings) is an IndexError, as in PyTorch (at once for data at hand, after
    the run for lazy indices). The `padding_idx` row gets no gradient (PyTorch's rule).

    `max_norm`: the rows `input` refers to whose `norm_type`-norm exceeds it are scaled to
    max_norm / (norm + 1e-7) first, and `weight` itself is updated so (PyTorch renormalizes in
    place; here a pending update of a leaf weight, applied by the next `pf.eval`); the gradient
    reaches the weight unscaled, as PyTorch's. `scale_grad_by_freq`: each row's gradient is
    divided by how often the batch refers to it. `sparse` is accepted (the gradient is dense:
    the same values)."""
    location = user_location()
    if weight.ndim != 2:
        raise ShapeError(
            f"{format_location(location)}: embedding weight must be 2-D, got {list(weight.shape)}"
        )
    if input.dtype.is_floating_point or input.dtype is bool_:
        raise TypeError(
            f"{format_location(location)}: embedding needs integer indices, got {input.dtype!r}"
        )
    vocab, dim = weight.shape
    if padding_idx is not None:
        if not -vocab <= padding_idx < vocab:
            raise ValueError(
                f"{format_location(location)}: Padding_idx must be within "
                f"num_embeddings ({vocab}), got {padding_idx}"
            )
        padding_idx %= vocab

    def message(value: int, count: int) -> str:
        return (
            f"embedding: index out of range in self: index {value} is not in "
            f"[0, {vocab}) ({_elements(count)} out of range; num_embeddings is {vocab})"
        )

    del sparse  # a dense gradient holds the same values
    if max_norm is not None:
        weight = _renormed(weight, input, float(max_norm), float(norm_type))
    rows = ops.gather_rows(weight, input)  # [*input.shape, dim]
    check_indices(input, vocab, message, guarded=rows, location=location)
    if padding_idx is not None and rows.requires_grad:  # no gradient reaches its row
        rows = ops.where((input != padding_idx).unsqueeze(-1), rows, rows.detach())
    if scale_grad_by_freq and rows.requires_grad:  # same values, gradient / frequency
        with no_grad():  # how often each entry's index occurs in the batch: N x N compares
            flat = input.reshape(-1)
            count = (flat.unsqueeze(1) == flat.unsqueeze(0)).astype(int32).sum(1)
        scaled = rows / count.reshape(*input.shape, 1).astype(rows.dtype)
        rows = rows.detach() + (scaled - scaled.detach())
    return rows


def _renormed(weight: Tensor, index: Tensor, max_norm: float, norm_type: float) -> Tensor:
    """`weight` with the rows `index` refers to scaled down to `max_norm` (PyTorch's
    embedding_renorm_: max_norm / (norm + 1e-7) where the norm exceeds max_norm); the values
    of the result, the gradient of `weight` itself; a leaf weight gets the new values as a
    pending update (PyTorch changes it in place)."""
    with no_grad():
        hits = ops.ones((*index.shape, 1), dtype=int32)
        used = ops.scatter_add_rows(index, hits, weight.shape[0]).reshape(-1) > 0
        norms = ops.norm(weight.detach(), p=norm_type, dim=1)
        too_long = used & (norms > max_norm)
        scale = ops.where(too_long, max_norm / (norms + 1e-7), 1.0).reshape(-1, 1)
        new = (weight.detach() * scale).astype(weight.dtype)
        if weight.op is None:  # a leaf holding data (a parameter), not a computed weight
            add_pending_update(weight, new)
    return weight + (new - weight).detach()


def embedding_bag(
    input: Tensor,
    weight: Tensor,
    offsets: Tensor | None = None,
    max_norm: float | None = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: Tensor | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> Tensor:
    """Sums, means or maxima of bags of `weight`'s rows (torch.nn.functional.embedding_bag):
    a 2-D `input` holds one bag per row; a 1-D one is cut into bags at `offsets` (the start
    of each; with `include_last_offset` one more entry, the end of the last). Entries equal to
    `padding_idx` are left out (and not counted by 'mean'); an empty bag gives zeros.
    `per_sample_weights` (the input's shape, mode 'sum' only) weigh the rows. The rows come
    from `embedding` (so `max_norm`, `scale_grad_by_freq` act as there); 'sum' and 'mean' are
    a matrix product with the [bags, positions] membership, 'max' a masked amax (its gradient
    to the maximum)."""
    location = user_location()
    where = format_location(location)
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{where}: mode has to be one of sum, mean or max")
    if weight.ndim != 2:
        raise ShapeError(
            f"{where}: weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}"
        )
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(
                f"{where}: embedding_bag: per_sample_weights was not None. per_sample_weights is "
                f"only supported for mode='sum' (got mode='{mode}'). Please open a feature "
                "request on GitHub."
            )
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(
                f"{where}: embedding_bag: If per_sample_weights ({list(per_sample_weights.shape)}) "
                f"is not None, then it must have the same shape as the input "
                f"({list(input.shape)})"
            )
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(
                f"{where}: if input is 2D, then offsets has to be None, as input is treated is a "
                "mini-batch of fixed length sequences. However, found offsets of type Tensor"
            )
        bags, length = input.shape
        flat = input.reshape(-1)
        member = (
            ops.eye(bags, dtype=bool_)
            .unsqueeze(2)
            .expand(bags, bags, length)
            .reshape(bags, bags * length)
        )
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError(f"{where}: offsets has to be a 1D Tensor but got None")
        if offsets.ndim != 1:
            raise ValueError(f"{where}: offsets has to be a 1D Tensor")
        if offsets.dtype.is_floating_point or offsets.dtype is bool_:
            raise TypeError(f"{where}: offsets must be integers, got {offsets.dtype!r}")
        _check_offsets(offsets, input.shape[0], location)
        flat = input
        starts = offsets[:-1] if include_last_offset else offsets
        bags = starts.shape[0]
        position = ops.arange(input.shape[0], dtype=int32).unsqueeze(0)
        begin = starts.astype(int32).unsqueeze(1)
        # bag b holds the positions from its start to the next bag's (or the end)
        later = ops.cat([begin[1:], ops.full((1, 1), input.shape[0], dtype=int32)])
        if include_last_offset:
            later = ops.cat([begin[1:], offsets[-1:].astype(int32).unsqueeze(1)])
        member = ops.logical_and(position >= begin, position < later)
    else:
        raise ValueError(
            f"{where}: input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}"
        )
    rows = embedding(flat, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse)
    if padding_idx is not None:
        member = ops.logical_and(member, (flat != padding_idx % weight.shape[0]).unsqueeze(0))
    if mode == "max":
        picked = ops.where(member.unsqueeze(2), rows.unsqueeze(0), float("-inf"))
        best = picked.amax(dim=1)
        return ops.where(member.any(dim=1).unsqueeze(1), best, 0.0)
    scale = member.astype(rows.dtype)
    if per_sample_weights is not None:
        scale = scale * per_sample_weights.reshape(1, -1).astype(rows.dtype)
    total = ops.matmul(scale, rows)
    if mode == "sum":
        return total
    count = member.astype(rows.dtype).sum(dim=1, keepdim=True)
    return total / ops.maximum(count, 1.0)


def _check_offsets(offsets: Tensor, length: int, location: Location) -> None:
    """PyTorch's RuntimeErrors for offsets that do not start at 0 or leave the input (data at
    hand only: computed offsets are taken as given)."""
    data = data_at_hand(offsets)
    if data is None or not data.size:
        return
    if data[0] != 0:
        raise RuntimeError(
            f"{format_location(location)}: offsets[0] has to be 0, i.e., the first sequence in "
            f"the mini-batch has to start from position 0. However, got {int(data[0])}"
        )
    if data[-1] > length:
        raise RuntimeError(
            f"{format_location(location)}: offsets[-1] can not be greater than input's length "
            f"{length}, but got offsets[-1] of {int(data[-1])}"
        )
