"""Op builders: each checks shapes at the user's line and returns a new lazy `Tensor`.

One builder per flame op; the shape facts come from `pyflame.core.shapes` (shared with the flame
verifiers). A bad shape raises `pf.ShapeError` naming both shapes and the user's `file:line`.

    pf.relu(a @ b).sum(dim=0)
    # flame.matmul -> flame.relu -> flame.reduce_sum {dims = array<i64: 0>}

The builders live in one module per family (each imports only the ones above it in this list):

    saved        what each op saves for backward (PyTorch's), and the version check
    node         the graph node and the argument checks every builder shares
    convert      astype (flame.convert)
    creation     from_numpy, full, zeros, ones, *_like, arange, eye
    shape        reshape, transpose, permute, broadcast, cat/stack, split, slicing, pad
    elementwise  add, exp, eq, ... (pyflame.core.elementwise's table), where, clamp
    linalg       matmul, bmm, outer, addmm
    masking      tril, triu, masked_fill
    reductions   sum, mean, amax, argmax, max/min, var/std, logsumexp, softmax, any/all, norm, cumsum
    einsum       einsum (permute, reshape, matmul, sum)
    sorting      sort, argsort, topk (ranks from pairwise compares)
    sampling     randn, rand, randint, bernoulli, dropout
    conv         conv2d, max_pool2d, avg_pool2d
    indexed      gather_rows, scatter_add_rows (rows of a table at an index, and the transpose)

This package also gives `pf.Tensor` its operators and op methods (`x + y`, `x.sum()`): it binds
itself to pyflame/tensor_methods.py when imported.
"""

import sys

from pyflame import tensor_methods
from pyflame.ops.conv import avg_pool2d, conv2d, max_pool2d
from pyflame.ops.convert import astype
from pyflame.ops.creation import (
    arange,
    eye,
    from_numpy,
    full,
    full_like,
    ones,
    ones_like,
    zeros,
    zeros_like,
)
from pyflame.ops.einsum import (
    einsum,
)
from pyflame.ops.elementwise import (
    abs,
    add,
    binary,
    clamp,
    cos,
    div,
    elementwise_op,
    eq,
    erf,
    exp,
    expm1,
    floor,
    ge,
    gelu,
    gt,
    isnan,
    le,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    lt,
    maximum,
    minimum,
    mul,
    nan_to_num,
    ne,
    neg,
    pow,
    relu,
    round,
    rsqrt,
    sigmoid,
    sign,
    silu,
    sin,
    sqrt,
    sub,
    tanh,
    where,
)
from pyflame.ops.indexed import gather_rows as gather_rows  # (indexing, nn.sparse, gradients)
from pyflame.ops.indexed import scatter_add_rows as scatter_add_rows
from pyflame.ops.linalg import (
    addmm,
    bmm,
    matmul,
    outer,
)
from pyflame.ops.masking import (
    masked_fill,
    tril,
    triu,
)
from pyflame.ops.node import _check_layout as _check_layout  # (used by pf.nn's layers)
from pyflame.ops.node import _node as _node  # (used by gradient rules that build a raw node)
from pyflame.ops.reductions import (
    MaxResult,
    MinResult,
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    cumsum,
    log_softmax,
    logsumexp,
    max_,
    mean,
    min_,
    norm,
    prod,
    softmax,
    std,
    sum,
    var,
)
from pyflame.ops.sampling import (
    bernoulli,
    dropout,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
)
from pyflame.ops.shape import (
    broadcast_to,
    cat,
    chunk,
    concat,
    concatenate,
    expand,
    expand_as,
    flatten,
    flip,
    getitem,
    narrow,
    pad,
    permute,
    repeat,
    reshape,
    roll,
    split,
    squeeze,
    stack,
    transpose,
    unsqueeze,
    view,
)
from pyflame.ops.sorting import (
    argsort,
    sort,
    topk,
)

__all__ = [  # creation
    "arange",
    "eye",
    "from_numpy",
    "full",
    "full_like",
    "ones",
    "ones_like",
    "zeros",
    "zeros_like",
    "sin",
    "cos",
    "erf",
    "floor",
    "round",
    "sign",
    "log1p",
    "expm1",
    "isnan",
    "nan_to_num",
    "flip",
    "roll",
    "repeat",
    "tril",
    "triu",
    "masked_fill",
    "outer",
    "addmm",
    "any",
    "all",
    "norm",
    "cumsum",
    "einsum",
    "sort",
    "argsort",
    "topk",
]
__all__ += [  # elementwise math, comparisons, where, clamp, dtype conversion
    "abs",
    "add",
    "astype",
    "binary",
    "clamp",
    "div",
    "elementwise_op",
    "eq",
    "exp",
    "ge",
    "gelu",
    "gt",
    "le",
    "log",
    "logical_and",
    "logical_not",
    "logical_or",
    "lt",
    "maximum",
    "minimum",
    "mul",
    "ne",
    "neg",
    "pow",
    "relu",
    "rsqrt",
    "sigmoid",
    "silu",
    "sqrt",
    "sub",
    "tanh",
    "where",
]
__all__ += [  # shape ops
    "broadcast_to",
    "cat",
    "chunk",
    "concat",
    "concatenate",
    "expand",
    "expand_as",
    "flatten",
    "getitem",
    "narrow",
    "pad",
    "permute",
    "reshape",
    "split",
    "squeeze",
    "stack",
    "transpose",
    "unsqueeze",
    "view",
]
__all__ += [  # reductions (max_ and min_ are pf.max and pf.min: they would shadow builtins here)
    "MaxResult",
    "MinResult",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "log_softmax",
    "logsumexp",
    "max_",
    "mean",
    "min_",
    "prod",
    "softmax",
    "std",
    "sum",
    "var",
]
__all__ += [  # linear algebra, convolution and pooling
    "avg_pool2d",
    "bmm",
    "conv2d",
    "matmul",
    "max_pool2d",
]
__all__ += [  # random sampling
    "bernoulli",
    "dropout",
    "rand",
    "rand_like",
    "randint",
    "randint_like",
    "randn",
    "randn_like",
]

tensor_methods.bind("ops", sys.modules[__name__])  # `x + y`, `x.sum()`: the builders above
