"""Low-bit floating-point number formats: element formats, scale formats, granularity, and their exact numpy
semantics (the reference every target matches).

Element formats (OCP 8-bit FP and OCP Microscaling v1.0 names): fp8 `e4m3` (the finite-only "fn" variant: no
infinities, S.1111.111 is NaN, max 448), fp8 `e5m2` (IEEE-like: infinities and NaNs, max 57344), fp6 `e3m2`
(max 28) and `e2m3` (max 7.5), fp4 `e2m1` (max 6); fp6/fp4 have no inf or NaN codes.

Rounding (`round_to`): round to nearest, ties to even, in the binade of the input; results beyond the largest
finite value saturate to it (no inf or NaN from finite input; ±inf saturates too, as CUDA's satfinite
conversions do); NaN stays NaN. Encoding (`encode`) is the bit pattern of a value on the grid: sign bit, then
exponent and mantissa; NaN encodes as S.1111.111 (e4m3) or S.11111.11 (e5m2); in fp6/fp4 it encodes as 0 and
the NaN travels in the scale (MX: the e8m0 code 0xFF).

A quantization parameter (`QFormat`): an element format, a scale format and a granularity along the last dim:
per tensor (block -1), per channel / per token (block 0), or per block of `block` elements.
- scale f32: scale = amax / max_finite (1 where amax is 0), q = round_to(x · (1 / scale)).
- scale e8m0 (OCP MX v1.0, section 6.3): shared exponent = floor(log2(amax)) - emax_elem, clamped to the
  e8m0 range [-127, 127] (amax 0 gives -127); scale X = 2^exp; q = round_to(x · (1/X)) (exact: X is a power of
  two); a block holding NaN gets scale NaN (code 0xFF). emax_elem is the exponent of the element format's
  largest normal: e4m3 8, e5m2 15, e3m2 4, e2m3 2, e2m1 2.
- scale e4m3 + one f32 tensor scale (NVFP4, blocks of 16): ts = amax_tensor / (6 · 448) (1 where 0);
  bs = round_to(e4m3, (amax_block / 6) / ts); the block's scale is s = f32(bs) · ts (one f32 product), and
  q = round_to(e2m1, x · (1/s)) (0 where s is 0). The f32 tensor scale of weights covers the whole tensor; of
  activations (dynamic), the row.
Dequantization: x̂ = decode(q) · s in f32 (one product).

Text form (`parse` / `str(QFormat)`): a preset name (`fp8`, `fp8_e5m2`, `mxfp8`, `mxfp8_e5m2`, `mxfp6_e3m2`,
`mxfp6_e2m3`, `mxfp4`, `nvfp4`, `fp6_e3m2`, `fp6_e2m3`, `fp4`), or `<elem>:<scale>:<block>` with elem in
e4m3|e5m2|e3m2|e2m3|e2m1, scale in f32|e8m0|e4m3 and block `tensor`, `channel` or a positive integer
(`e2m1:e4m3:16` is nvfp4).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from qcomp.dialects.errors import QcompError

F32 = np.float32


@dataclass(frozen=True)
class ElemFormat:
    """A sign-exponent-mantissa format of `1 + ebits + mbits` bits with exponent bias `bias`."""

    name: str
    ebits: int
    mbits: int
    nan: str  # "fn": only the all-ones code is NaN (e4m3fn); "ieee": top exponent is inf/NaN; "none"

    @property
    def bits(self) -> int:
        return 1 + self.ebits + self.mbits

    @property
    def bias(self) -> int:
        return (1 << (self.ebits - 1)) - 1

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal (subnormals share it)."""
        return 1 - self.bias

    @property
    def emax(self) -> int:
        """Exponent of the largest normal (OCP MX's emax_elem)."""
        top = (1 << self.ebits) - 1
        return (top - 1 if self.nan == "ieee" else top) - self.bias

    @property
    def max_finite(self) -> float:
        mant = (1 << self.mbits) - 1
        if self.nan == "fn":
            mant -= 1  # S.1111.111 is NaN
        return float((1 + mant / (1 << self.mbits)) * 2.0**self.emax)


