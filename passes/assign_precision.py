"""qc-assign-precision: choose a precision per linear layer under a budget, exactly.

For every calibrated float `qc.linear` and every candidate precision wXaY, the layer's sensitivity is
the squared error its output would get on the calibration sample,

    e(layer, c) = || x Wᵀ − Q_a(x) Q_w(W)ᵀ ||²   (summed over the sample rows)

which is the second-order (Hessian) measure tr(ΔW H ΔWᵀ) with H = XᵀX when activations stay float
(HAWQ-style, as GPTQ/OBQ use it), and includes activation rounding when a candidate quantizes them.
Q_w is the quantizer qc-quantize applies: groups of `group` input channels for weight-only
candidates (a16), one scale per output channel otherwise; Q_a is per-token int8.

The budget: budget_kind=avg_wbits bounds the weight bits averaged over the assigned layers, scales
included (f32 scales: 32 / group bits per weight, 32 / K per output channel); budget_kind=bytes
bounds their total weight bytes (the same count in bytes). The choice minimising Σ e under the
budget is found by exact dynamic programming over integer costs (the layers' sizes in units of their
greatest common divisor); when that grid is too fine, costs are rounded up to a coarser grid, so the
budget is still never exceeded. An infeasible budget (below the cheapest candidate everywhere) is an
error. The result is written on each layer as `qc.wbits` / `qc.abits`, which qc-quantize obeys, and
the totals on the module as `qc.precision_plan`.

Options: candidates (colon-separated, e.g. w4a16:w8a16, default), budget (> 0), budget_kind
(avg_wbits | bytes), group (>= 0, default 128), method (dp | first_last: the common heuristic of
the first and last layer at the widest candidate and the rest at the first one, as a baseline).
Needs `qc.act_sample` (calibrate from samples).
"""

import math
import re
from dataclasses import dataclass
from functools import reduce
from typing import ClassVar

import numpy as np
from qcomp.dialects._mlir import ir
from qcomp.errors import QcompError
from qcomp.irutil import i64_attr, ops_named

from . import act_stats
from .awq import fake_quant_grouped
from .channel_fold import ABITS, WBITS, linear_weight
from .smooth import error_rows, fake_quant_rows

PLAN = "qc.precision_plan"
MAX_UNITS = 200_000  # DP grid size above which costs are rounded up to a coarser grid


def parse_candidate(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"w(\d)a(8|16)", text)
    if m is None or not 2 <= int(m.group(1)) <= 8:
        raise QcompError(f"qc-assign-precision: candidate {text!r} must be wNaM with N in 2..8 and M in 8, 16")
    return int(m.group(1)), int(m.group(2))


def bits_per_weight(wbits: int, abits: int, k: int, group: int) -> float:
    """Stored bits per weight, f32 scales included (weight-only: one per group; a8: one per output channel)."""
    g = (group or k) if abits == 16 else k
    return wbits + 32 * math.ceil(k / g) / k


def solve(errors: np.ndarray, costs: np.ndarray, capacity: float) -> np.ndarray:
    """argmin Σ errors[i, c_i] subject to Σ costs[i, c_i] <= capacity (exact over integer costs; real costs
    are first scaled to integers by their gcd, or rounded up to a grid of MAX_UNITS). Returns c per row."""
    n, m = errors.shape
    unit = reduce(math.gcd, [round(c) for c in costs.ravel()]) or 1
    if not np.allclose(costs / unit, np.round(costs / unit)) or capacity / unit > MAX_UNITS:
        unit = capacity / MAX_UNITS
    icost = np.ceil(costs / unit - 1e-9).astype(np.int64)
    cap = math.floor(capacity / unit + 1e-9)
    best = np.full(cap + 1, np.inf)
    best[0] = 0.0
    choice = np.zeros((n, cap + 1), np.int8)
    for i in range(n):
        nxt = np.full(cap + 1, np.inf)
        for c in range(m):
            w = icost[i, c]
            if w > cap:
                continue
            cand = np.full(cap + 1, np.inf)
            cand[w:] = best[: cap + 1 - w] + errors[i, c]
            better = cand < nxt
            nxt[better], choice[i, better] = cand[better], c
        best = nxt
    end = int(np.argmin(best))
    if not np.isfinite(best[end]):
        raise QcompError("qc-assign-precision: the budget is below the cheapest candidate for every layer")
    picks = np.zeros(n, np.int64)
    for i in range(n - 1, -1, -1):
        picks[i] = choice[i, end]
        end -= icost[i, picks[i]]
    return picks


