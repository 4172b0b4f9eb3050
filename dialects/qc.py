"""The `qc` dialect: the ops qcomp's passes reason about, defined in Python through IRDL.

Every op has a docstring, a verifier that reports a located diagnostic, and a numpy reference
(`reference`) that *defines* its semantics; every target matches the reference bit-exactly on
integer ops. Ops print and parse in MLIR's generic form, e.g.

    %y = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<4x8xf32>

Integer semantics (fixed once, see `reference.py`): multiply by the inverse scale in f32, round half
to even, saturate to the bit width; weights symmetric in [-(2^(b-1)-1), 2^(b-1)-1]; i32 accumulation.
"""

from . import reference as ref
from ._mlir import Dialect, Operand, Pure, Result, ext, ir

Tensor = ir.RankedTensorType


class DenseArray(ir.Attribute):
    """Stand-in so IRDL can constrain an attribute to `array<i64: ...>` (the binding class has no attr_name)."""

    attr_name = "builtin.dense_array"


ACTIVATIONS = ("none", "relu", "gelu", "silu")


class QC(Dialect, name="qc"):
    pass


# ----------------------------------------------------------------------------- verifier helpers
def _shape(v: ir.Value) -> list[int]:
    return list(ir.RankedTensorType(v.type).shape)


def _etype(v: ir.Value) -> ir.Type:
    return ir.RankedTensorType(v.type).element_type


def _is_float(t: ir.Type) -> bool:
    return isinstance(t, ir.F32Type | ir.F16Type | ir.BF16Type | ir.F64Type)


def _int_width(t: ir.Type) -> "int | None":
    return ir.IntegerType(t).width if isinstance(t, ir.IntegerType) else None


def _attr(op, name: str):
    a = op.attributes[name]
    if isinstance(a, ir.IntegerAttr | ir.FloatAttr):
        return a.value
    if isinstance(a, ir.StringAttr):
        return a.value
    if isinstance(a, ir.DenseI64ArrayAttr):
        return list(a)
    return a


class _Check:
    """Collects the first failed invariant of an op and reports it at the op's location."""

    emitted = 0  # diagnostics emitted so far (lets the guard stay silent after a reported failure)

    def __init__(self, op):
        self.op, self.ok = op, True

    def __call__(self, cond: bool, msg: str) -> bool:
        if self.ok and not cond:
            self.op.location.emit_error(f"'{self.op.operation.name}' op {msg}")
            self.ok = False
            _Check.emitted += 1
        return self.ok


def _float_operands(c: _Check, op, names: list[str]) -> None:
    for i, n in enumerate(names):
        c(_is_float(_etype(op.operands[i])), f"operand '{n}' must have a float element type")


def _same_as_result(c: _Check, op, idx: int = 0) -> None:
    c(_shape(op.operands[idx]) == _shape(op.results[0]), "result shape must equal the input shape")
    c(_etype(op.operands[idx]) == _etype(op.results[0]), "result element type must equal the input's")


def _bits_ok(c: _Check, op) -> int:
    bits = _attr(op, "bits")
    c(2 <= bits <= 8, f"'bits' must be in [2, 8], got {bits}")
    return bits


# ----------------------------------------------------------------------------- compute ops
class LinearOp(QC.Operation, name="linear", traits=[Pure]):
    """y = x·Wᵀ + b. x: [..., K], w: [N, K], b: [N], y: [..., N] (float)."""

    x: Operand[Tensor]
    w: Operand[Tensor]
    b: Operand[Tensor]
    y: Result[Tensor]
    reference = staticmethod(ref.linear)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        x, w, b, y = (
            _shape(self.operands[0]),
            _shape(self.operands[1]),
            _shape(self.operands[2]),
            _shape(self.results[0]),
        )
        _float_operands(c, self, ["x", "w", "b"])
        c(len(w) == 2, f"weight must be rank 2 [N, K], got rank {len(w)}")
        c(len(x) >= 1 and x[-1] == w[1], f"input features {x[-1:]} do not match weight K={w[1:2]}")
        c(b == w[:1], f"bias shape {b} must be [N] = {w[:1]}")
        c(y == x[:-1] + w[:1], f"result shape {y} must be {x[:-1] + w[:1]}")
        return c.ok


