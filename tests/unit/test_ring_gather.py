"""Ring gathers and scatter-adds (mesh.ring_gather_rows, mesh.ring_scatter_add_rows;
passes/pe_lowering/ring_rows.py, passes/indexed_layouts.py): large index reads split their index
and rows over the PEs instead of copying them to every PE, and their gradients too. Values
against numpy and torch; the layouts the ring takes forced at the mesh level; where the choice
falls; the advice of the SRAM error when even that does not fit."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from xdsl.parser import Parser

import pyflame as pf
import pyflame.nn.functional as F
from pyflame import compiler
from pyflame.core.distribution import Distribution
from pyflame.core.errors import SRAMOverflowError
from pyflame.core.target import SMALL, WSE2
from pyflame.passes.indexed_layouts import (
    RING_SHARE,
    replicated_bytes,
    ring_bytes,
    ring_candidates,
    wants_ring,
)

RNG = np.random.default_rng(24)


def _ops(*tensors) -> list[str]:
    return re.findall(r"= (mesh\.[a-z_]+)", pf.ir(*tensors, stage="mesh"))


def _index(n: int, size: int) -> np.ndarray:
    """n indices into [0, size): random, both ends, and runs of repeats."""
    idx = RNG.integers(0, size, n)
    idx[:6] = [0, size - 1, size - 1, 0, 3 % size, 3 % size]
    idx[-3:] = size - 1
    return idx


# --------------------------------------------------------------------------- the frontend


def test_large_1d_gather_matches_numpy_and_runs_as_a_ring():
    """The report's case: x[idx] with 10,000 entries overflowed every grid (its index copied
    to every PE, ~80 KiB a PE) and suggested a 136x136 layout that did not help."""
    x = np.arange(10000, dtype=np.float32) * 0.5 - 7
    idx = _index(10000, 10000)
    t, i = pf.from_numpy(x), pf.from_numpy(idx)
    y = t[i]
    assert "mesh.ring_gather_rows" in _ops(y)
    np.testing.assert_array_equal(y.numpy(), x[idx])
    assert pf.last_report().sram_peak_max <= WSE2.usable_sram_bytes


def test_rows_of_a_2d_table_odd_sizes():
    """x[idx] on [V, D] (rows by index): sizes that divide no grid side."""
    x = RNG.standard_normal((3001, 7)).astype(np.float32)
    idx = _index(4999, 3001)
    y = pf.from_numpy(x)[pf.from_numpy(idx)]
    assert "mesh.ring_gather_rows" in _ops(y)
    np.testing.assert_array_equal(y.numpy(), x[idx])


def test_index_select_gather_and_int_tables():
    """index_select along dim 1, torch.gather along dim 0 (rows read through a flat index),
    and an int32 table."""
    x = RNG.standard_normal((3, 6007)).astype(np.float32)
    idx = _index(7001, 6007)
    got = pf.index_select(pf.from_numpy(x), 1, pf.from_numpy(idx)).numpy()
    np.testing.assert_array_equal(got, x[:, idx])
    table = RNG.standard_normal((4001, 2)).astype(np.float32)
    where = RNG.integers(0, 4001, (4001, 2))
    got = pf.gather(pf.from_numpy(table), 0, pf.from_numpy(where)).numpy()
    np.testing.assert_array_equal(got, np.take_along_axis(table, where, 0))
    ints = RNG.integers(-(2**30), 2**30, 9001).astype(np.int32)
    idx = _index(9001, 9001)
    np.testing.assert_array_equal(pf.from_numpy(ints)[pf.from_numpy(idx)].numpy(), ints[idx])


@pytest.mark.slow  # (8.5 s: the ring gather of embeddings is tested at smaller sizes above)
def test_embedding_of_many_tokens():
    """F.embedding and nn.Embedding with a [B, T] batch of ids (flattened on the way)."""
    w = RNG.standard_normal((65, 32)).astype(np.float32)
    ids = RNG.integers(0, 65, (24, 171))
    y = F.embedding(pf.from_numpy(ids), pf.from_numpy(w))
    assert "mesh.ring_gather_rows" in _ops(y)
    np.testing.assert_array_equal(y.numpy(), w[ids])
    emb = pf.nn.Embedding(1000, 12)
    got = emb(pf.from_numpy(ids * 5 + 3)).numpy()
    np.testing.assert_array_equal(got, emb.weight.numpy()[ids * 5 + 3])


@pytest.mark.parametrize(
    ("rows", "width", "n"),
    [(10000, 1, 10000), pytest.param(65, 16, 9000, marks=pytest.mark.slow)],  # (7 s)
)
def test_gradient_is_the_scatter_add_of_torch(rows, width, n):
    """The gradient of a large gather, a ring scatter-add (repeats accumulate), against torch."""
    w = RNG.standard_normal((rows, width)).astype(np.float32)
    idx = _index(n, rows)
    g = RNG.standard_normal((n, width)).astype(np.float32)
    table = pf.from_numpy(w).requires_grad_()
    loss = (F.embedding(pf.from_numpy(idx), table) * pf.from_numpy(g)).sum()
    loss.backward()
    ref = torch.tensor(w, requires_grad=True)
    (torch.nn.functional.embedding(torch.tensor(idx), ref) * torch.tensor(g)).sum().backward()
    assert ref.grad is not None
    np.testing.assert_allclose(table.grad.numpy(), ref.grad.numpy(), rtol=1e-5, atol=1e-4)


def test_small_target_gathers_up_to_its_fabric():
    """On the 16x16 target the ring spreads over at most its 256 PEs; beyond what they hold
    the error says so (see the last test)."""
    x = RNG.standard_normal((20000, 2)).astype(np.float32)
    idx = _index(30000, 20000)
    with pf.target(SMALL):
        y = pf.from_numpy(x)[pf.from_numpy(idx)]
        np.testing.assert_array_equal(y.numpy(), x[idx])


def test_small_gathers_keep_the_replicated_form():
    """An index of a few entries is still copied to the table's PEs (one op, no ring)."""
    w = RNG.standard_normal((64, 32)).astype(np.float32)
    ids = RNG.integers(0, 64, 20)
    y = F.embedding(pf.from_numpy(ids), pf.from_numpy(w))
    ops = _ops(y)
    assert "mesh.gather_rows" in ops and "mesh.ring_gather_rows" not in ops
    np.testing.assert_array_equal(y.numpy(), w[ids])


