"""qc op -> linalg, one function per op, written as MLIR text into a private function.

Each `lower_<op>(fn, attrs)` reads its operands as %arg0.. (types in `fn.args`) and returns the
SSA names of its results. The arithmetic follows `qcomp.dialects.reference` operation by operation
(same f32 operations in the same order), so integer ops match the reference bit-exactly.
"""

import math

from . import gemm_ops
from .linalg_text import Fn, T, dims, f32
from .row_fusion import fused_rows

ACT = {
    "none": lambda fn, x: ([], x),
    "relu": lambda fn, x: (["%relu0 = arith.constant 0.0 : f32", f"%relu = arith.maximumf {x}, %relu0 : f32"], "%relu"),
    "silu": lambda fn, x: (_silu_lines(x, "s"), "%s_y"),
    "gelu": lambda fn, x: (_gelu_lines(x, "g", "none"), "%g_y"),
}


def _silu_lines(x: str, p: str) -> list[str]:
    return [
        f"%{p}_one = arith.constant 1.0 : f32",
        f"%{p}_n = arith.negf {x} : f32",
        f"%{p}_e = math.exp %{p}_n : f32",
        f"%{p}_d = arith.addf %{p}_one, %{p}_e : f32",
        f"%{p}_y = arith.divf {x}, %{p}_d : f32",
    ]


def _gelu_lines(x: str, p: str, approximate: str) -> list[str]:
    head = [
        f"%{p}_half = arith.constant 0.5 : f32",
        f"%{p}_one = arith.constant 1.0 : f32",
        f"%{p}_hx = arith.mulf %{p}_half, {x} : f32",
    ]
    if approximate == "tanh":
        body = [
            f"%{p}_c = arith.constant {f32(math.sqrt(2 / math.pi))} : f32",
            f"%{p}_k = arith.constant {f32(0.044715)} : f32",
            f"%{p}_x2 = arith.mulf %{p}_k, {x} : f32",
            f"%{p}_x3 = arith.mulf %{p}_x2, {x} : f32",
            f"%{p}_x4 = arith.mulf %{p}_x3, {x} : f32",
            f"%{p}_s = arith.addf {x}, %{p}_x4 : f32",
            f"%{p}_i = arith.mulf %{p}_c, %{p}_s : f32",
            f"%{p}_t = math.tanh %{p}_i : f32",
        ]
    else:
        body = [
            f"%{p}_r2 = arith.constant {f32(math.sqrt(2))} : f32",
            f"%{p}_q = arith.divf {x}, %{p}_r2 : f32",
            f"%{p}_t = math.erf %{p}_q : f32",
        ]
    return [*head, *body, f"%{p}_u = arith.addf %{p}_one, %{p}_t : f32", f"%{p}_y = arith.mulf %{p}_hx, %{p}_u : f32"]


def _quant_lines(x: str, inv: str, bits: int) -> list[str]:
    q = (1 << (bits - 1)) - 1
    return [
        f"%q_m = arith.mulf {x}, {inv} : f32",
        "%q_r = math.roundeven %q_m : f32",
        f"%q_lo = arith.constant {float(-q)} : f32",
        f"%q_hi = arith.constant {float(q)} : f32",
        "%q_a = arith.maximumf %q_r, %q_lo : f32",
        "%q_b = arith.minimumf %q_a, %q_hi : f32",
        "%q_nan = arith.cmpf uno, %q_b, %q_b : f32",  # NaN -> code 0 (reference._saturate)
        "%q_0 = arith.constant 0.0 : f32",
        "%q_c = arith.select %q_nan, %q_0, %q_b : f32",
        "%q_i = arith.fptosi %q_c : f32 to i8",
    ]


def _scale_exprs(scale: T, x: T, axis: int) -> list[str]:
    return ["0"] if scale.shape == (1,) else [f"d{axis % x.rank}"]


def _same(fn: Fn, ins_: list[int], body: list[str], yield_: str, elem: str = "f32") -> str:
    """Elementwise generic over the shape of operand ins_[0]."""
    x = fn.args[ins_[0]]
    full = dims(x.rank)
    out = x.with_elem(elem)
    return fn.generic(x.rank, [(f"%arg{i}", fn.args[i], full) for i in ins_], (fn.empty(out), out, full), body, yield_)


