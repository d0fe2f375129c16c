"""nn.RNN, nn.LSTM, nn.GRU and their cells against torch: a torch state dict loads as is
(names, shapes, order), the outputs and final states, and the gradients of the input, the
initial states and every parameter (backpropagation through time), for several layers,
bidirectional, batch_first, unbatched inputs, LSTM projections, two layouts; the initial
values' distribution, reprs, a few training steps, and PyTorch's errors and warnings."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import GRID, close, rand, twin  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("small_target"),
    pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN"),
]


def _flat(out):
    """The tensors of a recurrent layer's output ((output, h_n) or (output, (h_n, c_n)))."""
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [out]


def check_recurrent(make, x, states=(), layout=None, rtol=1e-5, atol=1e-5):
    """`make(torch.nn)` and `make(pf.nn)` (with the torch layer's state) give the same outputs
    and the same gradients of the input, the initial states and every parameter."""
    t, p = twin(make)
    tx = torch.from_numpy(x).requires_grad_()
    px = pf.from_numpy(x, layout=layout).requires_grad_()
    ts = [torch.from_numpy(s).requires_grad_() for s in states]
    ps = [pf.from_numpy(s).requires_grad_() for s in states]
    lstm_like = isinstance(t, (torch.nn.LSTM, torch.nn.LSTMCell))
    targ = None if not ts else (tuple(ts) if lstm_like else ts[0])
    parg = None if not ps else (tuple(ps) if lstm_like else ps[0])
    want, got = _flat(t(tx, targ)), _flat(p(px, parg))
    assert len(got) == len(want)
    tloss, ploss = 0, 0
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        assert tuple(g.shape) == tuple(w.shape), (i, g.shape, w.shape)
        weights = rand(*w.shape, seed=10 + i)
        tloss = tloss + (w * torch.from_numpy(weights)).sum()
        ploss = ploss + (g * pf.from_numpy(weights)).sum()
    tloss.backward()
    pf.backward(ploss)
    # one program for every value compared (each alone would compile one of its own)
    pf.eval(*got, px.grad, *(s.grad for s in ps), *(q.grad for q in p.parameters()))
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        close(g, w, rtol, atol, f"output {i}")
    close(px.grad, tx.grad, rtol, atol, "input grad")
    for i, (a, b) in enumerate(zip(ps, ts, strict=True)):
        close(a.grad, b.grad, rtol, atol, f"state {i} grad")
    tparams = dict(t.named_parameters())
    for name, param in p.named_parameters():
        close(param.grad, tparams[name].grad, rtol, atol, f"{name} grad")
    return t, p


@pytest.mark.parametrize(
    "make, shape, layout",
    [
        (lambda m: m.LSTM(3, 5), (4, 2, 3), None),
        (lambda m: m.LSTM(3, 4, 2, bidirectional=True), (2, 3, 3), GRID),
        (lambda m: m.LSTM(3, 5, batch_first=True, proj_size=2), (2, 4, 3), None),
        (lambda m: m.GRU(3, 5, 2), (4, 2, 3), GRID),
        (lambda m: m.GRU(4, 3, bidirectional=True, batch_first=True, bias=False), (3, 5, 4), None),
        (lambda m: m.RNN(3, 4, 2, nonlinearity="relu"), (5, 2, 3), None),
        (lambda m: m.RNN(3, 4, bidirectional=True), (4, 3), None),  # unbatched
        (lambda m: m.LSTM(3, 4, 2), (5, 3), None),  # unbatched
    ],
    ids=[
        "lstm",
        "lstm_2layer_bidir",
        "lstm_batch_first_proj",
        "gru_2layer",
        "gru_bidir_batch_first_nobias",
        "rnn_relu_2layer",
        "rnn_bidir_unbatched",
        "lstm_unbatched",
    ],
)
def test_recurrent_layers_match_torch(make, shape, layout):
    t, p = check_recurrent(make, rand(*shape), layout=layout)
    assert list(p.state_dict()) == list(t.state_dict())
    assert repr(p) == repr(t)


@pytest.mark.slow  # (one of the suite's slowest: run with -m slow)
def test_initial_states_are_used_and_get_gradients():
    h0, c0 = rand(4, 2, 5, seed=1), rand(4, 2, 5, seed=2)
    check_recurrent(lambda m: m.LSTM(3, 5, 2, bidirectional=True), rand(3, 2, 3), (h0, c0))
    check_recurrent(lambda m: m.GRU(3, 5, 4), rand(3, 2, 3), (h0,))
    check_recurrent(lambda m: m.RNN(3, 5), rand(3, 3), (rand(1, 5, seed=3),))  # unbatched


