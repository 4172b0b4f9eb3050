"""qc-gptq: GPTQ — weight rounding with second-order error feedback (Frantar et al., ICLR 2023).

For every float `qc.linear` with a constant weight W [N, K] and calibrated input statistics, following
IST-DASLab/gptq `fasterquant`: with the input Hessian H = 2·XᵀX / rows (`qc.act_hessian`, streamed over all
calibration rows by `calibrate(..., hessian=True)`; else from the `qc.act_sample` rows), dead inputs
(H_jj = 0) get H_jj = 1 and a zero weight column, H += damp · mean(diag H) · I, and U = chol(H⁻¹)ᵀ (upper).
Columns are then rounded one by one, in blocks of `block`: q_j = Q(w_j), and the rounding error
(w_j − q_j) / U_jj is fed back into the not yet rounded columns through row j of U (lazily, per block).

Q is the symmetric `wbits` quantizer of the reference semantics in groups of `group` input channels (0: one
group per output channel) that `qc-quantize{abits=16}` (or `{abits=8,group}`: qc.qlinear_grouped, W4A8 g128)
applies, so the result stays on its integer grid: the float weight is replaced by f32(q) · scale and the group
ranges are recorded as `qc.weight_clip` [N, groups] (scale = clip / qmax), which qc-quantize reads back to the
same integers. A group's range is max|w| over the
group's columns when the rounding reaches it (with feedback applied), or, with static_groups, over the
original weights before any rounding; a `qc.weight_clip` already on the layer (qc-awq's clip search) is kept
as a static range. act_order rounds columns by decreasing H_jj (the reference's `--act-order`); the groups
stay contiguous in the original column order (qc.wlinear has no g_idx), so act_order with groups needs
static_groups=true (llm-compressor's "static" actorder).

A layer's own width and group (`qc.wbits`, `qc.wgroup`; one group per output channel for a layer with int8
activations, `qc.abits = 8`) override the options, as in qc-awq; `qc.precision = "fp32"` layers and layers
without calibration statistics are left alone. Not sequential: every layer's Hessian comes from the
float model's activations (the statistics calibration attaches), not from already quantized layers.

sym=false: asymmetric weights (unsigned codes and a zero point per group, `reference_asym`, the GPTQ
reference's default `sym=False` quantizer): a group's range is its (min, max) (within ±`qc.weight_clip` where
qc-awq set one), recorded as `qc.weight_range` [N, groups, 2] for qc-quantize{sym=false}; layers with int8
activations stay symmetric (qc.qlinear).

search=mse: each group's range is the MSE-optimal one of `reference_asym.mse_ranges` (the GPTQ reference's
`find_params(mse=True)`, llm-compressor's MSE observer) over the group's weights when its range is taken
(from the original weights with static_groups, else with the feedback applied), instead of (min, max) / max|w|.

Options: wbits (2..8, default 4), group (>= 0, default 128), sym (default true), act_order (default false),
block (>= 1, default 128), damp (> 0, default 0.01), static_groups (default false), search ("none" | "mse",
default none), sequential (default false: `qcomp.compile` calibrates each layer's Hessian on the float model;
true: on a copy whose earlier blocks are already GPTQ-quantized with these options, `qcomp.sequential`; the
pass reads whichever Hessians the calibration table holds), true_sequential (default false; with sequential:
within a block too, each group of linears sharing an input is calibrated after the block's earlier groups are
quantized, GPTQ's --true-sequential).
Precondition: qc ops on builtin tensors, calibrated (`qcomp.calibrate.attach`).
"""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from qcomp.dialects import reference as ref
from qcomp.dialects import reference_asym as ra
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import ops_named

from . import act_stats
from .channel_fold import ABITS, WBITS, WEIGHT_CLIP, WEIGHT_RANGE, WGROUP, linear_weight, set_constant

F32 = np.float32
DAMP_RETRIES = 4  # a Hessian that is not positive definite after damping is retried with damp · 10, · 100 …


def hessian_of(rows: np.ndarray) -> np.ndarray:
    """H = 2·XᵀX / rows of activation rows X [rows, K] (f64)."""
    x = np.asarray(rows, np.float64).reshape(-1, rows.shape[-1])
    return 2 * (x.T @ x) / max(len(x), 1)


def _upper_inverse_cholesky(h: np.ndarray, damp: float) -> np.ndarray:
    """U upper triangular with UᵀU = (H + λI)⁻¹, λ = damp · mean(diag H) (raised while H is not PD)."""
    mean = float(np.mean(np.diag(h))) or 1.0
    for i in range(DAMP_RETRIES):
        hd = h + (damp * 10**i) * mean * np.eye(len(h))
        try:
            lo = np.linalg.cholesky(hd)
            inv = np.linalg.inv(lo)
            hinv = inv.T @ inv
            return np.linalg.cholesky(hinv).T
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("the Hessian is not positive definite")


