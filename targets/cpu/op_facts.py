"""What the CPU cost model reads off an op: its precision (parsed, or as qc-quantize will make it), tensor
shapes and sizes, and the bytes its weights take at a precision (as qc-quantize stores them)."""

import math

from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.precision import FP32, Precision

_BYTES = {"f64": 8, "i64": 8, "f32": 4, "i32": 4, "f16": 2, "bf16": 2, "i16": 2, "i8": 1, "i1": 1}


# ----------------------------------------------------------------------------- precisions
def parse_precision(text: str) -> Precision:
    """A layer's precision the cost model prices: 'fp32' or 'w<2..8>a<8|16>' with an optional 'g<group>' (none
    or g0: one group per output channel, as qc-quantize's group=0; a8 with a group: qc.qlinear_grouped)."""
    p = Precision.try_parse(text)
    if p is None or not (p == FP32 or (p.is_integer and p.abits in (8, 16))):
        raise QcompError(f"cpu cost: precision {text!r} must be 'fp32' or 'w<2..8>a<8|16>[g<G>]'")
    return p


def op_precision(op) -> str:
    """The precision an op runs at: its `qc.precision` (set by qc-quantize; "fp32" keeps a layer float), else
    for a float layer that qc-assign-precision assigned (`qc.wbits`, `qc.abits`) what qc-quantize will make of
    it (weight-only layers in groups of `qc.wgroup`, default 128), else fp32."""
    op = _op(op)
    attrs = op.attributes
    if "qc.precision" in attrs and isinstance(attrs["qc.precision"], ir.StringAttr):
        return ir.StringAttr(attrs["qc.precision"]).value
    if op.name in ("qc.linear", "qc.conv2d") and "qc.wbits" in attrs and "qc.abits" in attrs:
        wbits, abits = (ir.IntegerAttr(attrs[a]).value for a in ("qc.wbits", "qc.abits"))
        if abits != 16 or op.name != "qc.linear":
            return f"w{wbits}a{abits}"
        group = ir.IntegerAttr(attrs["qc.wgroup"]).value if "qc.wgroup" in attrs else 128
        return f"w{wbits}a{abits}" + (f"g{group}" if group else "")
    return "fp32"


# ----------------------------------------------------------------------------- shapes
def _op(op):
    return op.operation if isinstance(op, ir.OpView) else op


def _tensor(v) -> tuple[tuple[int, ...], int] | None:
    """(shape, bytes per element) of a ranked tensor value, None for anything else."""
    if not isinstance(v.type, ir.RankedTensorType):
        return None
    t = ir.RankedTensorType(v.type)
    return tuple(t.shape), _BYTES.get(str(t.element_type), 4)


def _size(v) -> int:
    t = _tensor(v)
    return math.prod(t[0]) if t else 0


def _nbytes(v) -> int:
    t = _tensor(v)
    return math.prod(t[0]) * t[1] if t else 0


def _shape(v) -> tuple[int, ...]:
    return _tensor(v)[0]


def _is_constant(v) -> bool:
    owner = v.owner
    return not isinstance(owner, ir.Block) and _op(owner).name == "arith.constant"


# ----------------------------------------------------------------------------- weights
def weight_bytes(op, precision: str) -> int:
    """Bytes of the weights (and their scales) a layer stores at `precision`, as qc-quantize stores them:
    f32; integer weights one per byte, or two per byte for weight-only linear layers at <= 4 bits; f32
    scales per group of G input channels (weight-only linear) or per output channel. A quantized op
    counts what it holds; ops without a constant weight, 0. Only shapes are read."""
    op = _op(op)
    held = {
        "qc.qlinear": (2, 3),
        "qc.qlinear_grouped": (2, 3),
        "qc.qlinear_grouped_asym": (2, 3, 4),  # codes one per byte, an f32 scale and an i8 zero point per group
        "qc.wlinear": (1, 2),
        "qc.qconv2d": (2, 3),
    }
    if op.name in held:
        return sum(_nbytes(op.operands[i]) for i in held[op.name])
    if op.name not in ("qc.linear", "qc.conv2d") or len(op.operands) < 2 or not _is_constant(op.operands[1]):
        return 0
    shape = _shape(op.operands[1])
    p = parse_precision(precision)
    n, size = shape[0], math.prod(shape)
    k = size // max(n, 1)
    if p.is_float:
        return 4 * size
    if p.abits == 16 and op.name == "qc.linear":
        return n * (-(-k // 2) if p.wbits <= 4 else k) + 4 * n * -(-k // (p.group or k))
    if p.group and op.name == "qc.linear":  # qc.qlinear_grouped: codes one per byte, an f32 scale per group
        return size + 4 * n * -(-k // p.group)
    return size + 4 * n
