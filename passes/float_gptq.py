"""GPTQ onto a float number format's grid (fp8, MX, NVFP4): the weight rounding of qc-quantize-float{gptq=true}.

GPTQ (Frantar et al., ICLR 2023) as `passes/gptq.py` runs it — H = 2·XᵀX / rows of the layer's calibrated
input, dead inputs zeroed, H += damp · mean(diag H) · I, U = chol(H⁻¹)ᵀ, columns rounded one by one in
blocks of `block` with the error (w_j − q_j) / U_jj fed back into the columns not yet rounded — but each
column is rounded to the format's grid: q_j = round_to(elem, w_j · (1/s_j)) · s_j (`formats.round_to`) with
the scales s of the ORIGINAL weight (`formats.quantize_weight`'s: per channel amax / max_finite, MX e8m0,
NVFP4 e4m3 · tensor scale), fixed before any rounding (GPTQ's static groups). The codes returned are
`formats.encode` of those values, with those scales: what `qc.fp_wlinear` stores, so no second rounding.

Feedback can push a weight beyond the largest finite value times its scale: round_to saturates it, as the
format does (the error it leaves is fed back like any other).
"""

from __future__ import annotations

import numpy as np
from qcomp.dialects import formats as fmt
from qcomp.dialects.errors import QcompError

from .gptq import _upper_inverse_cholesky

F32 = np.float32


def gptq_float(
    w: np.ndarray, h: np.ndarray, qf: fmt.QFormat, *, block: int = 128, damp: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """(wq, scale) of W [N, K] for `qf` after GPTQ with input Hessian H [K, K]: the layout of
    `formats.quantize_weight` (codes as i8, two 4-bit codes per byte; scales f32 [N, groups])."""
    w = np.array(w, F32)
    n, k = w.shape
    if h.shape != (k, k):
        raise QcompError(f"GPTQ: the Hessian is {list(h.shape)}, expected [{k}, {k}]")
    _, scale = fmt.quantize_weight(w, qf)  # the original weight's scales, kept
    g = qf.group(k)
    s_cols = np.repeat(scale, g, axis=1)[:, :k]  # per tensor: one scale per row, all equal, g = k
    inv_cols = np.where(s_cols == 0, F32(0), F32(1) / np.where(s_cols == 0, F32(1), s_cols)).astype(F32)
    h = np.array(h, np.float64)
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    try:
        u = _upper_inverse_cholesky(h, damp).astype(F32)
    except np.linalg.LinAlgError as e:
        raise QcompError(f"GPTQ: {e} (raise damp)") from None
    q = np.zeros((n, k), F32)
    for i1 in range(0, k, block):
        i2 = min(i1 + block, k)
        w1, err = w[:, i1:i2].copy(), np.zeros((n, i2 - i1), F32)
        for i in range(i2 - i1):
            j = i1 + i
            col = w1[:, i]
            qj = (fmt.round_to(qf.elem, col * inv_cols[:, j]) * s_cols[:, j]).astype(F32)
            q[:, j] = qj
            d = (col - qj) / u[j, j]
            w1[:, i:] -= np.outer(d, u[j, j:i2])
            err[:, i] = d
        w[:, i2:] -= err @ u[i1:i2, i2:]
    codes = fmt.encode(qf.elem, fmt.round_to(qf.elem, q * inv_cols))  # exact: q is on the grid
    wq = fmt.pack_nibbles(codes) if qf.bits == 4 else codes.view(np.int8)
    return wq, np.ascontiguousarray(scale, F32)