class MatmulOp(QC.Operation, name="matmul", traits=[Pure]):
    """Batched activation × activation product: a [..., M, K] · b [..., K, N] -> [..., M, N] (float)."""

    a: Operand[Tensor]
    b: Operand[Tensor]
    y: Result[Tensor]
    reference = staticmethod(ref.matmul)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        a, b, y = _shape(self.operands[0]), _shape(self.operands[1]), _shape(self.results[0])
        _float_operands(c, self, ["a", "b"])
        c(len(a) >= 2 and len(a) == len(b), f"operands must have equal rank >= 2, got {len(a)} and {len(b)}")
        c(a[:-2] == b[:-2], f"batch dimensions differ: {a[:-2]} vs {b[:-2]}")
        c(a[-1] == b[-2], f"contraction sizes differ: K={a[-1]} vs {b[-2]}")
        c(y == a[:-1] + b[-1:], f"result shape {y} must be {a[:-1] + b[-1:]}")
        return c.ok


class Conv2dOp(QC.Operation, name="conv2d", traits=[Pure]):
    """2-D convolution, NCHW input, OIHW weight, bias [O]; attrs stride, padding, dilation ([h, w]) and groups."""

    x: Operand[Tensor]
    w: Operand[Tensor]
    b: Operand[Tensor]
    stride: DenseArray
    padding: DenseArray
    dilation: DenseArray
    groups: ir.IntegerAttr
    y: Result[Tensor]
    reference = staticmethod(ref.conv2d)

    def verify_invariants(self) -> bool:
        return _verify_conv(self, ["x", "w", "b"], 0, 1, 2)


def _verify_conv(op, float_names: list[str], xi: int, wi: int, bi: int) -> bool:
    c = _Check(op)
    if float_names:
        _float_operands(c, op, float_names)
    x, w, b = (_shape(op.operands[i]) for i in (xi, wi, bi))
    y = _shape(op.results[0])
    st, pad, dil, g = (_attr(op, n) for n in ("stride", "padding", "dilation", "groups"))
    for n, v in (("stride", st), ("padding", pad), ("dilation", dil)):
        c(len(v) == 2, f"'{n}' must have 2 entries [h, w], got {len(v)}")
    c(min(st + dil, default=1) >= 1 and min(pad, default=0) >= 0, "stride/dilation must be >= 1, padding >= 0")
    c(len(x) == 4 and len(w) == 4, "input and weight must be rank 4 (NCHW, OIHW)")
    if not c.ok:
        return False
    c(g == 1, f"only groups=1 is supported, got {g}")
    c(x[1] == w[1] * g, f"input channels {x[1]} do not match weight {w[1]} x groups {g}")
    c(b == [w[0]], f"bias shape {b} must be [{w[0]}]")
    oh = (x[2] + 2 * pad[0] - dil[0] * (w[2] - 1) - 1) // st[0] + 1
    ow = (x[3] + 2 * pad[1] - dil[1] * (w[3] - 1) - 1) // st[1] + 1
    c(y == [x[0], w[0], oh, ow], f"result shape {y} must be {[x[0], w[0], oh, ow]}")
    return c.ok


class EmbeddingOp(QC.Operation, name="embedding", traits=[Pure]):
    """y[..., :] = w[ids[...], :]. w: [V, D] float, ids: integer tensor; an id outside [0, V) gives a NaN row."""

    w: Operand[Tensor]
    ids: Operand[Tensor]
    y: Result[Tensor]
    reference = staticmethod(ref.embedding)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        w, ids, y = _shape(self.operands[0]), _shape(self.operands[1]), _shape(self.results[0])
        c(len(w) == 2, f"table must be rank 2 [V, D], got rank {len(w)}")
        c(_int_width(_etype(self.operands[1])) is not None, "ids must have an integer element type")
        c(y == ids + w[1:], f"result shape {y} must be {ids + w[1:]}")
        return c.ok


class LayerNormOp(QC.Operation, name="layer_norm", traits=[Pure]):
    """LayerNorm over the last dimension: (x - mean) / sqrt(var + eps) * gamma + beta (biased variance)."""

    x: Operand[Tensor]
    gamma: Operand[Tensor]
    beta: Operand[Tensor]
    eps: ir.FloatAttr
    y: Result[Tensor]
    reference = staticmethod(ref.layer_norm)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        _float_operands(c, self, ["x", "gamma", "beta"])
        d = _shape(self.operands[0])[-1:]
        c(_shape(self.operands[1]) == d and _shape(self.operands[2]) == d, f"gamma and beta must have shape {d}")
        c(_attr(self, "eps") > 0, "'eps' must be positive")
        _same_as_result(c, self)
        return c.ok


