"""Shared quantization math on numpy arrays: what calibration, the passes and the sensitivity analysis compute.

- Observers: `Observer` streams one activation tensor's per-channel absmax, mean |x|, a row sample and an |x|
  histogram (2048 bins over [0, range]); `clip_of` gives an activation's per-tensor clip by a method of `METHODS`.
- Clip methods on a histogram: percentile, MSE and KL (TensorRT's entropy calibration).
- Fake quantization (quantize, then dequantize, in f32) as qc-quantize stores it: `fake_quant_rows` (activations
  per row or per tensor), `fake_quant_weight` (per output channel), `fake_quant_grouped` (weight groups, with or
  without zero points); `error_rows` (the rows an error estimate reads).
- Precision candidates of qc-assign-precision: `Candidate`, `parse_candidate`, `local_error`.

Bit-exact with the reference semantics of `reference.py` / `reference_asym.py`, which these build on.
"""

import math
from dataclasses import dataclass

import numpy as np

from . import reference as ref
from . import reference_asym as ra
from .errors import QcompError
from .precision import WEIGHT_ONLY, Precision

METHODS = ("minmax", "percentile", "mse", "kl")  # calibration methods: per-tensor activation clips

BINS = 2048  # histogram bins over [0, range]
KL_LEVELS = 128


def percentile_clip(hist: np.ndarray, rng: float, amax: float, p: float) -> float:
    """The p-th percentile of |x| from its histogram over [0, rng], interpolated within the bin."""
    w = rng / len(hist)
    cdf = np.cumsum(hist, dtype=np.float64)
    target = cdf[-1] * p / 100.0
    i = int(np.searchsorted(cdf, target, side="left"))
    i = min(i, len(hist) - 1)
    below = cdf[i - 1] if i else 0.0
    frac = (target - below) / hist[i] if hist[i] else 1.0
    return float(min((i + frac) * w, amax))


def _sawtooth_integral(u: np.ndarray) -> np.ndarray:
    """∫_0^u (τ - round(τ))² dτ for u >= 0: m/12 + f³/3 with m = round(u), f = u - m."""
    m = np.floor(u + 0.5)
    f = u - m
    return m / 12.0 + f**3 / 3.0


def quant_mse(hist: np.ndarray, rng: float, clips: np.ndarray, qmax: int = 127) -> np.ndarray:
    """Expected squared error of symmetric quantization with clip c (scale c/qmax) for each c in `clips`,
    for values spread uniformly within the histogram's bins: rounding error below c, clipping error above."""
    n = len(hist)
    w = rng / n
    lo = (np.arange(n) * w)[None, :]
    hi = lo + w
    c = np.asarray(clips, np.float64)[:, None]
    s = c / qmax
    # part of each bin below c: rounding error, integrated exactly over [lo, min(hi, c)]
    top = np.minimum(hi, c)
    below = np.where(top > lo, s**3 * (_sawtooth_integral(top / s) - _sawtooth_integral(lo / s)), 0.0)
    # part above c: (v - c)² integrated over [max(lo, c), hi]
    bot = np.maximum(lo, c)
    above = np.where(hi > bot, ((hi - c) ** 3 - (bot - c) ** 3) / 3.0, 0.0)
    return ((below + above) / w * hist[None, :]).sum(axis=1) / max(hist.sum(), 1)


def mse_clip(hist: np.ndarray, rng: float, amax: float, steps: int = 100) -> float:
    """The clip r · amax (r = 1/steps .. 1) with the least expected quantization MSE."""
    clips = amax * np.arange(1, steps + 1) / steps
    return float(clips[int(np.argmin(quant_mse(hist, rng, clips)))])


