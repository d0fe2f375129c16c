"""A small decoder-only transformer (GPT), written the way PyTorch users write one, for PyFlame.

    from gpt_model import GPT, GPTConfig, KVCacheDecoder, generate

    model = GPT(GPTConfig(vocab_size=65))
    logits, loss = model(idx, targets)                  # training: idx, targets [B, T] int32
    engine = pf.serving.InferenceEngine(KVCacheDecoder(model), max_batch_size=1)
    tokens = generate(engine, model.config, prompt, 100, top_k=5, seed=0)

The model is nanoGPT's shape: token and learned position embeddings, pre-norm blocks of causal
self-attention (`F.scaled_dot_product_attention(is_causal=True)`) and a GELU MLP with
residuals, a final norm, and an output head tied to the token embedding; dropout on the
embeddings, the attention weights and the residual branches. Three options bring the pieces
newer models use: `norm="rms"` (`nn.RMSNorm`), `mlp="swiglu"` (a SiLU-gated MLP) and
`rotary=True` (rotary position embeddings on q and k instead of the position table).

Decoding keeps a KV cache of a fixed maximum length (`block_size`): `KVCacheDecoder` is one
decode step, `(token [B, 1], pos [B], k_0, v_0, k_1, v_1, ...) -> (logits [B, V], new caches)`.
The position is a run-time input: the step writes its key and value into slot `pos` with
`where(slot == pos, k, cache)` and attends to the slots `<= pos` through a mask, so every
token runs the same program and decoding compiles once. (Item assignment writes the same
values: `cache[rows, :, pos] = k[:, :, 0]` with `rows = pf.arange(B)`, one position per row; it
merges the two indexed dims and picks the slot with a one-hot over B * block_size positions,
where the `where` above compares against block_size slots only, so the example keeps the
`where`.) The caches go back to the host between steps, as `InferenceEngine` serves outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import pyflame as pf
from pyflame import nn
from pyflame.nn import functional as F


@dataclass
class GPTConfig:
    vocab_size: int = 65
    #: the longest sequence: the position table, the rotary tables and the KV cache have this
    block_size: int = 32
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 32
    dropout: float = 0.0
    #: biases in the linear layers and norms
    bias: bool = True
    #: "layer" (nn.LayerNorm) or "rms" (nn.RMSNorm)
    norm: str = "layer"
    #: "gelu" (Linear, GELU, Linear) or "swiglu" (silu(gate(x)) * up(x), then down)
    mlp: str = "gelu"
    #: rotary position embeddings on q and k instead of a learned position table
    rotary: bool = False

    def __post_init__(self) -> None:
        if self.norm not in ("layer", "rms"):
            raise ValueError(f"norm must be 'layer' or 'rms', got {self.norm!r}")
        if self.mlp not in ("gelu", "swiglu"):
            raise ValueError(f"mlp must be 'gelu' or 'swiglu', got {self.mlp!r}")
        if self.n_embd % self.n_head or (self.rotary and (self.n_embd // self.n_head) % 2):
            raise ValueError(
                f"n_embd {self.n_embd} must split into {self.n_head} heads (of even size "
                "with rotary)"
            )

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def swiglu_hidden(self) -> int:
        """LLaMA's hidden size: two thirds of 4 * n_embd, rounded up to a multiple of 8."""
        return -(-(8 * self.n_embd // 3) // 8) * 8


def norm_layer(config: GPTConfig) -> nn.Module:
    if config.norm == "rms":
        return nn.RMSNorm(config.n_embd)
    return nn.LayerNorm(config.n_embd, bias=config.bias)


def rotary_tables(config: GPTConfig, base: float = 10000.0) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of position * frequency, [block_size, head_dim], each frequency twice (the
    two halves of a head rotate together: GPT-NeoX's and LLaMA's `rotate_half` form)."""
    half = config.head_dim // 2
    inv_freq = 1.0 / base ** (np.arange(half, dtype=np.float64) / half)
    angles = np.outer(np.arange(config.block_size, dtype=np.float64), inv_freq)
    angles = np.concatenate([angles, angles], axis=1)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def apply_rotary(x: pf.Tensor, cos: pf.Tensor, sin: pf.Tensor) -> pf.Tensor:
    """x * cos + rotate_half(x) * sin over the last dim (x [..., T, head_dim], cos and sin
    broadcast to it); rotate_half(x) = cat(-x2, x1) of x's two halves."""
    x1, x2 = x.split(x.shape[-1] // 2, dim=-1)
    return x * cos + pf.cat([-x2, x1], dim=-1) * sin


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def heads(self, x: pf.Tensor) -> tuple[pf.Tensor, pf.Tensor, pf.Tensor]:
        """q, k, v of x [B, T, C], each [B, n_head, T, head_dim]."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        shape = (B, T, self.n_head, C // self.n_head)
        return (
            q.view(*shape).transpose(1, 2),
            k.view(*shape).transpose(1, 2),
            v.view(*shape).transpose(1, 2),
        )

    def merge(self, y: pf.Tensor) -> pf.Tensor:
        """[B, n_head, T, head_dim] back to [B, T, C], projected (and dropped out)."""
        B, _, T, _ = y.shape
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(B, T, self.n_embd)))

    def forward(self, x: pf.Tensor, rope: tuple[pf.Tensor, pf.Tensor] | None = None) -> pf.Tensor:
        q, k, v = self.heads(x)
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        dropout = self.dropout if self.training else 0.0
        return self.merge(
            F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        )

    def decode(
        self,
        x: pf.Tensor,
        write: pf.Tensor,
        visible: pf.Tensor,
        k_cache: pf.Tensor,
        v_cache: pf.Tensor,
        rope: tuple[pf.Tensor, pf.Tensor] | None = None,
    ) -> tuple[pf.Tensor, pf.Tensor, pf.Tensor]:
        """One token per row (x [B, 1, C]): its key and value go into the cache slot where
        `write` [B, 1, S, 1] is true; it attends to the slots where `visible` [B, 1, 1, S] is."""
        q, k, v = self.heads(x)
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        k_cache = pf.where(write, k, k_cache)
        v_cache = pf.where(write, v, v_cache)
        y = F.scaled_dot_product_attention(q, k_cache, v_cache, attn_mask=visible)
        return self.merge(y), k_cache, v_cache


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.gated = config.mlp == "swiglu"
        hidden = config.swiglu_hidden if self.gated else 4 * config.n_embd
        self.c_fc = nn.Linear(config.n_embd, hidden, bias=config.bias)
        if self.gated:
            self.c_gate = nn.Linear(config.n_embd, hidden, bias=config.bias)
        self.c_proj = nn.Linear(hidden, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: pf.Tensor) -> pf.Tensor:
        if self.gated:
            h = F.silu(self.c_gate(x)) * self.c_fc(x)
        else:
            h = F.gelu(self.c_fc(x))
        return self.dropout(self.c_proj(h))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = norm_layer(config)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = norm_layer(config)
        self.mlp = MLP(config)

    def forward(self, x: pf.Tensor, rope: tuple[pf.Tensor, pf.Tensor] | None = None) -> pf.Tensor:
        x = x + self.attn(self.ln_1(x), rope)
        return x + self.mlp(self.ln_2(x))

    def decode(
        self,
        x: pf.Tensor,
        write: pf.Tensor,
        visible: pf.Tensor,
        k_cache: pf.Tensor,
        v_cache: pf.Tensor,
        rope: tuple[pf.Tensor, pf.Tensor] | None = None,
    ) -> tuple[pf.Tensor, pf.Tensor, pf.Tensor]:
        y, k_cache, v_cache = self.attn.decode(self.ln_1(x), write, visible, k_cache, v_cache, rope)
        x = x + y
        return x + self.mlp(self.ln_2(x)), k_cache, v_cache


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        if not config.rotary:
            self.wpe = nn.Embedding(config.block_size, config.n_embd)
        else:
            cos, sin = rotary_tables(config)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = norm_layer(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: residual projections scaled by depth
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(
        self, idx: pf.Tensor, targets: pf.Tensor | None = None
    ) -> tuple[pf.Tensor, pf.Tensor | None]:
        """Logits [B, T, V] of token ids idx [B, T], and the cross-entropy against `targets`."""
        B, T = idx.shape
        x = self.wte(idx)
        rope = None
        if self.config.rotary:
            rope = (self.rope_cos[:T], self.rope_sin[:T])
        else:
            x = x + self.wpe(pf.arange(T))
        x = self.drop(x)
        for block in self.h:
            x = block(x, rope)
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits, None
        V = self.config.vocab_size
        return logits, F.cross_entropy(logits.view(B * T, V), targets.view(B * T))

    def decode_step(
        self, token: pf.Tensor, pos: pf.Tensor, caches: Sequence[pf.Tensor]
    ) -> tuple[pf.Tensor, ...]:
        """One decode step: token [B, 1] at position pos [B] (int32) with the caches k_0, v_0,
        k_1, ... ([B, n_head, block_size, head_dim] each) -> (logits [B, V], new caches)."""
        B = token.shape[0]
        S = self.config.block_size
        at = pos.view(B, 1)
        slots = pf.arange(S).view(1, S)
        write = (slots == at).view(B, 1, S, 1)
        visible = (slots <= at).view(B, 1, 1, S)
        x = self.wte(token)
        rope = None
        if self.config.rotary:
            rope = (
                F.embedding(at, self.rope_cos).view(B, 1, 1, -1),
                F.embedding(at, self.rope_sin).view(B, 1, 1, -1),
            )
        else:
            x = x + self.wpe(at)
        new_caches: list[pf.Tensor] = []
        for i, block in enumerate(self.h):
            x, k, v = block.decode(x, write, visible, caches[2 * i], caches[2 * i + 1], rope)
            new_caches += [k, v]
        logits = self.lm_head(self.ln_f(x)).view(B, self.config.vocab_size)
        return (logits, *new_caches)

    def empty_cache(self, batch: int) -> list[np.ndarray]:
        """Zero KV caches for `batch` rows: k and v per layer, [batch, n_head, block_size,
        head_dim] each."""
        c = self.config
        shape = (batch, c.n_head, c.block_size, c.head_dim)
        return [np.zeros(shape, np.float32) for _ in range(2 * c.n_layer)]


class KVCacheDecoder(nn.Module):
    """One decode step of `model` as a module (what `InferenceEngine` serves): forward(token
    [B, 1], pos [B], *caches) -> (logits [B, V], *new caches)."""

    def __init__(self, model: GPT):
        super().__init__()
        self.model = model

    def forward(
        self, token: pf.Tensor, pos: pf.Tensor, *caches: pf.Tensor
    ) -> tuple[pf.Tensor, ...]:
        return self.model.decode_step(token, pos, caches)


def sample(
    logits: np.ndarray, top_k: int | None, temperature: float, rng: np.random.Generator
) -> np.ndarray:
    """Next tokens [B] from logits [B, V]: the argmax when top_k is None (greedy), else a draw
    from the softmax of the k largest logits / temperature."""
    if top_k is None:
        return logits.argmax(axis=-1)
    scaled = logits.astype(np.float64) / temperature
    kth = np.sort(scaled, axis=-1)[:, -top_k][:, None]
    scaled = np.where(scaled < kth, -np.inf, scaled)
    probs = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    return np.array([rng.choice(len(p), p=p) for p in probs])


def generate(
    engine: pf.serving.InferenceEngine,
    config: GPTConfig,
    prompt: np.ndarray,
    max_new_tokens: int,
    top_k: int | None = None,
    temperature: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Continue `prompt` ([B, P] int token ids) by `max_new_tokens` tokens with the KV cache,
    one decode step per token (the prompt's tokens go through the same step: one program for
    everything). Greedy when `top_k` is None, else top-k sampling seeded by `seed`. Returns
    [B, P + max_new_tokens]; the whole sequence must fit in `block_size`."""
    prompt = np.asarray(prompt, np.int32)
    batch, length = prompt.shape
    if length + max_new_tokens > config.block_size:
        raise ValueError(
            f"{length} prompt tokens + {max_new_tokens} new ones exceed block_size "
            f"{config.block_size} (the KV cache's length)"
        )
    model = engine.model.model if isinstance(engine.model, KVCacheDecoder) else engine.model
    caches = model.empty_cache(batch)
    rng = np.random.default_rng(seed)
    tokens = [prompt[:, i] for i in range(length)]
    for pos in range(length + max_new_tokens - 1):
        step = (tokens[pos].reshape(batch, 1), np.full(batch, pos, np.int32), *caches)
        logits, *outs = engine.infer(step)
        caches = [c.numpy() for c in outs]
        if pos + 1 >= length:
            tokens.append(sample(logits.numpy(), top_k, temperature, rng).astype(np.int32))
    return np.stack(tokens, axis=1)