# ----------------------------------------------------------------------------- float ops
def lower_linear(fn: Fn, attrs: dict) -> list[str]:
    fast = gemm_ops.linear(fn)
    if fast:
        return fast
    x, w, b = fn.args
    return [linear_loops(fn, ("%arg0", x), ("%arg1", w), ("%arg2", b))]


def linear_loops(fn: Fn, x: tuple[str, T], w: tuple[str, T], b: tuple[str, T]) -> str:
    """x · wᵀ + b as plain linalg loops (the path when no GEMM microkernel applies); returns the result."""
    (xv, xt), (wv, wt), (bv, bt) = x, w, b
    lead = dims(xt.rank - 1)
    n, k = f"d{xt.rank - 1}", f"d{xt.rank}"
    yt = T(xt.shape[:-1] + wt.shape[:1], "f32")
    acc = fn.generic(
        xt.rank + 1,
        [(xv, xt, [*lead, k]), (wv, wt, [n, k])],
        (fn.fill(yt, "0.0"), yt, [*lead, n]),
        ["%p = arith.mulf %a0, %a1 : f32", "%s = arith.addf %o, %p : f32"],
        "%s",
        reduce_last=True,
    )
    full = dims(yt.rank)
    return fn.generic(
        yt.rank,
        [(acc, yt, full), (bv, bt, [full[-1]])],
        (fn.empty(yt), yt, full),
        ["%s = arith.addf %a0, %a1 : f32"],
        "%s",
    )


def lower_matmul(fn: Fn, attrs: dict) -> list[str]:
    """The f32 microkernel where it applies; else a plain contraction computing what the kernel does, one
    `math.fma` per k in K order from 0.0, so that a build whose kernel does not apply (dynamic sizes, N not
    a multiple of 16) gives the same bits as one whose does."""
    fast = gemm_ops.matmul(fn)
    if fast:
        return fast
    a, b = fn.args
    r = a.rank
    batch, m, n, k = dims(r - 2), f"d{r - 2}", f"d{r - 1}", f"d{r}"
    yt = T(a.shape[:-1] + b.shape[-1:], "f32")
    return [
        fn.generic(
            r + 1,
            [("%arg0", a, [*batch, m, k]), ("%arg1", b, [*batch, k, n])],
            (fn.fill(yt, "0.0"), yt, [*batch, m, n]),
            ["%s = math.fma %a0, %a1, %o : f32"],
            "%s",
            reduce_last=True,
        )
    ]


def _conv_acc(fn: Fn, attrs: dict, xi: int, wi: int, elem: str, acc_elem: str, zero: str) -> tuple[str, T]:
    x, w = fn.args[xi], fn.args[wi]
    (sh, sw), (ph, pw), (dh, dw) = attrs["stride"], attrs["padding"], attrs["dilation"]
    xp = f"%arg{xi}"
    if ph or pw:
        pt = T((x.shape[0], x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw), elem)
        z, xp = fn.const(zero, elem), fn.v()
        fn.emit(f"{xp} = tensor.pad %arg{xi} low[0, 0, {ph}, {pw}] high[0, 0, {ph}, {pw}] {{")
        fn.emit("^bb0(%i0: index, %i1: index, %i2: index, %i3: index):")
        fn.emit(f"  tensor.yield {z} : {elem}")
        fn.emit(f"}} : {x.s} to {pt.s}")
        x = pt
    oh = (x.shape[2] - dh * (w.shape[2] - 1) - 1) // sh + 1
    ow = (x.shape[3] - dw * (w.shape[3] - 1) - 1) // sw + 1
    yt = T((x.shape[0], w.shape[0], oh, ow), acc_elem)
    init, r = fn.fill(yt, "0" if acc_elem.startswith("i") else "0.0"), fn.v()
    fn.emit(
        f"{r} = linalg.conv_2d_nchw_fchw {{dilations = dense<[{dh}, {dw}]> : tensor<2xi64>, "
        f"strides = dense<[{sh}, {sw}]> : tensor<2xi64>}} ins({xp}, %arg{wi} : {x.s}, {w.s}) "
        f"outs({init} : {yt.s}) -> {yt.s}"
    )
    return r, yt


