"""qc-assign-precision: choose a precision per linear layer under a budget, exactly.

Sensitivity. For every calibrated float `qc.linear` and every candidate wXaY[gG], the layer's local
error is the squared error its output would get on the calibration row sample,

    e_local(layer, c) = || x Wᵀ − Q_a(x) Q_w(W)ᵀ ||²   (summed over the sample rows)

— the second-order (Hessian) measure tr(ΔW H ΔWᵀ) with H = XᵀX when activations stay float (HAWQ-style,
as GPTQ/OBQ use it), including activation rounding when a candidate quantizes them. Q_w is the
quantizer qc-quantize applies (groups of G input channels for weight-only candidates, one scale per
output channel for a8); Q_a is per-token int8. `sensitivity=hessian` uses e_local alone. It cannot
compare layers with each other well (an lm_head's error is in logits, a q_proj's in a hidden space), so
`sensitivity=output_mse` (default) uses the model-output error: e(layer, c) = g · e_local(layer, c),
with g = `qc.output_gain`, the mean squared error of the model's output when this layer *alone* is
quantized (measured by `qcomp.sensitivity` on the fp32 PyTorch model at a reference candidate) per unit
of the layer's local error at that candidate. `sensitivity=output_kl` uses g = `qc.output_gain_kl`, the
same with the KL divergence of the output softmax (language models: what perplexity measures).

Budget. budget_kind=avg_wbits bounds the weight bits averaged over the assigned layers, scales included
(f32 scales: 32/G bits per weight for a group of G, 32/K for one per output channel); budget_kind=bytes
bounds their total weight bytes (the same count); budget_kind=latency bounds the estimated latency of one
model call in milliseconds, from the target's cost model (`Target.cost(op, precision).latency_s` per
layer and candidate, `Target.estimate_latency` for the rest of the model, which does not change);
budget_kind=arrays bounds the crossbar arrays the layers occupy and budget_kind=energy their estimated energy
of one model call in µJ, both priced by the target (`Target.cost(op, precision).arrays` / `.energy_j`: the
CIM target, where b-bit weights take b / cell_bits columns each; e.g. candidates w4a8:w6a8:w8a8).
The choice minimising Σ e under the budget is found by
an exact multiple-choice knapsack (`passes.knapsack`); the budget is never exceeded, and an infeasible
one is an error. The result is written on each layer as `qc.wbits` / `qc.abits` / `qc.wgroup`, which
qc-quantize and qc-awq obey; the module gets `qc.precision_plan`: the totals, each layer's choice and the
Pareto frontier (least predicted error at each average bit width, from the same DP table).

Float formats join the same search: a candidate `<format>-wNaM` (`float_candidates.py`: fp8-w8a8,
nvfp4-w4a16, mxfp4-w4a16, mxfp4/fp8-w4a8, ...) is priced by its stored bits (1-byte MX/NVFP4 scales) and
its local error through the format's round trip; a layer that gets one is marked `qc.precision = <its name>`
(no qc.wbits), which qc-quantize-float then applies (run it before qc-quantize, which takes the integer
layers: `qc-assign-precision{candidates=w4a16g32:nvfp4-w4a16:fp8-w8a8},qc-quantize-float,qc-quantize{...}`).
Output gains are measured at an integer candidate (`reference_candidate`), so sensitivity=output_mse /
output_kl needs one among the candidates.

Options: candidates (colon-separated wNaM[gG], N in 2..8, M in 8 | 16; G only for M=16, default the `group` option;
or <format>-wNaM as above; e.g. w4a16g256:w4a16:w8a16:nvfp4-w4a16), budget (> 0), budget_kind (avg_wbits | bytes |
latency | arrays | energy), group (>= 0, default 128), sensitivity (output_mse | output_kl | hessian), target (the
target whose cost model prices latency, arrays or energy, e.g. cim:isaac; default: the context's target, the Target
object qcomp.compile builds for, with its options; when the option names that target without a preset, e.g.
target=cim while building for cim:isaac, the context's object prices too; without a context, as in qcomp-opt: the
target named by the module's `qc.target`, with default options), method (dp | first_last: the common heuristic, a
baseline: the last layer, then the first, second, ... at the widest candidate while the budget allows, the rest at
the first candidate; with room for exactly two, "first and last layer at 8 bits").
Needs `qc.act_sample` (calibrate from samples) and, for output_mse / output_kl, `qc.output_gain[_kl]`.
"""

