"""Numpy reference semantics of asymmetric (zero-point) weights: `qc.wlinear_asym` and its quantizer.

A b-bit asymmetric weight is an unsigned code q in [0, 2^b - 1] and, per output channel and group of
`group` input channels, a scale and an unsigned zero point z in [0, 2^b - 1] (GPTQ's, AWQ's and
llama.cpp Q4_1's format):

    w[n, k] = f32(i32(q[n, k]) - i32(z[n, k // group])) · scale[n, k // group]

(the integer difference is exact, then one f32 multiply). Parameters from a range [lo, hi] (as the GPTQ
reference's `Quantizer.find_params`): lo = min(lo, 0), hi = max(hi, 0), scale = (hi - lo) / (2^b - 1) in f32
(1 when hi = lo), z = sat(roundeven(-lo · (1/scale))); q = sat(roundeven(w · (1/scale)) + z), saturating to
[0, 2^b - 1]. Storage: i8 bit patterns read as unsigned (codes and zero points up to 255 at 8 bits); bits <= 4
packs two codes per byte along K, element 2j in the low nibble and 2j+1 in the high nibble (`pack_uint4`).
"""

from __future__ import annotations

import numpy as np

from .reference_core import F32, linear, n_groups, qmax, symmetric_scale


def umax(bits: int) -> int:
    """Largest unsigned `bits`-bit code: 2^bits - 1."""
    return (1 << bits) - 1


