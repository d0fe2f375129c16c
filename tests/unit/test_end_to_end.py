"""The whole pipeline (frontend -> flame -> mesh -> pe -> simulator) against numpy.

Odd shapes that leave padding, shapes that divide the grid, and every layout kind.
"""

from __future__ import annotations

import numpy as np
import pytest
from layouts import LAYOUTS

import pyflame as pf

SHAPES = [(8, 8), (7, 5), (1, 9), (13, 3)]


pytestmark = pytest.mark.usefixtures("small_target")


def arrays(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("shape", SHAPES)
def test_elementwise_chain(layout, shape):
    a, b = arrays(shape, shape)
    x, y = pf.from_numpy(a, layout=layout), pf.from_numpy(b, layout=layout)
    z = pf.relu(x * y - x / (y * y + 1.0)) + 2.0 - (-x)
    np.testing.assert_allclose(
        z.numpy(), np.maximum(a * b - a / (b * b + 1), 0) + 2 + a, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_sum_and_mean(layout, shape, dim, keepdim):
    (a,) = arrays(shape)
    x = pf.from_numpy(a, layout=layout)
    axis = dim if not isinstance(dim, list) else tuple(dim)
    s, m = x.sum(dim=dim, keepdim=keepdim), x.mean(dim=dim, keepdim=keepdim)
    pf.eval(s, m)
    np.testing.assert_allclose(s.numpy(), a.sum(axis=axis, keepdims=keepdim), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m.numpy(), a.mean(axis=axis, keepdims=keepdim), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("mkn", [(8, 8, 8), (7, 5, 3), (16, 12, 8), (1, 9, 2), (10, 1, 6)])
def test_matmul(layout, mkn):
    m, k, n = mkn
    a, b = arrays((m, k), (k, n))
    z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)
    np.testing.assert_allclose(z.numpy(), a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
@pytest.mark.parametrize("shape", SHAPES)
def test_transpose_then_ops(layout, shape):
    a, b = arrays(shape, shape[::-1])
    x = pf.from_numpy(a, layout=layout)
    y = pf.from_numpy(b, layout=layout)
    t = x.transpose(0, 1)
    z = t + y  # t is split [c, r]: y must be redistributed (or t)
    pf.eval(t, z)
    np.testing.assert_allclose(t.numpy(), a.T)
    np.testing.assert_allclose(z.numpy(), a.T + b, rtol=1e-6)
    np.testing.assert_allclose((t @ x).numpy(), a.T @ a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_reshape_and_view(layout):
    (a,) = arrays((6, 10))
    x = pf.from_numpy(a, layout=layout)
    np.testing.assert_allclose(x.reshape([3, 20]).numpy(), a.reshape(3, 20))
    np.testing.assert_allclose(x.view([-1]).numpy(), a.reshape(-1))
    np.testing.assert_allclose(
        x.view(60, 1).sum(dim=1).numpy(), a.reshape(60, 1).sum(axis=1), rtol=1e-6
    )


def test_mixed_layouts_redistribute():
    a, b = arrays((9, 7), (9, 7))
    x = pf.from_numpy(a, layout=pf.MeshLayout.grid(3, 2))
    y = pf.from_numpy(b, layout=pf.MeshLayout.row_partition(5))
    np.testing.assert_allclose((x + y).numpy(), a + b, rtol=1e-6)


def test_grid_8x8_matmul_divides_and_not():
    for m, k, n in [(64, 64, 64), (50, 37, 29)]:
        a, b = arrays((m, k), (k, n))
        layout = pf.MeshLayout.grid(8, 8)
        z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)
        np.testing.assert_allclose(z.numpy(), a @ b, rtol=1e-4, atol=1e-4)


def test_random_creation_ops_follow_the_seed_not_the_layout():
    pf.manual_seed(7)
    x = pf.randn([9, 11], layout=pf.MeshLayout.grid(3, 3))
    pf.manual_seed(7)
    y = pf.randn([9, 11], layout=pf.MeshLayout.single())
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    z = pf.randn([9, 11])
    assert not np.array_equal(z.numpy(), y.numpy())
    big = pf.randn([200, 300]).numpy()
    assert abs(big.mean()) < 0.05 and abs(big.std() - 1) < 0.05


def test_creation_ops():
    x = pf.zeros([5, 3]) + pf.ones([5, 3]) * 3 + pf.full([5, 3], 0.5)
    np.testing.assert_allclose(x.numpy(), np.full((5, 3), 3.5, np.float32))
    like = pf.ones_like(x) - pf.zeros_like(x) + pf.full_like(x, 2.0)
    np.testing.assert_allclose(like.numpy(), np.full((5, 3), 3.0, np.float32))


def test_same_program_same_cycles():
    a, b = arrays((24, 16), (16, 20))
    layout = pf.MeshLayout.grid(4, 4)
    cycles = []
    for _ in range(3):
        pf.cache_clear()
        z = pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout)
        pf.eval(z)
        cycles.append(pf.last_report().cycles)
    assert cycles[0] > 0 and len(set(cycles)) == 1


def test_loop_of_200_steps_compiles_once():
    pf.cache_clear()
    w = pf.from_numpy(arrays((8, 8))[0])
    for step in range(200):
        x = pf.from_numpy(np.full((8, 8), step, np.float32))
        w = (w + x * 0.001).relu()
        pf.eval(w)
    info = pf.cache_info()
    assert info.misses == 1 and info.hits == 199


def test_guide_4096_matmul_does_not_fit_16x16():
    layout = pf.MeshLayout.grid(16, 16)
    with pf.target(pf.sim.WSE2):
        x = pf.randn([4096, 4096], layout=layout)
        y = pf.randn([4096, 4096], layout=layout)
        z = x @ y  # line named in the error
        with pytest.raises(pf.SRAMOverflowError) as err:
            pf.eval(z)
    message = str(err.value)
    assert "test_end_to_end.py" in message
    assert "256.0 KiB per PE" in message and "48.0 KiB" in message
    assert "pf.MeshLayout.grid(" in message
    assert err.value.sram_bytes == 49152 and err.value.bytes_per_pe > 49152
    assert err.value.suggestion.startswith("pf.MeshLayout.grid(")


def test_sram_overflow_on_an_input_names_the_line_that_made_it():
    """Issue 8 item 14: a from_numpy input is placed at its first use, but the error names the
    line that created it (the block argument's location), not the use."""
    import inspect

    made = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
    a = pf.from_numpy(np.ones((1024, 1024), np.float32), layout=pf.MeshLayout.single())
    b = a + 1  # the first use: a different line
    with pytest.raises(pf.SRAMOverflowError) as err:
        pf.eval(b)
    assert f"tensor<1024x1024xf32> on a 1x1 grid made at {__file__}:{made} " in str(err.value)
    assert err.value.location == f"{__file__}:{made}"


def test_every_pe_op_of_a_traced_program_has_the_users_line():
    """Issue 8 item 18: simulator errors name `op.location`; no lowered op may lose it (the
    host_out of each result used to have loc(unknown), so its errors said 'op #N of @main')."""
    from xdsl.dialects.builtin import FileLineColLoc
    from xdsl.dialects.func import FuncOp, ReturnOp

    from pyflame import compiler, runtime

    x = pf.from_numpy(np.ones((6, 4), np.float32), layout=pf.MeshLayout.grid(2, 2))
    y = (x @ x.T).relu()
    z = y.sum(dim=0)
    module = compiler.lower(runtime._program_module((y, z, x)), "pe")
    missing = [
        op.name
        for op in module.walk()
        if not isinstance(op, (FuncOp, ReturnOp, type(module)))
        and not (isinstance(op.location, FileLineColLoc) and op.location.filename.data == __file__)
    ]
    assert missing == []


def test_report_fields():
    a, b = arrays((16, 16), (16, 16))
    layout = pf.MeshLayout.grid(4, 4)
    pf.eval(pf.from_numpy(a, layout=layout) @ pf.from_numpy(b, layout=layout))
    report = pf.last_report()
    assert report.cycles > 0 and report.seconds > 0
    assert report.busy_cycles.shape[:2] == report.sram_peak_bytes.shape[:2]
    assert report.wavelets.sum() > 0
    assert "cycles" in report.summary()
    assert '"cycles"' in report.to_json()


def test_every_op_that_cannot_be_lowered_is_reported_at_once():
    x = pf.from_numpy(np.arange(4, dtype=np.int32).reshape(2, 2))
    y = x @ x  # first unsupported op: integer matmul
    z = (y + 1) @ x  # second one
    with pytest.raises(pf.CompileError) as err:
        pf.eval(z)
    message = str(err.value)
    assert "cannot lower 2 part(s)" in message
    assert message.count("'flame.matmul'") == 2
    assert message.count("test_end_to_end.py") == 2


def test_matmul_runs_on_the_suggested_grid():
    """The SRAM error's suggestion is a layout under which the same program runs, and is right:
    the guide's 4096 matmul (the slow test below) on the small target, 256x256 on a 2x2 grid."""
    import re

    def program(layout):
        pf.manual_seed(3)
        x = pf.randn([256, 256], layout=layout)
        y = pf.randn([256, 256], layout=layout)
        return x, y, x @ y

    with pytest.raises(pf.SRAMOverflowError) as err:
        pf.eval(program(pf.MeshLayout.grid(2, 2))[2])
    rows, cols = map(int, re.findall(r"\d+", err.value.suggestion))
    assert (rows, cols) == (3, 3)  # the smallest square grid that fits: tiles padded to 86x86
    x, y, z = program(pf.MeshLayout.grid(rows, cols))
    pf.eval(z)
    assert pf.last_report().sram_peak_bytes.max() <= pf.sim.SMALL.usable_sram_bytes
    # x and y come back from their seeds, identical to the values z was computed from
    expected = x.numpy().astype(np.float64) @ y.numpy().astype(np.float64)
    np.testing.assert_allclose(z.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_guide_matmul_runs_on_the_suggested_grid_at_512():
    """The slow test below at 512^2 (4x4 -> the suggested 5x5): the same path, the hinted
    operands redistributed onto flame-to-mesh's grid for a 2.5D SUMMA (pe.pack, pe.unpack,
    exchange phases, barriers), under the host-memory check (pack and unpack were counted at
    48 bytes per panel element: the 4096^2 program was refused at 102.6 GiB)."""
    import re

    def program(layout):
        pf.manual_seed(3)
        x = pf.randn([512, 512], layout=layout)
        y = pf.randn([512, 512], layout=layout)
        return x, y, x @ y

    with pf.target(pf.sim.WSE2):
        with pytest.raises(pf.SRAMOverflowError) as err:
            pf.eval(program(pf.MeshLayout.grid(4, 4))[2])
        rows, cols = map(int, re.findall(r"\d+", err.value.suggestion))
        assert (rows, cols) == (5, 5)
        x, y, z = program(pf.MeshLayout.grid(rows, cols))
        pe_ops = pf.ir(z, stage="pe")
        assert "pe.unpack" in pe_ops and "pe.pack" in pe_ops and "phase = " in pe_ops
        pf.eval(z)
        assert pf.last_report().sram_peak_bytes.max() <= pf.sim.WSE2.usable_sram_bytes
        expected = x.numpy().astype(np.float64) @ y.numpy().astype(np.float64)
    np.testing.assert_allclose(z.numpy(), expected, rtol=1e-3, atol=1e-3)


@pytest.mark.slow  # minutes of planning (benchmarks/RESULTS.md, "The guide's 4096^2 matmul"):
# test_guide_matmul_runs_on_the_suggested_grid_at_512 covers the same path
def test_guide_4096_matmul_runs_on_the_suggested_grid():
    """The SRAM error's suggestion is a layout under which the same program runs, and is right."""
    import re

    def program(layout):
        pf.manual_seed(3)
        x = pf.randn([4096, 4096], layout=layout)
        y = pf.randn([4096, 4096], layout=layout)
        return x, y, x @ y

    with pf.target(pf.sim.WSE2):
        with pytest.raises(pf.SRAMOverflowError) as err:
            pf.eval(program(pf.MeshLayout.grid(16, 16))[2])
        rows, cols = map(int, re.findall(r"\d+", err.value.suggestion))
        x, y, z = program(pf.MeshLayout.grid(rows, cols))
        pf.eval(z)
        assert pf.last_report().sram_peak_bytes.max() <= pf.sim.WSE2.usable_sram_bytes
        # x and y come back from their seeds, identical to the values z was computed from
        expected = x.numpy().astype(np.float64) @ y.numpy().astype(np.float64)
    np.testing.assert_allclose(z.numpy(), expected, rtol=1e-3, atol=2e-3)
