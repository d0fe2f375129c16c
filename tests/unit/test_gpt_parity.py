"""Issue 12's GPT (examples/gpt_model.py) against the same model written in PyTorch: from the
same weights on the same batches, the loss at every one of 20 AdamW steps matches (rtol 2e-3),
a greedy decode with the KV cache gives PyTorch's tokens (compiled once for every token),
weights saved by either framework (safetensors) load in the other, and each option (RMSNorm,
SwiGLU, rotary) matches on its own."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

import pyflame as pf

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
tnn, TF = torch.nn, torch.nn.functional

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from gpt_model import (  # noqa: E402
    GPT,
    GPTConfig,
    KVCacheDecoder,
    generate,
    rotary_tables,
    sample,
)

pytestmark = pytest.mark.usefixtures("small_target")

SMALL = dict(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=16)


# --------------------------------------------------------------------------- the torch twin


class TorchAttention(tnn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.n_head, self.n_embd = c.n_head, c.n_embd
        self.c_attn = tnn.Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)
        self.c_proj = tnn.Linear(c.n_embd, c.n_embd, bias=c.bias)

    def forward(self, x, rope):
        B, T, C = x.shape
        q, k, v = (
            t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            for t in self.c_attn(x).split(C, dim=2)
        )
        if rope is not None:
            q, k = torch_rotary(q, *rope), torch_rotary(k, *rope)
        y = TF.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


def torch_rotary(x, cos, sin):
    x1, x2 = x.split(x.shape[-1] // 2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class TorchMLP(tnn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.gated = c.mlp == "swiglu"
        hidden = c.swiglu_hidden if self.gated else 4 * c.n_embd
        self.c_fc = tnn.Linear(c.n_embd, hidden, bias=c.bias)
        if self.gated:
            self.c_gate = tnn.Linear(c.n_embd, hidden, bias=c.bias)
        self.c_proj = tnn.Linear(hidden, c.n_embd, bias=c.bias)

    def forward(self, x):
        h = TF.silu(self.c_gate(x)) * self.c_fc(x) if self.gated else TF.gelu(self.c_fc(x))
        return self.c_proj(h)


def torch_norm(c: GPTConfig):
    return tnn.RMSNorm(c.n_embd) if c.norm == "rms" else tnn.LayerNorm(c.n_embd, bias=c.bias)


class TorchBlock(tnn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.ln_1, self.attn = torch_norm(c), TorchAttention(c)
        self.ln_2, self.mlp = torch_norm(c), TorchMLP(c)

    def forward(self, x, rope):
        x = x + self.attn(self.ln_1(x), rope)
        return x + self.mlp(self.ln_2(x))


class TorchGPT(tnn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.config = c
        self.wte = tnn.Embedding(c.vocab_size, c.n_embd)
        if c.rotary:
            cos, sin = rotary_tables(c)
            self.register_buffer("rope_cos", torch.from_numpy(cos), persistent=False)
            self.register_buffer("rope_sin", torch.from_numpy(sin), persistent=False)
        else:
            self.wpe = tnn.Embedding(c.block_size, c.n_embd)
        self.h = tnn.ModuleList([TorchBlock(c) for _ in range(c.n_layer)])
        self.ln_f = torch_norm(c)
        self.lm_head = tnn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight
        for name, p in self.named_parameters():  # not PyFlame's values: the test copies these
            if p.ndim == 2:
                std = 0.02 / math.sqrt(2 * c.n_layer) if name.endswith("c_proj.weight") else 0.1
                tnn.init.normal_(p, std=std)
            else:
                tnn.init.normal_(p, mean=1.0 if "ln" in name else 0.0, std=0.1)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        x = self.wte(idx)
        rope = None
        if self.config.rotary:
            rope = (self.rope_cos[:T], self.rope_sin[:T])
        else:
            x = x + self.wpe(torch.arange(T))
        for block in self.h:
            x = block(x, rope)
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits, None
        return logits, TF.cross_entropy(logits.view(B * T, -1), targets.reshape(B * T))


def twins(**options) -> tuple[GPT, TorchGPT]:
    config = GPTConfig(**{**SMALL, **options})
    torch.manual_seed(0)
    tmodel = TorchGPT(config)
    model = GPT(config)
    model.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
    return model, tmodel


def token_batches(config_vocab: int, block: int, steps: int, batch: int = 2):
    rng = np.random.default_rng(3)
    for _ in range(steps):
        # a learnable text: runs of a token and its successor, so the loss really falls
        starts = rng.integers(0, config_vocab, (batch, 1))
        seq = (starts + np.arange(block + 1) // 2) % config_vocab
        yield seq[:, :-1].astype(np.int32), seq[:, 1:].astype(np.int32)


def train_both(model: GPT, tmodel: TorchGPT, steps: int) -> tuple[list[float], list[float]]:
    c = model.config
    opt = pf.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    topt = torch.optim.AdamW(tmodel.parameters(), lr=1e-2, weight_decay=0.1)
    losses, tlosses = [], []
    for x, y in token_batches(c.vocab_size, c.block_size, steps):
        topt.zero_grad()
        _, tloss = tmodel(torch.from_numpy(x).long(), torch.from_numpy(y).long())
        tloss.backward()
        topt.step()
        _, loss = model(pf.from_numpy(x), pf.from_numpy(y))
        loss.backward()
        opt.step()
        pf.eval(loss)
        losses.append(loss.item())
        tlosses.append(tloss.item())
    return losses, tlosses


def torch_greedy(tmodel: TorchGPT, prompt: np.ndarray, new_tokens: int) -> np.ndarray:
    """PyTorch's greedy decode without a cache: the whole sequence again for every token."""
    seq = torch.from_numpy(prompt).long()
    with torch.no_grad():
        for _ in range(new_tokens):
            logits, _ = tmodel(seq)
            seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return seq.numpy()


