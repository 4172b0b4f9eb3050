"""qcomp's own torch ops (`torch.ops.qcomp.*`, see `qcomp.lm_step`) -> qc ops, right after the FX import.

torch-mlir imports a custom op as `torch.operator "torch.qcomp.<name>"`, which its backend pipeline rejects
(it knows no value semantics for it). The front end therefore imports raw, turns these operators into their
qc ops between `torch_c` casts (as qc-from-torch does for aten ops) and then runs the backend pipeline.
"""

from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import find_ops
from qcomp.dialects.irutil import i64_attr as _i64
from qcomp.passes.from_torch import builtin_type

KV_ATTENTION = "torch.qcomp.kv_attention"


def _constant(v: ir.Value, what: str, loc):
    op = v.owner
    op = op.operation if isinstance(op, ir.OpView) else op
    if not isinstance(op, ir.Operation) or op.name not in ("torch.constant.int", "torch.constant.float"):
        raise QcompError(f"{loc}: qcomp.kv_attention's {what} must be a constant")
    return op.attributes["value"].value


def _builtin(v: ir.Value) -> ir.Value:

    t = builtin_type(v.type)
    if t is None:
        raise QcompError(f"{v.owner.location if hasattr(v.owner, 'location') else '?'}: expected a static tensor")
    return ir.Operation.create("torch_c.to_builtin_tensor", results=[t], operands=[v]).result


def lower_custom_ops(module: ir.Module) -> int:
    """Replace every `torch.qcomp.kv_attention` operator by qc.kv_attention(_int8); return how many."""

    ops = find_ops(
        module, lambda op: op.name == "torch.operator" and ir.StringAttr(op.attributes["name"]).value == KV_ATTENTION
    )
    with module.context:
        for op in ops:
            q, k, v, kc, vc, ks, vs, pos, layer, scale, window = op.operands
            int8 = str(ks.type) != "!torch.none"
            attrs = {
                "layer": _i64(_constant(layer, "layer", op.location)),
                "scale": ir.FloatAttr.get_f64(_constant(scale, "scale", op.location)),
                "window": _i64(_constant(window, "window", op.location)),
            }
            operands = [q, k, v, kc, vc, *([ks, vs] if int8 else []), pos]
            rt = op.results[0].type
            with ir.InsertionPoint(op), op.location:
                new = ir.Operation.create(
                    "qc.kv_attention_int8" if int8 else "qc.kv_attention",
                    results=[builtin_type(rt)],
                    operands=[_builtin(x) for x in operands],
                    attributes=attrs,
                )
                back = ir.Operation.create("torch_c.from_builtin_tensor", results=[rt], operands=[new.result])
            op.results[0].replace_all_uses_with(back.result)
            op.erase()
    return len(ops)
