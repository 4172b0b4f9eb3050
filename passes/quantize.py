"""qc-quantize: round-to-nearest quantization of weight layers (w8a8 dynamic or static, grouped w4a8, weight-only).

Every `qc.linear` and `qc.conv2d` whose weight is a constant becomes an integer form; weights are
quantized offline through the reference semantics (`quantize_weight`, `quantize_weight_grouped`):

- abits=8, dynamic (default): int8 weights per output channel, activations quantized at run time by
  `qc.quantize_dynamic` (per token for linear layers as in LLM.int8()/SmoothQuant's dynamic variant;
  per tensor for convolutions); the product runs as `qc.qlinear` / `qc.qconv2d` (i32 accumulation).
- abits=8, static=true: the activation scale is a constant read from the layer's `qc.act_scale`
  attribute (f32, set by calibration: `qcomp.calibrate.attach`), applied by `qc.quantize` with a
  per-tensor scale [1]. A layer without it is an error at its location.
- abits=16: weight-only (activations stay float). Linear layers become `qc.wlinear` with symmetric
  weights in groups of `group` input channels (0: one group per output channel), packed two per byte
  at wbits <= 4 (the w4a16 recipe uses wbits=4, group=128, as in AWQ/GPTQ's RTN baseline);
  convolutions become `qc.dequantize` (per output channel) feeding the float `qc.conv2d`.
- abits=8 with group > 0 (W4A8 g128): linear layers become `qc.qlinear_grouped`, symmetric integer weights one
  code per byte with one scale per output channel and group of `group` input channels (`reference_grouped`),
  dynamic or static activations as above; convolutions stay per output channel (`qc.qconv2d`).

A `qc.weight_clip` attribute (set by qc-awq or qc-gptq: one range per output channel and group) replaces max|w|
as the quantization range of that group; weights beyond it saturate (qc-gptq{group=G} then qc-quantize{group=G}
stores GPTQ's codes, weight-only or with int8 activations).

sym=false (weight-only linear layers): asymmetric weights, `qc.wlinear_asym` with unsigned codes and a zero
point per group (`reference_asym`); with abits=8 and group > 0 (W4A8 g128 with zero points, wbits <= 7):
`qc.qlinear_grouped_asym`, the same codes and zero points one per byte (`reference_grouped`). A group's range
is `qc.weight_range` [N, groups, 2] (lo, hi; set by qc-gptq{sym=false}) where present, else its (min, max)
bounded by ±`qc.weight_clip`. Other layers that get int8 activations (qc.qlinear: a scale per output channel) and
convolutions stay symmetric. search=mse: a group without a recorded range gets the range of
least Σ|w - deq(q(w))|^2.4 over shrunk min/max ranges (`reference_asym.mse_ranges`, the GPTQ reference's
`find_params(mse=True)` grid: 100 steps, shrinking up to 80%), sym or not; needs no calibration.

An op carrying `qc.wbits = N` gets N-bit weights whatever the `wbits` option says (per-layer widths);
`qc.abits = 8 | 16` likewise switches a layer between int8 activations and weight-only (groups of
`group`, 128 when the pass itself quantizes activations), as qc-assign-precision decides.
An op carrying `qc.precision = "fp32"` is left alone (how mixed precision and users keep a layer
in float). Quantized ops get `qc.precision = "w<wbits>a<abits>"`.

Options: wbits (2..8, default 8), abits (8 | 16), granularity ("per_token" | "per_tensor", dynamic
linear layers), group (>= 0; with abits=8: qc.qlinear_grouped), static (bool, abits=8 only), sym (default true;
false: zero points, weight-only or grouped), search ("none" | "mse", weight-only or grouped), wformat / aformat
(float number formats, e.g. wformat=nvfp4 or wformat=fp8,aformat=fp8: linear layers go to `qc-quantize-float` with
these formats and `static`; the integer options are then unused).
Precondition: qc ops on builtin tensors (after qc-from-torch).
"""

