"""CPU lowerings of the weight-only and the fused norm + quantize ops (qc op -> linalg text), merged into
`lower_qc`'s table.

`qc.rms_norm_quantize` / `qc.layer_norm_quantize` (qc-fuse{norm}) run the standalone norm's steps and then
quantize_dynamic's, all in one loop over tokens (`row_fusion`): a token's normalised row is written and
read back while it is in L1, and each step is the standalone op's own code, so the results are
bit-identical to the unfused pair.

`qc.wlinear` on constant weights (qc-cpu-pack-weights packs the weight and its scales in panels at compile
time) runs the f32 GEMM microkernel on a weight dequantized one panel at a time inside the kernel
(`kernels.Dequant`). Otherwise it dequantizes the integer weight once per call into the f32 GEMM
microkernel's panel layout and runs that kernel (when N is a multiple of 16; otherwise into an f32 [N, K]
tensor and a plain linalg contraction). int4 nibbles are unpacked with shifts (the packed byte read through
the map (n, k floordiv 2), the nibble chosen by the parity of k), then an f32 x · wᵀ + b exactly like
`qc.linear`. The dequantization follows `reference.dequantize_weight` operation by operation (sitofp, one
mulf), so the dequantized weight is bit-exact, and both routes give identical results.
"""

from . import asym_panels
from .gemm_ops import PACK_F32
from .kernels import LANES, Dequant, Gemm, emit_gemm, packed_f32_type, panel_vectors
from .linalg_text import Fn, T, collapse, expand
from .lower_ops import layer_norm_rows, linear_loops, quantize_rows, rms_norm_rows, token_scales
from .row_fusion import fused_rows


def _dequant_body(bits: int) -> list[str]:
    if bits > 4:
        return ["%f = arith.sitofp %a0 : i8 to f32", "%w = arith.mulf %f, %a1 : f32"]
    return [
        "%k = linalg.index 1 : index",
        "%c2 = arith.constant 2 : index",
        "%par = arith.remui %k, %c2 : index",
        "%c0 = arith.constant 0 : index",
        "%odd = arith.cmpi ne, %par, %c0 : index",
        "%c4 = arith.constant 4 : i8",
        "%sl = arith.shli %a0, %c4 : i8",
        "%lo = arith.shrsi %sl, %c4 : i8",
        "%hi = arith.shrsi %a0, %c4 : i8",
        "%q = arith.select %odd, %hi, %lo : i8",
        "%f = arith.sitofp %q : i8 to f32",
        "%w = arith.mulf %f, %a1 : f32",
    ]


def _wlinear_fast(fn: Fn, bits: int, group: int) -> list[str] | None:
    """Dequantize straight into the f32 GEMM microkernel's panel layout [N/NR][K][NR] and run it."""
    x, wq, s, b = fn.args
    n, k = wq.shape[0], x.shape[-1]
    if not panel_vectors(n):
        return None
    pt = packed_f32_type(n, k)
    nr = pt.shape[2]
    row = f"d0 * {nr} + d2"
    w = fn.generic(
        3,
        [
            ("%arg1", wq, [row, "d1 floordiv 2" if bits <= 4 else "d1"]),
            ("%arg2", s, [row, f"d1 floordiv {group}"]),
        ],
        (fn.empty(pt), pt, ["d0", "d1", "d2"]),
        _dequant_body(bits),
        "%w",
    )
    m = fn.count(x, x.rank - 1)  # rows: an int, or an SSA index where x has dynamic leading dims
    mt = m if isinstance(m, int) else None
    x2 = collapse(fn, "%arg0", x, (mt, k))
    acc = emit_gemm(fn, Gemm(m, n, k, 1, "panels", "f32"), (x2, T((mt, k), "f32")), (w, pt), ("%arg3", b))
    if bits > 4 or (group % 2 == 0 and k % 2 == 0):  # nibble pairs inside one group and inside K
        _packed_twin(fn, bits, group)
    return [expand(fn, acc, T((mt, n), "f32"), fn.results[0].shape)]


