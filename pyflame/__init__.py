"""PyFlame: PyTorch-style lazy tensors compiled for a wafer-scale 2D mesh of PEs.

import pyflame as pf
x = pf.randn([100, 100])          # a graph node, nothing computed yet
z = pf.relu(x).sum()
pf.eval(z)                        # compile (once per graph structure) and run
print(z.numpy(), pf.last_report())
"""

from pyflame import sim
from pyflame.dtypes import DType, bfloat16, float16, float32, int32
from pyflame.dtypes import bool_ as bool
from pyflame.errors import CompileError, PyFlameError, ShapeError, SRAMOverflowError
from pyflame.layout import MeshLayout
from pyflame.ops import (
    add,
    div,
    from_numpy,
    full,
    full_like,
    matmul,
    mean,
    mul,
    neg,
    ones,
    ones_like,
    permute,
    randn,
    randn_like,
    relu,
    reshape,
    sub,
    sum,
    transpose,
    view,
    zeros,
    zeros_like,
)
from pyflame.random import manual_seed
from pyflame.runtime import cache_clear, cache_info, eval, explain, ir, last_report
from pyflame.sim.target import set_target, target
from pyflame.tensor import Tensor

__all__ = [
    "CompileError",
    "DType",
    "MeshLayout",
    "PyFlameError",
    "SRAMOverflowError",
    "ShapeError",
    "Tensor",
    "add",
    "bfloat16",
    "bool",
    "cache_clear",
    "cache_info",
    "div",
    "eval",
    "explain",
    "float16",
    "float32",
    "from_numpy",
    "full",
    "full_like",
    "int32",
    "ir",
    "last_report",
    "manual_seed",
    "matmul",
    "mean",
    "mul",
    "neg",
    "ones",
    "ones_like",
    "permute",
    "randn",
    "randn_like",
    "relu",
    "reshape",
    "set_target",
    "sim",
    "sub",
    "sum",
    "target",
    "transpose",
    "view",
    "zeros",
    "zeros_like",
]
