"""The compiler's layout for a tensor nobody placed (passes/layouts.py `default_dist`): the last
two dims over the mesh rows and columns, unless their tiles stay over the 4 KiB budget and
another split spreads the tensor further (a [64, 64, 2, 2] tensor, whose trailing dims hold 4
PEs, on 4x4 split [r, c, _, _]). Checked as layouts, and end to end against numpy and torch on
the small target and the default one (WSE2): programs whose trailing dims are tiny used to
overflow SRAM (the issue: channel dropout's [N, C, 1, 1] mask times a [64, 64, 2, 2] input)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pyflame as pf
from pyflame.core.distribution import Distribution
from pyflame.nn import functional as F
from pyflame.passes.layouts import (
    DEFAULT_TILE_BYTES,
    default_dist,
    last_two_dims_layout,
    layout_to_dist,
)

torch = pytest.importorskip("torch")

#: the small target and the default one (WSE2, 994x750 PEs)
TARGETS = [pf.sim.SMALL, None]


def on(target: pf.sim.Target | None):
    return pf.target(target if target is not None else pf.sim.WSE2)


def data(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def tile_bytes(d: Distribution) -> int:
    return d.local_elems * 4


def old_rule(shape: tuple[int, ...], target: pf.sim.Target) -> Distribution:
    return layout_to_dist(last_two_dims_layout(shape, 4, target), shape, target)


# ------------------------------------------------------------------------------- the rule


@pytest.mark.parametrize("target", [pf.sim.SMALL, pf.sim.WSE2], ids=lambda t: t.name)
def test_the_issues_tensor_splits_its_leading_dims(target):
    """[64, 64, 2, 2] (64 KiB): the last two dims held 2x2 PEs, 16 KiB each; now 4x4 PEs split
    [r, c, _, _], 4 KiB each, and the [64, 64, 1, 1] operand broadcast to it splits alike."""
    d = default_dist((64, 64, 2, 2), 4, target)
    assert d == Distribution((64, 64, 2, 2), (4, 4), ("r", "c", "", ""))
    assert tile_bytes(old_rule((64, 64, 2, 2), target)) == 16 * 1024
    assert tile_bytes(d) == 4 * 1024


@pytest.mark.parametrize("target", [pf.sim.SMALL, pf.sim.WSE2], ids=lambda t: t.name)
@pytest.mark.parametrize(
    "shape",
    [
        (4001, 3, 2),  # 3-D, odd sizes
        (4000, 3, 3),
        (64, 64, 2, 2),
        (67, 129, 1, 1),
        (37, 61, 3, 1),
        (33, 65, 3, 2),
        (129, 33, 3, 3),
        (17, 31, 9, 2, 1),  # 5-D
        (17, 31, 9, 1, 2),
        (9, 31, 17, 3, 1),
    ],
)
def test_tiny_trailing_dims_spread_within_the_tile_budget(shape, target):
    """Wherever the old rule left tiles over the budget, the new one makes them smaller, and
    within the budget unless the fabric is too small for the tensor."""
    old, new = old_rule(shape, target), default_dist(shape, 4, target)
    assert tile_bytes(old) > DEFAULT_TILE_BYTES  # the cases the rule is for
    assert tile_bytes(new) < tile_bytes(old)
    assert tile_bytes(new) <= DEFAULT_TILE_BYTES
    assert new.fits(target.fabric_rows, target.fabric_cols)
    new.check()


@pytest.mark.parametrize("target", [pf.sim.SMALL, pf.sim.WSE2], ids=lambda t: t.name)
@pytest.mark.parametrize(
    "shape",
    [
        (512, 512),
        (3, 5000),
        (64, 256),
        (8, 64, 56, 56),  # a conv's activations: H and W over the grid, as before
        (2, 4, 64, 64),
        (1000, 3, 3),  # 9 PEs, 4000-byte tiles: within the budget
        (64, 64, 1, 1),  # 16 KiB: one PE
        (1000,),
    ],
)
def test_the_last_two_dims_rule_stands_where_it_spreads(shape, target):
    assert default_dist(shape, 4, target) == old_rule(shape, target)


def test_a_dim_meeting_the_fabrics_edge_goes_over_all_its_pes():
    """[2, 100000] on the 16x16 fabric: the last two dims' rule gave 2x16 PEs (25 KiB tiles);
    the long dim over rows and columns at once takes all 256 (3 KiB)."""
    small = pf.sim.SMALL
    d = default_dist((2, 100000), 4, small)
    assert d == Distribution((2, 100000), (16, 16), ("", "rc"))
    assert old_rule((2, 100000), small).num_pes == 32


def test_smaller_budgets_spread_small_tensors_too():
    """plan-placement's smaller single-PE budgets (4 KiB, 1 KiB, 0) shrink the tile budget with
    it: a [64, 64, 1, 1] tensor (16 KiB) at 4 KiB goes on 2x2 split [r, c, _, _], not one PE."""
    d = default_dist((64, 64, 1, 1), 4, pf.sim.SMALL, single_pe_bytes=4096, tile_bytes=4096)
    assert d == Distribution((64, 64, 1, 1), (2, 2), ("r", "c", "", ""))


# ------------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name if t else "default")
def test_the_issues_program_runs(target):
    with on(target):
        a = pf.from_numpy(np.ones((64, 64, 2, 2), np.float32))
        b = pf.from_numpy(np.ones((64, 64, 1, 1), np.float32))
        assert (a * b).numpy().sum() == 64 * 64 * 4
        x, y = data((64, 64, 2, 2)), data((64, 64, 1, 1), 1)
        got = (pf.from_numpy(x) * pf.from_numpy(y)).numpy()
        np.testing.assert_array_equal(got, x * y)
        assert pf.last_report().sram_peak_bytes.max() <= pf.sim.get_target().usable_sram_bytes


#: (name, operand shapes, program on (lib, *operands)): broadcasting ops, reductions and shape
#: ops on 3-D, 4-D and 5-D tensors whose trailing dims are tiny, odd sizes
PROGRAMS = [
    ("mul_nc11", ((64, 64, 2, 2), (64, 64, 1, 1)), lambda lib, a, b: a * b),
    ("add_channel", ((33, 65, 3, 2), (1, 65, 1, 1)), lambda lib, a, b: a + b),
    ("sub_lower_rank", ((33, 65, 3, 2), (65, 1, 2)), lambda lib, a, b: a - b),
    ("both_broadcast", ((37, 1, 3, 2), (1, 61, 3, 1)), lambda lib, a, b: a * b),
    ("div_3d", ((129, 67, 3), (129, 1, 3)), lambda lib, a, b: a / (b.abs() + 1)),
    (
        "where_5d",
        ((17, 31, 9, 2, 1), (17, 31, 1, 1, 1)),
        lambda lib, a, b: lib.where(a > b, a, b * 2),
    ),
    ("sum_lead", ((64, 63, 2, 3),), lambda lib, a: a.sum(dim=(0, 2))),
    ("mean_keep", ((64, 63, 2, 3),), lambda lib, a: a - a.mean(dim=1, keepdim=True)),
    ("max_trailing", ((65, 67, 3, 1),), lambda lib, a: a.amax(dim=(2, 3))),
    ("softmax_last", ((50, 70, 3),), lambda lib, a: lib.softmax(a, dim=-1)),
    ("permute", ((64, 65, 2, 3),), lambda lib, a: a.permute(2, 0, 3, 1) * 2),
    ("reshape", ((64, 65, 2, 3),), lambda lib, a: a.reshape(64, 390) + 1),
    ("cat", ((64, 65, 2, 2),), lambda lib, a: lib.cat([a[:, :30], a[:, 30:] * 2], dim=1)),
    ("sum_5d", ((17, 31, 9, 2, 1), (17, 31, 1, 1, 1)), lambda lib, a, b: (a * b).sum(dim=2)),
]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name if t else "default")
@pytest.mark.parametrize("name, shapes, program", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_programs_match_torch(name, shapes, program, target):
    arrays = [data(s, seed) for seed, s in enumerate(shapes)]
    want = program(torch, *(torch.from_numpy(a) for a in arrays)).numpy()
    with on(target):
        got = program(pf, *(pf.from_numpy(a) for a in arrays)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "layout",
    [
        pf.MeshLayout.grid(3, 2),
        pf.MeshLayout.row_partition(8),
        pf.MeshLayout.col_partition(2),
        pf.MeshLayout.replicated(2, 2),
        pf.MeshLayout.single(),
    ],
    ids=repr,
)
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name if t else "default")
def test_broadcasting_between_differently_laid_out_operands(layout, target):
    """The [37, 65, 1, 1] operand placed by the user, the [37, 65, 3, 2] one (and the
    broadcast) by the compiler's default, on either side: the values are numpy's whichever
    layout meets which; the big operand hinted with a layout that splits it, too."""
    x, y = data((37, 65, 3, 2)), data((37, 65, 1, 1), 1)
    with on(target):
        a = pf.from_numpy(x)
        b = pf.from_numpy(y, layout=layout)
        got = (a * b + b).numpy()
        left = (pf.from_numpy(y, layout=layout) - pf.from_numpy(x)).numpy()
        if layout.num_pes > 1 and layout.kind != "replicated":
            hinted = (pf.from_numpy(x, layout=layout) / (pf.from_numpy(y).abs() + 1)).numpy()
            np.testing.assert_array_equal(hinted, x / (np.abs(y) + 1))
    np.testing.assert_allclose(got, x * y + y, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(left, y - x)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name if t else "default")
@pytest.mark.parametrize(
    "shapes", [((64, 64, 2, 2), (64, 64, 1, 1)), ((33, 65, 3, 2), (1, 65, 1, 1))], ids=str
)
def test_gradients_match_torch(shapes, target):
    x, y = data(shapes[0]), data(shapes[1], 1)
    tx, ty = torch.from_numpy(x).requires_grad_(), torch.from_numpy(y).requires_grad_()
    ((tx * ty).sin() + (tx + ty) ** 2).mean().backward()
    with on(target):
        a, b = pf.from_numpy(x), pf.from_numpy(y)
        a.requires_grad = True
        b.requires_grad = True
        ((a * b).sin() + (a + b) ** 2).mean().backward()
        ga, gb = a.grad.numpy(), b.grad.numpy()
    np.testing.assert_allclose(ga, tx.grad.numpy(), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(gb, ty.grad.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name if t else "default")
def test_channel_dropout_of_a_tensor_with_tiny_trailing_dims(target):
    """The issue's origin: dropout2d of [64, 64, 2, 2] draws a [64, 64, 1, 1] mask and
    broadcasts it; whole channels are dropped or scaled by 2 (p = 0.5), and the gradient is
    the mask."""
    x = data((64, 64, 2, 2))
    with on(target):
        a = pf.from_numpy(x)
        a.requires_grad = True
        out = F.dropout2d(a, 0.5, seed=3)
        (out * 3).sum().backward()
        got, grad = out.numpy(), a.grad.numpy()
    kept = got[..., 0, 0] != 0
    assert 0.4 < kept.mean() < 0.6
    np.testing.assert_array_equal(got, np.where(kept[..., None, None], x * 2, x * 0))
    np.testing.assert_array_equal(
        grad, np.broadcast_to(np.where(kept, 6, 0)[..., None, None], x.shape)
    )


def test_every_default_spreads_for_a_sweep_of_shapes():
    """Every shape of 3 to 5 dims, each of 1, 2, 3, 17 or 64 elements, over one PE's 16 KiB
    and within 64 PEs' budgets, gets tiles of at most twice the 4 KiB budget (what padding
    adds: [2, 64, 17, 17] on 8x8 has 3x3 blocks of 17x17) on a grid on the small fabric; the
    last two dims' rule left [64, 64, 2, 2] 16 KiB tiles, [64, 17, 1, 1, 2] 8.5 KiB."""
    small = pf.sim.SMALL
    sizes = (1, 2, 3, 17, 64)
    checked = 0
    for rank in (3, 4, 5):
        for index in np.ndindex(*(len(sizes),) * rank):
            shape = tuple(sizes[i] for i in index)
            total = math.prod(shape) * 4
            if total <= 16 * 1024 or total > DEFAULT_TILE_BYTES * small.fabric_rows * 4:
                continue  # one PE; or more than 64 PEs' worth (padding may need more)
            d = default_dist(shape, 4, small)
            assert tile_bytes(d) <= 2 * DEFAULT_TILE_BYTES, (shape, d)
            assert d.fits(small.fabric_rows, small.fabric_cols)
            checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    "n, c, hw, out",
    # (the first takes 8 s: the slow suite runs it; the second keeps the path in the default)
    [pytest.param(4, 128, 2, 64, marks=pytest.mark.slow), (32, 64, 2, 8)],
    ids=str,
)
def test_a_conv_training_step_on_tiny_images_fits_the_small_target(n, c, hw, out):
    """conv2d + max_pool2d and their gradients on 2x2 images: the [128, 64, 3, 3] weight's
    gradient (its last two dims held 3x3 PEs of 32 KiB) and the [32, 64, 2, 2] activations
    (2x2 PEs of 8 KiB, five live) overflowed the small target; the values are torch's."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
    w = (rng.standard_normal((out, c, 3, 3)) * 0.1).astype(np.float32)
    tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    tz = torch.nn.functional.max_pool2d(torch.nn.functional.conv2d(tx.relu(), tw, padding=1), 2)
    (tz * tz).mean().backward()
    with pf.target(pf.sim.SMALL):
        a, wt = pf.from_numpy(x), pf.from_numpy(w)
        a.requires_grad = True
        wt.requires_grad = True
        z = F.max_pool2d(F.conv2d(F.relu(a), wt, padding=1), 2)
        loss = (z * z).mean()
        loss.backward()
        got = (loss.numpy(), a.grad.numpy(), wt.grad.numpy())
    np.testing.assert_allclose(got[0], (tz * tz).mean().item(), rtol=1e-5)
    np.testing.assert_allclose(got[1], tx.grad.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got[2], tw.grad.numpy(), rtol=1e-4, atol=1e-6)
