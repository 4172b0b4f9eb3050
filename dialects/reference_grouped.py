"""Numpy reference semantics of `qc.qlinear_grouped`: int8 activations times integer weights with one scale per
output channel and group of `group` input channels (W4A8 g128; llama.cpp's Q4_0 x Q8_0 dot with groups of 32).

With G = ceil(K / group), group g covering the input channels [g·group, min((g+1)·group, K)), x_g and w_g those
columns of xq and wq, the product is G `qc.qlinear` products, one per group, summed in group order:

    y_0 = qlinear(x_g0, xs, w_g0, ws[:, 0], b)                 = (f32(acc_0) · xs) · ws[:, 0] + b
    y_g = y_{g-1} + qlinear(x_g, xs, w_g, ws[:, g], 0)          (g = 1 .. G-1; + 0 rounds -0 to +0)
    y   = act(y_{G-1})

with acc_g = Σ_{k in group g} i32(xq[..., k]) · i32(wq[n, k]) (i32) and every step one rounded f32 operation (no
fused multiply-add). A target thus computes each group exactly as its qc.qlinear (the CPU calls its int8 GEMM per
group) and adds the groups' results in order.

xs is the activations' scale per token [..., 1] or per tensor [1]. wq holds one code per byte, unpacked ([N, K] i8);
`bits` is the range its codes were quantized to ([-(2^(b-1)-1), 2^(b-1)-1], symmetric), which the semantics do not
re-check: the products use the stored i8 values, as qc.qlinear does with its int4 codes.
"""

from __future__ import annotations

import numpy as np

from .reference_core import F32, n_groups


def qlinear_grouped(xq, xs, wq, ws, b, *, group: int, bits: int = 8, act: str = "none") -> np.ndarray:
    """act(Σ_g qlinear(x_g, xs, w_g, ws[:, g], b if g == 0 else 0)), summed in group order (module docstring)."""
    from .reference import _act, qlinear  # reference.py re-exports this module's op: import it when called

    xq, wq, ws, b = np.asarray(xq, np.int8), np.asarray(wq, np.int8), np.asarray(ws, F32), np.asarray(b, F32)
    k = xq.shape[-1]
    y = None
    for g in range(n_groups(k, group)):
        lo, hi = g * group, min(k, (g + 1) * group)
        t = qlinear(xq[..., lo:hi], xs, wq[:, lo:hi], ws[:, g], b if g == 0 else np.zeros_like(b))
        y = t if y is None else y + t
    return _act(y, act)


def quantize_weight_codes(w: np.ndarray, *, bits: int, group: int, clip: np.ndarray | None = None):
    """Symmetric grouped weight quantization for `qc.qlinear_grouped`: (codes i8 [N, K], scale f32 [N, G]), the
    codes and scales of `reference.quantize_weight_grouped` (same ranges, `clip` included) stored one per byte."""
    from .reference import quantize_weight_grouped, unpack_int4  # reference.py re-exports this module's op

    w = np.asarray(w, F32)
    q, scale = quantize_weight_grouped(w, bits=bits, group=group, clip=clip)
    return (unpack_int4(q, w.shape[1]) if bits <= 4 else np.asarray(q, np.int8)), scale