def group_ranges(w: np.ndarray, group: int) -> np.ndarray:
    """max|w| per output channel and group of `group` columns: [N, ceil(K/group)] f32."""
    n, k = w.shape
    g = ref.n_groups(k, group)
    padded = np.zeros((n, g * group), F32)
    padded[:, :k] = np.abs(w)
    return padded.reshape(n, g, group).max(axis=-1)


def gptq_quantize(
    w: np.ndarray,
    h: np.ndarray,
    *,
    bits: int,
    group: int,
    block: int = 128,
    damp: float = 0.01,
    act_order: bool = False,
    static_groups: bool = False,
    clip: np.ndarray | None = None,
    sym: bool = True,
    search: str = "none",
) -> tuple[np.ndarray, np.ndarray]:
    """GPTQ of W [N, K] with input Hessian H [K, K] (see module docstring): (q [N, K], range).
    sym: q int8, range max|w| [N, groups]; the quantized weight is `ref.dequantize_weight` of q with scale =
    `ref.symmetric_scale(range, bits)`. sym=false: q unsigned codes (int16), range (lo, hi) [N, groups, 2]; the
    quantized weight is (q - z) · scale with (scale, z) = `reference_asym.asymmetric_params(lo, hi, bits)`.
    group 0 is one group per output channel. `clip` ([N, groups], or [N, groups, 2] with sym=false): fixed
    ranges (implies static groups). search='mse': MSE-searched group ranges (module docstring)."""
    w = np.array(w, F32)
    n, k = w.shape
    g = group or k
    if act_order and g < k and not static_groups and clip is None:
        raise QcompError("qc-gptq: act_order with groups needs static_groups=true (groups stay contiguous)")
    h = np.array(h, np.float64)
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    ranges = np.zeros((n, ref.n_groups(k, g)) if sym else (n, ref.n_groups(k, g), 2), F32)
    fixed = clip is not None or static_groups or g == k
    if clip is not None:
        ranges[:] = np.asarray(clip, F32).reshape(ranges.shape)
    elif fixed:
        ranges[:] = _ranges(w, g, sym, bits, search)
    perm = np.argsort(-np.diag(h), kind="stable") if act_order else np.arange(k)
    w, h = w[:, perm], h[perm][:, perm]
    u = _upper_inverse_cholesky(h, damp).astype(F32)
    lo_q, hi_q = (-ref.qmax(bits), ref.qmax(bits)) if sym else (0, ra.umax(bits))
    q = np.zeros((n, k), np.int16)
    scale, zero = _params(ranges, bits, sym)  # refreshed per group when ranges are not fixed
    for i1 in range(0, k, block):
        i2 = min(i1 + block, k)
        w1, err = w[:, i1:i2].copy(), np.zeros((n, i2 - i1), F32)
        for i in range(i2 - i1):
            j = perm[i1 + i]  # the original column
            gi = j // g
            if not fixed and j % g == 0:  # a new group: its range from the weights as they are now
                cols = np.concatenate([w1[:, i : i + g], w[:, i2 : i1 + i + g]], axis=1)
                ranges[:, gi] = _ranges(cols, cols.shape[1], sym, bits, search)[:, 0]
                scale[:, gi], zero[:, gi] = (a[:, 0] for a in _params(ranges[:, gi : gi + 1], bits, sym))
            col = w1[:, i]
            qi = np.clip(np.rint(col * (F32(1) / scale[:, gi])) + zero[:, gi], lo_q, hi_q)
            q[:, i1 + i] = qi
            deq = (qi - zero[:, gi]) * scale[:, gi]
            e = (col - deq) / u[i1 + i, i1 + i]
            w1[:, i:] -= np.outer(e, u[i1 + i, i1 + i : i2])
            err[:, i] = e
        w[:, i2:] -= err @ u[i1:i2, i2:]
    out = np.empty_like(q)
    out[:, perm] = q
    return out, ranges


def dequantized(q: np.ndarray, ranges: np.ndarray, bits: int, group: int, sym: bool) -> np.ndarray:
    """The f32 weight of `gptq_quantize`'s (q, ranges): (q - z) · scale per group (exact q - z, one product)."""
    scale, zero = _params(ranges, bits, sym)
    k = q.shape[1]
    return ((q - ra.expand_groups(zero, group, k)) * ra.expand_groups(scale, group, k)).astype(F32)


def _ranges(w: np.ndarray, group: int, sym: bool, bits: int, search: str = "none") -> np.ndarray:
    """Group ranges of w: max|w| [N, G] (sym) or (min, max) [N, G, 2]; search='mse': the MSE-optimal ones."""
    if search == "mse":
        lo, hi = ra.mse_ranges(w, bits=bits, group=group, sym=sym)
        return hi if sym else np.stack([lo, hi], axis=-1)
    return group_ranges(w, group) if sym else np.stack(ra.group_min_max(w, group), axis=-1)


