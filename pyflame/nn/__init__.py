"""`pf.nn`: neural-network building blocks, as in `torch.nn`.

    import pyflame as pf
    from pyflame import nn
    y = nn.functional.conv2d(x, w, b, padding=1)
    z = pf.nn.functional.max_pool2d(y, 2)

`pf.nn.functional` holds the stateless functions; layers (`nn.Module`, `nn.Conv2d`, ...) build
on them.
"""

from pyflame.nn import functional

__all__ = ["functional"]
