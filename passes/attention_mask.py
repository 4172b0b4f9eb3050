"""qc-fuse{mask}: attention's additive mask and torch's safe-softmax tail folded into one qc.masked_softmax.

torch's SDPA (math backend) exports the softmax of the scores as

    %z   = linalg.generic {addf} ins(%s, %mask)           (the mask [1, .., S, S] broadcast over heads)
    %p   = qc.softmax(%z)
    %eq  = linalg.generic {extf; cmpf oeq, -inf} ins(%z)    (i1: which scores are masked)
    %all = linalg.generic {andi, reduce last dim} ins(%eq) outs(fill true)
    %y   = linalg.generic {select} ins(%all, %zeros, %p)   (a fully masked row gives 0, not NaN)

five passes over an [B, H, S, S] tensor, four of them scalar host loops. This rewrite makes it
`qc.masked_softmax(%s, %mask) {masked_rows = "zero"}` (or "nan" where only the add and the softmax are there),
which the CPU runs as one loop over rows. The values are those of the chain: the add is the same f32 add, and
"every score of the row is -inf" is "the row maximum is -inf", which the softmax computes anyway.

Anything else (another user of an intermediate, a mask that is not x's trailing dims after leading 1s, a
select with a non-zero constant) is left alone.
"""

import math

import numpy as np
from qcomp.dialects._mlir import ir
from qcomp.dialects.weights import constant_array

from .channel_fold import producer, users

OEQ = 1  # arith::CmpFPredicate::OEQ


def _generic(v: ir.Value):
    op = producer(v)
    return op if op is not None and op.name == "linalg.generic" else None


def _ins(op) -> list:
    n_in = ir.DenseI32ArrayAttr(op.attributes["operandSegmentSizes"])[0]
    return list(op.operands)[:n_in]


def _body(op) -> tuple[list, list]:
    """(block arguments, the body's ops without the terminator) of a generic whose terminator yields the last
    op's result; ([], []) otherwise."""
    block = op.regions[0].blocks[0]
    ops = [o.operation for o in block.operations]
    if len(ops) < 2 or ops[-1].name != "linalg.yield" or ops[-1].operands[0] != ops[-2].results[0]:
        return [], []
    return list(block.arguments), ops[:-1]


def _maps(op) -> list[str]:
    return [str(ir.AffineMapAttr(a).value).split(" -> ")[1] for a in ir.ArrayAttr(op.attributes["indexing_maps"])]


def _iterators(op) -> list[str]:
    return [str(a).split("<")[-1].rstrip(">") for a in ir.ArrayAttr(op.attributes["iterator_types"])]


def _shape(v: ir.Value) -> list[int]:
    return list(ir.RankedTensorType(v.type).shape)


def _dims(n: int, last: str | None = None) -> str:
    d = [f"d{i}" for i in range(n)]
    return "(" + ", ".join(d[:-1] + [last if last is not None else d[-1]]) + ")"


def _suffix_mask(x: list[int], m: list[int]) -> bool:
    """mask = x's trailing dims after leading dims of size 1 (what qc.masked_softmax accepts)."""
    if len(x) < 2 or len(m) != len(x):
        return False
    lead = next((i for i in range(len(x)) if m[i:] == x[i:]), len(x))
    return lead < len(x) and all(d == 1 for d in m[:lead])


def _scores_plus_mask(add) -> tuple[ir.Value, ir.Value] | None:
    """(scores, mask) when `add` = scores + broadcast mask, elementwise."""
    args, ops = _body(add)
    ins = _ins(add)
    if len(ins) != 2 or len(ops) != 1 or ops[0].name != "arith.addf" or set(_iterators(add)) != {"parallel"}:
        return None
    if {ops[0].operands[0], ops[0].operands[1]} != {args[0], args[1]}:
        return None
    out = _shape(add.results[0])
    maps = _maps(add)
    for i in (0, 1):
        x, m = ins[i], ins[1 - i]
        if _shape(x) != out or maps[i] != _dims(len(out)) or not _suffix_mask(out, _shape(m)):
            continue
        exprs = maps[1 - i].strip("()").split(", ")
        # a broadcast dim reads index 0; a dim of size 1 in both may say either
        ok = all(
            (e == f"d{j}" and s == out[j]) or (e == "0" and s == 1)
            for j, (e, s) in enumerate(zip(exprs, _shape(m), strict=True))
        )
        if ok and str(ir.RankedTensorType(x.type).element_type) == "f32":
            return x, m
    return None


