"""qc-quantize-float: round-to-nearest quantization of linear layers to float number formats (FP8, MX, NVFP4).

Every `qc.linear` whose weight is a constant becomes `qc.fp_wlinear`: its weight stored as codes of the weight
format (`dialects/formats.py`: fp8 one byte each, fp4 two per byte) with one f32 scale per output channel or
per block of K (MX: powers of two chosen as the OCP MX v1.0 spec states; NVFP4: e4m3 block scales times one
f32 tensor scale). With an activation format, the layer's input first goes through `qc.fp_fake_quant`
(dynamic: scales per token, per block or per tensor chosen from x at run time) or, static=true, through
`qc.fp_fake_quant_static` with one per-tensor scale max(qc.act_absmax) / max_finite from calibration (min-max,
as llm-compressor's FP8 static observers); the product then runs in f32 on the fake-quantized values (an
FP8 × FP8 product is exact in f32; accumulation in f32 as on tensor cores). Without one, activations stay
f32 (weight-only: W4A16 MXFP4/NVFP4).

Like qc-quantize: layers with `qc.precision = "fp32"` are left alone; quantized ops get `qc.precision`
= '<format>-w<bits>a<bits>' (`formats.precision_name`, e.g. 'nvfp4-w4a16', 'fp8-w8a8'), fake-quantizations
the activation format's name ('fp8', 'mxfp4'). Convolutions stay float. The pass combines with the outlier
passes that run before it (qc-smooth, qc-rotate, qc-split-outliers).

Options: wformat (a format text, default fp8), aformat ("" for f32 activations, or a format), static (bool:
a static per-tensor activation scale; aformat must have f32 scales and block 'tensor', e.g. e4m3:f32:tensor),
keep_last (bool: the last linear layer in program order, an LM's head or a classifier, stays f32, as
llm-compressor's FP8 recipes ignore lm_head), gptq (bool: weights rounded onto the format's grid by GPTQ
with the round-to-nearest scales, `float_gptq.py`, from the layer's calibrated input Hessian
`qc.act_hessian` or its activation rows `qc.act_sample`; the codes and scales stored are what it
returns), damp (GPTQ's dampening, default 0.01), scale_bytes (bool, default true: e8m0 and e4m3 weight
scales stored as their 1-byte codes, NVFP4's tensor scale as the op's `tensor_scale`; false keeps f32).
Precondition: qc ops on builtin tensors (after qc-from-torch); static=true or gptq=true: calibrated.
"""

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np
from qcomp.dialects import formats as fmt
from qcomp.dialects._mlir import ir
from qcomp.dialects.attrs import PRECISION, PRECISION_PLAN
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import i64_attr as _i64
from qcomp.dialects.irutil import ops_named
from qcomp.dialects.weights import constant_array, make_constant

from . import act_stats
from .act_stats import ABSMAX
from .float_candidates import parse_float_candidate
from .float_gptq import gptq_float
from .gptq import hessian_of


