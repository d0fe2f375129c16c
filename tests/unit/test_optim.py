"""pf.optim against torch.optim: same tiny model, weights and data; parameters equal after
every step; the whole training loop is one compiled program."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf

torch = pytest.importorskip("torch")


pytestmark = pytest.mark.usefixtures("small_target")


SHAPES = [(5, 6), (6,), (6, 3), (3,)]
RNG = np.random.default_rng(0)
INIT = [(RNG.standard_normal(s) * 0.5).astype(np.float32) for s in SHAPES]
BATCHES = [
    (RNG.standard_normal((8, 5)).astype(np.float32), RNG.standard_normal((8, 3)).astype(np.float32))
    for _ in range(3)
]


def mlp_loss(L, params, x, y):
    w1, b1, w2, b2 = params
    return ((L.tanh(x @ w1 + b1) @ w2 + b2 - y) ** 2).mean()


def make_params():
    ps = [pf.from_numpy(a) for a in INIT]
    for p in ps:
        p.requires_grad = True
    ts = [torch.from_numpy(a.copy()).requires_grad_() for a in INIT]
    return ps, ts


def torch_step(topt, ts, x, y):
    topt.zero_grad()
    mlp_loss(torch, ts, torch.from_numpy(x), torch.from_numpy(y)).backward()
    topt.step()


def assert_params_equal(ps, ts, step, atol=1e-6):
    for i, (p, t) in enumerate(zip(ps, ts, strict=True)):
        np.testing.assert_allclose(
            p.numpy(),
            t.detach().numpy(),
            rtol=1e-5,
            atol=atol,
            err_msg=f"parameter {i} after step {step}",
        )


CONFIGS = {
    "sgd": ("SGD", dict(lr=0.1)),
    "sgd_momentum": ("SGD", dict(lr=0.1, momentum=0.9)),
    "sgd_dampening_decay": ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    "sgd_nesterov": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.02)),
    "sgd_maximize": ("SGD", dict(lr=0.01, momentum=0.5, maximize=True)),
    "adam": ("Adam", dict(lr=0.01)),
    "adam_betas_eps": ("Adam", dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6)),
    "adam_weight_decay": ("Adam", dict(lr=0.01, weight_decay=0.1)),
    "adam_amsgrad_maximize": ("Adam", dict(lr=0.01, amsgrad=True, maximize=True)),
    "adamw": ("AdamW", dict(lr=0.01)),
    "adamw_decay_amsgrad": (
        "AdamW",
        dict(lr=0.02, weight_decay=0.3, amsgrad=True, betas=(0.7, 0.9)),
    ),
    # session 23: RMSprop and Adagrad (an AttributeError before)
    "rmsprop": ("RMSprop", dict(lr=0.01)),
    "rmsprop_momentum": ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.8, eps=1e-6)),
    "rmsprop_centered_decay_maximize": (
        "RMSprop",
        dict(lr=0.005, centered=True, weight_decay=0.1, momentum=0.5, maximize=True),
    ),
    "adagrad": ("Adagrad", dict(lr=0.1)),
    "adagrad_decay_init": (
        "Adagrad",
        dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6),
    ),
    "adagrad_maximize": ("Adagrad", dict(lr=0.05, maximize=True)),
    # session 24: Adamax, NAdam, RAdam, Adadelta (AttributeErrors before)
    "adamax": ("Adamax", dict()),
    "adamax_options": (
        "Adamax",
        dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, maximize=True),
    ),
    "nadam": ("NAdam", dict()),
    "nadam_options": (
        "NAdam",
        dict(lr=0.01, betas=(0.85, 0.99), weight_decay=0.05, momentum_decay=0.01),
    ),
    "nadamw_maximize": (
        "NAdam",
        dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True, maximize=True),
    ),
    "radam": ("RAdam", dict(lr=0.01)),
    "radam_options": ("RAdam", dict(lr=0.02, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.05)),
    "radamw_maximize": (
        "RAdam",
        dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
    ),
    "adadelta": ("Adadelta", dict()),
    "adadelta_options": (
        "Adadelta",
        dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1, maximize=True),
    ),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_training_loop_matches_torch_and_compiles_once(name):
    cls, kwargs = CONFIGS[name]
    ps, ts = make_params()
    opt = getattr(pf.optim, cls)(ps, **kwargs)
    topt = getattr(torch.optim, cls)(ts, **kwargs)
    pf.cache_clear()
    steps = 6
    for step in range(steps):
        x, y = BATCHES[step % len(BATCHES)]
        with pf.autograd.enable_grad():
            loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
        pf.backward(loss)
        opt.step()
        pf.eval(loss)
        torch_step(topt, ts, x, y)
        assert_params_equal(ps, ts, step)
    assert pf.cache_info().misses == 1, pf.cache_info()
    assert pf.cache_info().hits == steps - 1


@pytest.mark.parametrize("name", list(CONFIGS))
def test_update_formula_with_torch_gradients(name):
    """Given PyTorch's own gradients, the update is PyTorch's to float32 rounding."""
    cls, kwargs = CONFIGS[name]
    ps, ts = make_params()
    opt = getattr(pf.optim, cls)(ps, **kwargs)
    topt = getattr(torch.optim, cls)(ts, **kwargs)
    for step in range(5):
        x, y = BATCHES[step % len(BATCHES)]
        torch_step(topt, ts, x, y)
        for p, t in zip(ps, ts, strict=True):
            p.grad = pf.from_numpy(t.grad.numpy())
        opt.step()
        pf.eval()  # only the pending updates
        # atol: a parameter that cancels to near zero (-6e-4 from terms of ~0.1) differs by a
        # float32 ulp of those terms on some CPUs (torch's vector paths round differently)
        assert_params_equal(ps, ts, step, atol=1e-7)


def test_param_groups_with_their_own_options():
    ps, ts = make_params()
    opt = pf.optim.SGD(
        [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.3, "momentum": 0.5}],
        lr=0.1,
        momentum=0.9,
        weight_decay=0.01,
    )
    topt = torch.optim.SGD(
        [{"params": ts[:2]}, {"params": ts[2:], "lr": 0.3, "momentum": 0.5}],
        lr=0.1,
        momentum=0.9,
        weight_decay=0.01,
    )
    assert opt.param_groups[1]["lr"] == 0.3 and opt.param_groups[1]["weight_decay"] == 0.01
    assert opt.param_groups[0]["momentum"] == 0.9
    for step in range(4):
        x, y = BATCHES[step % len(BATCHES)]
        with pf.autograd.enable_grad():
            loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
        pf.backward(loss)
        opt.step()
        pf.eval(loss)
        torch_step(topt, ts, x, y)
        assert_params_equal(ps, ts, step)


def test_adam_param_groups_and_add_param_group():
    ps, ts = make_params()
    opt = pf.optim.Adam([{"params": ps[:2], "betas": (0.5, 0.9)}], lr=0.01)
    opt.add_param_group({"params": ps[2:], "lr": 0.05, "weight_decay": 0.1})
    topt = torch.optim.Adam([{"params": ts[:2], "betas": (0.5, 0.9)}], lr=0.01)
    topt.add_param_group({"params": ts[2:], "lr": 0.05, "weight_decay": 0.1})
    for step in range(4):
        x, y = BATCHES[step % len(BATCHES)]
        with pf.autograd.enable_grad():
            loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
        pf.backward(loss)
        opt.step()
        pf.eval(loss)
        torch_step(topt, ts, x, y)
        assert_params_equal(ps, ts, step)


@pytest.mark.parametrize(
    "cls",
    ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam", "Adadelta"],
)
def test_changing_the_learning_rate_never_recompiles(cls):
    ps, ts = make_params()
    kwargs = {"lr": 0.1, "momentum": 0.9} if cls == "SGD" else {"lr": 0.01}
    opt = getattr(pf.optim, cls)(ps, **kwargs)
    topt = getattr(torch.optim, cls)(ts, **kwargs)
    pf.cache_clear()
    for step in range(5):
        lr = kwargs["lr"] * 0.5**step  # a schedule
        opt.param_groups[0]["lr"] = lr
        topt.param_groups[0]["lr"] = lr
        x, y = BATCHES[step % len(BATCHES)]
        with pf.autograd.enable_grad():
            loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
        pf.backward(loss)
        opt.step()
        pf.eval(loss)
        torch_step(topt, ts, x, y)
        assert_params_equal(ps, ts, step)
    assert pf.cache_info().misses == 1


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1}),
        ("Adam", {"lr": 0.01}),
        ("AdamW", {"lr": 0.01, "amsgrad": True}),
        ("Adamax", {"lr": 0.01}),
        ("NAdam", {"lr": 0.01}),
        ("RAdam", {"lr": 0.01}),
    ],
)
def test_changing_momentum_or_beta1_never_recompiles(cls, kwargs):
    """OneCycleLR and CyclicLR change SGD's momentum or Adam's beta1 every step: runtime data,
    like the learning rate (each value was a constant of the graph: a compile per step)."""
    ps, ts = make_params()
    opt = getattr(pf.optim, cls)(ps, **kwargs)
    topt = getattr(torch.optim, cls)(ts, **kwargs)
    pf.cache_clear()
    for step in range(5):
        momentum = 0.95 - 0.04 * step
        for o in (opt, topt):
            group = o.param_groups[0]
            if cls == "SGD":
                group["momentum"] = momentum
            else:
                group["betas"] = (momentum, group["betas"][1])
        x, y = BATCHES[step % len(BATCHES)]
        with pf.autograd.enable_grad():
            loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
        pf.backward(loss)
        opt.step()
        pf.eval(loss)
        torch_step(topt, ts, x, y)
        assert_params_equal(ps, ts, step)
    assert pf.cache_info().misses == 1, pf.cache_info()


def test_parameters_without_grad_are_skipped():
    ps, _ = make_params()
    frozen = ps[0]
    frozen.requires_grad = False
    opt = pf.optim.Adam(ps, lr=0.1)
    x, y = BATCHES[0]
    with pf.autograd.enable_grad():
        loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
    pf.backward(loss)
    assert frozen.grad is None
    opt.step()
    pf.eval(loss)
    np.testing.assert_array_equal(frozen.numpy(), INIT[0])
    assert frozen not in opt.state and len(opt.state) == 3
    assert not np.array_equal(ps[1].numpy(), INIT[1])


@pytest.mark.parametrize("cls", ["SGD", "Adam", "Adamax", "NAdam", "RAdam", "Adadelta"])
def test_two_steps_before_eval_are_two_steps(cls):
    """A second step() before pf.eval builds on the first one's pending values."""
    kwargs = {"lr": 0.1, "momentum": 0.9} if cls == "SGD" else {"lr": 0.01}
    ps, ts = make_params()
    opt = getattr(pf.optim, cls)(ps, **kwargs)
    topt = getattr(torch.optim, cls)(ts, **kwargs)
    x, y = BATCHES[0]
    torch_step(topt, ts, x, y)
    grads = [t.grad.clone() for t in ts]
    topt.step()  # the same gradients again
    for p, g in zip(ps, grads, strict=True):
        p.grad = pf.from_numpy(g.numpy())
    opt.step()
    opt.step()
    pf.eval()
    assert_params_equal(ps, ts, 1, atol=0)


