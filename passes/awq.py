"""qc-awq: activation-aware weight quantization — per-channel scale search and weight-clip search.

For every group of float `qc.linear` ops sharing one input x whose producer can absorb a scaling
(norm gamma, a previous linear's rows, a gating multiply; see `channel_fold`), following Lin et al.,
AWQ (MLSys 2024) and mit-han-lab/llm-awq auto_scale.py / auto_clip.py:

1. Scale search: for r in {0, 1/grid, ..., (grid-1)/grid}, s = mean|x|^r normalised by
   sqrt(max(s)·min(s)); the error is Σ ||x Wᵀ − (x/s) Q(W·diag(s))ᵀ||² over the group's outputs on the
   calibration sample (the group stands for AWQ's block), Q the symmetric `wbits` quantizer in groups
   of `group` input channels (the one `qc-quantize{abits=16}` applies); at most MAX_ROWS evenly spaced
   output channels per layer enter the error (an estimate for an lm_head). The best s (r = 0 is no
   scaling) is folded: x -> x / s into the producer, W -> W·diag(s). The float function is unchanged.
2. Clip search, per linear (after all scaling): for each output channel and weight group, the
   quantization range max|w|·(1 − i/grid), i < grid/2, with the least output error ||x_g (w_g − Q(w_g))ᵀ||²
   on CLIP_TOKENS sample rows. The float weights are not touched: the chosen ranges are recorded as
   `qc.weight_clip` [N, ceil(K/group)] for qc-quantize, which saturates weights beyond them.

Groups whose producer cannot absorb the scale (e.g. attention output -> o_proj) get only the clip search.
A layer's own width and group (`qc.wbits`, `qc.wgroup`, as qc-assign-precision sets them; one group per
output channel for a layer it gave int8 activations, `qc.abits = 8`) override the options.
Needs `qc.act_mean` and `qc.act_sample` (calibrate from input samples). Options: wbits (2..8, default 4),
group (>= 0, 0 = per output channel, default 128), grid (2..1000, default 20), clip (default true), sym
(default true; false: Q is qc-quantize{sym=false}'s zero-point quantizer, for weight-only layers).
"""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from qcomp.dialects import reference as ref
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.quant_math import fake_quant_grouped as fake_quant_grouped  # moved to the floor

from . import act_stats
from .channel_fold import (
    ABITS,
    WBITS,
    WEIGHT_CLIP,
    WGROUP,
    apply_scale,
    linear_groups,
    only_users,
    plan_scale,
    weight,
)
from .smooth import error_rows

MAX_GRID = 1000  # search points; AWQ uses 20, each point quantizes every weight of a group again
CLIP_TOKENS = 256  # sample rows the clip search uses (AWQ's auto_clip uses 512 tokens over many more layers)


def _sq(d: np.ndarray) -> float:
    return float(np.einsum("ij,ij->", d, d, dtype=np.float64))