ELEMS = {
    f.name: f
    for f in (
        ElemFormat("e4m3", 4, 3, "fn"),
        ElemFormat("e5m2", 5, 2, "ieee"),
        ElemFormat("e3m2", 3, 2, "none"),
        ElemFormat("e2m3", 2, 3, "none"),
        ElemFormat("e2m1", 2, 1, "none"),
    )
}
SCALES = ("f32", "e8m0", "e4m3")
E8M0_MIN, E8M0_MAX = -127, 127


@cache
def _table(name: str) -> np.ndarray:
    """decode() of every code of the format, as f32 [2^bits]."""
    f = ELEMS[name]
    c = np.arange(1 << f.bits, dtype=np.int64)
    s = (c >> (f.ebits + f.mbits)) & 1
    e = (c >> f.mbits) & ((1 << f.ebits) - 1)
    m = c & ((1 << f.mbits) - 1)
    mag = np.where(e > 0, (1 + m / (1 << f.mbits)) * 2.0 ** (e - f.bias), m * 2.0 ** (f.emin - f.mbits))
    top = (1 << f.ebits) - 1
    if f.nan == "fn":
        mag = np.where((e == top) & (m == (1 << f.mbits) - 1), np.nan, mag)
    elif f.nan == "ieee":
        mag = np.where(e == top, np.where(m == 0, np.inf, np.nan), mag)
    return np.where(s == 1, -mag, mag).astype(F32)


def decode(name: str, codes: np.ndarray) -> np.ndarray:
    """f32 values of the codes (uint8 bit patterns, low `bits` bits used)."""
    f = ELEMS[name]
    return _table(name)[np.asarray(codes).astype(np.uint8) & ((1 << f.bits) - 1)]


def round_to(name: str, y: np.ndarray) -> np.ndarray:
    """Nearest value of the format (ties to even), saturated to ±max_finite; NaN stays NaN. f32 in, f32 out."""
    f = ELEMS[name]
    y = np.asarray(y, F32)
    a = np.abs(y)
    _, e = np.frexp(a)  # a = m · 2^e, m in [0.5, 1): floor(log2 a) = e - 1 (exact, subnormals included)
    ulp = np.ldexp(F32(1), np.maximum(e - 1, f.emin) - f.mbits).astype(F32)
    with np.errstate(invalid="ignore", over="ignore"):
        q = np.minimum(np.rint(a / ulp) * ulp, F32(f.max_finite))  # a / ulp: exact (a power of two)
    return np.copysign(q, y).astype(F32)


def encode(name: str, v: np.ndarray) -> np.ndarray:
    """Codes (uint8) of values already on the format's grid (`round_to`'s results)."""
    f = ELEMS[name]
    v = np.asarray(v, F32)
    pos = _table(name)[: 1 << (f.bits - 1)]
    finite = pos[np.isfinite(pos)]  # non-negative codes are increasing in value
    a = np.abs(v)
    idx = np.searchsorted(finite, np.where(np.isnan(a), 0, np.minimum(a, F32(f.max_finite))))
    code = idx.astype(np.uint8) | (np.signbit(v).astype(np.uint8) << (f.bits - 1))
    if f.nan != "none":
        nan_code = (1 << (f.bits - 1)) - 1 if f.nan == "fn" else (1 << (f.bits - 1)) - 2  # S.1111.111 / S.11111.10
        code = np.where(np.isnan(v), nan_code | (np.signbit(v).astype(np.uint8) << (f.bits - 1)), code)
    else:
        code = np.where(np.isnan(v), 0, code)
    return code.astype(np.uint8)


def quantize_elems(name: str, y: np.ndarray) -> np.ndarray:
    """encode(round_to(y)): the codes of x already divided by its scale."""
    return encode(name, round_to(name, y))


