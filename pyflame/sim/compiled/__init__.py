"""The compiled kernel tier: a few of the simulator's host loops as machine code (numba).

The simulator's steps are numpy calls over the PEs' tiles. On small tiles (a few lanes on each
of 64x64 PEs, held lane-major: each lane one plane of every PE's) numpy pays its per-call and
per-inner-loop costs many times over: the MLP step's 1x4x10 tile product is 40 multiplies and
40 adds over 4,096-element planes, ~250 us, where the arithmetic alone takes a few. The modules
here run such loops compiled, in the order the numpy path runs them, each float32 operation
rounded as numpy rounds it (numba compiles without `fastmath`: no contraction into FMA):

- `tile_products`: small tile products (`tile_math.add_product`'s lane loop);
- `fused_kernels` (plain Python; it writes a numba module per expression, `kernel_cache`):
  fused elementwise expressions and `pe.unary` / `pe.binary` / `pe.select` steps, once hot;
- `chain_folds`: the stages of sum and product chains (pyflame/sim/chains.py).

Each takes what it computes exactly as numpy does and says False for anything else (the step
then takes its numpy path, the same bits). The one difference: an operation on two NaNs may
give the other NaN (LLVM may swap a commutative operation's operands; numpy's loops keep the
first operand's sign and payload).

A kernel is used when numba imports and the work is large enough (`MIN_WORK` elements: below,
the call's own cost and numba's import, ~0.7 s once per process, are what matter; a fused step
on fewer elements is compiled only in a long loop, `fused_kernels.HOT_SMALL_RUNS`; a small chain
fold once a large one loaded its module, `loaded`). numba
compiles each kernel signature once per machine and keeps it on disk; later processes load it.
`PYFLAME_COMPILED_KERNELS=0` in the environment turns the tier off (read at import;
`set_enabled` turns it off and on later). docs/simulator.md, "The compiled kernel tier".
"""

from __future__ import annotations

import os
import threading
from types import ModuleType
from typing import Any

#: the environment variable that turns the tier off ("0")
ENV_SWITCH = "PYFLAME_COMPILED_KERNELS"

#: elements of work (results times terms) below which numpy's path is kept
MIN_WORK = 16384

_lock = threading.Lock()
_loaded: dict[str, ModuleType | None] = {}


#: the switch (`enabled`): the environment's when pyflame is imported, then `set_enabled`'s
_enabled = os.environ.get(ENV_SWITCH, "1") != "0"


def enabled() -> bool:
    """Whether the tier may be used (numba may still be missing): `PYFLAME_COMPILED_KERNELS`
    as the process started, or what `set_enabled` said since. A flag, not an environment
    lookup (~1 us): every compiled call asks."""
    return _enabled


def set_enabled(on: bool) -> bool:
    """Turn the tier on or off from now on (kernels compiled before are not used while off);
    returns the previous setting."""
    global _enabled
    before, _enabled = _enabled, bool(on)
    return before


def kept_calls(V: object) -> dict | None:
    """Where a step keeps the compiled calls it made on an SRAM's views, to make them again at
    later runs: the SRAM's `derived` dict (pyflame/sim/sram.py: its views never move); None
    for a plain list of views (tests) or with the tier off."""
    return getattr(V, "derived", None) if _enabled else None


def loaded(name: str) -> ModuleType | None:
    """The module of compiled kernels `pyflame.sim.compiled.<name>` when a step imported it
    before (`kernels`) and the tier is on, else None; never imports (a step too small to pay
    for numba's import uses kernels that are there already)."""
    return _loaded.get(name) if _enabled else None


def shared_pe_axes(tiles: Any) -> Any:
    """(rows, cols, ...) tiles with a PE axis broadcast by a zero stride cut to one element:
    the kernels read an operand shared along PE rows or columns once per row / column."""
    if tiles.strides[0] == 0 and tiles.shape[0] > 1:
        tiles = tiles[:1]
    if tiles.strides[1] == 0 and tiles.shape[1] > 1:
        tiles = tiles[:, :1]
    return tiles


def kernels(name: str) -> ModuleType | None:
    """The module of compiled kernels `pyflame.sim.compiled.<name>`, imported on first use, or
    None: the tier is off, or numba does not import on this machine."""
    if name in _loaded:
        return _loaded[name] if enabled() else None
    if not enabled():
        return None
    with _lock:
        if name not in _loaded:
            try:
                module: ModuleType | None = __import__(
                    f"pyflame.sim.compiled.{name}", fromlist=["_"]
                )
            except Exception:  # (no numba here, or no cache it can write: numpy's path)
                module = None
            _loaded[name] = module
    return _loaded[name]