@dataclass(frozen=True)
class QuantizeFloatPass:
    """Quantize linear layers to float formats (see module docstring for options)."""

    name: ClassVar[str] = "qc-quantize-float"
    wformat: str = "fp8"
    aformat: str = ""
    static: bool = False
    keep_last: bool = False
    gptq: bool = False
    damp: float = 0.01
    scale_bytes: bool = True

    def __post_init__(self):
        if not self.damp > 0:
            raise QcompError(f"qc-quantize-float: damp must be > 0, got {self.damp}")
        a = self._a
        if self.static and (a is None or a.scale != "f32" or a.block != -1):
            raise QcompError(
                "qc-quantize-float: static=true needs an aformat with one f32 scale per tensor (e.g. e4m3:f32:tensor)"
            )
        _ = self._w  # a bad wformat fails here, at construction

    @cached_property
    def _w(self) -> fmt.QFormat:
        return fmt.parse(self.wformat, "qc-quantize-float: wformat")

    @cached_property
    def _a(self) -> fmt.QFormat | None:
        return fmt.parse(self.aformat, "qc-quantize-float: aformat") if self.aformat else None

    @property
    def precision(self) -> str:
        return fmt.precision_name(self._w, self._a)

    def run(self, module: ir.Module) -> None:
        with module.context, ir.Location.unknown():
            planned = PRECISION_PLAN.has(module.operation)  # qc-assign-precision chose each layer's precision
            linears = ops_named(module, "qc.linear")
            for op in linears[:-1] if self.keep_last else linears:
                keep = PRECISION.get(op)
                w = constant_array(op.operands[1])
                if keep == "fp32" or w is None or w.dtype != np.float32 or w.ndim != 2:
                    continue
                assigned = _assigned_formats(op, keep)
                if planned and assigned is None:  # an integer precision (or none): qc-quantize's
                    continue
                if assigned is not None and self.static:
                    raise QcompError(
                        f"{op.location}: qc-quantize-float{{static=true}}: a layer assigned {keep!r} takes dynamic "
                        "activation scales (drop static=true)"
                    )
                self._rewrite(op, w, *(assigned or (self._w, self._a)))

    def _static_scale(self, op) -> float:
        if ABSMAX not in op.attributes:
            raise QcompError(
                f"{op.location}: qc-quantize-float{{static=true}}: '{op.name}' has no '{ABSMAX}' attribute "
                "(calibrate the model first)"
            )
        amax = float(np.max(np.array(op.attributes[ABSMAX], dtype=np.float32)))
        if not np.isfinite(amax):
            raise QcompError(f"{op.location}: qc-quantize-float: '{ABSMAX}' must be finite, got max {amax}")
        a = self._a
        if a is None:  # not reached: static=true needs an aformat (__post_init__)
            raise QcompError("qc-quantize-float: static=true needs an aformat")
        return float(fmt.scales(np.asarray(amax, np.float32), a))

    def _hessian(self, op) -> np.ndarray:
        stats = act_stats.read(op)
        if stats is not None and stats.hessian is not None:
            return stats.hessian
        if stats is not None and stats.sample is not None:
            return hessian_of(stats.sample)
        raise QcompError(
            f"{op.location}: qc-quantize-float{{gptq=true}}: '{op.name}' has no '{act_stats.HESSIAN}' or "
            f"'{act_stats.SAMPLE}' (calibrate the model first)"
        )

    def _rewrite(self, op, w, wf: fmt.QFormat, af: fmt.QFormat | None) -> None:
        x, b = op.operands[0], op.operands[2]
        if self.gptq:
            wq, ws = gptq_float(w, self._hessian(op), wf, damp=self.damp)
        else:
            wq, ws = fmt.quantize_weight(w, wf)
        group = wf.group(w.shape[1])
        wattrs = {}
        if self.scale_bytes and wf.scale != "f32":  # 1-byte e8m0 / e4m3 codes, exactly the same scales
            ts = fmt.weight_tensor_scale(w, wf)
            ws = fmt.scale_codes(ws, wf, ts)
            if ts is not None:
                wattrs["tensor_scale"] = ir.FloatAttr.get(ir.F32Type.get(), ts)
        scale = self._static_scale(op) if self.static else None
        with ir.InsertionPoint(op), op.location:
            if af is not None:
                fa = {"format": ir.StringAttr.get(str(af)), "qc.precision": ir.StringAttr.get(str(af))}
                if scale is None:
                    x = ir.Operation.create("qc.fp_fake_quant", results=[x.type], operands=[x], attributes=fa)
                else:
                    s = make_constant(np.array([scale], np.float32))
                    x = ir.Operation.create("qc.fp_fake_quant_static", results=[x.type], operands=[x, s], attributes=fa)
                x = x.results[0]
            new = ir.Operation.create(
                "qc.fp_wlinear",
                results=[op.results[0].type],
                operands=[x, make_constant(wq), make_constant(ws), b],
                attributes={
                    "format": ir.StringAttr.get(str(wf)),
                    "group": _i64(group),
                    "qc.precision": ir.StringAttr.get(fmt.precision_name(wf, af)),
                    **wattrs,
                },
            )
        op.results[0].replace_all_uses_with(new.results[0])
        op.erase()


def _assigned_formats(op, precision: str | None) -> "tuple[fmt.QFormat, fmt.QFormat | None] | None":
    """(weight format, activation format) of a layer whose `qc.precision` names number formats (set by
    qc-assign-precision's float candidates, e.g. 'nvfp4-w4a16'); None otherwise."""
    try:
        cand = parse_float_candidate(precision) if precision else None
    except QcompError as e:
        raise QcompError(f"{op.location}: qc-quantize-float: qc.precision {precision!r}: {e}") from None
    return None if cand is None else (cand.w, cand.a)
