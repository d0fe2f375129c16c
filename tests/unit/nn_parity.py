"""Helpers that check a pf.nn layer or function against its torch twin: values and gradients
(the input's and every parameter's) after copying the torch layer's state dict, and a few
training steps of a tiny model in both frameworks.

    from nn_parity import check_layer, check_function, train_like_torch

    check_layer(lambda m: m.GroupNorm(2, 6), rand(3, 6, 5))
    check_function(lambda F, x, w: F.conv1d(x, w, stride=2), rand(2, 4, 9), rand(6, 4, 3))

Tests that import it need torch (`pytest.importorskip("torch")` first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import pyflame as pf

#: the compiler's layouts a layer's input may arrive in
GRID = pf.MeshLayout.grid(2, 2)


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def close(got: Any, want: Any, rtol: float = 1e-5, atol: float = 1e-5, msg: str = "") -> None:
    want = want.detach().double().numpy() if hasattr(want, "detach") else np.asarray(want)
    np.testing.assert_allclose(
        np.asarray(got.numpy(), np.float64), want, rtol=rtol, atol=atol, err_msg=msg
    )


def twin(make: Callable[[Any], Any]) -> tuple[Any, Any]:
    """The same layer from torch.nn and pf.nn, the pf one holding the torch one's state."""
    import torch

    torch.manual_seed(0)
    t = make(torch.nn)
    p = make(pf.nn)
    p.load_state_dict(t.state_dict())
    return t, p


def check_layer(
    make: Callable[[Any], Any],
    x: np.ndarray,
    *,
    layout: pf.MeshLayout | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    seed: int = 1,
) -> tuple[Any, Any]:
    """`make(torch.nn)` and `make(pf.nn)` give the same output and the same gradients (input
    and parameters) for a random output gradient; returns the (torch, pf) layers."""
    import torch

    t, p = twin(make)
    tx = torch.from_numpy(x).requires_grad_()
    px = pf.from_numpy(x, layout=layout).requires_grad_()
    want, got = t(tx), p(px)
    assert tuple(got.shape) == tuple(want.shape), (got.shape, want.shape)
    g = rand(*want.shape, seed=seed)
    (want * torch.from_numpy(g)).sum().backward()
    pf.backward((got * pf.from_numpy(g)).sum())
    # the output and every gradient in one program (one compile, not one per tensor read)
    pf.eval(got, *[q.grad for q in (px, *p.parameters()) if q.grad is not None])
    close(got, want, rtol, atol, "output")
    close(px.grad, tx.grad, rtol, atol, "input grad")
    tparams = dict(t.named_parameters())
    for name, param in p.named_parameters():
        close(param.grad, tparams[name].grad, rtol, atol, f"{name} grad")
    return t, p


def check_function(
    call: Callable[..., Any],
    *arrays: np.ndarray,
    layout: pf.MeshLayout | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    grad: Sequence[bool] | None = None,
) -> None:
    """`call(F, *tensors)` with torch.nn.functional and pf.nn.functional: the same value and
    the same gradient of every array (those `grad` marks) for a random output gradient. The
    first array is given `layout`."""
    import torch

    grad = [True] * len(arrays) if grad is None else list(grad)
    ts = [torch.from_numpy(a).requires_grad_(r) for a, r in zip(arrays, grad, strict=True)]
    ps = [pf.from_numpy(a, layout=layout if i == 0 else None) for i, a in enumerate(arrays)]
    ps = [t.requires_grad_() if r else t for t, r in zip(ps, grad, strict=True)]
    want, got = call(torch.nn.functional, *ts), call(pf.nn.functional, *ps)
    assert tuple(got.shape) == tuple(want.shape), (got.shape, want.shape)
    g = rand(*want.shape, seed=7)
    (want * torch.from_numpy(g)).sum().backward()
    pf.backward((got * pf.from_numpy(g)).sum())
    # the output and every gradient in one program (one compile, not one per tensor read)
    pf.eval(got, *[pt.grad for pt in ps if pt.grad is not None])
    close(got, want, rtol, atol, "output")
    for i, (pt, tt) in enumerate(zip(ps, ts, strict=True)):
        if grad[i]:
            close(pt.grad, tt.grad, rtol, atol, f"grad of argument {i}")


def train_like_torch(
    make: Callable[[Any], Any],
    batches: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    lr: float = 0.05,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """A tiny model `make(lib.nn)` trained with SGD (momentum 0.9) on MSE in both frameworks
    from the same weights: the same loss at every step and the same parameters after."""
    import torch

    torch.manual_seed(0)
    tmodel, model = make(torch.nn), make(pf.nn)
    model.load_state_dict(tmodel.state_dict())
    topt = torch.optim.SGD(tmodel.parameters(), lr=lr, momentum=0.9)
    popt = pf.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for x, y in batches:
        topt.zero_grad()
        tloss = torch.nn.functional.mse_loss(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
        tloss.backward()
        topt.step()
        popt.zero_grad()
        with pf.autograd.enable_grad():
            loss = pf.nn.functional.mse_loss(model(pf.from_numpy(x)), pf.from_numpy(y))
        pf.backward(loss)
        popt.step()
        pf.eval(loss)
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=rtol)
    tstate = tmodel.state_dict()
    for name, value in model.state_dict().items():
        close(value, tstate[name], rtol, atol, name)
