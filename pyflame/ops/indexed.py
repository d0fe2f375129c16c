"""Indexed rows: `gather_rows` (the rows of a 2-D table at a 1-D index) and its transpose
`scatter_add_rows`, the primitives under gather, index_select and embedding.

    gather_rows(w, i)              # flame.gather_rows: w [V, D], i [*I] -> [*I, D]
    scatter_add_rows(i, g, V)      # flame.scatter_add_rows: zeros [V, D], row i[k] += g[k]

On the mesh the table stays where it is placed: the index goes to the PEs holding the table's
rows, each reads the rows it owns (work proportional to the rows returned), and a sum across
the table's row split puts every row where the output lives (passes/flame_lowering/indexed.py).
An index outside [0, V) reads a zero row and adds nothing; the callers check the range
(pyflame/checks.py `check_indices`). int64 indices are held as int32 (the machine is
32-bit: docs/ops.md, "int64").
"""

from __future__ import annotations

from pyflame.core import shapes
from pyflame.core.dtypes import bool_, int32
from pyflame.dialects import flame
from pyflame.layout import MeshLayout
from pyflame.lazy_tensor import Tensor
from pyflame.ops.convert import astype
from pyflame.ops.creation import zeros
from pyflame.ops.node import _check_tensor, _node, _rule


def _index_arg(index: Tensor, what: str) -> Tensor:
    _check_tensor(index, f"{what} index")
    if index.dtype.is_floating_point or index.dtype is bool_:
        raise TypeError(f"{what} needs integer indices, got {index.dtype!r}")
    return index


def gather_rows(table: Tensor, index: Tensor) -> Tensor:
    """out[k..., :] = table[index[k...], :] for a 2-D table and an int index of any shape (a
    zero row for an index outside [0, V)). bool tables are gathered as int32."""
    _check_tensor(table, "gather_rows")
    index = _index_arg(index, "gather_rows")
    shape = _rule(shapes.gather_rows, table.shape, index.shape)
    if table.dtype is bool_:
        return astype(gather_rows(astype(table, int32), index), bool_)
    if not table.shape[0]:  # no rows: every index is out of range and reads a zero row
        return zeros(shape, dtype=table.dtype)
    return _node(flame.GatherRowsOp, [table, index], shape, table.dtype)


def scatter_add_rows(
    index: Tensor, src: Tensor, rows: int, layout: MeshLayout | None = None
) -> Tensor:
    """zeros [rows, D] with src[k..., :] added into row index[k...] for every entry (nothing
    for an index outside [0, rows)): the transpose of gather_rows. `layout`: where the result
    goes (a gradient goes where its table is)."""
    index = _index_arg(index, "scatter_add_rows")
    _check_tensor(src, "scatter_add_rows")
    shape = _rule(shapes.scatter_add_rows, index.shape, src.shape, rows)
    if src.dtype is bool_:
        raise TypeError("scatter_add_rows adds numbers, not bool (convert to int32)")
    attrs = {"rows": rows}
    return _node(flame.ScatterAddRowsOp, [index, src], shape, src.dtype, attrs, layout=layout)