# --------------------------------------------------------------------------- forced layouts


def _t(shape: str, grid: str, split: str, elem: str = "f32") -> str:
    return f"!mesh.tensor<{shape}x{elem} on {grid} split [{split}]>"


def _run(op: str, inputs: list[str], result: str, args: list[np.ndarray]) -> np.ndarray:
    host = ["tensor<" + t.split("<", 1)[1].split(" on ")[0] + ">" for t in (*inputs, result)]
    lines = [f"%{'ab'[i]} = mesh.scatter %x{i} : {host[i]} -> {t}" for i, t in enumerate(inputs)]
    lines += [
        f"%r = {op} %a, %b : ({', '.join(inputs)}) -> {result}",
        f"%o = mesh.gather %r : {result} -> {host[-1]}",
        f"func.return %o : {host[-1]}",
    ]
    params = ", ".join(f"%x{i}: {h}" for i, h in enumerate(host[:-1]))
    text = (
        'builtin.module attributes {pf.target = #pf.target<"small">} {\n'
        f"func.func @main({params}) -> {host[-1]} {{\n" + "\n".join(lines) + "\n}\n}"
    )
    module = Parser(compiler.make_context(), text).parse_module()
    (out,), _ = compiler.run_module(module, {f"x{i}": a for i, a in enumerate(args)})
    return out


