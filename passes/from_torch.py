"""qc-from-torch: torch dialect -> qc ops on builtin tensors, plus linalg host code for the rest.

Quantizable and structural aten ops (linear, addmm/mm with a constant weight, matmul, conv2d,
embedding, layer_norm, softmax, gelu, silu, relu, same-shape add/mul) become qc ops between
`torch_c` casts; weights that are literals become `arith.constant`s read through `qcomp.weights`.
Every other op is lowered by torch-mlir's own torch->linalg conversions ("host ops"), so an op
qcomp does not know never stops a compile. The names and counts of host ops are recorded in the
module attribute `qc.host_ops`.

Precondition: a torch-dialect module in value semantics (torch-mlir's OutputType.TORCH).
"""

import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from qcomp.dialects._mlir import PassFailure, ir, rewrite, run_pipeline
from qcomp.dialects.errors import QcompError, mlir_error_text
from qcomp.dialects.irutil import count_ops, find_ops, first_op
from qcomp.dialects.irutil import i64_attr as _i64
from qcomp.dialects.qc import allows_dynamic
from qcomp.dialects.weights import constant_array, make_constant

from .safe_indexing import clamp_gather_indices, clamp_scatter_indices

# torch-backend-to-linalg-on-tensors-backend-pipeline without its final contract check (qc ops stay), after
# decomposing what the front end kept whole but qc-from-torch declined (e.g. softmax over dim 0)
TORCH_TO_LINALG = (
    "func.func(torch-decompose-complex-ops),func.func(torch-restructure-non-constant-axes),func.func(torch-fuse-quantized-ops),"
    "func.func(convert-torch-to-tmtensor),func.func(canonicalize),func.func(convert-torch-to-linalg),"
    "func.func(canonicalize),func.func(convert-torch-to-scf),func.func(convert-torch-to-arith),"
    "func.func(convert-torch-to-tensor),convert-torch-conversion-to-mlprogram,func.func(memref-expand),"
    "func.func(canonicalize),func.func(resolve-shaped-type-result-dims),func.func(cse),"
    "torch-func-backend-type-conversion,func.func(canonicalize),func.func(torch-finalizing-backend-type-conversion)"
)

_DTYPES = {
    "f32": "f32",
    "f16": "f16",
    "bf16": "bf16",
    "f64": "f64",
    "si8": "i8",
    "ui8": "i8",
    "si32": "i32",
    "si64": "i64",
    "i1": "i1",
}


# ----------------------------------------------------------------------------- helpers
def builtin_type(t: ir.Type) -> ir.RankedTensorType | None:
    """!torch.vtensor<[?,16],f32> -> tensor<?x16xf32>; None for unknown types."""
    m = re.fullmatch(r"!torch\.vtensor<\[([^\]]*)\],(\w+)>", str(t))
    if not m or m.group(2) not in _DTYPES:
        return None
    shape = [ir.ShapedType.get_dynamic_size() if d == "?" else int(d) for d in m.group(1).split(",") if d]
    return ir.RankedTensorType.get(shape, ir.Type.parse(_DTYPES[m.group(2)]))


def const(v: ir.Value):
    """The Python value of a torch constant (int/float/bool/str/none/list), or raise LookupError."""
    op = v.owner
    op = op.operation if isinstance(op, ir.OpView) else op
    if not isinstance(op, ir.Operation):
        raise LookupError
    if op.name == "torch.constant.none":
        return None
    if op.name in ("torch.constant.int", "torch.constant.float", "torch.constant.bool", "torch.constant.str"):
        a = op.attributes["value"]
        return a.value if not isinstance(a, ir.BoolAttr) else bool(a.value)
    if op.name == "torch.prim.ListConstruct":
        return [const(x) for x in op.operands]
    raise LookupError


def _to_builtin(v: ir.Value) -> ir.Value:
    arr = constant_array(v)
    if arr is not None:
        return make_constant(arr)
    t = builtin_type(v.type)
    return ir.Operation.create("torch_c.to_builtin_tensor", results=[t], operands=[v]).result


def _f32_tensor(v: ir.Value) -> bool:
    t = builtin_type(v.type)
    return t is not None and isinstance(t.element_type, ir.F32Type)


def _shape(v: ir.Value) -> list[int]:
    t = builtin_type(v.type)
    assert t is not None, f"not a tensor: {v.type}"
    return list(t.shape)


def _emit(op, rewriter, name: str, operands: list, attrs: dict | None = None, const_operands=()) -> bool:
    """Replace torch `op` by `name`(operands) between casts. Returns False (= matched) like a pattern."""
    rt = op.results[0].type
    shapes = [(None, builtin_type(rt))] + [
        (i, builtin_type(a.type)) for i, a in enumerate(operands) if isinstance(a, ir.Value)
    ]
    if any(t is None or not allows_dynamic(name, t.shape, i) for i, t in shapes):
        return True  # a dynamic size where the qc op needs a static one: host code
    with rewriter.ip, op.location:
        vals = [make_constant(a) if isinstance(a, np.ndarray) else _to_builtin(a) for a in operands]
        new = ir.Operation.create(name, results=[builtin_type(rt)], operands=vals, attributes=attrs or {})
        back = ir.Operation.create("torch_c.from_builtin_tensor", results=[rt], operands=[new.result])
    rewriter.replace_op(op, back)
    return False


