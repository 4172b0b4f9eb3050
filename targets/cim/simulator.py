"""Functional crossbar simulator: the numerics of a mapped qc.qlinear on CIM arrays, as batched torch matmuls.

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

Speed (`mvm`): variation-free cells (2·g on a half-level grid) run their partial sums as exact int8 x int8 -> i32
matmuls on hosts with AVX512-VNNI (elsewhere as f32 matmuls, exact on that grid); varied cells as f32 matmuls
(exact partial sums would need f64; f32 only reorders the summation). The ADC is vectorised over a group of
cycles and slices and the shift-add is one matrix-vector product over them.
Thread count is the caller's (torch.set_num_threads; one thread is fastest on a shared 2-core machine).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from qcomp.dialects import reference
from qcomp.targets.common.isa import has_vnni

from .arch import CimArch
from .mapping import LayerPlan, input_planes, weight_levels

F32 = np.float32
CHUNK_ELEMENTS = 1 << 24  # partial-sum elements per ADC range chunk (64 MB of f32)
GROUP_ROWS = 192  # matmul rows (input cycles x chunk rows) per weight pass
DENSE = 0.95  # below this fraction of non-zero plane rows, only those rows are multiplied


@functools.cache
def _int_mm_fast() -> bool:
    """Whether torch._int_mm beats the f32 matmul on this host: with AVX512-VNNI (oneDNN's int8 kernels). Without
    it (AVX2 hosts) _int_mm is a reference loop, 20-60x slower than torch.mm in f32 at the crossbar's shapes."""

    return has_vnni()


class CrossbarLayer:
    """One qc.qlinear's weights programmed onto its arrays (see the module docstring)."""

    def __init__(self, plan: LayerPlan, wq: np.ndarray, arch: CimArch, rng: np.random.Generator):
        self.plan, self.arch = plan, arch
        levels, self.slice_coef, offset = weight_levels(wq, plan, arch)
        # offset encoding: the reference column sits at the middle level, so each column sums Σx·(level - mid)
        # (centred, like NeuroSim's dummy column); what remains of the offset is removed digitally
        self.mid = F32(((1 << arch.cell_bits) - 1) / 2) if plan.polarity == 1 else F32(0)
        self.offset = offset - float(self.mid) * float(self.slice_coef.sum()) if plan.polarity == 1 else 0.0
        k, r = plan.k, arch.rows
        g = self._program(levels, rng)  # [slices, k, n] f32 effective conductance (level units)
        _, _, vmax = input_planes(np.zeros((1, 1), np.int8), arch)
        self.vmax = vmax
        # variation-free cells sit on a half-level grid: 2·g is a small integer and the partial sums are exact
        # int8 x int8 -> i32 products (torch._int_mm, halved after) — where _int_mm is fast (`_int_mm_fast`);
        # elsewhere the f32 matmul computes the same sums exactly while 2·|sum| <= 2·rows·vmax·max|g| < 2^24
        g2 = 2 * g
        grid = bool(np.abs(g2).max(initial=0) <= 127 and np.array_equal(g2, np.rint(g2)))
        f32_exact = 2 * r * int(vmax.max()) * float(np.abs(g).max(initial=0)) < 2**24
        self.int8 = grid and (_int_mm_fast() or not f32_exact)
        # per row tile: [slices, rows of the tile, n], contiguous (the last tile only holds the real rows)
        tiles = [g[:, t * r : min(k, (t + 1) * r)] for t in range(plan.row_tiles)]
        if self.int8:
            self.wt = [torch.from_numpy(np.ascontiguousarray(w * 2).astype(np.int8)) for w in tiles]
        else:
            self.wt = [torch.from_numpy(np.ascontiguousarray(w)) for w in tiles]
        self.scoef = torch.from_numpy(self.slice_coef.astype(np.float64))
        lossless = self._lossless(vmax)
        # the ADC runs unless it could not change a sum: ideal, or lossless on integer (variation-free) sums
        self.quantize = not arch.ideal and not (lossless and not arch.variation and arch.adc_range == "full")
        # acc is an integer (a lossless full-scale ADC rounds to whole levels)
        self.exact = arch.ideal or (lossless and arch.adc_range == "full")
        # a tile's exact sum Σ_c Σ_s coef_c·coef_s·p is bounded by 127·rows·Σ_s coef_s·max|cell| on a grid of
        # half levels: f32 holds it exactly below 2^23 (every preset); else the tile accumulates in f64
        bound = 127 * r * float(np.abs(g).max(initial=0)) * float(self.slice_coef.sum())
        self.tile_dtype = torch.float32 if not self.exact or bound < 2**23 else torch.float64

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

    def _adc(self, ps: torch.Tensor, j: int, vmax: np.ndarray, zeros: bool) -> tuple[torch.Tensor, ...]:
        """Digitise cycle j's partial sums ps [slices, L] of one row tile and chunk in place (`zeros`: the chunk
        also has all-zero input rows, whose sums are 0 and were not computed): ps becomes the level index R;
        returns (step, lo, R of a zero sum) [slices] f32 with ADC(p) = R·step + lo."""
        a = self.arch
        top = float((1 << a.adc_bits) - 1)
        if a.adc_range == "minmax":  # NeuroSim LinearQuantizeOut's range per (cycle, slice) tensor, rounded
            if ps.shape[1]:
                lo, hi = torch.amin(ps, dim=1), torch.amax(ps, dim=1)  # (aminmax(dim=) is 20x slower)
            else:
                lo = hi = torch.zeros(len(ps))
            if zeros:
                lo, hi = torch.clamp(lo, max=0.0), torch.clamp(hi, min=0.0)
            step = (hi - lo) / top
            step = torch.where(step > 0, step, torch.ones_like(step))
            # the ops of clip(rint((ps - lo) / step), 0, top) (ps - lo >= 0 already)
            ps.sub_(lo[:, None]).div_(step[:, None]).round_().clamp_max_(top)
            return step, lo, ((0 - lo) / step).round_().clamp_max_(top)
        cells = a.rows * ((1 << a.cell_bits) - 1) * (1 if self.plan.polarity == 2 else 0.5)
        span = F32(cells * vmax[j])
        step = np.maximum(self._min_step, F32(2) * span / F32(top))
        ub = float(np.floor(F32(2) * span / step))
        ps.add_(float(span)).div_(float(step)).round_().clamp_(0.0, ub)
        full = torch.full((len(ps),), float(step)), torch.full((len(ps),), float(-span))
        return (*full, torch.full((len(ps),), float(np.clip(np.rint((F32(0) + span) / step), 0, ub))))

    def _partial_sums(self, x: torch.Tensor, t: int, out: torch.Tensor, buf: torch.Tensor | None) -> None:
        """out [slices, rows of x, n] f32 = the column sums of the input planes x [rows, tile rows] on each slice
        of row tile t."""
        w = self.wt[t]
        if self.int8:
            for i in range(len(w)):
                torch._int_mm(x, w[i], out=buf[i])
            torch.mul(buf, 0.5, out=out)
        else:
            torch.bmm(x.expand(len(w), *x.shape), w, out=out)

    def mvm(self, xq: np.ndarray) -> np.ndarray:
        """acc [m, n] (f64; exact integers when the device is ideal) of int8 inputs xq [m, k].

        Loop order (chunk of rows, row tile, group of input cycles): the partial sums [slices, cycles·chunk rows,
        n] of a group come from one matmul (int8 -> i32 for variation-free cells, else f32) over the rows whose
        plane is not all zero on the tile (the others sum to exactly 0: one ADC code per cycle and slice), are
        digitised in place per cycle, and are shift-added into the tile's accumulator as one matrix-vector
        product Σ_s (coef_c·coef_s·step_cs)·R_cs, the ADC offsets Σ coef_c·coef_s·lo_cs added once. A group
        holds enough cycles for >= GROUP_ROWS matmul rows (weights re-read less). The ADC groups (chunk, tile,
        cycle, slice) are those of the module docstring."""
        p, a = self.plan, self.arch
        m, n, s = xq.shape[0], p.n, p.slices
        planes, pcoef, vmax = input_planes(xq, a)
        x = torch.from_numpy(planes)
        if self.int8:
            x = x.to(torch.int8)  # the planes' values are -1, 0, 1 (or dac_bits-wide magnitudes)
        acc = torch.zeros((m, n), dtype=torch.float64)
        c = len(planes)
        step = max(1, CHUNK_ELEMENTS // (c * s * n))
        tdt = self.tile_dtype
        for lo in range(0, m, step):
            hi = min(m, lo + step)
            mc = hi - lo
            g = min(c, -(-GROUP_ROWS // mc))
            ps = torch.empty(s * g * mc * n, dtype=torch.float32)
            buf = torch.empty(s * g * mc * n, dtype=torch.int32) if self.int8 else None
            for t in range(p.row_tiles):
                tacc = torch.zeros((mc, n), dtype=tdt)
                zrow = torch.zeros(mc, dtype=torch.float64)  # the ADC outputs of all-zero rows
                offs = 0.0
                for j0 in range(0, c, g):
                    cyc = range(j0, min(c, j0 + g))
                    xj = x[j0 : cyc.stop, lo:hi, t * a.rows : min(p.k, (t + 1) * a.rows)].reshape(len(cyc) * mc, -1)
                    nz = xj.ne(0).any(dim=1)
                    idx = None
                    if int(nz.sum()) < DENSE * len(nz):
                        idx = nz.nonzero().squeeze(1)
                        xj = xj[idx]
                    else:
                        xj = xj.contiguous()
                    psg = ps[: s * len(xj) * n].view(s, len(xj), n)
                    self._partial_sums(xj, t, psg, None if buf is None else buf[: psg.numel()].view(psg.shape))
                    counts = nz.view(len(cyc), mc).sum(1).tolist() if idx is not None else [mc] * len(cyc)
                    start = 0
                    for ci, j in enumerate(cyc):
                        cnt = counts[ci]
                        seg = psg[:, start : start + cnt].reshape(s, cnt * n)
                        coef = float(pcoef[j]) * self.scoef
                        zeros = cnt < mc
                        if self.quantize:
                            qstep, qlo, r0 = self._adc(seg, j, vmax, zeros)
                            alpha = coef * qstep.double()
                            offs += float((coef * qlo.double()).sum())
                            if zeros:
                                zrow += float((alpha * r0.double()).sum()) * nz.view(len(cyc), mc)[ci].logical_not()
                        else:
                            alpha = coef
                        if idx is None:
                            if tdt == torch.float32:
                                tacc.view(-1).addmv_(seg.t(), alpha.float())
                            else:
                                tacc.view(-1).add_(torch.mv(seg.t().double(), alpha))
                        elif cnt:
                            v = torch.mv(seg.t().to(tdt), alpha.to(tdt)).view(cnt, n)
                            tacc.index_add_(0, idx[start : start + cnt] - ci * mc, v)
                        start += cnt
                acc[lo:hi] += tacc
                acc[lo:hi] += zrow[:, None] + offs
        out = acc.numpy()
        if self.offset:
            out -= self.offset * np.asarray(xq, np.int64).sum(axis=1, keepdims=True)
        return out

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