@dataclass(frozen=True)
class AwqPass:
    """AWQ scale and clip search over calibrated linear groups (see module docstring)."""

    name: ClassVar[str] = "qc-awq"
    wbits: int = 4
    group: int = 128
    grid: int = 20
    clip: bool = True
    sym: bool = True

    def __post_init__(self):
        if not 2 <= self.wbits <= 8:
            raise QcompError(f"qc-awq: wbits must be in [2, 8], got {self.wbits}")
        if self.group < 0:
            raise QcompError(f"qc-awq: group must be >= 0, got {self.group}")
        if not 2 <= self.grid <= MAX_GRID:  # the search costs `grid` quantizations of every weight
            raise QcompError(f"qc-awq: grid must be in [2, {MAX_GRID}], got {self.grid}")

    def run(self, module: ir.Module) -> None:
        with module.context, ir.Location.unknown():
            groups = linear_groups(module)
            for x, group in groups:
                stats = self._stats(group[0])
                if stats is None:
                    continue
                ones = np.ones_like(stats.absmax)
                if only_users(x, group) and plan_scale(x, ones) is not None:
                    weights = [error_rows(weight(op)) for op in group]
                    s = self._search_scale(
                        stats,
                        weights,
                        [self._bits(op) for op in group],
                        [self._group(op) for op in group],
                        [self._sym(op) for op in group],
                    )
                    if s is not None:
                        apply_scale(x, group, s)
            if self.clip:
                for _, group in linear_groups(module):
                    for op in group:
                        stats = act_stats.read(op)
                        if stats is not None and stats.sample is not None:
                            rows = stats.sample
                            self._search_clip(op, rows[:: max(1, -(-len(rows) // CLIP_TOKENS))])

    def _stats(self, op):
        stats = act_stats.read(op)
        if stats is None:
            return None
        if stats.sample is None or stats.mean is None:
            raise QcompError(
                f"{op.location}: qc-awq needs activation samples and means ('qc.act_sample', 'qc.act_mean'): "
                "calibrate from input samples"
            )
        return stats

    def _bits(self, op) -> int:
        """The layer's own width when it has one (`qc.wbits`, e.g. qc-reorder-channels' outlier group)."""
        a = op.attributes[WBITS] if WBITS in op.attributes else None
        return a.value if isinstance(a, ir.IntegerAttr) and 2 <= a.value <= 8 else self.wbits

    def _group(self, op) -> int:
        """The layer's own weight group (`qc.wgroup`; 0 for a layer qc-assign-precision gave int8 activations)."""
        if (
            ABITS in op.attributes
            and isinstance(op.attributes[ABITS], ir.IntegerAttr)
            and op.attributes[ABITS].value == 8
        ):
            return 0
        a = op.attributes[WGROUP] if WGROUP in op.attributes else None
        return a.value if isinstance(a, ir.IntegerAttr) and a.value >= 0 else self.group

    def _sym(self, op) -> bool:
        """Symmetric weights: sym=true, or a layer qc-assign-precision gave int8 activations (qc.qlinear)."""
        a = op.attributes[ABITS] if ABITS in op.attributes else None
        return self.sym or (isinstance(a, ir.IntegerAttr) and a.value == 8)

    def _search_scale(self, stats, weights: list, bits: list, groups: list, syms: list) -> np.ndarray | None:
        x = stats.sample
        refs = [x @ w.T for w in weights]
        mean = np.maximum(stats.mean.astype(np.float64), 1e-4)
        best, best_s = None, None
        for i in range(self.grid):
            s = mean ** (i / self.grid)
            s = (s / np.sqrt(s.max() * s.min())).astype(np.float32)
            xs = x / s
            err = sum(
                _sq(xs @ fake_quant_grouped(w * s[None, :], b, g, sym=y).T - r)
                for w, b, g, y, r in zip(weights, bits, groups, syms, refs, strict=True)
            )
            if best is None or err < best:
                best, best_s = err, (None if i == 0 else s)
        return best_s

    def _search_clip(self, op, x: np.ndarray) -> None:
        w, bits = weight(op), self._bits(op)
        n, k = w.shape
        sym = self._sym(op)
        g = self._group(op) or k
        ng = ref.n_groups(k, g)
        clip = np.zeros((n, ng), np.float32)
        for j in range(ng):
            xg, wg = x[:, j * g : (j + 1) * g], w[:, j * g : (j + 1) * g]
            amax = np.abs(wg).max(axis=1)
            org = xg @ wg.T
            best = np.full(n, np.inf)
            clip[:, j] = amax
            for i in range(self.grid // 2):
                c = (amax * (1 - i / self.grid)).astype(np.float32)
                d = xg @ fake_quant_grouped(wg, bits, g, c[:, None], sym=sym).T - org
                err = np.einsum("ij,ij->j", d, d, dtype=np.float64)
                better = err < best
                best[better], clip[better, j] = err[better], c[better]
        op.attributes[WEIGHT_CLIP] = ir.DenseElementsAttr.get(
            clip, type=ir.RankedTensorType.get([n, ng], ir.F32Type.get())
        )
