"""torch's stacking, splitting and rearranging helpers (pyflame/ops/stacking.py) against torch
2.13: values and shapes exact (they only move data), odd shapes on meshes that do not divide
them, promotion, negative dims, empty pieces, gradients and PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pyflame as pf

pytestmark = pytest.mark.usefixtures("small_target")

LAYOUTS = [None, pf.MeshLayout.grid(2, 3), pf.MeshLayout.row_partition(3)]


def data(shape, seed=0, dtype=np.float32):
    return np.asarray((np.random.default_rng(seed).standard_normal(shape) * 4).astype(dtype))


def both(shape, layout=None, seed=0, dtype=np.float32):
    a = data(shape, seed, dtype)
    return pf.from_numpy(a, layout=layout), torch.from_numpy(a)


def check(pairs):
    """pairs: (pyflame result, torch result); all evaluated in one program, each exact."""
    pf.eval(*[p for p, _ in pairs])
    for i, (p, t) in enumerate(pairs):
        got = p.numpy()
        assert got.shape == tuple(t.shape), (i, got.shape, tuple(t.shape))
        np.testing.assert_array_equal(got, t.numpy(), err_msg=f"output {i}")


def flat(results):
    out = []
    for p, t in results:
        if isinstance(p, tuple):
            assert len(p) == len(t)
            out += list(zip(p, t, strict=True))
        else:
            out.append((p, t))
    return out


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_stacks_and_atleast(layout):
    x, t = both((5, 7), layout)
    y, u = both((5, 3), layout, 1)
    v, w = both((7,), layout, 2)
    s, q = both((), None, 3)
    i, j = both((5, 2), layout, 4, np.int32)
    cube, cq = both((5, 7, 2), layout, 5)
    check(
        flat(
            [
                (pf.hstack([x, y, i]), torch.hstack([t, u, j])),
                (pf.hstack((v, v, s)), torch.hstack((w, w, q))),
                (pf.vstack([x, v]), torch.vstack([t, w])),
                (pf.row_stack([v, s.expand(7)]), torch.vstack([w, q.expand(7)])),
                (pf.dstack([x, x, cube]), torch.dstack([t, t, cq])),
                (
                    pf.column_stack([x, y, v[:5], s.expand(5)]),
                    torch.column_stack([t, u, w[:5], q.expand(5)]),
                ),
                (pf.atleast_1d(s), torch.atleast_1d(q)),
                (pf.atleast_2d(v, s), torch.atleast_2d(w, q)),
                (pf.atleast_3d([s, v, x, cube]), torch.atleast_3d([q, w, t, cq])),
            ]
        )
    )
    assert pf.hstack([x, i]).dtype is pf.float32 and pf.atleast_1d(x) is x


@pytest.mark.parametrize("layout", LAYOUTS[:2], ids=repr)
def test_splits(layout):
    x, t = both((7, 5, 3), layout)
    cases = [
        (pf.tensor_split(x, 3), torch.tensor_split(t, 3)),
        (pf.tensor_split(x, 4, dim=-2), torch.tensor_split(t, 4, dim=-2)),
        (pf.tensor_split(x, 9, 0), torch.tensor_split(t, 9, 0)),  # empty pieces
        (pf.tensor_split(x, [1, 4, 4, 20], 1), torch.tensor_split(t, [1, 4, 4, 20], 1)),
        (pf.tensor_split(x, [-2, 2], 0), torch.tensor_split(t, [-2, 2], 0)),
        (x.tensor_split(pf.tensor([1, 3]), 2), t.tensor_split(torch.tensor([1, 3]), 2)),
        (pf.tensor_split(x, pf.tensor(2)), torch.tensor_split(t, torch.tensor(2))),
        (pf.hsplit(x, 5), torch.hsplit(t, 5)),
        (x.vsplit([2, 3]), t.vsplit([2, 3])),
        (pf.dsplit(x, 3), torch.dsplit(t, 3)),
        (pf.hsplit(x[0, 0], [1]), torch.hsplit(t[0, 0], [1])),
    ]
    check(flat(cases))


def test_split_errors_are_torchs_at_the_users_line():
    x, t = both((7, 5))
    for call in (
        lambda m, a: m.hsplit(a, 2),
        lambda m, a: m.vsplit(a[0], 1),
        lambda m, a: m.dsplit(a, 1),
        lambda m, a: m.tensor_split(a, 0),
        lambda m, a: m.tensor_split(a[0, 0], 2),
    ):
        with pytest.raises(RuntimeError) as expected:
            call(torch, t)
        with pytest.raises(RuntimeError, match="test_stacking.py") as got:
            call(pf, x)
        words = str(expected.value).split(",")[0].split("(")[0][:30]
        assert words.lower() in str(got.value).lower(), (str(expected.value), str(got.value))


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_flips_and_rot90(layout):
    x, t = both((5, 7, 3), layout)
    cases = [(pf.fliplr(x), torch.fliplr(t)), (x.flipud(), t.flipud())]
    for k in (-3, -1, 0, 1, 2, 3, 6):
        cases.append((pf.rot90(x, k), torch.rot90(t, k)))
    cases.append((x.rot90(1, [-1, 0]), t.rot90(1, [-1, 0])))
    cases.append((pf.rot90(x, 3, (2, 1)), torch.rot90(t, 3, (2, 1))))
    check(cases)


def test_flip_errors():
    v, _ = both((4,))
    for fn, words in (
        (lambda: pf.fliplr(v), "Input must be >= 2-d"),
        (lambda: pf.flipud(pf.tensor(1.0)), "Input must be >= 1-d"),
        (lambda: pf.rot90(v), "expected total dims >= 2"),
        (lambda: pf.rot90(pf.zeros(2, 2), 1, [0, 0]), "expected rotation dims to be different"),
        (lambda: pf.rot90(pf.zeros(2, 2), 1, [0]), "expected total rotation dims == 2"),
    ):
        with pytest.raises(RuntimeError, match=words):
            fn()


@pytest.mark.parametrize("layout", LAYOUTS[:2], ids=repr)
def test_meshgrid_cartesian_prod_block_diag_combinations(layout):
    a, ta = both((5,), layout)
    b, tb = both((3,), layout, 1)
    c, tc = both((), None, 2)
    m, tm = both((2, 3), layout, 3)
    i, ti = both((2,), None, 4, np.int32)
    cases = [
        (pf.meshgrid(a, b, indexing="ij"), torch.meshgrid(ta, tb, indexing="ij")),
        (pf.meshgrid([a, b, c], indexing="xy"), torch.meshgrid([ta, tb, tc], indexing="xy")),
        (pf.cartesian_prod(a, b), torch.cartesian_prod(ta, tb)),
        (pf.cartesian_prod(i, i, i), torch.cartesian_prod(ti, ti, ti)),
        (pf.block_diag(m, a, c, i), torch.block_diag(tm, ta, tc, ti)),
        (pf.combinations(a), torch.combinations(ta)),
        (
            pf.combinations(b, 3, with_replacement=True),
            torch.combinations(tb, 3, with_replacement=True),
        ),
        (pf.combinations(b, 4), torch.combinations(tb, 4)),
    ]
    check(flat(cases))
    with pytest.warns(UserWarning, match="indexing"):
        pf.meshgrid(a, b)
    with pytest.raises(RuntimeError, match="Expected 0D or 1D tensor"):
        pf.meshgrid(m, indexing="ij")


@pytest.mark.parametrize("layout", LAYOUTS[:2], ids=repr)
def test_ravel_unflatten_select_and_triangle_indices(layout):
    x, t = both((5, 6, 3), layout)
    cases = [
        (x.ravel(), t.ravel()),
        (pf.ravel(x[:, 1:4]), torch.ravel(t[:, 1:4])),
        (x.unflatten(1, (2, 3)), t.unflatten(1, (2, 3))),
        (pf.unflatten(x, -1, (3, -1)), torch.unflatten(t, -1, (3, -1))),
        (x.select(1, -2), t.select(1, -2)),
        (pf.select(x, -1, 0), torch.select(t, -1, 0)),
        (pf.tril_indices(4, 3), torch.tril_indices(4, 3).int()),
        (pf.triu_indices(3, 5, -1), torch.triu_indices(3, 5, -1).int()),
        (pf.tril_indices(3, 3, -5), torch.tril_indices(3, 3, -5).int()),
    ]
    check(cases)
    with pytest.raises(IndexError, match="select\\(\\): index 6 out of range"):
        x.select(1, 6)
    with pytest.raises(RuntimeError, match="don't multiply up"):
        x.unflatten(1, (4, 2))


def test_gradients_flow_as_torchs():
    a = data((4, 3))
    x = pf.from_numpy(a).requires_grad_()
    t = torch.from_numpy(a).requires_grad_()
    g = data((3, 4, 2), 1)
    for lib, z in ((pf, x), (torch, t)):
        parts = lib.tensor_split(z, [1, 3], 0)
        out = lib.dstack([lib.rot90(z, 1), lib.vstack(parts).T.flipud()]) * lib.from_numpy(g)
        (out.sum() + lib.hstack([z.select(1, 0), z.ravel()]).square().sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-6)
