"""Inputs PyTorch refuses, which PyFlame used to accept with a meaningless result: each is now
PyTorch's error, naming the user's line (pyflame/ops/elementwise.py, reductions.py, sorting.py,
nn/activation.py). Every case is checked against torch first: where torch raises, we raise;
where it promotes or accepts, we give its dtype and values."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
import pyflame.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

pytestmark = pytest.mark.usefixtures("small_target")

MASK = np.array([[True, False, True], [False, False, True]])
INTS = np.array([[1, -2, 3], [0, 5, -7]], np.int32)

SUBTRACTIONS = {
    "bool - bool": lambda b, k: b - b,
    "bool - 1": lambda b, k: b - 1,
    "1 - bool": lambda b, k: 1 - b,
    "bool - int": lambda b, k: b - k,
    "int - bool": lambda b, k: k - b,
    "int - True": lambda b, k: k - True,
    "sub(bool, bool)": lambda b, k: b.sub(b),
    "-bool": lambda b, k: -b,
    "neg(bool)": lambda b, k: b.neg(),
}


@pytest.mark.parametrize("case", SUBTRACTIONS, ids=str)
def test_subtraction_and_negation_of_bools_raise_torchs_error(case):
    build = SUBTRACTIONS[case]
    with pytest.raises(RuntimeError) as theirs:
        build(torch.from_numpy(MASK), torch.from_numpy(INTS))
    words = str(theirs.value).split(".")[0]  # "Subtraction, the `-` operator, with ... supported"
    with pytest.raises(
        RuntimeError, match=r"test_torch_refusals.py:\d+: " + words.replace("`", ".")
    ):
        build(pf.from_numpy(MASK), pf.from_numpy(INTS))


def test_in_place_subtraction_of_bools_raises_too():
    with pytest.raises(RuntimeError, match="Subtraction, the `-` operator, with a bool tensor"):
        pf.from_numpy(MASK).sub_(1)
    with pytest.raises(RuntimeError, match="Negation, the `-` operator, on a bool tensor"):
        pf.from_numpy(MASK).neg_()


def test_subtraction_that_torch_accepts_still_works():
    k, x = pf.from_numpy(INTS), pf.from_numpy(INTS.astype(np.float32))
    np.testing.assert_array_equal((k - 1).numpy(), INTS - 1)
    np.testing.assert_array_equal((x - k).numpy(), INTS.astype(np.float32) - INTS)
    np.testing.assert_array_equal((~pf.from_numpy(MASK)).numpy(), ~MASK)  # the mask inverted


REFUSED = {
    "argmax(bool)": (
        lambda lib, b, k: lib.argmax(b),
        RuntimeError,
        "argmax\\(\\): does not support bool",
    ),
    "argmin(bool)": (
        lambda lib, b, k: b.argmin(dim=1),
        RuntimeError,
        "argmin\\(\\): does not support bool",
    ),
    "topk(bool)": (lambda lib, b, k: lib.topk(b, 2), RuntimeError, "topk does not support bool"),
    "ceil(bool)": (lambda lib, b, k: lib.ceil(b), NotImplementedError, "ceil"),
    "lerp(int)": (lambda lib, b, k: lib.lerp(k, k, 0.5), NotImplementedError, "lerp"),
}
ACTIVATIONS = ["gelu", "silu", "elu", "selu", "celu", "leaky_relu", "softplus", "mish"]
ACTIVATIONS += ["hardswish", "hardsigmoid", "logsigmoid", "glu"]


@pytest.mark.parametrize("case", REFUSED, ids=str)
def test_ops_without_a_bool_or_int_kernel_raise_as_torch(case):
    build, error, words = REFUSED[case]
    with pytest.raises(error):
        build(torch, torch.from_numpy(MASK), torch.from_numpy(INTS))
    with pytest.raises(error, match=rf"test_torch_refusals.py:\d+: {words}"):
        build(pf, pf.from_numpy(MASK), pf.from_numpy(INTS))


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("array", [INTS, MASK], ids=["int", "bool"])
def test_float_only_activations_refuse_integers_and_bools_as_torch(name, array):
    data = np.concatenate([array, array])  # (glu halves dim -1... of an even size: dim 0)
    kwargs = {"dim": 0} if name == "glu" else {}
    with pytest.raises(NotImplementedError):
        getattr(TF, name)(torch.from_numpy(data), **kwargs)
    with pytest.raises(
        NotImplementedError,
        match=rf"test_torch_refusals.py:\d+: {name} is not implemented for pf\.",
    ):
        getattr(F, name)(pf.from_numpy(data), **kwargs)


def test_what_torch_promotes_or_accepts_keeps_working_as_torch():
    """exp, sigmoid, tanh, softsign of integers give float32; sign of bool is bool; relu,
    hardtanh and max of integers stay integers; argmax of ints and max along a dim of bool
    work, as in PyTorch."""
    b, k = pf.from_numpy(MASK), pf.from_numpy(INTS)
    tb, tk = torch.from_numpy(MASK), torch.from_numpy(INTS)
    pairs = [
        (pf.exp(k), torch.exp(tk)),
        (pf.sigmoid(b), torch.sigmoid(tb)),
        (F.tanh(k), TF.tanh(tk)),
        (F.softsign(k), TF.softsign(tk)),
        (pf.sign(b), torch.sign(tb)),
        (F.relu(k), TF.relu(tk)),
        (F.hardtanh(k), TF.hardtanh(tk)),
        (pf.argmax(k, 1), torch.argmax(tk, 1)),
        (b.max(0).values, tb.max(0).values),
        (b.max(0).indices, tb.max(0).indices),
    ]
    for got, want in pairs:
        assert got.dtype.numpy == (np.int32 if want.dtype == torch.int64 else want.numpy().dtype)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
