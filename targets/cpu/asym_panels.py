"""Packed zero-point weights for the f32 GEMM microkernel: `qc.wlinear_asym` on constant weights.

`lower_wlinear_asym` gives each qc.wlinear_asym whose N fits the microkernel's panels a twin `<name>_packed`
taking the codes, scales and zero points each packed in panels (layout `f32_panels` of `gemm_ops`, applied to
the i8 arrays: codes [N/NR][K'][NR], K' = K/2 nibble pairs at <= 4 bits, else K; scales f32 and zero points
i8 [N/NR][G][NR]). qc-cpu-pack-weights packs all three at compile time and calls the twin, which runs
qc.wlinear's 'dequant' GEMM (`kernels.Dequant`): each column panel of the weight is dequantized once into an
f32 [K][NR] scratch that every row tile then reads, so a call reads the 4-bit weight once instead of an f32
copy written per call. Dynamic rows work as in qc.wlinear (the row count is an SSA index).

The dequantization is the reference's (`reference_asym.dequantize_weight_asym`) operation by operation:
the unsigned code (the nibble masked back to 0..15: the shared panel loop sign-extends nibbles, and
`v & 15` undoes that exactly), minus the zero point of the column's group, exact in integers (i8 at <= 4
bits, where q - z is in [-15, 15]; i32 at wider codes, read as unsigned), one sitofp, one mulf by the
scale. The weight is bit-identical to the per-call route's, and so are the results (same kernel, same sums).

The zero point enters through `Dequant.decode` (the hook float formats use to decode codes): it loads the
zero-point vector of the panel's current group next to the scale the panel loop loads, using the loop's
names (`%<tag>_p` the panel, `%<tag>_dg` the group, `%<tag>_c<col>` the column offset), which the decode
hook's tag `<tag>_dq<j>d<n>` identifies.
"""

import re

from .kernels import LANES, Dequant, Gemm, emit_gemm, panel_vectors
from .linalg_text import Fn, T, collapse, expand

PACK_F32 = "f32_panels"  # as gemm_ops.PACK_F32: W[N, K] -> [N/NR][K][NR], for any element type
_TAG = re.compile(r"(?P<t>.+)_dq(?P<j>\d+)d(?P<n>\d+)")


def packed_types(n: int, kq: int, groups: int) -> tuple[T, T, T]:
    """(codes, scales, zero points) in panels for N output channels, K' code columns and G groups."""
    nr = LANES * panel_vectors(n)
    return T((n // nr, kq, nr), "i8"), T((n // nr, groups, nr), "f32"), T((n // nr, groups, nr), "i8")


def applies(n: int, k: int, bits: int, group: int) -> bool:
    """Whether the packed twin exists: N fills panels; nibble codes need an even group and an even K (the
    panel loop dequantizes two k per byte and both must fall in one group)."""
    return bool(panel_vectors(n)) and (bits > 4 or (group % 2 == 0 and k % 2 == 0))


def _decode(zbuf: str, zm: str, bits: int):
    """Dequant.decode: (code vector v, f32 result name, tag) -> lines computing f32(q - z) (the scale follows)."""

    def decode(v: str, res: str, tag: str) -> list[str]:
        m = _TAG.fullmatch(tag)
        if m is None:  # the panel loop's names changed: fail loudly, never compute something else
            raise AssertionError(f"asym_panels: unexpected dequant tag {tag!r}")
        t, col = m["t"], f"%{m['t']}_c{int(m['j']) * LANES}"
        vi8 = f"vector<{LANES}xi8>"
        z = f"%{tag}_z"
        lines = [f"{z} = vector.load {zbuf}[%{t}_p, %{t}_dg, {col}] : {zm}, {vi8}"]
        if bits <= 4:  # nibble codes: q = v & 15 (v arrives sign-extended), q - z exact in i8
            lines += [
                f"%{tag}_m = arith.constant dense<15> : {vi8}",
                f"%{tag}_q = arith.andi {v}, %{tag}_m : {vi8}",
                f"%{tag}_d = arith.subi %{tag}_q, {z} : {vi8}",
                f"{res} = arith.sitofp %{tag}_d : {vi8} to vector<{LANES}xf32>",
            ]
        else:  # bytes read as unsigned: q - z in i32
            vi32 = f"vector<{LANES}xi32>"
            lines += [
                f"%{tag}_q = arith.extui {v} : {vi8} to {vi32}",
                f"%{tag}_zi = arith.extui {z} : {vi8} to {vi32}",
                f"%{tag}_d = arith.subi %{tag}_q, %{tag}_zi : {vi32}",
                f"{res} = arith.sitofp %{tag}_d : {vi32} to vector<{LANES}xf32>",
            ]
        return lines

    return decode


def packed_twin(fn: Fn, bits: int, group: int) -> None:
    """Add `<fn>_packed` (x, codes, scales, zero points in panels, bias) to fn's extra functions and tag fn so
    that qc-cpu-pack-weights calls it with its three constant operands packed; no-op where it does not apply."""
    x, wq, s, zp, b = fn.args
    n, k = wq.shape[0], x.shape[-1]
    if not applies(n, k, bits, group):
        return
    qt, st, zt = packed_types(n, wq.shape[1], s.shape[1])
    g = Fn(f"{fn.name}_packed", [x, qt, st, zt, b], fn.results)
    zbuf = g.v()
    g.emit(f"{zbuf} = bufferization.to_buffer %arg3 read_only : {zt.s} to {zt.memref}")
    m = g.count(x, x.rank - 1)  # rows: an int, or an SSA index where x has dynamic leading dims
    mt = m if isinstance(m, int) else None
    x2 = collapse(g, "%arg0", x, (mt, k))
    dq = Dequant(("%arg2", st), bits, group, decode=_decode(zbuf, zt.memref, bits))
    acc = emit_gemm(
        g, Gemm(m, n, k, 1, "dequant", "f32"), (x2, T((mt, k), "f32")), ("%arg1", qt), ("%arg4", b), dequant=dq
    )
    fn.extra.append(g.text([expand(g, acc, T((mt, n), "f32"), fn.results[0].shape)]))
    fn.attrs.update(
        {
            "qc.packed": f"@{g.name}",
            "qc.pack": f'"{PACK_F32},{PACK_F32},{PACK_F32}"',
            "qc.pack_operand": "array<i64: 1, 2, 3>",
        }
    )