# ----------------------------------------------------------------------------- patterns
# Each returns True for "no match" (the op stays and becomes host code) and False when rewritten.
def _linear(op, rw):
    x, w, b = op.operands
    if not (_f32_tensor(x) and _f32_tensor(w)) or len(_shape(w)) != 2:
        return True
    bias = b if str(b.type) != "!torch.none" else np.zeros(_shape(w)[0], np.float32)
    return _emit(op, rw, "qc.linear", [x, w, bias])


def _addmm(op, rw):
    bias, x, w, beta, alpha = op.operands
    wa = constant_array(w)
    try:
        ok = const(beta) == 1 and const(alpha) == 1
    except LookupError:
        ok = False
    if not ok or wa is None or not _f32_tensor(x) or _shape(bias) != [_shape(w)[1]]:
        return True
    return _emit(op, rw, "qc.linear", [x, np.ascontiguousarray(wa.T), bias])


def _matmul(op, rw):
    a, b = op.operands
    if not (_f32_tensor(a) and _f32_tensor(b)):
        return True
    sa, sb = _shape(a), _shape(b)
    wb = constant_array(b)
    if wb is not None and len(sb) == 2 and len(sa) >= 2:  # x @ W with a constant W is a linear layer
        return _emit(op, rw, "qc.linear", [a, np.ascontiguousarray(wb.T), np.zeros(sb[1], np.float32)])
    if len(sa) >= 2 and len(sa) == len(sb) and sa[:-2] == sb[:-2]:
        return _emit(op, rw, "qc.matmul", [a, b])
    return True


def _conv2d(op, rw):
    x, w, b, stride, padding, dilation, groups = op.operands
    try:
        st, pad, dil, g = const(stride), const(padding), const(dilation), const(groups)
    except LookupError:
        return True
    if not isinstance(pad, list) or g != 1 or not (_f32_tensor(x) and _f32_tensor(w)) or len(_shape(x)) not in (3, 4):
        return True
    if any(d < 0 for d in _shape(x)[1:]):  # dynamic channels or image size: host code
        return True
    bias = b if str(b.type) != "!torch.none" else np.zeros(_shape(w)[0], np.float32)
    two = lambda v: list(v) * 2 if len(v) == 1 else list(v)  # noqa: E731
    attrs = {
        "stride": ir.DenseI64ArrayAttr.get(two(st)),
        "padding": ir.DenseI64ArrayAttr.get(two(pad)),
        "dilation": ir.DenseI64ArrayAttr.get(two(dil)),
        "groups": _i64(g),
    }
    if len(_shape(x)) == 3:  # unbatched [C, H, W]: run as a batch of one (torch-mlir crashes on this form)
        return _emit_unbatched_conv(op, rw, [x, w, bias], attrs)
    return _emit(op, rw, "qc.conv2d", [x, w, bias], attrs)


def _reshape(kind: str, v: ir.Value, shape: list[int]) -> ir.Value:
    """tensor.expand_shape / collapse_shape between [C, H, W] and [1, C, H, W]."""
    et = ir.RankedTensorType(v.type).element_type
    groups = ir.ArrayAttr.get([ir.ArrayAttr.get([_i64(0), _i64(1)]), *[ir.ArrayAttr.get([_i64(i)]) for i in (2, 3)]])
    attrs = {"reassociation": groups}
    if kind == "tensor.expand_shape":
        attrs["static_output_shape"] = ir.DenseI64ArrayAttr.get(shape)
    t = ir.RankedTensorType.get(shape, et)
    return ir.Operation.create(kind, results=[t], operands=[v], attributes=attrs).result


def _emit_unbatched_conv(op, rw, operands, attrs) -> bool:
    rt = op.results[0].type
    out = _shape(op.results[0])
    with rw.ip, op.location:
        x, w, b = (make_constant(a) if isinstance(a, np.ndarray) else _to_builtin(a) for a in operands)
        x4 = _reshape("tensor.expand_shape", x, [1, *ir.RankedTensorType(x.type).shape])
        t4 = ir.RankedTensorType.get([1, *out], ir.F32Type.get())
        y4 = ir.Operation.create("qc.conv2d", results=[t4], operands=[x4, w, b], attributes=attrs).result
        y = _reshape("tensor.collapse_shape", y4, out)
        back = ir.Operation.create("torch_c.from_builtin_tensor", results=[rt], operands=[y])
    rw.replace_op(op, back)
    return False


def _embedding(op, rw):
    w, ids = op.operands[0], op.operands[1]
    if not _f32_tensor(w) or builtin_type(ids.type) is None:
        return True
    return _emit(op, rw, "qc.embedding", [w, ids])