def asymmetric_params(lo: np.ndarray, hi: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(scale f32, zero point u8) of ranges [lo, hi] (widened to contain 0; see the module docstring)."""
    lo = np.minimum(np.asarray(lo, F32), F32(0))
    hi = np.maximum(np.asarray(hi, F32), F32(0))
    s = (hi - lo) / F32(umax(bits))
    s = np.where(s == 0, F32(1), s).astype(F32)
    z = np.clip(np.rint(-lo * (F32(1) / s)), 0, umax(bits)).astype(np.uint8)
    return s, z


def quantize_asym(w: np.ndarray, scale: np.ndarray, zp: np.ndarray, bits: int) -> np.ndarray:
    """q = sat(roundeven(w · (1/scale)) + z) in [0, 2^bits - 1] (u8); scale and zp broadcast against w."""
    v = np.rint(np.asarray(w, F32) * (F32(1) / np.asarray(scale, F32))) + np.asarray(zp, F32)
    return np.clip(v, 0, umax(bits)).astype(np.uint8)


def pack_uint4(q: np.ndarray) -> np.ndarray:
    """Unsigned 4-bit codes [N, K] two per byte along K (2j low nibble, 2j+1 high; odd K padded with 0)."""
    q = np.asarray(q, np.uint8)
    if q.shape[-1] % 2:
        q = np.concatenate([q, np.zeros((*q.shape[:-1], 1), np.uint8)], axis=-1)
    return ((q[..., 0::2] & 0xF) | ((q[..., 1::2] & 0xF) << 4)).astype(np.uint8).view(np.int8)


def unpack_uint4(p: np.ndarray, k: int) -> np.ndarray:
    """Inverse of `pack_uint4`: i8 [N, ceil(K/2)] -> u8 codes [N, k]."""
    u = np.asarray(p, np.int8).view(np.uint8)
    return np.stack([u & 0xF, u >> 4], axis=-1).reshape(*u.shape[:-1], 2 * u.shape[-1])[..., :k]


def expand_groups(a: np.ndarray, group: int, k: int) -> np.ndarray:
    return np.repeat(np.asarray(a), group, axis=-1)[..., :k]


def group_min_max(w: np.ndarray, group: int) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) of w [N, K] per output channel and group of `group` columns: two [N, ceil(K/group)] f32."""
    w = np.asarray(w, F32)
    n, k = w.shape
    g = n_groups(k, group)
    padded = np.zeros((n, g * group), F32)  # a partial last group is padded with zeros (inside [lo, hi] anyway)
    padded[:, :k] = w
    blocks = padded.reshape(n, g, group)
    return blocks.min(axis=-1), blocks.max(axis=-1)


def quantize_weight_grouped_asym(
    w: np.ndarray, *, bits: int, group: int, lo: np.ndarray | None = None, hi: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Asymmetric weight quantization of w [N, K] in groups: (stored q i8, scale f32 [N, G], zero point i8 [N, G]).

    The range of a group is its (min, max), or lo/hi [N, G] where given (a range search or GPTQ chose them);
    bits <= 4 stores the codes packed two per byte (`pack_uint4`), wider ones as i8 [N, K] bit patterns."""
    w = np.asarray(w, F32)
    n, k = w.shape
    if lo is None or hi is None:
        lo, hi = group_min_max(w, group)
    g = n_groups(k, group)
    scale, zp = asymmetric_params(np.asarray(lo, F32).reshape(n, g), np.asarray(hi, F32).reshape(n, g), bits)
    q = quantize_asym(w, expand_groups(scale, group, k), expand_groups(zp, group, k), bits)
    return (pack_uint4(q) if bits <= 4 else q.view(np.int8)), scale, zp.view(np.int8)


def dequantize_weight_asym(wq, scale, zp, *, bits: int, group: int, k: int) -> np.ndarray:
    """w[n, k] = f32(i32(q[n, k]) - i32(z[n, k // group])) · scale[n, k // group] (codes unpacked at <= 4 bits)."""
    q = unpack_uint4(wq, k) if bits <= 4 else np.asarray(wq, np.int8).view(np.uint8)
    z = expand_groups(np.asarray(zp, np.int8).view(np.uint8), group, k)
    return (q.astype(np.int32) - z.astype(np.int32)).astype(F32) * expand_groups(np.asarray(scale, F32), group, k)


def wlinear_asym(x, wq, scale, zp, b, *, bits: int, group: int) -> np.ndarray:
    """Weight-only linear with zero points: x · dequantize_weight_asym(wq, scale, zp)ᵀ + b, all in f32."""
    x = np.asarray(x, F32)
    return linear(x, dequantize_weight_asym(wq, scale, zp, bits=bits, group=group, k=x.shape[-1]), b)


def mse_ranges(
    w: np.ndarray, *, bits: int, group: int, sym: bool, grid: int = 100, maxshrink: float = 0.8, norm: float = 2.4
) -> tuple[np.ndarray, np.ndarray]:
    """MSE range search per group (the GPTQ reference's `find_params(mse=True)`, llm-compressor's MSE observer):
    for p = 1, 1 - 1/grid, … down to 1 - maxshrink, the range [p·lo, p·hi] (sym: [-p·max|w|, p·max|w|]) whose
    round trip minimises Σ|w - deq(q(w))|^norm over the group. Returns (lo, hi) [N, G] f32 (sym: lo = -hi)."""
    w = np.asarray(w, F32)
    n, k = w.shape
    g = n_groups(k, group)
    padded = np.zeros((n, g * group), F32)
    padded[:, :k] = w
    blocks = padded.reshape(n, g, group)
    if sym:
        hi0 = np.abs(blocks).max(axis=-1)
        lo0 = -hi0
    else:
        lo0, hi0 = blocks.min(axis=-1), blocks.max(axis=-1)
    best = np.full((n, g), np.inf, F32)
    lo, hi = lo0.copy(), hi0.copy()
    for i in range(int(maxshrink * grid) + 1):
        p = F32(1 - i / grid)
        l1, h1 = lo0 * p, hi0 * p
        if sym:
            s = symmetric_scale(h1, bits)[..., None]
            qm = qmax(bits)
            deq = np.clip(np.rint(blocks * (F32(1) / s)), -qm, qm) * s
        else:
            s, z = asymmetric_params(l1, h1, bits)
            s, z = s[..., None], z[..., None].astype(F32)
            deq = (np.clip(np.rint(blocks * (F32(1) / s)) + z, 0, umax(bits)) - z) * s
        err = (np.abs(deq - blocks) ** F32(norm)).sum(axis=-1)
        better = err < best
        best = np.where(better, err, best)
        lo, hi = np.where(better, l1, lo), np.where(better, h1, hi)
    return lo.astype(F32), hi.astype(F32)