# --------------------------------------------------------------------------- the tests


def test_twenty_adamw_steps_and_a_greedy_decode_match_pytorch():
    model, tmodel = twins()
    pf.cache_clear()
    losses, tlosses = train_both(model, tmodel, 20)
    np.testing.assert_allclose(losses, tlosses, rtol=2e-3)
    assert tlosses[-1] < 0.8 * tlosses[0]  # it learns something: the match is not of noise
    assert pf.cache_info().misses == 1  # the whole training step: one program, compiled once

    engine = pf.serving.InferenceEngine(KVCacheDecoder(model), max_batch_size=2)
    prompt = np.array([[3, 3, 4], [9, 10, 10]], np.int32)
    misses = pf.cache_info().misses
    tokens = generate(engine, model.config, prompt, 5)
    # 7 positions, one program: the prompt and every new token run the same compiled step
    assert pf.cache_info().misses - misses == 1 and engine.stats.compiles == 1
    assert engine.stats.runs == 7
    tmodel.eval()
    np.testing.assert_array_equal(tokens, torch_greedy(tmodel, prompt, 5))


def test_decoding_with_the_cache_gives_the_full_forwards_logits():
    """Each decode step's logits are the full forward's at that position (PyTorch's, no
    cache): the cache slot writes and the visibility mask are exact."""
    model, tmodel = twins()
    seq = np.array([[1, 5, 2, 7, 7, 0, 3, 12]], np.int32)
    decoder = KVCacheDecoder(model).eval()
    caches = model.empty_cache(1)
    with torch.no_grad():
        want, _ = tmodel.eval()(torch.from_numpy(seq).long())
    for pos in range(seq.shape[1]):
        with pf.no_grad():
            logits, *outs = decoder(
                pf.from_numpy(seq[:, pos : pos + 1]),
                pf.from_numpy(np.array([pos], np.int32)),
                *(pf.from_numpy(c) for c in caches),
            )
            pf.eval(logits, *outs)
        caches = [c.numpy() for c in outs]
        np.testing.assert_allclose(logits.numpy()[0], want[0, pos].numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"norm": "rms"}, marks=pytest.mark.slow),  # (the suite's 10 minutes)
        {"mlp": "swiglu"},
        pytest.param({"rotary": True}, marks=pytest.mark.slow),
    ],
    ids=["rmsnorm", "swiglu", "rotary"],
)
def test_each_option_matches_pytorch(options):
    """The forward's loss and three AdamW steps, then the decode step's logits (rotary: the
    position comes from the cache step's own table row)."""
    model, tmodel = twins(**options)
    losses, tlosses = train_both(model, tmodel, 3)
    np.testing.assert_allclose(losses, tlosses, rtol=2e-3)
    prompt = np.array([[2, 3, 3]], np.int32)
    engine = pf.serving.InferenceEngine(KVCacheDecoder(model), max_batch_size=1)
    tmodel.eval()
    np.testing.assert_array_equal(
        generate(engine, model.config, prompt, 4), torch_greedy(tmodel, prompt, 4)
    )


