"""torch's statistics, differences and searches composed of existing ops (pyflame/ops/
statistics.py; msort, kthvalue, searchsorted, bucketize, isin in pyflame/ops/sorting.py)
against torch 2.13: odd shapes on meshes that do not divide them, NaN, negative dims,
keepdim, empty dims, int and half dtypes, gradients, PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pyflame as pf

pytestmark = pytest.mark.usefixtures("small_target")

LAYOUTS = [None, pf.MeshLayout.grid(2, 3), pf.MeshLayout.row_partition(3)]


def data(shape, seed=0, nan=False):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    if nan and a.size > 3:
        a.reshape(-1)[[1, a.size // 2]] = np.nan
    return np.asarray(a)


def pair(a, layout=None):
    return pf.from_numpy(a, layout=layout), torch.from_numpy(a)


def check(cases, rtol=1e-5, atol=1e-6):
    pf.eval(*[p for p, _ in cases])
    for i, (p, t) in enumerate(cases):
        got, want = p.numpy(), t.detach().numpy()
        assert got.shape == want.shape, (i, got.shape, want.shape)
        assert got.dtype == want.dtype or (want.dtype == np.int64 and got.dtype == np.int32), (
            i,
            got.dtype,
            want.dtype,
        )
        np.testing.assert_allclose(
            got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=f"output {i}"
        )


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_nan_reductions_and_moments(layout):
    x, t = pair(data((5, 7), 0, nan=True), layout)
    y, u = pair(data((3, 5, 4), 1), layout)
    i, j = pair(np.arange(35, dtype=np.int32).reshape(5, 7), layout)
    allnan, tn = pair(np.full((2, 3), np.nan, np.float32))
    cases = [
        (pf.nansum(x), torch.nansum(t)),
        (x.nansum(-1, keepdim=True), t.nansum(-1, keepdim=True)),
        (pf.nansum(i, 0), torch.nansum(j, 0).int()),
        (pf.nanmean(x, (0, 1)), torch.nanmean(t, (0, 1))),
        (x.nanmean(1), t.nanmean(1)),
        (allnan.nanmean(0), tn.nanmean(0)),
        (allnan.nansum(), tn.nansum()),
        *zip(pf.var_mean(y, 1), torch.var_mean(u, 1), strict=True),
        *zip(
            pf.std_mean(y, (0, -1), keepdim=True, correction=0),
            torch.std_mean(u, (0, -1), keepdim=True, correction=0),
            strict=True,
        ),
        *zip(pf.var_mean(y, unbiased=False), torch.var_mean(u, unbiased=False), strict=True),
        *zip(pf.aminmax(y, dim=-2), torch.aminmax(u, dim=-2), strict=True),
        *zip(y.aminmax(), u.aminmax(), strict=True),
        *zip(
            pf.aminmax(i, dim=0, keepdim=True), torch.aminmax(j, dim=0, keepdim=True), strict=True
        ),
    ]
    check(cases)
    assert pf.aminmax(y).max is not None and pf.aminmax(y)._fields == ("min", "max")
    with pytest.raises(RuntimeError, match="nanmean\\(\\): expected input to have floating point"):
        i.nanmean()
    with pytest.raises(RuntimeError, match="cannot compute aminmax over an empty dimension"):
        pf.aminmax(pf.zeros(0, 3))


def test_half_nansum_and_nanmean():
    a = data((6, 5), 2, nan=True)
    for dt, tdt in ((pf.float16, torch.float16), (pf.bfloat16, torch.bfloat16)):
        x, t = pf.from_numpy(a).to(dt), torch.from_numpy(a).to(tdt)
        cases = [(x.nansum(0), t.nansum(0)), (x.nanmean(1), t.nanmean(1))]
        pf.eval(*[p for p, _ in cases])
        for p, w in cases:
            assert p.dtype is dt
            np.testing.assert_allclose(
                p.float().numpy(), w.float().numpy(), rtol=1e-2, atol=1e-2, equal_nan=True
            )


@pytest.mark.parametrize("layout", LAYOUTS[:2], ids=repr)
def test_nansum_and_nanmean_gradients_are_torchs_at_nan_and_over_only_nans(layout):
    """torch's nansum backward is g times (x is not NaN): an inf or NaN g (nanmean over only
    NaNs: g / 0) gives NaN at the NaN elements, where the select's own rule gave 0."""
    nan, inf = float("nan"), float("inf")
    a = np.array([[nan, nan, nan], [1.0, nan, inf], [0.0, -0.0, 2.0], [nan, 3.0, -1.0]], np.float32)
    for name in ("nansum", "nanmean"):
        for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True}, {"dim": (0, 1)}, {"dim": -1}):
            for scale in (1.0, inf):
                x, t = pf.from_numpy(a, layout=layout), torch.from_numpy(a)
                x.requires_grad, t.requires_grad = True, True
                got, want = getattr(pf, name)(x, **kw), getattr(torch, name)(t, **kw)
                w = np.arange(1, want.numel() + 1, dtype=np.float32).reshape(tuple(want.shape))
                w = np.asarray(w * np.float32(scale))
                (got * pf.from_numpy(w)).sum().backward()
                (want * torch.from_numpy(w)).sum().backward()
                np.testing.assert_array_equal(got.numpy(), want.detach().numpy())
                np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy(), err_msg=name)


