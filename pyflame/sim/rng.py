"""A counter-based random generator: each value is a pure function of (seed, index).

`pe.random_normal` gives every element a value that depends only on the seed and the element's
global row-major index in the tensor, so the same seed gives the same tensor under any layout
and any number of PEs. The hash is splitmix64's finaliser (Steele, Lea & Flood, 2014) applied to
`mix(seed) + (index + 1) * golden`, done with wrapping numpy uint64 arithmetic; its 64 bits give
two 24-bit uniforms, turned into one normal sample with Box-Muller.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (in place on a fresh uint64 array)."""
    tmp = np.empty_like(z)
    np.right_shift(z, np.uint64(30), out=tmp)
    z ^= tmp
    z *= _M1
    np.right_shift(z, np.uint64(27), out=tmp)
    z ^= tmp
    z *= _M2
    np.right_shift(z, np.uint64(31), out=tmp)
    z ^= tmp
    return z


def _key(seed: int) -> np.uint64:
    s = np.array([int(seed) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
    s += _GOLDEN
    return _mix(s)[0]


def bits(seed: int, index: np.ndarray) -> np.ndarray:
    """64 random bits per index (uint64 array of index's shape)."""
    with np.errstate(over="ignore"):
        z = np.asarray(index).astype(np.uint64, copy=True)
        z += np.uint64(1)
        z *= _GOLDEN
        z += _key(seed)
        return _mix(z)


def uniform(seed: int, index: np.ndarray) -> np.ndarray:
    """Uniform samples in [0, 1) (float64), one per index."""
    return (bits(seed, index) >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def normal(seed: int, index: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Standard normal samples, one per index: Box-Muller on two 24-bit uniforms taken from the
    hash (computed in float32, enough for float32 samples; |z| < 5.9)."""
    h = bits(seed, index)
    u1 = (h >> np.uint64(40)).astype(np.float32)
    u1 += np.float32(0.5)
    u1 *= np.float32(1.0 / 2**24)  # (0, 1)
    u2 = (h & np.uint64(0xFFFFFF)).astype(np.float32)
    u2 *= np.float32(2.0 * np.pi / 2**24)  # [0, 2 pi)
    np.log(u1, out=u1)
    u1 *= np.float32(-2.0)
    np.sqrt(u1, out=u1)
    np.cos(u2, out=u2)
    u1 *= u2
    return u1.astype(dtype, copy=False)


# --- uniform samples (pe.random_uniform) ----------------------------------------------------
# Floats: the top p bits of the hash times 2**-p, p the dtype's significand precision, so every
# sample is exactly representable and below 1 (a float64 uniform rounded to float32 could round
# up to 1.0). Integers in [low, high): Lemire's multiply-shift on the top 32 bits (bias below
# (high - low) / 2**32).

_PRECISION = {"float32": 24, "float16": 11, "bfloat16": 8, "float64": 53}


def uniform_float(seed: int, index: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Uniform samples in [0, 1) of `dtype` (float32, float16, bfloat16 or float64)."""
    p = _PRECISION[np.dtype(dtype).name]
    u = (bits(seed, index) >> np.uint64(64 - p)).astype(np.float64) * (1.0 / 2**p)
    return u.astype(dtype)


def integers(seed: int, index: np.ndarray, low: int, high: int) -> np.ndarray:
    """Uniform integers in [low, high) (int64), high - low at most 2**32."""
    span = np.uint64(high - low)
    top = bits(seed, index) >> np.uint64(32)
    with np.errstate(over="ignore"):
        return ((top * span) >> np.uint64(32)).astype(np.int64) + np.int64(low)
