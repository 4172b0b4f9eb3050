"""qc-assign-precision's float candidates: number formats (`dialects/formats.py`) beside integer precisions in one
mixed-precision search.

A candidate `<format>-w<W>a<A>` (`Precision` text, as `formats.precision_name` prints a layer quantized by
qc-quantize-float): `fp8-w8a8` (e4m3 weights per channel and activations per token), `nvfp4-w4a16` (NVFP4
weights, float activations), `mxfp4/fp8-w4a8` (weight format / activation format). W must be the weight
format's element bits, A its activation format's (16: float activations); the block is the format's, so no
g<G>. Only preset names fit the `Precision` grammar (fp8, fp8_e5m2, mxfp8, mxfp4, nvfp4, ...).

Its stored bits per weight count the scales as qc-quantize-float stores them by default (scale_bytes=true):
f32 scales 32 bits per group (one group per output channel for fp8), e8m0 and e4m3 scales 8 bits per block;
NVFP4's one f32 tensor scale per layer is left out (32 bits per layer). Its local error is that of an integer
candidate (`quant_math.local_error`), || x Wᵀ − Q_a(x) Q_w(W)ᵀ ||² on the sample rows, with Q_w / Q_a the
format's round trip (`formats.quantize_rows` / `formats.fake_quantize`: what qc.fp_wlinear and
qc.fp_fake_quant compute).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from qcomp.dialects import formats as fmt
from qcomp.dialects.errors import QcompError
from qcomp.dialects.precision import WEIGHT_ONLY, Precision
from qcomp.dialects.quant_math import error_rows

F32 = np.float32


@dataclass(frozen=True)
class FloatCandidate:
    """A float-format precision qc-assign-precision may give a layer (see the module docstring)."""

    wformat: str  # a preset name of formats.PRESETS
    aformat: str  # "" for float activations

    @property
    def w(self) -> fmt.QFormat:
        return fmt.parse(self.wformat)

    @property
    def a(self) -> fmt.QFormat | None:
        return fmt.parse(self.aformat) if self.aformat else None

    @property
    def wbits(self) -> int:
        return self.w.bits

    @property
    def abits(self) -> int:
        a = self.a
        return WEIGHT_ONLY if a is None else a.bits

    @property
    def group(self) -> int:
        return max(self.w.block, 0)

    @property
    def name(self) -> str:
        return fmt.precision_name(self.w, self.a)

    def bits_per_weight(self, k: int) -> float:
        """Stored bits per weight of a layer with k input channels, scales included (see the module docstring)."""
        w = self.w
        g = w.group(k)
        return w.bits + w.scale_bits() * math.ceil(k / g) / k


def parse_float_candidate(text: str) -> FloatCandidate | None:
    """The float candidate `text` names, None when it names no number format (an integer candidate), or a
    one-line QcompError when it names one inconsistently."""
    p = Precision.try_parse(text)
    if p is None or not p.format:
        return None
    wname, _, aname = p.format.partition("/")
    where = f"qc-assign-precision: candidate {text!r}"
    for name in (wname, aname):
        if name and name not in fmt.PRESETS:
            raise QcompError(f"{where}: {name!r} is not a format preset ({', '.join(fmt.PRESETS)})")
    w = fmt.PRESETS[wname]
    a = None if p.abits == WEIGHT_ONLY else fmt.PRESETS[aname or wname]
    if aname and a is None:
        raise QcompError(f"{where}: an activation format needs a{fmt.PRESETS[aname].bits}, not a16")
    if p.group:
        raise QcompError(f"{where}: a number format carries its own block; drop g{p.group}")
    if p.wbits != w.bits or (a is not None and p.abits != a.bits):
        want = fmt.precision_name(w, a)
        raise QcompError(f"{where}: the bits must be the formats' ({want})")
    return FloatCandidate(str(w), "" if a is None else str(a))


def float_local_error(w: np.ndarray, x: np.ndarray, cand: FloatCandidate) -> float:
    """|| x Wᵀ − Q_a(x) Q_w(W)ᵀ ||² on the sample rows x (an lm_head: on evenly spaced rows, scaled up), the
    weights rounded as qc-quantize-float rounds them (NVFP4's tensor scale from the whole weight)."""
    rows = np.asarray(error_rows(w), F32)
    qw = cand.w
    ta = np.max(np.abs(w)) if qw.scale == "e4m3" and np.size(w) else None
    codes, s = fmt.quantize_rows(rows, qw, tensor_amax=ta)
    wq = fmt.dequantize_rows(codes, s, qw.elem, qw.group(rows.shape[1]))
    qa = cand.a
    xq = x if qa is None else fmt.fake_quantize(x, qa)
    d = xq @ wq.T - x @ rows.T
    return float(np.einsum("ij,ij->", d, d, dtype=np.float64)) * (w.shape[0] / rows.shape[0])
