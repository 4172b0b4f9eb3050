"""Numpy reference semantics of the `qc` ops: these functions *define* what each op computes.

Integer rules, fixed once for every target:
- quantization multiplies by the inverse scale in f32 (inv = f32(1) / scale), rounds half to even
  and saturates to the symmetric range [-(2^(b-1)-1), 2^(b-1)-1];
- integer products accumulate in i32 (wrapping, like the hardware);
- epilogues run in f32 in the order written: ((f32(acc) · x_scale) · w_scale) + bias.
Float ops are computed in f32 and are matched by targets within rounding error, not bit-exactly.
"""

from __future__ import annotations

import math

import numpy as np

# the primitives reference_asym.py shares (it imports them from there, not from here: no import cycle)
from .reference_core import F32, linear, n_groups, qmax, symmetric_scale
from .reference_grouped import qlinear_groups, qlinear_groups_asym


def _along(scale: np.ndarray, rank: int, axis: int) -> np.ndarray:
    scale = np.asarray(scale, F32)
    if scale.size == 1 and scale.shape == (1,):
        return scale.reshape((1,) * rank) if rank else scale.reshape(())
    shape = [1] * rank
    shape[axis % rank] = scale.shape[0]
    return scale.reshape(shape)


def _saturate(v: np.ndarray, bits: int) -> np.ndarray:
    """roundeven, clamp to ±qmax, i8; NaN gives code 0 (an integer code has no NaN: docs/numerics.md)."""
    r = np.rint(v)
    return np.clip(np.where(np.isnan(r), 0, r), -qmax(bits), qmax(bits)).astype(np.int8)


# ----------------------------------------------------------------------------- quantization
def quantize(x: np.ndarray, scale: np.ndarray, *, bits: int = 8, axis: int = -1) -> np.ndarray:
    """q = sat(roundeven(x · (1/scale))) as i8; scale [1] or [C] along axis."""
    x = np.asarray(x, F32)
    inv = F32(1) / _along(scale, x.ndim, axis)
    return _saturate(x * inv, bits)


def quantize_dynamic(x: np.ndarray, *, bits: int = 8, granularity: str = "per_token"):
    """(q, scale): scale = max|x| / qmax per token (last-dim row) or per tensor; q = quantize(x, scale)."""
    x = np.asarray(x, F32)
    if granularity == "per_token":
        scale = symmetric_scale(np.max(np.abs(x), axis=-1, keepdims=True), bits)
    else:
        scale = symmetric_scale(np.max(np.abs(x)).reshape(1), bits)
    return _saturate(x * (F32(1) / scale), bits), scale


