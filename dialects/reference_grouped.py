"""Numpy reference semantics of `qc.qlinear_grouped`: int8 activations times integer weights with one scale per
output channel and group of `group` input channels (W4A8 g128; llama.cpp's Q4_0 x Q8_0 dot with groups of 32).

With G = ceil(K / group), group g covering the input channels [g·group, min((g+1)·group, K)), x_g and w_g those
columns of xq and wq, the product is G `qc.qlinear` products, one per group, summed in group order:

    y_0 = qlinear(x_g0, xs, w_g0, ws[:, 0], b)                 = (f32(acc_0) · xs) · ws[:, 0] + b
    y_g = y_{g-1} + qlinear(x_g, xs, w_g, ws[:, g], 0)          (g = 1 .. G-1; + 0 rounds -0 to +0)
    y   = act(y_{G-1})        (the op's reference, `reference.qlinear_grouped`, applies act)

with acc_g = Σ_{k in group g} i32(xq[..., k]) · i32(wq[n, k]) (i32) and every step one rounded f32 operation (no
fused multiply-add). A target thus computes each group exactly as its qc.qlinear (the CPU calls its int8 GEMM per
group) and adds the groups' results in order.

xs is the activations' scale per token [..., 1] or per tensor [1]. wq holds one code per byte, unpacked ([N, K] i8);
`bits` is the range its codes were quantized to ([-(2^(b-1)-1), 2^(b-1)-1], symmetric), which the semantics do not
re-check: the products use the stored i8 values, as qc.qlinear does with its int4 codes.

`qc.qlinear_grouped_asym` (W4A8 with zero points, GPTQ{sym=false}'s int4) is the same sum over the signed weights
q - z: wq holds unsigned codes q in [0, 2^bits - 1] one per byte (i8 bit patterns read as unsigned), zp [N, G] an
unsigned zero point per output channel and group (likewise), and

    acc_g = Σ_{k in group g} i32(xq[..., k]) · (i32(q[n, k]) - i32(z[n, g]))     (i32, exact)

so each group is a qc.qlinear on the signed weights q - z (`signed_weights`), summed in group order with the bias in
the first group, exactly as above. The codes and zero points are `reference_asym`'s (`quantize_weight_grouped_asym`).
"""

from __future__ import annotations

import numpy as np

from .reference_core import F32, n_groups


def qlinear_groups(xq, xs, wq, ws, b, *, group: int) -> np.ndarray:
    """Σ_g qlinear(x_g, xs, w_g, ws[:, g], b if g == 0 else 0) in group order, before the activation (module
    docstring); each term is `reference.qlinear`'s formula, (f32(acc) · xs) · ws + bias."""
    xq, wq = np.asarray(xq, np.int32), np.asarray(wq, np.int32)
    xs, ws, b = np.asarray(xs, F32), np.asarray(ws, F32), np.asarray(b, F32)
    k = xq.shape[-1]
    terms = []
    for g in range(n_groups(k, group)):
        lo, hi = g * group, min(k, (g + 1) * group)
        acc = np.matmul(xq[..., lo:hi], wq[:, lo:hi].T)
        terms.append((acc.astype(F32) * xs) * ws[:, g] + (b if g == 0 else np.zeros_like(b)))
    y = terms[0]
    for t in terms[1:]:  # in group order
        y = y + t
    return y


def signed_weights(wq, zp, *, group: int) -> np.ndarray:
    """i32(q[n, k]) - i32(z[n, k // group]) as i32 [N, K]: codes and zero points read as unsigned bytes."""
    q = np.asarray(wq, np.int8).view(np.uint8).astype(np.int32)
    z = np.asarray(zp, np.int8).view(np.uint8).astype(np.int32)
    return q - np.repeat(z, group, axis=-1)[:, : q.shape[-1]]


def qlinear_groups_asym(xq, xs, wq, ws, zp, b, *, group: int) -> np.ndarray:
    """`qlinear_groups` on the signed weights q - z (module docstring), before the activation."""
    return qlinear_groups(xq, xs, signed_weights(wq, zp, group=group), ws, b, group=group)
