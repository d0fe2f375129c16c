"""pf.nn's Module system and layers against torch.nn: forward after loading the torch module's
state dict, state_dict keys and shapes both ways, train/eval behaviour (Dropout, BatchNorm's
running statistics), default initialisation, parameter names, gradients, and every snippet of
the migration guide's model sections as written."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")
tnn = torch.nn


pytestmark = pytest.mark.usefixtures("small_target")


@pytest.fixture(autouse=True)
def no_leaked_updates():
    yield
    pf.runtime.clear_pending_updates()  # a failed pf.eval must not leak updates into the next test


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def close(got, want, rtol=1e-4, atol=1e-5):
    want = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
    np.testing.assert_allclose(
        np.asarray(got.numpy(), np.float64), want.astype(np.float64), rtol=rtol, atol=atol
    )


def twin(make):
    """The same layer from torch.nn and pf.nn, the pf one holding the torch one's state (with
    the running statistics of BatchNorm made random first, so they matter)."""
    torch.manual_seed(0)
    t = make(tnn)
    for name, buf in t.named_buffers():
        if name.endswith("running_mean"):
            buf.copy_(torch.randn(buf.shape))
        elif name.endswith("running_var"):
            buf.copy_(torch.rand(buf.shape) + 0.5)
    p = make(nn)
    p.load_state_dict(t.state_dict())
    return t, p


# --------------------------------------------------------------------------- forward vs torch

X4 = rand(2, 4, 7, 7)
X2 = rand(3, 6)
IDX = np.array([[1, 0, 9], [3, 1, 1]], np.int32)

FORWARD_CASES = {
    "linear": (lambda m: m.Linear(6, 5), X2),
    "linear_no_bias_3d": (lambda m: m.Linear(6, 5, bias=False), rand(2, 3, 6)),
    "conv_pad": (lambda m: m.Conv2d(4, 6, 3, padding=1), X4),
    "conv_stride_dilation": (lambda m: m.Conv2d(4, 6, (3, 2), stride=2, dilation=(1, 2)), X4),
    "conv_groups_no_bias": (lambda m: m.Conv2d(4, 6, 3, padding=1, groups=2, bias=False), X4),
    "conv_same_chw": (lambda m: m.Conv2d(4, 3, 5, padding="same"), X4[0]),
    # padding_mode: F.pad in that mode, then padding 0 (session 23: NotImplementedError)
    "conv_reflect": (lambda m: m.Conv2d(4, 6, 3, padding=(2, 1), padding_mode="reflect"), X4),
    "conv_replicate_stride": (
        lambda m: m.Conv2d(4, 6, 3, stride=2, padding=1, padding_mode="replicate"),
        X4,
    ),
    "conv_circular_same": (
        lambda m: m.Conv2d(4, 3, 4, padding="same", dilation=2, padding_mode="circular"),
        X4,
    ),
    "batchnorm2d": (lambda m: m.BatchNorm2d(4), X4),
    "batchnorm2d_no_affine": (lambda m: m.BatchNorm2d(4, affine=False, momentum=0.3), X4),
    "batchnorm1d": (lambda m: m.BatchNorm1d(6), X2),
    "layernorm": (lambda m: m.LayerNorm(6), rand(2, 3, 6)),
    "layernorm_2d_no_affine": (
        lambda m: m.LayerNorm((3, 6), elementwise_affine=False),
        rand(2, 3, 6),
    ),
    "rmsnorm": (lambda m: m.RMSNorm(6), rand(2, 3, 6)),
    "rmsnorm_2d_eps_no_affine": (
        lambda m: m.RMSNorm((3, 6), eps=1e-3, elementwise_affine=False),
        rand(2, 3, 6),
    ),
    "embedding": (lambda m: m.Embedding(10, 4), IDX),
    "embedding_padding": (lambda m: m.Embedding(10, 4, padding_idx=1), IDX),
    "relu": (lambda m: m.ReLU(), X2),
    "gelu": (lambda m: m.GELU(), X2),
    "gelu_tanh": (lambda m: m.GELU(approximate="tanh"), X2),
    "silu": (lambda m: m.SiLU(), X2),
    "leaky_relu": (lambda m: m.LeakyReLU(0.2), X2),
    "sigmoid": (lambda m: m.Sigmoid(), X2),
    "tanh": (lambda m: m.Tanh(), X2),
    "softmax": (lambda m: m.Softmax(dim=-1), X2),
    "log_softmax": (lambda m: m.LogSoftmax(dim=1), X2),
    "flatten": (lambda m: m.Flatten(), X4),
    "identity": (lambda m: m.Identity(), X2),
    "dropout_eval": (lambda m: m.Dropout(0.3), X2),
    "max_pool": (lambda m: m.MaxPool2d(2), X4),
    "avg_pool": (lambda m: m.AvgPool2d(3, stride=2, padding=1), X4),
    "adaptive_avg_pool": (lambda m: m.AdaptiveAvgPool2d(1), X4),
    "sequential": (
        lambda m: m.Sequential(
            m.Conv2d(4, 4, 3, padding=1), m.BatchNorm2d(4), m.ReLU(), m.Flatten(), m.Linear(196, 3)
        ),
        X4,
    ),
}


@pytest.mark.parametrize("case", sorted(FORWARD_CASES))
def test_forward_matches_torch_after_load_state_dict(case):
    make, x = FORWARD_CASES[case]
    t, p = twin(make)
    t.eval()
    p.eval()
    tx = torch.from_numpy(x).long() if x.dtype == np.int32 else torch.from_numpy(x)
    close(p(pf.from_numpy(x)), t(tx))


def test_batchnorm_training_forward_and_running_stats_match_torch():
    t, p = twin(lambda m: m.BatchNorm2d(4))
    x = rand(3, 4, 5, 5, seed=1)
    y = p(pf.from_numpy(x))
    # PyTorch counts the batch in the forward: reading the count applies the pending update
    assert p.num_batches_tracked.numpy() == 1
    want = t(torch.from_numpy(x))
    pf.eval(y)  # runs the forward and applies the pending running-statistics updates
    close(y, want)
    for name in ("running_mean", "running_var"):
        close(getattr(p, name), getattr(t, name))
    assert p.num_batches_tracked.dtype is pf.int32
    assert int(p.num_batches_tracked.item()) == 1
    # a second step builds on the first; eval mode then uses the running statistics
    x2 = rand(3, 4, 5, 5, seed=2)
    pf.eval(p(pf.from_numpy(x2)))
    t(torch.from_numpy(x2))
    close(p.running_var, t.running_var)
    assert int(p.num_batches_tracked.item()) == 2
    t.eval()
    p.eval()
    close(p(pf.from_numpy(x)), t(torch.from_numpy(x)))
    assert int(p.num_batches_tracked.item()) == 2  # eval mode updates nothing


def test_two_training_forwards_before_one_eval_apply_both_updates():
    t, p = twin(lambda m: m.BatchNorm2d(3, momentum=None))  # cumulative average as well
    xs = [rand(2, 3, 4, 4, seed=s) for s in (3, 4)]
    ys = [p(pf.from_numpy(x)) for x in xs]
    wants = [t(torch.from_numpy(x)) for x in xs]
    pf.eval(*ys)
    for y, want in zip(ys, wants, strict=True):
        close(y, want)
    close(p.running_mean, t.running_mean)
    close(p.running_var, t.running_var)
    assert int(p.num_batches_tracked.item()) == 2


def test_batchnorm_without_running_stats_uses_batch_statistics():
    t, p = twin(lambda m: m.BatchNorm2d(4, track_running_stats=False))
    assert p.running_mean is None and "running_mean" not in p.state_dict()
    t.eval()
    p.eval()
    close(p(pf.from_numpy(X4)), t(torch.from_numpy(X4)))


def test_dropout_train_and_eval():
    d = nn.Dropout(0.25)
    x = pf.ones(32, 32)
    y = d(x).numpy()
    kept = y != 0
    assert 0.6 < kept.mean() < 0.9
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    d.eval()
    assert d(x) is x  # identity: no op in the eval graph
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_train_and_eval_set_training_recursively():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2)))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


# --------------------------------------------------------------------------- MultiheadAttention

MHA_CASES = {
    "seq_first": ({}, {}),
    "batch_first_no_bias": ({"batch_first": True, "bias": False}, {}),
    "bool_masks": ({"batch_first": True}, {"masks": "bool"}),
    "float_mask_per_head": ({}, {"masks": "float", "average_attn_weights": False}),
    "no_weights": ({"batch_first": True}, {"need_weights": False, "masks": "bool"}),
    "kdim_vdim": ({"kdim": 5, "vdim": 3, "batch_first": True}, {}),
    "unbatched": ({}, {"unbatched": True}),
}


@pytest.mark.parametrize("case", sorted(MHA_CASES))
def test_multihead_attention_matches_torch(case):
    kwargs, call = MHA_CASES[case]
    call = dict(call)
    t, p = twin(lambda m: m.MultiheadAttention(8, 2, **kwargs))
    n, length, source = 2, 3, 4
    kd, vd = kwargs.get("kdim", 8), kwargs.get("vdim", 8)
    bf = kwargs.get("batch_first", False)
    shape = (lambda s, e: (n, s, e)) if bf else (lambda s, e: (s, n, e))
    q, k, v = (
        rand(*shape(length, 8), seed=1),
        rand(*shape(source, kd), seed=2),
        rand(*shape(source, vd), seed=3),
    )
    if call.pop("unbatched", False):
        q, k, v = q[:, 0], k[:, 0], v[:, 0]
    masks = call.pop("masks", None)
    pk, tk = {}, {}
    if masks == "bool":
        am = np.zeros((length, source), bool)
        am[0, 1] = am[2, 3] = True
        kpm = np.zeros((n, source), bool)
        kpm[1, 0] = True
        pk = {"attn_mask": pf.from_numpy(am), "key_padding_mask": pf.from_numpy(kpm)}
        tk = {"attn_mask": torch.from_numpy(am), "key_padding_mask": torch.from_numpy(kpm)}
    elif masks == "float":
        am = rand(n * 2, length, source, seed=4)
        pk, tk = {"attn_mask": pf.from_numpy(am)}, {"attn_mask": torch.from_numpy(am)}
    t.eval()
    p.eval()
    got = p(pf.from_numpy(q), pf.from_numpy(k), pf.from_numpy(v), **pk, **call)
    want = t(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v), **tk, **call)
    pf.eval(*[g for g in got if g is not None])
    close(got[0], want[0], atol=1e-5)
    if want[1] is None:
        assert got[1] is None
    else:
        close(got[1], want[1], atol=1e-6)


def test_multihead_attention_parameters_and_init():
    pf.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2)
    names = [n for n, _ in mha.named_parameters()]
    assert names == [n for n, _ in tnn.MultiheadAttention(8, 2).named_parameters()]
    assert names == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    w = mha.in_proj_weight.numpy()
    assert w.shape == (24, 8) and np.abs(w).max() <= math.sqrt(6 / (8 + 24))
    assert not mha.in_proj_bias.numpy().any() and not mha.out_proj.bias.numpy().any()
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.MultiheadAttention(8, 3)


# --------------------------------------------------------------------------- losses

LOSS_CASES = {
    "mse": (lambda m: m.MSELoss(), "float"),
    "mse_sum": (lambda m: m.MSELoss(reduction="sum"), "float"),
    "l1_none": (lambda m: m.L1Loss(reduction="none"), "float"),
    "ce": (lambda m: m.CrossEntropyLoss(), "index"),
    "ce_options": (lambda m: m.CrossEntropyLoss(ignore_index=2, label_smoothing=0.1), "index"),
    "ce_weight_sum": (
        lambda m: m.CrossEntropyLoss(
            weight=(torch.tensor if m is tnn else pf.from_numpy)(
                np.array([0.5, 1.0, 2.0, 1.5, 0.2], np.float32)
            ),
            reduction="sum",
        ),
        "index",
    ),
    "nll": (lambda m: m.NLLLoss(), "index"),
}


@pytest.mark.parametrize("case", sorted(LOSS_CASES))
def test_losses_match_torch(case):
    make, kind = LOSS_CASES[case]
    x = rand(6, 5)
    y = rand(6, 5, seed=1) if kind == "float" else np.array([0, 4, 2, 2, 1, 3], np.int32)
    ty = torch.from_numpy(y) if kind == "float" else torch.from_numpy(y).long()
    close(make(nn)(pf.from_numpy(x), pf.from_numpy(y)), make(tnn)(torch.from_numpy(x), ty))


def test_weighted_loss_keeps_its_weight_in_the_state_dict():
    w = np.array([1.0, 2.0], np.float32)
    assert list(nn.CrossEntropyLoss(weight=pf.from_numpy(w)).state_dict()) == list(
        tnn.CrossEntropyLoss(weight=torch.from_numpy(w)).state_dict()
    )
    assert list(nn.CrossEntropyLoss().state_dict()) == []


# --------------------------------------------------------------------------- state dicts

STATE_CASES = {
    "linear": lambda m: m.Linear(6, 5),
    "linear_no_bias": lambda m: m.Linear(6, 5, bias=False),
    "conv": lambda m: m.Conv2d(4, 6, 3, groups=2),
    "batchnorm2d": lambda m: m.BatchNorm2d(4),
    "batchnorm_no_affine_no_stats": lambda m: m.BatchNorm2d(
        4, affine=False, track_running_stats=False
    ),
    "batchnorm1d": lambda m: m.BatchNorm1d(4),
    "layernorm": lambda m: m.LayerNorm((3, 6)),
    "layernorm_no_bias": lambda m: m.LayerNorm(6, bias=False),
    "rmsnorm": lambda m: m.RMSNorm((3, 6), eps=1e-6),
    "embedding": lambda m: m.Embedding(10, 4, padding_idx=0),
    "mha": lambda m: m.MultiheadAttention(8, 2),
    "mha_kdim": lambda m: m.MultiheadAttention(8, 2, kdim=3, vdim=5),
    "activations": lambda m: m.Sequential(
        m.ReLU(),
        m.GELU(),
        m.Sigmoid(),
        m.Tanh(),
        m.Softmax(dim=1),
        m.Dropout(),
        m.Flatten(),
        m.Identity(),
    ),
    "nested": lambda m: m.Sequential(
        m.Linear(2, 3), m.ModuleList([m.BatchNorm1d(3), m.LayerNorm(3)])
    ),
}


@pytest.mark.parametrize("case", sorted(STATE_CASES))
def test_state_dict_keys_and_shapes_equal_torch(case):
    make = STATE_CASES[case]
    t, p = make(tnn), make(nn)
    tsd, psd = t.state_dict(), p.state_dict()
    assert list(psd) == list(tsd)
    assert [tuple(v.shape) for v in psd.values()] == [tuple(v.shape) for v in tsd.values()]
    for key, value in psd.items():
        assert isinstance(value, pf.Tensor)
        assert value.dtype is (pf.int32 if key.endswith("num_batches_tracked") else pf.float32)
    assert [n for n, _ in p.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in p.named_buffers()] == [n for n, _ in t.named_buffers()]
    # the reverse direction: PyFlame's state dict loads into torch
    t.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in psd.items()})
    for key, value in t.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), psd[key].numpy())


def test_pyflame_state_dict_drives_torch_forward():
    torch.manual_seed(1)
    pf.manual_seed(1)
    p = nn.Sequential(nn.Conv2d(4, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU())
    t = tnn.Sequential(tnn.Conv2d(4, 3, 3, padding=1), tnn.BatchNorm2d(3), tnn.ReLU())
    t.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in p.state_dict().items()})
    p.eval()
    t.eval()
    close(p(pf.from_numpy(X4)), t(torch.from_numpy(X4)))


def test_load_state_dict_keeps_the_parameter_objects():
    lin = nn.Linear(3, 2)
    w = lin.weight
    values = rand(2, 3)
    result = lin.load_state_dict({"weight": values, "bias": pf.from_numpy(rand(2))})
    assert lin.weight is w and w.requires_grad
    np.testing.assert_array_equal(w.numpy(), values)
    assert result.missing_keys == [] and result.unexpected_keys == []
    values[0, 0] = 100.0  # the module holds a copy
    assert w.numpy()[0, 0] != 100.0


def test_state_dict_is_a_snapshot_without_gradients():
    lin = nn.Linear(3, 2)
    sd = lin.state_dict()
    assert not sd["weight"].requires_grad and sd["weight"] is not lin.weight
    lin.load_state_dict({"weight": np.zeros((2, 3), np.float32), "bias": np.zeros(2, np.float32)})
    assert sd["weight"].numpy().any()  # still the old values
    assert lin.state_dict(keep_vars=True)["weight"] is lin.weight


def test_load_state_dict_errors_name_the_key_and_change_nothing():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    before = model[0].weight.numpy().copy()
    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    bad = dict(sd, **{"0.weight": np.zeros((2, 3), np.float32), "0.bias": np.zeros(5, np.float32)})
    with pytest.raises(
        RuntimeError,
        match=r"size mismatch for 0\.bias: copying a param with "
        r"shape \[5\] from checkpoint, the shape in current "
        r"model is \[2\]",
    ):
        model.load_state_dict(bad)
    np.testing.assert_array_equal(model[0].weight.numpy(), before)
    partial = dict(sd)
    del partial["1.running_var"]
    partial["extra"] = np.zeros(1, np.float32)
    with pytest.raises(
        RuntimeError, match='(?s)Unexpected key.*"extra".*Missing key.*"1.running_var"'
    ):
        model.load_state_dict(partial)
    result = model.load_state_dict(partial, strict=False)
    assert result.missing_keys == ["1.running_var"] and result.unexpected_keys == ["extra"]
    with pytest.raises(RuntimeError, match="num_batches_tracked .* do not fit"):
        model.load_state_dict(dict(sd, **{"1.num_batches_tracked": np.array(2**40)}))


def test_load_state_dict_converts_torch_int64_counts():
    t = tnn.BatchNorm2d(2)
    t.num_batches_tracked.fill_(7)
    p = nn.BatchNorm2d(2)
    p.load_state_dict(t.state_dict())
    assert p.num_batches_tracked.dtype is pf.int32 and int(p.num_batches_tracked.item()) == 7


# --------------------------------------------------------------------------- initialisation


def test_default_initialisation_bounds_and_statistics():
    pf.manual_seed(0)
    lin = nn.Linear(300, 200)
    bound = 1 / math.sqrt(300)
    for t in (lin.weight, lin.bias):
        v = t.numpy()
        assert v.dtype == np.float32 and t.requires_grad and t.op is None
        assert np.abs(v).max() <= bound
    w = lin.weight.numpy()
    assert abs(w.mean()) < 0.05 * bound and abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    conv = nn.Conv2d(8, 16, 3, groups=2)
    cb = 1 / math.sqrt(4 * 9)
    assert np.abs(conv.weight.numpy()).max() <= cb and np.abs(conv.bias.numpy()).max() <= cb
    assert np.abs(conv.weight.numpy()).max() > 0.9 * cb
    bn = nn.BatchNorm2d(5)
    for t, value in ((bn.weight, 1), (bn.bias, 0), (bn.running_mean, 0), (bn.running_var, 1)):
        np.testing.assert_array_equal(t.numpy(), np.full(5, value, np.float32))
    assert bn.num_batches_tracked.shape == () and bn.num_batches_tracked.item() == 0
    assert (bn.momentum, bn.eps) == (0.1, 1e-5)
    ln = nn.LayerNorm(7)
    assert (ln.weight.numpy() == 1).all() and (ln.bias.numpy() == 0).all()
    emb = nn.Embedding(400, 50, padding_idx=3).weight.numpy()
    assert abs(emb.mean()) < 0.02 and abs(emb.std() - 1) < 0.02 and not emb[3].any()


def test_initialisation_is_reproducible_and_not_in_the_graph():
    pf.manual_seed(5)
    a = nn.Linear(4, 3)
    pf.manual_seed(5)
    b = nn.Linear(4, 3)
    c = nn.Linear(4, 3)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    assert not np.array_equal(b.weight.numpy(), c.weight.numpy())
    text = pf.ir(a(pf.from_numpy(rand(2, 4))))
    assert "random" not in text  # the weights are data arguments of @main


# --------------------------------------------------------------------------- Module mechanics


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(3, 3)
        self.b.weight = self.a.weight  # shared, as in weight tying
        self.scale = nn.Parameter(pf.ones(3))
        self.register_buffer("steps", pf.from_numpy(np.zeros((), np.int32)))
        self.register_buffer("cache", pf.zeros(3), persistent=False)
        self.note = "plain attribute"

    def forward(self, x):
        return self.b(self.a(x)) * self.scale


def test_registration_through_attributes():
    m = Tied()
    assert [n for n, _ in m.named_parameters()] == ["scale", "a.weight", "a.bias", "b.bias"]
    assert [n for n, _ in m.named_buffers()] == ["steps", "cache"]
    assert list(m.state_dict()) == ["scale", "steps", "a.weight", "a.bias", "b.weight", "b.bias"]
    assert [n for n, _ in m.named_children()] == ["a", "b"]
    assert len(list(m.modules())) == 3 and m.note == "plain attribute"
    assert m.get_submodule("a") is m.a and m.get_parameter("b.weight") is m.a.weight
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'scale'"):
        m.scale = pf.ones(3)
    m.scale = None
    assert [n for n, _ in m.named_parameters()][0] == "a.weight"
    del m.b
    assert not hasattr(m, "b") and "b.bias" not in m.state_dict()
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        m.missing  # noqa: B018


def test_assigning_before_init_is_an_error():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"before Module.__init__\(\) call"):
        Broken()


def test_forward_is_required():
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(pf.ones(2))


def test_containers():
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1], nn.ReLU)
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[1] is seq[2]
    seq.append(nn.Softmax(dim=-1))
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    with pytest.raises(IndexError):
        seq[4]
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
    layers.append(nn.Linear(2, 1))
    layers += [nn.ReLU()]
    assert len(layers) == 4 and [n for n, _ in layers.named_parameters()][-2:] == [
        "2.weight",
        "2.bias",
    ]
    del layers[0]
    assert list(layers.state_dict())[:2] == ["0.weight", "0.bias"]
    heads = nn.ModuleDict({"cls": nn.Linear(2, 3), "reg": nn.Linear(2, 1)})
    assert list(heads) == ["cls", "reg"] and "cls" in heads
    assert list(heads.state_dict()) == ["cls.weight", "cls.bias", "reg.weight", "reg.bias"]
    from collections import OrderedDict

    named = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.ReLU()))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]


def test_repr_like_torch():
    def make(m):
        return m.Sequential(
            m.Conv2d(3, 8, 3, padding=1),
            m.BatchNorm2d(8),
            m.ReLU(),
            m.Flatten(),
            m.Linear(8, 2, bias=False),
            m.Dropout(0.1),
            m.LayerNorm(2),
            m.Embedding(5, 2, padding_idx=0),
            m.GELU(),
            m.Softmax(dim=1),
            m.MaxPool2d(2),
            m.CrossEntropyLoss(),
        )

    assert repr(make(nn)) == repr(make(tnn))


def test_parameters_and_gradients():
    lin = nn.Linear(3, 2)
    lin.requires_grad_(False)
    assert not any(p.requires_grad for p in lin.parameters())
    lin.requires_grad_()
    x = pf.from_numpy(rand(4, 3))
    pf.backward(lin(x).sum())
    assert lin.weight.grad is not None
    lin.zero_grad()
    assert lin.weight.grad is None


def test_to_half_keeps_integer_buffers():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    w = model[0].weight
    assert model.to(pf.float16) is model and model[0].weight is w
    assert {t.dtype for t in model.parameters()} == {pf.float16}
    assert model[1].running_mean.dtype is pf.float16
    assert model[1].num_batches_tracked.dtype is pf.int32
    assert model.to("cpu") is model  # a device: nothing to do
    y = model.eval()(pf.from_numpy(rand(3, 4).astype(np.float16)))
    assert y.dtype is pf.float16 and np.isfinite(y.numpy()).all()


def test_backward_through_modules_matches_torch():
    def make(m):
        return m.Sequential(
            m.Conv2d(4, 3, 3, padding=1), m.BatchNorm2d(3), m.ReLU(), m.Flatten(), m.Linear(147, 5)
        )

    t, p = twin(make)
    target = np.array([1, 0], np.int32)
    with pf.autograd.enable_grad():
        loss = nn.CrossEntropyLoss()(p(pf.from_numpy(X4)), pf.from_numpy(target))
    pf.backward(loss)
    tloss = tnn.CrossEntropyLoss()(t(torch.from_numpy(X4)), torch.from_numpy(target).long())
    tloss.backward()
    grads = {n: q.grad for n, q in p.named_parameters()}
    pf.eval(loss, *grads.values())
    close(loss, tloss)
    for name, tp in t.named_parameters():
        close(grads[name], tp.grad, rtol=1e-3, atol=1e-5)


def test_embedding_padding_row_gets_no_gradient():
    t, p = twin(lambda m: m.Embedding(10, 4, padding_idx=1))
    pf.backward((p(pf.from_numpy(IDX)) * pf.from_numpy(rand(2, 3, 4))).sum())
    (t(torch.from_numpy(IDX).long()) * torch.from_numpy(rand(2, 3, 4))).sum().backward()
    close(p.weight.grad, t.weight.grad)
    assert not p.weight.grad.numpy()[1].any()


def test_layout_on_linear_and_conv():
    grid = pf.MeshLayout.grid(2, 2)
    t, p = twin(lambda m: m.Linear(6, 5) if m is tnn else m.Linear(6, 5, layout=grid))
    assert p.weight.layout == grid and p.bias.layout is None
    y = p(pf.from_numpy(X2))
    assert y.layout == grid
    close(y, t(torch.from_numpy(X2)))
    t, p = twin(
        lambda m: (
            m.Conv2d(4, 4, 3, padding=1) if m is tnn else m.Conv2d(4, 4, 3, padding=1, layout=grid)
        )
    )
    assert p.weight.layout == pf.MeshLayout.replicated(2, 2)
    y = p(pf.from_numpy(X4))
    assert y.layout == grid
    close(y, t(torch.from_numpy(X4)))
    assert "layout=MeshLayout.grid(2, 2)" in repr(p)


# --------------------------------------------------------------------------- the guide's snippets
# Copied as written from seed/pytorch-to-pyflame-migration-guide.md.


class ResBlock(nn.Module):  # "Model Construction Patterns": PyFlame Model Pattern
    def __init__(self, channels, layout=None):
        super().__init__()
        # Layout awareness: specify how weights are distributed
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, layout=layout)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, layout=layout)
        self.bn1 = nn.BatchNorm2d(channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.layout = layout

    def forward(self, x):
        residual = x
        x = pf.relu(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        x = pf.relu(x + residual)
        return x


class TorchResBlock(tnn.Module):  # "Model Construction Patterns": PyTorch Model Pattern
    def __init__(self, channels):
        super().__init__()
        self.conv1 = tnn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = tnn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = tnn.BatchNorm2d(channels)
        self.bn2 = tnn.BatchNorm2d(channels)

    def forward(self, x):
        residual = x
        x = torch.nn.functional.relu(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        x = torch.nn.functional.relu(x + residual)  # Skip connection
        return x


@pytest.mark.parametrize("layout", [None, pf.MeshLayout.grid(2, 2)], ids=repr)
def test_guide_resblock_matches_the_torch_resblock(layout):
    t = TorchResBlock(4)
    p = ResBlock(4, layout=layout)
    assert list(p.state_dict()) == list(t.state_dict())
    p.load_state_dict(t.state_dict())
    y = p(pf.from_numpy(X4))  # training mode: batch statistics, running stats pending
    want = t(torch.from_numpy(X4))
    pf.eval(y)
    close(y, want, atol=1e-5)
    close(p.bn2.running_var, t.bn2.running_var)
    p.eval()
    t.eval()
    close(p(pf.from_numpy(X4)), t(torch.from_numpy(X4)), atol=1e-5)


class SimpleNet(pf.nn.Module):  # "Common Migration Patterns", Pattern 1
    def __init__(self):
        super().__init__()
        self.fc1 = pf.nn.Linear(784, 256)
        self.fc2 = pf.nn.Linear(256, 10)

    def forward(self, x):
        x = pf.relu(self.fc1(x))
        return self.fc2(x)


def test_guide_pattern_1_simple_forward_pass():
    input_tensor = pf.from_numpy(rand(4, 784))
    model = SimpleNet()
    output = model(input_tensor)  # Builds graph
    pf.eval(output)  # Executes graph
    t = tnn.Sequential(tnn.Linear(784, 256), tnn.ReLU(), tnn.Linear(256, 10))
    t.load_state_dict(
        {
            k.replace("fc1", "0").replace("fc2", "2"): torch.from_numpy(np.array(v.numpy()))
            for k, v in model.state_dict().items()
        }
    )
    close(output, t(torch.from_numpy(rand(4, 784))), atol=1e-5)


class MyLayer(pf.nn.Module):  # "What Works the Same": Layer Definitions
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = pf.nn.Linear(in_features, out_features)

    def forward(self, x):
        return self.linear(x)


def test_guide_my_layer():
    layer = MyLayer(6, 5)
    assert [n for n, _ in layer.named_parameters()] == ["linear.weight", "linear.bias"]
    w, b = layer.linear.weight.numpy(), layer.linear.bias.numpy()
    close(layer(pf.from_numpy(X2)), X2 @ w.T + b)


class Model(pf.nn.Module):  # "Adapting Dynamic Patterns", Pattern 1: Training vs Inference
    def forward_train(self, x):
        x = pf.dropout(x, 0.5)
        return self.linear(x)

    def forward_eval(self, x):
        return self.linear(x)


def test_guide_forward_train_and_forward_eval():
    model = Model()
    model.linear = pf.nn.Linear(6, 5)  # the guide leaves the layer out
    x = pf.from_numpy(rand(64, 6))
    # Use different methods
    train_output = model.forward_train(x)
    eval_output = model.forward_eval(x)
    want = model.linear(x)
    pf.eval(train_output, eval_output, want)
    np.testing.assert_array_equal(eval_output.numpy(), want.numpy())
    assert not np.allclose(train_output.numpy(), want.numpy())
    # calling the module picks the method for the mode
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), want.numpy())
    model.train()
    assert not np.allclose(model(x).numpy(), want.numpy())


def test_forward_train_is_used_in_training_mode_and_forward_in_eval():
    class Net(nn.Module):
        def forward(self, x):
            return x + 1

        def forward_train(self, x):
            return x + 2

    net = Net()
    x = pf.zeros(2)
    assert net(x).numpy().tolist() == [2, 2]
    assert net.eval()(x).numpy().tolist() == [1, 1]

    class OnlyTrain(nn.Module):
        def forward_train(self, x):
            return x

    with pytest.raises(
        NotImplementedError, match="defines forward_train but no forward for eval mode"
    ):
        OnlyTrain().eval()(x)


def test_forward_for_the_mode_found_wherever_getattr_finds_it():
    """The mode's method is looked up as getattr does (without raising when it is absent):
    an instance attribute, a submodule of that name, a class's own __getattr__."""

    class Net(nn.Module):
        def forward(self, x):
            return x + 1

    x = pf.zeros(2)
    net = Net()
    assert net(x).numpy().tolist() == [1, 1]
    net.forward_train = lambda x: x + 3  # an instance attribute
    assert net(x).numpy().tolist() == [3, 3]

    class Three(nn.Module):
        def forward(self, x):
            return x + 3

    holder = Net()
    holder.forward_eval = Three()  # a submodule, callable
    assert holder(x).numpy().tolist() == [1, 1]
    assert holder.eval()(x).numpy().tolist() == [3, 3]

    class Delegating(nn.Module):
        def forward(self, x):
            return x + 1

        def __getattr__(self, name):
            if name == "forward_train":
                return lambda x: x + 4
            return super().__getattr__(name)

    assert Delegating()(x).numpy().tolist() == [4, 4]


