"""gather and index_select (pyflame/indexing.py) through the whole pipeline against PyTorch:
every dim of 2-D and 3-D sources, repeated indices, integer and bool sources, indices from the
host and computed on the device, every layout, out-of-range errors and gradients."""

from __future__ import annotations

import numpy as np
import pytest
from layouts import LAYOUTS

import pyflame as pf

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("small_target")


def data(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def ints(high, shape, seed=1):
    return np.random.default_rng(seed).integers(0, high, shape).astype(np.int32)


def as_long(a):
    return torch.from_numpy(a).long()


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_gather_and_index_select_match_torch(layout):
    a, b = data((7, 5)), data((3, 6, 5), seed=2)
    x, y = pf.from_numpy(a, layout=layout), pf.from_numpy(b)
    t, u = torch.from_numpy(a), torch.from_numpy(b)
    i1, i0 = ints(5, (6, 3)), ints(7, (4, 5), seed=3)
    j2, j1 = ints(5, (3, 4, 2), seed=4), ints(6, (2, 9, 5), seed=5)
    v = np.array([4, 0, 4, 2, 6], np.int32)
    cases = [
        (pf.gather(x, 1, pf.from_numpy(i1)), torch.gather(t, 1, as_long(i1))),
        (x.gather(0, pf.from_numpy(i0)), t.gather(0, as_long(i0))),
        (y.gather(-1, pf.from_numpy(j2)), u.gather(-1, as_long(j2))),
        (pf.gather(y, 1, pf.from_numpy(j1)), torch.gather(u, 1, as_long(j1))),
        (x.index_select(0, pf.from_numpy(v)), t.index_select(0, as_long(v))),
        (pf.index_select(x, 1, pf.from_numpy(v[:3])), torch.index_select(t, 1, as_long(v[:3]))),
        (y.index_select(2, pf.from_numpy(v[1:3])), u.index_select(2, as_long(v[1:3]))),
        (
            pf.index_select(x @ x.transpose(0, 1), 0, pf.from_numpy(v)) @ x,
            torch.index_select(t @ t.T, 0, as_long(v)) @ t,
        ),
    ]
    pf.eval(*[g for g, _ in cases])
    for i, (got, want) in enumerate(cases):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5, err_msg=str(i))


def test_gather_of_int_bool_and_inf_sources_is_exact():
    k = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    idx = np.array([[3, 0], [1, 1], [2, 3]], np.int32)
    got = pf.gather(pf.from_numpy(k), 1, pf.from_numpy(idx))
    assert got.dtype == pf.int32
    np.testing.assert_array_equal(got.numpy(), np.take_along_axis(k, idx, 1))
    flags = pf.from_numpy(k > 0).gather(1, pf.from_numpy(idx))
    assert flags.dtype == pf.bool
    np.testing.assert_array_equal(flags.numpy(), np.take_along_axis(k > 0, idx, 1))
    f = np.array([[np.inf, 1.0, np.nan, -2.0]], np.float32)
    picked = pf.index_select(pf.from_numpy(f), 1, pf.from_numpy(np.array([1, 3], np.int32)))
    np.testing.assert_array_equal(picked.numpy(), [[1.0, -2.0]])  # inf and NaN do not leak


def test_indices_computed_on_the_device_and_out_of_range():
    a = data((4, 6))
    x = pf.from_numpy(a)
    best = x.argmax(1, keepdim=True)
    np.testing.assert_array_equal(x.gather(1, best).numpy(), a.max(1, keepdims=True))
    with pytest.raises(IndexError, match="index 6 is out of bounds for dimension 1 with size 6"):
        x.gather(1, pf.from_numpy(np.array([[6]] * 4, np.int32)))
    with pytest.raises(IndexError, match="index -1 is out of bounds"):
        x.gather(1, pf.from_numpy(np.array([[-1]] * 4, np.int32)))
    with pytest.raises(IndexError, match=r"index_select\(\): index out of range in self"):
        x.index_select(0, pf.from_numpy(np.array([0, 4], np.int32)))
    lazy = x.index_select(0, (best.reshape(-1) + 3))  # an index >= 4 computed on the device
    with pytest.raises(IndexError, match="index out of range in self"):
        pf.eval(lazy)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.gather(1, pf.from_numpy(np.zeros(3, np.int32)))
    with pytest.raises(RuntimeError, match="Expected dtype"):
        x.index_select(0, pf.from_numpy(np.zeros(3, np.float32)))


