"""CPU lowerings of the float-format ops (qc.fp_wlinear, qc.fp_fake_quant, qc.fp_fake_quant_static), merged into
`lower_qc`'s table; bit-identical to `dialects/formats.py`.

qc.fp_wlinear keeps its weight packed in the format (fp8 one code per byte, fp4 two per byte; fp6, one per
byte in the dialect, four codes in three bytes once a constant, `fp6_panels`). With constant weights (what
qc-quantize-float makes), qc-cpu-pack-weights lays codes and scales out in panels at compile time and the f32
GEMM microkernel decodes one panel at a time into a [K][NR] scratch (`kernels.Dequant.decode`, on 16-lane
vectors; fp6: `fp6_panels.fill`); otherwise the whole weight is decoded per call into the microkernel's panel
layout (plain linalg loops when N is not a multiple of 16, where a constant fp6 weight is decoded from its packed
rows). Decoding a code (`decode_lines`): the exponent and mantissa bits
shifted to f32's places with the sign on top make an f32 equal to the value times 2^(bias - 127) (subnormal
codes become f32 subnormals), so one exact multiply by 2^(127 - bias) gives the value; NaN and infinity codes
are selected apart; then one mulf by the group's f32 scale, as `formats.dequantize_rows`.

qc.fp_fake_quant rounds to the format as `formats.round_to` does, with integer ops on the f32 bits: the binade
exponent max(floor(log2|y|), emin) (capped at emax + 1, which keeps infinities saturating) gives the ulp 2^(e -
mbits) and its inverse as exact powers of two; roundeven(|y| · 1/ulp) · ulp, min with max_finite (NaN stays
NaN), copysign. Scales as the reference chooses them: f32 (amax / max_finite, 1 where 0) per token, per tensor or
per block; e8m0 (OCP MX: 2^clamp(floor(log2 amax) - emax_elem, -127, 127), floor(log2) from the exponent bits,
NaN for NaN/inf amax); e4m3 block scales times a per-row f32 tensor scale (NVFP4). Blocks are
formed by splitting the last dim (zero-padded when K is not a multiple of the block); leading dims may be dynamic.
"""

import re

from qcomp.dialects import formats as fmt
from qcomp.targets.common.float_formats import decode_lines, scale_decode_lines

from . import fp6_panels
from .gemm_ops import PACK_F32
from .kernels import LANES, Dequant, Gemm, emit_gemm, packed_f32_type, panel_vectors
from .linalg_text import Fn, T, collapse, dims, expand, f32
from .lower_ops import _ABSMAX, linear_loops, row_reduce
from .vector_map import vector_body

_NAN_BITS, _SUB127 = 0x7FC00000, 0x00400000  # f32 bits: NaN, 2^-127


def _ci(name: str, v: int) -> str:
    return f"{name} = arith.constant {v} : i32"


def round_lines(elem: str, y: str, out: str, tag: str = "r") -> list[str]:
    """Scalar lines rounding f32 `y` to the format (`formats.round_to`) into f32 `out`."""
    f = fmt.ELEMS[elem]
    t = f"%{tag}_"
    return [
        f"{t}a = math.absf {y} : f32",
        f"{t}b = arith.bitcast {t}a : f32 to i32",
        _ci(f"{t}c23", 23),
        f"{t}e0 = arith.shrui {t}b, {t}c23 : i32",
        _ci(f"{t}c127", 127),
        f"{t}e1 = arith.subi {t}e0, {t}c127 : i32",
        _ci(f"{t}emin", f.emin),
        _ci(f"{t}ecap", f.emax + 1),
        f"{t}e2 = arith.maxsi {t}e1, {t}emin : i32",
        f"{t}e = arith.minsi {t}e2, {t}ecap : i32",
        _ci(f"{t}mb", f.mbits),
        f"{t}ue = arith.subi {t}e, {t}mb : i32",
        f"{t}ub0 = arith.addi {t}ue, {t}c127 : i32",
        f"{t}ub = arith.shli {t}ub0, {t}c23 : i32",
        f"{t}ulp = arith.bitcast {t}ub : i32 to f32",
        f"{t}ib0 = arith.subi {t}c127, {t}ue : i32",
        f"{t}ib = arith.shli {t}ib0, {t}c23 : i32",
        f"{t}iulp = arith.bitcast {t}ib : i32 to f32",
        f"{t}t = arith.mulf {t}a, {t}iulp : f32",
        f"{t}tr = math.roundeven {t}t : f32",
        f"{t}r = arith.mulf {t}tr, {t}ulp : f32",
        f"{t}mx = arith.constant {f32(f.max_finite)} : f32",
        f"{t}rc = arith.minimumf {t}r, {t}mx : f32",
        f"{out} = math.copysign {t}rc, {y} : f32",
    ]