# --- the guide's snippets that need features built elsewhere (skipped until they exist) ------


def _loader(n=2, batch=4, features=784, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (
            rng.standard_normal((batch, features)).astype(np.float32),
            rng.integers(0, 10, batch).astype(np.int32),
        )
        for _ in range(n)
    ]


class SmallNet(pf.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = pf.nn.Linear(32, 16)
        self.fc2 = pf.nn.Linear(16, 10)

    def forward(self, x):
        return self.fc2(pf.relu(self.fc1(x)))


# SimpleNet's 784x256 weight gradient x^T @ g once landed on one PE (SUMMA reused the 1x1 grid
# of its small operands); matmul_grid now never picks a grid smaller than the sizes need.
MODELS = [pytest.param(SimpleNet, 784, id="SimpleNet"), pytest.param(SmallNet, 32, id="SmallNet")]


@pytest.mark.skipif(not hasattr(pf, "optim"), reason="pf.optim is not there yet")
@pytest.mark.parametrize(("net", "features"), MODELS)
def test_guide_pattern_2_manual_loop(net, features):
    model = net()
    criterion = nn.CrossEntropyLoss()
    optimizer = pf.optim.SGD(model.parameters(), lr=0.1)
    train_loader = _loader(features=features)
    epochs = 3
    losses = []
    # Option 2: Manual loop
    for epoch in range(epochs):
        for batch, target in train_loader:
            batch = pf.from_numpy(batch)
            target = pf.from_numpy(target)

            with pf.autograd.enable_grad():
                output = model(batch)
                loss = criterion(output, target)

            pf.backward(loss)
            optimizer.step()
            pf.eval(loss)  # Must eval before accessing value
            print(f"Loss: {loss.numpy()}")
            losses.append((epoch, float(loss.numpy())))
    assert losses[-1][1] < losses[0][1] and losses[-1][0] == epochs - 1


@pytest.mark.skipif(
    not hasattr(pf, "training") or not hasattr(pf, "optim"), reason="pf.training is not there yet"
)
@pytest.mark.parametrize(("net", "features"), MODELS)
def test_guide_trainer_snippets(net, features):
    model = net()
    optimizer = pf.optim.SGD(model.parameters(), lr=0.1)
    criterion = loss_fn = nn.CrossEntropyLoss()
    train_loader = _loader(features=features)
    epochs = 1
    # Option 1: Use Trainer (recommended)
    trainer = pf.training.Trainer(model=model, optimizer=optimizer, loss_fn=criterion)
    trainer.fit(train_loader)
    # State must be managed carefully ("Handling State Across Steps")
    trainer = pf.training.Trainer(
        model=model,
        optimizer=optimizer,
        loss_fn=loss_fn,
        config=pf.training.TrainerConfig(
            max_epochs=epochs,
            # State tracking configured here
        ),
    )
    trainer.fit(train_loader)


@pytest.mark.skipif(not hasattr(pf, "serving"), reason="pf.serving is not there yet")
def test_guide_pattern_3_inference_engine():
    model = SimpleNet()
    dataloader = [x for x, _ in _loader()]
    example_input = pf.from_numpy(dataloader[0])
    model.eval()
    engine = pf.serving.InferenceEngine(model)
    engine.warmup(example_input)

    results = []
    for batch in dataloader:
        batch = pf.from_numpy(batch)
        output = engine.infer(batch)
        results.append(output.numpy())
    want = model(pf.from_numpy(dataloader[1])).numpy()
    np.testing.assert_allclose(results[1], want, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not hasattr(pf, "extend"), reason="pf.extend is not there yet")
def test_guide_pattern_4_custom_autograd_function_in_a_module():
    class CustomReLU(pf.extend.AutogradFunction):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return pf.maximum(input, 0)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            mask = input > 0
            return grad_output * mask

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 5)

        def forward(self, x):
            return CustomReLU.apply(self.fc(x))

    net = Net()
    loss = net(pf.from_numpy(X2)).sum()
    pf.backward(loss)
    t = tnn.Linear(6, 5)
    t.load_state_dict(
        {k: torch.from_numpy(np.array(v.numpy())) for k, v in net.fc.state_dict().items()}
    )
    t(torch.from_numpy(X2)).relu().sum().backward()
    close(net.fc.weight.grad, t.weight.grad)