@pytest.mark.parametrize("layout", LAYOUTS[:2], ids=repr)
def test_cov_corrcoef(layout):
    x, t = pair(data((3, 7), 3), layout)
    v, w = pair(data((5,), 4), layout)
    i, j = pair(np.array([[1, 4, 2], [0, 3, 3]], np.int32), layout)
    cases = [
        (pf.cov(x), torch.cov(t)),
        (x.cov(correction=0), t.cov(correction=0)),
        (pf.cov(v), torch.cov(w)),
        (pf.cov(i), torch.cov(j)),
        (pf.corrcoef(x), torch.corrcoef(t)),
        (v.corrcoef(), w.corrcoef()),
    ]
    check(cases, rtol=1e-5, atol=1e-6)
    with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
        over = pf.cov(x, correction=7)
    assert np.isinf(over.numpy()).all() or np.isnan(over.numpy()).any()


@pytest.mark.slow  # (one of the suite's slowest: run with -m slow)
@pytest.mark.parametrize("layout", LAYOUTS[:2], ids=repr)
def test_quantile_and_nanquantile(layout):
    x, t = pair(data((5, 8), 5, nan=True), layout)
    clean, tc = pair(data((4, 3, 6), 6), layout)
    cases = []
    for mode in ("linear", "lower", "higher", "midpoint", "nearest"):
        cases.append(
            (
                pf.quantile(clean, 0.37, dim=-1, interpolation=mode),
                torch.quantile(tc, 0.37, dim=-1, interpolation=mode),
            )
        )
        cases.append(
            (x.nanquantile(0.5, 1, interpolation=mode), t.nanquantile(0.5, 1, interpolation=mode))
        )
    q, tq = pf.tensor([0.0, 0.25, 1.0]), torch.tensor([0.0, 0.25, 1.0])
    cases += [
        (pf.quantile(x, q, 1), torch.quantile(t, tq, 1)),  # rows with NaN give NaN
        (pf.quantile(clean, q, 0, keepdim=True), torch.quantile(tc, tq, 0, keepdim=True)),
        (clean.quantile(0.9), tc.quantile(0.9)),
        (pf.nanquantile(x, q), torch.nanquantile(t, tq)),
        (
            pf.nanquantile(pf.full((2, 3), float("nan")), 0.5, 1),
            torch.nanquantile(torch.full((2, 3), float("nan")), 0.5, 1),
        ),
    ]
    check(cases)
    for fn, words in (
        (lambda m, a: m.quantile(a, 1.5), "q must be in the range \\[0, 1\\] but got 1.5"),
        (lambda m, a: m.quantile(a, m.tensor([0.5, -0.1])), "q values must be in the range"),
        (lambda m, a: m.quantile(a.half(), 0.5), "input tensor must be either float or double"),
        (lambda m, a: m.quantile(a, 0.5, interpolation="cubic"), "interpolation must be one of"),
    ):
        with pytest.raises(RuntimeError, match=words):
            fn(torch, tc)
        with pytest.raises(RuntimeError, match=words):
            fn(pf, clean)


