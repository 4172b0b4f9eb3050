"""Numpy reference semantics of `qc.qlinear_grouped`: int8 activations times integer weights with one scale per
output channel and group of `group` input channels (W4A8 g128; llama.cpp's Q4_0 x Q8_0 dot with groups of 32).

With G = ceil(K / group) and group g covering the input channels [g·group, min((g+1)·group, K)):

    acc[..., n, g] = Σ_{k in group g} i32(xq[..., k]) · i32(wq[n, k])          (i32, wrapping)
    s[..., n]      = 0;  for g = 0 .. G-1 in order:  s = s + f32(acc[..., n, g]) · ws[n, g]
                     (f32: each step one rounded multiply, then one rounded add; never fused)
    y              = act(s · xs[..., 0] + b[n])                                 (f32: multiply, add, act)

xs is the activations' scale per token [..., 1] or per tensor [1]. wq holds one code per byte, unpacked ([N, K] i8);
`bits` is the range its codes were quantized to ([-(2^(b-1)-1), 2^(b-1)-1], symmetric), which the semantics do not
re-check: the products use the stored i8 values, as qc.qlinear does with its int4 codes.
"""

from __future__ import annotations

import numpy as np

from .reference_core import F32, n_groups


def qlinear_grouped(xq, xs, wq, ws, b, *, group: int, bits: int = 8, act: str = "none") -> np.ndarray:
    """act(Σ_g f32(Σ_{k in g} xq·wq) · ws[n, g], summed in group order, · xs + b) (module docstring)."""
    from .reference import _act  # the activations' definitions (reference.py re-exports this function)

    xq, wq = np.asarray(xq, np.int32), np.asarray(wq, np.int32)
    ws = np.asarray(ws, F32)
    k = xq.shape[-1]
    s = np.zeros((*xq.shape[:-1], wq.shape[0]), F32)
    for g in range(n_groups(k, group)):
        lo, hi = g * group, min(k, (g + 1) * group)
        acc = np.matmul(xq[..., lo:hi], wq[:, lo:hi].T)  # i32
        s = s + acc.astype(F32) * ws[:, g]
    return _act(s * np.asarray(xs, F32) + np.asarray(b, F32), act)


def quantize_weight_codes(w: np.ndarray, *, bits: int, group: int, clip: np.ndarray | None = None):
    """Symmetric grouped weight quantization for `qc.qlinear_grouped`: (codes i8 [N, K], scale f32 [N, G]), the
    codes and scales of `reference.quantize_weight_grouped` (same ranges, `clip` included) stored one per byte."""
    from .reference import quantize_weight_grouped, unpack_int4  # reference.py re-exports this module's op

    w = np.asarray(w, F32)
    q, scale = quantize_weight_grouped(w, bits=bits, group=group, clip=clip)
    return (unpack_int4(q, w.shape[1]) if bits <= 4 else np.asarray(q, np.int8)), scale
