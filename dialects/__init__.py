"""PyFlame's MLIR dialects: `flame` (tensors), `mesh` (layouts), `pe` (PEs and routers), and `pf`
(the module attributes `#pf.target` and `#pf.placement`, defined in pyflame/core/).

Installed as `pyflame.dialects`; always import through that name.
"""

from collections.abc import Callable

from xdsl.ir import Dialect


def all_dialects() -> dict[str, Callable[[], Dialect]]:
    """Every PyFlame dialect by name, loaded lazily (the one registry tools use)."""

    def flame() -> Dialect:
        from pyflame.dialects.flame import Flame

        return Flame

    def mesh() -> Dialect:
        from pyflame.dialects.mesh import Mesh

        return Mesh

    def pe() -> Dialect:
        from pyflame.dialects.pe import PE

        return PE

    def pf() -> Dialect:  # the target and placement attributes (defined below the dialects)
        from pyflame.core.target import PF

        return PF

    return {"flame": flame, "mesh": mesh, "pe": pe, "pf": pf}