def test_gradients_match_torch():
    a = data((5, 4))
    i = np.array([[0, 3], [3, 3], [1, 0], [2, 2], [0, 1]], np.int32)
    v = np.array([4, 1, 4], np.int32)
    grads = {}
    for lib in (pf, torch):
        x = lib.from_numpy(a)
        x.requires_grad = True
        idx = lib.from_numpy(i) if lib is pf else as_long(i)
        rows = lib.from_numpy(v) if lib is pf else as_long(v)
        y = (x.gather(1, idx) ** 2).sum() + (x.index_select(0, rows) * 3).sum(0).pow(2).sum()
        y.backward()
        grads[lib] = x.grad.numpy()
    np.testing.assert_allclose(grads[pf], grads[torch], rtol=1e-5, atol=1e-6)


def _flame_ops(t) -> set[str]:
    text = pf.ir(t, stage="flame")
    return {word for word in text.split() if word.startswith("flame.") and "(" not in word}


def test_lookups_read_rows_not_every_index():
    """index_select and embedding are one flame.gather_rows (no comparison with every position
    of the dim); gather reads rows when they are shorter than the dim, else compares."""
    x = pf.from_numpy(data((40, 6)))
    v = pf.from_numpy(np.array([3, 39, 0], np.int32))
    for t in (x.index_select(0, v), pf.nn.functional.embedding(v, x)):
        found = _flame_ops(t)
        assert "flame.gather_rows" in found and "flame.iota" not in found, found
    picked = x.gather(0, pf.from_numpy(ints(40, (2, 6))))  # rows of 6 < 40 positions
    assert "flame.gather_rows" in _flame_ops(picked)
    along = x.gather(1, pf.from_numpy(ints(6, (40, 1))))  # rows of 40 > 6 positions
    assert "flame.gather_rows" not in _flame_ops(along) and "flame.iota" in _flame_ops(along)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_gradients_match_torch_under_layouts(layout):
    """Odd shapes (padded blocks), every dim, repeated indices: values and the scatter-add
    gradient against torch."""
    a = data((7, 5))
    b = data((3, 5, 4), seed=2)
    i0, i1 = ints(7, (3, 5), seed=3), ints(5, (7, 2), seed=4)
    j = ints(5, (2, 3, 4), seed=5)
    v = np.array([6, 0, 6, 2], np.int32)
    res = {}
    for lib in (pf, torch):
        x = pf.from_numpy(a, layout=layout) if lib is pf else torch.from_numpy(a)
        y = lib.from_numpy(b)
        x.requires_grad = y.requires_grad = True

        def idx(k, lib=lib):
            return pf.from_numpy(k) if lib is pf else as_long(k)

        outs = [
            x.gather(0, idx(i0)),
            x.gather(1, idx(i1)),
            x.index_select(0, idx(v)),
            x.index_select(1, idx(v[1:] % 5)),
            y.gather(1, idx(j)),
            y.index_select(2, idx(v % 4)),
        ]
        loss = sum((o * o).sum() * (k + 1) for k, o in enumerate(outs))
        loss.backward()
        res[lib] = [o.detach().numpy() for o in outs] + [x.grad.numpy(), y.grad.numpy()]
    for k, (got, want) in enumerate(zip(res[pf], res[torch], strict=True)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=str(k))


