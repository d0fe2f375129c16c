"""The simulator's kernels, one module per op family, registered by pe op class in `KERNELS`
(pyflame/sim/kernels/registry.py). Importing this package loads every family:

    elementwise     fill, unary, binary, select, convert, copy, mask_pad
    fused           fused (an elementwise chain in one pass, from fuse-elementwise)
    reduce_matmul   reduce, matmul_acc
    tile_shape      transpose, broadcast
    host_io         host_in, host_out
    network         route, send, recv, wait
    exchange        exchange (a redistribution's local part and network phases)
    conv            pack, unpack, conv2d, conv2d_weight_grad, pool2d
    creation        random_normal, random_uniform, iota
    indexed         gather_rows, scatter_add_rows

A new pe op gets its kernel in the module of its family (or a new module listed here);
tests/unit/sim/test_kernels.py fails while a pe op has none.
"""

from pyflame.sim.kernels import (
    conv,
    creation,
    elementwise,
    exchange,
    fused,
    host_io,
    indexed,
    network,
    reduce_matmul,
    tile_shape,
)
from pyflame.sim.kernels.registry import KERNELS, Kernel, kernel, kernel_for

FAMILIES = (
    elementwise,
    fused,
    reduce_matmul,
    tile_shape,
    host_io,
    network,
    exchange,
    conv,
    creation,
    indexed,
)

__all__ = ["FAMILIES", "KERNELS", "Kernel", "kernel", "kernel_for"]
