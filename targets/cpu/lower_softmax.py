"""CPU lowerings of qc.softmax and qc.masked_softmax (qc op -> linalg text), merged into `lower_qc`'s table.

Both run as one loop over rows (`row_fusion`): max, exp(x - max), sum, divide, each step on a row while it
is in L1. qc.masked_softmax (qc-fuse{mask}: attention scores + an additive mask, torch's safe softmax) adds
the mask as the first step of the same loop, reading the mask row r mod (its rows) (its leading dims are
broadcast); masked_rows = "zero" turns a row whose maximum is -inf (every x + mask is -inf) into 0 in the
divide step. The f32 ops are those of the unfused chain (torch-mlir's add, qc.softmax, the select), so the
results are bit-identical to it.
"""

import math

from .kernels import LANES
from .linalg_text import Fn, T, collapse, dims, f32
from .lower_ops import row_reduce
from .row_fusion import fused_rows

_NEG_INF = f32(-math.inf)


def _softmax_rows(fn: Fn, src: str, x: T, zero_masked_rows: bool = False) -> str:
    full = dims(x.rank)
    mx, rt = row_reduce(fn, src, x, _NEG_INF, ["%r = arith.maximumf %o, %a0 : f32"])
    e = fn.generic(
        x.rank,
        [(src, x, full), (mx, rt, full[:-1])],
        (fn.empty(x), x, full),
        ["%d = arith.subf %a0, %a1 : f32", "%r = math.exp %d : f32"],
        "%r",
    )
    s, _ = row_reduce(fn, e, x, "0.0", ["%r = arith.addf %o, %a0 : f32"])
    if not zero_masked_rows:
        body, ins = ["%r = arith.divf %a0, %a1 : f32"], [(e, x, full), (s, rt, full[:-1])]
    else:
        body = [
            "%p = arith.divf %a0, %a1 : f32",
            f"%ninf = arith.constant {_NEG_INF} : f32",
            "%zero = arith.constant 0.0 : f32",
            "%all = arith.cmpf oeq, %a2, %ninf : f32",
            "%r = arith.select %all, %zero, %p : f32",
        ]
        ins = [(e, x, full), (s, rt, full[:-1]), (mx, rt, full[:-1])]
    return fn.generic(x.rank, ins, (fn.empty(x), x, full), body, "%r")


def lower_softmax(fn: Fn, attrs: dict) -> list[str]:
    with fused_rows(fn):
        return [_softmax_rows(fn, "%arg0", fn.args[0])]


def _masked_scores(fn: Fn, x: T, m: T) -> str:
    """x + mask as the first step of the row loop: row r of x plus row r mod M of the mask ([M, cols])."""
    group = fn.row_group
    rows, cols, mrows = math.prod(x.shape[:-1]), x.shape[-1], math.prod(m.shape[:-1])
    tag = fn.v()[1:]
    xt, mt = T((rows, cols), "f32"), T((mrows, cols), "f32")
    xb, mb, ob = f"%{tag}_x", f"%{tag}_m", f"%{tag}_out"
    fn.emit(f"{xb} = bufferization.to_buffer {collapse(fn, '%arg0', x, xt.shape)} read_only : {xt.s} to {xt.memref}")
    fn.emit(f"{mb} = bufferization.to_buffer {collapse(fn, '%arg1', m, mt.shape)} read_only : {mt.s} to {mt.memref}")
    fn.emit(f"{ob} = memref.alloc() {{alignment = 64 : i64}} : {xt.memref}")
    c0, step, n, mn = (fn.const(str(v), "index") for v in (0, LANES, cols, mrows))
    vt = f"vector<{LANES}xf32>"
    row = [
        f"%{tag}_mr = arith.remui {group.row}, {mn} : index",
        f"scf.for %{tag}_c = {c0} to {n} step {step} {{",
        f"  %{tag}_a = vector.load {xb}[{group.row}, %{tag}_c] : {xt.memref}, {vt}",
        f"  %{tag}_b = vector.load {mb}[%{tag}_mr, %{tag}_c] : {mt.memref}, {vt}",
        f"  %{tag}_s = arith.addf %{tag}_a, %{tag}_b : {vt}",
        f"  vector.store %{tag}_s, {ob}[{group.row}, %{tag}_c] : {xt.memref}, {vt}",
        "}",
    ]
    return group.add(fn, row, (ob, xt), x.shape, rows * cols, rows)


def lower_masked_softmax(fn: Fn, attrs: dict) -> list[str]:
    x, m = fn.args
    zero = attrs["masked_rows"] == "zero"
    with fused_rows(fn):
        if fn.row_group is not None and x.shape[-1] % LANES == 0 and not (x.dynamic or m.dynamic):
            z = _masked_scores(fn, x, m)
        else:  # a plain broadcast add (no vector rows: the softmax steps follow as linalg too)
            full = dims(x.rank)
            mexprs = [d if m.shape[i] == x.shape[i] else "0" for i, d in enumerate(full)]
            body = ["%r = arith.addf %a0, %a1 : f32"]
            z = fn.generic(x.rank, [("%arg0", x, full), ("%arg1", m, mexprs)], (fn.empty(x), x, full), body, "%r")
        return [_softmax_rows(fn, z, x, zero)]


LOWERINGS = {"softmax": lower_softmax, "masked_softmax": lower_masked_softmax}