def lower_conv2d(fn: Fn, attrs: dict) -> list[str]:
    acc, yt = _conv_acc(fn, attrs, 0, 1, "f32", "f32", "0.0")
    full = dims(4)
    return [
        fn.generic(
            4,
            [(acc, yt, full), ("%arg2", fn.args[2], ["d1"])],
            (fn.empty(yt), yt, full),
            ["%s = arith.addf %a0, %a1 : f32"],
            "%s",
        )
    ]


def lower_embedding(fn: Fn, attrs: dict) -> list[str]:
    """Row ids[...] of the table; an id outside [0, V) (one the model computed: inputs are checked before the
    call) reads row clamp(id, 0, V - 1), never memory past the table, and yields NaN (`reference.embedding`)."""
    w, ids = fn.args
    yt = T(ids.shape + w.shape[1:], "f32")
    nd = yt.rank
    body = [
        f"%i = arith.index_cast %a0 : {ids.elem} to index",
        f"%j = linalg.index {nd - 1} : index",
        "%emb_lo = arith.constant 0 : index",
        f"%emb_hi = arith.constant {max(w.shape[0] - 1, 0)} : index",
        "%emb_nan = arith.constant 0x7FC00000 : f32",
        "%ilo = arith.maxsi %i, %emb_lo : index",
        "%ic = arith.minsi %ilo, %emb_hi : index",
        "%ok = arith.cmpi eq, %ic, %i : index",
        "%e = tensor.extract %arg0[%ic, %j] : " + w.s,
        "%r = arith.select %ok, %e, %emb_nan : f32",
    ]
    return [fn.generic(nd, [("%arg1", ids, dims(nd - 1))], (fn.empty(yt), yt, dims(nd)), body, "%r")]


def row_reduce(fn: Fn, src: str, x: T, init: str, body: list[str], extra=()) -> tuple[str, T]:
    rt = T(x.shape[:-1], "f32")
    full = dims(x.rank)
    ins = [(src, x, full), *[(v, t, full[:-1]) for v, t in extra]]
    return fn.generic(x.rank, ins, (fn.fill(rt, init), rt, full[:-1]), body, "%r", reduce_last=True), rt


def row_map(fn: Fn, src: str, t: T, body: list[str]) -> str:
    full = dims(t.rank)
    return fn.generic(t.rank, [(src, t, full)], (fn.empty(t), t, full), body, "%r")


def layer_norm_rows(fn: Fn, src: str, x: T, gamma: str, beta: str, eps: float) -> str:
    """(x - mean) / sqrt(var + eps) · gamma + beta over the last dim of `src` (type `x`)."""
    c = fn.const(f32(float(x.shape[-1])), "f32")
    s, rt = row_reduce(fn, src, x, "0.0", ["%r = arith.addf %o, %a0 : f32"])
    mean = row_map(fn, s, rt, [f"%r = arith.divf %a0, {c} : f32"])
    sq, _ = row_reduce(
        fn,
        src,
        x,
        "0.0",
        ["%d = arith.subf %a0, %a1 : f32", "%q = arith.mulf %d, %d : f32", "%r = arith.addf %o, %q : f32"],
        extra=[(mean, rt)],
    )
    var = row_map(fn, sq, rt, [f"%r = arith.divf %a0, {c} : f32"])
    e = fn.const(f32(eps), "f32")
    full = dims(x.rank)
    body = [
        "%d = arith.subf %a0, %a1 : f32",
        f"%ve = arith.addf %a2, {e} : f32",
        "%sd = math.sqrt %ve : f32",
        "%n = arith.divf %d, %sd : f32",
        "%g = arith.mulf %n, %a3 : f32",
        "%y = arith.addf %g, %a4 : f32",
    ]
    vec = T(x.shape[-1:], "f32")
    ins = [(src, x, full), (mean, rt, full[:-1]), (var, rt, full[:-1]), (gamma, vec, full[-1:]), (beta, vec, full[-1:])]
    return fn.generic(x.rank, ins, (fn.empty(x), x, full), body, "%y")