@pytest.mark.parametrize(
    "make, states",
    [
        (lambda m: m.LSTMCell(3, 5), (rand(2, 5, seed=1), rand(2, 5, seed=2))),
        (lambda m: m.GRUCell(3, 5), (rand(2, 5, seed=1),)),
        (lambda m: m.RNNCell(3, 5, nonlinearity="relu"), (rand(2, 5, seed=1),)),
        (lambda m: m.GRUCell(3, 5, bias=False), ()),
        (lambda m: m.LSTMCell(3, 5), ()),
    ],
    ids=["lstm", "gru", "rnn_relu", "gru_nobias_no_state", "lstm_no_state"],
)
def test_cells_match_torch(make, states):
    t, p = check_recurrent(make, rand(2, 3), states, layout=GRID)
    assert list(p.state_dict()) == list(t.state_dict()) and repr(p) == repr(t)
    check_recurrent(make, rand(3), tuple(s[0] for s in states))  # unbatched


def test_initial_values_are_torchs_distribution():
    layer = nn.LSTM(4, 50, 2)
    bound = 1 / np.sqrt(50)
    for name, param in layer.named_parameters():
        values = param.numpy()
        assert np.all(np.abs(values) <= bound) and values.std() > bound / 3, name


@pytest.mark.slow  # (one of the suite's slowest: run with -m slow)
def test_training_steps_match_torch():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((4, 3, 2)).astype(np.float32), rng.standard_normal((3, 2))
    t, p = twin(lambda m: m.GRU(2, 3))
    topt = torch.optim.SGD(t.parameters(), lr=0.1)
    popt = pf.optim.SGD(p.parameters(), lr=0.1)
    for _ in range(3):
        tloss = (
            (t(torch.from_numpy(x))[0][-1, :, :2] - torch.from_numpy(y.astype(np.float32))) ** 2
        ).mean()
        ploss = (
            (p(pf.from_numpy(x))[0][-1, :, :2] - pf.from_numpy(y.astype(np.float32))) ** 2
        ).mean()
        close(ploss, tloss)
        topt.zero_grad(), popt.zero_grad()
        tloss.backward()
        ploss.backward()
        topt.step(), popt.step()
    tparams = dict(t.named_parameters())
    for name, param in p.named_parameters():
        close(param, tparams[name], msg=name)


def test_errors_and_warnings_as_torch():
    here = r"test_rnn.py:\d+: "
    gru = nn.GRU(3, 4)
    with pytest.raises(RuntimeError, match=here + r"input.size\(-1\) must be equal to input_size"):
        gru(pf.from_numpy(rand(5, 2, 4)))
    with pytest.raises(
        RuntimeError, match=here + r"Expected hidden size \(1, 2, 4\), got \[1, 3, 4\]"
    ):
        gru(pf.from_numpy(rand(5, 2, 3)), pf.from_numpy(rand(1, 3, 4)))
    with pytest.raises(ValueError, match=here + "GRU: Expected input to be 2D or 3D, got 4D"):
        gru(pf.from_numpy(rand(2, 5, 2, 3)))
    with pytest.raises(RuntimeError, match=here + "For unbatched 2-D input, hx should also be 2-D"):
        gru(pf.from_numpy(rand(5, 3)), pf.from_numpy(rand(1, 2, 4)))
    with pytest.raises(RuntimeError, match=here + r"Expected hidden\[1\] size"):
        nn.LSTM(3, 4)(
            pf.from_numpy(rand(5, 2, 3)),
            (pf.from_numpy(rand(1, 2, 4)), pf.from_numpy(rand(1, 3, 4))),
        )
    with pytest.raises(RuntimeError, match=here + "input has inconsistent input_size: got 5"):
        nn.LSTMCell(3, 4)(pf.from_numpy(rand(2, 5)))
    with pytest.raises(RuntimeError, match=here + "Input batch size 2 doesn't match hidden0"):
        nn.GRUCell(3, 4)(pf.from_numpy(rand(2, 3)), pf.from_numpy(rand(3, 4)))
    with pytest.raises(ValueError, match=here + "RNNCell: Expected input to be 1D or 2D, got 3D"):
        nn.RNNCell(3, 4)(pf.from_numpy(rand(2, 2, 3)))
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.GRU(3, 4, dropout=2.0)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1") as w:
        nn.GRU(3, 4, dropout=0.5)
    assert w[0].filename == __file__


def test_dropout_between_layers_only_in_training():
    layer = nn.GRU(3, 4, 2, dropout=0.5)
    x = pf.from_numpy(rand(4, 2, 3))
    layer.eval()
    first, second = layer(x)[0].numpy(), layer(x)[0].numpy()
    np.testing.assert_array_equal(first, second)
    layer.train()
    assert not np.array_equal(layer(x)[0].numpy(), first)
