"""The quantization ops of the `qc` dialect (quantize, dequantize, integer compute, weight-only).

Same conventions as `qc.py`: a docstring, a verifier reporting one located diagnostic, and the numpy
reference in `reference.py` that defines the integer semantics.
"""

from . import reference as ref
from ._mlir import Operand, Pure, Result, ir
from .qc import (
    ACTIVATIONS,
    QC,
    DenseArray,
    Tensor,
    _attr,
    _bits_ok,
    _Check,
    _etype,
    _float_operands,
    _int_width,
    _is_float,
    _shape,
    _verify_conv,
)


# ----------------------------------------------------------------------------- quantization ops
def _check_scale(c: _Check, x: list[int], s: list[int], axis: int, name: str = "scale") -> None:
    if s == [1]:
        return
    c(-len(x) <= axis < len(x), f"'axis' {axis} out of range for rank {len(x)}")
    if c.ok:
        c(s == [x[axis]], f"{name} must be [1] (per-tensor) or [{x[axis]}] (per-channel on axis {axis}), got {s}")


class QuantizeOp(QC.Operation, name="quantize", traits=[Pure]):
    """Static symmetric quantization: q = sat(roundeven(x · (1/scale))), scale [1] or [C] along `axis`."""

    x: Operand[Tensor]
    scale: Operand[Tensor]
    bits: ir.IntegerAttr
    axis: ir.IntegerAttr
    q: Result[Tensor]
    reference = staticmethod(ref.quantize)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        _float_operands(c, self, ["x", "scale"])
        bits = _bits_ok(c, self)
        c(
            _int_width(_etype(self.results[0])) == 8 or (_int_width(_etype(self.results[0])) or 0) >= bits,
            f"result element type cannot hold {bits}-bit values",
        )
        c(_shape(self.operands[0]) == _shape(self.results[0]), "result shape must equal the input shape")
        _check_scale(c, _shape(self.operands[0]), _shape(self.operands[1]), _attr(self, "axis"))
        return c.ok


class QuantizeDynamicOp(QC.Operation, name="quantize_dynamic", traits=[Pure]):
    """Dynamic symmetric quantization, one scale per token (row of the last dim) or per tensor.

    scale = max|x| / (2^(bits-1)-1) (1 when the row is all zeros); q = sat(roundeven(x · (1/scale))).
    granularity = "per_token" gives scale [..., 1]; "per_tensor" gives scale [1].
    """

    x: Operand[Tensor]
    bits: ir.IntegerAttr
    granularity: ir.StringAttr
    q: Result[Tensor]
    scale: Result[Tensor]
    reference = staticmethod(ref.quantize_dynamic)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        _float_operands(c, self, ["x"])
        _bits_ok(c, self)
        x, s = _shape(self.operands[0]), _shape(self.results[1])
        g = _attr(self, "granularity")
        c(g in ("per_token", "per_tensor"), f"'granularity' must be per_token or per_tensor, got {g!r}")
        want = x[:-1] + [1] if g == "per_token" else [1]
        c(s == want, f"scale result shape {s} must be {want}")
        c(_int_width(_etype(self.results[0])) == 8, "quantized result must be i8")
        c(_shape(self.results[0]) == x, "quantized result shape must equal the input shape")
        return c.ok


def _check_norm_quantize(c: _Check, op, names: list[str]) -> None:
    """A fused norm + per-token quantization: operands `names` (x, gamma[, beta]); results (q i8, scale)."""
    _float_operands(c, op, names)
    _bits_ok(c, op)
    c(_attr(op, "eps") > 0, "'eps' must be positive")
    x = _shape(op.operands[0])
    c(len(x) >= 2, f"x must have rank >= 2 (tokens x features), got {x}")
    if not c.ok:
        return
    c(all(_shape(v) == x[-1:] for v in list(op.operands)[1:]), f"{' and '.join(names[1:])} must have shape {x[-1:]}")
    c(_int_width(_etype(op.results[0])) == 8 and _shape(op.results[0]) == x, f"q must be i8 of shape {x}")
    c(_shape(op.results[1]) == x[:-1] + [1], f"scale result shape must be {x[:-1] + [1]}")


