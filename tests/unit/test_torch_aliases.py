"""torch's aliases, small elementwise ops (sgn, positive, fix, fmax, fmin, ldexp), in-place
forms, and Tensor's size / dtype / real-only complex methods against torch 2.13: values,
dtypes, gradients, PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pyflame as pf

pytestmark = pytest.mark.usefixtures("small_target")


def data(shape, seed=0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def check(cases, rtol=0.0, atol=0.0):
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


@pytest.mark.parametrize("layout", [None, pf.MeshLayout.grid(2, 3)], ids=repr)
def test_aliases_and_small_elementwise_ops(layout):
    a, b = data((5, 7), 0), data((7,), 1)
    a[1, 2], a[3, 3], b[3], b[4] = np.nan, np.nan, np.nan, a[0, 4]  # NaN either side, a tie
    x, y = pf.from_numpy(a, layout=layout), pf.from_numpy(b, layout=layout)
    t, u = torch.from_numpy(a), torch.from_numpy(b)
    i, j = pf.tensor([[3, -1, 0]]), torch.tensor([[3, -1, 0]])
    cases = [
        (pf.negative(x), torch.negative(t)),
        (x.absolute(), t.absolute()),
        (pf.multiply(x, y), torch.multiply(t, u)),
        (x.divide(2, rounding_mode="floor"), t.divide(2, rounding_mode="floor")),
        (pf.subtract(x, y, alpha=2), torch.subtract(t, u, alpha=2)),
        (pf.greater(x, y), torch.greater(t, u)),
        (x.greater_equal(0), t.greater_equal(0)),
        (pf.less(x, y), torch.less(t, u)),
        (x.less_equal(y), t.less_equal(u)),
        (pf.not_equal(x, y), torch.not_equal(t, u)),
        (pf.sgn(x), torch.sgn(t)),
        (i.sgn(), j.sgn()),
        (pf.positive(x), torch.positive(t)),
        (pf.fix(x * 3), torch.fix(t * 3)),
        (pf.fmax(x, y), torch.fmax(t, u)),
        (x.fmin(y), t.fmin(u)),
        (pf.fmax(i, 1), torch.fmax(j, torch.tensor(1)).int()),
        (pf.fmin(x.half(), y.half()), torch.fmin(t.half(), u.half())),
        (
            pf.ldexp(x, pf.tensor([2, -1, 0, 3, 1, 1, 4])),
            torch.ldexp(t, torch.tensor([2, -1, 0, 3, 1, 1, 4])),
        ),
        (i.ldexp(i), j.ldexp(j)),
    ]
    check(cases)
    with pytest.raises(RuntimeError, match="The `\\+` operator, on a bool tensor is not supported"):
        pf.positive(x > 0)


def test_fmax_and_fmin_gradients_go_to_the_first_operand_on_ties():
    a, b = (
        np.array([1.0, 2.0, np.nan, 4.0], np.float32),
        np.array([1.0, 3.0, 5.0, np.nan], np.float32),
    )
    grads = []
    for lib in (pf, torch):
        x, y = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)
        (lib.fmax(x, y) * 2 + lib.fmin(x, y) * 3).sum().backward()
        grads.append((x.grad.numpy(), y.grad.numpy()))
    for got, want in zip(*grads, strict=True):
        np.testing.assert_array_equal(got, want)


def test_inplace_forms():
    a, b = data((4, 5), 2), data((4, 5), 3)
    cases = []
    for name, args in (
        ("eq_", (0.0,)),
        ("ne_", ("b",)),
        ("lt_", ("b",)),
        ("le_", (0.5,)),
        ("gt_", ("b",)),
        ("ge_", (0.0,)),
        ("greater_", ("b",)),
        ("less_equal_", ("b",)),
        ("not_equal_", ("b",)),
        ("ceil_", ()),
        ("frac_", ()),
        ("reciprocal_", ()),
        ("square_", ()),
        ("fix_", ()),
        ("sgn_", ()),
        ("ldexp_", ("b",)),
        ("clamp_min_", (0.1,)),
        ("clamp_max_", ("b",)),
        ("lerp_", ("b", 0.3)),
        ("cumsum_", (1,)),
        ("cumprod_", (0,)),
        ("tril_", (1,)),
        ("triu_", (-1,)),
        ("multiply_", ("b",)),
        ("subtract_", ("b",)),
        ("divide_", ("b",)),
        ("negative_", ()),
        ("absolute_", ()),
        ("addcmul_", ("b", "b")),
        ("addcdiv_", ("b", "b")),
    ):
        x, t = pf.from_numpy(a), torch.from_numpy(a.copy())
        bx, bt = pf.from_numpy(b), torch.from_numpy(b)
        px = [bx if v == "b" else v for v in args]
        pt = [bt if v == "b" else v for v in args]
        view, tview = x[1:], t[1:]
        assert getattr(x, name)(*px) is x
        getattr(t, name)(*pt)
        cases += [(x, t), (view, tview)]  # the view sees the change, as PyTorch's
    check(cases, rtol=1e-6, atol=1e-6)


def test_fill_diagonal():
    cases = []
    for shape, wrap in (((7, 3), True), ((7, 3), False), ((3, 5), False), ((4, 4, 4), False)):
        a = data(shape, 4)
        x, t = pf.from_numpy(a), torch.from_numpy(a.copy())
        x.fill_diagonal_(-9.0, wrap=wrap)
        t.fill_diagonal_(-9.0, wrap=wrap)
        cases.append((x, t))
    n, m = pf.zeros(3, 4, dtype=pf.int32), torch.zeros(3, 4, dtype=torch.int32)
    n.fill_diagonal_(2)
    m.fill_diagonal_(2)
    check([*cases, (n, m)])
    with pytest.raises(RuntimeError, match="all dimensions of input must be of equal length"):
        pf.zeros(2, 3, 3).fill_diagonal_(1.0)


def test_sizes_strides_and_real_only_complex_api():
    a = data((4, 6), 5)
    x, t = pf.from_numpy(a), torch.from_numpy(a)
    for px, tx in (
        (x, t),
        (x.t(), t.t()),
        (x[:, 1:5:2], t[:, 1:5:2]),
        (x[1], t[1]),
        (x.unsqueeze(1), t.unsqueeze(1)),
    ):
        assert px.stride() == tx.stride()
        assert px.stride(-1) == tx.stride(-1)
        assert px.is_contiguous() == tx.is_contiguous()
        assert px.nelement() == tx.nelement() and px.ndimension() == tx.ndimension()
        assert px.is_same_size(x) == tx.is_same_size(t)
    assert x.element_size() == t.element_size() == x.itemsize and x.nbytes == t.nbytes
    assert x.half().element_size() == 2 and x.bool().nbytes == 24
    assert x.conj() is x and x.resolve_conj() is x and x.resolve_neg() is x
    assert not x.is_conj() and not x.is_neg() and not x.is_complex()
    assert x.is_floating_point() and not x.int().is_floating_point() and x.is_signed()
    assert not x.bool().is_signed()
    check([(x.H, t.H), (x.mH, t.mH), (x.adjoint(), t.adjoint())])
    check(
        [
            (x.sum_to_size(1, 6), t.sum_to_size(1, 6)),
            (x.sum_to_size(6), t.sum_to_size(6)),
            (x.sum_to_size(4, 1), t.sum_to_size(4, 1)),
        ],
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(RuntimeError, match="is not expandable to size"):
        x.sum_to_size(3, 6)
    n = x.new_tensor([[1, 2]])
    assert n.dtype is pf.float32 and n.numpy().tolist() == [[1.0, 2.0]]
    assert x[0, 0].is_nonzero() == t[0, 0].is_nonzero()
    with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
        x.is_nonzero()
    for method in ("double", "byte", "char", "short"):
        with pytest.raises(TypeError, match=f"x.{method}\\(\\): PyFlame has no") as got:
            getattr(x, method)()
        assert "test_torch_aliases.py" in str(got.value)


def test_shape_changing_inplace_ops_and_detach_():
    a = data((2, 1, 3), 6)
    results = []
    for lib in (pf, torch):
        w = lib.tensor(a, requires_grad=True)
        y = w * 2
        v0 = y._version
        assert y.squeeze_(1) is y and y.shape == (2, 3)
        y.t_()
        y.unsqueeze_(-1)
        y.transpose_(0, 2)
        y.swapaxes_(1, 2)
        y.swapdims_(0, 1)
        assert y._version > v0
        (y * lib.tensor(data(tuple(y.shape), 7))).sum().backward()
        z = w * 3
        z.detach_()
        assert not z.requires_grad and z.is_leaf
        results.append((tuple(y.shape), y.detach().numpy(), w.grad.numpy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_allclose(results[0][2], results[1][2], rtol=1e-6)
    leaf = pf.tensor(a[:, 0], requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        leaf.t_()
    base = pf.tensor(a)
    view = base[0]
    with pytest.raises(NotImplementedError, match="a view or has views"):
        base.squeeze_()
    with pytest.raises(RuntimeError, match="Can't detach views in-place"):
        view.detach_()


def test_prelu():
    a = data((2, 3, 4), 8)
    w1, w3 = np.array([0.25], np.float32), np.array([0.1, -0.2, 0.3], np.float32)
    x, t = pf.from_numpy(a), torch.from_numpy(a)
    check(
        [
            (pf.prelu(x, pf.from_numpy(w1)), torch.prelu(t, torch.from_numpy(w1))),
            (x.prelu(pf.from_numpy(w3)), t.prelu(torch.from_numpy(w3))),
            (
                pf.nn.functional.prelu(x[0, 0], pf.from_numpy(w1)),
                torch.nn.functional.prelu(t[0, 0], torch.from_numpy(w1)),
            ),
        ]
    )
    with pytest.raises(pf.ShapeError, match="Mismatch of parameter numbers"):
        pf.prelu(x, pf.ones(4))


@pytest.mark.slow  # (one of the suite's slowest: run with -m slow)
def test_gcd_and_lcm():
    rng = np.random.default_rng(9)
    a = rng.integers(-(10**5), 10**5, (4, 5)).astype(np.int32)
    b = rng.integers(-300, 300, (5,)).astype(np.int32)
    a[0, 0], b[1] = 0, 0
    fib = np.array([1836311903, 0, 12, -18, 7], np.int32)  # consecutive Fibonacci: the most steps
    fob = np.array([1134903170, 0, -8, 0, 7], np.int32)
    x, t = pf.from_numpy(a, layout=pf.MeshLayout.grid(2, 3)), torch.from_numpy(a)
    y, u = pf.from_numpy(b), torch.from_numpy(b)
    p, q = pf.from_numpy(fib), torch.from_numpy(fib)
    r, s = pf.from_numpy(fob), torch.from_numpy(fob)
    z, w = x.clone(), t.clone()
    z.gcd_(y)
    w.gcd_(u)
    check(
        [
            (pf.gcd(x, y), torch.gcd(t, u)),
            (p.gcd(r), q.gcd(s)),
            (pf.lcm(x[:, :3] % 1000, y[:3]), torch.lcm(t[:, :3] % 1000, u[:3])),
            (p[1:].lcm(r[1:]), q[1:].lcm(s[1:])),
            (z, w),
        ]
    )
    with pytest.raises(RuntimeError, match="gcd_cpu"):
        pf.gcd(x.float(), y)


def test_more_inplace_forms_and_real_only_helpers():
    a = data((3, 4), 10)
    m1, m2, b1, b2 = data((3, 2), 11), data((2, 4), 12), data((5, 3, 2), 13), data((5, 2, 4), 14)
    v1, v2 = data((3,), 15), data((4,), 16)
    cases = []
    for name, args in (
        ("addmm_", (m1, m2)),
        ("addbmm_", (b1, b2)),
        ("addr_", (v1, v2)),
        ("renorm_", (2, 0, 1.0)),
    ):
        x, t = pf.from_numpy(a), torch.from_numpy(a.copy())
        pargs = [pf.from_numpy(v) if isinstance(v, np.ndarray) else v for v in args]
        targs = [torch.from_numpy(v) if isinstance(v, np.ndarray) else v for v in args]
        kw = {} if name == "renorm_" else {"beta": 0.5, "alpha": 2.0}
        assert getattr(x, name)(*pargs, **kw) is x
        getattr(t, name)(*targs, **kw)
        cases.append((x, t))
    c = data((3, 3, 3), 17)
    bx, bt = pf.from_numpy(c), torch.from_numpy(c.copy())
    bx.baddbmm_(pf.from_numpy(b1[:3]), pf.from_numpy(b2[:3, :, :3]))
    bt.baddbmm_(torch.from_numpy(b1[:3]), torch.from_numpy(b2[:3, :, :3]))
    mx, mt = pf.from_numpy(a[0]), torch.from_numpy(a[0].copy())
    mx.addmv_(pf.from_numpy(m2.T), pf.from_numpy(v1[:2]))
    mt.addmv_(torch.from_numpy(m2.T), torch.from_numpy(v1[:2]))
    x, t = pf.from_numpy(a), torch.from_numpy(a)
    cases += [
        (bx, bt),
        (mx, mt),
        (x.isreal(), t.isreal()),
        (pf.isreal(x), torch.isreal(t)),
        (x.narrow_copy(1, 1, 2), t.narrow_copy(1, 1, 2)),
        *zip(x.unsafe_chunk(2, 1), t.unsafe_chunk(2, 1), strict=True),
        *zip(x.unsafe_split(2), t.unsafe_split(2), strict=True),
        *zip(
            x.unsafe_split_with_sizes([1, 3], 1), t.unsafe_split_with_sizes([1, 3], 1), strict=True
        ),
    ]
    check(cases, rtol=1e-5, atol=1e-6)
    assert x.real is x and pf.real(x) is x
