"""Results whose shape depends on the data (pyflame/data_dependent.py: nonzero, argwhere,
masked_select, unique, unique_consecutive, bincount) and flat / slice writes (take, put,
index_reduce, select_scatter, slice_scatter) against torch 2.13: lazy inputs computed on the
device (the sync point reads them), NaN, empty results, layouts, gradients, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import pyflame as pf

pytestmark = pytest.mark.usefixtures("small_target")

LAYOUTS = [None, pf.MeshLayout.grid(2, 3)]


def data(shape, seed=0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def same(p, t):
    if isinstance(t, tuple):
        assert isinstance(p, tuple) and len(p) == len(t)
        for a, b in zip(p, t, strict=True):
            same(a, b)
        return
    got, want = p.numpy(), t.detach().numpy()
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_nonzero_argwhere_masked_select(layout):
    a = np.round(data((5, 7), 0))  # many zeros
    a[2, 3] = np.nan
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    lazy = x * 2 - 1  # computed on the device: read at the sync point
    same(pf.nonzero(x), torch.nonzero(t))
    same(lazy.nonzero(), (t * 2 - 1).nonzero())
    same(pf.nonzero(x, as_tuple=True), torch.nonzero(t, as_tuple=True))
    same(pf.argwhere(x > 0), torch.argwhere(t > 0))
    same(pf.nonzero(pf.tensor(0.0)), torch.nonzero(torch.tensor(0.0)))
    same(pf.nonzero(pf.tensor(2.0), as_tuple=True), torch.nonzero(torch.tensor(2.0), as_tuple=True))
    same(pf.nonzero(pf.zeros(0, 3)), torch.nonzero(torch.zeros(0, 3)))
    same(pf.masked_select(x, x > 0), torch.masked_select(t, t > 0))
    same(
        lazy.masked_select(pf.from_numpy(a[0] > 0)),
        (t * 2 - 1).masked_select(torch.from_numpy(a[0] > 0)),
    )
    same(
        pf.masked_select(x[:1], pf.from_numpy(a[:, :1] > 0)),
        torch.masked_select(t[:1], torch.from_numpy(a[:, :1] > 0)),
    )
    assert pf.nonzero(x).dtype is pf.int32
    with pytest.raises(RuntimeError, match="expected BoolTensor for mask"):
        pf.masked_select(x, x)


def test_masked_select_gradient():
    a = data((4, 5), 1)
    grads = []
    for lib in (pf, torch):
        x = lib.tensor(a, requires_grad=True)
        (lib.masked_select(x, x > 0) ** 2).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)


def test_unique_and_unique_consecutive():
    nan = float("nan")
    f = [3.0, nan, 1.0, nan, 3.0, 3.0, -0.5]
    i = [[2, 1, 2], [2, 1, 2], [0, 0, 7]]
    for values in (f, i, [True, False, True]):
        x, t = pf.tensor(values), torch.tensor(values)
        for ri in (False, True):
            for rc in (False, True):
                same(
                    pf.unique(x, return_inverse=ri, return_counts=rc),
                    torch.unique(t, return_inverse=ri, return_counts=rc),
                )
                same(
                    x.unique_consecutive(return_inverse=ri, return_counts=rc),
                    t.unique_consecutive(return_inverse=ri, return_counts=rc),
                )
    x, t = pf.tensor(i), torch.tensor(i)
    same(
        pf.unique(x, dim=0, return_inverse=True, return_counts=True),
        torch.unique(t, dim=0, return_inverse=True, return_counts=True),
    )
    same(x.unique(dim=-1), t.unique(dim=-1))
    same(
        pf.unique_consecutive(x, dim=0, return_counts=True),
        torch.unique_consecutive(t, dim=0, return_counts=True),
    )
    same(pf.unique(x * 2 - 3, sorted=False), torch.unique(t * 2 - 3, sorted=False))  # lazy input
    same(pf.unique(pf.zeros(0)), torch.unique(torch.zeros(0)))


def test_bincount():
    v = np.array([4, 1, 1, 0, 9, 4, 4], np.int32)
    w = data((7,), 2)
    x, t = pf.from_numpy(v, layout=pf.MeshLayout.row_partition(2)), torch.from_numpy(v).long()
    same(pf.bincount(x), torch.bincount(t))
    same(x.bincount(minlength=13), t.bincount(minlength=13))
    same(pf.bincount(x, pf.from_numpy(w)), torch.bincount(t, torch.from_numpy(w)))
    same(pf.bincount(x * 2), torch.bincount(t * 2))  # computed on the device
    same(pf.bincount(pf.zeros(0, dtype=pf.int32)), torch.bincount(torch.zeros(0, dtype=torch.long)))
    for bad in (pf.tensor([1, -1]), pf.tensor([[1]]), pf.tensor([1.0])):
        with pytest.raises(
            RuntimeError, match="bincount only supports 1-d non-negative integral inputs"
        ):
            pf.bincount(bad)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_take_put_and_slice_writes(layout):
    a = data((4, 6), 3)
    x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
    idx, tidx = pf.tensor([[0, -1, 7], [23, 7, 2]]), torch.tensor([[0, -1, 7], [23, 7, 2]])
    src, tsrc = pf.from_numpy(data((2, 3), 4)), torch.from_numpy(data((2, 3), 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "index_reduce() is in beta"
        cases = [
            (pf.take(x, idx), torch.take(t, tidx)),
            (x.take(idx[0]), t.take(tidx[0])),
            (x.put(pf.tensor([1, -2, 5]), src[0]), t.put(torch.tensor([1, -2, 5]), tsrc[0])),
            (x.put(idx, src, accumulate=True), t.put(tidx, tsrc, accumulate=True)),
            (
                pf.select_scatter(x, src[0].repeat(2), 0, -2),
                torch.select_scatter(t, tsrc[0].repeat(2), 0, -2),
            ),
            (
                x.slice_scatter(src.repeat(2, 1), 1, 1, 6, 2),
                t.slice_scatter(tsrc.repeat(2, 1), 1, 1, 6, 2),
            ),
            (
                pf.slice_scatter(x, src.repeat(1, 2)[:1], 0, -3, -2),
                torch.slice_scatter(t, tsrc.repeat(1, 2)[:1], 0, -3, -2),
            ),
        ]
        for reduce in ("prod", "mean", "amax", "amin"):
            for include_self in (True, False):
                cases.append(
                    (
                        x.index_reduce(
                            0,
                            pf.tensor([3, 0, 3]),
                            pf.from_numpy(data((3, 6), 5)),
                            reduce,
                            include_self=include_self,
                        ),
                        t.index_reduce(
                            0,
                            torch.tensor([3, 0, 3]),
                            torch.from_numpy(data((3, 6), 5)),
                            reduce,
                            include_self=include_self,
                        ),
                    )
                )
        y, u = x.clone(), t.clone()
        y.put_(pf.tensor([0, 5]), pf.tensor([7.0, 8.0]))
        u.put_(torch.tensor([0, 5]), torch.tensor([7.0, 8.0]))
        z, v = x.clone(), t.clone()
        z.index_reduce_(1, pf.tensor([1, 1]), pf.ones(4, 2) * 2, "prod")
        v.index_reduce_(1, torch.tensor([1, 1]), torch.ones(4, 2) * 2, "prod")
    pf.eval(*[p for p, _ in cases], y, z)
    for p, q in [*cases, (y, u), (z, v)]:
        same(p, q)
    for fn, kind, words in (
        (
            lambda m, a: m.take(a, m.tensor([24])),
            IndexError,
            "out of range: tried to access index 24 on a tensor of 24 elements",
        ),
        (
            lambda m, a: m.select_scatter(a, m.zeros(5), 1, 0),
            RuntimeError,
            "expected src to have a size equal to the slice",
        ),
        (
            lambda m, a: m.slice_scatter(a, m.zeros(4, 2), 1, 0, 6, 2),
            RuntimeError,
            "expected src to have a size equal to the slice",
        ),
        (
            lambda m, a: a.index_reduce(0, m.tensor([0]), m.zeros(1, 6), "sum"),
            RuntimeError,
            "Expected reduce to be one of prod, mean, amax or amin",
        ),
        (lambda m, a: a.put(m.tensor([0, 1]), m.zeros(3)), IndexError, "same number of elements"),
    ):
        with pytest.raises(kind, match=words):
            fn(torch, t)
        with pytest.raises(kind, match=words) as got:
            fn(pf, x)
        assert "test_data_dependent.py" in str(got.value)


def test_scatter_writes_gradients():
    a, s = data((4, 6), 6), data((4, 3), 7)
    grads = []
    for lib in (pf, torch):
        x = lib.tensor(a, requires_grad=True)
        src = lib.tensor(s, requires_grad=True)
        out = lib.slice_scatter(x, src, 1, 0, 6, 2) * lib.tensor(a)
        out = (
            out + lib.select_scatter(x, src[:, 0], 1, 5) + lib.take(x, lib.tensor([3, 3, -1])).sum()
        )
        out.sum().backward()
        grads.append((x.grad.numpy(), src.grad.numpy()))
    for got, want in zip(*grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_histogram():
    a = data((9, 23), 8)
    x, t = pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 3)), torch.from_numpy(a)
    w = np.abs(data((9, 23), 9))
    cases = [
        (pf.histogram(x, 13), torch.histogram(t, 13)),
        (x.histogram(5, range=(-1.0, 0.5)), t.histogram(5, range=(-1.0, 0.5))),
        (
            pf.histogram(x, 7, weight=pf.from_numpy(w), density=True),
            torch.histogram(t, 7, weight=torch.from_numpy(w), density=True),
        ),
        (
            pf.histogram(x * 2, pf.tensor([-3.0, -1.0, 0.0, 0.25, 4.0])),
            torch.histogram(t * 2, torch.tensor([-3.0, -1.0, 0.0, 0.25, 4.0])),
        ),
        (pf.histogram(pf.full((3,), 2.0), 4), torch.histogram(torch.full((3,), 2.0), 4)),
    ]
    for p, q in cases:
        same(tuple(p), tuple(q))
    for bad in (pf.tensor([1, 2]), pf.tensor([1.0]).half()):
        with pytest.raises(NotImplementedError, match="histogramdd"):
            pf.histogram(bad, 3)