class RmsNormQuantizeOp(QC.Operation, name="rms_norm_quantize", traits=[Pure]):
    """RMSNorm followed by per-token dynamic quantization, one op (qc-fuse{norm}):
    (q, scale) = quantize_dynamic(rms_norm(x, gamma, eps), bits, per_token); the f32 norm is not a result."""

    x: Operand[Tensor]
    gamma: Operand[Tensor]
    eps: ir.FloatAttr
    bits: ir.IntegerAttr
    q: Result[Tensor]
    scale: Result[Tensor]
    reference = staticmethod(ref.rms_norm_quantize)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        _check_norm_quantize(c, self, ["x", "gamma"])
        return c.ok


class LayerNormQuantizeOp(QC.Operation, name="layer_norm_quantize", traits=[Pure]):
    """LayerNorm followed by per-token dynamic quantization, one op (qc-fuse{norm}):
    (q, scale) = quantize_dynamic(layer_norm(x, gamma, beta, eps), bits, per_token)."""

    x: Operand[Tensor]
    gamma: Operand[Tensor]
    beta: Operand[Tensor]
    eps: ir.FloatAttr
    bits: ir.IntegerAttr
    q: Result[Tensor]
    scale: Result[Tensor]
    reference = staticmethod(ref.layer_norm_quantize)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        _check_norm_quantize(c, self, ["x", "gamma", "beta"])
        return c.ok


class DequantizeOp(QC.Operation, name="dequantize", traits=[Pure]):
    """x = f32(q) · scale, scale [1] or [C] along `axis`."""

    q: Operand[Tensor]
    scale: Operand[Tensor]
    axis: ir.IntegerAttr
    y: Result[Tensor]
    reference = staticmethod(ref.dequantize)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        c(_int_width(_etype(self.operands[0])) is not None, "operand 'q' must have an integer element type")
        c(_shape(self.operands[0]) == _shape(self.results[0]), "result shape must equal the input shape")
        _check_scale(c, _shape(self.operands[0]), _shape(self.operands[1]), _attr(self, "axis"))
        return c.ok


def _check_qlinear(c: _Check, op) -> None:
    """The operands (xq, xs, wq, ws, b) and result of qc.qlinear and qc.qlinear_gated."""
    x, xs, w, ws, b = (_shape(v) for v in list(op.operands)[:5])
    y = _shape(op.results[0])
    c(_int_width(_etype(op.operands[0])) == 8 and _int_width(_etype(op.operands[2])) == 8, "xq and wq must be i8")
    c(len(w) == 2 and x[-1:] == w[1:], f"input features {x[-1:]} do not match weight [N, K] = {w}")
    c(xs in (x[:-1] + [1], [1]), f"xs must be [..., 1] or [1], got {xs}")
    c(ws == w[:1] and b == w[:1], f"ws and b must have shape {w[:1]}")
    c(y == x[:-1] + w[:1], f"result shape {y} must be {x[:-1] + w[:1]}")
    c(_attr(op, "act") in ACTIVATIONS, f"'act' must be one of {ACTIVATIONS}")


class QLinearOp(QC.Operation, name="qlinear", traits=[Pure]):
    """Integer linear with fused epilogue.

    acc[..., n] = Σ_k i32(xq[..., k]) · i32(wq[n, k])  (i32);
    y = act((f32(acc) · xs[..., 0]) · ws[n] + b[n]), act in none|relu|gelu|silu.
    xq: [..., K] i8, xs: [..., 1] (per token) or [1]; wq: [N, K] i8; ws: [N]; b: [N].
    """

    xq: Operand[Tensor]
    xs: Operand[Tensor]
    wq: Operand[Tensor]
    ws: Operand[Tensor]
    b: Operand[Tensor]
    act: ir.StringAttr
    y: Result[Tensor]
    reference = staticmethod(ref.qlinear)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        _check_qlinear(c, self)
        return c.ok