import math
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from qcomp.dialects import reference as ref
from qcomp.dialects import reference_asym as ra
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import i64_attr as _i64
from qcomp.dialects.irutil import ops_named
from qcomp.dialects.precision import Precision
from qcomp.dialects.weights import constant_array, make_constant

from .act_stats import SCALE as ACT_SCALE
from .channel_fold import ABITS, WBITS, WEIGHT_CLIP, WEIGHT_RANGE, WGROUP
from .quantize_float import QuantizeFloatPass


@dataclass(frozen=True)
class QuantizePass:
    """Quantize linear and conv2d layers to integer ops (see module docstring for options)."""

    name: ClassVar[str] = "qc-quantize"
    wbits: int = 8
    abits: int = 8
    granularity: str = "per_token"
    group: int = 0
    static: bool = False
    sym: bool = True
    search: str = "none"
    wformat: str = ""
    aformat: str = ""

    def __post_init__(self):
        if self.wformat or self.aformat:
            if not self.wformat:
                raise QcompError("qc-quantize: aformat needs a wformat (float formats: see qc-quantize-float)")
            self.float_pass()  # validates the formats
        if not 2 <= self.wbits <= 8:
            raise QcompError(f"qc-quantize: wbits must be in [2, 8], got {self.wbits}")
        if self.abits not in (8, 16):
            raise QcompError(f"qc-quantize: abits={self.abits} is not supported yet (8, or 16 for weight-only)")
        if self.granularity not in ("per_token", "per_tensor"):
            raise QcompError(f"qc-quantize: granularity must be per_token or per_tensor, got {self.granularity!r}")
        if self.group < 0:
            raise QcompError(f"qc-quantize: group must be >= 0, got {self.group}")
        if self.static and self.abits != 8:
            raise QcompError("qc-quantize: static activation scales need abits=8")
        if self.search not in ("none", "mse"):
            raise QcompError(f"qc-quantize: search must be none or mse, got {self.search!r}")
        if not self.sym and self.abits != 16 and not self.group:
            raise QcompError(
                "qc-quantize: sym=false applies to weight-only quantization (abits=16) or grouped W4A8 (abits=8, "
                "group > 0)"
            )
        if not self.sym and self.abits == 8 and self.wbits > 7:
            raise QcompError("qc-quantize: sym=false with abits=8 needs wbits <= 7 (q - z must fit the int8 kernels)")
        if self.search != "none" and self.abits != 16 and not self.group:
            raise QcompError("qc-quantize: search=mse applies to weight-only or grouped (group > 0) quantization")

    @property
    def precision(self) -> str:
        grouped = self.abits != 16 and self.group
        return f"w{self.wbits}a{self.abits}" + (f"g{self.group}" if grouped else "")

    def float_pass(self) -> QuantizeFloatPass:
        return QuantizeFloatPass(wformat=self.wformat, aformat=self.aformat, static=self.static)

    def run(self, module: ir.Module) -> None:
        if self.wformat:
            self.float_pass().run(module)
            return
        with module.context, ir.Location.unknown():
            for op in ops_named(module, "qc.linear", "qc.conv2d"):
                keep = op.attributes["qc.precision"].value if "qc.precision" in op.attributes else None
                w = constant_array(op.operands[1])
                if keep == "fp32" or w is None or w.dtype != np.float32:
                    continue
                if keep and (p := Precision.try_parse(keep)) is not None and p.format:
                    raise QcompError(
                        f"{op.location}: qc-quantize: this layer was assigned {keep!r}, a number format: run "
                        "qc-quantize-float before qc-quantize (it quantizes the layers assigned a format)"
                    )
                q = self
                if WBITS in op.attributes:  # a per-layer width (qc-reorder-channels' outlier group, mixed precision)
                    q = replace(self, wbits=self._wbits(op))
                if ABITS in op.attributes and (ab := self._abits(op)) != q.abits:  # qc-assign-precision
                    q = replace(
                        q,
                        abits=ab,
                        group=(self.group or 128) if ab == 16 else 0,
                        static=self.static and ab == 8,
                        sym=self.sym or ab == 8,  # int8 activations: symmetric qc.qlinear weights
                        search=self.search if ab == 16 else "none",
                    )
                if WGROUP in op.attributes and q.abits == 16:
                    q = replace(q, group=self._wgroup(op))
                if q.abits == 16:
                    q._weight_only(op, w)
                elif q.group and op.name == "qc.linear":
                    q._rewrite_grouped(op, w)
                else:
                    q._rewrite(op, w)

    def _abits(self, op) -> int:
        a = op.attributes[ABITS]
        v = a.value if isinstance(a, ir.IntegerAttr) else None
        if v not in (8, 16):
            raise QcompError(f"{op.location}: qc-quantize: '{ABITS}' must be 8 or 16, got {a}")
        return v

    def _wgroup(self, op) -> int:
        a = op.attributes[WGROUP]
        v = a.value if isinstance(a, ir.IntegerAttr) else None
        if v is None or v < 0:
            raise QcompError(f"{op.location}: qc-quantize: '{WGROUP}' must be an integer >= 0, got {a}")
        return v

    def _wbits(self, op) -> int:
        a = op.attributes[WBITS]
        v = a.value if isinstance(a, ir.IntegerAttr) else None
        if v is None or not 2 <= v <= 8:
            raise QcompError(f"{op.location}: qc-quantize: '{WBITS}' must be an integer in [2, 8], got {a}")
        return v

    def _replace(self, op, new) -> None:
        op.results[0].replace_all_uses_with(new.results[0])
        op.erase()

    def _static_scale(self, op) -> float:
        a = op.attributes[ACT_SCALE] if ACT_SCALE in op.attributes else None
        if a is None:
            raise QcompError(
                f"{op.location}: qc-quantize{{static=true}}: '{op.name}' has no '{ACT_SCALE}' attribute "
                "(calibrate the model first)"
            )
        v = a.value if isinstance(a, ir.FloatAttr) else None
        if v is None or not math.isfinite(v) or v <= 0:
            raise QcompError(f"{op.location}: qc-quantize: '{ACT_SCALE}' must be a positive finite float, got {a}")
        return v

    def _clip(self, op, w, group: int):
        """The per-group quantization range chosen by qc-awq (`qc.weight_clip`), if any."""
        if WEIGHT_CLIP not in op.attributes:
            return None
        clip = np.array(op.attributes[WEIGHT_CLIP], dtype=np.float32)
        want = (w.shape[0], ref.n_groups(w.shape[1], group))
        if clip.size != want[0] * want[1] or not np.all(np.isfinite(clip)) or np.any(clip < 0):
            raise QcompError(
                f"{op.location}: qc-quantize: '{WEIGHT_CLIP}' must hold {want[0]}x{want[1]} finite values >= 0 "
                f"(one per output channel and group of {group}), got {clip.size} values: was qc-awq run with "
                "another group size than qc-quantize?"
            )
        return clip.reshape(want)

    def _range(self, op, w, group: int):
        """(lo, hi) [N, groups] of an asymmetric layer: `qc.weight_range`, else (min, max) within ±`qc.weight_clip`,
        else the MSE search (search=mse), else None (the groups' min and max)."""
        n, g = w.shape[0], ref.n_groups(w.shape[1], group)
        if WEIGHT_RANGE in op.attributes:
            r = np.array(op.attributes[WEIGHT_RANGE], dtype=np.float32)
            if r.size != n * g * 2 or not np.all(np.isfinite(r)) or np.any(r[..., 0] > r[..., 1]):
                raise QcompError(
                    f"{op.location}: qc-quantize: '{WEIGHT_RANGE}' must hold {n}x{g}x2 finite (lo, hi) pairs with "
                    f"lo <= hi (one per output channel and group of {group}), got {r.size} values: was qc-gptq run "
                    "with another group size than qc-quantize?"
                )
            r = r.reshape(n, g, 2)
            return r[..., 0], r[..., 1]
        clip = self._clip(op, w, group)
        if clip is not None:
            lo, hi = ra.group_min_max(w, group)
            return np.maximum(lo, -clip), np.minimum(hi, clip)
        if self.search == "mse":
            return ra.mse_ranges(w, bits=self.wbits, group=group, sym=False)
        return None, None

    def _rewrite(self, op, w) -> None:
        conv = op.name == "qc.conv2d"
        clip = self._clip(op, w, w.shape[1])
        if clip is None:
            wq, ws = ref.quantize_weight(w, bits=self.wbits, axis=0)
        else:
            ws = ref.symmetric_scale(clip[:, 0], self.wbits)
            wq = ref.quantize(w, ws, bits=self.wbits, axis=0)
        xq, xs = self._activations(op, conv)
        with ir.InsertionPoint(op), op.location:
            attrs = {"qc.precision": ir.StringAttr.get(f"w{self.wbits}a{self.abits}")}  # per channel, even with group
            if conv:
                attrs.update({k: op.attributes[k] for k in ("stride", "padding", "dilation", "groups")})
            else:
                attrs["act"] = ir.StringAttr.get("none")
            new = ir.Operation.create(
                "qc.qconv2d" if conv else "qc.qlinear",
                results=[op.results[0].type],
                operands=[xq, xs, make_constant(wq), make_constant(ws), op.operands[2]],
                attributes=attrs,
            )
        self._replace(op, new)

    def _rewrite_grouped(self, op, w) -> None:
        """qc.linear -> qc.qlinear_grouped: codes one per byte, a scale per output channel and group (max|w|, or
        `qc.weight_clip` from qc-gptq / qc-awq at this group size, or the MSE search); sym=false:
        qc.qlinear_grouped_asym, a zero point per group too, from `qc.weight_range` as qc.wlinear_asym's."""
        if not self.sym:
            self._rewrite_grouped_asym(op, w)
            return
        clip = self._clip(op, w, self.group)
        if clip is None and self.search == "mse":
            clip = ra.mse_ranges(w, bits=self.wbits, group=self.group, sym=True)[1]
        self._emit_grouped(op, "qc.qlinear_grouped", grouped_codes(w, bits=self.wbits, group=self.group, clip=clip))

    def _rewrite_grouped_asym(self, op, w) -> None:
        lo, hi = self._range(op, w, self.group)
        arrays = grouped_asym_codes(w, bits=self.wbits, group=self.group, lo=lo, hi=hi)
        self._emit_grouped(op, "qc.qlinear_grouped_asym", arrays)

    def _emit_grouped(self, op, name: str, arrays: tuple) -> None:
        """Replace `op` by the grouped op `name` on its quantized input and the constant weight `arrays` (codes,
        scales[, zero points]), the bias last."""
        xq, xs = self._activations(op, False)
        with ir.InsertionPoint(op), op.location:
            new = ir.Operation.create(
                name,
                results=[op.results[0].type],
                operands=[xq, xs, *(make_constant(a) for a in arrays), op.operands[2]],
                attributes={
                    "group": _i64(self.group),
                    "bits": _i64(self.wbits),
                    "act": ir.StringAttr.get("none"),
                    "qc.precision": ir.StringAttr.get(self.precision),
                },
            )
        self._replace(op, new)

    def _activations(self, op, conv: bool) -> tuple:
        """(xq, xs) of the layer's input: qc.quantize_dynamic (per token, or per tensor for convolutions), or
        qc.quantize with the calibrated scale (static)."""
        x = op.operands[0]
        xs_static = self._static_scale(op) if self.static else None
        xt = ir.RankedTensorType(x.type)
        gran = "per_tensor" if conv or self.static else self.granularity
        st = ir.RankedTensorType.get([1] if gran == "per_tensor" else [*xt.shape[:-1], 1], ir.F32Type.get())
        qt = ir.RankedTensorType.get(xt.shape, ir.IntegerType.get_signless(8))
        with ir.InsertionPoint(op), op.location:
            if xs_static is None:
                qd = ir.Operation.create(
                    "qc.quantize_dynamic",
                    results=[qt, st],
                    operands=[x],
                    attributes={"bits": _i64(self.abits), "granularity": ir.StringAttr.get(gran)},
                )
                xq, xs = qd.results[0], qd.results[1]
            else:
                xs = make_constant(np.array([xs_static], np.float32))
                xq = ir.Operation.create(
                    "qc.quantize",
                    results=[qt],
                    operands=[x, xs],
                    attributes={"bits": _i64(self.abits), "axis": _i64(-1)},
                ).results[0]
        return xq, xs

    def _weight_only(self, op, w) -> None:
        x, b = op.operands[0], op.operands[2]
        prec = ir.StringAttr.get(self.precision)
        with ir.InsertionPoint(op), op.location:
            if op.name == "qc.conv2d":  # per output channel, i8 storage; the float conv reads the dequantized weight
                wq, ws = ref.quantize_weight(w, bits=self.wbits, axis=0)
                wd = ir.Operation.create(
                    "qc.dequantize",
                    results=[op.operands[1].type],
                    operands=[make_constant(wq), make_constant(ws)],
                    attributes={"axis": _i64(0)},
                )
                attrs = {k: op.attributes[k] for k in ("stride", "padding", "dilation", "groups")}
                new = ir.Operation.create(
                    "qc.conv2d",
                    results=[op.results[0].type],
                    operands=[x, wd.results[0], b],
                    attributes={**attrs, "qc.precision": prec},
                )
            elif not self.sym:
                group = self.group or w.shape[1]
                lo, hi = self._range(op, w, group)
                wq, ws, wz = ra.quantize_weight_grouped_asym(w, bits=self.wbits, group=group, lo=lo, hi=hi)
                new = ir.Operation.create(
                    "qc.wlinear_asym",
                    results=[op.results[0].type],
                    operands=[x, make_constant(wq), make_constant(ws), make_constant(wz), b],
                    attributes={"bits": _i64(self.wbits), "group": _i64(group), "qc.precision": prec},
                )
            else:
                group = self.group or w.shape[1]
                clip = self._clip(op, w, group)
                if clip is None and self.search == "mse":
                    clip = ra.mse_ranges(w, bits=self.wbits, group=group, sym=True)[1]
                wq, ws = ref.quantize_weight_grouped(w, bits=self.wbits, group=group, clip=clip)
                new = ir.Operation.create(
                    "qc.wlinear",
                    results=[op.results[0].type],
                    operands=[x, make_constant(wq), make_constant(ws), b],
                    attributes={"bits": _i64(self.wbits), "group": _i64(group), "qc.precision": prec},
                )
        self._replace(op, new)


def grouped_codes(w: np.ndarray, *, bits: int, group: int, clip: np.ndarray | None = None):
    """(codes i8 [N, K], scale f32 [N, G]) of qc.qlinear_grouped: `reference.quantize_weight_grouped`'s codes and
    scales (the same ranges, `clip` included) stored one per byte."""
    q, scale = ref.quantize_weight_grouped(w, bits=bits, group=group, clip=clip)
    return (ref.unpack_int4(q, w.shape[1]) if bits <= 4 else np.asarray(q, np.int8)), scale


def grouped_asym_codes(w: np.ndarray, *, bits: int, group: int, lo=None, hi=None):
    """(codes i8 [N, K], scale f32 [N, G], zero point i8 [N, G]) of qc.qlinear_grouped_asym:
    `reference_asym.quantize_weight_grouped_asym`'s (qc.wlinear_asym's) for the ranges lo/hi (None: min, max),
    the unsigned codes one per byte."""
    q, scale, zp = ra.quantize_weight_grouped_asym(w, bits=bits, group=group, lo=lo, hi=hi)
    return (ra.unpack_uint4(q, w.shape[1]).view(np.int8) if bits <= 4 else np.asarray(q, np.int8)), scale, zp
