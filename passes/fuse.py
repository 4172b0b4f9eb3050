"""qc-fuse: fold elementwise work into the integer matmul's epilogue, norms into their quantization, and drop
redundant quantization.

After qc-quantize, a W8A8 transformer layer reads

    %q, %s = qc.quantize_dynamic(%h)            (once per consumer: Q, K and V each quantize %h)
    %y = qc.qlinear(%q, %s, %w, %ws, %b) {act = "none"}
    %g = qc.gelu(%y)                             (or qc.silu: the gate of a SiLU-gated MLP)

Each rewrite has its own option (all on by default):

- `dedupe`: quantize ops (qc.quantize_dynamic, qc.quantize) with the same operands and attributes become
  one; the three projections of one normalised input quantize it once.
- `act`: a qc.qlinear with act = "none" whose only user is qc.gelu (approximate = "none"), qc.silu or
  qc.relu takes the activation as its `act`, which targets apply to the accumulator in registers (the CPU
  VNNI kernel's epilogue). In a SiLU-gated MLP this moves silu(gate) into the gate projection, leaving
  one qc.mul of the tail.
- `norm`: a qc.rms_norm or qc.layer_norm whose only user is a per-token qc.quantize_dynamic (after
  `dedupe`: the projections a pre-norm block feeds) becomes one qc.rms_norm_quantize /
  qc.layer_norm_quantize; the CPU runs it as one loop over tokens, each normalised row quantized while in L1. A norm
  with another user (the residual of a post-norm block) is left alone.
- `gate`: qc.mul(%g, %y) of a qc.qlinear result %y with no other user becomes qc.qlinear_gated(..., %g):
  the SiLU-gated MLP's ⊙ (after `act` moved silu into the gate projection) goes into the up projection's
  epilogue, so its tail is two GEMMs and no elementwise pass.
- `mask`: attention's additive mask and torch's safe-softmax tail (the host ops around qc.softmax that SDPA
  exports) become one qc.masked_softmax (`attention_mask`).
- `roundtrip`: qc.quantize(qc.dequantize(%q, %s), %s) with the same scale, axis and a width that holds %q
  is %q: dequantize gives q·s and quantizing it again rounds q·s·(1/s) = q(1 ± 4e-7) back to q for
  |q| ≤ 2^15, so a requantize→dequantize pair that only feeds a re-quantization is removed.

A target declares the forms it runs (`Capabilities.fused`, by these option names); run for a target
(`ctx.target`, as qcomp.compile does), the pass makes only the forms that target declares and its options allow.

Every rewrite computes the same values op for op (the fused epilogue runs the same arith as the
standalone op), so fused and unfused builds give bit-identical results; `test_fuse` checks this on models.
Precondition: qc dialect after qc-quantize. Ops that do not match are left alone.
"""

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from qcomp.dialects._mlir import ir
from qcomp.dialects.attrs import FUSED
from qcomp.dialects.weights import constant_array

from .attention_mask import fold_masks
from .channel_fold import producer, users
from .context import PassContext

QUANTIZE_OPS = ("qc.quantize_dynamic", "qc.quantize")
ACTIVATIONS = {"qc.gelu": "gelu", "qc.silu": "silu", "qc.relu": "relu"}


def _str(op, name: str) -> str | None:
    return ir.StringAttr(op.attributes[name]).value if name in op.attributes else None


def _int(op, name: str) -> int:
    return ir.IntegerAttr(op.attributes[name]).value


def _same_scale(a: ir.Value, b: ir.Value) -> bool:
    if a == b:
        return True
    x, y = constant_array(a), constant_array(b)
    return x is not None and y is not None and x.shape == y.shape and np.array_equal(x, y)


def _funcs(module: ir.Module) -> list:
    return [op for op in module.body.operations if op.operation.name == "func.func"]


def _block_ops(func) -> list:
    return [op.operation for op in func.regions[0].blocks[0].operations]


def dedupe(func) -> int:
    seen: dict[tuple, Any] = {}
    n = 0
    for op in _block_ops(func):
        if op.name not in QUANTIZE_OPS:
            continue
        key = (op.name, tuple(op.operands), tuple(sorted((a, str(op.attributes[a])) for a in op.attributes)))
        first = seen.setdefault(key, op)
        if first is op:
            continue
        for old, new in zip(op.results, first.results, strict=True):
            old.replace_all_uses_with(new)
        op.erase()
        n += 1
    return n


def fold_activations(func) -> int:
    n = 0
    for op in _block_ops(func):
        if op.name not in ACTIVATIONS or (op.name == "qc.gelu" and _str(op, "approximate") not in (None, "none")):
            continue
        lin = producer(op.operands[0])
        if lin is None or lin.name != "qc.qlinear" or _str(lin, "act") != "none" or len(users(lin.results[0])) != 1:
            continue
        lin.attributes["act"] = ir.StringAttr.get(ACTIVATIONS[op.name])
        op.results[0].replace_all_uses_with(lin.results[0])
        op.erase()
        n += 1
    return n


