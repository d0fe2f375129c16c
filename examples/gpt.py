"""Train a small GPT on Shakespeare, character by character, through the simulated wafer; then
generate text with a KV cache, and print what a training step and a decode step cost.

    python examples/gpt.py                           # a few minutes on 2 cores
    python examples/gpt.py --norm rms --mlp swiglu --rotary      # the newer pieces
    python examples/gpt.py --steps 50 --tokens 40 --top-k 5 --seed 1

The text is `examples/data/coriolanus.txt`: the first 32 KB of Shakespeare's Coriolanus (public
domain), as in Andrej Karpathy's tinyshakespeare file (github.com/karpathy/char-rnn,
data/tinyshakespeare/input.txt). Its 58 distinct characters are the vocabulary; the first 90%
trains, the rest measures the validation loss.

The model (examples/gpt_model.py) is written as in PyTorch (nanoGPT's shape). Each training
step (forward, cross-entropy, backward, AdamW with weight decay, gradient clipping left out) is
ONE program compiled once and run on the simulator for every batch. Generation serves one
decode step (`KVCacheDecoder`) through `pf.serving.InferenceEngine`: the KV cache has a fixed
length (`--block-size`) and the position is a run-time input, so the prompt and every new token
run the same compiled program. Greedy by default; `--top-k K` samples from the K likeliest
characters, seeded by `--seed`.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

import pyflame as pf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpt_model import GPT, GPTConfig, KVCacheDecoder, generate  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "coriolanus.txt"


class CharTokenizer:
    """Characters <-> int32 ids (the text's own characters, sorted)."""

    def __init__(self, text: str):
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        return np.array([self.index[c] for c in text], np.int32)

    def decode(self, ids: np.ndarray) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def batches(data: np.ndarray, block: int, batch: int, rng: np.random.Generator):
    """Endless random windows of the text: inputs and the next characters, [batch, block] each."""
    while True:
        start = rng.integers(0, len(data) - block - 1, batch)
        x = np.stack([data[s : s + block] for s in start])
        y = np.stack([data[s + 1 : s + block + 1] for s in start])
        yield x, y


def layouts(*tensors: pf.Tensor) -> str:
    """How many mesh values the compiler put on each PE grid ("1x1: 40, 2x2: 12")."""
    grids = Counter(
        re.findall(r"-> !mesh\.tensor<[^>]* on (\d+x\d+)", pf.ir(*tensors, stage="mesh"))
    )
    return ", ".join(f"{g}: {n}" for g, n in sorted(grids.items(), key=lambda kv: -kv[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--block-size", type=int, default=32)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--n-head", type=int, default=2)
    parser.add_argument("--n-embd", type=int, default=32)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--norm", choices=("layer", "rms"), default="layer")
    parser.add_argument("--mlp", choices=("gelu", "swiglu"), default="gelu")
    parser.add_argument("--rotary", action="store_true", help="rotary position embeddings")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--prompt", default="MENENIUS:\n")
    parser.add_argument(
        "--tokens", type=int, default=None, help="new characters (default: fill the block)"
    )
    parser.add_argument(
        "--top-k", type=int, default=None, help="sample from the k likeliest (default: greedy)"
    )
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--layouts", action="store_true", help="print the PE grids the compiler chose"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args()
    start = time.perf_counter()

    text = DATA.read_text()
    tok = CharTokenizer(text)
    data = tok.encode(text)
    split = int(0.9 * len(data))
    train, val = data[:split], data[split:]

    pf.manual_seed(args.seed)
    config = GPTConfig(
        vocab_size=tok.vocab_size,
        block_size=args.block_size,
        n_layer=args.n_layer,
        n_head=args.n_head,
        n_embd=args.n_embd,
        dropout=args.dropout,
        norm=args.norm,
        mlp=args.mlp,
        rotary=args.rotary,
    )
    model = GPT(config)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"GPT {config}\n{n_params:,} parameters, {len(train):,} training characters")
    optimizer = pf.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)

    # ------------------------------------------------------------------ training
    target = pf.sim.get_target()
    compiles = pf.cache_info().misses
    step_cycles = 0
    bar = _progress(args.steps, args.no_progress)
    data_stream = batches(train, args.block_size, args.batch_size, np.random.default_rng(args.seed))
    for step in range(args.steps):
        xb, yb = next(data_stream)
        # a cosine-free schedule: linear warm-down over the last half (it never recompiles)
        optimizer.param_groups[0]["lr"] = args.lr * min(1.0, 2.0 * (1.0 - step / args.steps))
        model.train()
        _, loss = model(pf.from_numpy(xb), pf.from_numpy(yb))
        loss.backward()
        if step == 0 and args.layouts:
            grads = [p.grad for p in model.parameters()]
            print(f"training step layouts (mesh values per PE grid): {layouts(loss, *grads)}")
        optimizer.step()
        pf.eval(loss)
        step_cycles = pf.last_report().cycles
        bar.update(loss.item())
    bar.close()
    train_compiles = pf.cache_info().misses - compiles

    model.eval()
    with pf.no_grad():
        vx, vy = next(batches(val, args.block_size, args.batch_size, np.random.default_rng(1)))
        _, val_loss = model(pf.from_numpy(vx), pf.from_numpy(vy))
        val_loss_value = val_loss.item()
    print(
        f"trained {args.steps} steps of {args.batch_size} x {args.block_size} characters with "
        f"{train_compiles} compiled program: loss {loss.item():.3f}, validation loss "
        f"{val_loss_value:.3f} (uniform guessing: {np.log(tok.vocab_size):.3f})"
    )

    # ------------------------------------------------------------------ generation
    engine = pf.serving.InferenceEngine(KVCacheDecoder(model), max_batch_size=1)
    prompt = tok.encode(args.prompt)[None, :]
    new_tokens = args.tokens if args.tokens is not None else args.block_size - prompt.shape[1]
    compiles = pf.cache_info().misses
    out = generate(engine, config, prompt, new_tokens, args.top_k, args.temperature, args.seed)
    decode_compiles = pf.cache_info().misses - compiles
    how = "greedy" if args.top_k is None else f"top-{args.top_k}, seed {args.seed}"
    print(f"\n--- generated ({how}) ---\n{tok.decode(out[0])}\n---")
    stats = engine.stats
    print(
        f"{stats.runs} decode steps (prompt included) with {decode_compiles} compiled program "
        f"({stats.compiles} by the engine)"
    )
    if args.layouts:
        step_inputs = [
            pf.from_numpy(a) for a in (prompt[:, :1], np.zeros(1, np.int32), *model.empty_cache(1))
        ]
        with pf.no_grad():
            print(f"decode step layouts: {layouts(*KVCacheDecoder(model)(*step_inputs))}")

    # ------------------------------------------------------------------ cost
    clock = target.clock_hz
    decode_cycles = stats.mean_cycles
    tokens_per_step = args.batch_size * args.block_size
    print(
        f"\ncost on {target.name} ({target.fabric_rows} x {target.fabric_cols} PEs, {clock / 1e6:.0f} MHz):"
    )
    print(
        f"  training step  {step_cycles:>10,} cycles = {step_cycles / clock * 1e6:8.1f} us: "
        f"{tokens_per_step / (step_cycles / clock):12,.0f} tokens/s trained"
    )
    print(
        f"  decode step    {decode_cycles:>10,.0f} cycles = {decode_cycles / clock * 1e6:8.1f} us: "
        f"{engine.batch_size / (decode_cycles / clock):12,.0f} tokens/s generated (batch {engine.batch_size})"
    )
    print(f"\ntotal wall time {time.perf_counter() - start:.1f} s")


class _progress:
    """A tqdm bar showing the loss (a text line every 50 steps without tqdm or with --no-progress)."""

    def __init__(self, total: int, off: bool):
        self.bar = None
        self.step = 0
        if not off:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, desc="training", unit="step")
            except ImportError:
                pass

    def update(self, loss: float) -> None:
        self.step += 1
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
            self.bar.update(1)
        elif self.step % 50 == 0:
            print(f"step {self.step}: loss {loss:.3f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


if __name__ == "__main__":
    main()