# ----------------------------------------------------------------------------- quantization parameters
@dataclass(frozen=True)
class QFormat:
    """Element format, scale format and block along the last dim (-1: per tensor, 0: per channel/token)."""

    elem: str
    scale: str = "f32"
    block: int = 0

    def __post_init__(self):
        if self.elem not in ELEMS:
            raise QcompError(f"number format: element format must be one of {', '.join(ELEMS)}, got {self.elem!r}")
        if self.scale not in SCALES:
            raise QcompError(f"number format: scale format must be one of {', '.join(SCALES)}, got {self.scale!r}")
        if self.block < -1:
            raise QcompError(f"number format: block must be -1 (tensor), 0 (channel) or > 0, got {self.block}")
        if self.scale != "f32" and self.block <= 0:
            raise QcompError(f"number format: {self.scale} scales need a block size > 0 (e.g. {self.elem}:e8m0:32)")

    @property
    def bits(self) -> int:
        return ELEMS[self.elem].bits

    @property
    def elem_format(self) -> ElemFormat:
        return ELEMS[self.elem]

    def group(self, k: int) -> int:
        """Elements per scale along a last dim of k."""
        return self.block if self.block > 0 else k

    def scale_bits(self) -> int:
        return 32 if self.scale == "f32" else 8

    def __str__(self) -> str:
        for name, f in PRESETS.items():
            if f == self:
                return name
        block = {-1: "tensor", 0: "channel"}.get(self.block, str(self.block))
        return f"{self.elem}:{self.scale}:{block}"


PRESETS = {
    "fp8": QFormat("e4m3"),
    "fp8_e5m2": QFormat("e5m2"),
    "fp6_e3m2": QFormat("e3m2"),
    "fp6_e2m3": QFormat("e2m3"),
    "fp4": QFormat("e2m1"),
    "mxfp8": QFormat("e4m3", "e8m0", 32),
    "mxfp8_e5m2": QFormat("e5m2", "e8m0", 32),
    "mxfp6_e3m2": QFormat("e3m2", "e8m0", 32),
    "mxfp6_e2m3": QFormat("e2m3", "e8m0", 32),
    "mxfp4": QFormat("e2m1", "e8m0", 32),
    "nvfp4": QFormat("e2m1", "e4m3", 16),
}


def parse(text: str, where: str = "number format") -> QFormat:
    """A preset name or `<elem>:<scale>:<block>` (see the module docstring)."""
    if text in PRESETS:
        return PRESETS[text]
    parts = text.split(":")
    if len(parts) != 3:
        raise QcompError(
            f"{where}: {text!r} is not a format (presets: {', '.join(PRESETS)}; or <elem>:<scale>:<block>)"
        )
    elem, scale, block = parts
    b = {"tensor": -1, "channel": 0}.get(block)
    if b is None:
        if not block.isdigit() or int(block) == 0:
            raise QcompError(f"{where}: block in {text!r} must be 'tensor', 'channel' or a positive integer")
        b = int(block)
    try:
        return QFormat(elem, scale, b)
    except QcompError as e:
        raise QcompError(f"{where}: {text!r}: {str(e).removeprefix('number format: ')}") from None


def precision_name(w: QFormat, a: QFormat | None) -> str:
    """A layer's `qc.precision`: '<format>-w<bits>a<bits>' ('nvfp4-w4a16', 'fp8-w8a8'), or
    '<wformat>/<aformat>-w<bits>a<bits>' when weights and activations differ."""
    if a is None:
        return f"{w}-w{w.bits}a16"
    fmt = str(w) if a == w else f"{w}/{a}"
    return f"{fmt}-w{w.bits}a{a.bits}"


# ----------------------------------------------------------------------------- scales
def e8m0_exponent(amax: np.ndarray, elem: str) -> np.ndarray:
    """OCP MX shared exponent: floor(log2(amax)) - emax_elem, clamped to [-127, 127] (amax 0 -> -127), as f32
    (NaN where amax is NaN)."""
    a = np.asarray(amax, F32)
    _, e = np.frexp(a)
    x = np.clip(e - 1 - ELEMS[elem].emax, E8M0_MIN, E8M0_MAX).astype(F32)
    x = np.where(a == 0, F32(E8M0_MIN), x)
    return np.where(np.isnan(a) | np.isinf(a), np.nan, x).astype(F32)


def e8m0_code(exponent: np.ndarray) -> np.ndarray:
    """E8M0 bit patterns (uint8) of shared exponents: exponent + 127, NaN -> 0xFF."""
    x = np.asarray(exponent, F32)
    return np.where(np.isnan(x), 255, np.nan_to_num(x) + 127).astype(np.uint8)


def _pow2(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(x), np.nan, np.ldexp(F32(1), np.nan_to_num(x).astype(np.int32))).astype(F32)


