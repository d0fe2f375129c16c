"""The simulator imports only downward: the ground floor (pyflame.core) and the pe dialect, never
the mesh or flame dialects, the passes or the frontend; the pe dialect never loads mesh."""

from __future__ import annotations

import json
import subprocess
import sys


def loaded_after(module: str) -> list[str]:
    """The pyflame modules a fresh interpreter has loaded after importing `module`."""
    code = (
        f"import json, sys, {module}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('pyflame'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_planner_and_its_kernels_load_only_the_ground_floor_and_pe():
    loaded = loaded_after("pyflame.sim.planner")
    assert "pyflame.sim.kernels.conv" in loaded and "pyflame.dialects.pe" in loaded
    above = [
        m
        for m in loaded
        if not m.startswith(("pyflame.core", "pyflame.sim"))
        and m not in ("pyflame", "pyflame.dialects", "pyflame.dialects.pe")
    ]
    assert above == []


def test_the_pe_dialect_does_not_load_the_mesh_dialect():
    loaded = loaded_after("pyflame.dialects.pe")
    assert "pyflame.dialects.mesh" not in loaded
    assert [m for m in loaded if m.startswith("pyflame.dialects.")] == ["pyflame.dialects.pe"]
