"""The public API of PyFlame, the names of `import pyflame as pf`: `pf.Tensor`, `pf.relu`,
`pf.eval`, `pf.nn`, ...

pyflame/__init__.py loads this module on the first `pf.<name>` (so that `import pyflame.dialects`
and the tools never load the frontend) and copies these names into the `pyflame` namespace.
"""

from pyflame import autograd, extend, linalg, nn, ops, optim, serving, sim, special, training
from pyflame import index_get as index_get  # binds `x[idx]`, `x[mask]` (advanced indexing)
from pyflame import inplace as inplace  # binds `x.add_(y)`, `x[key] = v`, `x.data` to pf.Tensor
from pyflame.autograd import backward, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from pyflame.core.dtypes import DType, bfloat16, float16, float32, int32, int64
from pyflame.core.dtypes import bool_ as bool
from pyflame.core.dtypes import int64 as long
from pyflame.core.errors import (
    CheckpointError,
    CompileError,
    DeadlockError,
    HostMemoryError,
    IntegerDivisionByZeroError,
    IntegerOverflowError,
    PyFlameError,
    ShapeError,
    SimulationError,
    SRAMOverflowError,
)
from pyflame.data_dependent import (
    argwhere,
    bincount,
    histogram,
    masked_select,
    nonzero,
    unique,
    unique_consecutive,
)
from pyflame.devices import device
from pyflame.index_get import take
from pyflame.indexed_writes import (
    index_add,
    index_copy,
    index_fill,
    index_put,
    index_reduce,
    masked_scatter,
    scatter,
    scatter_add,
    scatter_reduce,
    select_scatter,
    slice_scatter,
)
from pyflame.indexing import gather, index_select, narrow, repeat_interleave, take_along_dim
from pyflame.io import load, save
from pyflame.layout import MeshLayout
from pyflame.lazy_tensor import Tensor
from pyflame.linalg import det, logdet, matrix_power, slogdet
from pyflame.linalg import inv as inverse  # torch.inverse
from pyflame.linalg import torch_cholesky as cholesky  # torch.cholesky(a, upper=False)
from pyflame.nn.functional import dropout  # (inplace=True writes into the input)
from pyflame.ops import *  # noqa: F403  (the op builders: pyflame.ops.__all__)
from pyflame.ops import max_ as max  # pf.max, pf.min (pyflame.ops cannot shadow builtins)
from pyflame.ops import min_ as min
from pyflame.random import manual_seed
from pyflame.runtime import cache_clear, cache_info, eval, explain, ir, last_report, pipeline
from pyflame.sim.target import set_target, target
from pyflame.special import multigammaln as mvlgamma  # torch.mvlgamma
from pyflame.tensor_functions import (
    clone,
    conj,
    detach,
    is_complex,
    is_conj,
    is_floating_point,
    is_neg,
    is_nonzero,
    is_same_size,
    isreal,
    numel,
    real,
    resolve_conj,
    resolve_neg,
)

__all__ = [
    "CompileError",
    "DType",
    "DeadlockError",
    "device",
    "HostMemoryError",
    "IntegerDivisionByZeroError",
    "IntegerOverflowError",
    "SimulationError",
    "MeshLayout",
    "PyFlameError",
    "SRAMOverflowError",
    "ShapeError",
    "Tensor",
    "bfloat16",
    "bool",
    "cache_clear",
    "cache_info",
    "eval",
    "explain",
    "float16",
    "float32",
    "int32",
    "int64",
    "long",
    "ir",
    "last_report",
    "manual_seed",
    "nn",
    "pipeline",
    "set_target",
    "sim",
    "target",
    "autograd",
    "backward",
    "no_grad",
    "enable_grad",  # torch.enable_grad, torch.set_grad_enabled, torch.is_grad_enabled: the
    "set_grad_enabled",  # same objects as pf.autograd's (a port writes torch.<name>)
    "is_grad_enabled",
]
__all__ += ["max", "min"]  # pyflame.ops's max_ and min_
__all__ += ["dropout", "gather", "index_select", "narrow"]  # nn.functional's, indexing's
__all__ += ["repeat_interleave", "take_along_dim"]  # indexing's
__all__ += ["index_add", "index_copy", "index_fill", "index_put", "scatter", "scatter_add"]
__all__ += ["masked_scatter", "scatter_reduce"]
__all__ += ["index_reduce", "select_scatter", "slice_scatter", "take"]
__all__ += ["serving", "special", "training", "mvlgamma"]
__all__ += ["linalg", "det", "logdet", "slogdet", "inverse", "cholesky", "matrix_power"]
__all__ += ["isreal", "real"]
__all__ += [  # Tensor methods as functions (pyflame/tensor_functions.py)
    "clone",
    "conj",
    "detach",
    "is_complex",
    "is_conj",
    "is_floating_point",
    "is_neg",
    "is_nonzero",
    "is_same_size",
    "numel",
    "resolve_conj",
    "resolve_neg",
]
__all__ += ["argwhere", "bincount", "histogram", "masked_select", "nonzero", "unique"]
__all__ += ["unique_consecutive"]
__all__ += ["CheckpointError", "extend", "load", "optim", "save"]
__all__ += ops.__all__  # the op builders (pyflame/ops/__init__.py)
