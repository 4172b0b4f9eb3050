"""qc-smooth: SmoothQuant — migrate activation outliers into the weights, per input channel.

For every group of float `qc.linear` ops sharing one input x (q/k/v after a norm, gate/up, ...):

    s_j = max|X_j|^α / max|W_:,j|^(1−α)      (clamped to >= 1e-5; 1 where max|X_j| = 0)

with max|W_:,j| over the whole group, then x -> x / s and W -> W · diag(s) (Xiao et al., SmoothQuant,
ICML 2023; mit-han-lab/smoothquant smooth.py). 1/s is folded into x's producer where possible — norm
gamma/beta, the rows of a previous linear, one operand of a gating multiply — else an explicit
`qc.channel_scale` is inserted (see `channel_fold`). The float function is unchanged.

auto=true searches α per group on the calibration sample (α in 0, 0.05, ..., 1, and no smoothing),
keeping the one with the least squared error of the group's outputs (at most MAX_ROWS evenly spaced
output channels per layer: an estimate for an lm_head) when weights are quantized per
output channel to `wbits` and activations per token (granularity=per_token) or per tensor with the
exact max (per_tensor) to 8 bits.

Needs calibrated statistics (`qc.act_absmax`; `qc.act_sample` for auto) from `qcomp.calibrate.attach`;
uncalibrated groups are left alone. Options: alpha (0..1, default 0.5), auto (default false), wbits
(2..8, default 8), granularity (per_token | per_tensor).
"""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.quant_math import MAX_ROWS as MAX_ROWS  # re-exported: moved to the floor (issue 18)
from qcomp.dialects.quant_math import error_rows, fake_quant_weight
from qcomp.dialects.quant_math import fake_quant_rows as fake_quant_rows

from . import act_stats
from .channel_fold import apply_scale, linear_groups, weight

ALPHAS = tuple(round(0.05 * i, 2) for i in range(21))


def smoothing_scale(xmax: np.ndarray, wmax: np.ndarray, alpha: float) -> np.ndarray:
    """SmoothQuant's s = xmax^α / wmax^(1−α), clamped at 1e-5, 1 for silent channels."""
    xmax = np.asarray(xmax, np.float64)
    wmax = np.maximum(np.asarray(wmax, np.float64), 1e-5)
    s = np.maximum(xmax**alpha / wmax ** (1 - alpha), 1e-5)
    return np.where(xmax > 0, s, 1.0).astype(np.float32)


def group_error(
    sample: np.ndarray, absmax: np.ndarray, weights: list, s: np.ndarray, wbits: int, per_tensor: bool
) -> float:
    """Σ over the group of ||Q(x/s) Q(W s)ᵀ − x Wᵀ||² on the sample."""
    xs = sample / s
    xq = fake_quant_rows(xs, 8, float(np.max(absmax / s)) if per_tensor else None)
    err = 0.0
    for w in weights:
        d = xq @ fake_quant_weight(w * s[None, :], wbits).T - sample @ w.T
        err += float(np.einsum("ij,ij->", d, d, dtype=np.float64))
    return err


@dataclass(frozen=True)
class SmoothPass:
    """SmoothQuant smoothing of every calibrated linear group (see module docstring)."""

    name: ClassVar[str] = "qc-smooth"
    alpha: float = 0.5
    auto: bool = False
    wbits: int = 8
    granularity: str = "per_token"

    def __post_init__(self):
        if not 0.0 <= self.alpha <= 1.0:
            raise QcompError(f"qc-smooth: alpha must be in [0, 1], got {self.alpha}")
        if not 2 <= self.wbits <= 8:
            raise QcompError(f"qc-smooth: wbits must be in [2, 8], got {self.wbits}")
        if self.granularity not in ("per_token", "per_tensor"):
            raise QcompError(f"qc-smooth: granularity must be per_token or per_tensor, got {self.granularity!r}")

    def run(self, module: ir.Module) -> None:
        with module.context, ir.Location.unknown():
            for x, group in linear_groups(module):
                stats = act_stats.read(group[0])
                if stats is None:
                    continue
                weights = [weight(op) for op in group]
                wmax = np.max([np.abs(w).max(axis=0) for w in weights], axis=0)
                weights = [error_rows(w) for w in weights]
                if self.auto:
                    if stats.sample is None:
                        raise QcompError(
                            f"{group[0].location}: qc-smooth{{auto=true}} needs activation samples "
                            "('qc.act_sample'): calibrate from input samples"
                        )
                    s = self._search(stats, weights, wmax)
                    if s is None:
                        continue
                else:
                    s = smoothing_scale(stats.absmax, wmax, self.alpha)
                apply_scale(x, group, s)

    def _search(self, stats, weights: list, wmax: np.ndarray) -> np.ndarray | None:
        per_tensor = self.granularity == "per_tensor"
        best = group_error(stats.sample, stats.absmax, weights, np.ones_like(wmax), self.wbits, per_tensor)
        best_s = None
        for a in ALPHAS:
            s = smoothing_scale(stats.absmax, wmax, a)
            e = group_error(stats.sample, stats.absmax, weights, s, self.wbits, per_tensor)
            if e < best:
                best, best_s = e, s
        return best_s