def dequantize(q: np.ndarray, scale: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """x = f32(q) · scale."""
    q = np.asarray(q)
    return q.astype(F32) * _along(scale, q.ndim, axis)


def requantize(acc: np.ndarray, scale: np.ndarray, *, bits: int = 8, axis: int = -1) -> np.ndarray:
    """q = sat(roundeven(f32(acc) · scale)) for an i32 accumulator."""
    acc = np.asarray(acc, np.int32)
    return _saturate(acc.astype(F32) * _along(scale, acc.ndim, axis), bits)


def quantize_weight(w: np.ndarray, *, bits: int = 8, axis: int = 0):
    """Per-output-channel symmetric weight quantization: (wq i8, scale [C]) with scale = max|w_c| / qmax."""
    w = np.asarray(w, F32)
    red = tuple(i for i in range(w.ndim) if i != axis % w.ndim)
    scale = symmetric_scale(np.max(np.abs(w), axis=red), bits)
    return quantize(w, scale, bits=bits, axis=axis), scale


def _act(y: np.ndarray, act: str) -> np.ndarray:
    return {"none": lambda v: v, "relu": relu, "gelu": gelu, "silu": silu}[act](y)


def qlinear(xq, xs, wq, ws, b, *, act: str = "none") -> np.ndarray:
    """act((f32(Σ_k xq·wq) · xs) · ws + b) with i32 accumulation."""
    acc = np.matmul(np.asarray(xq, np.int32), np.asarray(wq, np.int32).T)
    return _act((acc.astype(F32) * np.asarray(xs, F32)) * np.asarray(ws, F32) + np.asarray(b, F32), act)


def qlinear_grouped(xq, xs, wq, ws, b, *, group: int, bits: int = 8, act: str = "none") -> np.ndarray:
    """act(Σ_g qlinear(x_g, xs, w_g, ws[:, g], b if g == 0 else 0)) over the groups of `group` input channels, summed
    in group order (`reference_grouped`); bits: the codes' width, which the arithmetic does not read."""
    return _act(qlinear_groups(xq, xs, wq, ws, b, group=group), act)


def qlinear_grouped_asym(xq, xs, wq, ws, zp, b, *, group: int, bits: int = 4, act: str = "none") -> np.ndarray:
    """act(Σ_g qlinear(x_g, xs, q_g - z_g, ws[:, g], b if g == 0 else 0)): `qlinear_grouped` on the signed weights
    q - z, unsigned codes and a zero point per output channel and group (`reference_grouped`)."""
    return _act(qlinear_groups_asym(xq, xs, wq, ws, zp, b, group=group), act)


def qlinear_gated(xq, xs, wq, ws, b, gate, *, act: str = "none") -> np.ndarray:
    """gate · qlinear(xq, xs, wq, ws, b; act): a gated MLP's up projection times its gate."""
    return np.asarray(gate, F32) * qlinear(xq, xs, wq, ws, b, act=act)


def qmatmul(aq, as_, bq, bs) -> np.ndarray:
    """(f32(Σ_k aq·bq) · as) · bs with i32 accumulation; as [..., M, 1], bs [..., 1, N]."""
    acc = np.matmul(np.asarray(aq, np.int32), np.asarray(bq, np.int32))
    return (acc.astype(F32) * np.asarray(as_, F32)) * np.asarray(bs, F32)


def _conv_acc(x, w, stride, padding, dilation, dtype):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow), dtype)
    wf = w.reshape(o, c, kh, kw).astype(dtype)
    for i in range(kh):
        for j in range(kw):
            hs, ws_ = i * dilation[0], j * dilation[1]
            patch = x[:, :, hs : hs + stride[0] * oh : stride[0], ws_ : ws_ + stride[1] * ow : stride[1]]
            out += np.einsum("nchw,oc->nohw", patch.astype(dtype), wf[:, :, i, j])
    return out


def conv2d(x, w, b, *, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1) -> np.ndarray:
    """NCHW × OIHW convolution plus bias (groups=1), in f32."""
    y = _conv_acc(np.asarray(x, F32), np.asarray(w, F32), stride, padding, dilation, F32)
    return y + np.asarray(b, F32).reshape(1, -1, 1, 1)


def qconv2d(xq, xs, wq, ws, b, *, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1) -> np.ndarray:
    """(f32(conv_i32(xq, wq)) · xs) · ws[o] + b[o]."""
    acc = _conv_acc(np.asarray(xq), np.asarray(wq), stride, padding, dilation, np.int32)
    sh = (1, -1, 1, 1)
    return (acc.astype(F32) * np.asarray(xs, F32)) * np.asarray(ws, F32).reshape(sh) + np.asarray(b, F32).reshape(sh)


# ----------------------------------------------------------------------------- float ops
def matmul(a, b) -> np.ndarray:
    """Batched a · b."""
    return np.matmul(np.asarray(a, F32), np.asarray(b, F32))


def embedding(w, ids) -> np.ndarray:
    """w[ids]; an id outside [0, V) (computed in the model: inputs are checked) gives a row of NaN."""
    w, ids = np.asarray(w, F32), np.asarray(ids)
    ok = (ids >= 0) & (ids < w.shape[0])
    return np.where(ok[..., None], w[np.clip(ids, 0, max(w.shape[0] - 1, 0))], np.float32(np.nan))


