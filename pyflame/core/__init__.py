"""The ground floor: what every level of PyFlame shares, importing nothing of PyFlame above it.

- `dtypes`: element types (`pf.float32`, ...), with their numpy and MLIR names
- `shapes`: shape rules (broadcasting, reductions, matmul, conv, ...), shared by the frontend's
  node builders and the dialects' verifiers, so both give the same messages
- `elementwise`, `reductions`: the op tables (each function's numpy meaning, operand kinds, flops)
- `errors`: every error PyFlame raises on purpose
- `target`: the machine model (`Target`, the presets) and its attribute in the IR
- `distribution`: the block algebra of a tensor laid out on a rectangle of PEs
- `exchange_plan`, `link_sharing`: how an exchange moves tiles (its messages and phases), and
  how phases in a row share links in time (the simulator and the cost model time them alike)

The dialects, passes, simulator and frontend import from here; nothing here imports them.
"""