import math
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from qcomp.dialects._mlir import ir
from qcomp.dialects.attrs import OUTPUT_GAIN, OUTPUT_GAIN_KL, PRECISION, PRECISION_PLAN
from qcomp.dialects.attrs import TARGET as TARGET_ATTR
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import i64_attr, ops_named
from qcomp.dialects.quant_math import Candidate as Candidate  # re-exported: moved to the floor (issue 18)
from qcomp.dialects.quant_math import local_error as local_error
from qcomp.dialects.quant_math import parse_candidate as parse_candidate

from . import act_stats
from .channel_fold import ABITS, WBITS, WGROUP, linear_weight
from .context import PassContext
from .float_candidates import FloatCandidate, float_local_error, parse_float_candidate
from .knapsack import solve

PLAN = PRECISION_PLAN.name
TARGET = TARGET_ATTR.name  # module attribute: the target qcomp.compile builds for (its cost model prices latency)
UNITS = {"avg_wbits": "avg_wbits", "bytes": "bytes", "latency": "ms", "arrays": "arrays", "energy": "uJ"}
SCALES = {
    "avg_wbits": ", scales included",
    "bytes": ", scales included",
    "latency": " estimated",
    "arrays": " on the target",
    "energy": " estimated",
}
# Cost field, the scale the solver sees it at (pJ: joules would all round to integer 0), that per budget unit (µJ)
PRICED = {"arrays": ("arrays", 1.0, 1.0), "energy": ("energy_j", 1e12, 1e6)}
GAINS = {"output_mse": OUTPUT_GAIN.name, "output_kl": OUTPUT_GAIN_KL.name}
SENSITIVITIES = ("output_mse", "output_kl", "hessian")


def _local_error(w: np.ndarray, x: np.ndarray, cand: "Candidate | FloatCandidate") -> float:
    return float_local_error(w, x, cand) if isinstance(cand, FloatCandidate) else local_error(w, x, cand)


def _f64(v: float) -> ir.FloatAttr:
    return ir.FloatAttr.get(ir.F64Type.get(), float(v))