def _params(ranges: np.ndarray, bits: int, sym: bool) -> tuple[np.ndarray, np.ndarray]:
    """(scale, zero point) [N, G] f32 of group ranges (symmetric: zero points 0)."""
    if sym:
        return ref.symmetric_scale(ranges, bits), np.zeros(ranges.shape, F32)
    s, z = ra.asymmetric_params(ranges[..., 0], ranges[..., 1], bits)
    return s, z.astype(F32)


@dataclass(frozen=True)
class GptqPass:
    """GPTQ rounding of calibrated linear layers onto qc-quantize's weight grid (see module docstring)."""

    name: ClassVar[str] = "qc-gptq"
    wbits: int = 4
    group: int = 128
    sym: bool = True
    act_order: bool = False
    block: int = 128
    damp: float = 0.01
    static_groups: bool = False
    search: str = "none"
    sequential: bool = False
    true_sequential: bool = False

    def __post_init__(self):
        if self.true_sequential and not self.sequential:
            raise QcompError("qc-gptq: true_sequential=true needs sequential=true")
        if not 2 <= self.wbits <= 8:
            raise QcompError(f"qc-gptq: wbits must be in [2, 8], got {self.wbits}")
        if self.group < 0:
            raise QcompError(f"qc-gptq: group must be >= 0, got {self.group}")
        if self.block < 1:
            raise QcompError(f"qc-gptq: block must be >= 1, got {self.block}")
        if not 0 < self.damp < 1e3:
            raise QcompError(f"qc-gptq: damp must be > 0, got {self.damp}")
        if self.search not in ("none", "mse"):
            raise QcompError(f"qc-gptq: search must be none or mse, got {self.search!r}")
        if self.act_order and self.group and not self.static_groups:
            raise QcompError(
                "qc-gptq: act_order with groups needs static_groups=true (qc.wlinear's groups are contiguous)"
            )

    def run(self, module: ir.Module) -> None:
        with module.context, ir.Location.unknown():
            for op in ops_named(module, "qc.linear"):
                w = linear_weight(op)
                stats = act_stats.read(op) if w is not None else None
                if w is None or stats is None:
                    continue
                h = stats.hessian
                if h is None:
                    if stats.sample is None:
                        raise QcompError(
                            f"{op.location}: qc-gptq needs the layer's input Hessian ('{act_stats.HESSIAN}') or "
                            f"activation samples ('{act_stats.SAMPLE}'): calibrate from input samples"
                        )
                    h = hessian_of(stats.sample)
                self._quantize(op, w, h)

    def _quantize(self, op, w: np.ndarray, h: np.ndarray) -> None:
        bits, group = _bits(op, self.wbits), _group(op, self.group)
        g = group or w.shape[1]
        sym = self.sym or _int8_activations(op)  # qc.qlinear's weights are symmetric
        clip = None
        if WEIGHT_CLIP in op.attributes:  # qc-awq's ranges: kept as static groups
            clip = np.array(op.attributes[WEIGHT_CLIP], dtype=F32)
            if clip.size != w.shape[0] * ref.n_groups(w.shape[1], g):
                raise QcompError(
                    f"{op.location}: qc-gptq: '{WEIGHT_CLIP}' has {clip.size} values, not one per output channel "
                    f"and group of {g}: was qc-awq run with another group size?"
                )
            if not sym:  # asymmetric: each group's (min, max) within ±clip
                lo, hi = ra.group_min_max(w, g)
                clip = clip.reshape(lo.shape)
                clip = np.stack([np.maximum(lo, -clip), np.minimum(hi, clip)], axis=-1)
        try:
            q, ranges = gptq_quantize(
                w,
                h,
                bits=bits,
                group=g,
                block=self.block,
                damp=self.damp,
                act_order=self.act_order,
                static_groups=self.static_groups,
                clip=clip,
                sym=sym,
                search=self.search,
            )
        except np.linalg.LinAlgError as e:
            raise QcompError(f"{op.location}: qc-gptq: {e} (raise damp)") from None
        set_constant(op, 1, dequantized(q, ranges, bits, g, sym))
        op.attributes[WEIGHT_CLIP if sym else WEIGHT_RANGE] = ir.DenseElementsAttr.get(
            np.ascontiguousarray(ranges), type=ir.RankedTensorType.get(list(ranges.shape), ir.F32Type.get())
        )


def _bits(op, default: int) -> int:
    a = op.attributes[WBITS] if WBITS in op.attributes else None
    return a.value if isinstance(a, ir.IntegerAttr) and 2 <= a.value <= 8 else default


def _int8_activations(op) -> bool:
    a = op.attributes[ABITS] if ABITS in op.attributes else None
    return isinstance(a, ir.IntegerAttr) and a.value == 8


def _group(op, default: int) -> int:
    a = op.attributes[ABITS] if ABITS in op.attributes else None
    if isinstance(a, ir.IntegerAttr) and a.value == 8:
        return 0
    a = op.attributes[WGROUP] if WGROUP in op.attributes else None
    return a.value if isinstance(a, ir.IntegerAttr) and a.value >= 0 else default
