"""Recurrent layers: `RNN`, `LSTM`, `GRU` and their cells `RNNCell`, `LSTMCell`, `GRUCell`,
with PyTorch's parameter names, shapes, initialisation and gate order, so a torch state dict
loads as is:

    weight_ih_l{k}[_reverse]  [gates * hidden, input]   (layer k > 0: input = D * out)
    weight_hh_l{k}[_reverse]  [gates * hidden, out]
    bias_ih_l{k}, bias_hh_l{k} [gates * hidden]
    weight_hr_l{k}            [proj_size, hidden]        (LSTM with proj_size > 0)

gates: RNN 1, LSTM 4 (input, forget, cell, output), GRU 3 (reset, update, new); every
parameter U(-1/sqrt(hidden), 1/sqrt(hidden)). The sequence is unrolled when the graph is
built: the input projections of all steps are one matmul per layer and direction, then one
small step per time step (a matmul with weight_hh and the gate arithmetic):

    LSTM  i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh)
          c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c')  (@ W_hr^T)
    GRU   r, z = sigmoid(x W_i{r,z}^T + b + h W_h{r,z}^T + b)
          n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn));  h' = (1 - z) n + z h
    RNN   h' = tanh or relu(x W_ih^T + b_ih + h W_hh^T + b_hh)

Gradients come from those ops (backpropagation through time). Inputs (L, N, H_in), (N, L,
H_in) with `batch_first`, or unbatched (L, H_in); PackedSequence inputs are not supported.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

from pyflame import ops
from pyflame.lazy_tensor import Tensor, format_location, user_location, user_stacklevel
from pyflame.nn import functional as F
from pyflame.nn import init
from pyflame.nn.linear import empty_parameter
from pyflame.nn.module import Module

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _error(message: str) -> RuntimeError:
    return RuntimeError(f"{format_location(user_location())}: {message}")


def _rnn_step(
    mode: str,
    x_proj: Tensor,
    state: tuple[Tensor, ...],
    w_hh: Tensor,
    b_hh: Tensor | None,
    w_hr: Tensor | None,
) -> tuple[Tensor, ...]:
    """One time step: `x_proj` is x W_ih^T + b_ih, `state` (h,) or (h, c); the new state."""
    h = state[0]
    hidden = F.linear(h, w_hh, b_hh)
    if mode == "LSTM":
        i, f, g, o = ops.chunk(x_proj + hidden, 4, dim=-1)
        c = ops.sigmoid(f) * state[1] + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        if w_hr is not None:
            h = F.linear(h, w_hr)
        return h, c
    if mode == "GRU":
        x_r, x_z, x_n = ops.chunk(x_proj, 3, dim=-1)
        h_r, h_z, h_n = ops.chunk(hidden, 3, dim=-1)
        r = ops.sigmoid(x_r + h_r)
        z = ops.sigmoid(x_z + h_z)
        n = ops.tanh(x_n + r * h_n)
        return ((1 - z) * n + z * h,)
    pre = x_proj + hidden
    return (ops.tanh(pre) if mode == "RNN_TANH" else ops.relu(pre),)


# --------------------------------------------------------------------------- full layers


class RNNBase(Module):
    """What RNN, LSTM and GRU share: PyTorch's arguments, parameters and unrolled forward."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__()
        del device  # one device
        if (
            not isinstance(dropout, numbers.Number)
            or isinstance(dropout, bool)
            or not 0 <= float(dropout) <= 1
        ):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of "
                "an element being zeroed"
            )
        if float(dropout) > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                "dropout expects num_layers greater than 1, but got "
                f"dropout={dropout} and num_layers={num_layers}",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError(
                "proj_size should be a positive integer or zero to disable projections"
            )
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        out_size = proj_size if proj_size > 0 else hidden_size
        for layer in range(num_layers):
            for direction in range(directions):
                layer_input = input_size if layer == 0 else out_size * directions
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                setattr(
                    self, f"weight_ih{suffix}", empty_parameter((gate_size, layer_input), dtype)
                )
                setattr(self, f"weight_hh{suffix}", empty_parameter((gate_size, out_size), dtype))
                if bias:
                    setattr(self, f"bias_ih{suffix}", empty_parameter((gate_size,), dtype))
                    setattr(self, f"bias_hh{suffix}", empty_parameter((gate_size,), dtype))
                if proj_size > 0:
                    setattr(
                        self, f"weight_hr{suffix}", empty_parameter((proj_size, hidden_size), dtype)
                    )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """PyTorch's cuDNN memory layout call: nothing to do here."""

    def _layer_parameters(
        self, layer: int, direction: int
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None, Tensor | None]:
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        return (
            getattr(self, f"weight_ih{suffix}"),
            getattr(self, f"weight_hh{suffix}"),
            getattr(self, f"bias_ih{suffix}", None),
            getattr(self, f"bias_hh{suffix}", None),
            getattr(self, f"weight_hr{suffix}", None),
        )

    def _check_hidden(self, h: Tensor, expected: tuple[int, ...], what: str) -> None:
        if tuple(h.shape) != expected:
            raise _error(f"Expected {what} size {expected}, got {list(h.shape)}")

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, Any]:
        name = type(self).__name__
        if input.ndim not in (2, 3):
            raise ValueError(
                f"{format_location(user_location())}: {name}: Expected input to be 2D or 3D, "
                f"got {input.ndim}D instead"
            )
        batched = input.ndim == 3
        lstm = self.mode == "LSTM"
        states = tuple(hx) if lstm and hx is not None else (() if hx is None else (hx,))
        if hx is not None:
            want = 3 if batched else 2
            if any(s.ndim != want for s in states):
                dims = ", ".join(f"{s.ndim}-D" for s in states)
                kind = "batched 3-D" if batched else "unbatched 2-D"
                which = "hx and cx" if lstm else "hx"
                raise _error(
                    f"For {kind} input, {which} should also be {want}-D but got "
                    f"{f'({dims})' if lstm else dims} tensor{'s' if lstm else ''}"
                )
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)  # (L, N, H_in)
        states = tuple(s if batched else s.unsqueeze(1) for s in states)
        if x.shape[-1] != self.input_size:
            raise _error(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                f"{x.shape[-1]}"
            )
        length, batch = x.shape[0], x.shape[1]
        directions = 2 if self.bidirectional else 1
        out_size = self.proj_size if self.proj_size > 0 else self.hidden_size
        h_shape = (self.num_layers * directions, batch, out_size)
        c_shape = (self.num_layers * directions, batch, self.hidden_size)
        if states:
            self._check_hidden(states[0], h_shape, "hidden[0]" if lstm else "hidden")
            if lstm:
                self._check_hidden(states[1], c_shape, "hidden[1]")
            h0 = states[0]
            c0 = states[1] if lstm else None
        else:
            h0 = ops.zeros(h_shape, dtype=x.dtype)
            c0 = ops.zeros(c_shape, dtype=x.dtype) if lstm else None
        last_h: list[Tensor] = []
        last_c: list[Tensor] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._layer_parameters(layer, direction)
                index = layer * directions + direction
                state: tuple[Tensor, ...] = (h0[index],)
                if c0 is not None:
                    state = (state[0], c0[index])
                projected = F.linear(layer_input, w_ih, b_ih)  # all steps at once
                steps: list[Tensor] = [layer_input] * length  # (replaced below)
                order = range(length - 1, -1, -1) if direction == 1 else range(length)
                for t in order:
                    state = _rnn_step(self.mode, projected[t], state, w_hh, b_hh, w_hr)
                    steps[t] = state[0]
                outputs.append(ops.stack(steps, dim=0))
                last_h.append(state[0])
                if lstm:
                    last_c.append(state[1])
            layer_input = outputs[0] if directions == 1 else ops.cat(outputs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        output = layer_input
        h_n = ops.stack(last_h, dim=0)
        c_n = ops.stack(last_c, dim=0) if lstm else None
        if batched and self.batch_first:
            output = output.transpose(0, 1)
        if not batched:
            output = output.squeeze(1)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        return output, ((h_n, c_n) if lstm else h_n)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False): h' = tanh or relu(x W_ih^T + b_ih +
    h W_hh^T + b_hh); `forward(input, hx=None)` -> (output, h_n)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ):
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if nonlinearity not in modes:
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        super().__init__(
            modes[nonlinearity],
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0): gates i, f, g, o in PyTorch's order;
    `forward(input, hx=None)` -> (output, (h_n, c_n))."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
        )