def test_state_dict_matches_torch_layout_and_resumes():
    ps, ts = make_params()
    opt = pf.optim.Adam(ps, lr=0.01, amsgrad=True)
    topt = torch.optim.Adam(ts, lr=0.01, amsgrad=True)

    def train(opt, ps, steps):
        for step in steps:
            x, y = BATCHES[step % len(BATCHES)]
            with pf.autograd.enable_grad():
                loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
            pf.backward(loss)
            opt.step()
            pf.eval(loss)

    train(opt, ps, range(3))
    for step in range(3):
        torch_step(topt, ts, *BATCHES[step % len(BATCHES)])
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert list(sd["state"]) == list(tsd["state"]) == [0, 1, 2, 3]
    assert set(sd["state"][0]) == set(tsd["state"][0])
    assert float(sd["state"][0]["step"].item()) == float(tsd["state"][0]["step"]) == 3.0
    pg, tpg = sd["param_groups"][0], tsd["param_groups"][0]
    for key in ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "params"):
        assert pg[key] == tpg[key], key
    for i in range(4):
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            np.testing.assert_allclose(
                sd["state"][i][key].numpy(), tsd["state"][i][key].numpy(), rtol=1e-4, atol=1e-8
            )

    # a fresh optimizer over copies of the parameters continues exactly like the original
    copies = [pf.from_numpy(p.numpy()) for p in ps]
    for c in copies:
        c.requires_grad = True
    opt2 = pf.optim.Adam(copies, lr=0.5)
    opt2.load_state_dict(opt.state_dict())
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["params"][0] is copies[0]
    assert opt2.state[copies[0]]["exp_avg"] is not opt.state[ps[0]]["exp_avg"]
    train(opt, ps, range(3, 5))
    train(opt2, copies, range(3, 5))
    for p, c in zip(ps, copies, strict=True):
        np.testing.assert_array_equal(p.numpy(), c.numpy())