def rms_norm_rows(fn: Fn, src: str, x: T, gamma: str, eps: float) -> str:
    """x / sqrt(mean(x²) + eps) · gamma over the last dim of `src` (type `x`)."""
    c = fn.const(f32(float(x.shape[-1])), "f32")
    sq, rt = row_reduce(fn, src, x, "0.0", ["%q = arith.mulf %a0, %a0 : f32", "%r = arith.addf %o, %q : f32"])
    ms = row_map(fn, sq, rt, [f"%r = arith.divf %a0, {c} : f32"])
    e = fn.const(f32(eps), "f32")
    full = dims(x.rank)
    body = [
        f"%ve = arith.addf %a1, {e} : f32",
        "%sd = math.sqrt %ve : f32",
        "%n = arith.divf %a0, %sd : f32",
        "%y = arith.mulf %n, %a2 : f32",
    ]
    ins = [(src, x, full), (ms, rt, full[:-1]), (gamma, T(x.shape[-1:], "f32"), full[-1:])]
    return fn.generic(x.rank, ins, (fn.empty(x), x, full), body, "%y")


def lower_layer_norm(fn: Fn, attrs: dict) -> list[str]:
    with fused_rows(fn):
        y = layer_norm_rows(fn, "%arg0", fn.args[0], "%arg1", "%arg2", attrs["eps"])
    return [y]


def lower_rms_norm(fn: Fn, attrs: dict) -> list[str]:
    with fused_rows(fn):
        y = rms_norm_rows(fn, "%arg0", fn.args[0], "%arg1", attrs["eps"])
    return [y]


def lower_gelu(fn: Fn, attrs: dict) -> list[str]:
    return [_same(fn, [0], _gelu_lines("%a0", "g", attrs["approximate"]), "%g_y")]


def lower_silu(fn: Fn, attrs: dict) -> list[str]:
    return [_same(fn, [0], _silu_lines("%a0", "s"), "%s_y")]


def lower_relu(fn: Fn, attrs: dict) -> list[str]:
    return [_same(fn, [0], *ACT["relu"](fn, "%a0"))]


def lower_add(fn: Fn, attrs: dict) -> list[str]:
    return [_same(fn, [0, 1], ["%r = arith.addf %a0, %a1 : f32"], "%r")]


def lower_mul(fn: Fn, attrs: dict) -> list[str]:
    return [_same(fn, [0, 1], ["%r = arith.mulf %a0, %a1 : f32"], "%r")]


def lower_channel_scale(fn: Fn, attrs: dict) -> list[str]:
    x, s = fn.args
    full = dims(x.rank)
    return [
        fn.generic(
            x.rank,
            [("%arg0", x, full), ("%arg1", s, full[-1:])],
            (fn.empty(x), x, full),
            ["%r = arith.mulf %a0, %a1 : f32"],
            "%r",
        )
    ]


def lower_channel_permute(fn: Fn, attrs: dict) -> list[str]:
    x = fn.args[0]
    perm = attrs["perm"]
    pt = T((len(perm),), "i64")
    p = fn.v()
    fn.emit(f"{p} = arith.constant dense<[{', '.join(map(str, perm))}]> : {pt.s}")
    full = dims(x.rank)
    idx = [f"%i{i} = linalg.index {i} : index" for i in range(x.rank - 1)]
    names = ", ".join([f"%i{i}" for i in range(x.rank - 1)] + ["%p"])
    body = [*idx, "%p = arith.index_cast %a0 : i64 to index", f"%r = tensor.extract %arg0[{names}] : {x.s}"]
    return [fn.generic(x.rank, [(p, pt, full[-1:])], (fn.empty(x), x, full), body, "%r")]


# ----------------------------------------------------------------------------- quantization ops
def lower_quantize(fn: Fn, attrs: dict) -> list[str]:
    x, s = fn.args
    full = dims(x.rank)
    return [
        fn.generic(
            x.rank,
            [("%arg0", x, full), ("%arg1", s, _scale_exprs(s, x, attrs["axis"]))],
            (fn.empty(x.with_elem("i8")), x.with_elem("i8"), full),
            _quantize_body(attrs["bits"]),
            "%q_i",
        )
    ]


def _scale_from_absmax(bits: int) -> list[str]:
    q = float((1 << (bits - 1)) - 1)
    return [
        f"%qm = arith.constant {q} : f32",
        "%one = arith.constant 1.0 : f32",
        "%zero = arith.constant 0.0 : f32",
        "%d = arith.divf %a0, %qm : f32",
        "%z = arith.cmpf oeq, %d, %zero : f32",
        "%r = arith.select %z, %one, %d : f32",
    ]


