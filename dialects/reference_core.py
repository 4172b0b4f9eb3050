"""The primitives every reference module shares: symmetric ranges, scale groups and the float linear layer.

`reference.py` (every op's semantics) and `reference_asym.py` (zero-point weights, whose op `reference.py`
re-exports) both import them from here.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def qmax(bits: int) -> int:
    """Largest magnitude of a symmetric `bits`-bit integer: 2^(bits-1) - 1."""
    return (1 << (bits - 1)) - 1


def symmetric_scale(absmax: np.ndarray, bits: int) -> np.ndarray:
    """scale = absmax / qmax in f32; an all-zero channel gets scale 1 so that it quantizes to 0."""
    s = np.asarray(absmax, F32) / F32(qmax(bits))
    return np.where(s == 0, F32(1), s).astype(F32)


def n_groups(k: int, group: int) -> int:
    """Number of scale groups along K: ceil(K / group) (the last group may be partial)."""
    return -(-k // group)


def linear(x, w, b) -> np.ndarray:
    """x · wᵀ + b."""
    return np.matmul(np.asarray(x, F32), np.asarray(w, F32).T) + np.asarray(b, F32)