def _layer_norm(op, rw):
    x, shape, g, b, eps = op.operands[:5]
    try:
        shape, eps = const(shape), const(eps)
    except LookupError:
        return True
    if not _f32_tensor(x) or shape != _shape(x)[-1:] or not eps > 0:
        return True
    d = shape[0]
    gamma = g if str(g.type) != "!torch.none" else np.ones(d, np.float32)
    beta = b if str(b.type) != "!torch.none" else np.zeros(d, np.float32)
    return _emit(op, rw, "qc.layer_norm", [x, gamma, beta], {"eps": ir.FloatAttr.get_f64(eps)})


def _softmax(op, rw):
    x, dim, dtype = op.operands
    try:
        dim, dtype = const(dim), const(dtype)
    except LookupError:
        return True
    rank = len(_shape(x)) if builtin_type(x.type) else 0
    if dtype is not None or not _f32_tensor(x) or dim not in (-1, rank - 1):
        return True
    return _emit(op, rw, "qc.softmax", [x], {"axis": _i64(-1)})


def _gelu(op, rw):
    x, approx = op.operands
    try:
        approx = const(approx)
    except LookupError:
        return True
    if not _f32_tensor(x) or approx not in ("none", "tanh"):
        return True
    return _emit(op, rw, "qc.gelu", [x], {"approximate": ir.StringAttr.get(approx)})


def _unary(name):
    def pattern(op, rw):
        if not _f32_tensor(op.operands[0]):
            return True
        return _emit(op, rw, name, [op.operands[0]])

    return pattern


def _binary(name):
    def pattern(op, rw):
        a, b = op.operands[0], op.operands[1]
        if not (_f32_tensor(a) and _f32_tensor(b)) or _shape(a) != _shape(b):
            return True
        if len(op.operands) == 3:  # add.Tensor's alpha
            try:
                if const(op.operands[2]) != 1:
                    return True
            except LookupError:
                return True
        return _emit(op, rw, name, [a, b])

    return pattern


PATTERNS = {
    "torch.aten.linear": _linear,
    "torch.aten.addmm": _addmm,
    "torch.aten.matmul": _matmul,
    "torch.aten.mm": _matmul,
    "torch.aten.bmm": _matmul,
    "torch.aten.conv2d": _conv2d,
    "torch.aten.embedding": _embedding,
    "torch.aten.layer_norm": _layer_norm,
    "torch.aten.softmax.int": _softmax,
    "torch.aten.gelu": _gelu,
    "torch.aten.silu": _unary("qc.silu"),
    "torch.aten.relu": _unary("qc.relu"),
    "torch.aten.add.Tensor": _binary("qc.add"),
    "torch.aten.mul.Tensor": _binary("qc.mul"),
}


def erase_dead_torch_ops(module: ir.Module) -> None:
    """Erase torch ops (and constants) whose results are unused, so host-op counts reflect real work."""
    prefixes = ("torch.aten.", "torch.prim.", "torch.constant.", "torch.vtensor.literal")
    while True:
        dead = find_ops(module, lambda op: op.name.startswith(prefixes) and all(not list(r.uses) for r in op.results))
        if not dead:
            return
        for op in dead:
            op.erase()


@dataclass(frozen=True)
class FromTorchPass:
    """Convert a torch-dialect module into qc ops plus linalg host code (see module docstring).

    Options: none.
    """

    name: ClassVar[str] = "qc-from-torch"

    def run(self, module: ir.Module) -> None:
        signatures = [
            str(op.attributes["function_type"]) for op in module.body.operations if "function_type" in op.attributes
        ]
        if not count_ops(module, "torch.") and not any("!torch." in t for t in signatures):
            return  # nothing torch left (a model that returns its input unchanged still has torch types)
        with module.context, ir.Location.unknown():
            self._run(module)

    def _run(self, module: ir.Module) -> None:
        ps = rewrite.RewritePatternSet()
        for root, fn in PATTERNS.items():
            ps.add(root, fn)
        rewrite.apply_patterns_and_fold_greedily(module, ps.freeze())
        erase_dead_torch_ops(module)
        host = count_ops(module, "torch.aten.")
        module.operation.attributes["qc.host_ops"] = ir.DictAttr.get({k: _i64(v) for k, v in sorted(host.items())})
        try:
            run_pipeline(module, TORCH_TO_LINALG)
        except PassFailure as e:
            raise QcompError(f"torch-mlir could not lower the host ops: {mlir_error_text(e).splitlines()[0]}") from e
        clamp_gather_indices(module)  # x[idx] with an index the model computed: never a read outside the tensor
        clamp_scatter_indices(module)  # x[idx] = v: never a write outside the tensor
        left = first_op(module, "torch")
        if left is not None:
            raise QcompError(f"{left.location}: host op '{left.name}' has no lowering to linalg in torch-mlir")