# ----------------------------------------------------------------------------- weights
def _scale_lines(scale: str | None, ts: float | None, src: str) -> tuple[list[str], str]:
    """(lines, f32 name) of the scale in `src`: f32 as is (scale None), or a 1-byte code decoded."""
    if scale is None:
        return [], src
    return [f"%scu = arith.extui {src} : i8 to i32", *scale_decode_lines(scale, "%scu", "%scf", ts)], "%scf"


def _wdecode_body(elem: str, scale: str | None = None, ts: float | None = None) -> list[str]:
    """Generic body: %a0 the stored i8 (a byte of two 4-bit codes, or one code), %a1 the scale (f32, or a
    1-byte code of the `scale` format) -> %w."""
    if fmt.ELEMS[elem].bits == 4:
        code = [
            "%k = linalg.index 1 : index",
            "%c2 = arith.constant 2 : index",
            "%par = arith.remui %k, %c2 : index",
            "%c0 = arith.constant 0 : index",
            "%odd = arith.cmpi ne, %par, %c0 : index",
            "%u = arith.extui %a0 : i8 to i32",
            _ci("%c4", 4),
            "%hi = arith.shrui %u, %c4 : i32",
            _ci("%c15", 15),
            "%lo = arith.andi %u, %c15 : i32",
            "%code = arith.select %odd, %hi, %lo : i32",
        ]
    else:
        code = ["%code = arith.extui %a0 : i8 to i32"]
    sl, sv = _scale_lines(scale, ts, "%a1")
    return [*code, *decode_lines(elem, "%code", "%v"), *sl, f"%w = arith.mulf %v, {sv} : f32"]


def vector_decode(elem: str):
    """The `kernels.Dequant.decode` of a format: an i8 vector holding codes in its low bits (4-bit codes
    sign-extended from their nibble) -> f32 values, `decode_lines` on vectors."""
    mask = (1 << fmt.ELEMS[elem].bits) - 1

    def emit(src: str, out: str, tag: str) -> list[str]:
        body = [
            "%u = arith.extui %src : i8 to i32",
            _ci("%msk", mask),
            "%code = arith.andi %u, %msk : i32",
            *decode_lines(elem, "%code", "%v"),
        ]
        lines, _, local = vector_body(body, tag, {"%src": src})
        res = local["%v"]
        return [re.sub(re.escape(res) + r"\b", out, line) for line in lines]

    return emit