def _smooth(p: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    zero = p == 0
    nz = (~zero).sum()
    if nz == 0 or zero.sum() == 0:
        return p
    return p + eps * zero - eps * zero.sum() / nz * (~zero)


def kl_clip(hist: np.ndarray, rng: float, amax: float, levels: int = KL_LEVELS) -> float:
    """TensorRT entropy calibration on an |x| histogram: the threshold i·w (i >= levels bins) minimizing
    KL(P || Q), P the first i bins with the outliers added to the last one, Q P's bins merged into
    `levels` levels and spread back over the non-empty bins."""
    n = len(hist)
    w = rng / n
    h = hist.astype(np.float64)
    last = int(np.nonzero(h)[0][-1]) + 1
    if last <= levels:
        return float(min(last * w, amax))
    tail = np.cumsum(h[::-1])[::-1]  # tail[i] = Σ h[i:]
    best, best_i = math.inf, last
    for i in range(levels, last + 1):
        p = h[:i].copy()
        if i < n:
            p[i - 1] += tail[i]
        nzm = h[:i] != 0
        edges = (np.arange(levels) * i) // levels
        sums = np.add.reduceat(h[:i], edges)
        cnt = np.add.reduceat(nzm.astype(np.float64), edges)
        which = np.repeat(np.arange(levels), np.diff(np.append(edges, i)))
        q = np.where(nzm, (sums / np.maximum(cnt, 1))[which], 0.0)
        ps, qs = p.sum(), q.sum()
        if qs == 0:
            continue
        p, q = _smooth(p / ps), _smooth(q / qs)
        m = p > 0
        kl = float(np.sum(p[m] * np.log(p[m] / np.where(q[m] > 0, q[m], 1e-12))))
        if kl < best:
            best, best_i = kl, i
    return float(min(best_i * w, amax))


# ----------------------------------------------------------------------------- observers
class Observer:
    """Streams one activation tensor's per-channel absmax and |x| histogram (see module docstring)."""

    def __init__(self, channel_axis: int, rows_per_update: int = 0):
        self.channel_axis = channel_axis
        self.rows_per_update = rows_per_update
        self.absmax: np.ndarray | None = None
        self.sum_abs: np.ndarray | None = None
        self.count = 0
        self.rows: list[np.ndarray] = []
        self.hist = np.zeros(BINS, np.int64)
        self.range = 0.0  # the histogram covers [0, range]

    @property
    def mean_abs(self) -> np.ndarray | None:
        return None if self.sum_abs is None else (self.sum_abs / max(self.count, 1)).astype(np.float32)

    @property
    def sample(self) -> np.ndarray | None:
        return np.concatenate(self.rows) if self.rows else None

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float32)
        a = np.abs(x)
        if not np.all(np.isfinite(a)):
            raise QcompError("calibration: an activation contains inf or NaN")
        ax = self.channel_axis % a.ndim
        red = tuple(i for i in range(a.ndim) if i != ax)
        ch = a.max(axis=red) if a.size else np.zeros(a.shape[ax], np.float32)
        self.absmax = ch if self.absmax is None else np.maximum(self.absmax, ch)
        total = a.sum(axis=red, dtype=np.float64)
        self.sum_abs = total if self.sum_abs is None else self.sum_abs + total
        self.count += a.size // max(a.shape[ax], 1)
        if self.rows_per_update and a.size:
            flat = np.moveaxis(x, ax, -1).reshape(-1, a.shape[ax])
            pick = np.unique(np.linspace(0, len(flat) - 1, min(self.rows_per_update, len(flat))).astype(np.int64))
            self.rows.append(flat[pick].copy())
        m = float(ch.max()) if ch.size else 0.0
        if m > self.range:
            self._grow(m)
        if self.range == 0.0:
            self.hist[0] += a.size
            return
        idx = np.minimum((a.ravel() * np.float32(BINS / self.range)).astype(np.int64), BINS - 1)
        self.hist += np.bincount(idx, minlength=BINS)

    def _grow(self, m: float) -> None:
        if self.range == 0.0:
            zeros = self.hist[0]
            self.range, self.hist[:] = m, 0
            self.hist[0] = zeros
            return
        f = 2 ** math.ceil(math.log2(m / self.range))
        if f >= BINS:
            total, self.hist[:] = self.hist.sum(), 0
            self.hist[0] = total
        else:
            merged = self.hist.reshape(BINS // f, f).sum(axis=1)
            self.hist[:] = 0
            self.hist[: BINS // f] = merged
        self.range *= f

    def clips(self, percentile: float) -> dict[str, float]:
        amax = float(self.absmax.max()) if self.absmax is not None and self.absmax.size else 0.0
        if amax == 0.0 or self.hist.sum() == 0:
            return dict.fromkeys(METHODS, amax)
        return {
            "minmax": amax,
            "percentile": percentile_clip(self.hist, self.range, amax, percentile),
            "mse": mse_clip(self.hist, self.range, amax),
            "kl": kl_clip(self.hist, self.range, amax),
        }


def clip_of(absmax: np.ndarray, sample: np.ndarray | None, method: str, percentile: float) -> float:
    """The per-tensor clip of an activation known by its exact per-channel absmax and a row sample (what the
    outlier passes keep up to date): minmax is exact; the other methods use the sample's histogram."""
    amax = float(np.max(absmax)) if absmax.size else 0.0
    if method == "minmax" or sample is None or amax == 0.0:
        return amax
    obs = Observer(-1)
    obs.update(sample)
    if amax > obs.range:
        obs._grow(amax)
    obs.absmax = np.asarray(absmax, np.float32)
    return obs.clips(percentile)[method]


# ----------------------------------------------------------------------------- fake quantization
MAX_ROWS = 4096  # error estimates use at most this many output channels per layer (evenly spaced)


def fake_quant_rows(x: np.ndarray, bits: int, clip: float | None = None) -> np.ndarray:
    """x quantized and dequantized symmetrically per row (clip None) or per tensor at `clip`."""
    amax = np.abs(x).max(axis=-1, keepdims=True) if clip is None else np.asarray(clip, np.float32)
    scale = ref.symmetric_scale(amax, bits)
    q = ref.qmax(bits)
    return np.clip(np.rint(x * (np.float32(1) / scale)), -q, q).astype(np.float32) * scale


def fake_quant_weight(w: np.ndarray, bits: int) -> np.ndarray:
    """w quantized and dequantized per output channel (symmetric)."""
    wq, ws = ref.quantize_weight(w, bits=bits, axis=0)
    return wq.astype(np.float32) * ws[:, None]


def fake_quant_grouped(
    w: np.ndarray, bits: int, group: int, clip: np.ndarray | None = None, sym: bool = True
) -> np.ndarray:
    """w quantized and dequantized as qc-quantize's weight-only path does (group 0: per output channel); sym=false:
    with zero points, each group's range its (min, max) within ±clip (qc-quantize{sym=false})."""
    group = group or w.shape[1]
    if sym:
        q, s = ref.quantize_weight_grouped(w, bits=bits, group=group, clip=clip)
        return ref.dequantize_weight(q, s, bits=bits, group=group, k=w.shape[1])
    lo = hi = None
    if clip is not None:
        lo, hi = ra.group_min_max(w, group)
        c = np.asarray(clip, np.float32).reshape(lo.shape)
        lo, hi = np.maximum(lo, -c), np.minimum(hi, c)
    q, s, z = ra.quantize_weight_grouped_asym(w, bits=bits, group=group, lo=lo, hi=hi)
    return ra.dequantize_weight_asym(q, s, z, bits=bits, group=group, k=w.shape[1])


def error_rows(w: np.ndarray) -> np.ndarray:
    """The rows of w an error estimate uses: all of them, or MAX_ROWS evenly spaced ones (an lm_head)."""
    return w if w.shape[0] <= MAX_ROWS else w[:: -(-w.shape[0] // MAX_ROWS)]


# ----------------------------------------------------------------------------- precision candidates
@dataclass(frozen=True)
class Candidate:
    """A precision qc-assign-precision may give a layer: integer weights, 8-bit or float activations."""

    wbits: int
    abits: int
    group: int  # weight group for a16 (0: one per output channel); 0 for a8

    @property
    def name(self) -> str:
        return f"w{self.wbits}a{self.abits}" + (f"g{self.group}" if self.abits == 16 else "")

    def bits_per_weight(self, k: int) -> float:
        """Stored bits per weight of a layer with k input channels, f32 scales included."""
        g = self.group or k
        return self.wbits + 32 * math.ceil(k / g) / k


def parse_candidate(text: str, group: int = 128) -> Candidate:
    """A candidate `wNaM[gG]` (N in 2..8; M 8 or 16; G, only for a16, defaults to `group`), read by `Precision`."""
    p = Precision.try_parse(text)
    if p is None or p.is_float or p.format or p.abits not in (8, WEIGHT_ONLY) or (p.group and p.abits == 8):
        raise QcompError(
            f"qc-assign-precision: candidate {text!r} must be wNaM[gG] with N in 2..8, M in 8, 16 (G only for a16)"
        )
    explicit = "g" in text  # w4a16g0: one scale per output channel, whatever `group` says
    return Candidate(p.wbits, p.abits, (p.group if explicit else group) if p.weight_only else 0)


def local_error(w: np.ndarray, x: np.ndarray, cand: Candidate) -> float:
    """|| x Wᵀ − Q_a(x) Q_w(W)ᵀ ||² on the sample rows x (an lm_head: on evenly spaced rows, scaled up)."""
    rows = error_rows(w)
    wq = fake_quant_grouped(rows, cand.wbits, cand.group)
    xq = x if cand.abits == 16 else fake_quant_rows(x, cand.abits)
    d = xq @ wq.T - x @ rows.T
    return float(np.einsum("ij,ij->", d, d, dtype=np.float64)) * (w.shape[0] / rows.shape[0])