def _packed_twin(fn: Fn, bits: int, group: int) -> None:
    """`<fn>_packed`: the same wlinear on the weight and its scales packed in panels (qc-cpu-pack-weights
    calls it where both are constants), dequantized inside the GEMM one panel at a time: the f32 weight is
    never written whole, so a call reads the int4/int8 weight once instead of a 4-8x bigger f32 copy."""
    x, wq, s, b = fn.args
    n, k = wq.shape[0], x.shape[-1]
    nr = LANES * panel_vectors(n)
    qt = T((n // nr, wq.shape[1], nr), "i8")
    st = T((n // nr, s.shape[1], nr), "f32")
    g = Fn(f"{fn.name}_packed", [x, qt, st, b], fn.results)
    m = g.count(x, x.rank - 1)
    mt = m if isinstance(m, int) else None
    x2 = collapse(g, "%arg0", x, (mt, k))
    dq = Dequant(("%arg2", st), bits, group)
    acc = emit_gemm(
        g, Gemm(m, n, k, 1, "dequant", "f32"), (x2, T((mt, k), "f32")), ("%arg1", qt), ("%arg3", b), dequant=dq
    )
    fn.extra.append(g.text([expand(g, acc, T((mt, n), "f32"), fn.results[0].shape)]))
    fn.attrs.update(
        {"qc.packed": f"@{g.name}", "qc.pack": f'"{PACK_F32},{PACK_F32}"', "qc.pack_operand": "array<i64: 1, 2>"}
    )


def lower_wlinear(fn: Fn, attrs: dict) -> list[str]:
    x, wq, s, b = fn.args
    bits, group = attrs["bits"], attrs["group"]
    fast = _wlinear_fast(fn, bits, group)
    if fast:
        return fast
    n, k = wq.shape[0], x.shape[-1]
    wt = T((n, k), "f32")
    w = fn.generic(
        2,
        [
            ("%arg1", wq, ["d0", "d1 floordiv 2" if bits <= 4 else "d1"]),
            ("%arg2", s, ["d0", f"d1 floordiv {group}"]),
        ],
        (fn.empty(wt), wt, ["d0", "d1"]),
        _dequant_body(bits),
        "%w",
    )
    return [linear_loops(fn, ("%arg0", x), (w, wt), ("%arg3", b))]


def lower_rms_norm_quantize(fn: Fn, attrs: dict) -> list[str]:
    x = fn.args[0]
    with fused_rows(fn):
        y = rms_norm_rows(fn, "%arg0", x, "%arg1", attrs["eps"])
        q, scale = quantize_rows(fn, y, x, attrs["bits"])
    return [q, token_scales(fn, scale, x)]


def lower_layer_norm_quantize(fn: Fn, attrs: dict) -> list[str]:
    x = fn.args[0]
    with fused_rows(fn):
        y = layer_norm_rows(fn, "%arg0", x, "%arg1", "%arg2", attrs["eps"])
        q, scale = quantize_rows(fn, y, x, attrs["bits"])
    return [q, token_scales(fn, scale, x)]


def _dequant_asym_body(bits: int) -> list[str]:
    """%a0: the code byte, %a1: the scale, %a2: the zero point: f32(i32(q) - i32(zp)) · scale, codes unsigned."""
    if bits > 4:
        q, code = [], "%a0"
    else:
        q = [
            "%k = linalg.index 1 : index",
            "%c2 = arith.constant 2 : index",
            "%par = arith.remui %k, %c2 : index",
            "%c0 = arith.constant 0 : index",
            "%odd = arith.cmpi ne, %par, %c0 : index",
            "%c15 = arith.constant 15 : i8",
            "%c4 = arith.constant 4 : i8",
            "%lo = arith.andi %a0, %c15 : i8",
            "%hi = arith.shrui %a0, %c4 : i8",
            "%q = arith.select %odd, %hi, %lo : i8",
        ]
        code = "%q"
    return [
        *q,
        f"%qi = arith.extui {code} : i8 to i32",
        "%zi = arith.extui %a2 : i8 to i32",
        "%d = arith.subi %qi, %zi : i32",
        "%f = arith.sitofp %d : i32 to f32",
        "%w = arith.mulf %f, %a1 : f32",
    ]


def lower_wlinear_asym(fn: Fn, attrs: dict) -> list[str]:
    """qc.wlinear_asym: the zero point subtracted in i32 while dequantizing (exact), then the f32 GEMM as
    qc.wlinear's per-call route (into the microkernel's panels when N allows, else [N, K] and linalg); with
    panels also the packed twin (`asym_panels`) that constant weights run, dequantized inside the kernel."""
    x, wq, s, zp, b = fn.args
    bits, group = attrs["bits"], attrs["group"]
    n, k = wq.shape[0], x.shape[-1]
    kmap = "d1 floordiv 2" if bits <= 4 else "d1"
    if panel_vectors(n):
        pt = packed_f32_type(n, k)
        row = f"d0 * {pt.shape[2]} + d2"
        ins = [("%arg1", wq, [row, kmap]), ("%arg2", s, [row, f"d1 floordiv {group}"])]
        ins.append(("%arg3", zp, [row, f"d1 floordiv {group}"]))
        w = fn.generic(3, ins, (fn.empty(pt), pt, ["d0", "d1", "d2"]), _dequant_asym_body(bits), "%w")
        m = fn.count(x, x.rank - 1)
        mt = m if isinstance(m, int) else None
        x2 = collapse(fn, "%arg0", x, (mt, k))
        acc = emit_gemm(fn, Gemm(m, n, k, 1, "panels", "f32"), (x2, T((mt, k), "f32")), (w, pt), ("%arg4", b))
        asym_panels.packed_twin(fn, bits, group)  # constant weights: packed at compile time (qc-cpu-pack-weights)
        return [expand(fn, acc, T((mt, n), "f32"), fn.results[0].shape)]
    wt = T((n, k), "f32")
    ins = [("%arg1", wq, ["d0", kmap]), ("%arg2", s, ["d0", f"d1 floordiv {group}"])]
    ins.append(("%arg3", zp, ["d0", f"d1 floordiv {group}"]))
    w = fn.generic(2, ins, (fn.empty(wt), wt, ["d0", "d1"]), _dequant_asym_body(bits), "%w")
    return [linear_loops(fn, ("%arg0", x), (w, wt), ("%arg4", b))]


LOWERINGS = {
    "wlinear": lower_wlinear,
    "wlinear_asym": lower_wlinear_asym,
    "rms_norm_quantize": lower_rms_norm_quantize,
    "layer_norm_quantize": lower_layer_norm_quantize,
}
