"""pf.extend.AutogradFunction: custom forward/backward, against torch.autograd.Function."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf

torch = pytest.importorskip("torch")


pytestmark = pytest.mark.usefixtures("small_target")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# the migration guide's Pattern 4, as written
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


class TorchCustomReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


def leaf(array):
    t = pf.from_numpy(array)
    t.requires_grad = True
    return t


def test_guide_custom_relu_matches_torch():
    a, w, c = rand(5, 4, seed=1), rand(4, 6, seed=2), rand(5, 6, seed=3)
    x, wp = leaf(a), leaf(w)
    y = CustomReLU.apply(x @ wp)
    loss = (y * pf.from_numpy(c)).sum()
    pf.backward(loss)
    pf.eval(loss, x.grad, wp.grad)

    tx, tw = torch.from_numpy(a).requires_grad_(), torch.from_numpy(w).requires_grad_()
    tloss = (TorchCustomReLU.apply(tx @ tw) * torch.from_numpy(c)).sum()
    tloss.backward()
    np.testing.assert_allclose(loss.numpy(), tloss.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(wp.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert y.shape == (5, 6) and y.requires_grad


def test_custom_relu_at_exact_zeros():
    """The guide's PyFlame backward (`input > 0`) gives torch.relu's gradient 0 at 0 (its
    PyTorch version, which zeroes `input < 0`, passes the gradient at exactly 0)."""
    a = np.array([[-1.0, 0.0, 2.0], [0.0, 3.0, -0.5]], np.float32)
    x = leaf(a)
    loss = (CustomReLU.apply(x) * 2).sum()
    pf.backward(loss)
    tx = torch.from_numpy(a).requires_grad_()
    (torch.relu(tx) * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    ty = torch.from_numpy(a).requires_grad_()
    (TorchCustomReLU.apply(ty) * 2).sum().backward()
    nonzero = a != 0
    np.testing.assert_array_equal(x.grad.numpy()[nonzero], ty.grad.numpy()[nonzero])


class ScaledProduct(pf.extend.AutogradFunction):
    """Two tensor inputs, saved tensors, a non-tensor argument kept on ctx."""

    @staticmethod
    def forward(ctx, x, y, alpha):
        ctx.save_for_backward(x, y)
        ctx.alpha = alpha
        ctx.seen_needs = ctx.needs_input_grad
        return x * y * alpha

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        gx = grad * y * ctx.alpha if ctx.needs_input_grad[0] else None
        gy = grad * x * ctx.alpha if ctx.needs_input_grad[1] else None
        return gx, gy, None


class TorchScaledProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y, alpha):
        ctx.save_for_backward(x, y)
        ctx.alpha = alpha
        return x * y * alpha

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad * y * ctx.alpha, grad * x * ctx.alpha, None


def test_two_inputs_and_saved_tensors_match_torch():
    a, b, c = rand(3, 4, seed=4), rand(3, 4, seed=5), rand(3, 4, seed=6)
    x, y = leaf(a), leaf(b)
    out = ScaledProduct.apply(pf.tanh(x), y + 1, 1.5)
    loss = (out * pf.from_numpy(c)).sum() + (out * out).mean()
    pf.backward(loss)
    pf.eval(loss, x.grad, y.grad)

    tx, ty = torch.from_numpy(a).requires_grad_(), torch.from_numpy(b).requires_grad_()
    tout = TorchScaledProduct.apply(torch.tanh(tx), ty + 1, 1.5)
    tloss = (tout * torch.from_numpy(c)).sum() + (tout * tout).mean()
    tloss.backward()
    np.testing.assert_allclose(loss.numpy(), tloss.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_needs_input_grad_and_inputs_without_grad():
    x = leaf(rand(2, 3))
    y = pf.from_numpy(rand(2, 3, seed=1))  # no gradient wanted
    ctxs = []

    class Spy(ScaledProduct):
        @staticmethod
        def forward(ctx, x, y, alpha):
            ctxs.append(ctx)
            return ScaledProduct.forward(ctx, x, y, alpha)

    loss = Spy.apply(x, y, 2.0).sum()
    assert ctxs[0].needs_input_grad == (True, False, False)
    pf.backward(loss)
    np.testing.assert_allclose(x.grad.numpy(), 2 * rand(2, 3, seed=1), rtol=1e-6)
    assert y.grad is None
    # no input needs a gradient (or no_grad): a plain lazy result, backward never called
    with pf.no_grad():
        plain = Spy.apply(x, y, 2.0)
    assert not plain.requires_grad and "_grad_fn" not in plain.__dict__


class SplitScale(pf.extend.AutogradFunction):
    """Two outputs; backward gets one gradient per output (zeros for an unused one)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 2, x * x

    @staticmethod
    def backward(ctx, g_double, g_square):
        (x,) = ctx.saved_tensors
        return g_double * 2 + g_square * 2 * x


