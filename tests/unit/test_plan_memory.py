"""plan-memory's SRAMOverflowError (passes/plan_memory.py `overflow_advice`): it names the
tensor and the user's line, and its advice works: a suggested layout runs the same program
within SRAM (checked by running it), and where no layout can fit the error says why (the
tensors hold more than the fabric; a batched matmul keeps its batch whole) and what to do."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import pyflame as pf

pytestmark = pytest.mark.usefixtures("small_target")


def data(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def line_after() -> str:
    """`file:line` of the caller's next line."""
    frame = inspect.currentframe().f_back  # type: ignore[union-attr]  # called from a test
    return f"{__file__}:{frame.f_lineno + 1}"  # type: ignore[union-attr]  # (the same frame)


def fits_in_sram() -> bool:
    return pf.last_report().sram_peak_bytes.max() <= pf.sim.SMALL.usable_sram_bytes


@pytest.mark.parametrize("hint", [pf.MeshLayout.replicated(2, 2), pf.MeshLayout.single()], ids=repr)
def test_a_hint_no_pe_holds_gets_a_grid_that_runs(hint):
    """A [37, 65, 3, 2] tensor (56 KiB) hinted whole on each PE: the suggested grid splits it
    and what it passes on (x * 2 was replicated too), and the program then runs."""
    x = data((37, 65, 3, 2))
    made = line_after()
    a = pf.from_numpy(x, layout=hint)
    with pytest.raises(pf.SRAMOverflowError) as err:
        (a * 2).numpy()
    assert f"tensor<37x65x3x2xf32> on a {hint.sizes[0] if hint.sizes else 1}x" in str(err.value)
    assert f"made at {made} " in str(err.value)
    assert err.value.suggestion == "pf.MeshLayout.grid(2, 2)"
    layout = eval(err.value.suggestion)  # the advice, as the user would follow it
    np.testing.assert_array_equal((pf.from_numpy(x, layout=layout) * 2).numpy(), x * 2)
    assert fits_in_sram()


def test_a_tensor_no_grid_spreads_gets_a_row_partition_that_runs():
    """[128, 64, 2, 2] (128 KiB) on one PE: a grid splits only its 2x2 trailing dims (32 KiB
    tiles, two tensors live), so no grid fits; splitting its first dim over 8 PEs does."""
    x = data((128, 64, 2, 2))
    a = pf.from_numpy(x, layout=pf.MeshLayout.single())
    with pytest.raises(pf.SRAMOverflowError) as err:
        (a + 1).numpy()
    assert err.value.suggestion == "pf.MeshLayout.row_partition(8)"
    assert "A layout that would fit: layout=pf.MeshLayout.row_partition(8)." in str(err.value)
    layout = eval(err.value.suggestion)
    np.testing.assert_array_equal((pf.from_numpy(x, layout=layout) + 1).numpy(), x + 1)
    assert fits_in_sram()


def test_a_batched_matmul_of_small_matrices_is_told_how_to_write_it():
    """mesh.matmul keeps batch dims whole on every PE: [64, 64] products of 2x3 @ 3x2 cannot
    fit on any grid. The error names the matmul's line and the rewrite, which runs (the
    elementwise ops split the batch dims) and gives torch's product and gradients."""
    torch = pytest.importorskip("torch")
    x, y = data((64, 64, 2, 3)), data((64, 64, 3, 2), 1)
    made = line_after()
    a, b = pf.from_numpy(x), pf.from_numpy(y)
    at = line_after()
    product = a @ b
    with pytest.raises(pf.SRAMOverflowError) as err:
        product.numpy()
    message = str(err.value)
    assert f"made at {made} " in message
    assert f"No layout fits the batched matmul at {at}: " in message
    assert "keeps the batch dims (64x64) whole on every PE" in message
    assert "(a.unsqueeze(-1) * b.unsqueeze(-3)).sum(-2)" in message
    assert err.value.suggestion == ""
    a.requires_grad = True
    b.requires_grad = True
    rewritten = (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(-2)  # the advice
    (rewritten**2).sum().backward()
    tx, ty = torch.from_numpy(x).requires_grad_(), torch.from_numpy(y).requires_grad_()
    ((tx @ ty) ** 2).sum().backward()
    np.testing.assert_allclose(rewritten.numpy(), (tx @ ty).detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), ty.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_more_than_the_fabric_holds_says_so():
    """[1024, 1024, 4] (16 MiB) and its double are more than the 16x16 PEs' 11 MiB for data:
    no layout is suggested, the error says how much and what to do instead."""
    made = line_after()
    a = pf.from_numpy(np.ones((1024, 1024, 4), np.float32))
    with pytest.raises(pf.SRAMOverflowError) as err:
        (a * 2).numpy()
    message = str(err.value)
    assert f"tensor<1024x1024x4xf32> on a 16x16 grid made at {made} " in message
    assert (
        "No layout fits: the tensors live there hold 32.0 MiB, more than the 16x16 PEs of the "
        "fabric hold for data (11.0 MiB): run the computation in parts (e.g. a smaller batch "
        "per call) or on a target with more PEs."
    ) in message
    assert err.value.suggestion == ""
