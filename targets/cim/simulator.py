"""Functional crossbar simulator: the numerics of a mapped qc.qlinear on CIM arrays, numpy-vectorised.

Per layer, at build time (`CrossbarLayer`), each cell's conductance is programmed once from the seeded
device model (in units of one level step ΔG = (G_max - G_min) / (2^cell_bits - 1)):

    G = (level + G_min) · (1 + σ·z),  z ~ N(0, 1)       (NeuroSim's multiplicative Gaussian variation)

with stuck-at faults replacing the level by 0 (SA-HRS) or the top level (SA-LRS) at their rates. The
reference that makes the column sum a signed/offset-free dot product is subtracted in the analog domain:
the array's dummy column (every cell at G_min, also varied) for `offset`, the negative column for
`differential`. So each row tile t holds one effective matrix W[t] [rows, slices·n].

At run time (`mvm`), for every input cycle c (signed bit-serial planes of the int8 activations, `mapping.
input_planes`), row tile t and slice s, the column partial sum p = plane_c · W[t][:, s] is digitised by the
ADC and shift-added: acc = Σ_t Σ_c Σ_s coef_c · coef_s · ADC(p), minus the digital offset 2^(b-1)·Σx.

ADC (`adc_range`): `minmax` is NeuroSim's LinearQuantizeOut (2^adc_bits levels between the min and max of
each (cycle, slice, row tile) partial-sum tensor of a call — of a chunk of CHUNK_ELEMENTS sums for long
inputs — floor); `full` uses 2^adc_bits levels over the column's full scale FS = rows·max(plane_c)·
(2^cell_bits - 1) ([0, FS] for offset, [-FS, FS] for differential), round to nearest, saturate; when FS
fits in the levels the step is 1 and the ADC is lossless on integer sums.

Ideal mode: no variation, faults or ADC loss; the partial sums are exact integers and acc equals Σ xq·wq
exactly (then wrapped to i32 like the reference), followed by the qlinear epilogue of `dialects/reference.py`
in the same f32 op order — bit-identical to the CPU build.
"""

from __future__ import annotations

import numpy as np
from qcomp.dialects import reference

from .arch import CimArch
from .mapping import LayerPlan, input_planes, weight_levels

F32 = np.float32
CHUNK_ELEMENTS = 1 << 24  # partial-sum elements per matmul chunk (64 MB of f32)


