"""The int8 GEMM kernel for CPUs without AVX512-VNNI: i16 pairs and pmaddwd (layout `i8_pair_panels`).

Without VNNI, the u8 × s8 quad dot (`vpdpbusd`) of the VNNI kernel is emulated: on AVX2 its u8 operand (A + 128,
up to 255) is split into nibbles so that vpmaddubsw cannot saturate, four multiplies per 32 products. This kernel
multiplies sign-extended i16 pairs instead: one vpmaddwd per 16 products (Σ of two i16 × i16 products in i32,
exact for any int8 values, (-128)² included), so A needs no +128 flip and B no column sums.

- B (a constant qc.qlinear weight, packed at compile time by qc-cpu-pack-weights): [N/NR][K/2][NR·2] i8, each
  column's k-pair (2j, 2j + 1) adjacent; one 32-byte load is 16 columns of one pair, sign-extended to i16 in
  the dot function (vpmovsxbw). The same bytes as the VNNI layout: a decode step reads no more.
- A: copied once per call into i32 words [M, K/2], each two sign-extended i16 (a[2j], a[2j + 1]); the k loop
  broadcasts one word per row.
- The dot is plain vector ops (sext, mul, add of even and odd lanes), which LLVM selects as vpmovsxbw + vpmaddwd
  on AVX2 (pmaddwd on SSE2): no ISA-specific intrinsic, so the kernel is correct on every x86 ISA.
- Tiles: `ROWS` rows × 16 columns (2·ROWS ymm accumulators of AVX2's 16 registers), one panel vector at a time.

The i32 sums are the exact integer sums of `reference.qlinear` (any order of an integer sum is the same), so the
results are bit-identical to the VNNI kernel's. K must be even (qc.qlinear's kernels take K % 4 == 0).
"""

import numpy as np

from .linalg_text import Fn, T

PACK_PAIRS = "i8_pair_panels"  # int8 W[N, K] -> [N/NR][K/2][NR·2]
ROWS = 6  # rows per register tile (the remainder runs one row at a time)


def pack_pairs(w: np.ndarray, nr: int) -> np.ndarray:
    """numpy: [N, K] -> [N/NR][K/2][NR·2], element [p, j, 2c + h] = w[p·NR + c, 2j + h]."""
    n, k = w.shape
    pairs = w.reshape(n // nr, nr, k // 2, 2).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(pairs).reshape(n // nr, k // 2, nr * 2)


def packed_pairs_type(n: int, k: int, nr: int) -> T:
    return T((n // nr, k // 2, nr * 2), "i8")


def dot_function(name: str) -> str:
    """`name`(acc: 16 x i32, a: 32 x i16, b: 32 x i8) = acc + Σ of each lane's pair of products a·b."""
    even, odd = (", ".join(str(i) for i in range(p, 32, 2)) for p in (0, 1))
    return (
        f"func.func private {name}(%acc: vector<16xi32>, %a: vector<32xi16>, %b: vector<32xi8>) -> vector<16xi32> {{\n"
        "  %a32 = arith.extsi %a : vector<32xi16> to vector<32xi32>\n"
        "  %b32 = arith.extsi %b : vector<32xi8> to vector<32xi32>\n"
        "  %p = arith.muli %a32, %b32 : vector<32xi32>\n"
        f"  %e = vector.shuffle %p, %p [{even}] : vector<32xi32>, vector<32xi32>\n"
        f"  %o = vector.shuffle %p, %p [{odd}] : vector<32xi32>, vector<32xi32>\n"
        "  %s = arith.addi %e, %o : vector<16xi32>\n"
        "  %r = arith.addi %acc, %s : vector<16xi32>\n"
        "  return %r : vector<16xi32>\n"
        "}"
    )


def pair_words(fn: Fn, c, m: int | str, k: int, a: tuple[str, str], t: str) -> tuple[str, str]:
    """A [M, K] i8 (buffer and memref type) as i32 words [M, K/2] of two sign-extended i16, 64 bytes of A at a
    time where K allows (else 2). c: the kernel's index constants. Returns the word buffer and its memref type."""
    abuf, am = a
    mt = m if isinstance(m, int) else None  # a dynamic M is an SSA index
    wm = T((mt, k // 2), "i32").memref
    w = 64 if k % 64 == 0 else 2
    for v in (0, 1, 2, w, m, k):
        c(v)
    fn.emit(f"%{t}_pw = memref.alloc({'' if mt else m}) {{alignment = 64 : i64}} : {wm}")
    fn.emit(f"scf.for %{t}_pm = {c(0)} to {c(m)} step {c(1)} {{")
    fn.emit(f"scf.for %{t}_pk = {c(0)} to {c(k)} step {c(w)} {{")
    fn.emit(f"  %{t}_pv = vector.load {abuf}[%{t}_pm, %{t}_pk] : {am}, vector<{w}xi8>")
    fn.emit(f"  %{t}_ps = arith.extsi %{t}_pv : vector<{w}xi8> to vector<{w}xi16>")
    fn.emit(f"  %{t}_pb = vector.bitcast %{t}_ps : vector<{w}xi16> to vector<{w // 2}xi32>")
    fn.emit(f"  %{t}_pj = arith.divui %{t}_pk, {c(2)} : index")
    fn.emit(f"  vector.store %{t}_pb, %{t}_pw[%{t}_pm, %{t}_pj] : {wm}, vector<{w // 2}xi32>")
    fn.emit("}")
    fn.emit("}")
    return f"%{t}_pw", wm