class RmsNormOp(QC.Operation, name="rms_norm", traits=[Pure]):
    """RMSNorm over the last dimension: x / sqrt(mean(x²) + eps) * gamma."""

    x: Operand[Tensor]
    gamma: Operand[Tensor]
    eps: ir.FloatAttr
    y: Result[Tensor]
    reference = staticmethod(ref.rms_norm)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        _float_operands(c, self, ["x", "gamma"])
        d = _shape(self.operands[0])[-1:]
        c(_shape(self.operands[1]) == d, f"gamma must have shape {d}")
        c(_attr(self, "eps") > 0, "'eps' must be positive")
        _same_as_result(c, self)
        return c.ok


class SoftmaxOp(QC.Operation, name="softmax", traits=[Pure]):
    """Softmax along the last dimension, computed as exp(x - max) / sum (attr axis must be -1 or rank-1)."""

    x: Operand[Tensor]
    axis: ir.IntegerAttr
    y: Result[Tensor]
    reference = staticmethod(ref.softmax)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        _float_operands(c, self, ["x"])
        rank = len(_shape(self.operands[0]))
        c(_attr(self, "axis") in (-1, rank - 1), f"only the last axis is supported, got axis {_attr(self, 'axis')}")
        _same_as_result(c, self)
        return c.ok


class MaskedSoftmaxOp(QC.Operation, name="masked_softmax", traits=[Pure]):
    """Softmax of x + mask along the last dimension (attention scores plus an additive mask; qc-fuse{mask}).

    mask has x's rank: leading dims of size 1 (broadcast), then x's trailing dims (e.g. [1, 1, S, S] for scores
    [B, H, S, S]). masked_rows = "zero": a row whose every x + mask is -inf gives 0 (torch's _safe_softmax,
    what SDPA runs); "nan": such a row gives NaN, as plain softmax does.
    """

    x: Operand[Tensor]
    mask: Operand[Tensor]
    masked_rows: ir.StringAttr
    y: Result[Tensor]
    reference = staticmethod(ref.masked_softmax)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        _float_operands(c, self, ["x", "mask"])
        x, m = _shape(self.operands[0]), _shape(self.operands[1])
        c(_attr(self, "masked_rows") in ("zero", "nan"), "'masked_rows' must be zero or nan")
        c(len(x) >= 2 and len(m) == len(x), f"mask must have the rank of x ({len(x)} >= 2), got {m}")
        if c.ok:
            lead = next((i for i in range(len(x)) if m[i:] == x[i:]), len(x))
            c(
                lead < len(x) and all(d == 1 for d in m[:lead]),
                f"mask {m} must be x's trailing dims {x} after leading dims of size 1",
            )
        _same_as_result(c, self)
        return c.ok


def _verify_unary(self) -> bool:
    """Shared verifier of elementwise float ops with one operand."""
    c = _Check(self)
    _float_operands(c, self, ["x"])
    _same_as_result(c, self)
    return c.ok


class GeluOp(QC.Operation, name="gelu", traits=[Pure]):
    """GELU; attr approximate = "none" (erf form) or "tanh"."""

    x: Operand[Tensor]
    approximate: ir.StringAttr
    y: Result[Tensor]
    reference = staticmethod(ref.gelu)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        c(_attr(self, "approximate") in ("none", "tanh"), '\'approximate\' must be "none" or "tanh"')
        return c.ok and _verify_unary(self)


class SiluOp(QC.Operation, name="silu", traits=[Pure]):
    """SiLU: x · sigmoid(x)."""

    x: Operand[Tensor]
    y: Result[Tensor]
    reference = staticmethod(ref.silu)
    verify_invariants = _verify_unary


class ReluOp(QC.Operation, name="relu", traits=[Pure]):
    """ReLU: max(x, 0)."""

    x: Operand[Tensor]
    y: Result[Tensor]
    reference = staticmethod(ref.relu)
    verify_invariants = _verify_unary