def layer_norm(x, gamma, beta, *, eps: float) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) · gamma + beta over the last dim (biased variance)."""
    x = np.asarray(x, F32)
    mean = x.mean(-1, keepdims=True, dtype=F32)
    var = np.square(x - mean).mean(-1, keepdims=True, dtype=F32)
    return (x - mean) / np.sqrt(var + F32(eps)) * np.asarray(gamma, F32) + np.asarray(beta, F32)


def rms_norm(x, gamma, *, eps: float) -> np.ndarray:
    """x / sqrt(mean(x²) + eps) · gamma over the last dim."""
    x = np.asarray(x, F32)
    return x / np.sqrt(np.square(x).mean(-1, keepdims=True, dtype=F32) + F32(eps)) * np.asarray(gamma, F32)


def rms_norm_quantize(x, gamma, *, eps: float, bits: int = 8):
    """(q, scale): `quantize_dynamic(rms_norm(x, gamma), bits, per_token)`, the f32 norm never stored."""
    return quantize_dynamic(rms_norm(x, gamma, eps=eps), bits=bits, granularity="per_token")


def layer_norm_quantize(x, gamma, beta, *, eps: float, bits: int = 8):
    """(q, scale): `quantize_dynamic(layer_norm(x, gamma, beta), bits, per_token)`."""
    return quantize_dynamic(layer_norm(x, gamma, beta, eps=eps), bits=bits, granularity="per_token")


def softmax(x, *, axis: int = -1) -> np.ndarray:
    """exp(x - max) / Σ exp(x - max) along the last dim."""
    x = np.asarray(x, F32)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def masked_softmax(x, mask, *, masked_rows: str = "zero") -> np.ndarray:
    """softmax(x + mask) along the last dim, mask broadcast over x's leading dims. masked_rows = "zero": a row
    whose every x + mask is -inf gives 0 (torch's _safe_softmax, what SDPA runs); "nan": it gives NaN."""
    z = np.asarray(x, F32) + np.asarray(mask, F32)
    with np.errstate(invalid="ignore"):
        y = softmax(z)
    if masked_rows == "zero":
        y = np.where(np.all(z == -np.inf, axis=-1, keepdims=True), F32(0), y)
    return y


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x, *, approximate: str = "none") -> np.ndarray:
    """0.5·x·(1 + erf(x/√2)), or the tanh approximation."""
    x = np.asarray(x, F32)
    if approximate == "tanh":
        inner = F32(math.sqrt(2 / math.pi)) * (x + F32(0.044715) * x * x * x)
        return (F32(0.5) * x * (F32(1) + np.tanh(inner))).astype(F32)
    return (F32(0.5) * x * (F32(1) + _erf(x / F32(math.sqrt(2))).astype(F32))).astype(F32)


def silu(x) -> np.ndarray:
    """x · sigmoid(x)."""
    x = np.asarray(x, F32)
    return x / (F32(1) + np.exp(-x))


def relu(x) -> np.ndarray:
    """max(x, 0)."""
    return np.maximum(np.asarray(x, F32), F32(0))


def add(lhs, rhs) -> np.ndarray:
    """lhs + rhs."""
    return np.asarray(lhs, F32) + np.asarray(rhs, F32)


def mul(lhs, rhs) -> np.ndarray:
    """lhs · rhs."""
    return np.asarray(lhs, F32) * np.asarray(rhs, F32)


def channel_scale(x, s) -> np.ndarray:
    """x · diag(s) along the last dim."""
    return np.asarray(x, F32) * np.asarray(s, F32)


def channel_permute(x, *, perm) -> np.ndarray:
    """x[..., perm]."""
    return np.asarray(x)[..., list(perm)]


# ----------------------------------------------------------------------------- weight-only quantization
def pack_int4(q: np.ndarray) -> np.ndarray:
    """Pack int4 values [N, K] (each in [-8, 7]) two per byte along K: element 2j in the low nibble,
    2j+1 in the high nibble, two's complement; an odd K is padded with a zero nibble. -> i8 [N, ceil(K/2)]."""
    q = np.asarray(q, np.int8)
    if q.shape[-1] % 2:
        q = np.concatenate([q, np.zeros((*q.shape[:-1], 1), np.int8)], axis=-1)
    u = q.view(np.uint8)
    return ((u[..., 0::2] & 0xF) | ((u[..., 1::2] & 0xF) << 4)).astype(np.uint8).view(np.int8)


