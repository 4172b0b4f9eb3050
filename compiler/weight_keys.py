"""Keys of weights by their contents, so that a layer of a PyTorch model and the graph's op holding the same
constant find each other (`qcomp.sequential`, `qcomp.sequential_rotate`, calibration)."""

from __future__ import annotations

import hashlib

import numpy as np


def weight_key(w: np.ndarray) -> str:
    """The key of a weight by its contents (shape, dtype and bytes)."""
    a = np.ascontiguousarray(w, np.float32)
    return f"{a.shape}:" + hashlib.blake2b(memoryview(a).cast("B"), digest_size=16).hexdigest()