def drop_roundtrips(func) -> int:
    n = 0
    for op in _block_ops(func):
        if op.name != "qc.quantize":
            continue
        deq = producer(op.operands[0])
        if deq is None or deq.name != "qc.dequantize":
            continue
        q = deq.operands[0]
        qtype, rtype = ir.RankedTensorType(q.type), ir.RankedTensorType(op.results[0].type)
        if qtype != rtype or _int(deq, "axis") != _int(op, "axis") or not _same_scale(deq.operands[1], op.operands[1]):
            continue
        if ir.IntegerType(qtype.element_type).width > 16 or _int(op, "bits") < ir.IntegerType(qtype.element_type).width:
            continue
        op.results[0].replace_all_uses_with(q)
        op.erase()
        if not users(deq.results[0]):
            deq.erase()
        n += 1
    return n


def fold_gates(func) -> int:
    n = 0
    for op in _block_ops(func):
        if op.name != "qc.mul":
            continue
        gate, y = op.operands
        lin = producer(y)
        if lin is None or lin.name != "qc.qlinear" or len(users(lin.results[0])) != 1 or gate == y:
            continue
        if ir.RankedTensorType(gate.type) != ir.RankedTensorType(y.type):
            continue  # a broadcast gate is not the epilogue's
        with ir.InsertionPoint(op), ir.Location.fused([lin.location, op.location]):
            fused = ir.Operation.create(
                "qc.qlinear_gated",
                results=[op.results[0].type],
                operands=[*lin.operands, gate],
                attributes={name: lin.attributes[name] for name in lin.attributes},
            )
        op.results[0].replace_all_uses_with(fused.results[0])
        op.erase()
        lin.erase()
        n += 1
    return n


NORMS = {"qc.rms_norm": "qc.rms_norm_quantize", "qc.layer_norm": "qc.layer_norm_quantize"}


def fold_norms(func) -> int:
    n = 0
    for op in _block_ops(func):
        if op.name != "qc.quantize_dynamic" or _str(op, "granularity") != "per_token":
            continue
        norm = producer(op.operands[0])
        if norm is None or norm.name not in NORMS or len(users(norm.results[0])) != 1:
            continue
        if ir.RankedTensorType(norm.results[0].type).rank < 2:
            continue
        with ir.InsertionPoint(op), ir.Location.fused([norm.location, op.location]):
            fused = ir.Operation.create(
                NORMS[norm.name],
                results=[r.type for r in op.results],
                operands=list(norm.operands),
                attributes={"eps": norm.attributes["eps"], "bits": op.attributes["bits"]},
            )
        for old, new in zip(op.results, fused.results, strict=True):
            old.replace_all_uses_with(new)
        op.erase()
        norm.erase()
        n += 1
    return n


REWRITES = (
    ("roundtrip", drop_roundtrips),
    ("dedupe", dedupe),
    ("act", fold_activations),
    ("gate", fold_gates),
    ("norm", fold_norms),
    ("mask", fold_masks),
)


@dataclass(frozen=True)
class FusePass:
    """Fold activations into qc.qlinear, norms into their quantization and attention masks into the softmax,
    merge duplicate quantizations, drop quantize round trips.

    Options: dedupe, act, gate, norm, mask, roundtrip (bool, default true each)."""

    name: ClassVar[str] = "qc-fuse"
    dedupe: bool = True
    act: bool = True
    gate: bool = True
    norm: bool = True
    mask: bool = True
    roundtrip: bool = True

    def forms(self, ctx: PassContext | None = None) -> set[str]:
        """The forms this run makes: those its options allow and, run for a target, the target declares."""
        on = {f for f in ("dedupe", "act", "gate", "norm", "mask", "roundtrip") if getattr(self, f)}
        target = ctx.target if ctx is not None else None
        return on if target is None else on & set(target.capabilities.fused)

    def run(self, module: ir.Module, ctx: PassContext | None = None) -> None:
        forms = self.forms(ctx)
        counts = {"dedupe": 0, "act": 0, "gate": 0, "norm": 0, "mask": 0, "roundtrip": 0}
        with module.context, ir.Location.unknown():
            for func in _funcs(module):
                for form, rewrite in REWRITES:  # in this order: a rewrite may enable the next
                    if form in forms:
                        counts[form] += rewrite(func)
            module.operation.attributes[FUSED.name] = ir.DictAttr.get(
                {k: ir.IntegerAttr.get(ir.IntegerType.get_signless(64), v) for k, v in counts.items()}
            )