def test_lookup_cycles_do_not_grow_with_the_table():
    """A lookup costs work per row returned: a table ten times taller, on the same grid, takes
    the same simulated cycles (host I/O aside)."""
    idx = pf.from_numpy(ints(60, (8,)))
    cycles = []
    for vocab in (64, 640):
        table = pf.from_numpy(data((vocab, 16)), layout=pf.MeshLayout.grid(4, 4))
        pf.nn.functional.embedding(idx, table).numpy()
        cycles.append(pf.last_report().cycles)
    assert cycles[0] == cycles[1]


def test_int64_indices_are_held_as_int32():
    a = data((6, 3))
    i64 = np.array([5, 0, 5], np.int64)
    x = pf.from_numpy(a)
    idx = pf.from_numpy(i64)
    assert idx.dtype is pf.int64 is pf.int32 and pf.long is pf.int32
    np.testing.assert_array_equal(x.index_select(0, idx).numpy(), a[i64])
    as_long_ = pf.from_numpy(np.array([2.0, 1.0], np.float32)).long()
    assert as_long_.dtype is pf.int32
    np.testing.assert_array_equal(x.index_select(0, as_long_).numpy(), a[[2, 1]])
    assert pf.zeros(2, dtype=torch.int64).dtype is pf.int32
    assert pf.zeros(2, dtype=np.int64).dtype is pf.int32
    assert x.to("int64").dtype is pf.int32
    with pytest.raises(ShapeErrorOrValue, match="do not fit"):
        pf.from_numpy(np.array([2**40], np.int64))


ShapeErrorOrValue = (ValueError, pf.ShapeError, OverflowError, pf.IntegerOverflowError)


def test_narrow_with_a_tensor_start():
    a = data((4, 9))
    x = pf.from_numpy(a)
    at_hand = pf.from_numpy(np.array(-4, np.int64))  # 0-d, counts from the end
    np.testing.assert_array_equal(x.narrow(1, at_hand, 3).numpy(), a[:, 5:8])
    assert "flame.gather_rows" not in _flame_ops(x.narrow(1, at_hand, 3))  # a plain slice
    lazy = pf.argmax(pf.from_numpy(np.array([0.0, 3.0, 1.0], np.float32)), 0) + 1  # 2
    np.testing.assert_array_equal(pf.narrow(x, 1, lazy, 4).numpy(), a[:, 2:6])
    np.testing.assert_array_equal(x.narrow(0, lazy - 3, 1).numpy(), a[3:4])  # -1: the last
    t = torch.from_numpy(a).requires_grad_()
    y = pf.from_numpy(a).requires_grad_()
    (pf.narrow(y, 1, lazy, 4) ** 2).sum().backward()
    (torch.narrow(t, 1, torch.tensor(2), 4) ** 2).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), t.grad.numpy(), rtol=1e-6)
    out = x.narrow(1, lazy + 5, 3)  # start 7 + 3 > 9: known only after the run
    with pytest.raises(IndexError, match=r"test_indexing.py:\d+: narrow\(\): start 7 and length 3"):
        out.numpy()
    with pytest.raises(TypeError, match="0-dim integer tensor"):
        x.narrow(1, pf.from_numpy(np.array([1], np.int32)), 2)