def _packed_twin(fn: Fn, elem: str, group: int, scale: str | None = None, ts: float | None = None) -> None:
    """`<fn>_packed`: the same op on the codes and scales packed in panels (qc-cpu-pack-weights calls it where
    both are constants), decoded inside the GEMM one panel at a time (`kernels.Dequant` with `vector_decode`):
    the f32 weight is never written whole. 1-byte scale codes stay bytes in the panels; each call decodes
    them into an f32 scale panel ([N/NR][G][NR], 1/group of the weight's size) before the GEMM."""
    x, wq, s, b = fn.args
    n, k = wq.shape[0], x.shape[-1]
    nr = LANES * panel_vectors(n)
    fp6 = fp6_panels.is_fp6(elem)
    qt = T((n // nr, fp6_panels.row_bytes(k) if fp6 else wq.shape[1], nr), "i8")
    st = T((n // nr, s.shape[1], nr), "f32")
    g = Fn(f"{fn.name}_packed", [x, qt, T(st.shape, s.elem), b], fn.results)
    sv = "%arg2"
    if scale is not None:
        sl, out = _scale_lines(scale, ts, "%a0")
        full = dims(3)
        sv = g.generic(3, [("%arg2", T(st.shape, "i8"), full)], (g.empty(st), st, full), sl, out)
    m = g.count(x, x.rank - 1)
    mt = m if isinstance(m, int) else None
    x2 = collapse(g, "%arg0", x, (mt, k))
    bits = fmt.ELEMS[elem].bits  # fp6: `fill` decodes the panel
    fill = fp6_panels.fill(elem, group) if fp6 else None
    dq = Dequant((sv, st), bits, group, vector_decode(elem), fill)
    acc = emit_gemm(
        g, Gemm(m, n, k, 1, "dequant", "f32"), (x2, T((mt, k), "f32")), ("%arg1", qt), ("%arg3", b), dequant=dq
    )
    fn.extra.append(g.text([expand(g, acc, T((mt, n), "f32"), fn.results[0].shape)]))
    layout = fp6_panels.PACK_FP6 if fp6 else PACK_F32
    fn.attrs.update(
        {"qc.packed": f"@{g.name}", "qc.pack": f'"{layout},{PACK_F32}"', "qc.pack_operand": "array<i64: 1, 2>"}
    )


def _fp6_rows_twin(fn: Fn, elem: str, group: int, scale: str | None = None, ts: float | None = None) -> None:
    """`<fn>_packed` for fp6 where N is not a multiple of 16: the constant codes four in three bytes
    (`fp6_panels.PACK_FP6_ROWS`, what qc-cpu-pack-weights stores), decoded per call into the f32 weight of the
    plain loops."""
    x, wq, s, b = fn.args
    n, k = wq.shape[0], x.shape[-1]
    qt = fp6_panels.rows_type(n, k)
    g = Fn(f"{fn.name}_packed", [x, qt, s, b], fn.results)
    sl, sv = _scale_lines(scale, ts, "%a3")
    wt = T((n, k), "f32")
    ins = [("%arg1", qt, ["d0", e]) for e in fp6_panels.rows_maps()]
    w = g.generic(
        2,
        [*ins, ("%arg2", s, ["d0", f"d1 floordiv {group}"])],
        (g.empty(wt), wt, ["d0", "d1"]),
        fp6_panels.rows_body(elem, sl, sv),
        "%w",
    )
    fn.extra.append(g.text([linear_loops(g, ("%arg0", x), (w, wt), ("%arg3", b))]))
    fn.attrs.update(
        {"qc.packed": f"@{g.name}", "qc.pack": f'"{fp6_panels.PACK_FP6_ROWS}"', "qc.pack_operand": "1 : i64"}
    )


def lower_fp_wlinear(fn: Fn, attrs: dict) -> list[str]:
    x, wq, s, b = fn.args
    qf, group = fmt.parse(attrs["format"]), attrs["group"]
    elem = qf.elem
    scale = qf.scale if s.elem == "i8" else None  # 1-byte scale codes
    ts = attrs.get("tensor_scale")
    n, k = wq.shape[0], x.shape[-1]
    kmap = "d1 floordiv 2" if fmt.ELEMS[elem].bits == 4 else "d1"
    if panel_vectors(n):  # decode straight into the f32 microkernel's panels
        pt = packed_f32_type(n, k)
        row = f"d0 * {pt.shape[2]} + d2"
        w = fn.generic(
            3,
            [("%arg1", wq, [row, kmap]), ("%arg2", s, [row, f"d1 floordiv {group}"])],
            (fn.empty(pt), pt, ["d0", "d1", "d2"]),
            _wdecode_body(elem, scale, ts),
            "%w",
        )
        m = fn.count(x, x.rank - 1)
        mt = m if isinstance(m, int) else None
        x2 = collapse(fn, "%arg0", x, (mt, k))
        acc = emit_gemm(fn, Gemm(m, n, k, 1, "panels", "f32"), (x2, T((mt, k), "f32")), (w, pt), ("%arg3", b))
        if fmt.ELEMS[elem].bits != 4 or (group % 2 == 0 and k % 2 == 0):  # nibble pairs stay in one group
            _packed_twin(fn, elem, group, scale, ts)
        return [expand(fn, acc, T((mt, n), "f32"), fn.results[0].shape)]
    wt = T((n, k), "f32")
    w = fn.generic(
        2,
        [("%arg1", wq, ["d0", kmap]), ("%arg2", s, ["d0", f"d1 floordiv {group}"])],
        (fn.empty(wt), wt, ["d0", "d1"]),
        _wdecode_body(elem, scale, ts),
        "%w",
    )
    if fp6_panels.is_fp6(elem):
        _fp6_rows_twin(fn, elem, group, scale, ts)
    return [linear_loops(fn, ("%arg0", x), (w, wt), ("%arg3", b))]


# ----------------------------------------------------------------------------- activations
def _f32_scale_lines(qf: fmt.QFormat) -> list[str]:
    """%a0 = amax -> %r = amax / max_finite (1 where 0)."""
    return [
        f"%mx = arith.constant {f32(qf.elem_format.max_finite)} : f32",
        "%one = arith.constant 1.0 : f32",
        "%zero = arith.constant 0.0 : f32",
        "%d = arith.divf %a0, %mx : f32",
        "%z = arith.cmpf oeq, %d, %zero : f32",
        "%r = arith.select %z, %one, %d : f32",
    ]


def _e8m0_scale_lines(qf: fmt.QFormat) -> list[str]:
    """%a0 = amax -> %r = 2^clamp(floor(log2 amax) - emax, -127, 127); NaN for a NaN or infinite amax."""
    return [
        "%b = arith.bitcast %a0 : f32 to i32",
        _ci("%c23", 23),
        "%eb = arith.shrui %b, %c23 : i32",
        _ci("%off", 127 + qf.elem_format.emax),
        "%x0 = arith.subi %eb, %off : i32",
        _ci("%lo", -127),
        _ci("%hi", 127),
        "%x1 = arith.maxsi %x0, %lo : i32",
        "%x = arith.minsi %x1, %hi : i32",
        _ci("%c127", 127),
        "%nb0 = arith.addi %x, %c127 : i32",
        "%nb = arith.shli %nb0, %c23 : i32",
        _ci("%m126", -126),
        "%isn = arith.cmpi sge, %x, %m126 : i32",
        _ci("%sub", _SUB127),
        "%sb = arith.select %isn, %nb, %sub : i32",
        _ci("%c255", 255),
        "%bad = arith.cmpi eq, %eb, %c255 : i32",
        _ci("%nan", _NAN_BITS),
        "%rb = arith.select %bad, %nan, %sb : i32",
        "%r = arith.bitcast %rb : i32 to f32",
    ]


def _nv_scale_lines(qf: fmt.QFormat) -> list[str]:
    """%a0 = block amax, %a1 = row amax -> %r = f32(e4m3(amax / emax_val / ts)) · ts, ts = ta / (emax_val · 448)."""
    me = qf.elem_format.max_finite
    return [
        f"%den = arith.constant {f32(me * fmt.ELEMS['e4m3'].max_finite)} : f32",
        "%one = arith.constant 1.0 : f32",
        "%zero = arith.constant 0.0 : f32",
        "%ts0 = arith.divf %a1, %den : f32",
        "%tz = arith.cmpf oeq, %ts0, %zero : f32",
        "%ts = arith.select %tz, %one, %ts0 : f32",
        f"%me = arith.constant {f32(me)} : f32",
        "%q0 = arith.divf %a0, %me : f32",
        "%q1 = arith.divf %q0, %ts : f32",
        *round_lines("e4m3", "%q1", "%bs", "n"),
        "%r = arith.mulf %bs, %ts : f32",
    ]


def _apply_body(elem: str) -> list[str]:
    """%a0 = x, %a1 = its scale s -> %y = round_to(x · (1/s)) · s, 1/s taken as 0 where s is 0."""
    return [
        "%one = arith.constant 1.0 : f32",
        "%zero = arith.constant 0.0 : f32",
        "%inv0 = arith.divf %one, %a1 : f32",
        "%sz = arith.cmpf oeq, %a1, %zero : f32",
        "%inv = arith.select %sz, %zero, %inv0 : f32",
        "%t = arith.mulf %a0, %inv : f32",
        *round_lines(elem, "%t", "%q"),
        "%y = arith.mulf %q, %a1 : f32",
    ]


def _map(fn: Fn, src: str, t: T, scale: str, st: T, smap: list[str], elem: str) -> str:
    full = dims(t.rank)
    return fn.generic(t.rank, [(src, t, full), (scale, st, smap)], (fn.empty(t), t, full), _apply_body(elem), "%y")


def _scale_map(fn: Fn, ins: list[tuple[str, T]], body: list[str]) -> str:
    t = ins[0][1]
    full = dims(t.rank)
    return fn.generic(t.rank, [(v, tt, full) for v, tt in ins], (fn.empty(t), t, full), body, "%r")


def lower_fp_fake_quant(fn: Fn, attrs: dict) -> list[str]:
    x = fn.args[0]
    qf = fmt.parse(attrs["format"])
    full = dims(x.rank)
    if qf.block == -1 or (qf.block == 0 and x.rank < 2):  # one scale for the tensor
        zt = T((), "f32")
        am = fn.generic(x.rank, [("%arg0", x, full)], (fn.fill(zt, "0.0"), zt, []), _ABSMAX, "%r", n_reduce=x.rank)
        s = fn.generic(0, [(am, zt, [])], (fn.empty(zt), zt, []), _f32_scale_lines(qf), "%r")
        return [_map(fn, "%arg0", x, s, zt, [], qf.elem)]
    if qf.block == 0:  # per token
        am, rt = row_reduce(fn, "%arg0", x, "0.0", _ABSMAX)
        s = _scale_map(fn, [(am, rt)], _f32_scale_lines(qf))
        return [_map(fn, "%arg0", x, s, rt, full[:-1], qf.elem)]
    return [_blocks(fn, x, qf)]


def _blocks(fn: Fn, x: T, qf: fmt.QFormat) -> str:
    """Per-block scales along the last dim: x [..., K] -> [..., G, g] (zero-padded to whole blocks: zeros do not
    change an absmax), block absmax [..., G], scales, the rounding map, and back to [..., K]."""
    k, g = x.shape[-1], qf.block
    ng = -(-k // g)
    lead = x.shape[:-1]
    src, xp = "%arg0", x
    if ng * g != k:
        xp = T((*lead, ng * g), "f32")
        zero, v = fn.const("0.0", "f32"), fn.v()
        low, high = ", ".join(["0"] * x.rank), ", ".join(["0"] * (x.rank - 1) + [str(ng * g - k)])
        fn.emit(f"{v} = tensor.pad {src} low[{low}] high[{high}] {{")
        fn.emit("^bb0(" + ", ".join(f"%pi{i}: index" for i in range(x.rank)) + "):")
        fn.emit(f"  tensor.yield {zero} : f32")
        fn.emit(f"}} : {x.s} to {xp.s}")
        src = v
    x3t = T((*lead, ng, g), "f32")
    groups = [[i] for i in range(x.rank - 1)] + [[x.rank - 1, x.rank]]
    x3 = fn.v()
    fn.emit(f"{x3} = tensor.expand_shape {src} {groups} output_shape [{_sizes(fn, x3t)}] : {xp.s} into {x3t.s}")
    am, bt = row_reduce(fn, x3, x3t, "0.0", _ABSMAX)  # [..., G]
    full = dims(bt.rank)
    if qf.scale == "e8m0":
        s = _scale_map(fn, [(am, bt)], _e8m0_scale_lines(qf))
    elif qf.scale == "e4m3":  # the f32 tensor scale from the row's absmax, the largest of its blocks'
        ta, tt = row_reduce(fn, am, bt, "0.0", ["%r = arith.maximumf %o, %a0 : f32"])
        ins = [(am, bt, full), (ta, tt, full[:-1])]
        s = fn.generic(bt.rank, ins, (fn.empty(bt), bt, full), _nv_scale_lines(qf), "%r")
    else:
        s = _scale_map(fn, [(am, bt)], _f32_scale_lines(qf))
    y3 = _map(fn, x3, x3t, s, bt, full, qf.elem)
    y = fn.v()
    fn.emit(f"{y} = tensor.collapse_shape {y3} {groups} : {x3t.s} into {xp.s}")
    if xp is x:
        return y
    r = fn.v()
    offsets, ones = ", ".join(["0"] * x.rank), ", ".join(["1"] * x.rank)
    fn.emit(f"{r} = tensor.extract_slice {y}[{offsets}] [{_sizes(fn, x)}] [{ones}] : {xp.s} to {x.s}")
    return r


def _sizes(fn: Fn, t: T) -> str:
    """t's sizes as MLIR text: static ints, dynamic leading dims from the arguments."""
    dyn = iter(fn.sizes(t))
    return ", ".join(str(d) if d is not None else next(dyn) for d in t.shape)


def lower_fp_fake_quant_static(fn: Fn, attrs: dict) -> list[str]:
    x, s = fn.args
    return [_map(fn, "%arg0", x, "%arg1", s, ["0"], fmt.parse(attrs["format"]).elem)]


LOWERINGS = {
    "fp_wlinear": lower_fp_wlinear,
    "fp_fake_quant": lower_fp_fake_quant,
    "fp_fake_quant_static": lower_fp_fake_quant_static,
}
