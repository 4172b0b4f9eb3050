"""Fast lowerings of the contraction ops (qc.linear, qc.matmul, qc.qlinear, qc.qmatmul) on `kernels`.

Each returns None when its microkernel does not apply (N not a multiple of 16; for the i8 kernels
also K not a multiple of 4 or no AVX512-VNNI), and `lower_ops` then writes the plain linalg.generic.
Leading dims are collapsed so the kernels see [M, K] (or [batch, M, K]) operands.

A weight operand (qc.linear, qc.qlinear) is consumed in a packed layout. The op's function packs it
with a copy and calls `<name>_packed`, which takes the packed weight; the function carries
`qc.packed = @<name>_packed`, `qc.pack = "<layout>"` and `qc.pack_operand = <index>` so that
qc-cpu-pack-weights can call the packed function directly with a weight packed at compile time. The i8
kernel of qc.qlinear also takes the weight's +128 correction (128 · Σ_k W[n, k]) as a last operand
(`qc.pack_append`), computed at compile time for a constant weight, so a call reads the weight once.
A qc.qlinear whose weight may hold int4 values (precision w4*, K a multiple of 8) also gets
`<name>_packed_i4` (`qc.packed_int4`), the kernel on two int4 per byte (`int4_panels`): the pass calls it
where the constant weight's values all fit in [-8, 7]. On CPUs without AVX512-VNNI every qc.qlinear
kernel also gets `<name>_packed_pairs` (`qc.packed_pairs`), the kernel on i16 pairs (`pair_panels`), which the
pass calls on constant weights.
"""

import math
from collections.abc import Callable

import numpy as np

from . import fp6_panels, int4_panels, pair_panels
from .kernels import Epilogue, Gemm, emit_gemm, has_vnni, packed_f32_type, packed_i8_type, panel_vectors
from .linalg_text import Fn, T, collapse, expand

PACK_F32 = "f32_panels"  # W[N, K] -> [N/NR][K][NR]
PACK_I8 = "i8_vnni_panels"  # W[N, K] -> [N/NR][K/4][NR·4]
PACK_I4 = "i4_vnni_panels"  # int4 W[N, K] -> [N/NR][K/8][NR·4], quads 2j, 2j+1 in the low, high nibbles
COLSUM = "i8_colsum128"  # int8 W[N, K] -> i32 [N]: 128 · Σ_k W[n, k], the +128 correction of the VNNI kernel


