"""Op builders: each checks shapes at the user's line and returns a new lazy `Tensor`.

One builder per flame op; the shape facts come from `pyflame.core.shapes` (shared with the flame
verifiers). A bad shape raises `pf.ShapeError` naming both shapes and the user's `file:line`.

    pf.relu(a @ b).sum(dim=0)
    # flame.matmul -> flame.relu -> flame.reduce_sum {dims = array<i64: 0>}

The builders live in one module per family (each imports only the ones above it in this list):

    saved        what each op saves for backward (PyTorch's), and the version check
    node         the graph node and the argument checks every builder shares
    convert      astype (flame.convert)
    creation     from_numpy, full, zeros, ones, empty, *_like, arange, linspace, logspace, eye
    shape        reshape, transpose, permute, broadcast, cat/stack, split, slicing, pad, diagonal
    elementwise  add, exp, eq, ... (pyflame.core.elementwise's table), where, clamp
    elementwise_math  xlogy, logaddexp, sinc, logit, copysign, ... (PyTorch's kernels as ops)
    linalg       matmul, bmm, outer, addmm
    masking      tril, triu, masked_fill, diag, diag_embed, diagonal_scatter
    reductions   sum, mean, amax, argmax, max/min, var/std, logsumexp, softmax, any/all, norm,
                 cumsum, logcumsumexp, cummax, cummin, trace
    einsum       einsum (permute, reshape, matmul, sum)
    stacking     hstack, vstack, meshgrid, tensor_split, rot90, ... (composed of shape's ops)
    sorting      sort, argsort, topk, median, nanmedian (ranks from pairwise compares)
    statistics   nansum, nanmean, var_mean, aminmax, cov, quantile, histc, diff, trapezoid
    sampling     randn, rand, randint, bernoulli, dropout
    conv         conv2d, max_pool2d, avg_pool2d
    indexed      gather_rows, scatter_add_rows (rows of a table at an index, and the transpose)

This package also gives `pf.Tensor` its operators and op methods (`x + y`, `x.sum()`): it binds
itself to pyflame/tensor_methods.py when imported.
"""

import sys

from pyflame import tensor_methods