@pytest.mark.slow
def test_every_option_together_for_twenty_steps_on_two_layers():
    model, tmodel = twins(norm="rms", mlp="swiglu", rotary=True, n_layer=2, block_size=16)
    losses, tlosses = train_both(model, tmodel, 20)
    np.testing.assert_allclose(losses, tlosses, rtol=2e-3)


def logits_of(model, tokens: np.ndarray) -> np.ndarray:
    if isinstance(model, GPT):
        with pf.no_grad():
            return model.eval()(pf.from_numpy(tokens))[0].numpy()
    with torch.no_grad():
        return model.eval()(torch.from_numpy(tokens).long())[0].numpy()


def test_weights_saved_by_either_framework_load_in_the_other(tmp_path):
    model, tmodel = twins()
    train_both(model, tmodel, 2)  # trained weights, not the initial copies
    tokens = np.array([[1, 2, 3, 4, 5, 6]], np.int32)

    # PyFlame -> PyTorch: pf.save's file is plain safetensors, both tied names included
    pf.save(model.state_dict(), tmp_path / "pf.safetensors")
    fresh = TorchGPT(model.config)
    fresh.load_state_dict(safetensors_torch.load_file(tmp_path / "pf.safetensors"))
    assert fresh.lm_head.weight is fresh.wte.weight
    np.testing.assert_allclose(
        logits_of(fresh, tokens), logits_of(model, tokens), rtol=1e-4, atol=1e-5
    )

    # PyTorch -> PyFlame: save_model writes a tied tensor once (save_file refuses shared
    # tensors), under one of its names; strict=False reports the other, which the tie fills
    safetensors_torch.save_model(tmodel, tmp_path / "torch.safetensors")
    loaded = GPT(model.config)
    result = loaded.load_state_dict(pf.load(tmp_path / "torch.safetensors"), strict=False)
    assert len(result.missing_keys) == 1
    assert result.missing_keys[0] in ("lm_head.weight", "wte.weight")
    assert not result.unexpected_keys and loaded.lm_head.weight is loaded.wte.weight
    np.testing.assert_allclose(
        logits_of(loaded, tokens), logits_of(tmodel, tokens), rtol=1e-4, atol=1e-5
    )


def test_top_k_sampling_is_seeded_and_stays_in_the_top_k():
    rng_logits = np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32)
    draws = np.stack([sample(rng_logits, 3, 1.0, np.random.default_rng(s)) for s in range(40)])
    top3 = np.argsort(rng_logits, axis=1)[:, -3:]
    assert all(set(draws[:, row]) <= set(top3[row]) for row in range(3))
    assert len(set(draws[:, 0])) > 1  # it samples, not argmax
    np.testing.assert_array_equal(
        sample(rng_logits, 3, 1.0, np.random.default_rng(7)),
        sample(rng_logits, 3, 1.0, np.random.default_rng(7)),
    )
    np.testing.assert_array_equal(sample(rng_logits, None, 1.0, None), rng_logits.argmax(axis=1))


@pytest.mark.slow
def test_the_example_trains_and_decodes_with_its_default_model():
    """examples/gpt.py with its default model (the tests above use smaller ones): a change that
    makes its training step overflow SRAM, or its compile take minutes, shows here."""
    import pathlib
    import re
    import subprocess
    import sys
    import time

    script = pathlib.Path(__file__).parents[2] / "examples" / "gpt.py"
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, str(script), "--steps", "3", "--tokens", "3", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    elapsed = time.perf_counter() - start
    trained = re.search(
        r"trained 3 steps .* with (\d+) compiled program: loss ([\d.]+)", run.stdout
    )
    decoded = re.search(r"decode steps \(prompt included\) with (\d+) compiled program", run.stdout)
    cycles = re.search(r"training step\s+([\d,]+) cycles", run.stdout)
    assert trained and decoded and cycles, run.stdout
    assert int(trained[1]) == 1 and int(decoded[1]) == 1
    assert 0 < float(trained[2]) < 5  # ln(58) = 4.06 at the start
    assert int(cycles[1].replace(",", "")) > 0
    print(f"examples/gpt.py --steps 3: {elapsed:.0f} s")
