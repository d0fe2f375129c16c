"""The rules of a `pe.routes` op as numpy arrays, for the passes and the simulator alike: one
row per rule (row0, col0, rows, cols, input port, output mask), and the (router, input port)
cells they set."""

from __future__ import annotations

import numpy as np

#: numbers per rule (pe.ROUTE_RULE_FIELDS)
FIELDS = 6


def rule_array(rule_bytes: bytes) -> np.ndarray:
    """(n, 6) int64 rules from a pe.routes' `rule_bytes`."""
    return np.frombuffer(rule_bytes, dtype="<i8").reshape(-1, FIELDS).astype(np.int64)


def rule_cells(rules: np.ndarray, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (router, input port) a rule sets, in rule order: (flat router index row * cols +
    col, input port, output mask), one entry per router of each rule's rectangle."""
    r0, c0, nr, nc, port, mask = (rules[:, j] for j in range(FIELDS))
    sizes = nr * nc
    rule = np.repeat(np.arange(len(rules)), sizes)
    within = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    width = nc[rule]
    router = (r0[rule] + within // width) * cols + c0[rule] + within % width
    return router, port[rule], mask[rule]