def test_load_state_dict_checks_groups():
    ps, _ = make_params()
    opt = pf.optim.SGD(ps, lr=0.1)
    with pytest.raises(ValueError, match="number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})
    with pytest.raises(ValueError, match="doesn't match"):
        opt.load_state_dict({"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]})


def test_zero_grad_is_harmless():
    ps, ts = make_params()
    opt = pf.optim.SGD(ps, lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(ts, lr=0.1, momentum=0.9)
    for step in range(3):
        x, y = BATCHES[step]
        opt.zero_grad()
        with pf.autograd.enable_grad():
            loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
        pf.backward(loss)
        opt.step()
        pf.eval(loss)
        torch_step(topt, ts, x, y)
        assert_params_equal(ps, ts, step)
    opt.zero_grad()
    assert all(p.grad is None for p in ps)
    opt.zero_grad(set_to_none=False)  # nothing to zero: still None, as in PyTorch


def test_guide_training_loop_with_modules_compiles_once():
    """The migration guide's Pattern 2, Option 2, as written."""
    from pyflame import nn

    pf.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    criterion = nn.MSELoss()
    optimizer = pf.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    rng = np.random.default_rng(1)
    train_loader = [
        (
            rng.standard_normal((6, 4)).astype(np.float32),
            rng.standard_normal((6, 2)).astype(np.float32),
        )
        for _ in range(3)
    ]
    epochs = 4
    losses = []
    pf.cache_clear()
    for epoch in range(epochs):  # noqa: B007  (the guide's loop, as written)
        for batch, target in train_loader:
            batch = pf.from_numpy(batch)
            target = pf.from_numpy(target)

            with pf.autograd.enable_grad():
                output = model(batch)
                loss = criterion(output, target)

            pf.backward(loss)
            optimizer.step()
            pf.eval(loss)  # Must eval before accessing value
            losses.append(float(loss.numpy()))
    assert pf.cache_info().misses == 1
    assert np.mean(losses[-3:]) < np.mean(losses[:3])


def test_float16_parameters_keep_their_dtype():
    a = (np.random.default_rng(3).standard_normal((4, 3)) * 0.5).astype(np.float16)
    p = pf.from_numpy(a)
    p.requires_grad = True
    t = torch.from_numpy(a.astype(np.float32)).requires_grad_()
    opt = pf.optim.Adam([p], lr=0.01)
    topt = torch.optim.Adam([t], lr=0.01)
    for _ in range(3):
        with pf.autograd.enable_grad():
            loss = (p * p).sum()
        pf.backward(loss)
        opt.step()
        pf.eval(loss)
        topt.zero_grad()
        (t * t).sum().backward()
        topt.step()
    assert p.dtype is pf.float16 and opt.state[p]["exp_avg"].dtype is pf.float16
    np.testing.assert_allclose(p.numpy().astype(np.float32), t.detach().numpy(), atol=2e-3)


def test_invalid_arguments():
    ps, _ = make_params()
    with pytest.raises(ValueError, match="empty parameter list"):
        pf.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        pf.optim.Adam(ps, lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        pf.optim.SGD(ps, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta"):
        pf.optim.Adam(ps, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="more than one parameter group"):
        pf.optim.SGD([{"params": ps[:2]}, {"params": ps[1:]}], lr=0.1)
    with pytest.raises(TypeError, match="pf.Tensors"):
        pf.optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError):
        pf.optim.SGD(ps[0], lr=0.1)


def test_a_non_leaf_parameter_is_refused_as_torch_unless_it_retains_its_grad():
    """A computed tensor gets no .grad from backward: torch refuses to optimize it; PyFlame
    took it and every step() silently left it (and the leaf it came from) unchanged. One
    that retains its grad is accepted, as torch's, and stepped."""
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    for lib in (torch, pf):
        leaf = lib.tensor(a, requires_grad=True)
        with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
            lib.optim.SGD([leaf * 2], lr=0.1)
        with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
            lib.optim.Adam([{"params": [leaf + 1]}])
    got = []
    for lib in (torch, pf):
        leaf = lib.tensor(a, requires_grad=True)
        kept = leaf * 2
        kept.retain_grad()
        opt = lib.optim.SGD([kept], lr=0.1)
        (kept * kept).sum().backward()
        opt.step()
        got.append(kept.detach().numpy())
    np.testing.assert_allclose(got[1], got[0], rtol=1e-6)


def test_state_right_after_step_is_the_stepped_state_as_in_pytorch():
    """PyTorch's step changes the parameters and the optimizer's state at once: state_dict()
    read right after step() (before any pf.eval) holds the new step count and moments, the
    parameters their new values, as torch's; a snapshot taken then stays as it was; the loss,
    built before the step, is still the loss before it."""
    ps, ts = make_params()
    opt = pf.optim.Adam(ps, lr=0.01)
    topt = torch.optim.Adam(ts, lr=0.01)
    x, y = BATCHES[0]
    with pf.autograd.enable_grad():
        loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
    pf.backward(loss)
    opt.step()
    torch_step(topt, ts, x, y)
    after = opt.state_dict()
    assert float(after["state"][0]["step"].item()) == 1.0
    np.testing.assert_allclose(
        after["state"][0]["exp_avg"].numpy(),
        topt.state_dict()["state"][0]["exp_avg"].numpy(),
        rtol=1e-5,
        atol=1e-7,
    )
    np.testing.assert_allclose(ps[0].numpy(), ts[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    before_second = after["state"][0]["exp_avg"].numpy().copy()
    with torch.no_grad():
        want = mlp_loss(
            torch, [torch.from_numpy(a) for a in INIT], torch.from_numpy(x), torch.from_numpy(y)
        )
    np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-5)
    with pf.autograd.enable_grad():
        loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
    pf.backward(loss)
    opt.step()
    np.testing.assert_array_equal(after["state"][0]["exp_avg"].numpy(), before_second)


# --- a mismatched optimizer state is refused, never merged (issue 8, item 5) ---------------


def _stepped(cls, **kwargs):
    ps, _ = make_params()
    opt = getattr(pf.optim, cls)(ps, **kwargs)
    x, y = BATCHES[0]
    with pf.autograd.enable_grad():
        loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
    pf.backward(loss)
    opt.step()
    pf.eval(loss)
    return opt


@pytest.mark.parametrize(
    "saved, into, words",
    [
        ("Adam", "SGD", r"options \['amsgrad', 'betas', .*\] that SGD does not take"),
        ("SGD", "Adam", r"options \['dampening', 'momentum', 'nesterov'\] that Adam does not take"),
        ("Adam", "AdamW", "decoupled_weight_decay=False: it was saved by Adam"),
    ],
)
def test_load_state_dict_refuses_another_optimizers_state(saved, into, words):
    state = _stepped(saved, lr=0.01, **({"momentum": 0.9} if saved == "SGD" else {})).state_dict()
    opt = getattr(pf.optim, into)(make_params()[0], lr=0.5)
    before = repr(opt)
    with pytest.raises(ValueError, match=words):
        opt.load_state_dict(state)
    assert repr(opt) == before and not opt.state  # nothing changed: lr is still 0.5
    assert opt.param_groups[0]["lr"] == 0.5


def test_load_state_dict_refuses_foreign_state_entries_and_shapes():
    state = _stepped("Adam", lr=0.01).state_dict()
    sgd_state = {
        "state": {k: {"exp_avg": v["exp_avg"]} for k, v in state["state"].items()},
        "param_groups": [
            {k: v for k, v in state["param_groups"][0].items() if k in ("params", "lr")}
        ],
    }
    with pytest.raises(ValueError, match=r"optimizer state \['exp_avg'\] .* SGD does not keep"):
        pf.optim.SGD(make_params()[0], lr=0.1).load_state_dict(sgd_state)
    partial = {
        "state": {0: {"step": state["state"][0]["step"]}},
        "param_groups": state["param_groups"],
    }
    with pytest.raises(ValueError, match=r"lacks optimizer state \['exp_avg', 'exp_avg_sq'\]"):
        pf.optim.Adam(make_params()[0]).load_state_dict(partial)
    ps = make_params()[0]
    other = [pf.from_numpy(np.zeros([*p.shape[:-1], p.shape[-1] + 1], np.float32)) for p in ps]
    with pytest.raises(ValueError, match="has shape .* but its parameter has shape"):
        pf.optim.Adam(other).load_state_dict(state)
    bad = {**state, "param_groups": [{**state["param_groups"][0], "lr": -1.0}]}
    with pytest.raises(ValueError, match="Invalid learning rate"):
        pf.optim.Adam(make_params()[0]).load_state_dict(bad)


def test_load_state_dict_accepts_torch_state_dict_options():
    _, ts = make_params()
    tstate = torch.optim.Adam(ts, lr=0.02).state_dict()  # foreach, fused, capturable, ...
    opt = pf.optim.Adam(make_params()[0])
    opt.load_state_dict(tstate)
    assert opt.param_groups[0]["lr"] == 0.02


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
        ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.1)),
    ],
)
def test_rmsprop_and_adagrad_state_dicts_round_trip_with_torch(cls, kwargs):
    """The state has PyTorch's names and values (Adagrad's from the constructor on, as
    PyTorch's); a torch state dict loaded into PyFlame continues as torch does."""
    ps, ts = make_params()
    opt = getattr(pf.optim, cls)(ps, **kwargs)
    topt = getattr(torch.optim, cls)(ts, **kwargs)
    fresh, tfresh = opt.state_dict(), topt.state_dict()
    assert list(fresh["state"]) == list(tfresh["state"])  # Adagrad: all four, RMSprop: none
    for i, entries in tfresh["state"].items():
        for key, value in entries.items():
            np.testing.assert_array_equal(fresh["state"][i][key].numpy(), value.numpy())
    for step in range(3):
        x, y = BATCHES[step % len(BATCHES)]
        with pf.autograd.enable_grad():
            loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
        pf.backward(loss)
        opt.step()
        pf.eval(loss)
        torch_step(topt, ts, x, y)
    sd, tsd = opt.state_dict(), topt.state_dict()
    for i in range(4):
        assert set(sd["state"][i]) == set(tsd["state"][i])
        for key, value in tsd["state"][i].items():
            np.testing.assert_allclose(
                sd["state"][i][key].numpy(), value.numpy(), rtol=1e-5, atol=1e-7
            )
    # torch's state dict (torch tensors) into a fresh PyFlame optimizer over copies
    copies = [pf.from_numpy(t.detach().numpy().copy()) for t in ts]
    for c in copies:
        c.requires_grad = True
    opt2 = getattr(pf.optim, cls)(copies, **kwargs)
    opt2.load_state_dict(tsd)
    for step in range(3, 5):
        x, y = BATCHES[step % len(BATCHES)]
        with pf.autograd.enable_grad():
            loss = mlp_loss(pf, copies, pf.from_numpy(x), pf.from_numpy(y))
        pf.backward(loss)
        opt2.step()
        pf.eval(loss)
        torch_step(topt, ts, x, y)
        assert_params_equal(copies, ts, step)


def test_rmsprop_and_adagrad_refuse_bad_options_as_torch():
    ps, _ = make_params()
    for cls, kwargs, words in [
        ("RMSprop", dict(lr=-1.0), "Invalid learning rate: -1.0"),
        ("RMSprop", dict(alpha=-0.5), "Invalid alpha value: -0.5"),
        ("RMSprop", dict(momentum=-0.1), "Invalid momentum value: -0.1"),
        ("Adagrad", dict(lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
        ("Adagrad", dict(initial_accumulator_value=-1.0), "Invalid initial_accumulator_value"),
    ]:
        with pytest.raises(ValueError, match=words):
            getattr(pf.optim, cls)(ps, **kwargs)
        with pytest.raises(ValueError, match=words):
            getattr(torch.optim, cls)([torch.zeros(2, requires_grad=True)], **kwargs)


# --- session 24: Adamax, NAdam, RAdam, Adadelta ----------------------------------------------

NEW_OPTIMIZERS = [
    ("Adamax", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, momentum_decay=0.01)),
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.95))),
    ("Adadelta", dict(lr=0.5, rho=0.85)),
]


