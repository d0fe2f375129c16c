"""The global random state: `pf.manual_seed(n)` and the seed each random op draws when built.

A random op's seed is a runtime input of the compiled program (never part of the cache key),
so a cached program still gives fresh values on every call, while re-running a script after the
same `manual_seed` gives the same values. Like PyTorch, the process starts from a fixed seed.
"""

from __future__ import annotations

import numpy as np

DEFAULT_SEED = 0
SEED_BOUND = 2**31  # seeds are 31-bit, so they fit any signed integer type the IR uses

_state: dict[str, np.random.Generator] = {"rng": np.random.default_rng(DEFAULT_SEED)}


def manual_seed(seed: int) -> None:
    """Reset the generator random ops draw their seeds from."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed expects an int, got {type(seed).__name__}")
    _state["rng"] = np.random.default_rng(int(seed) & (2**64 - 1))  # negatives ok, as in torch


def draw_seed() -> int:
    """A fresh 31-bit seed for one random op (called when the op is built)."""
    return int(_state["rng"].integers(0, SEED_BOUND))


# --- explicit seeds (seed= on rand, randint, bernoulli, dropout) -----------------------------
#: explicit seeds live in [2**62, 2**63), apart from the generator's 31-bit draws, so that
#: `seed=5` never repeats the values of an op that happened to draw 5
FIXED_SEED_BASE = 2**62


def fixed_seed(seed: int) -> int:
    """The runtime seed of an op built with an explicit `seed=` (same seed, same values)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed= expects an int, got {type(seed).__name__}")
    return FIXED_SEED_BASE | (int(seed) & (FIXED_SEED_BASE - 1))


def generator() -> np.random.Generator:
    """The generator itself, for values drawn on the host (`pf.nn` layers' initial weights):
    reproducible under `manual_seed`, and drawing from it moves later ops' seeds on, as
    building a model moves PyTorch's generator on."""
    return _state["rng"]