class QLinearGroupedOp(QC.Operation, name="qlinear_grouped", traits=[Pure]):
    """Integer linear with one weight scale per output channel and group of `group` input channels (W4A8 g128).

    One qc.qlinear per group g of input channels (columns x_g, w_g), summed in group order, the bias in the first:
    y = act(qlinear(x_0, xs, w_0, ws[:, 0], b) + qlinear(x_1, xs, w_1, ws[:, 1], 0) + ...), each qlinear
    (f32(Σ_k i32(x_g) · i32(w_g)) · xs) · ws[:, g] + bias. xq: [..., K] i8, xs: [..., 1] or [1]; wq: [N, K] i8
    codes of `bits` (2..8) bits, one per byte; ws: [N, ceil(K / group)] f32; b: [N]. Semantics: `reference_grouped`.
    """

    xq: Operand[Tensor]
    xs: Operand[Tensor]
    wq: Operand[Tensor]
    ws: Operand[Tensor]
    b: Operand[Tensor]
    group: ir.IntegerAttr
    bits: ir.IntegerAttr
    act: ir.StringAttr
    y: Result[Tensor]
    reference = staticmethod(ref.qlinear_grouped)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        x, xs, w, ws, b = (_shape(v) for v in self.operands)
        y = _shape(self.results[0])
        c(
            _int_width(_etype(self.operands[0])) == 8 and _int_width(_etype(self.operands[2])) == 8,
            "xq and wq must be i8",
        )
        c(all(_is_float(_etype(self.operands[i])) for i in (1, 3, 4)), "xs, ws and b must be float")
        _bits_ok(c, self)
        group = _attr(self, "group")
        c(isinstance(group, int) and group > 0, f"'group' must be positive, got {group}")
        c(_attr(self, "act") in ACTIVATIONS, f"'act' must be one of {ACTIVATIONS}")
        if not c.ok:
            return False
        c(len(w) == 2 and x[-1:] == w[1:], f"input features {x[-1:]} do not match weight [N, K] = {w}")
        if not c.ok:
            return False
        n, g = w[0], -(-w[1] // group)
        c(xs in (x[:-1] + [1], [1]), f"xs must be [..., 1] or [1], got {xs}")
        c(ws == [n, g], f"ws must be [{n}, {g}] (groups of {group}), got {ws}")
        c(b == [n], f"b must have shape [{n}]")
        c(y == x[:-1] + [n], f"result shape {y} must be {x[:-1] + [n]}")
        return c.ok


class QLinearGroupedAsymOp(QC.Operation, name="qlinear_grouped_asym", traits=[Pure]):
    """qc.qlinear_grouped with zero points: unsigned weight codes and, per output channel and group, a scale and a
    zero point (W4A8 with GPTQ{sym=false}'s asymmetric int4).

    acc_g = Σ_{k in group g} i32(xq[..., k]) · (i32(q[n, k]) - i32(zp[n, g])); each group is a qc.qlinear on the
    signed weights q - zp, summed in group order with the bias in the first, then act (as qc.qlinear_grouped).
    xq: [..., K] i8, xs: [..., 1] or [1]; wq: [N, K] i8 holding unsigned `bits`-bit codes (2..8) one per byte;
    ws: [N, ceil(K / group)] f32; zp: [N, ceil(K / group)] i8 holding unsigned zero points; b: [N].
    Semantics: `reference_grouped`.
    """

    xq: Operand[Tensor]
    xs: Operand[Tensor]
    wq: Operand[Tensor]
    ws: Operand[Tensor]
    zp: Operand[Tensor]
    b: Operand[Tensor]
    group: ir.IntegerAttr
    bits: ir.IntegerAttr
    act: ir.StringAttr
    y: Result[Tensor]
    reference = staticmethod(ref.qlinear_grouped_asym)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        x, xs, w, ws, z, b = (_shape(v) for v in self.operands)
        y = _shape(self.results[0])
        c(
            all(_int_width(_etype(self.operands[i])) == 8 for i in (0, 2, 4)),
            "xq, wq and zp must be i8",
        )
        c(all(_is_float(_etype(self.operands[i])) for i in (1, 3, 5)), "xs, ws and b must be float")
        _bits_ok(c, self)
        group = _attr(self, "group")
        c(isinstance(group, int) and group > 0, f"'group' must be positive, got {group}")
        c(_attr(self, "act") in ACTIVATIONS, f"'act' must be one of {ACTIVATIONS}")
        if not c.ok:
            return False
        c(len(w) == 2 and x[-1:] == w[1:], f"input features {x[-1:]} do not match weight [N, K] = {w}")
        if not c.ok:
            return False
        n, g = w[0], -(-w[1] // group)
        c(xs in (x[:-1] + [1], [1]), f"xs must be [..., 1] or [1], got {xs}")
        c(ws == [n, g], f"ws must be [{n}, {g}] (groups of {group}), got {ws}")
        c(z == [n, g], f"zp must be [{n}, {g}] like ws, got {z}")
        c(b == [n], f"b must have shape [{n}]")
        c(y == x[:-1] + [n], f"result shape {y} must be {x[:-1] + [n]}")
        return c.ok


class QLinearGatedOp(QC.Operation, name="qlinear_gated", traits=[Pure]):
    """qc.qlinear times a gate, one op (qc-fuse{gate}): y = gate · act((f32(acc) · xs) · ws + b).

    The up projection of a gated MLP (SwiGLU: silu(x·Wg) ⊙ x·Wu) with the ⊙ in its epilogue. Operands as
    qc.qlinear, then gate: f32 of the result's shape.
    """

    xq: Operand[Tensor]
    xs: Operand[Tensor]
    wq: Operand[Tensor]
    ws: Operand[Tensor]
    b: Operand[Tensor]
    gate: Operand[Tensor]
    act: ir.StringAttr
    y: Result[Tensor]
    reference = staticmethod(ref.qlinear_gated)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        _check_qlinear(c, self)
        g, y = _shape(self.operands[5]), _shape(self.results[0])
        c(g == y and _is_float(_etype(self.operands[5])), f"gate must be float of the result's shape {y}, got {g}")
        return c.ok


class QMatmulOp(QC.Operation, name="qmatmul", traits=[Pure]):
    """Integer batched matmul: y = (f32(Σ_k aq·bq) · as[..., m, 0]) · bs[..., 0, n].

    aq [..., M, K] i8 with per-row scales as [..., M, 1]; bq [..., K, N] i8 with per-column scales bs [..., 1, N].
    """

    aq: Operand[Tensor]
    as_: Operand[Tensor]
    bq: Operand[Tensor]
    bs: Operand[Tensor]
    y: Result[Tensor]
    reference = staticmethod(ref.qmatmul)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        a, sa, b, sb, y = (_shape(v) for v in (*self.operands, self.results[0]))
        c(
            _int_width(_etype(self.operands[0])) == 8 and _int_width(_etype(self.operands[2])) == 8,
            "aq and bq must be i8",
        )
        c(_is_float(_etype(self.results[0])), "result must have a float element type")
        c(
            len(a) >= 2 and len(a) == len(b) and a[:-2] == b[:-2] and a[-1] == b[-2],
            f"operand shapes {a} and {b} do not form a batched matmul",
        )
        c(sa == a[:-1] + [1] and sb == b[:-2] + [1, b[-1]], "scales must be [..., M, 1] and [..., 1, N]")
        c(y == a[:-1] + b[-1:], f"result shape {y} must be {a[:-1] + b[-1:]}")
        return c.ok


class QConv2dOp(QC.Operation, name="qconv2d", traits=[Pure]):
    """Integer conv2d: y = (f32(conv(xq, wq)) · xs[0]) · ws[o] + b[o].

    xq has a per-tensor scale xs [1], wq per-output-channel scales ws [O]; i32 accumulation.
    """

    xq: Operand[Tensor]
    xs: Operand[Tensor]
    wq: Operand[Tensor]
    ws: Operand[Tensor]
    b: Operand[Tensor]
    stride: DenseArray
    padding: DenseArray
    dilation: DenseArray
    groups: ir.IntegerAttr
    y: Result[Tensor]
    reference = staticmethod(ref.qconv2d)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        c(
            _int_width(_etype(self.operands[0])) == 8 and _int_width(_etype(self.operands[2])) == 8,
            "xq and wq must be i8",
        )
        c(_is_float(_etype(self.results[0])), "result must have a float element type")
        c(_shape(self.operands[1]) == [1], "xs must be a per-tensor scale [1]")
        c(_shape(self.operands[3]) == _shape(self.operands[2])[:1], "ws must be [O]")
        return c.ok and _verify_conv(self, [], 0, 2, 4)


class RequantizeOp(QC.Operation, name="requantize", traits=[Pure]):
    """i32 accumulator -> int: q = sat(roundeven(f32(acc) · scale)), scale [1] or [C] along `axis`."""

    acc: Operand[Tensor]
    scale: Operand[Tensor]
    bits: ir.IntegerAttr
    axis: ir.IntegerAttr
    q: Result[Tensor]
    reference = staticmethod(ref.requantize)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        c(_int_width(_etype(self.operands[0])) == 32, "operand 'acc' must be i32")
        c(_int_width(_etype(self.results[0])) == 8, "result element type must be i8")
        _bits_ok(c, self)
        c(_shape(self.operands[0]) == _shape(self.results[0]), "result shape must equal the input shape")
        _check_scale(c, _shape(self.operands[0]), _shape(self.operands[1]), _attr(self, "axis"))
        return c.ok


# ----------------------------------------------------------------------------- weight-only ops
class WLinearOp(QC.Operation, name="wlinear", traits=[Pure]):
    """Weight-only linear: integer weights, f32 activations and arithmetic (w8a16, w4a16).

    w[n, k] = f32(q[n, k]) · scale[n, k // group]; y = x · wᵀ + b in f32.
    x: [..., K] f32; scale: [N, ceil(K / group)] f32; b: [N] f32; attrs bits (2..8), group (> 0).
    bits <= 4: wq is i8 [N, ceil(K/2)], two values per byte along K (element 2j in the low nibble,
    2j+1 in the high nibble, two's complement; see `reference.pack_int4`); bits > 4: wq is i8 [N, K].
    """

    x: Operand[Tensor]
    wq: Operand[Tensor]
    scale: Operand[Tensor]
    b: Operand[Tensor]
    bits: ir.IntegerAttr
    group: ir.IntegerAttr
    y: Result[Tensor]
    reference = staticmethod(ref.wlinear)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        x, w, s, b, y = (_shape(v) for v in (*self.operands, self.results[0]))
        _float_operands(c, self, ["x"])
        c(_int_width(_etype(self.operands[1])) == 8, "wq must be i8")
        c(_is_float(_etype(self.operands[2])) and _is_float(_etype(self.operands[3])), "scale and b must be float")
        bits = _bits_ok(c, self)
        group = _attr(self, "group")
        c(isinstance(group, int) and group > 0, f"'group' must be positive, got {group}")
        if not c.ok:
            return False
        k = x[-1] if x else 0
        kw = -(-k // 2) if bits <= 4 else k
        c(len(w) == 2 and w[1] == kw, f"wq must be [N, {kw}] for K = {k} at {bits} bits, got {w}")
        if not c.ok:
            return False
        n = w[0]
        c(s == [n, -(-k // group)], f"scale must be [{n}, {-(-k // group)}] (groups of {group}), got {s}")
        c(b == [n], f"b must have shape [{n}]")
        c(y == x[:-1] + [n], f"result shape {y} must be {x[:-1] + [n]}")
        return c.ok


class WLinearAsymOp(QC.Operation, name="wlinear_asym", traits=[Pure]):
    """Weight-only linear with asymmetric weights: unsigned codes and a zero point per group (GPTQ/AWQ's int4).

    w[n, k] = f32(i32(q[n, k]) - i32(zp[n, k // group])) · scale[n, k // group]; y = x · wᵀ + b in f32.
    x: [..., K] f32; scale: [N, ceil(K / group)] f32; zp: [N, ceil(K / group)] i8 holding unsigned zero points;
    b: [N] f32; attrs bits (2..8), group (> 0). q holds unsigned codes in [0, 2^bits - 1] as i8 bit patterns:
    bits <= 4 packs two per byte along K (element 2j in the low nibble, 2j+1 in the high nibble; see
    `reference_asym.pack_uint4`), wider codes are i8 [N, K] read as unsigned.
    """

    x: Operand[Tensor]
    wq: Operand[Tensor]
    scale: Operand[Tensor]
    zp: Operand[Tensor]
    b: Operand[Tensor]
    bits: ir.IntegerAttr
    group: ir.IntegerAttr
    y: Result[Tensor]
    reference = staticmethod(ref.wlinear_asym)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        x, w, s, z, b, y = (_shape(v) for v in (*self.operands, self.results[0]))
        _float_operands(c, self, ["x"])
        c(_int_width(_etype(self.operands[1])) == 8, "wq must be i8")
        c(_int_width(_etype(self.operands[3])) == 8, "zp must be i8")
        c(_is_float(_etype(self.operands[2])) and _is_float(_etype(self.operands[4])), "scale and b must be float")
        bits = _bits_ok(c, self)
        group = _attr(self, "group")
        c(isinstance(group, int) and group > 0, f"'group' must be positive, got {group}")
        if not c.ok:
            return False
        k = x[-1] if x else 0
        kw = -(-k // 2) if bits <= 4 else k
        c(len(w) == 2 and w[1] == kw, f"wq must be [N, {kw}] for K = {k} at {bits} bits, got {w}")
        if not c.ok:
            return False
        n, g = w[0], -(-k // group)
        c(s == [n, g], f"scale must be [{n}, {g}] (groups of {group}), got {s}")
        c(z == [n, g], f"zp must be [{n}, {g}] like scale, got {z}")
        c(b == [n], f"b must have shape [{n}]")
        c(y == x[:-1] + [n], f"result shape {y} must be {x[:-1] + [n]}")
        return c.ok