@dataclass(frozen=True)
class AssignPrecisionPass:
    """Per-layer precision under a bit or byte budget, by calibrated sensitivity (see module docstring)."""

    name: ClassVar[str] = "qc-assign-precision"
    candidates: str = "w4a16:w8a16"
    budget: float = 5.0
    budget_kind: str = "avg_wbits"
    group: int = 128
    sensitivity: str = "output_mse"
    method: str = "dp"
    target: str = ""

    def __post_init__(self):
        if self.group < 0:
            raise QcompError(f"qc-assign-precision: group must be >= 0, got {self.group}")
        self.cands()
        if self.budget_kind not in UNITS:
            raise QcompError(
                f"qc-assign-precision: budget_kind must be one of {', '.join(UNITS)}, got {self.budget_kind!r}"
            )
        if not self.budget > 0:
            raise QcompError(f"qc-assign-precision: budget must be > 0, got {self.budget}")
        if self.sensitivity not in SENSITIVITIES:
            raise QcompError(
                f"qc-assign-precision: sensitivity must be {' or '.join(SENSITIVITIES)}, got {self.sensitivity!r}"
            )
        if self.method not in ("dp", "first_last"):
            raise QcompError(f"qc-assign-precision: method must be dp or first_last, got {self.method!r}")
        if self.sensitivity in GAINS and self.reference_candidate() is None:
            raise QcompError(
                f"qc-assign-precision: sensitivity={self.sensitivity} measures output gains at an integer "
                f"candidate; {self.candidates!r} has none (add one, e.g. w4a16g128, or use sensitivity=hessian)"
            )

    def cands(self) -> list[Candidate | FloatCandidate]:
        """The candidates in order: integer ones (`quant_math.Candidate`) and number formats (`FloatCandidate`)."""
        return [parse_float_candidate(c) or parse_candidate(c, self.group) for c in self.candidates.split(":")]

    def reference_candidate(self) -> str | None:
        """The precision at which output gains are measured: the first integer candidate with the fewest weight
        bits (None without an integer candidate)."""
        ints = [c for c in self.cands() if isinstance(c, Candidate)]
        return min(ints, key=lambda c: c.wbits).name if ints else None

    def run(self, module: ir.Module, ctx: PassContext | None = None) -> None:
        ctx = ctx or PassContext()
        cands = self.cands()
        with module.context, ir.Location.unknown():
            layers: list = []
            samples: list[np.ndarray] = []
            weights: list[np.ndarray] = []  # each weight decoded once (an lm_head is 28M floats)
            for op in ops_named(module, "qc.linear"):
                w = linear_weight(op)
                st = act_stats.read(op) if w is not None else None
                if w is not None and st is not None and st.sample is not None:
                    layers.append(op)
                    samples.append(st.sample)
                    weights.append(w)
            if not layers:
                return
            start = time.perf_counter()
            errors = np.array([[_local_error(w, x, c) for c in cands] for w, x in zip(weights, samples, strict=True)])
            if self.sensitivity in GAINS:
                errors *= np.array([self._gain(op, GAINS[self.sensitivity]) for op in layers])[:, None]
            sens_s = time.perf_counter() - start
            sizes = np.array([w.size for w in weights], np.float64)
            k = [w.shape[1] for w in weights]
            bits = np.array([[c.bits_per_weight(ki) for c in cands] for ki in k]) * sizes[:, None]
            fixed = 0.0
            if self.budget_kind == "latency":  # seconds per layer and candidate, the rest of the model fixed
                costs, fixed = self._latencies(module, layers, cands, ctx)
                unit = 1e-3  # seconds per budget unit (ms)
            elif self.budget_kind in PRICED:
                field, scale, unit = PRICED[self.budget_kind]
                costs = self._priced(module, layers, cands, field, ctx) * scale
            else:
                costs = bits
                unit = sizes.sum() if self.budget_kind == "avg_wbits" else 8.0  # bits per budget unit
            capacity = self.budget * unit - fixed
            start = time.perf_counter()
            sol = solve(errors, costs, max(capacity, 0.0), span=costs.max(axis=1).sum())
            if sol is None or capacity < 0:
                least = (costs.min(axis=1).sum() + fixed) / unit
                raise QcompError(
                    f"qc-assign-precision: budget {self.budget:g} {UNITS[self.budget_kind]} is below the cheapest "
                    f"assignment ({least:.4g} {UNITS[self.budget_kind]}{SCALES[self.budget_kind]})"
                )
            picks = sol.picks
            if self.method == "first_last":
                picks = self._first_last(cands, costs, capacity)
            solver_s = time.perf_counter() - start
            rows = []
            for op, c, e, n in zip(layers, picks, errors, sizes, strict=True):
                cand = cands[c]
                if isinstance(cand, FloatCandidate):  # qc-quantize-float applies it
                    PRECISION.set(op, cand.name)
                else:
                    op.attributes[WBITS] = i64_attr(cand.wbits)
                    op.attributes[ABITS] = i64_attr(cand.abits)
                    op.attributes[WGROUP] = i64_attr(cand.group)
                rows.append(
                    ir.DictAttr.get(
                        {
                            "location": ir.StringAttr.get(str(op.location)),
                            "precision": ir.StringAttr.get(cand.name),
                            "params": i64_attr(int(n)),
                            "error": _f64(e[c]),
                        }
                    )
                )
            idx = np.arange(len(layers))
            used = float(bits[idx, picks].sum())
            frontier = [ir.ArrayAttr.get([_f64((cost + fixed) / unit), _f64(err)]) for cost, err in sol.frontier]
            extra = {}
            if self.budget_kind == "latency":
                extra["latency_ms"] = _f64((float(costs[idx, picks].sum()) + fixed) * 1e3)
            elif self.budget_kind in PRICED:
                extra[{"arrays": "arrays", "energy": "energy_uj"}[self.budget_kind]] = _f64(
                    float(costs[idx, picks].sum()) / unit
                )
            module.operation.attributes[PLAN] = ir.DictAttr.get(
                {
                    **extra,
                    "avg_wbits": _f64(used / sizes.sum()),
                    "bytes": i64_attr(math.ceil(used / 8)),
                    "budget": _f64(self.budget),
                    "budget_kind": ir.StringAttr.get(self.budget_kind),
                    "method": ir.StringAttr.get(self.method),
                    "sensitivity": ir.StringAttr.get(self.sensitivity),
                    "error": _f64(errors[idx, picks].sum()),
                    "sensitivity_s": _f64(sens_s),
                    "solver_s": _f64(solver_s),
                    "layers": ir.ArrayAttr.get(rows),
                    "frontier": ir.ArrayAttr.get(frontier),
                }
            )

    def _first_last(self, cands: "list[Candidate | FloatCandidate]", costs: np.ndarray, capacity: float) -> np.ndarray:
        """The common heuristic, a baseline: every layer at the first candidate, then the last layer and the
        first, second, ... layers raised to the widest candidate while the budget allows."""
        picks = np.zeros(len(costs), np.int64)
        wide = int(np.argmax([c.wbits for c in cands]))
        for i in [len(costs) - 1, *range(len(costs) - 1)]:
            trial = picks.copy()
            trial[i] = wide
            if costs[np.arange(len(costs)), trial].sum() > capacity * (1 + 1e-12):
                break
            picks = trial
        return picks

    def _latencies(
        self, module: ir.Module, layers: list, cands: "list[Candidate | FloatCandidate]", ctx: PassContext
    ) -> tuple[np.ndarray, float]:
        """Estimated seconds of each layer at each candidate, and of the rest of one model call, from the
        target's cost model (`_target`)."""
        name, tgt = self._target(module, ctx)
        costs = np.array([[tgt.cost(op, c.name).latency_s or 0.0 for c in cands] for op in layers])
        total = tgt.estimate_latency(module, precision_of=lambda op: "fp32")
        if total is None or not np.all(costs > 0):
            raise QcompError(f"qc-assign-precision{{budget_kind=latency}}: target {name} has no latency model")
        fixed = total - sum(tgt.cost(op, "fp32").latency_s for op in layers)
        return costs, fixed

    def _priced(
        self, module: ir.Module, layers: list, cands: "list[Candidate | FloatCandidate]", field: str, ctx: PassContext
    ) -> np.ndarray:
        """The target's `field` (arrays, energy_j) of each layer at each candidate."""
        name, tgt = self._target(module, ctx)
        costs = np.array([[getattr(tgt.cost(op, c.name), field, None) for c in cands] for op in layers], object)
        if any(v is None for v in costs.ravel()) or not np.all(costs.astype(np.float64) > 0):
            raise QcompError(
                f"qc-assign-precision{{budget_kind={self.budget_kind}}}: target {name} does not price '{field}' of "
                f"every layer at {self.candidates} (a CIM target does, at wNa8)"
            )
        return costs.astype(np.float64)

    def _target(self, module: ir.Module, ctx: PassContext):
        """(name, Target) whose cost model prices the budget: the context's target, unless the `target` option
        names another target or a preset; without a context target, the option, else the module's qc.target."""
        if ctx.target is not None and self.target in ("", ctx.target.name):
            return ctx.target.name, ctx.target
        name = self.target or TARGET_ATTR.get_module(module, "")
        if not name:
            raise QcompError(
                f"qc-assign-precision{{budget_kind={self.budget_kind}}}: no target to price {self.budget_kind}: set "
                "the target option (e.g. target=cpu) or compile with qcomp.compile, which marks the module with "
                "qc.target"
            )
        return name, ctx.get_target(name)

    def _gain(self, op, name: str) -> float:
        a = op.attributes[name] if name in op.attributes else None
        if a is None:
            raise QcompError(
                f"{op.location}: qc-assign-precision{{sensitivity={self.sensitivity}}}: the layer has no '{name}' "
                "(calibrate with sensitivity, e.g. qcomp.calibrate(..., sensitivity='w4a16g128'), or use "
                "sensitivity=hessian)"
            )
        v = a.value if isinstance(a, ir.FloatAttr) else None
        if v is None or not math.isfinite(v) or v < 0:
            raise QcompError(f"{op.location}: qc-assign-precision: '{name}' must be a finite float >= 0, got {a}")
        return v