@pytest.mark.parametrize("use", ["both", "first", "second"])
def test_multiple_outputs(use):
    a = rand(4, 3, seed=7)
    x = leaf(a)
    d, s = SplitScale.apply(x)
    loss = {
        "both": lambda: (d * s).sum(),
        "first": lambda: d.sum() * 3,
        "second": lambda: s.mean(),
    }[use]()
    pf.backward(loss)
    tx = torch.from_numpy(a).requires_grad_()
    td, ts = tx * 2, tx * tx
    tloss = {
        "both": lambda: (td * ts).sum(),
        "first": lambda: td.sum() * 3,
        "second": lambda: ts.mean(),
    }[use]()
    tloss.backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_custom_backward_replaces_autodiff():
    """A straight-through sign: forward is not differentiable, backward passes g through."""

    class SignSTE(pf.extend.AutogradFunction):
        @staticmethod
        def forward(ctx, x):
            return (x > 0).float() * 2 - 1

        @staticmethod
        def backward(ctx, g):
            return g

    a = rand(3, 3, seed=8)
    x = leaf(a)
    loss = (SignSTE.apply(x) * pf.from_numpy(a)).sum()
    pf.backward(loss)
    np.testing.assert_allclose(x.grad.numpy(), a)
    assert loss.item() == pytest.approx(np.abs(a).sum(), rel=1e-6)


def test_broadcast_gradient_is_summed_and_setup_context_style():
    class AddBias(pf.extend.AutogradFunction):
        @staticmethod
        def forward(x, b):
            return x + b

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.rows = inputs[0].shape[0]

        @staticmethod
        def backward(ctx, g):
            return g, g  # the bias gradient has x's shape: summed back to b's, as in torch

    a, bias = rand(5, 3, seed=9), rand(3, seed=10)
    x, b = leaf(a), leaf(bias)
    loss = (AddBias.apply(x, b) ** 2).sum()
    pf.backward(loss)
    tx, tb = torch.from_numpy(a).requires_grad_(), torch.from_numpy(bias).requires_grad_()
    ((tx + tb) ** 2).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5)


def test_bad_backward_results_are_reported():
    class TooMany(pf.extend.AutogradFunction):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    class WrongShape(pf.extend.AutogradFunction):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return pf.ones([7])

    x = leaf(rand(2, 3))
    with pytest.raises(RuntimeError, match="TooMany: backward returned 2 gradients"):
        pf.backward(TooMany.apply(x).sum())
    with pytest.raises(pf.ShapeError, match=r"WrongShape.*\[7\].*\[2, 3\]"):
        pf.backward(WrongShape.apply(x))


def test_training_with_a_custom_function_compiles_once():
    w = leaf(rand(4, 3, seed=11) * 0.5)
    opt = pf.optim.SGD([w], lr=0.1, momentum=0.9)
    tw = torch.from_numpy(rand(4, 3, seed=11) * 0.5).requires_grad_()
    topt = torch.optim.SGD([tw], lr=0.1, momentum=0.9)
    pf.cache_clear()
    for step in range(4):
        xa, ya = rand(6, 4, seed=20 + step), rand(6, 3, seed=30 + step)
        with pf.autograd.enable_grad():
            loss = ((CustomReLU.apply(pf.from_numpy(xa) @ w) - pf.from_numpy(ya)) ** 2).mean()
        pf.backward(loss)
        opt.step()
        pf.eval(loss)
        topt.zero_grad()
        tloss = (TorchCustomReLU.apply(torch.from_numpy(xa) @ tw) - torch.from_numpy(ya)) ** 2
        tloss.mean().backward()
        topt.step()
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert pf.cache_info().misses == 1


def test_a_tensor_ctx_saved_and_changed_in_place_raises_pytorchs_error():
    """As a torch.autograd.Function: backward refuses an input or output that ctx saved and
    an in-place op changed since; an unsaved one may change."""
    torch = pytest.importorskip("torch")

    def make(lib, base):
        class Exp(base):
            @staticmethod
            def forward(ctx, x, y):
                out = x.exp() * y
                ctx.save_for_backward(out, y)
                return out

            @staticmethod
            def backward(ctx, g):
                out, y = ctx.saved_tensors
                return g * out, g * out / y

        return Exp

    a = np.linspace(0.5, 1.5, 6, dtype=np.float32).reshape(2, 3)
    for lib, base, make_tensor in (
        (pf, pf.extend.AutogradFunction, pf.from_numpy),
        (torch, torch.autograd.Function, torch.from_numpy),
    ):
        fn = make(lib, base)
        for change, raises in (("out", True), ("y", True), ("x", False)):
            x = make_tensor(a.copy())
            x.requires_grad_(True)
            x1, y1 = x * 1, x * 2
            out = fn.apply(x1, y1)
            {"out": out, "y": y1, "x": x1}[change].add_(1)
            if raises:
                with pytest.raises(RuntimeError, match="is at version 1; expected version 0"):
                    out.sum().backward()
            else:
                out.sum().backward()