# --------------------------------------------------------------------------- repeat_interleave


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_repeat_interleave_matches_torch(layout):
    """Int repeats and per-slice counts (at hand: a host index), every dim, dim=None (the
    flattened input), the one-argument form; odd shapes; int repeats bit for bit (-0.0)."""
    a = data((3, 5, 2))
    a[0, 0, 0], a[1, 1, 1] = -0.0, np.nan
    counts5 = np.array([2, 0, 1, 3, 1], np.int32)
    cases = []
    for lib in (pf, torch):
        x = pf.from_numpy(a, layout=layout) if lib is pf else torch.from_numpy(a)
        c5 = pf.from_numpy(counts5) if lib is pf else as_long(counts5)
        one = pf.from_numpy(np.array([3], np.int32)) if lib is pf else torch.tensor([3])
        c3 = pf.from_numpy(counts5[:3]) if lib is pf else as_long(counts5[:3])
        two = pf.tensor(2) if lib is pf else torch.tensor(2)  # 0-d: one count for all
        cases.append(
            [x.repeat_interleave(2), lib.repeat_interleave(x, 3, dim=0), x.repeat_interleave(2, -1)]
            + [x.repeat_interleave(c5, dim=1), lib.repeat_interleave(x, one, 2)]
            + [x.repeat_interleave(0, dim=1), (x * 2).repeat_interleave(c3, 0)]
            + [lib.repeat_interleave(c5), x.repeat_interleave(two, 1)]
        )
    pf.eval(*cases[0])
    for i, (got, want) in enumerate(zip(*cases, strict=True)):
        assert got.shape == tuple(want.shape), i
        want = want.numpy().astype(got.numpy().dtype)
        np.testing.assert_array_equal(got.numpy(), want, str(i))  # (NaN in place)
        if i not in (3, 6):  # int repeats move data only: bit for bit; counts go through
            assert got.numpy().tobytes() == want.tobytes(), i  # index_select (-0.0 -> +0.0)


def test_repeat_interleave_keeps_dtypes_and_empty_shapes():
    for dtype in ("int32", "bool", "float16"):
        a = np.array([[1, 0, 3], [2, 2, 0]], np.int32)
        x = pf.from_numpy(a).to(getattr(pf, dtype))
        t = torch.from_numpy(a).to(getattr(torch, dtype))
        for got, want in [
            (x.repeat_interleave(2, 1), t.repeat_interleave(2, 1)),
            (
                x.repeat_interleave(pf.tensor([0, 3, 1]), 1),
                t.repeat_interleave(torch.tensor([0, 3, 1]), 1),
            ),
        ]:
            assert got.dtype is getattr(pf, dtype)
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    for shape, reps, dim in [((0, 3), 2, None), ((0, 3), 2, 1), ((2, 3), 0, None)]:
        got = pf.zeros(*shape).repeat_interleave(reps, dim)
        assert got.shape == tuple(torch.zeros(*shape).repeat_interleave(reps, dim).shape)
    assert pf.from_numpy(np.float32(5)).repeat_interleave(3).numpy().tolist() == [5.0] * 3


def test_repeat_interleave_with_counts_computed_on_the_device():
    """The result's size is the counts' sum: computed counts need output_size= (else an
    error saying why); each position finds its slice by the running sum; a wrong
    output_size or a negative count is PyTorch's RuntimeError after the run."""
    a = data((2, 4))
    counts = np.array([1, 0, 3, 2], np.int32)
    c = pf.from_numpy(counts) * 1  # lazy: values unknown when the graph is built
    with pytest.raises(
        RuntimeError,
        match=r"test_indexing.py:\d+: repeat_interleave: the "
        r"repeats tensor is computed on the device.*output_size=",
    ):
        pf.from_numpy(a).repeat_interleave(c, dim=1)
    got = pf.repeat_interleave(pf.from_numpy(a), c, dim=1, output_size=6)
    want = torch.from_numpy(a).repeat_interleave(as_long(counts), dim=1, output_size=6)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    two = pf.tensor([2]) * 1  # one computed count for every element of the flattened input
    flat = pf.repeat_interleave(pf.from_numpy(a), two, output_size=16)
    np.testing.assert_array_equal(flat.numpy(), torch.from_numpy(a).repeat_interleave(2).numpy())
    np.testing.assert_array_equal(
        pf.repeat_interleave(c, output_size=6).numpy(),
        torch.repeat_interleave(as_long(counts)).numpy(),
    )
    with pytest.raises(RuntimeError, match="Invalid output_size, expected 6 but got 5"):
        pf.repeat_interleave(pf.from_numpy(a), c, dim=1, output_size=5).numpy()
    with pytest.raises(RuntimeError, match="repeats can not be negative"):
        pf.repeat_interleave(pf.from_numpy(a), c - 1, dim=1, output_size=2).numpy()
    evaluated = pf.from_numpy(counts) * 1
    evaluated.numpy()  # now at hand: no output_size needed
    assert pf.from_numpy(a).repeat_interleave(evaluated, 1).shape == (2, 6)