@pytest.mark.parametrize("layout", LAYOUTS[:2], ids=repr)
def test_histc(layout):
    a = data((6, 7), 7)
    x, t = pair(a, layout)
    const, tconst = pair(np.full((4,), 2.5, np.float32))
    cases = [
        (pf.histc(x), torch.histc(t)),
        (x.histc(5), t.histc(5)),
        (pf.histc(x, 4, -0.5, 0.5), torch.histc(t, 4, -0.5, 0.5)),
        (
            pf.histc(x, 3, min=float(a.min()), max=float(a.max())),
            torch.histc(t, 3, min=float(a.min()), max=float(a.max())),
        ),
        (pf.histc(const, 3), torch.histc(tconst, 3)),
    ]
    check(cases, rtol=0, atol=0)
    # half dtypes: each step of the bin position rounded to the dtype, as PyTorch's kernel (and
    # counts below 256, which PyTorch's bfloat16 accumulator still holds exactly)
    small = data((50,), 12) * 3
    for dt, tdt in ((pf.float16, torch.float16), (pf.bfloat16, torch.bfloat16)):
        h, th = pf.from_numpy(small).to(dt), torch.from_numpy(small).to(tdt)
        for bins, lo, hi in ((7, 0, 0), (13, -2.5, 3.1)):
            got = pf.histc(h, bins, lo, hi)
            assert got.dtype is dt
            np.testing.assert_array_equal(
                got.float().numpy(), torch.histc(th, bins, lo, hi).float().numpy()
            )
    with pytest.raises(NotImplementedError, match="histogram_cpu"):
        pf.histc(pf.zeros(3, dtype=pf.int32))


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_diff_and_trapezoids(layout):
    x, t = pair(data((5, 7), 8), layout)
    p, tp = pair(data((5, 2), 9))
    b, tb = pair(np.array([[True, False, False, True]]))
    i, j = pair(np.array([3, 1, 4, 1, 5, 9], np.int32))
    xs, txs = pair(np.cumsum(np.abs(data((7,), 10))).astype(np.float32))
    cases = [
        (x.diff(), t.diff()),
        (pf.diff(x, 2, 0), torch.diff(t, 2, 0)),
        (pf.diff(x, 1, -1, prepend=p, append=p), torch.diff(t, 1, -1, prepend=tp, append=tp)),
        (pf.diff(x, 9, 0), torch.diff(t, 9, 0)),  # more steps than elements: empty
        (pf.diff(x, 0), torch.diff(t, 0)),
        (b.diff(), tb.diff()),
        (pf.diff(i), torch.diff(j).int()),
        (pf.trapezoid(x), torch.trapezoid(t)),
        (pf.trapezoid(x, dx=0.25, dim=0), torch.trapezoid(t, dx=0.25, dim=0)),
        (pf.trapezoid(x, xs), torch.trapezoid(t, txs)),
        (pf.trapezoid(i), torch.trapezoid(j)),
        (pf.cumulative_trapezoid(x, dim=0), torch.cumulative_trapezoid(t, dim=0)),
        (pf.cumulative_trapezoid(x, xs, dim=-1), torch.cumulative_trapezoid(t, txs, dim=-1)),
        (pf.trapezoid(pf.zeros(3, 0)), torch.trapezoid(torch.zeros(3, 0))),
    ]
    check(cases, rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError, match="diff expects input to be at least one-dimensional"):
        pf.diff(pf.tensor(1.0))
    with pytest.raises(RuntimeError, match="one `x` value for each sample point"):
        pf.trapezoid(x, xs[:3])


@pytest.mark.parametrize("layout", LAYOUTS[:2], ids=repr)
def test_sorting_helpers_and_searches(layout):
    x, t = pair(data((5, 7), 11, nan=True), layout)
    seq = np.sort(data((9,), 12))
    seq[3] = seq[4]  # a tie
    s, ts = pair(seq, layout)
    rows, trows = pair(np.sort(data((2, 6), 13), -1))
    values, tv = pair(
        np.concatenate([seq[[0, 3, 8]], data((4,), 14) * 2, [np.nan]]).astype(np.float32)
    )
    v2, tv2 = pair(data((2, 3), 15))
    i, j = pair(np.array([[3, 1, 4], [1, 5, 9]], np.int32))
    cases = [
        (x.msort(), t.msort()),
        *zip(pf.kthvalue(x, 2, 0), torch.kthvalue(t, 2, 0), strict=True),
        *zip(x.kthvalue(7, -1, keepdim=True), t.kthvalue(7, -1, keepdim=True), strict=True),
        (pf.searchsorted(s, values), torch.searchsorted(ts, tv)),
        (pf.searchsorted(s, values, right=True), torch.searchsorted(ts, tv, right=True)),
        (pf.searchsorted(s, values, side="right"), torch.searchsorted(ts, tv, side="right")),
        (pf.searchsorted(rows, v2), torch.searchsorted(trows, tv2)),
        (pf.searchsorted(s, 0.1), torch.searchsorted(ts, 0.1)),
        (
            pf.searchsorted(pf.flip(s, 0), values, sorter=pf.arange(8, -1, -1)),
            torch.searchsorted(ts.flip(0), tv, sorter=torch.arange(8, -1, -1)),
        ),
        (pf.bucketize(values, s), torch.bucketize(tv, ts)),
        (pf.bucketize(v2, s, right=True), torch.bucketize(tv2, ts, right=True)),
        (pf.isin(i, pf.tensor([1, 9, 7])), torch.isin(j, torch.tensor([1, 9, 7]))),
        (pf.isin(x, x[0, 2:]), torch.isin(t, t[0, 2:])),
        (pf.isin(i, 4, invert=True), torch.isin(j, 4, invert=True)),
        (pf.isin(3, i), torch.isin(3, j)),
    ]
    check(cases)
    for fn, words in (
        (lambda m, a, b: m.searchsorted(a[None].expand(2, 9), 0.5), "scalar only when boundaries"),
        (lambda m, a, b: m.searchsorted(b, a), "first N-1 dimensions"),
        (
            lambda m, a, b: m.searchsorted(a, a, side="left", right=True),
            "can't be set to opposites",
        ),
        (lambda m, a, b: m.bucketize(a, b), "boundaries tensor must be 1 dimension"),
        (lambda m, a, b: m.kthvalue(a, 10), "selected number k out of range"),
    ):
        with pytest.raises(RuntimeError, match=words):
            fn(torch, ts, trows)
        with pytest.raises(RuntimeError, match=words) as got:
            fn(pf, s, rows)
        assert "test_statistics.py" in str(got.value)


