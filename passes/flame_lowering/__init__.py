"""The lowerings of flame-to-mesh (passes/flame_to_mesh.py), one module per op family; helpers of
that pass, no passes here. Each family module has a `LOWERINGS` table (flame op class -> its
lowering); flame-to-mesh merges them.

- state: the per-function `Lowering` (value map, lazy leaves, hints) and shared emit helpers
- creation, elementwise, reductions, matmul, shape_ops, windowed (conv2d and pooling)

Layout policy (hints, the default layout for a size) is in passes/layouts.py.
"""