_ABSMAX = ["%a = math.absf %a0 : f32", "%r = arith.maximumf %o, %a : f32"]


def _quantize_body(bits: int) -> list[str]:
    return ["%one = arith.constant 1.0 : f32", "%inv = arith.divf %one, %a1 : f32", *_quant_lines("%a0", "%inv", bits)]


def quantize_rows(fn: Fn, src: str, x: T, bits: int) -> tuple[str, str]:
    """Per-token dynamic quantization of `src` (type `x`, rank >= 2): the i8 tensor and the scales [rows]."""
    full = dims(x.rank)
    qt = x.with_elem("i8")
    am, rt = row_reduce(fn, src, x, "0.0", _ABSMAX)
    scale = row_map(fn, am, rt, _scale_from_absmax(bits))
    body = _quantize_body(bits)
    return fn.generic(x.rank, [(src, x, full), (scale, rt, full[:-1])], (fn.empty(qt), qt, full), body, "%q_i"), scale


def token_scales(fn: Fn, scale: str, x: T) -> str:
    """The per-token scales [rows] of `quantize_rows` as qc's [..., 1] tensor."""
    rt, st = T(x.shape[:-1], "f32"), T(x.shape[:-1] + (1,), "f32")
    groups = [[i] for i in range(x.rank - 2)] + [[x.rank - 2, x.rank - 1]]
    out = fn.v()
    dyn = iter(fn.sizes(st))
    sizes = ", ".join(str(d) if d is not None else next(dyn) for d in st.shape)
    fn.emit(f"{out} = tensor.expand_shape {scale} {groups} output_shape [{sizes}] : {rt.s} into {st.s}")
    return out


def lower_quantize_dynamic(fn: Fn, attrs: dict) -> list[str]:
    x = fn.args[0]
    bits = attrs["bits"]
    full = dims(x.rank)
    qt = x.with_elem("i8")
    if attrs["granularity"] == "per_token" and x.rank >= 2:  # a rank-1 tensor is one token: per tensor
        with fused_rows(fn):
            q, scale = quantize_rows(fn, "%arg0", x, bits)
        return [q, token_scales(fn, scale, x)]
    zt = T((), "f32")
    am = fn.generic(x.rank, [("%arg0", x, full)], (fn.fill(zt, "0.0"), zt, []), _ABSMAX, "%r", n_reduce=x.rank)
    st = T((1,), "f32")
    scale = fn.generic(1, [(am, zt, [])], (fn.empty(st), st, ["d0"]), _scale_from_absmax(bits), "%r")
    q = fn.generic(
        x.rank, [("%arg0", x, full), (scale, st, ["0"])], (fn.empty(qt), qt, full), _quantize_body(bits), "%q_i"
    )
    return [q, scale]


def lower_dequantize(fn: Fn, attrs: dict) -> list[str]:
    q, s = fn.args
    full = dims(q.rank)
    yt = q.with_elem("f32")
    return [
        fn.generic(
            q.rank,
            [("%arg0", q, full), ("%arg1", s, _scale_exprs(s, q, attrs["axis"]))],
            (fn.empty(yt), yt, full),
            [f"%f = arith.sitofp %a0 : {q.elem} to f32", "%r = arith.mulf %f, %a1 : f32"],
            "%r",
        )
    ]


def lower_requantize(fn: Fn, attrs: dict) -> list[str]:
    a, s = fn.args
    full = dims(a.rank)
    qt = a.with_elem("i8")
    body = ["%f = arith.sitofp %a0 : i32 to f32", *_quant_lines("%f", "%a1", attrs["bits"])]
    return [
        fn.generic(
            a.rank,
            [("%arg0", a, full), ("%arg1", s, _scale_exprs(s, a, attrs["axis"]))],
            (fn.empty(qt), qt, full),
            body,
            "%q_i",
        )
    ]


_IMAC = [
    "%x = arith.extsi %a0 : i8 to i32",
    "%w = arith.extsi %a1 : i8 to i32",
    "%p = arith.muli %x, %w : i32",
    "%s = arith.addi %o, %p : i32",
]