def _verify_binary(self) -> bool:
    """Shared verifier of same-shape elementwise float ops."""
    c = _Check(self)
    _float_operands(c, self, ["lhs", "rhs"])
    c(_shape(self.operands[0]) == _shape(self.operands[1]), "operands must have the same shape")
    _same_as_result(c, self)
    return c.ok


class AddOp(QC.Operation, name="add", traits=[Pure]):
    """Elementwise lhs + rhs (same shapes)."""

    lhs: Operand[Tensor]
    rhs: Operand[Tensor]
    y: Result[Tensor]
    reference = staticmethod(ref.add)
    verify_invariants = _verify_binary


class MulOp(QC.Operation, name="mul", traits=[Pure]):
    """Elementwise lhs · rhs (same shapes)."""

    lhs: Operand[Tensor]
    rhs: Operand[Tensor]
    y: Result[Tensor]
    reference = staticmethod(ref.mul)
    verify_invariants = _verify_binary


class ChannelScaleOp(QC.Operation, name="channel_scale", traits=[Pure]):
    """x · diag(s): scales the last dimension of x by s [C] (SmoothQuant's explicit smoothing)."""

    x: Operand[Tensor]
    s: Operand[Tensor]
    y: Result[Tensor]
    reference = staticmethod(ref.channel_scale)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        _float_operands(c, self, ["x", "s"])
        c(_shape(self.operands[1]) == _shape(self.operands[0])[-1:], "scale must have the shape of the last dim")
        _same_as_result(c, self)
        return c.ok


class ChannelPermuteOp(QC.Operation, name="channel_permute", traits=[Pure]):
    """y[..., j] = x[..., perm[j]]: permutes the last dimension."""

    x: Operand[Tensor]
    perm: DenseArray
    y: Result[Tensor]
    reference = staticmethod(ref.channel_permute)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        perm = _attr(self, "perm")
        c(sorted(perm) == list(range(_shape(self.operands[0])[-1])), "'perm' must be a permutation of the last dim")
        _same_as_result(c, self)
        return c.ok


def allows_dynamic(op_name: str, shape, operand: int | None) -> bool:
    """Whether a value of `shape` may be operand `operand` (None: the result) of `op_name` (`?` sizes from
    `qcomp.compile(dynamic_shapes=...)`): dynamic sizes are allowed in any dimension but the last, and in the
    last one of a qc.matmul's second operand and result (attention's key length)."""
    dyn = [i for i, d in enumerate(shape) if ir.ShapedType.is_dynamic_size(d)]
    if not dyn or dyn[-1] < len(shape) - 1:
        return True
    return op_name == "qc.matmul" and operand != 0


def _dynamic_ok(v: ir.Value, op) -> bool:
    operands = list(op.operands)
    idx = next((i for i, o in enumerate(operands) if o == v), None)
    return allows_dynamic(op.operation.name, _shape(v), idx)


def _guarded(cls, verify):
    """Run an op's verifier so that malformed IR (missing operands or attributes, wrong attribute kinds,
    non-tensor or dynamically shaped values) yields a located diagnostic, never a Python exception."""

    operands, attrs, results, _ = ext.partition_fields(cls._fields)

    def verify_invariants(self) -> bool:
        c = _Check(self)
        if len(self.operands) != len(operands) or len(self.results) != len(results):
            return c(
                False,
                f"expects {len(operands)} operands and {len(results)} results, "
                f"got {len(self.operands)} and {len(self.results)}",
            )
        for a in attrs:
            if a.name not in self.attributes:
                return c(False, f"requires attribute '{a.name}'")
        for v in [*self.operands, *self.results]:
            if not isinstance(v.type, ir.RankedTensorType):
                return c(False, f"expects ranked tensor operands and results, got {v.type}")
            if not ir.RankedTensorType(v.type).has_static_shape and not _dynamic_ok(v, self):
                return c(False, f"expects static shapes but for leading (row) dimensions, got {v.type}")
        before = _Check.emitted
        try:
            return verify(self)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
            if _Check.emitted != before:  # the real problem was reported; later checks tripped over it
                return False
            return c(False, f"is malformed ({type(e).__name__}: {e}); see the op's definition in qcomp.dialects.qc")

    return verify_invariants
