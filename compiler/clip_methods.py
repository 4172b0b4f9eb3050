"""Per-tensor clip values from a |x| histogram (2048 bins over [0, range]): percentile, MSE and KL
(TensorRT's entropy calibration). See `qcomp.calibrate` for where the histogram comes from."""

import math

import numpy as np

BINS = 2048
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