def unpack_int4(p: np.ndarray, k: int) -> np.ndarray:
    """Inverse of `pack_int4`: i8 [N, ceil(K/2)] -> sign-extended i8 [N, k]."""
    u = np.asarray(p, np.int8).view(np.uint8)
    lo, hi = (u & 0xF).astype(np.int8), (u >> 4).astype(np.int8)
    q = np.stack([lo, hi], axis=-1).reshape(*u.shape[:-1], 2 * u.shape[-1])[..., :k]
    return np.where(q >= 8, q - 16, q).astype(np.int8)


def _group_expand(scale: np.ndarray, group: int, k: int) -> np.ndarray:
    return np.repeat(np.asarray(scale, F32), group, axis=-1)[..., :k]


def quantize_weight_grouped(w: np.ndarray, *, bits: int, group: int, clip: np.ndarray | None = None):
    """Symmetric weight quantization in groups of `group` input channels: (stored q, scale [N, ceil(K/group)]).

    scale = max|w| over the group / qmax (1 for an all-zero group), or clip / qmax when a clip value per
    group is given (AWQ's clipping search; weights beyond it saturate); q = sat(roundeven(w · (1/scale))).
    bits <= 4 stores q packed two per byte (`pack_int4`), wider weights as i8 [N, K].
    """
    w = np.asarray(w, F32)
    n, k = w.shape
    g = n_groups(k, group)
    padded = np.zeros((n, g * group), F32)
    padded[:, :k] = np.abs(w)
    amax = padded.reshape(n, g, group).max(axis=-1) if clip is None else np.asarray(clip, F32).reshape(n, g)
    scale = symmetric_scale(amax, bits)
    q = _saturate(w * (F32(1) / _group_expand(scale, group, k)), bits)
    return (pack_int4(q) if bits <= 4 else q), scale


def dequantize_weight(wq: np.ndarray, scale: np.ndarray, *, bits: int, group: int, k: int) -> np.ndarray:
    """w[n, k] = f32(q[n, k]) · scale[n, k // group], unpacking int4 first when bits <= 4."""
    q = unpack_int4(wq, k) if bits <= 4 else np.asarray(wq, np.int8)
    return q.astype(F32) * _group_expand(scale, group, k)


def wlinear(x, wq, scale, b, *, bits: int, group: int) -> np.ndarray:
    """Weight-only linear: x · dequantize_weight(wq, scale)ᵀ + b, all in f32."""
    x = np.asarray(x, F32)
    return linear(x, dequantize_weight(wq, scale, bits=bits, group=group, k=x.shape[-1]), b)


# ----------------------------------------------------------------------------- attention over a KV cache
KV_GROUP = 16  # int8 cache: channels of a key row that share one scale
F16_MAX = 65504.0