def _epilogue_body(n_ins: int, act: str, gated: bool = False) -> tuple[list[str], str]:
    """act(((f32(acc) · s1) · s2) + b?): %a0 is the i32 accumulator, %a1, %a2 the scales, %a3 the bias; gated:
    then gate · that, the gate being the input after them (qc.qlinear_gated)."""
    body = ["%f = arith.sitofp %a0 : i32 to f32", "%t = arith.mulf %f, %a1 : f32", "%u = arith.mulf %t, %a2 : f32"]
    y = "%u"
    if n_ins == 3:
        body.append("%v = arith.addf %u, %a3 : f32")
        y = "%v"
    lines, y = ACT[act](None, y)
    if gated:
        lines.append(f"%gated = arith.mulf %a{n_ins + 1}, {y} : f32")
        y = "%gated"
    return body + lines, y


def _epilogue(fn: Fn, acc: str, yt: T, ins: list[tuple[str, T, list[str]]], act: str, gated: bool = False) -> str:
    """The fused epilogue of the integer compute ops as its own elementwise pass over the accumulator."""
    full = dims(yt.rank)
    body, y = _epilogue_body(len(ins) - gated, act, gated)
    return fn.generic(yt.rank, [(acc, yt.with_elem("i32"), full), *ins], (fn.empty(yt), yt, full), body, y)


def lower_qlinear(fn: Fn, attrs: dict) -> list[str]:
    x, xs, w, ws, b = fn.args[:5]
    gated = len(fn.args) == 6  # qc.qlinear_gated: the gate is the last operand
    lead = dims(x.rank - 1)
    n, k = f"d{x.rank - 1}", f"d{x.rank}"
    yt = T(x.shape[:-1] + w.shape[:1], "f32")
    at = yt.with_elem("i32")
    xs_e = ["0"] if xs.shape == (1,) else [*lead, "0"]
    ins = [("%arg1", xs, xs_e), ("%arg3", ws, [n]), ("%arg4", b, [n])]
    if gated:
        ins.append(("%arg5", fn.args[5], [*lead, n]))
    fast = gemm_ops.qlinear(fn, _epilogue_body(3, attrs["act"], gated), attrs.get("qc.precision"))
    if fast:
        return fast
    acc = fn.generic(
        x.rank + 1,
        [("%arg0", x, [*lead, k]), ("%arg2", w, [n, k])],
        (fn.fill(at, "0"), at, [*lead, n]),
        _IMAC,
        "%s",
        reduce_last=True,
    )
    return [_epilogue(fn, acc, yt, ins, attrs["act"], gated)]


def lower_qlinear_gated(fn: Fn, attrs: dict) -> list[str]:
    return lower_qlinear(fn, attrs)


def lower_qmatmul(fn: Fn, attrs: dict) -> list[str]:
    a, sa, b, sb = fn.args
    r = a.rank
    batch, m, n, k = dims(r - 2), f"d{r - 2}", f"d{r - 1}", f"d{r}"
    yt = T(a.shape[:-1] + b.shape[-1:], "f32")
    at = yt.with_elem("i32")
    ins = [("%arg1", sa, [*batch, m, "0"]), ("%arg3", sb, [*batch, "0", n])]
    fast = gemm_ops.qmatmul(fn, lambda g, acc: _epilogue(g, acc, yt, ins, "none"))
    if fast:
        return fast
    acc = fn.generic(
        r + 1,
        [("%arg0", a, [*batch, m, k]), ("%arg2", b, [*batch, k, n])],
        (fn.fill(at, "0"), at, [*batch, m, n]),
        _IMAC,
        "%s",
        reduce_last=True,
    )
    return [_epilogue(fn, acc, yt, ins, "none")]


def lower_qconv2d(fn: Fn, attrs: dict) -> list[str]:
    acc, at = _conv_acc(fn, attrs, 0, 2, "i8", "i32", "0")
    yt = at.with_elem("f32")
    ins = [("%arg1", fn.args[1], ["0"]), ("%arg3", fn.args[3], ["d1"]), ("%arg4", fn.args[4], ["d1"])]
    return [_epilogue(fn, acc, yt, ins, "none")]