# the frontend's own (not `pf.<name>`: see `__all__` below)
from pyflame.ops.conv import avg_pool2d as avg_pool2d  # pf.nn.functional's
from pyflame.ops.conv import conv2d as conv2d
from pyflame.ops.conv import max_pool2d as max_pool2d
from pyflame.ops.convert import astype
from pyflame.ops.convert import refuse_dtype as refuse_dtype
from pyflame.ops.creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from pyflame.ops.einsum import (
    einsum,
)
from pyflame.ops.elementwise import (
    abs,
    acos,
    acosh,
    add,
    allclose,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    bitwise_and,
    bitwise_left_shift,
    bitwise_not,
    bitwise_or,
    bitwise_right_shift,
    bitwise_xor,
    ceil,
    clamp,
    clamp_max,
    clamp_min,
    clip,
    cos,
    cosh,
    div,
    eq,
    equal,
    erf,
    erfinv,
    exp,
    exp2,
    expm1,
    floor,
    floor_divide,
    fmod,
    frac,
    ge,
    gelu,
    gt,
    hypot,
    isclose,
    isfinite,
    isinf,
    isnan,
    isneginf,
    isposinf,
    le,
    lerp,
    log,
    log1p,
    log2,
    log10,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    maximum,
    minimum,
    mul,
    nan_to_num,
    ne,
    neg,
    nextafter,
    pow,
    reciprocal,
    relu,
    remainder,
    round,
    rsqrt,
    sigmoid,
    sign,
    silu,
    sin,
    sinh,
    sqrt,
    square,
    sub,
    tan,
    tanh,
    trunc,
    where,
)
from pyflame.ops.elementwise import abs as absolute  # torch's alias
from pyflame.ops.elementwise import acos as arccos  # torch's numpy-style alias
from pyflame.ops.elementwise import acosh as arccosh  # torch's numpy-style alias
from pyflame.ops.elementwise import asin as arcsin  # torch's numpy-style alias
from pyflame.ops.elementwise import asinh as arcsinh  # torch's numpy-style alias
from pyflame.ops.elementwise import atan as arctan  # torch's numpy-style alias
from pyflame.ops.elementwise import atan2 as arctan2  # torch's numpy-style alias
from pyflame.ops.elementwise import atanh as arctanh  # torch's numpy-style alias
from pyflame.ops.elementwise import binary as binary  # the operators' builders
from pyflame.ops.elementwise import div as divide  # torch's alias
from pyflame.ops.elementwise import elementwise_op as elementwise_op
from pyflame.ops.elementwise import ge as greater_equal  # torch's alias
from pyflame.ops.elementwise import gt as greater  # torch's alias
from pyflame.ops.elementwise import le as less_equal  # torch's alias
from pyflame.ops.elementwise import lt as less  # torch's alias
from pyflame.ops.elementwise import mul as multiply  # torch's alias
from pyflame.ops.elementwise import ne as not_equal  # torch's alias
from pyflame.ops.elementwise import neg as negative  # torch's alias
from pyflame.ops.elementwise import operator as operator
from pyflame.ops.elementwise import sub as subtract  # torch's alias
from pyflame.ops.elementwise_math import (
    addcdiv,
    addcmul,
    copysign,
    deg2rad,
    digamma,
    erfc,
    fix,
    float_power,
    fmax,
    fmin,
    frexp,
    gcd,
    hardshrink,
    heaviside,
    i0,
    lcm,
    ldexp,
    lgamma,
    logaddexp,
    logaddexp2,
    logit,
    polygamma,
    positive,
    prelu,
    rad2deg,
    rsub,
    sgn,
    signbit,
    sinc,
    true_divide,
    xlogy,
)
from pyflame.ops.elementwise_math import entr as entr  # pf.special's
from pyflame.ops.elementwise_math import i0e as i0e  # pf.special's
from pyflame.ops.elementwise_math import i1 as i1  # pf.special's
from pyflame.ops.elementwise_math import i1e as i1e  # pf.special's
from pyflame.ops.elementwise_math import ndtr as ndtr  # pf.special's
from pyflame.ops.elementwise_math import xlog1py as xlog1py  # pf.special's
from pyflame.ops.indexed import gather_rows as gather_rows  # (indexing, nn.sparse, gradients)
from pyflame.ops.indexed import scatter_add_rows as scatter_add_rows
from pyflame.ops.linalg import (
    addbmm,
    addmm,
    addmv,
    addr,
    baddbmm,
    bmm,
    chain_matmul,
    cross,
    dot,
    ger,
    inner,
    kron,
    matmul,
    mm,
    mv,
    outer,
    tensordot,
    vander,
    vdot,
)
from pyflame.ops.masking import (
    diag,
    diag_embed,
    diagflat,
    diagonal_scatter,
    masked_fill,
    tril,
    triu,
)
from pyflame.ops.node import _check_device as _check_device  # (Tensor.to's device=)
from pyflame.ops.node import _check_layout as _check_layout  # (used by pf.nn's layers)
from pyflame.ops.node import _node as _node  # (used by gradient rules that build a raw node)
from pyflame.ops.reductions import MaxResult as MaxResult
from pyflame.ops.reductions import MinResult as MinResult
from pyflame.ops.reductions import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    cdist,
    count_nonzero,
    cummax,
    cummin,
    cumprod,
    cumsum,
    dist,
    log_softmax,
    logcumsumexp,
    logsumexp,
    mean,
    norm,
    prod,
    renorm,
    softmax,
    std,
    sum,
    trace,
    var,
)
from pyflame.ops.reductions import max_ as max_  # pf.max and pf.min (would shadow builtins)
from pyflame.ops.reductions import min_ as min_
from pyflame.ops.reductions import sum_to_size as sum_to_size
from pyflame.ops.sampling import (
    bernoulli,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
)
from pyflame.ops.sampling import dropout as dropout  # pf.dropout is pf.nn.functional's
from pyflame.ops.sampling import feature_dropout as feature_dropout  # nn.functional.dropout2d's
from pyflame.ops.shape import (
    adjoint,
    broadcast_to,
    cat,
    chunk,
    concat,
    concatenate,
    diagonal,
    expand,
    flatten,
    flip,
    moveaxis,
    movedim,
    pad,
    permute,
    repeat,
    reshape,
    roll,
    split,
    squeeze,
    stack,
    swapaxes,
    swapdims,
    t,
    tile,
    transpose,
    unbind,
    unsqueeze,
    view,
)
from pyflame.ops.shape import expand_as as expand_as  # Tensor methods
from pyflame.ops.shape import getitem as getitem
from pyflame.ops.shape import narrow as narrow  # pf.narrow is pyflame.indexing's
from pyflame.ops.shape import stride as stride
from pyflame.ops.shape import strides_of as strides_of
from pyflame.ops.shape import unfold as unfold  # (only the method: torch has no torch.unfold)
from pyflame.ops.sorting import (
    argsort,
    bucketize,
    isin,
    kthvalue,
    median,
    mode,
    msort,
    nanmedian,
    searchsorted,
    sort,
    topk,
)
from pyflame.ops.stacking import (
    atleast_1d,
    atleast_2d,
    atleast_3d,
    block_diag,
    cartesian_prod,
    column_stack,
    combinations,
    dsplit,
    dstack,
    fliplr,
    flipud,
    hsplit,
    hstack,
    meshgrid,
    ravel,
    rot90,
    row_stack,
    select,
    tensor_split,
    tril_indices,
    triu_indices,
    unflatten,
    vsplit,
    vstack,
)
from pyflame.ops.statistics import (
    aminmax,
    corrcoef,
    cov,
    cumulative_trapezoid,
    diff,
    histc,
    nanmean,
    nanquantile,
    nansum,
    quantile,
    std_mean,
    trapezoid,
    var_mean,
)