def quantize_kv_rows(x: np.ndarray, group: int) -> tuple[np.ndarray, np.ndarray]:
    """The int8 cache's format for rows x [..., D]: every `group` channels of a row share one f16 scale.

    (q i8 [..., D], scale f16 [..., D / group]): scale = f16(min(max|x| / 127, 65504)) (round half to even; 1
    where it is 0), q = round-half-even(x · (1 / f32(scale))) saturated to [-127, 127]."""
    x = np.asarray(x, F32)
    xg = x.reshape(*x.shape[:-1], x.shape[-1] // group, group)
    s = np.minimum(np.max(np.abs(xg), axis=-1) / F32(127), F32(F16_MAX)).astype(np.float16)
    s = np.where(s == 0, np.float16(1), s)
    inv = F32(1) / s.astype(F32)
    q = np.clip(np.rint(xg * inv[..., None]), -127, 127).astype(np.int8)
    return q.reshape(x.shape), s


def kv_attention(q, k, v, k_cache, v_cache, pos, k_scale=None, v_scale=None, *, layer: int, scale: float, window: int):
    """Causal attention of a step's queries over a KV cache, writing the step's keys and values into it first.

    q [B, H, T, D], k/v [B, Hkv, T, D] (H a multiple of Hkv: grouped-query heads), pos [B] i64: row b's tokens are
    at positions pos[b] + t. Caches (updated in place, layer `layer`): k_cache [L, B, Hkv, D, S] (keys transposed),
    v_cache [L, B, Hkv, S, D]. As int8 (`quantize_kv_rows`), each (token, head) key row has one f16 scale per
    KV_GROUP channels and each value row one f16 scale; the scales travel as their f16 bits (little-endian) in
    i8 buffers: k_scale [L, B, Hkv, D / KV_GROUP, 2 S] (viewed as f16: [..., S], positions contiguous),
    v_scale [L, B, Hkv, 2 S]. Cached keys and values read back as f32(q) · f32(scale). Query (b, h, t) at
    position p attends positions j in [lo, p], lo = max(0, p - window + 1) when window > 0 else 0, with head
    h // (H / Hkv): softmax_j(scale · q·K[j]) · V. Returns [B, T, H, D] f32. Positions past S are neither
    written nor read."""
    q, k, v = (np.asarray(a, F32) for a in (q, k, v))
    b_, h, t, d = q.shape
    hkv, s_max = k.shape[1], v_cache.shape[3]
    int8 = k_scale is not None
    if int8:
        ks16, vs16 = k_scale.view(np.float16), v_scale.view(np.float16)  # [L, B, Hkv, D/G, S], [L, B, Hkv, S]
    out = np.zeros((b_, t, h, d), F32)
    for b in range(b_):
        p0 = int(pos[b])
        for i in range(t):
            p = p0 + i
            if not 0 <= p < s_max:
                continue
            if not int8:
                k_cache[layer, b, :, :, p], v_cache[layer, b, :, p, :] = k[b, :, i, :], v[b, :, i, :]
            else:
                (kq, ks), (vq, vs) = quantize_kv_rows(k[b, :, i, :], KV_GROUP), quantize_kv_rows(v[b, :, i, :], d)
                k_cache[layer, b, :, :, p], ks16[layer, b, :, :, p] = kq, ks
                v_cache[layer, b, :, p, :], vs16[layer, b, :, p] = vq, vs[:, 0]
        for i in range(t):
            p = p0 + i
            lo, hi = (max(0, p - window + 1) if window > 0 else 0), min(p + 1, s_max)
            if not 0 <= p < s_max:
                continue
            keys = k_cache[layer, b, :, :, lo:hi].astype(F32)  # [Hkv, D, n]
            vals = v_cache[layer, b, :, lo:hi, :].astype(F32)  # [Hkv, n, D]
            if int8:
                keys = keys * np.repeat(ks16[layer, b, :, :, lo:hi].astype(F32), KV_GROUP, axis=1)
                vals = vals * vs16[layer, b, :, lo:hi, None].astype(F32)
            for hh in range(h):
                g = hh // (h // hkv)
                sc = (q[b, hh, i] @ keys[g]) * F32(scale)
                e = np.exp(sc - sc.max())
                out[b, i, hh] = (e / e.sum()) @ vals[g]
    return out


def kv_attention_int8(q, k, v, k_cache, v_cache, k_scale, v_scale, pos, *, layer: int, scale: float, window: int):
    """`kv_attention` over an int8 cache with f16 scales per (token, head, KV_GROUP key channels) and per
    (token, head) for values (operands in the op's order)."""
    return kv_attention(q, k, v, k_cache, v_cache, pos, k_scale, v_scale, layer=layer, scale=scale, window=window)


# float number formats (fp8, MX, NVFP4) live in formats.py; their ops' references are re-exported here
from .formats import fp_fake_quant, fp_fake_quant_static, fp_wlinear  # noqa: E402, F401

# asymmetric weights (zero points) live in reference_asym.py; their op's reference is re-exported here
from .reference_asym import wlinear_asym  # noqa: E402, F401