def test_repeat_interleave_errors_as_torch():
    x = pf.ones(2, 3)
    with pytest.raises(RuntimeError, match="repeats can not be negative"):
        x.repeat_interleave(pf.tensor([1, -2, 1]), 1)
    with pytest.raises(RuntimeError, match="repeats can not be negative"):
        x.repeat_interleave(-1)
    with pytest.raises(pf.ShapeError, match=r"repeats.size\(0\) = 2 and input.size\(1\) = 3"):
        x.repeat_interleave(pf.tensor([1, 2]), 1)
    with pytest.raises(pf.ShapeError, match="0-dim or 1-dim"):
        x.repeat_interleave(pf.tensor([[2]]), 1)
    with pytest.raises(TypeError, match="int tensor"):
        x.repeat_interleave(pf.tensor([1.0, 2.0, 0.0]), 1)
    with pytest.raises(RuntimeError, match="Invalid output_size, expected 6 but got 5"):
        x.repeat_interleave(2, 1, output_size=5)
    with pytest.raises(pf.ShapeError, match="out of range"):
        x.repeat_interleave(2, 2)
    with pytest.raises(pf.ShapeError, match="1D vector"):
        pf.repeat_interleave(pf.tensor([[1]]))


def test_repeat_interleave_gradients_match_torch():
    a, counts = data((3, 4)), np.array([2, 0, 1], np.int32)
    grads = {}
    for lib in (pf, torch):
        x = lib.from_numpy(a)
        x.requires_grad = True
        c = lib.from_numpy(counts) if lib is pf else as_long(counts)
        y = x.repeat_interleave(3, dim=1) * lib.from_numpy(data((3, 12), seed=3))
        z = x.repeat_interleave(c, dim=0) ** 2
        (y.sum() + z.sum() + x.repeat_interleave(2).sum()).backward()
        grads[lib] = x.grad.numpy()
    np.testing.assert_allclose(grads[pf], grads[torch], rtol=1e-6, atol=1e-6)  # (sum order)


TAKE_LAYOUTS = [
    None,
    pf.MeshLayout.grid(2, 2),
    pf.MeshLayout.grid(2, 3),
    pf.MeshLayout.row_partition(3),
]


@pytest.mark.parametrize("layout", TAKE_LAYOUTS, ids=repr)
def test_take_along_dim_matches_torch_with_its_wrapping_and_broadcasting(layout):
    """torch.take_along_dim: with a dim the indices wrap modulo the dim's size (PyTorch 2.13:
    -1 is the last, 7 on 5 is 2) and broadcast against the input in the other dims; without
    one, the input flattened. Values and the gradient (repeats add up)."""
    a, b = data((7, 5)), data((3, 5, 4), seed=2)
    i1 = np.array([[0, -1, 7, 4, -5, 2]], np.int32)  # [1, 6]: broadcast over the 7 rows
    i0 = ints(7, (2, 5), seed=3)
    j = np.array([[[3], [0], [-2]]], np.int32)  # [1, 3, 1] along dim 1 of [3, 5, 4]
    flat = np.array([34, 0, 3, 3, 17], np.int32)
    res = {}
    for lib in (pf, torch):
        x = pf.from_numpy(a, layout=layout) if lib is pf else torch.from_numpy(a)
        y = lib.from_numpy(b)
        x.requires_grad = y.requires_grad = True

        def idx(k, lib=lib):
            return pf.from_numpy(k) if lib is pf else as_long(k)

        outs = [
            lib.take_along_dim(x, idx(i1), 1),
            x.take_along_dim(idx(i0), dim=0),
            lib.take_along_dim(y, idx(j), -2),
            x.take_along_dim(idx(flat)),
            lib.take_along_dim(y, idx(np.argsort(b, axis=2).astype(np.int32)), 2),
        ]
        loss = sum((o * o).sum() * (k + 1) for k, o in enumerate(outs))
        loss.backward()
        res[lib] = [o.detach().numpy() for o in outs] + [x.grad.numpy(), y.grad.numpy()]
    for k, (got, want) in enumerate(zip(res[pf], res[torch], strict=True)):
        assert got.shape == want.shape, k
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=str(k))