def _is_minus_inf(v: ir.Value) -> bool:
    op = producer(v)
    if op is None or op.name != "arith.constant" or not isinstance(op.attributes["value"], ir.FloatAttr):
        return False
    return ir.FloatAttr(op.attributes["value"]).value == -math.inf


def _masked_scores_test(eq, z: ir.Value) -> bool:
    """`eq` = (z == -inf) elementwise (through an f64 extension or not)."""
    args, ops = _body(eq)
    if _ins(eq) != [z] or not ops or ops[-1].name != "arith.cmpf":
        return False
    cmp = ops[-1]
    if ir.IntegerAttr(cmp.attributes["predicate"]).value != OEQ:
        return False
    src = args[0]
    if len(ops) == 2:
        if ops[0].name != "arith.extf" or ops[0].operands[0] != args[0]:
            return False
        src = ops[0].results[0]
    elif len(ops) != 1:
        return False
    a, b = cmp.operands
    return (a == src and _is_minus_inf(b)) or (b == src and _is_minus_inf(a))


def _row_all(red, eq_result: ir.Value) -> bool:
    """`red` = AND over the last dim of `eq_result`, into a fill of true."""
    args, ops = _body(red)
    rank = len(_shape(eq_result))
    if _ins(red) != [eq_result] or len(ops) != 1 or ops[0].name != "arith.andi":
        return False
    if _iterators(red) != ["parallel"] * (rank - 1) + ["reduction"] or _maps(red) != [_dims(rank), _dims(rank, "0")]:
        return False
    fill = producer(red.operands[1])
    true = producer(fill.operands[0]) if fill is not None and fill.name == "linalg.fill" else None
    return true is not None and true.name == "arith.constant" and str(true.attributes["value"]) == "true"


def _zero_rows(sel, flag: ir.Value, p: ir.Value) -> bool:
    """`sel` = select(flag (per row), +0.0, p)."""
    args, ops = _body(sel)
    ins = _ins(sel)
    if len(ins) != 3 or ins[0] != flag or ins[2] != p or len(ops) != 1 or ops[0].name != "arith.select":
        return False
    if list(ops[0].operands) != args[:3]:
        return False
    rank = len(_shape(p))
    if _maps(sel) != [_dims(rank, "0"), _dims(rank), _dims(rank), _dims(rank)]:
        return False
    zeros = constant_array(ins[1])
    return zeros is not None and not zeros.any() and not np.signbit(zeros).any()


def _safe_tail(others: list, z: ir.Value, sm) -> list | None:
    """[select, all-reduce, eq] when the other users of the scores `z` are torch's safe-softmax tail."""
    if len(others) != 1 or others[0].name != "linalg.generic" or not _masked_scores_test(others[0], z):
        return None
    eq = others[0]
    red = users(eq.results[0])
    if len(red) != 1 or red[0].name != "linalg.generic" or not _row_all(red[0], eq.results[0]):
        return None
    sel = users(red[0].results[0])
    if len(sel) != 1 or sel[0].name != "linalg.generic" or users(sm.results[0]) != sel:
        return None
    return [sel[0], red[0], eq] if _zero_rows(sel[0], red[0].results[0], sm.results[0]) else None


def fold_masks(func) -> int:
    """Rewrite every matching softmax of `func` (see the module docstring); returns how many."""
    n = 0
    block = func.regions[0].blocks[0]
    for sm in [op.operation for op in block.operations if op.operation.name == "qc.softmax"]:
        z = sm.operands[0]
        add = _generic(z)
        found = _scores_plus_mask(add) if add is not None else None
        if found is None:
            continue
        others = [u for u in users(z) if u != sm]
        chain, root, rows = [sm, add], sm, "nan"
        if others:
            tail = _safe_tail(others, z, sm)
            if tail is None:
                continue
            chain, root, rows = [*tail, sm, add], tail[0], "zero"
        with ir.InsertionPoint(root), ir.Location.fused([op.location for op in chain]):
            new = ir.Operation.create(
                "qc.masked_softmax",
                results=[root.results[0].type],
                operands=list(found),
                attributes={"masked_rows": ir.StringAttr.get(rows)},
            )
        root.results[0].replace_all_uses_with(new.results[0])
        for op in chain:
            op.erase()
        n += 1
    return n
