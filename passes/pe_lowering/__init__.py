"""The lowerings of lower-mesh-to-pe (passes/lower_mesh_to_pe.py), one module per op family;
helpers of that pass, no passes here. Each family module has a `LOWERINGS` table (mesh op class
-> its lowering); lower-mesh-to-pe merges them.

- state: the per-function `PELowering` (value map, buffers, virtual channels) and route patterns
- local_ops (each PE on its own tile), collectives (reductions, redistribute), matmul
  (SUMMA), shape_ops, windowed (conv2d and pooling halos)
"""