# --------------------------------------------------------------------------- ParameterList/Dict


class Scaled:
    @staticmethod
    def make(m, lib):
        """The same model in both libraries (`m` is nn or torch.nn, `lib` pf or torch)."""

        class Model(m.Module):
            def __init__(self):
                super().__init__()
                self.scales = m.ParameterList([m.Parameter(lib.ones(3)) for _ in range(2)])
                self.shifts = m.ParameterDict({"b": m.Parameter(lib.zeros(3))})
                self.shifts["a"] = m.Parameter(lib.ones(1))

            def forward(self, x):
                for s in self.scales:
                    x = x * s
                return x + self.shifts["b"] * self.shifts["a"]

        return Model()


def test_parameter_list_and_dict_register_name_and_train_as_torch():
    t, p = Scaled.make(tnn, torch), Scaled.make(nn, pf)
    assert (
        list(p.state_dict())
        == list(t.state_dict())
        == [
            "scales.0",
            "scales.1",
            "shifts.b",
            "shifts.a",
        ]
    )
    assert [n for n, _ in p.named_parameters()] == [n for n, _ in t.named_parameters()]
    with torch.no_grad():
        for param in t.parameters():
            param.copy_(torch.randn(param.shape))
    p.load_state_dict(t.state_dict())
    x = rand(4, 3)
    out, want = p(pf.from_numpy(x)), t(torch.from_numpy(x))
    close(out, want)
    (out * out).sum().backward()
    (want * want).sum().backward()
    for a, b in zip(p.parameters(), t.parameters(), strict=True):
        close(a.grad, b.grad)
    assert repr(p.scales) == repr(t.scales) and repr(p.shifts) == repr(t.shifts)