class GRU(RNNBase):
    """GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False): gates r, z, n in PyTorch's order; `forward(input, hx=None)` ->
    (output, h_n)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )


# --------------------------------------------------------------------------- cells


class RNNCellBase(Module):
    """What the cells share: weight_ih [gates * hidden, input], weight_hh [gates * hidden,
    hidden], bias_ih, bias_hh, all U(-1/sqrt(hidden), 1/sqrt(hidden)); (N, H_in) or (H_in)
    input."""

    _mode = "RNN_TANH"

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool, gates: int, dtype: Any = None
    ):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = empty_parameter((gates * hidden_size, input_size), dtype)
        self.weight_hh = empty_parameter((gates * hidden_size, hidden_size), dtype)
        if bias:
            self.bias_ih = empty_parameter((gates * hidden_size,), dtype)
            self.bias_hh = empty_parameter((gates * hidden_size,), dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _step(self, input: Tensor, states: tuple[Tensor, ...] | None) -> tuple[Tensor, ...]:
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(
                f"{format_location(user_location())}: {name}: Expected input to be 1D or 2D, "
                f"got {input.ndim}D instead"
            )
        batched = input.ndim == 2
        if states is not None and any(s.ndim != input.ndim for s in states):
            raise _error(
                f"{name}: Expected hidden to be {input.ndim}D, got "
                f"{', '.join(f'{s.ndim}D' for s in states)} instead"
            )
        x = input if batched else input.unsqueeze(0)
        if x.shape[1] != self.input_size:
            raise _error(
                f"input has inconsistent input_size: got {x.shape[1]} expected {self.input_size}"
            )
        count = 2 if self._mode == "LSTM" else 1
        if states is None:
            states = tuple(
                ops.zeros((x.shape[0], self.hidden_size), dtype=x.dtype) for _ in range(count)
            )
        else:
            states = tuple(s if batched else s.unsqueeze(0) for s in states)
        for i, s in enumerate(states):
            if s.shape[0] != x.shape[0]:
                raise _error(
                    f"Input batch size {x.shape[0]} doesn't match hidden{i} batch size {s.shape[0]}"
                )
            if s.shape[1] != self.hidden_size:
                raise _error(
                    f"hidden{i} has inconsistent hidden_size: got {s.shape[1]}, expected "
                    f"{self.hidden_size}"
                )
        projected = F.linear(x, self.weight_ih, self.bias_ih)
        new = _rnn_step(self._mode, projected, states, self.weight_hh, self.bias_hh, None)
        return new if batched else tuple(s.squeeze(0) for s in new)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    """RNNCell(input_size, hidden_size, bias=True, nonlinearity='tanh'): `forward(input,
    hx=None)` -> h'."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ):
        del device
        super().__init__(input_size, hidden_size, bias, 1, dtype)
        if nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        self._mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, None if hx is None else (hx,))[0]


class LSTMCell(RNNCellBase):
    """LSTMCell(input_size, hidden_size, bias=True): `forward(input, hx=None)` with hx
    (h, c) -> (h', c')."""

    _mode = "LSTM"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ):
        del device
        super().__init__(input_size, hidden_size, bias, 4, dtype)

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        h, c = self._step(input, None if hx is None else tuple(hx))
        return h, c


class GRUCell(RNNCellBase):
    """GRUCell(input_size, hidden_size, bias=True): `forward(input, hx=None)` -> h'."""

    _mode = "GRU"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ):
        del device
        super().__init__(input_size, hidden_size, bias, 3, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, None if hx is None else (hx,))[0]


__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase"]
