"""Calibrated activation statistics carried on the IR, and how transformations keep them true.

`qcomp.calibrate.attach` puts on every `qc.linear` / `qc.conv2d` the statistics of its activation input x:

    qc.act_absmax  dense<[C] f32>       max |x| per input channel (exact, over all calibration data)
    qc.act_mean    dense<[C] f32>       mean |x| per input channel (AWQ's saliency)
    qc.act_sample  dense<[R, C] f32>    R activation rows (what auto-alpha and AWQ measure errors on)
    qc.act_scale   f32                  the static per-tensor scale qc-quantize{static=true} uses
    qc.act_hessian dense<[C, C] f32>    2·XᵀX / rows over all calibration rows (qc-gptq; only when asked for)

and on the module `qc.calibration = {method, percentile}`. A pass that changes what a layer receives
(x / s, x[..., perm], x[..., idx], x · Q) rewrites the statistics with the same transformation (`write`),
which also recomputes `qc.act_scale` by the module's calibration method (`quant_math.clip_of`), so
static quantization after smoothing or splitting uses the scales of the activations it will really see.
Statistics are kept in the IR so each pass stays a function IR -> IR that lit tests can drive by hand.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from qcomp.dialects import reference as ref
from qcomp.dialects._mlir import ir
from qcomp.dialects.attrs import ACT_ABSMAX, ACT_HESSIAN, ACT_MEAN, ACT_SAMPLE, ACT_SCALE, CALIBRATION
from qcomp.dialects.errors import QcompError
from qcomp.dialects.quant_math import METHODS, clip_of

# the attribute names, as the passes spell them (declared in dialects/attrs.py)
ABSMAX, MEAN, SAMPLE, SCALE = ACT_ABSMAX.name, ACT_MEAN.name, ACT_SAMPLE.name, ACT_SCALE.name
HESSIAN = ACT_HESSIAN.name
METHOD = CALIBRATION.name


@dataclass(frozen=True)
class ActStats:
    absmax: np.ndarray
    mean: np.ndarray | None = None
    sample: np.ndarray | None = None
    hessian: np.ndarray | None = None  # [C, C]; every fn below is linear in the rows: H -> fn(fn(H)ᵀ)ᵀ

    def map(
        self, fn: Callable[[np.ndarray], np.ndarray], bound: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> "ActStats":
        """The statistics of fn(x) for a per-channel-separable fn (scaling, permutation, selection). For a
        mixing fn (a rotation) pass `bound`, an upper bound of the new absmax from the old one: absmax and
        mean are then re-measured on the sample (or set to the bound when there is none)."""
        h = None if self.hessian is None else np.asarray(fn(np.asarray(fn(self.hessian)).T).T, np.float32)
        if bound is not None:
            if self.sample is None:
                return ActStats(np.asarray(bound(self.absmax), np.float32), hessian=h)
            s = np.asarray(fn(self.sample), np.float32)
            return ActStats(np.abs(s).max(axis=0), np.abs(s).mean(axis=0), s, h)
        return ActStats(
            np.abs(fn(self.absmax)).astype(np.float32),
            None if self.mean is None else np.abs(fn(self.mean)).astype(np.float32),
            None if self.sample is None else np.asarray(fn(self.sample), np.float32),
            h,
        )


def _array(op, name: str) -> np.ndarray | None:
    if name not in op.attributes:
        return None
    attr = op.attributes[name]
    if not isinstance(attr, ir.DenseElementsAttr):
        return None
    return np.array(attr, dtype=np.float32).reshape(ir.ShapedType(attr.type).shape)


def read(op) -> ActStats | None:
    """The statistics on `op` (checked against its input: K channels, finite, >= 0), or None when it was
    not calibrated. Malformed statistics are a located QcompError, never a silently wrong transformation."""
    absmax = _array(op, ABSMAX)
    if absmax is None:
        return None
    k = ir.RankedTensorType(op.operands[0].type).shape[-1] if op.name == "qc.linear" else absmax.shape[-1]
    stats = ActStats(absmax, _array(op, MEAN), _array(op, SAMPLE), _array(op, HESSIAN))
    for name, arr, shape in (
        (ABSMAX, stats.absmax, (k,)),
        (MEAN, stats.mean, (k,)),
        (SAMPLE, stats.sample, None),
        (HESSIAN, stats.hessian, (k, k)),
    ):
        if arr is None:
            continue
        ok = arr.shape == shape if shape else (arr.ndim == 2 and arr.shape[1] == k)
        why = f"shape {list(arr.shape)}" if not ok else ""
        if ok and not np.all(np.isfinite(arr)):
            why = "inf or NaN values"
        elif ok and name not in (SAMPLE, HESSIAN) and np.any(arr < 0):
            why = "negative values"
        if why:
            want = f"{list(shape)} finite values >= 0" if shape else f"[rows, {k}] finite values"
            want = want.replace(" >= 0", "") if name == HESSIAN else want
            raise QcompError(f"{op.location}: '{name}' must hold {want} for '{op.name}', got {why}")
    return stats


def _dense(arr: np.ndarray) -> ir.DenseElementsAttr:
    arr = np.ascontiguousarray(arr, np.float32)
    return ir.DenseElementsAttr.get(arr, type=ir.RankedTensorType.get(list(arr.shape), ir.F32Type.get()))


def set_method(module: ir.Module, method: str, percentile: float) -> None:
    module.operation.attributes[METHOD] = ir.DictAttr.get(
        {"method": ir.StringAttr.get(method), "percentile": ir.FloatAttr.get(ir.F64Type.get(), percentile)}
    )


def method(op) -> tuple[str, float]:
    """The calibration method of the module holding `op` (minmax when none was recorded)."""
    top = op
    while top.parent is not None:
        top = top.parent
    if METHOD not in top.attributes:
        return "minmax", 99.99
    a = top.attributes[METHOD]
    try:
        d = ir.DictAttr(a)
        m, pct = ir.StringAttr(d["method"]).value, ir.FloatAttr(d["percentile"]).value
    except (ValueError, KeyError, IndexError):
        m, pct = None, 0.0
    if m not in METHODS or not 0 < pct <= 100:
        raise QcompError(
            f"module attribute '{METHOD}' must be {{method = one of {', '.join(METHODS)}, percentile = f64 in "
            f"(0, 100]}}, got {a}"
        )
    return m, pct


def write(op, stats: ActStats | None, rescale: bool = True, bits: int = 8) -> None:
    """Set `op`'s statistics (None removes them); rescale=True recomputes qc.act_scale from them."""
    for name in (ABSMAX, MEAN, SAMPLE, HESSIAN, *((SCALE,) if rescale or stats is None else ())):
        if name in op.attributes:
            del op.attributes[name]
    if stats is None:
        return
    op.attributes[ABSMAX] = _dense(stats.absmax)
    if stats.mean is not None:
        op.attributes[MEAN] = _dense(stats.mean)
    if stats.sample is not None:
        op.attributes[SAMPLE] = _dense(stats.sample)
    if stats.hessian is not None:
        op.attributes[HESSIAN] = _dense(stats.hessian)
    if rescale:
        m, pct = method(op)
        clip = np.asarray(clip_of(stats.absmax, stats.sample, m, pct), np.float32)
        op.attributes[SCALE] = ir.FloatAttr.get(ir.F32Type.get(), float(ref.symmetric_scale(clip, bits)))
