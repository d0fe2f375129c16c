"""nn.TransformerEncoderLayer, TransformerDecoderLayer, TransformerEncoder,
TransformerDecoder and Transformer against torch: a torch state dict loads as is (names,
order), outputs and the gradients of the inputs and every parameter match, post- and
pre-norm, relu/gelu/callable activations, batch_first, unbatched, attention and padding
masks, the causal mask; PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyflame as pf
from pyflame import nn

torch = pytest.importorskip("torch")

from nn_parity import GRID, close, rand, twin  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("small_target"),
    pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
    pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors"),
]


def check(make, arrays, extra=lambda lib: {}, layout=None):
    """Values and gradients (every input array, every parameter) in one program."""
    t, p = twin(make)
    t.eval()  # dropout 0 anyway; eval keeps torch off its training-only paths
    ts = [torch.from_numpy(a).requires_grad_() for a in arrays]
    ps = [
        pf.from_numpy(a, layout=layout if i == 0 else None).requires_grad_()
        for i, a in enumerate(arrays)
    ]
    want, got = t(*ts, **extra(torch)), p(*ps, **extra(pf))
    assert tuple(got.shape) == tuple(want.shape)
    g = rand(*want.shape, seed=5)
    (want * torch.from_numpy(g)).sum().backward()
    pf.backward((got * pf.from_numpy(g)).sum())
    pf.eval(got, *(x.grad for x in ps), *(q.grad for q in p.parameters()))
    close(got, want, 1e-4, 1e-5, "output")
    for i, (a, b) in enumerate(zip(ps, ts, strict=True)):
        close(a.grad, b.grad, 1e-4, 1e-5, f"input {i} grad")
    tparams = dict(t.named_parameters())
    for name, param in p.named_parameters():
        close(param.grad, tparams[name].grad, 1e-4, 1e-5, f"{name} grad")
    assert list(p.state_dict()) == list(t.state_dict())


def _mask(lib, n):
    return lib.nn.Transformer.generate_square_subsequent_mask(n)


def _padding(lib, rows):
    mask = np.zeros((len(rows), 5), bool)
    for i, r in enumerate(rows):
        mask[i, r:] = True
    return torch.from_numpy(mask) if lib is torch else pf.from_numpy(mask)


@pytest.mark.parametrize(
    "make, shape, extra, layout",
    [
        (lambda m: m.TransformerEncoderLayer(8, 2, 16, 0.0), (5, 3, 8), lambda lib: {}, GRID),
        (
            lambda m: m.TransformerEncoderLayer(
                8, 2, 12, 0.0, "gelu", batch_first=True, norm_first=True
            ),
            (3, 5, 8),
            lambda lib: {"src_key_padding_mask": _padding(lib, [5, 3, 4])},
            None,
        ),
        (
            lambda m: m.TransformerEncoderLayer(8, 4, 16, 0.0, bias=False),
            (5, 8),  # unbatched
            lambda lib: {"src_mask": _mask(lib, 5), "is_causal": True},
            None,
        ),
    ],
    ids=["post_norm", "pre_norm_gelu_batch_first_padding", "unbatched_causal_no_bias"],
)
def test_encoder_layer_matches_torch(make, shape, extra, layout):
    check(make, [rand(*shape)], extra, layout)


@pytest.mark.slow  # (one of the suite's slowest: run with -m slow)
def test_decoder_layer_and_stacks_match_torch():
    tgt, memory = rand(4, 2, 8), rand(5, 2, 8, seed=1)
    check(
        lambda m: m.TransformerDecoderLayer(8, 2, 16, 0.0, norm_first=True),
        [tgt, memory],
        lambda lib: {"tgt_mask": _mask(lib, 4), "memory_key_padding_mask": _padding(lib, [5, 2])},
    )
    check(
        lambda m: m.TransformerEncoder(m.TransformerEncoderLayer(8, 2, 16, 0.0), 2, m.LayerNorm(8)),
        [memory],
        lambda lib: {"mask": _mask(lib, 5)},
    )
    check(
        lambda m: m.TransformerDecoder(m.TransformerDecoderLayer(8, 2, 16, 0.0, "gelu"), 2),
        [tgt, memory],
    )


@pytest.mark.slow  # (one of the suite's slowest: run with -m slow)
def test_transformer_matches_torch():
    check(
        lambda m: m.Transformer(8, 2, 2, 1, 16, 0.0, batch_first=True),
        [rand(2, 5, 8), rand(2, 4, 8, seed=1)],
        lambda lib: {"tgt_mask": _mask(lib, 4), "src_key_padding_mask": _padding(lib, [5, 3])},
    )


def test_initial_values_masks_and_errors_as_torch():
    model = nn.Transformer(8, 2, 1, 1, 16)
    for name, param in model.named_parameters():
        if param.ndim > 1:  # xavier_uniform: bound sqrt(6 / (fan_in + fan_out))
            fan_out, fan_in = param.shape[:2]
            assert np.all(np.abs(param.numpy()) <= np.sqrt(6 / (fan_in + fan_out)) + 1e-7), name
    np.testing.assert_array_equal(
        nn.Transformer.generate_square_subsequent_mask(4).numpy(),
        torch.nn.Transformer.generate_square_subsequent_mask(4).numpy(),
    )
    with pytest.raises(RuntimeError, match=r"test_transformer.py:\d+: the batch number of src"):
        model(pf.from_numpy(rand(5, 3, 8)), pf.from_numpy(rand(4, 2, 8)))
    with pytest.raises(RuntimeError, match=r"test_transformer.py:\d+: the feature number of src"):
        model(pf.from_numpy(rand(5, 2, 6)), pf.from_numpy(rand(4, 2, 8)))
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    layer = nn.TransformerEncoderLayer(8, 2, 16, 0.0, activation=pf.tanh)
    assert layer.activation is pf.tanh