def test_radam_switches_to_the_rectified_step_without_recompiling():
    """rho_t passes 5 at a step that depends on beta2 (the 6th here): PyTorch switches from
    the momentum step to the rectified one there; both are in the one program, picked by
    data, and the parameters follow PyTorch's before and after."""
    ps, ts = make_params()
    opt = pf.optim.RAdam(ps, lr=0.02, betas=(0.9, 0.99))
    topt = torch.optim.RAdam(ts, lr=0.02, betas=(0.9, 0.99))
    pf.cache_clear()
    for step in range(9):
        x, y = BATCHES[step % len(BATCHES)]
        with pf.autograd.enable_grad():
            loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
        pf.backward(loss)
        opt.step()
        pf.eval(loss)
        torch_step(topt, ts, x, y)
        assert_params_equal(ps, ts, step)
    assert pf.cache_info().misses == 1, pf.cache_info()


@pytest.mark.parametrize("cls,kwargs", NEW_OPTIMIZERS)
def test_new_optimizers_state_dicts_round_trip_with_torch(cls, kwargs):
    """PyTorch's state names and values (NAdam's mu_product bit for bit: a float32 product
    counted as PyTorch's); a state saved with pf.save and loaded continues as PyTorch does,
    and so does torch's own state dict loaded into PyFlame."""
    ps, ts = make_params()
    opt = getattr(pf.optim, cls)(ps, **kwargs)
    topt = getattr(torch.optim, cls)(ts, **kwargs)
    for step in range(3):
        x, y = BATCHES[step % len(BATCHES)]
        with pf.autograd.enable_grad():
            loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
        pf.backward(loss)
        opt.step()
        pf.eval(loss)
        torch_step(topt, ts, x, y)
    sd, tsd = opt.state_dict(), topt.state_dict()
    for i in range(4):
        assert set(sd["state"][i]) == set(tsd["state"][i])
        for key, value in tsd["state"][i].items():
            got = sd["state"][i][key].numpy()
            if key in ("step", "mu_product"):
                assert got.tobytes() == value.numpy().tobytes(), key
            np.testing.assert_allclose(got, value.numpy(), rtol=1e-5, atol=1e-7, err_msg=key)
    for name, value in sd["param_groups"][0].items():
        if name in tsd["param_groups"][0]:
            assert value == tsd["param_groups"][0][name] or name == "params", name
    for source in ("saved", "torch"):
        copies = [pf.from_numpy(p.numpy().copy()) for p in ps]
        for c in copies:
            c.requires_grad = True
        opt2 = getattr(pf.optim, cls)(copies, lr=0.123)
        if source == "saved":
            import io

            buffer = io.BytesIO()
            pf.save(sd, buffer)
            buffer.seek(0)
            opt2.load_state_dict(pf.load(buffer))
        else:
            opt2.load_state_dict(tsd)
        assert opt2.param_groups[0]["lr"] == kwargs["lr"]
        ref = [torch.from_numpy(t.detach().numpy().copy()).requires_grad_() for t in ts]
        topt2 = getattr(torch.optim, cls)(ref, **kwargs)
        topt2.load_state_dict(tsd)
        for step in range(3, 5):
            x, y = BATCHES[step % len(BATCHES)]
            with pf.autograd.enable_grad():
                loss = mlp_loss(pf, copies, pf.from_numpy(x), pf.from_numpy(y))
            pf.backward(loss)
            opt2.step()
            pf.eval(loss)
            torch_step(topt2, ref, x, y)
            assert_params_equal(copies, ref, step)


