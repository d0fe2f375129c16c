"""`x[key]` with advanced keys (pyflame/index_get.py) through the whole pipeline against PyTorch:
int index lists, numpy arrays and tensors (at hand and computed on the device; 0-d, 1-D, n-D;
negative, repeated, empty), several of them broadcast together (adjacent or not, with ints,
slices, None and `...` around), bool masks of every rank and Python bools; every layout and
dtype; gradients (repeated indices accumulate); PyTorch's errors."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
from layouts import LAYOUTS

import pyflame as pf

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("small_target")

TORCH_DTYPE = {
    pf.float32: torch.float32,
    pf.float16: torch.float16,
    pf.bfloat16: torch.bfloat16,
    pf.int32: torch.int32,
    pf.bool: torch.bool,
}


def data(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def I(*values):  # noqa: E743 (an int index, as numpy array)
    return np.array(values, dtype=np.int64)


def M(*values):  # a bool mask
    return np.array(values, dtype=bool)


_ = slice(None)
A = data((5, 6, 7))  # odd sizes: padded blocks on every grid
A4 = data((3, 4, 5, 6), seed=7)
MASK2 = data((5, 6), seed=3) > 0
MASK1 = M(True, False, True, True, False)

# (array, key): numpy arrays in a key are the index tensors; each test gives them as lists,
# numpy arrays, tensors at hand or tensors computed on the device
CASES = [
    (A[0, 0], (I(0, 6, 6, -1, 3),)),  # 1-D: negative, repeated
    (A[0, 0], (I(),)),  # empty
    (A[0, 0], (I(5, -7, 2).reshape(3, 1),)),  # n-D index
    (A[0, 0], (M(*(A[0, 0] > 0)),)),  # a 1-D mask
    (A[0], (I(4, 0, 4),)),
    (A[0], (_, I(-1, 2))),
    (A[0], (I(1, 1), I(6, -7))),  # two, broadcast 1-D
    (A[0], (I(0, 5).reshape(2, 1), I(1, 2, 3))),  # two, broadcast to [2, 3]
    (A[0], (I(2, 2, 0), slice(1, 6, 2))),
    (A[0], (data((6, 7), seed=4) > 0.3,)),  # a 2-D mask: every element
    (A[0], (_, M(True, False, True, True, False, False, True))),
    (A[0], (M(False, True, False, False, True, True), I(3, 0, 0))),  # a mask and an index
    (A, (I(4, 0, 4),)),
    (A, (I(0, 3), _, I(2, -1))),  # not adjacent: broadcast dims in front
    (A, (_, I(0, 3), I(2, -1))),  # adjacent after a slice: in place
    (A, (I(0, 3), I(1, 5), I(6, 0))),  # three
    (A, (I(0, 3).reshape(2, 1), I(1, 5, 5), I(6))),  # three, broadcast to [2, 3]
    (A, (1, _, I(0, 1))),  # an int selects first (PyTorch): [6, 2]
    (A, (I(0, 1), 2, I(0, 1))),  # ... and leaves the indices adjacent: [2]
    (A, (I(0, 4), _, 3)),  # int after a slice: [2, 6]
    (A, (None, I(0, 1), I(0, 1))),
    (A, (I(0, 1), None, I(0, 1))),  # None between: not adjacent
    (A, (Ellipsis, I(1, 2))),
    (A, (I(1, 2), Ellipsis, I(0, 6))),
    (A, (Ellipsis, None, I(-1))),
    (A, (slice(None, None, 2), I(2, 1).reshape(2, 1), slice(1, 6, 2))),
    (A, (slice(1, 4), I(5, 0).reshape(1, 2, 1), _)),
    (A, (I(2, 0).reshape(2, 1), slice(1, 4), I(0, 1, 2))),
    (A, (MASK1,)),
    (A, (MASK2,)),
    (A, (data((5, 6, 7), seed=5) > 0,)),  # a 3-D mask
    (A, (_, M(True, False, False, True, True, False))),
    (A, (Ellipsis, M(*(data(7, seed=6) > 0)))),
    (A, (MASK1, 2)),
    (A, (MASK1, slice(1, 3), I(0, 6, -7))),  # a mask and an index apart
    (A, (None, MASK2, None)),
    (A, (MASK1, I(0, 5, 1))),  # the mask's 3 positions broadcast with [0, 5, 1]
    (A, (True,)),
    (A, (False, 1)),
    (A, (0, True, _, I(2))),
    (A, (I(), I())),
    (A, (I(2, 3).reshape(2, 1, 1), _, _)),
    (A, (None, I(0, 1), _, I(0, 1))),  # not adjacent after a None: in front, [2, 1, 6]
    (A, (slice(1, 3), I(0, 5), None, I(2, 3))),  # [2, 2, 1]
    (A4, (_, I(0, 3), _, I(1, 5))),  # not adjacent, after a slice: [2, 3, 5]
    (A4, (_, I(0, 3).reshape(2, 1), I(1, 4, 0), _)),  # adjacent in the middle: [3, 2, 3, 6]
    (A4, (1, _, I(0, 2), I(5, -6))),
    (A4, (slice(0, 3, 2), M(True, False, True, True), 4, I(1, 2, 0))),  # mask, int, index
]
# a key of the table given as a list, not a tuple: x[[0, 2]] (a list is an index, not a tuple)
LIST_KEYS = [[0, 2, -1], [True, False, True, False, True], [[0, 1], [2, 3]]]


def _pf_index(k, form):
    if not isinstance(k, np.ndarray):
        return k
    if form == "list":
        return k.tolist()
    if form == "numpy":
        return k
    t = pf.from_numpy(k.astype(np.int32) if k.dtype != bool else k)
    if form == "host":
        return t
    assert form == "device"  # computed on the device: not at hand when the op is built
    return (t.astype(pf.int32) * 1) if k.dtype != bool else (t.astype(pf.int32) > 0)


def pf_key(key, form):
    return tuple(_pf_index(k, form) for k in key)


def torch_key(key):
    return tuple(torch.from_numpy(k) if isinstance(k, np.ndarray) else k for k in key)


def as_numpy(t):
    out = t.detach().float() if t.dtype == torch.bfloat16 else t.detach()
    return out.numpy()


def check_same(got, want, what=""):
    assert list(got.shape) == list(want.shape), what
    assert TORCH_DTYPE[got.dtype] == want.dtype, what
    out = got.numpy()
    out = out.astype(np.float32) if got.dtype is pf.bfloat16 else out
    np.testing.assert_array_equal(out, as_numpy(want), err_msg=what)


def _cases():
    for k, (a, key) in enumerate(CASES):
        yield k, a, key


@pytest.mark.parametrize("form", ["list", "numpy", "host", "device"])
def test_keys_match_torch(form):
    """Every key of the table, its index tensors given in one form: values, shapes and dtypes
    exactly as torch (one program for all)."""
    got, want = [], []
    for _k, a, key in _cases():
        got.append(pf.from_numpy(a)[pf_key(key, form)])
        want.append(torch.from_numpy(a)[torch_key(key)])
    pf.eval(*[g for g in got if g.numel()])
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        check_same(g, w, f"case {k}: {CASES[k][1]}")


def test_list_keys_and_0d_index_tensors_match_torch():
    x, t = pf.from_numpy(A), torch.from_numpy(A)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's (and PyFlame's) nested-list deprecation
        for key in LIST_KEYS:
            check_same(x[key], t[key], str(key))
    at_hand = pf.from_numpy(np.array(-2, np.int32))
    lazy = pf.argmax(pf.from_numpy(np.array([0.0, 3.0, 1.0], np.float32)), 0)  # 1, on the device
    check_same(x[at_hand], t[torch.tensor(-2)])
    check_same(x[lazy], t[torch.tensor(1)])
    check_same(x[lazy, _, [0, 1]], t[torch.tensor(1), :, [0, 1]])  # selects first: [6, 2]
    check_same(x[[0, 1], lazy - 3, [0, 1]], t[[0, 1], torch.tensor(-2), [0, 1]])
    check_same(x[_, [0, 1], lazy], t[:, [0, 1], torch.tensor(1)])  # [5, 2]
    z, tz = pf.from_numpy(np.array(5.0, np.float32)), torch.tensor(5.0)
    for key in (True, False, (None, True), (True, Ellipsis, None)):
        check_same(z[key], tz[key], str(key))
    check_same(x[np.array(3)], t[np.array(3)])
    check_same(x[np.int64(3), [1]], t[np.int64(3), [1]])


def test_a_list_holding_sequences_is_a_tuple_with_torchs_warning():
    x, t = pf.from_numpy(A), torch.from_numpy(A)
    with pytest.warns(UserWarning, match="non-tuple sequence for multidimensional indexing"):
        got = x[[[0, 1], [2, 3]]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = t[[[0, 1], [2, 3]]]
    check_same(got, want)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_every_layout_and_inside_a_program(layout):
    """x placed in each layout, indices at hand and computed on the device, results used by
    more ops (a matmul, an add) in the same program."""
    x = pf.from_numpy(A, layout=layout)
    t = torch.from_numpy(A)
    keys = [CASES[k][1] for k in (12, 13, 14, 15, 17, 21, 26, 29, 35)]
    got, want = [], []
    for form in ("host", "device"):
        for key in keys:
            got.append(x[pf_key(key, form)])
            want.append(t[torch_key(key)])
    w = data((7, 3), seed=8)
    got.append(x[[4, 0, 4], 1:3] @ pf.from_numpy(w))
    want.append(t[[4, 0, 4], 1:3] @ torch.from_numpy(w))
    got.append((x * 2)[MASK2] + 1)  # a lazy x
    want.append((t * 2)[torch.from_numpy(MASK2)] + 1)
    pf.eval(*got)
    for k, (g, wnt) in enumerate(zip(got, want, strict=True)):
        assert list(g.shape) == list(wnt.shape), k
        np.testing.assert_allclose(g.numpy(), wnt.numpy(), rtol=1e-6, atol=1e-6, err_msg=str(k))


@pytest.mark.parametrize("dtype", list(TORCH_DTYPE), ids=str)
def test_every_dtype(dtype):
    a = (A * 4).round()
    x = pf.from_numpy(a).to(dtype)
    t = torch.from_numpy(a).to(TORCH_DTYPE[dtype])
    keys = [CASES[k][1] for k in (12, 13, 16, 18, 21, 29, 34, 37)]
    got = [x[pf_key(key, "device")] for key in keys] + [x[pf_key(key, "host")] for key in keys]
    want = [t[torch_key(key)] for key in keys] * 2
    pf.eval(*got)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        check_same(g, w, str(k))


def test_nan_and_inf_elsewhere_do_not_leak():
    a = np.array([[np.nan, 1.0, np.inf], [-2.0, -np.inf, 3.0]], np.float32)
    x = pf.from_numpy(a)
    np.testing.assert_array_equal(x[[1, 0], [0, 1]].numpy(), [-2.0, 1.0])
    np.testing.assert_array_equal(x[:, [2, 2]].numpy(), a[:, [2, 2]])


GRAD_CASES = [
    (I(0, 0, 4, 0),),  # repeated rows accumulate
    (_, I(1, 1, -1).reshape(3, 1)),
    (I(0, 0, 3), _, I(2, 2, 2)),
    (None, I(4, 4), I(5, 5), I(6, 6)),
    (1, I(0, 0), slice(1, 5, 2)),
    (MASK2,),
    (MASK1, I(3, 3, 0)),
    (I(),),
    (True, 0),
]


@pytest.mark.parametrize(
    "layout", [None, pf.MeshLayout.grid(3, 2), pf.MeshLayout.grid(2, 3)], ids=repr
)
@pytest.mark.parametrize("form", ["host", "device"])
def test_gradients_match_torch(layout, form):
    """x's gradient is a scatter-add into the indexed positions (repeats add up, as torch's
    index backward); the index tensors get none."""
    res = {}
    for lib in (pf, torch):
        x = pf.from_numpy(A, layout=layout) if lib is pf else torch.from_numpy(A)
        x.requires_grad = True
        loss = 0
        outs = []
        for k, key in enumerate(GRAD_CASES):
            out = x[pf_key(key, form)] if lib is pf else x[torch_key(key)]
            w = data(tuple(out.shape), seed=10 + k)
            loss = loss + (out * lib.from_numpy(w)).sum() * (k + 1)
            outs.append(out)
        loss.backward()
        res[lib] = [o.detach().numpy() for o in outs] + [x.grad.numpy()]
    for k, (g, w) in enumerate(zip(res[pf], res[torch], strict=True)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=str(k))


def test_gradient_of_an_empty_result_is_zeros_and_indices_get_none():
    x = pf.from_numpy(A[0]).requires_grad_()
    idx = pf.from_numpy(np.array([1, 1], np.int32))
    (x[[]].sum() + x[idx, idx].sum()).backward()
    want = np.zeros_like(A[0])
    want[1, 1] = 2
    np.testing.assert_array_equal(x.grad.numpy(), want)
    assert idx.grad is None and not idx.requires_grad


def test_training_with_advanced_indexing_matches_torch():
    """An embedding-like lookup by index list and a masked loss, two SGD steps, against torch."""
    w0, v0 = data((6, 4), seed=20), data((4, 3), seed=21)
    rows = np.array([[5, 0], [2, 2]], np.int64)
    target = data((2, 2, 3), seed=22)
    res = {}
    for lib in (pf, torch):
        w = lib.from_numpy(w0.copy()).requires_grad_()
        v = lib.from_numpy(v0.copy()).requires_grad_()
        opt = (pf.optim.SGD if lib is pf else torch.optim.SGD)([w, v], lr=0.1)
        idx = pf.from_numpy(rows) if lib is pf else torch.from_numpy(rows)
        tgt = lib.from_numpy(target)
        for _step in range(2):
            opt.zero_grad()
            pred = w[idx] @ v  # [2, 2, 3]
            err = pred - tgt
            loss = (err[err > 0] ** 2).sum() + (w[:, [0, 3]] ** 2).sum() * 0.1
            loss.backward()
            opt.step()
        res[lib] = [w.detach().numpy().copy(), v.detach().numpy().copy()]
    for g, want in zip(res[pf], res[torch], strict=True):
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)


class _Picked(pf.nn.Module):
    """A linear layer whose outputs are picked by an index list (repeated) and whose rows are
    reordered by an index computed on the device."""

    def __init__(self, w, b):
        super().__init__()
        self.fc = pf.nn.Linear(6, 5)
        self.fc.load_state_dict({"weight": w, "bias": b})

    def forward(self, x):
        h = self.fc(x)[:, [4, 0, 2, 2]]
        order = pf.argsort(x[:, 0])  # on the device: gathered and checked after the run
        return h[order] + h


def test_a_trainer_with_advanced_indexing_compiles_once_and_matches_torch():
    w, b = data((5, 6), seed=30), data(5, seed=31)
    xs, ys = data((8, 6), seed=32), data((8, 4), seed=33)
    batches = [(xs[:4], ys[:4]), (xs[4:], ys[4:])]
    model = _Picked(w, b)
    losses: list[float] = []
    trainer = pf.training.Trainer(
        model,
        pf.optim.SGD(model.parameters(), lr=0.05),
        pf.nn.MSELoss(),
        pf.training.TrainerConfig(
            progress_bar=False,
            max_epochs=2,
            callbacks=[
                pf.training.LambdaCallback(
                    on_step_end=lambda tr, step, logs: losses.append(logs["loss"])
                )
            ],
        ),
    )
    pf.cache_clear()
    trainer.fit(batches)
    assert pf.cache_info().misses == 1  # new index values are data, not a new program
    fc = torch.nn.Linear(6, 5)
    fc.load_state_dict({"weight": torch.from_numpy(w), "bias": torch.from_numpy(b)})
    opt = torch.optim.SGD(fc.parameters(), lr=0.05)
    expected = []
    for _epoch in range(2):
        for xb, yb in batches:
            opt.zero_grad()
            x = torch.from_numpy(xb)
            h = fc(x)[:, [4, 0, 2, 2]]
            loss = torch.nn.functional.mse_loss(h[torch.argsort(x[:, 0])] + h, torch.from_numpy(yb))
            loss.backward()
            opt.step()
            expected.append(loss.item())
    np.testing.assert_allclose(losses, expected, rtol=1e-5, atol=1e-6)


def test_augmented_assignment_through_an_index_list_matches_torch():
    """`x[idx] += v` reads x[idx] (advanced) and writes it back (pyflame/index_set.py): a
    repeated index is added once, as in torch."""
    a = A[0].copy()
    x, t = pf.from_numpy(a), torch.from_numpy(a.copy())
    x[[0, 3, 0]] += 1.0
    t[[0, 3, 0]] += 1.0
    x[:, [1, -1]] *= pf.from_numpy(np.array([2.0, 3.0], np.float32))
    t[:, [1, -1]] *= torch.tensor([2.0, 3.0])
    x[x > 1] -= 5
    t[t > 1] -= 5
    np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-6)


def test_the_result_is_a_copy_not_a_view():
    x, t = pf.from_numpy(A[0]), torch.from_numpy(A[0].copy())
    y, u = x[[0, 1]], t[[0, 1]]
    x.add_(1)
    t.add_(1)
    np.testing.assert_array_equal(y.numpy(), u.numpy())
    y.mul_(0)  # writes to the copy only
    np.testing.assert_allclose(x.numpy(), t.numpy())


def _flame_ops(t) -> set[str]:
    text = pf.ir(t, stage="flame")
    return {word for word in text.split() if word.startswith("flame.") and "(" not in word}


def test_reads_rows_through_gather_rows():
    """One flame.gather_rows, no comparison with every position (no iota one-hot); indices at
    hand are merged on the host (no int ops on the device)."""
    x = pf.from_numpy(A)
    found = _flame_ops(x[[0, 3], :, [2, 1]])
    assert "flame.gather_rows" in found and "flame.iota" not in found, found
    assert not found & {"flame.mul", "flame.add", "flame.where"}, found


def _raises_here(exc, match, fn):
    """`fn()` raises `exc` whose message names this file and the line of the call."""
    line = inspect.currentframe().f_back.f_lineno
    with pytest.raises(exc, match=match) as err:
        fn()
    assert f"test_advanced_indexing.py:{line}" in str(err.value), str(err.value)
    return err.value


def _torch_raises(exc, match, fn):
    with pytest.raises(exc, match=match):
        fn()


def test_errors_match_torchs():
    x, t = pf.from_numpy(A[0, :4]), torch.from_numpy(A[0, :4])  # [4, 7]
    bad = "index 7 is out of bounds for dimension 0 with size 4"
    for key in ([7], np.array([1, 7]), pf.from_numpy(np.array([[7]], np.int32))):
        _raises_here(IndexError, bad, lambda key=key: x[key])
    _torch_raises(IndexError, bad, lambda: t[[7]])
    neg = "index -5 is out of bounds for dimension 0 with size 4"
    _raises_here(IndexError, neg, lambda: x[[-5]])
    _torch_raises(IndexError, neg, lambda: t[[-5]])
    second = "index 9 is out of bounds for dimension 1 with size 7"  # the second index
    _raises_here(IndexError, second, lambda: x[[0], [9]])
    _torch_raises(IndexError, second, lambda: t[[0], [9]])
    lazy = pf.from_numpy(np.array([1, 7], np.int32)) * 1
    out = x[lazy]  # known after the run: raised by pf.eval, naming this line
    line = inspect.currentframe().f_lineno - 1
    with pytest.raises(IndexError, match=bad) as err:
        out.numpy()
    assert f"test_advanced_indexing.py:{line}" in str(err.value)
    picked = x[lazy - 6, [0, 1]]  # -5 after the run
    line = inspect.currentframe().f_lineno - 1
    with pytest.raises(IndexError, match=neg) as err:
        (picked * 2).numpy()
    assert f"test_advanced_indexing.py:{line}" in str(err.value)
    mask = "The shape of the mask \\[3\\] at index 0 does not match the shape of the indexed "
    mask += "tensor \\[4, 7\\] at index 0"
    _raises_here(IndexError, mask, lambda: x[[True, False, True]])
    _torch_raises(IndexError, mask, lambda: t[[True, False, True]])
    mask_dim1 = "mask \\[4\\] at index 0 does not match the shape of the indexed tensor \\[4, 7\\] "
    mask_dim1 += "at index 1"
    _raises_here(IndexError, mask_dim1, lambda: x[:, M(1, 0, 1, 1)])
    _torch_raises(IndexError, mask_dim1, lambda: t[:, torch.tensor([True, False, True, True])])
    broadcast = "shape mismatch: indexing tensors could not be broadcast together with shapes "
    broadcast += "\\[2\\], \\[3\\]"
    _raises_here(IndexError, broadcast, lambda: x[[0, 1], [0, 1, 2]])
    _torch_raises(IndexError, broadcast, lambda: t[[0, 1], [0, 1, 2]])
    floats = "tensors used as indices must be long, int, byte or bool tensors"
    for key in (pf.from_numpy(np.array([1.0], np.float32)), np.array([0.5])):
        with pytest.raises(IndexError, match=floats):
            x[key]
    _torch_raises(IndexError, floats, lambda: t[torch.tensor([1.0])])
    scalar = "only integers, slices \\(`:`\\), ellipsis \\(`...`\\), None and long or byte"
    with pytest.raises(IndexError, match=scalar + ".*got float"):
        x[0.5]
    _torch_raises(IndexError, scalar, lambda: t[0.5])
    with pytest.raises(IndexError, match=scalar + ".*got numpy.bool"):
        x[np.bool_(True)]
    _torch_raises(IndexError, scalar, lambda: t[np.bool_(True)])
    many = "too many indices for tensor of dimension 2"
    _raises_here(IndexError, many, lambda: x[[0], 1, [2]])
    _torch_raises(IndexError, many, lambda: t[[0], 1, [2]])
    empty_dim = "index is out of bounds for dimension with size 0"
    e = pf.from_numpy(np.zeros((0, 3), np.float32))
    _raises_here(IndexError, empty_dim, lambda: e[[0]])
    _torch_raises(IndexError, empty_dim, lambda: torch.zeros(0, 3)[[0]])
    check_same(e[:, [5]], torch.zeros(0, 3)[:, [5]])  # nothing read: no check (as torch)
    assert isinstance(_raises_here(IndexError, bad, lambda: x[[7]]), pf.ShapeError)


def test_a_mask_computed_on_the_device_is_read_when_the_op_is_built():
    """x[mask] has as many rows as the mask has True elements: the mask is evaluated when the
    op is built (a sync point, like .item()), then its positions are static indices."""
    x = pf.from_numpy(A[0])
    mask = x.sum(1) > 0  # lazy
    assert mask._data is None
    out = x[mask]
    assert mask._data is not None  # evaluated
    assert out.shape == (int((A[0].sum(1) > 0).sum()), 7)
    np.testing.assert_array_equal(out.numpy(), A[0][A[0].sum(1) > 0])


def test_take_of_a_0d_index_is_a_copy_and_compiles_once():
    """torch.take with a 0-d index (at hand or computed) returns a new 0-d tensor: an in-place
    op on it leaves x alone. A 0-d host index selected like an int (a view: `add_` on the
    result wrote x) and compiled a program per index value (fuzzer program_for(3127, 53))."""
    a = np.arange(14, dtype=np.float32).reshape(2, 7)
    results = {}
    for lib in (pf, torch):
        x = lib.from_numpy(a.copy())
        index = lib.from_numpy(np.array(-3, np.int32 if lib is pf else np.int64))
        taken = lib.take(x, index)
        taken.add_(100)
        computed = x.take(lib.argmax(x))  # (a 0-d index on the device)
        results[lib] = (x.numpy().copy(), taken.numpy(), tuple(taken.shape), computed.numpy())
    for got, want in zip(results[pf], results[torch], strict=True):
        np.testing.assert_array_equal(got, want)
    with pf.target(pf.sim.SMALL):
        x = pf.from_numpy(a, layout=pf.MeshLayout.grid(1, 4))
        pf.cache_clear()
        values = [x.take(pf.from_numpy(np.array(i, np.int32))).item() for i in (5, -3, 13)]
        assert values == [5.0, 11.0, 13.0]
        assert pf.cache_info().misses == 1