def test_parameter_list_behaves_as_torchs():
    def make(m, lib):
        return m.ParameterList([lib.ones(2, 3), m.Parameter(lib.zeros(4))])

    t, p = make(tnn, torch), make(nn, pf)
    assert isinstance(p[0], nn.Parameter) and p[0].requires_grad  # a plain tensor is wrapped
    assert len(p) == 2 and p[-1] is p[1] and list(p) == [p[0], p[1]]
    head = p[:1]
    assert isinstance(head, nn.ParameterList) and len(head) == 1 and head[0] is p[0]
    for lst, m, lib in ((p, nn, pf), (t, tnn, torch)):
        lst.append(m.Parameter(lib.ones(5)))
        lst.extend([m.Parameter(lib.ones(1))])
        lst += [m.Parameter(lib.ones(6))]
        lst.append("not a tensor")  # kept as a plain object, not a parameter
        lst[0] = m.Parameter(lib.zeros(7))  # replaces, keeping the name
    assert list(p.state_dict()) == list(t.state_dict()) == ["0", "1", "2", "3", "4"]
    assert [tuple(v.shape) for v in p.parameters()] == [tuple(v.shape) for v in t.parameters()]
    assert p[5] == "not a tensor" and repr(p) == repr(t)
    for lst in (p, t):
        with pytest.raises(IndexError, match="index 6 is out of range"):
            lst[6]
        with pytest.raises(TypeError, match="extend should be called with an iterable, but got"):
            lst.extend(lst[0])
        with pytest.raises(TypeError, match="but got int"):
            lst.extend(5)
        with pytest.raises(RuntimeError, match="ParameterList should not be called."):
            lst(1)