def test_take_along_dim_keeps_int_bool_and_half_and_takes_device_indices():
    k = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    i = np.array([[3, 0], [1, -1], [2, 3]], np.int32)
    t = torch.from_numpy(k)
    for src, want in [(k, t), (k > 0, t > 0)]:
        got = pf.take_along_dim(pf.from_numpy(src), pf.from_numpy(i), 1)
        ref = torch.take_along_dim(want, as_long(i), 1)
        assert got.dtype == (pf.int32 if src.dtype == np.int32 else pf.bool)
        np.testing.assert_array_equal(got.numpy(), ref.numpy())
    h = data((4, 6)).astype(np.float16)
    got = pf.from_numpy(h).take_along_dim(pf.from_numpy(h).argsort(1), 1)
    assert got.dtype == pf.float16
    np.testing.assert_array_equal(got.numpy(), np.sort(h, 1))
    x = pf.from_numpy(data((4, 6)))
    best = x.argmax()  # 0-d, computed on the device: torch's example
    np.testing.assert_array_equal(pf.take_along_dim(x, best).numpy(), [x.numpy().max()])


def test_take_along_dim_errors_as_torch():
    x = pf.from_numpy(data((3, 4)))
    t = torch.from_numpy(data((3, 4)))
    cases = [
        (np.zeros((3, 1), np.float32), 1, RuntimeError, "dtype of indices should be Long"),
        (np.zeros((1, 1, 1), np.int32), 1, RuntimeError, "same number of dimensions"),
        (np.zeros((2, 2), np.int32), 1, RuntimeError, "must match the size of tensor b"),
        (np.zeros((3, 1), np.int32), 2, IndexError, "Dimension out of range"),
        (np.array([12], np.int32), None, RuntimeError, "index 12 is out of bounds"),
    ]
    for index, dim, error, words in cases:
        torch_index = torch.from_numpy(index)
        torch_index = torch_index.long() if index.dtype == np.int32 else torch_index
        with pytest.raises(error, match=words):
            torch.take_along_dim(t, torch_index, dim)
        if dim is None:  # pf.gather's IndexError (an IndexError where torch.gather's is not)
            error = IndexError
        with pytest.raises(error, match=words):
            pf.take_along_dim(x, pf.from_numpy(index), dim).numpy()
    with pytest.raises(RuntimeError, match=r"test_indexing\.py:\d+: torch.take_along_dim"):
        pf.take_along_dim(x, pf.from_numpy(np.zeros((3, 1), np.float32)), 1)


def test_take_along_dim_of_a_0d_input_refuses_a_dim_as_torch():
    """PyTorch 2.13 refuses any dim for a 0-d input (0 and -1 too: "Dimension specified as 0 but
    tensor has no dimensions"; out of range past them) and takes one without a dim as [1]."""
    a, i = np.array(3.5, np.float32), np.array(0, np.int32)
    x, idx = pf.from_numpy(a), pf.from_numpy(i)
    t, t_idx = torch.from_numpy(a), torch.from_numpy(i).long()
    for dim, words in [(0, "specified as 0"), (-1, "specified as 0"), (1, "out of range")]:
        with pytest.raises(IndexError, match=words):
            torch.take_along_dim(t, t_idx, dim)
        with pytest.raises(IndexError, match=rf"test_indexing\.py:\d+: .*{words}"):
            pf.take_along_dim(x, idx, dim)
        with pytest.raises(IndexError, match=words):
            x.take_along_dim(idx, dim=dim)
    want = torch.take_along_dim(t, t_idx)
    got = pf.take_along_dim(x, idx)
    assert got.shape == tuple(want.shape) == (1,)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