def scales(amax: np.ndarray, qf: QFormat, tensor_amax: np.ndarray | float | None = None) -> np.ndarray:
    """The f32 scale of each group from its absolute maximum (shape kept); `tensor_amax` (broadcastable) is the
    amax under NVFP4's f32 tensor scale (e4m3 block scales only)."""
    amax = np.asarray(amax, F32)
    f = qf.elem_format
    if qf.scale == "f32":
        with np.errstate(invalid="ignore"):
            s = amax / F32(f.max_finite)
        return np.where(s == 0, F32(1), s).astype(F32)
    if qf.scale == "e8m0":
        return _pow2(e8m0_exponent(amax, qf.elem))
    ta = np.asarray(amax if tensor_amax is None else tensor_amax, F32)
    ts = ta / F32(f.max_finite * ELEMS["e4m3"].max_finite)
    ts = np.where(ts == 0, F32(1), ts).astype(F32)
    with np.errstate(invalid="ignore"):  # inf / inf where the tensor holds an infinity: NaN scales
        bs = round_to("e4m3", (amax / F32(f.max_finite)) / ts)
        return (bs * ts).astype(F32)


def _inverse(s: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        inv = F32(1) / s
    return np.where(s == 0, F32(0), inv).astype(F32)


def quantize_rows(x: np.ndarray, qf: QFormat, tensor_amax=None) -> tuple[np.ndarray, np.ndarray]:
    """Quantize along the last dim: (codes uint8 [..., K], scales f32 [..., G]); G = 1 per channel/token,
    ceil(K / block) per block (a partial last block is padded with zeros for its amax). Per tensor
    (block -1): one scale over everything, shape [..., 1] broadcast."""
    x = np.asarray(x, F32)
    k = x.shape[-1]
    if qf.block == -1:
        amax = np.max(np.abs(x)).reshape((1,) * x.ndim) if x.size else np.zeros((1,) * x.ndim, F32)
        s = np.broadcast_to(scales(amax, qf), (*x.shape[:-1], 1)).astype(F32)
        return quantize_elems(qf.elem, x * _inverse(s)), s
    g = qf.group(k)
    ng = -(-k // g)
    pad = np.zeros((*x.shape[:-1], ng * g), F32)
    pad[..., :k] = x
    with np.errstate(invalid="ignore"):
        amax = np.max(np.abs(pad.reshape(*x.shape[:-1], ng, g)), axis=-1)
    if qf.scale == "e4m3" and tensor_amax is None:
        tensor_amax = np.max(amax, axis=-1, keepdims=True) if amax.size else F32(0)
    s = scales(amax, qf, tensor_amax)
    inv = np.repeat(_inverse(s), g, axis=-1)[..., :k]
    with np.errstate(invalid="ignore"):  # inf · 0 where a NaN or inf sits in a group: NaN, as on the targets
        return quantize_elems(qf.elem, x * inv), s


def dequantize_rows(codes: np.ndarray, s: np.ndarray, elem: str, group: int) -> np.ndarray:
    """x̂ = decode(q) · s[..., k // group] in f32."""
    v = decode(elem, codes)
    with np.errstate(invalid="ignore"):
        return (v * np.repeat(np.asarray(s, F32), group, axis=-1)[..., : v.shape[-1]]).astype(F32)


def fake_quantize(x: np.ndarray, qf: QFormat, scale: np.ndarray | None = None) -> np.ndarray:
    """dequantize(quantize(x)) along the last dim; with `scale` ([1], f32): a static per-tensor scale."""
    x = np.asarray(x, F32)
    if scale is not None:
        s = np.asarray(scale, F32).reshape((1,) * x.ndim)
        return (round_to(qf.elem, x * _inverse(s)) * s).astype(F32)
    codes, s = quantize_rows(x, qf, tensor_amax=None)
    return dequantize_rows(codes, s, qf.elem, x.shape[-1] if qf.block <= 0 else qf.block)


# ----------------------------------------------------------------------------- weight storage
def pack_nibbles(codes: np.ndarray) -> np.ndarray:
    """4-bit codes [N, K] two per byte along K (element 2j low nibble, 2j+1 high; odd K padded) -> i8."""
    c = np.asarray(codes, np.uint8) & 0xF
    if c.shape[-1] % 2:
        c = np.concatenate([c, np.zeros((*c.shape[:-1], 1), np.uint8)], axis=-1)
    return (c[..., 0::2] | (c[..., 1::2] << 4)).astype(np.uint8).view(np.int8)


def unpack_nibbles(p: np.ndarray, k: int) -> np.ndarray:
    u = np.asarray(p).view(np.uint8)
    return np.stack([u & 0xF, u >> 4], axis=-1).reshape(*u.shape[:-1], 2 * u.shape[-1])[..., :k]


def pack_fp6(codes: np.ndarray) -> np.ndarray:
    """6-bit codes [..., K] four per three bytes along K (a partial last quad padded with zero codes): the 24-bit
    little-endian word c0 | c1 << 6 | c2 << 12 | c3 << 18 of each quad, its low byte first -> u8 [..., 3·ceil(K/4)].
    qc.fp_wlinear's wq keeps fp6 codes one per byte; the CPU target stores a constant fp6 weight in this layout
    and decodes it inside the GEMM (`targets/cpu/fp6_panels.py`)."""
    c = np.asarray(codes, np.uint32) & 0x3F
    pad = -c.shape[-1] % 4
    if pad:
        c = np.concatenate([c, np.zeros((*c.shape[:-1], pad), np.uint32)], axis=-1)
    q = c.reshape(*c.shape[:-1], -1, 4)
    word = q[..., 0] | (q[..., 1] << 6) | (q[..., 2] << 12) | (q[..., 3] << 18)
    out = np.stack([word & 0xFF, (word >> 8) & 0xFF, word >> 16], axis=-1).astype(np.uint8)
    return out.reshape(*c.shape[:-1], -1)


def unpack_fp6(p: np.ndarray, k: int) -> np.ndarray:
    """The 6-bit codes [..., k] of `pack_fp6`'s bytes."""
    b = np.asarray(p).view(np.uint8).astype(np.uint32).reshape(*np.shape(p)[:-1], -1, 3)
    word = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16)
    q = np.stack([(word >> s) & 0x3F for s in (0, 6, 12, 18)], axis=-1).astype(np.uint8)
    return q.reshape(*q.shape[:-2], -1)[..., :k]


def stored_k(elem: str, k: int) -> int:
    """Bytes per row of qc.fp_wlinear's wq: two 4-bit codes per byte, one code per byte otherwise (fp6 included;
    see `packed_row_bytes`)."""
    return -(-k // 2) if ELEMS[elem].bits == 4 else k


def packed_row_bytes(elem: str, k: int) -> int:
    """Bytes per weight row as the CPU target stores a constant weight: fp6 four codes in three bytes
    (`pack_fp6`), otherwise `stored_k`."""
    return 3 * -(-k // 4) if ELEMS[elem].bits == 6 else stored_k(elem, k)


def quantize_weight(w: np.ndarray, qf: QFormat) -> tuple[np.ndarray, np.ndarray]:
    """(wq i8 [N, stored_k], scale f32 [N, G]) of a weight [N, K]; per tensor becomes one scale per row, all
    equal; NVFP4's tensor scale spans the whole weight."""
    w = np.asarray(w, F32)
    ta = np.max(np.abs(w)) if qf.scale == "e4m3" and w.size else None
    if qf.block == -1:
        codes, s = quantize_rows(w, qf)
    else:
        codes, s = quantize_rows(w, qf, tensor_amax=ta)
    wq = pack_nibbles(codes) if qf.bits == 4 else codes.view(np.int8)
    return wq, np.ascontiguousarray(s, F32)


# ----------------------------------------------------------------------------- 1-byte scale storage
def weight_tensor_scale(w: np.ndarray, qf: QFormat) -> float | None:
    """NVFP4's f32 tensor scale of a weight, max|W| / (max_finite · 448) (1 where 0), as `scales` computes it;
    None for other scale formats."""
    if qf.scale != "e4m3":
        return None
    ta = np.max(np.abs(np.asarray(w, F32))) if np.size(w) else F32(0)
    ts = F32(ta) / F32(qf.elem_format.max_finite * ELEMS["e4m3"].max_finite)
    return float(F32(1) if ts == 0 else ts)


def scale_codes(s: np.ndarray, qf: QFormat, tensor_scale: float | None = None) -> np.ndarray:
    """The 1-byte codes (i8) of scales `scales` chose for an e8m0 or e4m3 scale format: e8m0 the biased
    exponent (2^x -> x + 127, NaN -> 0xFF); e4m3 (NVFP4) the code of s / tensor_scale. `decode_scales` gives
    back exactly `s`; a scale that does not round-trip (not chosen by `scales`) is a QcompError."""
    s = np.asarray(s, F32)
    if qf.scale == "e8m0":
        with np.errstate(divide="ignore", invalid="ignore"):
            _, e = np.frexp(s)  # s = 2^x: frexp gives 0.5 · 2^(x + 1)
        codes = np.where(np.isnan(s), 255, np.clip(e - 1 + 127, 0, 254)).astype(np.uint8)
    elif qf.scale == "e4m3":
        if tensor_scale is None:
            raise QcompError("scale codes: e4m3 block scales need their f32 tensor scale")
        with np.errstate(invalid="ignore"):
            codes = quantize_elems("e4m3", s / F32(tensor_scale))
    else:
        raise QcompError(f"scale codes: {qf} has f32 scales, not 1-byte ones")
    back = decode_scales(codes.view(np.int8), qf, tensor_scale)
    if not np.array_equal(back, s, equal_nan=True):
        raise QcompError(f"scale codes: a scale of {qf} is not one byte times the tensor scale (not from `scales`)")
    return codes.view(np.int8)


def decode_scales(codes: np.ndarray, qf: QFormat, tensor_scale: float | None = None) -> np.ndarray:
    """f32 scales of 1-byte codes: e8m0 2^(c - 127) (c = 0: 2^-127, an f32 subnormal; 0xFF: NaN); e4m3
    decode(c) · tensor_scale in f32 (one product, as `scales` makes it)."""
    c = np.asarray(codes).view(np.uint8)
    if qf.scale == "e8m0":
        return _pow2(np.where(c == 255, np.nan, c.astype(F32) - F32(127)).astype(F32))
    if qf.scale == "e4m3":
        return (decode("e4m3", c) * F32(tensor_scale)).astype(F32)
    raise QcompError(f"scale codes: {qf} has f32 scales, not 1-byte ones")


def stored_scales(scale: np.ndarray, qf: QFormat, tensor_scale: float | None = None) -> np.ndarray:
    """f32 scales as stored: f32 as is, 1-byte codes (i8) decoded."""
    scale = np.asarray(scale)
    return decode_scales(scale, qf, tensor_scale) if scale.dtype in (np.int8, np.uint8) else scale.astype(F32)


def dequantize_weight(wq: np.ndarray, scale: np.ndarray, *, elem: str, group: int, k: int) -> np.ndarray:
    codes = unpack_nibbles(wq, k) if ELEMS[elem].bits == 4 else np.asarray(wq).view(np.uint8)
    return dequantize_rows(codes, scale, elem, group)


def fp_wlinear(x, wq, scale, b, *, format: str, group: int, tensor_scale: float | None = None) -> np.ndarray:
    """x · dequantize_weight(wq, scale)ᵀ + b in f32 (`format`: the weights' QFormat text; `scale` f32, or
    1-byte codes of an e8m0 / e4m3 scale format with NVFP4's f32 `tensor_scale`, see `stored_scales`)."""
    x = np.asarray(x, F32)
    qf = parse(format)
    s = stored_scales(scale, qf, tensor_scale)
    w = dequantize_weight(wq, s, elem=qf.elem, group=group, k=x.shape[-1])
    return np.matmul(x, w.T) + np.asarray(b, F32)


def fp_fake_quant(x, *, format: str) -> np.ndarray:
    """Dynamic fake quantization of activations along the last dim (per token, per block or per tensor)."""
    return fake_quantize(x, parse(format))


def fp_fake_quant_static(x, scale, *, format: str) -> np.ndarray:
    """Fake quantization with a static per-tensor scale [1]: round_to(x · (1/scale)) · scale."""
    return fake_quantize(x, parse(format), scale)