# `__all__`: the op builders `import pyflame as pf` publishes under these names (pyflame/api.py
# takes them all). Also here for the frontend's own modules, not as `pf.<name>`: `binary` and
# `elementwise_op` (the operators' builders), `getitem` and `expand_as` (Tensor methods),
# `max_` / `min_` (pf.max and pf.min: they would shadow builtins here) and their results,
# `narrow` and `dropout` (pf's come from pyflame.indexing and pyflame.nn.functional), and
# conv2d / max_pool2d / avg_pool2d (pf.nn.functional's).
__all__ = [  # creation
    "arange",
    "as_tensor",
    "empty",
    "empty_like",
    "eye",
    "from_numpy",
    "full",
    "full_like",
    "linspace",
    "logspace",
    "ones",
    "ones_like",
    "tensor",
    "zeros",
    "zeros_like",
]
__all__ += [  # more math, shape, masking, linear algebra, reductions, einsum and sorting
    "sin",
    "cos",
    "erf",
    "bitwise_and",
    "bitwise_left_shift",
    "bitwise_not",
    "bitwise_or",
    "bitwise_right_shift",
    "bitwise_xor",
    "logical_xor",
    "floor",
    "floor_divide",
    "fmod",
    "remainder",
    "trunc",
    "round",
    "sign",
    "log1p",
    "expm1",
    "isnan",
    "allclose",
    "ceil",
    "clamp_max",
    "clamp_min",
    "equal",
    "isclose",
    "isfinite",
    "isinf",
    "isneginf",
    "isposinf",
    "reciprocal",
    "square",
    "clip",
    "frac",
    "lerp",
    "dot",
    "mv",
    "count_nonzero",
    "tile",
    "unbind",
    "diag",
    "diag_embed",
    "diagonal",
    "diagonal_scatter",
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
    "cumprod",
    "cumsum",
    "logcumsumexp",
    "cummax",
    "cummin",
    "einsum",
    "median",
    "nanmedian",
    "sort",
    "argsort",
    "topk",
]
__all__ += [  # elementwise math, comparisons, where, clamp, dtype conversion
    "abs",
    "add",
    "astype",
    "clamp",
    "div",
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
__all__ += [  # more elementwise math (pyflame/ops/elementwise_math.py: decompositions)
    "signbit",
    "exp2",
    "log2",
    "log10",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "asinh",
    "acosh",
    "atanh",
    "erfinv",
    "atan2",
    "hypot",
    "nextafter",
    "copysign",
    "deg2rad",
    "hardshrink",
    "heaviside",
    "logaddexp",
    "logaddexp2",
    "logit",
    "rad2deg",
    "sinc",
    "true_divide",
    "xlogy",
    "arctan2",
    "arcsin",
    "arccos",
    "arctan",
    "arcsinh",
    "arccosh",
    "arctanh",
]
__all__ += [  # shape ops
    "broadcast_to",
    "cat",
    "chunk",
    "concat",
    "concatenate",
    "expand",
    "flatten",
    "pad",
    "permute",
    "reshape",
    "split",
    "squeeze",
    "stack",
    "transpose",
    "moveaxis",
    "movedim",
    "swapaxes",
    "swapdims",
    "unsqueeze",
    "view",
]
__all__ += [  # reductions
    "amax",
    "amin",
    "argmax",
    "argmin",
    "log_softmax",
    "logsumexp",
    "mean",
    "prod",
    "softmax",
    "std",
    "sum",
    "trace",
    "var",
]
__all__ += [  # linear algebra
    "bmm",
    "matmul",
]
__all__ += [  # random sampling
    "bernoulli",
    "rand",
    "rand_like",
    "randint",
    "randint_like",
    "randn",
    "randn_like",
]

__all__ += [  # stacking, splitting, rearranging (pyflame/ops/stacking.py)
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "block_diag",
    "cartesian_prod",
    "column_stack",
    "combinations",
    "dsplit",
    "dstack",
    "fliplr",
    "flipud",
    "hsplit",
    "hstack",
    "meshgrid",
    "ravel",
    "rot90",
    "row_stack",
    "select",
    "tensor_split",
    "tril_indices",
    "triu_indices",
    "unflatten",
    "vsplit",
    "vstack",
]

__all__ += [  # torch's linear algebra helpers (pyflame/ops/linalg.py)
    "addbmm",
    "addmv",
    "addr",
    "baddbmm",
    "chain_matmul",
    "cross",
    "ger",
    "inner",
    "kron",
    "mm",
    "tensordot",
    "vdot",
]

__all__ += [  # addcmul, addcdiv (pyflame/ops/elementwise_math.py)
    "addcdiv",
    "addcmul",
]

__all__ += [  # distances and renorm (pyflame/ops/reductions.py)
    "cdist",
    "dist",
    "renorm",
]

__all__ += [  # statistics and differences (pyflame/ops/statistics.py)
    "aminmax",
    "corrcoef",
    "cov",
    "cumulative_trapezoid",
    "diff",
    "histc",
    "nanmean",
    "nanquantile",
    "nansum",
    "quantile",
    "std_mean",
    "trapezoid",
    "var_mean",
]

__all__ += [  # searches and sort's helpers (pyflame/ops/sorting.py)
    "bucketize",
    "isin",
    "kthvalue",
    "msort",
    "searchsorted",
]

__all__ += [  # torch's elementwise aliases (pyflame/ops/elementwise_math.py)
    "fix",
    "float_power",
    "fmax",
    "fmin",
    "frexp",
    "ldexp",
    "positive",
    "sgn",
]

__all__ += [  # torch's aliases of elementwise ops
    "negative",
    "absolute",
    "multiply",
    "divide",
    "subtract",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "not_equal",
]

__all__ += [  # diagflat (pyflame/ops/masking.py)
    "diagflat",
]

__all__ += [  # vander (pyflame/ops/linalg.py)
    "vander",
]

__all__ += [  # t, adjoint (pyflame/ops/shape.py)
    "adjoint",
    "t",
]

__all__ += [  # rsub
    "rsub",
]

__all__ += [  # mode
    "mode",
]

__all__ += [  # prelu (also pf.nn.functional.prelu)
    "prelu",
]

__all__ += [  # gcd, lcm
    "gcd",
    "lcm",
]

__all__ += [  # digamma, polygamma
    "digamma",
    "polygamma",
]

__all__ += [  # lgamma
    "lgamma",
]

__all__ += [  # erfc
    "erfc",
]

__all__ += [  # i0
    "i0",
]

tensor_methods.bind("ops", sys.modules[__name__])  # `x + y`, `x.sum()`: the builders above