def pack_weight(fn: Fn, src: str, w: T, layout: str) -> tuple[str, T]:
    """Copy the [N, K] weight `src` into `layout` (the numpy twin is `pack_array`)."""
    n, k = w.shape
    if layout == PACK_F32:
        pt = packed_f32_type(n, k)
        nr = pt.shape[2]
        r = fn.generic(3, [(src, w, [f"d0 * {nr} + d2", "d1"])], (fn.empty(pt), pt, ["d0", "d1", "d2"]), [], "%a0")
        return r, pt
    pt = packed_i8_type(n, k)
    nr = pt.shape[2] // 4
    t4 = T((pt.shape[0], k // 4, nr, 4), "i8")
    full = ["d0", "d1", "d2", "d3"]
    r4 = fn.generic(4, [(src, w, [f"d0 * {nr} + d2", "d1 * 4 + d3"])], (fn.empty(t4), t4, full), [], "%a0")
    r = fn.v()
    fn.emit(f"{r} = tensor.collapse_shape {r4} [[0], [1], [2, 3]] : {t4.s} into {pt.s}")
    return r, pt


def pack_array(w, layout: str):
    """numpy: the packed layout of an [N, K] weight, equal to what `pack_weight` computes (PACK_I4: the
    int4 twin of PACK_I8, see `int4_panels`; the weight must satisfy `int4_panels.fits_int4`; COLSUM: the i32
    column sums `_colsum128` computes; fp6_panels / fp6_rows: fp6 codes four in three bytes, `fp6_panels.pack`)."""

    n, k = w.shape
    if layout in (fp6_panels.PACK_FP6, fp6_panels.PACK_FP6_ROWS):
        return fp6_panels.pack(w, layout, 16 * panel_vectors(n))
    if layout == COLSUM:
        return np.ascontiguousarray(w.astype(np.int32).sum(axis=1, dtype=np.int32) * np.int32(128))
    nr = 16 * panel_vectors(n)
    if layout == pair_panels.PACK_PAIRS:
        return pair_panels.pack_pairs(w, nr)
    if layout == PACK_F32:
        return np.ascontiguousarray(w.reshape(n // nr, nr, k).transpose(0, 2, 1))
    quads = np.ascontiguousarray(w.reshape(n // nr, nr, k // 4, 4).transpose(0, 2, 1, 3)).reshape(
        n // nr, k // 4, nr * 4
    )
    return int4_panels.pack_quad_pairs(quads) if layout == PACK_I4 else quads


def _with_packed_weight(
    fn: Fn, wi: int, layout: str, body: Callable[[Fn, T], list[str]], colsum: bool = False
) -> list[str]:
    """fn packs operand `wi` and calls `<fn>_packed`, whose body `body(g, packed_type)` writes. colsum: the
    packed function also takes the weight's `COLSUM` as its last operand (`qc.pack_append`: qc-cpu-pack-weights
    appends it as a constant; fn computes it on every call)."""
    w = fn.args[wi]
    wp, pt = pack_weight(fn, f"%arg{wi}", w, layout)
    args = list(fn.args)
    args[wi] = pt
    operands = [wp if i == wi else f"%arg{i}" for i in range(len(args))]
    if colsum:
        args.append(T(w.shape[:1], "i32"))
        operands.append(_colsum128(fn, f"%arg{wi}", w))
        fn.attrs["qc.pack_append"] = f'"{COLSUM}:{wi}"'
    g = Fn(f"{fn.name}_packed", args, fn.results)
    returns = body(g, pt)
    rs = [fn.v() for _ in fn.results]
    fn.emit(
        f"{', '.join(rs)} = func.call @{g.name}({', '.join(operands)}) : ({', '.join(t.s for t in args)}) "
        f"-> ({', '.join(t.s for t in fn.results)})"
    )
    fn.attrs.update({"qc.packed": f"@{g.name}", "qc.pack": f'"{layout}"', "qc.pack_operand": f"{wi} : i64"})
    fn.extra.append(g.text(returns))
    return rs


def _colsum128(fn: Fn, src: str, w: T) -> str:
    """128 · Σ_k w[n, k] (i32 [N]) of an i8 [N, K] weight, as `pack_array(w, COLSUM)`."""
    ct = T(w.shape[:1], "i32")
    body = ["%e = arith.extsi %a0 : i8 to i32", "%r = arith.addi %o, %e : i32"]
    s = fn.generic(2, [(src, w, ["d0", "d1"])], (fn.fill(ct, "0"), ct, ["d0"]), body, "%r", reduce_last=True)
    shift = ["%c7 = arith.constant 7 : i32", "%r = arith.shli %a0, %c7 : i32"]
    return fn.generic(1, [(s, ct, ["d0"])], (fn.empty(ct), ct, ["d0"]), shift, "%r")


def linear(fn: Fn) -> list[str] | None:
    x, w, b = fn.args
    n, k = w.shape
    if not panel_vectors(n):
        return None

    def body(g: Fn, pt: T) -> list[str]:
        m = g.count(x, x.rank - 1)  # rows: an int, or an SSA index where x has dynamic leading dims
        mt = m if isinstance(m, int) else None
        x2 = collapse(g, "%arg0", x, (mt, k))
        acc = emit_gemm(g, Gemm(m, n, k, 1, "panels", "f32"), (x2, T((mt, k), "f32")), ("%arg1", pt), ("%arg2", b))
        return [expand(g, acc, T((mt, n), "f32"), fn.results[0].shape)]

    return _with_packed_weight(fn, 1, PACK_F32, body)


def _batched(fn: Fn, a: T, b: T, bi: int) -> tuple[str, T, str, T, int]:
    """a = %arg0 [..., M, K], b = %arg<bi> [..., K, N] -> ([B, M, K], [B, K, N]), 2-D when there is one batch."""
    nb = math.prod(a.shape[:-2])
    (m, k), n = a.shape[-2:], b.shape[-1]
    sa, sb = ((nb, m, k), (nb, k, n)) if nb > 1 else ((m, k), (k, n))
    return collapse(fn, "%arg0", a, sa), T(sa, a.elem), collapse(fn, f"%arg{bi}", b, sb), T(sb, b.elem), nb


def matmul(fn: Fn) -> list[str] | None:
    a, b = fn.args
    n = b.shape[-1]
    if a.dynamic or b.dynamic or not panel_vectors(n):
        return None
    a2, at, b2, bt, nb = _batched(fn, a, b, 1)
    (m, k) = a.shape[-2:]
    acc = emit_gemm(fn, Gemm(m, n, k, nb, "rows", "f32"), (a2, at), (b2, bt))
    return [expand(fn, acc, T(at.shape[:-1] + (n,), "f32"), fn.results[0].shape)]


def qlinear(fn: Fn, epilogue: tuple[list[str], str], precision: str | None = None) -> list[str] | None:
    """The VNNI kernel with the epilogue (body lines, result: %a0 the i32 accumulator, %a1 the activation
    scale (per tensor [1] or per row), %a2 the weight scale [N], %a3 the bias [N]) applied in registers.
    precision: the op's `qc.precision`; the int4 twin is emitted for 'w4*' and where it is unknown (None:
    qc-cpu-pack-weights then decides from the weight's values alone). A sixth operand (qc.qlinear_gated) is
    an [..., N] gate the epilogue multiplies the result by (%a4)."""
    x, xs, w, ws, b = fn.args[:5]
    gate = fn.args[5] if len(fn.args) > 5 else None
    n, k = w.shape
    if not (panel_vectors(n) and k % 4 == 0):
        return None

    def body(g: Fn, pt: T, int4: bool = False, pairs: bool = False) -> list[str]:
        # the VNNI kernel's last operand: COLSUM
        corr = None if int4 or pairs else (f"%arg{len(g.args) - 1}", g.args[-1])
        m = g.count(x, x.rank - 1)  # rows: an int, or an SSA index where x has dynamic leading dims
        mt = m if isinstance(m, int) else None
        x2 = collapse(g, "%arg0", x, (mt, k))
        per_row = xs.shape != (1,)
        xs2 = collapse(g, "%arg1", xs, (mt,)) if per_row else "%arg1"
        inputs = [
            (xs2, T((mt,), "f32") if per_row else xs, "row" if per_row else "scalar"),
            ("%arg3", ws, "col"),
            ("%arg4", b, "col"),
        ]
        if gate is not None:
            inputs.append((collapse(g, "%arg5", gate, (mt, n)), T((mt, n), "f32"), "full"))
        ep = Epilogue(tuple(inputs), tuple(epilogue[0]), epilogue[1])
        g8 = Gemm(m, n, k, 1, "panels", "i8", int4, pairs)
        y = emit_gemm(g, g8, (x2, T((mt, k), "i8")), ("%arg2", pt), epilogue=ep, corrections=corr)
        return [expand(g, y, T((mt, n), "f32"), fn.results[0].shape)]

    rs = _with_packed_weight(fn, 2, PACK_I8, body, colsum=True)
    nr = 16 * panel_vectors(n)
    if not has_vnni():  # the emulated vpdpbusd costs twice the multiplies of pmaddwd on i16 pairs
        gp = Fn(f"{fn.name}_packed_pairs", [x, xs, pair_panels.packed_pairs_type(n, k, nr), *fn.args[3:]], fn.results)
        fn.extra.append(gp.text(body(gp, gp.args[2], pairs=True)))
        fn.attrs["qc.packed_pairs"] = f"@{gp.name}"
    if k % 8 == 0 and (precision is None or precision.startswith("w4")):
        g4 = Fn(f"{fn.name}_packed_i4", [x, xs, int4_panels.packed_i4_type(n, k, nr), *fn.args[3:]], fn.results)
        fn.extra.append(g4.text(body(g4, g4.args[2], int4=True)))
        fn.attrs["qc.packed_int4"] = f"@{g4.name}"
    return rs


def qmatmul(fn: Fn, epilogue: Callable[[Fn, str], str]) -> list[str] | None:
    a, _, b, _ = fn.args
    (m, k), n = a.shape[-2:], b.shape[-1]
    if a.dynamic or b.dynamic or not (panel_vectors(n) and k % 4 == 0):
        return None
    a2, at, b2, bt, nb = _batched(fn, a, b, 2)
    # B [batch?, K, N] -> VNNI quads [batch?, K/4, N·4], copied per call (B is an activation)
    lead = bt.shape[:-2]
    t4 = T((*lead, k // 4, n, 4), "i8")
    d = [f"d{i}" for i in range(t4.rank)]
    nl = len(lead)
    src = [*d[:nl], f"d{nl} * 4 + d{nl + 2}", f"d{nl + 1}"]
    b4 = fn.generic(t4.rank, [(b2, bt, src)], (fn.empty(t4), t4, d), [], "%a0")
    pt = T((*lead, k // 4, n * 4), "i8")
    groups = [[i] for i in range(nl + 1)] + [[nl + 1, nl + 2]]
    bp = fn.v()
    fn.emit(f"{bp} = tensor.collapse_shape {b4} {groups} : {t4.s} into {pt.s}")
    acc = emit_gemm(fn, Gemm(m, n, k, nb, "rows", "i8"), (a2, at), (bp, pt))
    return [epilogue(fn, expand(fn, acc, T(at.shape[:-1] + (n,), "i32"), fn.results[0].shape))]