def test_isin_promotes_as_torch_and_refuses_bool():
    """torch.isin compares in PyTorch's promotion of the two tensors as given: float16 elements
    and a 0-d float32 test compare in float16 (the test rounds onto an element: True), a [1]
    test in float32 (False), so does a [30] one (torch's sorting form). A bool operand, tensor or
    number, is PyTorch's RuntimeError (PyFlame compared it)."""
    rng = np.random.default_rng(3)
    half = rng.standard_normal(23).astype(np.float16)
    near = np.float32(half[5]) + np.float32(1e-5)  # float16 of it is half[5]
    many = np.concatenate([[near], rng.standard_normal(29)]).astype(np.float32)
    tests = [np.array(near, np.float32), np.array([near], np.float32), many]
    cases = []
    for test in tests:
        want = torch.isin(torch.from_numpy(half), torch.from_numpy(test))
        cases.append(
            (
                pf.isin(pf.from_numpy(half, layout=pf.MeshLayout.grid(2, 3)), pf.from_numpy(test)),
                want,
            )
        )
    ints = np.arange(10, dtype=np.int32)
    cases.append(
        (
            pf.isin(pf.from_numpy(ints), pf.tensor(3.0)),
            torch.isin(torch.arange(10), torch.tensor(3.0)),
        )
    )
    pf.eval(*[g for g, _ in cases])
    assert [bool(w.any()) for _, w in cases] == [True, False, False, True]
    for got, want in cases:
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    flags, nums = pf.tensor([True, False]), pf.tensor([1, 2])
    for args, targs in (
        ((flags, nums), (torch.tensor([True, False]), torch.tensor([1, 2]))),
        ((nums, True), (torch.tensor([1, 2]), True)),
        ((False, nums), (False, torch.tensor([1, 2]))),
    ):
        with pytest.raises(RuntimeError, match="Unsupported input type encountered for isin"):
            torch.isin(*targs)
        with pytest.raises(RuntimeError, match=r"test_statistics\.py:\d+: Unsupported input type"):
            pf.isin(*args)


def test_gradients_match_torch():
    a = data((4, 6), 16, nan=True)
    c = data((3, 5), 17)
    grads = []
    for lib in (pf, torch):
        x = lib.tensor(a, requires_grad=True)
        y = lib.tensor(c, requires_grad=True)
        w = lib.tensor(data((4, 6), 18))
        loss = (
            (lib.nansum(x * w, 1) ** 2).sum()
            + lib.nanmean(x, 0).sum()
            + lib.quantile(y, 0.3, 1).sum()
            + lib.nanquantile(x, 0.6, 1).sum()
            + lib.cov(y).square().sum()
            + lib.diff(y, 2, 1).square().sum()
            + lib.trapezoid(y, dx=0.5).sum()
            + lib.cumulative_trapezoid(y).square().sum()
            + sum(m.sum() for m in lib.var_mean(y, 1))
            + lib.kthvalue(y, 2, 1).values.sum()
        )
        loss.backward()
        grads.append((x.grad.numpy(), y.grad.numpy()))
    for got, want in zip(grads[0], grads[1], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("half", [pf.float16, pf.bfloat16], ids=repr)
def test_trapezoid_of_integers_over_half_spacing_keeps_the_half_dtype_as_torch(half):
    # found by probing the fuzzer's new ops with every pair of dtypes (session 30): integer y
    # with float16 x gave float32 (y was made float32 first); PyTorch adds y's pairs as
    # integers and multiplies by diff(x): float16
    y = np.array([[1, 5, 2, 9], [7, 0, 3, -4]], np.int32)
    x = np.array([0.0, 0.5, 2.0, 2.25], np.float32)
    torch_half = {pf.float16: torch.float16, pf.bfloat16: torch.bfloat16}[half]
    px, tx = pf.from_numpy(x).to(half), torch.from_numpy(x).to(torch_half)
    for fn in ("trapezoid", "cumulative_trapezoid"):
        got = getattr(pf, fn)(pf.from_numpy(y), px)
        want = getattr(torch, fn)(torch.from_numpy(y).long(), tx)
        assert got.dtype is half
        np.testing.assert_array_equal(got.numpy().astype(np.float32), want.float().numpy())