#: (grid, table split, index split, copies of the table and their split): rings down the PE
#: columns with the table copied along them or its columns split, a ring of one PE, grids of
#: odd sides
RING_LAYOUTS = [
    ("4x2", "r, _", "rc", "2", "c, r, _"),
    ("4x2", "r, c", "r", "1", "_, r, c"),
    ("3x5", "r, _", "rc", "5", "c, r, _"),
    ("5x3", "r, c", "r", "1", "_, r, c"),
    ("1x4", "_, _", "rc", "4", "rc, _, _"),
    ("7x1", "r, _", "rc", "1", "_, r, _"),
]


@pytest.mark.parametrize(("grid", "table", "axes", "copies", "partials"), RING_LAYOUTS)
def test_forced_ring_layouts(grid, table, axes, copies, partials):
    rows, width, n = 103, 5, 211  # nothing divides
    cols = table.split(", ")[1]
    w = RNG.standard_normal((rows, width)).astype(np.float32)
    idx = _index(n, rows).astype(np.int32)
    index, got_rows = _t(str(n), grid, axes, "i32"), _t(f"{n}x{width}", grid, f"{axes}, {cols}")
    got = _run(
        "mesh.ring_gather_rows", [_t(f"{rows}x{width}", grid, table), index], got_rows, [w, idx]
    )
    np.testing.assert_array_equal(got, w[idx])
    g = RNG.standard_normal((n, width)).astype(np.float32)
    out = _t(f"{copies}x{rows}x{width}", grid, partials)
    sums = _run("mesh.ring_scatter_add_rows", [index, got_rows], out, [idx, g])
    want = np.zeros((rows, width), np.float64)
    np.add.at(want, idx, g)
    np.testing.assert_allclose(sums.sum(0), want, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- the choice


def test_choice_of_form_and_ring():
    """The replicated form while it takes at most a quarter of a PE; a ring's buffers within
    half of it, cheapest first."""
    one_pe = Distribution((10000, 1), (1, 1), ("", ""))
    assert wants_ring(one_pe, 10000, 4, WSE2)
    small = Distribution((64, 32), (2, 2), ("r", "c"))
    assert not wants_ring(small, 20, 4, WSE2)
    assert replicated_bytes(small, 20, 4) < WSE2.usable_sram_bytes // 4
    found = ring_candidates(10000, 1, 10000, 4, WSE2)
    assert found and [c for c, _ in found] == sorted(c for c, _ in found)
    for _, table in found:
        assert ring_bytes(table, 10000, 4) <= WSE2.usable_sram_bytes // RING_SHARE
        assert table.num_pes <= 10000
    assert not ring_candidates(10**7, 64, 10**6, 4, SMALL)  # more than 256 PEs hold


# --------------------------------------------------------------------------- the advice


def _suggested(err: SRAMOverflowError) -> pf.MeshLayout | None:
    found = re.search(r"pf\.MeshLayout\.grid\((\d+), (\d+)\)", str(err))
    return pf.MeshLayout.grid(int(found[1]), int(found[2])) if found else None


def test_overflow_advice_works_or_says_nothing_fits():
    """A table the user placed on too few PEs: the layout the error suggests for it, tried,
    runs and gives the right rows. A table no grid of the fabric holds: the error says so."""
    x = RNG.standard_normal((60000, 2)).astype(np.float32)
    idx = _index(3000, 60000)
    with pf.target(SMALL):
        with pytest.raises(SRAMOverflowError) as err:
            pf.from_numpy(x, layout=pf.MeshLayout.grid(2, 2))[pf.from_numpy(idx)].numpy()
        layout = _suggested(err.value)
        assert layout is not None, str(err.value)
        y = pf.from_numpy(x, layout=layout)[pf.from_numpy(idx)]
        np.testing.assert_array_equal(y.numpy(), x[idx])
        huge = np.zeros((3_000_000, 1), np.float32)  # 12 MB: more than 256 PEs' 44 KiB
        with pytest.raises(SRAMOverflowError, match="No layout (on this fabric )?fits"):
            pf.from_numpy(huge)[pf.from_numpy(idx)].numpy()
