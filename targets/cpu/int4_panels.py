"""Packed int4 weights for the VNNI GEMM kernel (layout `i4_vnni_panels`), used by W4A8 qc.qlinear.

A W4A8 weight holds int4 values stored one per byte; packed two per byte it is read at half the bytes.
Layout: the VNNI panels [N/NR][K/4][NR·4] of `i8_vnni_panels` with pairs of k-quads merged into one byte:
[N/NR][K/8][NR·4], byte i of row j holding element i of k-quad 2j in its low nibble and element i of k-quad
2j+1 in its high nibble, each as the offset-binary nibble q + 8 (0..15).

Unpacking costs two vector ops per 64 bytes (`and 0x0F`, `shift right 4`) and no `- 8`: the nibbles are
the *unsigned* operand of vpdpbusd (u8 × s8) and A, unchanged, the signed one. Then
Σ_k A·(q + 8) = Σ_k A·q + 8·Σ_k A[m, k], so the kernel subtracts a per-row 8·Σ_k A (computed once per call
with the i32 quad copy of A the k loop broadcasts from) instead of the i8 kernel's per-column 128·Σ_k B:
A needs no +128 flip and B no column sums. i32 sums are exact (and wrap alike), so the results are
bit-identical to the i8 kernel and to `reference.qlinear`. K must be a multiple of 8 (else the i8 layout).
"""

import numpy as np

from .linalg_text import Fn, T


def fits_int4(w: np.ndarray) -> bool:
    """Whether an [N, K] integer weight can be packed as int4: every value in [-8, 7] and K a multiple of 8."""
    return w.ndim == 2 and w.shape[1] % 8 == 0 and w.dtype.kind == "i" and w.min() >= -8 and w.max() <= 7


def pack_quad_pairs(quads: np.ndarray) -> np.ndarray:
    """[P][K/4][NR·4] VNNI panels of int4 values -> [P][K/8][NR·4] bytes: quad 2j + 8 in the low nibble of
    row j, quad 2j+1 + 8 in the high nibble."""
    q = quads.astype(np.int16) + 8
    assert q.min() >= 0, "int4 values in [-8, 7]"
    assert q.max() <= 15, "int4 values in [-8, 7]"
    return np.ascontiguousarray((q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8).view(np.int8))


def packed_i4_type(n: int, k: int, nr: int) -> T:
    return T((n // nr, k // 8, nr * 4), "i8")


def vector_constants(fn: Fn, t: str) -> None:
    """%<t>_m15 and %<t>_s4: the nibble mask and shift, once per kernel (before its loops)."""
    fn.emit(f"%{t}_m15 = arith.constant dense<15> : vector<64xi8>")
    fn.emit(f"%{t}_s4 = arith.constant dense<4> : vector<64xi8>")


def unpack(name: str, ref: str, memref: str, t: str) -> list[str]:
    """Load 64 packed bytes at `ref` (`buf[indices]`) and define `name` (the low nibbles: k-quad 2j) and
    `name`h (the high nibbles: k-quad 2j+1), each a u8 vector of q + 8."""
    return [
        f"{name}p = vector.load {ref} : {memref}, vector<64xi8>",
        f"{name} = arith.andi {name}p, %{t}_m15 : vector<64xi8>",
        f"{name}h = arith.shrui {name}p, %{t}_s4 : vector<64xi8>",
    ]


def signed_quads(
    fn: Fn, c, m: int | str, k: int, a: tuple[str, str], dot: tuple[str, str], t: str
) -> tuple[str, str, str]:
    """A [M, K] i8 as i32 quads [M, K/4] (the k loop broadcasts one per row and quad) and the per-row
    correction 8·Σ_k A[m, k] as an i32 buffer [M], in one pass over A. c: the kernel's index constants; a: A's
    buffer and memref type; dot: the kernel's vpdpbusd function and its vector of 64 ones (u8), which sums 64
    bytes of A per instruction (K a multiple of 64; else 8 bytes at a time, sign-extended). Returns (quad
    buffer, its memref type, correction buffer)."""
    (abuf, am), (fdot, ones) = a, dot
    mt = m if isinstance(m, int) else None  # a dynamic M is an SSA index
    qm, rm = T((mt, k // 4), "i32").memref, T((mt,), "i32").memref
    w = 64 if k % 64 == 0 else 8
    vw, vq = ("vector<16xi32>", "vector<16xi32>") if w == 64 else ("vector<8xi32>", "vector<2xi32>")
    for v in (0, 1, 4, w, m, k):
        c(v)
    dyn = "" if mt else m
    fn.emit(f"%{t}_sq = memref.alloc({dyn}) {{alignment = 64 : i64}} : {qm}")
    fn.emit(f"%{t}_rc = memref.alloc({dyn}) {{alignment = 64 : i64}} : {rm}")
    fn.emit(f"%{t}_sz = arith.constant dense<0> : {vw}")
    fn.emit(f"%{t}_s3 = arith.constant 3 : i32")
    fn.emit(f"scf.for %{t}_sm = {c(0)} to {c(m)} step {c(1)} {{")
    fn.emit(f"%{t}_ss = scf.for %{t}_sk = {c(0)} to {c(k)} step {c(w)} iter_args(%{t}_sa = %{t}_sz) -> ({vw}) {{")
    fn.emit(f"  %{t}_sv = vector.load {abuf}[%{t}_sm, %{t}_sk] : {am}, vector<{w}xi8>")
    fn.emit(f"  %{t}_sw = vector.bitcast %{t}_sv : vector<{w}xi8> to {vq}")
    fn.emit(f"  %{t}_si = arith.divui %{t}_sk, {c(4)} : index")
    fn.emit(f"  vector.store %{t}_sw, %{t}_sq[%{t}_sm, %{t}_si] : {qm}, {vq}")
    if w == 64:
        fn.emit(
            f"  %{t}_sn = func.call {fdot}(%{t}_sa, {ones}, %{t}_sv) : ({vw}, vector<64xi8>, vector<64xi8>) -> {vw}"
        )
    else:
        fn.emit(f"  %{t}_se = arith.extsi %{t}_sv : vector<8xi8> to {vw}")
        fn.emit(f"  %{t}_sn = arith.addi %{t}_sa, %{t}_se : {vw}")
    fn.emit(f"  scf.yield %{t}_sn : {vw}")
    fn.emit("}")
    fn.emit(f"%{t}_sr = vector.reduction <add>, %{t}_ss : {vw} into i32")
    fn.emit(f"%{t}_s8 = arith.shli %{t}_sr, %{t}_s3 : i32")
    fn.emit(f"memref.store %{t}_s8, %{t}_rc[%{t}_sm] : {rm}")
    fn.emit("}")
    return f"%{t}_sq", qm, f"%{t}_rc"


def row_correction(fn: Fn, rcbuf: str, m: int | None, row: str, name: str) -> str:
    """The broadcast 8·Σ_k A of row `row` (subtracted from each of the row's accumulators)."""
    fn.emit(f"{name}s = memref.load {rcbuf}[{row}] : {T((m,), 'i32').memref}")
    fn.emit(f"{name} = vector.broadcast {name}s : i32 to vector<16xi32>")
    return name
