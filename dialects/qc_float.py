"""Float number formats in the `qc` dialect: weights stored as fp8/fp6/fp4 codes with f32, e8m0 (MX) or e4m3
(NVFP4) block scales, and activations fake-quantized to a format (what qc-quantize{format=...} emits).

The `format` attribute is a `formats.QFormat` in text (`fp8`, `mxfp4`, `nvfp4`, `e2m1:e8m0:32`, …; see
`formats.parse`). Scales travel as f32 tensors holding each group's exact scale (an e8m0 scale is a power of
two, an NVFP4 scale the f32 product of its e4m3 block scale and the tensor scale) or, for e8m0 and e4m3
scale formats, as their 1-byte codes (i8; NVFP4's f32 tensor scale in the `tensor_scale` attribute), which a
target decodes to the same f32 (`formats.stored_scales`). Semantics: `formats`.

fp6 codes travel one per byte in `wq`; the CPU target stores a constant fp6 weight four codes in three bytes
(`formats.pack_fp6`, 0.75 byte per weight) and decodes it inside the GEMM kernel (`targets/cpu/fp6_panels.py`).
"""

from . import formats as fmt
from ._mlir import Operand, Pure, Result, ir
from .qc import QC, Tensor, _attr, _Check, _etype, _float_operands, _int_width, _is_float, _shape


def _format(c: _Check, op) -> "fmt.QFormat | None":
    text = _attr(op, "format")
    if not isinstance(text, str):
        c(False, f"'format' must be a string, got {text}")
        return None
    try:
        return fmt.parse(text)
    except Exception as e:  # QcompError: one line naming the bad text and the accepted forms
        c(False, f"bad 'format': {e}")
        return None


class FpWLinearOp(QC.Operation, name="fp_wlinear", traits=[Pure]):
    """Linear on float-format weights: w[n, k] = decode(q[n, k]) · scale[n, k // group]; y = x · wᵀ + b in f32.

    x: [..., K] f32; wq: i8 [N, ceil(K/2)] for 4-bit elements (two codes per byte along K, element 2j in the
    low nibble) or i8 [N, K] (one code per byte: fp8, fp6); scale: f32 [N, ceil(K / group)], or i8 codes
    of the same shape where the format's scales are e8m0 (2^(c - 127)) or e4m3 (decode(c) · tensor_scale);
    b: [N]. format: the weights' QFormat (its element format decodes the codes); group: elements per scale
    (the format's block, or K per channel); tensor_scale (f32, with e4m3 scale codes only): NVFP4's tensor
    scale.
    """

    x: Operand[Tensor]
    wq: Operand[Tensor]
    scale: Operand[Tensor]
    b: Operand[Tensor]
    format: ir.StringAttr
    group: ir.IntegerAttr
    y: Result[Tensor]
    reference = staticmethod(fmt.fp_wlinear)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        x, w, s, b, y = (_shape(v) for v in (*self.operands, self.results[0]))
        _float_operands(c, self, ["x"])
        c(_int_width(_etype(self.operands[1])) == 8, "wq must be i8 (the format's codes)")
        c(_is_float(_etype(self.operands[3])), "b must be float")
        qf = _format(c, self)
        scale_bytes = _int_width(_etype(self.operands[2])) == 8
        c(scale_bytes or _is_float(_etype(self.operands[2])), "scale must be f32 or i8 (1-byte scale codes)")
        ts = _attr(self, "tensor_scale") if "tensor_scale" in self.attributes else None
        if qf is not None and scale_bytes:
            c(qf.scale != "f32", f"i8 scale codes need an e8m0 or e4m3 scale format, not {qf}")
            c(qf.scale != "e4m3" or isinstance(ts, float), "e4m3 scale codes need an f32 'tensor_scale' attribute")
        c(
            ts is None or (scale_bytes and qf is not None and qf.scale == "e4m3"),
            "'tensor_scale' goes with e4m3 scale codes only",
        )
        group = _attr(self, "group")
        c(isinstance(group, int) and group > 0, f"'group' must be positive, got {group}")
        if not c.ok or qf is None:  # a None format has already failed the check
            return False
        k = x[-1] if x else 0
        kw = fmt.stored_k(qf.elem, k)
        c(len(w) == 2 and w[1] == kw, f"wq must be [N, {kw}] for K = {k} in {qf}, got {w}")
        if not c.ok:
            return False
        n = w[0]
        c(qf.block <= 0 or group == qf.block, f"'group' {group} must equal the block of {qf} ({qf.block})")
        c(s == [n, -(-k // group)], f"scale must be [{n}, {-(-k // group)}] (groups of {group}), got {s}")
        c(b == [n], f"b must have shape [{n}]")
        c(y == x[:-1] + [n], f"result shape {y} must be {x[:-1] + [n]}")
        return c.ok


def _verify_fake_quant(op) -> "tuple[_Check, fmt.QFormat | None]":
    c = _Check(op)
    _float_operands(c, op, ["x"])
    c(_shape(op.operands[0]) == _shape(op.results[0]), "result shape must equal the input shape")
    c(_is_float(_etype(op.results[0])), "result must have a float element type")
    return c, _format(c, op)


class FpFakeQuantOp(QC.Operation, name="fp_fake_quant", traits=[Pure]):
    """Dynamic fake quantization to a float format along the last dim: y = decode(q) · s with the scales
    chosen from x (per token: format block 0; per block, the last one partial when K is not a multiple; per
    tensor: block -1), `formats.fake_quantize`."""

    x: Operand[Tensor]
    format: ir.StringAttr
    y: Result[Tensor]
    reference = staticmethod(fmt.fp_fake_quant)

    def verify_invariants(self) -> bool:
        c, _ = _verify_fake_quant(self)
        return c.ok


class FpFakeQuantStaticOp(QC.Operation, name="fp_fake_quant_static", traits=[Pure]):
    """Fake quantization with a static per-tensor f32 scale [1] (from calibration):
    y = round_to(x · (1/scale)) · scale, `formats.fake_quantize`. The format must have f32 scales."""

    x: Operand[Tensor]
    scale: Operand[Tensor]
    format: ir.StringAttr
    y: Result[Tensor]
    reference = staticmethod(fmt.fp_fake_quant_static)

    def verify_invariants(self) -> bool:
        c, qf = _verify_fake_quant(self)
        c(_shape(self.operands[1]) == [1] and _is_float(_etype(self.operands[1])), "scale must be f32 [1]")
        if qf is not None:
            c(qf.scale == "f32", f"a static scale needs a format with f32 scales, got {qf}")
        return c.ok