def test_new_optimizers_refuse_bad_options_as_torch():
    ps, _ = make_params()
    for cls, kwargs, words in [
        ("Adamax", dict(lr=-1.0), "Invalid learning rate: -1.0"),
        ("Adamax", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
        ("NAdam", dict(momentum_decay=-0.1), "Invalid momentum_decay value: -0.1"),
        ("NAdam", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
        ("RAdam", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
        ("Adadelta", dict(rho=1.5), "Invalid rho value: 1.5"),
        ("Adadelta", dict(rho=-0.5), "Invalid rho value: -0.5"),
    ]:
        with pytest.raises(ValueError, match=words):
            getattr(pf.optim, cls)(ps, **kwargs)
        with pytest.raises(ValueError, match=words):
            getattr(torch.optim, cls)([torch.zeros(2, requires_grad=True)], **kwargs)
    adam_state = _stepped("Adam", lr=0.01).state_dict()
    with pytest.raises(ValueError, match="that Adadelta does not take"):
        pf.optim.Adadelta(make_params()[0]).load_state_dict(adam_state)
    nadam_state = _stepped("NAdam", lr=0.01).state_dict()
    for entries in nadam_state["state"].values():
        del entries["mu_product"]
    with pytest.raises(ValueError, match=r"lacks optimizer state \['mu_product'\]"):
        pf.optim.NAdam(make_params()[0]).load_state_dict(nadam_state)


def _rank0_arguments(loss: pf.Tensor) -> int:
    """How many rank-0 float32 arguments the program computing `loss` (and the pending
    updates) has."""
    signature = pf.ir(loss, stage="flame").split("@main(", 1)[1].split(") ->", 1)[0]
    return signature.count(": tensor<f32>")


@pytest.mark.parametrize(
    "cls,kwargs,per_group",
    [
        ("SGD", {}, 1),  # -lr
        ("RMSprop", {}, 1),  # -lr
        ("AdamW", {"weight_decay": 0.1}, None),  # 1 - lr * wd (and per-parameter ones)
    ],
)
def test_a_groups_learning_rate_is_one_argument_of_the_program(cls, kwargs, per_group):
    """-lr (and AdamW's 1 - lr * wd) is one host scalar per parameter group in a step, shared
    by the group's parameters (one argument, one host input), whatever the values: group 1's
    lr equals group 0's at step 0 and not later, and the program is the same (one compile).
    The parameters equal torch's after every step."""
    ps, ts = make_params()
    groups = [(ps[:2], ts[:2]), (ps[2:], ts[2:])]
    opt = getattr(pf.optim, cls)([{"params": g, "lr": 0.05} for g, _ in groups], **kwargs)
    topt = getattr(torch.optim, cls)([{"params": t, "lr": 0.05} for _, t in groups], **kwargs)
    pf.cache_clear()
    for step in range(3):
        for o in (opt, topt):
            o.param_groups[1]["lr"] = 0.05 + 0.01 * step
        x, y = BATCHES[step]
        with pf.autograd.enable_grad():
            loss = mlp_loss(pf, ps, pf.from_numpy(x), pf.from_numpy(y))
        pf.backward(loss)
        opt.step()
        if per_group is not None:
            assert _rank0_arguments(loss) == per_group * len(groups)
        pf.eval(loss)
        torch_step(topt, ts, x, y)
        assert_params_equal(ps, ts, step)
    assert pf.cache_info().misses == 1, pf.cache_info()