@dataclass(frozen=True)
class AssignPrecisionPass:
    """Per-layer precision under a bit or byte budget, by calibrated sensitivity (see module docstring)."""

    name: ClassVar[str] = "qc-assign-precision"
    candidates: str = "w4a16:w8a16"
    budget: float = 5.0
    budget_kind: str = "avg_wbits"
    group: int = 128
    method: str = "dp"

    def __post_init__(self):
        [parse_candidate(c) for c in self.candidates.split(":")]
        if self.budget_kind not in ("avg_wbits", "bytes"):
            raise QcompError(f"qc-assign-precision: budget_kind must be avg_wbits or bytes, got {self.budget_kind!r}")
        if not self.budget > 0:
            raise QcompError(f"qc-assign-precision: budget must be > 0, got {self.budget}")
        if self.group < 0:
            raise QcompError(f"qc-assign-precision: group must be >= 0, got {self.group}")
        if self.method not in ("dp", "first_last"):
            raise QcompError(f"qc-assign-precision: method must be dp or first_last, got {self.method!r}")

    def run(self, module: ir.Module) -> None:
        cands = [parse_candidate(c) for c in self.candidates.split(":")]
        with module.context, ir.Location.unknown():
            layers, samples = [], []
            for op in ops_named(module, "qc.linear"):
                st = act_stats.read(op) if linear_weight(op) is not None else None
                if st is not None and st.sample is not None:
                    layers.append(op)
                    samples.append(st.sample)
            if not layers:
                return
            errors = np.array(
                [[self._error(op, x, wb, ab) for wb, ab in cands] for op, x in zip(layers, samples, strict=True)]
            )
            sizes = np.array([linear_weight(op).size for op in layers], np.float64)
            k = [linear_weight(op).shape[1] for op in layers]
            bits = np.array([[bits_per_weight(wb, ab, ki, self.group) for wb, ab in cands] for ki in k])
            costs = bits * sizes[:, None]  # bits
            capacity = self.budget * sizes.sum() if self.budget_kind == "avg_wbits" else self.budget * 8
            cheapest = costs.min(axis=1).sum()
            if cheapest > capacity * (1 + 1e-12):
                least = cheapest / sizes.sum() if self.budget_kind == "avg_wbits" else math.ceil(cheapest / 8)
                raise QcompError(
                    f"qc-assign-precision: budget {self.budget:g} {self.budget_kind} is below the cheapest "
                    f"assignment ({least:.4g} {self.budget_kind}, scales included)"
                )
            if self.method == "first_last":  # the common heuristic, a baseline: widest first and last layer
                picks = np.zeros(len(layers), np.int64)
                picks[[0, -1]] = int(np.argmax([wb for wb, _ in cands]))
                if costs[np.arange(len(layers)), picks].sum() > capacity * (1 + 1e-12):
                    raise QcompError("qc-assign-precision{method=first_last}: the budget is too small for it")
            else:
                picks = solve(errors, costs, capacity)
            for op, c in zip(layers, picks, strict=True):
                wb, ab = cands[c]
                op.attributes[WBITS] = i64_attr(wb)
                op.attributes[ABITS] = i64_attr(ab)
            used = float(costs[np.arange(len(layers)), picks].sum())
            module.operation.attributes[PLAN] = ir.DictAttr.get(
                {
                    "avg_wbits": ir.FloatAttr.get(ir.F64Type.get(), used / sizes.sum()),
                    "bytes": i64_attr(math.ceil(used / 8)),
                    "budget": ir.FloatAttr.get(ir.F64Type.get(), self.budget),
                    "budget_kind": ir.StringAttr.get(self.budget_kind),
                    "error": ir.FloatAttr.get(ir.F64Type.get(), float(errors[np.arange(len(layers)), picks].sum())),
                }
            )

    def _error(self, op, x: np.ndarray, wbits: int, abits: int) -> float:
        w = linear_weight(op)
        rows = error_rows(w)
        wq = fake_quant_grouped(rows, wbits, self.group if abits == 16 else 0)
        xq = x if abits == 16 else fake_quant_rows(x, abits)
        d = xq @ wq.T - x @ rows.T
        return float(np.einsum("ij,ij->", d, d, dtype=np.float64)) * (w.shape[0] / rows.shape[0])