class CrossbarLayer:
    """One qc.qlinear's weights programmed onto its arrays (see the module docstring)."""

    def __init__(self, plan: LayerPlan, wq: np.ndarray, arch: CimArch, rng: np.random.Generator):
        self.plan, self.arch = plan, arch
        levels, self.slice_coef, offset = weight_levels(wq, plan, arch)
        # offset encoding: the reference column sits at the middle level, so each column sums Σx·(level - mid)
        # (centred, like NeuroSim's dummy column); what remains of the offset is removed digitally
        self.mid = F32(((1 << arch.cell_bits) - 1) / 2) if plan.polarity == 1 else F32(0)
        self.offset = offset - float(self.mid) * float(self.slice_coef.sum()) if plan.polarity == 1 else 0.0
        k, n, s, r = plan.k, plan.n, plan.slices, arch.rows
        kpad = plan.row_tiles * r
        g = self._program(levels, rng)  # [slices, k, n] f32 effective conductance (level units)
        w = np.zeros((kpad, s, n), F32)
        w[:k] = g.transpose(1, 0, 2)
        self.w = np.ascontiguousarray(w.reshape(plan.row_tiles, r, s * n))
        _, _, vmax = input_planes(np.zeros((1, 1), np.int8), arch)
        self.vmax = vmax
        lossless = self._lossless(vmax)
        # the ADC runs unless it could not change a sum: ideal, or lossless on integer (variation-free) sums
        self.quantize = not arch.ideal and not (lossless and not arch.variation and arch.adc_range == "full")
        # acc is an integer (a lossless full-scale ADC rounds to whole levels)
        self.exact = arch.ideal or (lossless and arch.adc_range == "full")

    def _program(self, levels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        a = self.arch
        lv = levels.astype(F32)
        top = F32((1 << a.cell_bits) - 1)
        if not a.ideal and (a.sa0 or a.sa1):
            u = rng.random(lv.shape, dtype=F32)
            lv = np.where(u < a.sa0, F32(0), np.where(u < a.sa0 + a.sa1, top, lv))
        if a.ideal or not a.variation:  # G_min cancels exactly against the reference: levels (- mid)
            return lv[0] - lv[1] if len(lv) == 2 else lv[0] - self.mid
        g = lv + F32(a.g_min)
        if a.variation:
            g = g * (F32(1) + F32(a.variation) * rng.standard_normal(lv.shape, dtype=F32))
            g = np.maximum(g, F32(0))
        if len(g) == 2:
            return g[0] - g[1]
        return g[0] - self._dummy(rng)

    def _dummy(self, rng: np.random.Generator) -> np.ndarray:
        """G of the reference column each cell's array subtracts: [slices, k, n] (one per array and row)."""
        a, p = self.arch, self.plan
        g0 = F32(a.g_min) + self.mid
        if not a.variation:
            return np.full((p.slices, p.k, p.n), g0, F32)
        usable = a.cols - 1
        dummy = g0 * (F32(1) + F32(a.variation) * rng.standard_normal((p.col_tiles, p.k), dtype=F32))
        col = (np.arange(p.n)[None, :] * p.slices + np.arange(p.slices)[:, None]) // usable  # [slices, n]
        return dummy[col].transpose(0, 2, 1)

    def _adc(self, ps: np.ndarray, vmax: np.ndarray) -> np.ndarray:
        """Quantize partial sums ps [cycles, m, slices, n] of one row tile (see the module docstring)."""
        a = self.arch
        top = F32((1 << a.adc_bits) - 1)
        if a.adc_range == "minmax":  # NeuroSim LinearQuantizeOut's range per (cycle, slice) tensor, rounded
            lo = ps.min(axis=(1, 3), keepdims=True)
            step = (ps.max(axis=(1, 3), keepdims=True) - lo) / top
            step = np.where(step > 0, step, F32(1))
            # in place, the same ops as clip(rint((ps - lo) / step), 0, top) · step + lo (ps - lo >= 0 already)
            ps -= lo
            ps /= step
            np.rint(ps, out=ps)
            np.minimum(ps, top, out=ps)
            ps *= step
            ps += lo
            return ps
        span = (a.rows * ((1 << a.cell_bits) - 1) * vmax).astype(F32)[:, None, None, None]
        span = span * (1 if self.plan.polarity == 2 else 0.5)  # signed inputs: sums in [-span, span]
        lo = -span
        step = np.maximum(self._min_step, 2 * span / top)
        q = np.clip(np.rint((ps - lo) / step), F32(0), np.floor(2 * span / step))
        return q * step + lo

    def mvm(self, xq: np.ndarray) -> np.ndarray:
        """acc [m, n] (f64; exact integers when the device is ideal) of int8 inputs xq [m, k]."""
        p, a = self.plan, self.arch
        m = xq.shape[0]
        planes, pcoef, vmax = input_planes(xq, a)
        kpad = p.row_tiles * a.rows
        if kpad != p.k:
            planes = np.concatenate([planes, np.zeros((len(planes), m, kpad - p.k), F32)], axis=2)
        acc = np.zeros((m, p.n), np.float64)
        c = len(planes)
        step = max(1, CHUNK_ELEMENTS // (c * p.slices * p.n))
        scoef = self.slice_coef.astype(F32)
        for lo in range(0, m, step):
            hi = min(m, lo + step)
            for t in range(p.row_tiles):
                x = planes[:, lo:hi, t * a.rows : (t + 1) * a.rows].reshape(c * (hi - lo), a.rows)
                ps = (x @ self.w[t]).reshape(c, hi - lo, p.slices, p.n)
                if self.quantize:
                    ps = self._adc(ps, vmax)
                per_cycle = ps[:, :, 0] * scoef[0]  # Σ_s coef_s · ps[:, :, s]: [c, m, n], exact below 2^24
                for s in range(1, p.slices):
                    per_cycle += ps[:, :, s] * scoef[s]
                acc[lo:hi] += np.tensordot(pcoef.astype(np.float64), per_cycle.astype(np.float64), axes=1)
        if self.offset:
            acc -= self.offset * np.asarray(xq, np.int64).sum(axis=1, keepdims=True)
        return acc

    @property
    def _min_step(self) -> F32:
        """The sums' grid: whole levels, or half levels around an odd level count's middle reference."""
        return F32(0.5) if self.mid % 1 else F32(1)

    def _lossless(self, vmax: np.ndarray) -> bool:
        a = self.arch
        span = a.rows * ((1 << a.cell_bits) - 1) * int(vmax.max()) * (1 if self.plan.polarity == 2 else 0.5)
        return 2 * span / float(self._min_step) <= (1 << a.adc_bits) - 1


def qlinear(layer: CrossbarLayer, xq, xs, ws, b, act: str = "none") -> np.ndarray:
    """qc.qlinear on the crossbar: act((f32(acc) · xs) · ws + b), the reference epilogue's op order."""
    xq = np.asarray(xq)
    lead = xq.shape[:-1]
    acc = layer.mvm(xq.reshape(-1, xq.shape[-1]))
    if layer.exact:
        acc32 = acc.astype(np.int64).astype(np.int32)  # i32 wrap like the reference accumulator
        accf = acc32.astype(F32)
    else:
        accf = acc.astype(F32)
    accf = accf.reshape(*lead, layer.plan.n)
    y = (accf * np.asarray(xs, F32)) * np.asarray(ws, F32) + np.asarray(b, F32)
    acts = {"none": lambda v: v, "relu": reference.relu, "gelu": reference.gelu, "silu": reference.silu}
    return acts[act](y).astype(F32, copy=False)