def test_parameter_dict_behaves_as_torchs():
    def make(m, lib):
        return m.ParameterDict({"w": m.Parameter(lib.ones(2)), "b": lib.zeros(3)})

    t, p = make(tnn, torch), make(nn, pf)
    assert list(p) == list(t) == ["b", "w"]  # a plain dict: sorted, as PyTorch
    assert isinstance(p["b"], nn.Parameter) and "w" in p and "x" not in p and len(p) == 2
    from collections import OrderedDict

    for d, m, lib in ((p, nn, pf), (t, tnn, torch)):
        d.update(OrderedDict(z=m.Parameter(lib.ones(1)), c=m.Parameter(lib.ones(4))))  # in order
        d.update([("y", m.Parameter(lib.ones(5)))])
        d["w"] = m.Parameter(lib.zeros(6))  # replaces, keeping the position
        assert d.pop("b").shape == (3,)
        assert d.setdefault("e", m.Parameter(lib.ones(2))) is d["e"]
        assert d.get("missing") is None
    assert list(p.keys()) == list(t.keys()) == ["w", "z", "c", "y", "e"]
    assert list(p.state_dict()) == list(t.state_dict())
    assert [tuple(v.shape) for v in p.values()] == [tuple(v.shape) for v in t.values()]
    assert [k for k, _ in p.items()] == list(p) and list(reversed(p)) == list(reversed(t))
    assert list(p.copy().keys()) == list(p.keys()) and p.copy()["w"] is p["w"]
    assert p.popitem()[0] == t.popitem()[0] == "e"
    assert repr(p) == repr(t)
    del p["z"]
    assert "z" not in p and "z" not in dict(p.named_parameters())
    for d in (p, t):
        with pytest.raises(AttributeError, match="object has no attribute 'zz'"):
            d["zz"]
        with pytest.raises(ValueError, match="element #0 has length 1; 2 is required"):
            d.update([("a",)])
        with pytest.raises(TypeError, match="should be called with an iterable of key/value"):
            d.update(5)
        with pytest.raises(RuntimeError, match="ParameterDict should not be called."):
            d(1)
    p.clear()
    assert len(p) == 0 and list(p.parameters()) == []
