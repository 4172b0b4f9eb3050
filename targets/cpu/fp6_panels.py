"""fp6 weights packed four codes in three bytes for the CPU target (qc.fp_wlinear with e3m2 / e2m3 elements).

The dialect keeps fp6 codes one per byte; where the weight is a constant, qc-cpu-pack-weights stores it in
`formats.pack_fp6`'s row layout (a quad of codes k = 4j..4j+3 as the 24-bit word c0 | c1 << 6 | c2 << 12 |
c3 << 18, low byte first; K padded with zero codes to whole quads): 0.75 byte per weight. Two layouts:

- `fp6_panels` (N a multiple of 16): those rows in the f32 microkernel's column panels, [N/NR][3·ceil(K/4)][NR]
  bytes: the three bytes of a quad for NR columns are three rows of the panel. The GEMM decodes one panel at
  a time into its [K][NR] f32 scratch (`fill`, the `kernels.Dequant.fill` of the packed twin): per quad and
  16 columns, three byte vectors -> the words in i32 lanes -> code i's bits 6i..6i+5 -> its f32 value
  (`quad_lines`) -> times the group's scale.
- `fp6_rows` (other N): the rows as they are, [N, 3·ceil(K/4)]; a linalg map decodes the weight per call
  (byte 3·(k // 4) + b of the row, shift 6·(k mod 4)) before the plain loops.

Each code becomes the f32 bits `decode_lines` makes of it (magnitude bits in f32's exponent and mantissa places,
the sign on top; the panels take them from the word with one shift and mask each), then the same exact multiply
by 2^(127 - bias) and one mulf by the f32 scale, as `formats.dequantize_rows`: bit-identical to the reference
and to the one-code-per-byte route.
"""

import numpy as np
from qcomp.dialects import formats as fmt
from qcomp.targets.common.float_formats import decode_lines
from qcomp.targets.common.linalg_text import f32 as _f32

from .isa import LANES
from .linalg_text import Fn, T
from .vector_map import vector_body

PACK_FP6 = "fp6_panels"  # fp6 codes W[N, K] (one per byte) -> [N/NR][3·ceil(K/4)][NR], pack_fp6's rows in panels
PACK_FP6_ROWS = "fp6_rows"  # fp6 codes W[N, K] -> [N, 3·ceil(K/4)], pack_fp6's rows


def is_fp6(elem: str) -> bool:
    return fmt.ELEMS[elem].bits == 6


def row_bytes(k: int) -> int:
    """Bytes of a packed row of k codes: three per quad, the last quad padded."""
    return fmt.packed_row_bytes("e3m2", k)


def pack(w: np.ndarray, layout: str, nr: int) -> np.ndarray:
    """numpy: fp6 codes [N, K] (uint8/i8, low 6 bits) in `layout` (i8)."""
    rows = fmt.pack_fp6(np.asarray(w).view(np.uint8))
    if layout == PACK_FP6_ROWS:
        return rows.view(np.int8)
    n, kb = rows.shape
    return np.ascontiguousarray(rows.reshape(n // nr, nr, kb).transpose(0, 2, 1)).view(np.int8)


def _ci(name: str, v: int) -> str:
    return f"{name} = arith.constant {v} : i32"


def _word_lines() -> list[str]:
    """Scalar lines: i8 bytes %b0, %b1, %b2 -> the i32 word %word = b0 | b1 << 8 | b2 << 16 (unsigned bytes)."""
    return [
        "%u0 = arith.extui %b0 : i8 to i32",
        "%u1 = arith.extui %b1 : i8 to i32",
        "%u2 = arith.extui %b2 : i8 to i32",
        _ci("%c8", 8),
        _ci("%c16", 16),
        "%t1 = arith.shli %u1, %c8 : i32",
        "%t2 = arith.shli %u2, %c16 : i32",
        "%w01 = arith.ori %u0, %t1 : i32",
        "%word = arith.ori %w01, %t2 : i32",
        _ci("%c63", 63),
    ]


def _code_lines(elem: str, shift: str, i: int) -> list[str]:
    """Scalar lines: code i of %word (i32 `shift` = 6·i) decoded into f32 %v<i>."""
    return [
        f"%r{i} = arith.shrui %word, {shift} : i32",
        f"%q{i} = arith.andi %r{i}, %c63 : i32",
        *decode_lines(elem, f"%q{i}", f"%v{i}", f"d{i}"),
    ]


def _shift(src: str, by: int, out: str) -> tuple[list[str], str]:
    """(lines, name) of `src` shifted left by `by` bits (right where negative; `src` itself where 0) into `out`."""
    if by == 0:
        return [], src
    op = "shli" if by > 0 else "shrui"
    return [_ci(f"{out}n", abs(by)), f"{out} = arith.{op} {src}, {out}n : i32"], out


def quad_lines(elem: str, count: int = 4) -> list[str]:
    """Scalar lines: bytes %b0..%b2 of a quad and scales %sc0..%sc<count-1> -> weights %x0..%x<count-1> (f32).

    Code i is bits 6i..6i+5 of the word; its f32 bits, as `decode_lines` makes them, are taken from the word
    directly: the 5 magnitude bits shifted to f32's exponent and mantissa places (mantissa msb at bit 22), the
    sign bit to bit 31; then the exact multiply by 2^(127 - bias) and the scale's mulf."""
    f = fmt.ELEMS[elem]
    place = 23 - f.mbits
    lines = [
        *_word_lines(),
        _ci("%mmask", 31 << place),
        _ci("%smask", -(1 << 31)),
        f"%kb = arith.constant {_f32(2.0 ** (127 - f.bias))} : f32",
    ]
    for i in range(count):
        ml, m = _shift("%word", place - 6 * i, f"%mag{i}")
        sl, sg = _shift("%word", 26 - 6 * i, f"%sgn{i}")
        lines += [
            *ml,
            f"%mb{i} = arith.andi {m}, %mmask : i32",
            *sl,
            f"%sb{i} = arith.andi {sg}, %smask : i32",
            f"%fb{i} = arith.ori %mb{i}, %sb{i} : i32",
            f"%ft{i} = arith.bitcast %fb{i} : i32 to f32",
            f"%v{i} = arith.mulf %ft{i}, %kb : f32",
            f"%x{i} = arith.mulf %v{i}, %sc{i} : f32",
        ]
    return lines


def fill(elem: str, group: int):
    """`kernels.Dequant.fill` for `fp6_panels`: lines filling the [K][NR] f32 scratch with panel %<tag>_p of the
    decoded weight, the full quads in a loop over k / 4, the partial last one (K mod 4 codes) after it. One scale
    vector per quad where its four k share a group (group a multiple of 4, or one group in all)."""

    def emit(fn: Fn, g, tag: str, q: tuple[str, str], s: tuple[str, str], scratch: tuple[str, str]) -> None:
        (qbuf, qm), (sbuf, sm), (wsc, wm) = q, s, scratch
        k, nv = g.k, g.nv
        shared = group % 4 == 0 or group >= k
        consts: dict[int, str] = {}

        def c(v: int) -> str:
            if v not in consts:
                consts[v] = f"%{tag}_p6c{v}"
                fn.emit(f"{consts[v]} = arith.constant {v} : index")
            return consts[v]

        for v in (0, 1, 2, 3, 4, group, *(j * LANES for j in range(nv))):
            c(v)

        def quad(kb: str, k0: str, count: int, qt: str) -> None:
            """Codes k0 .. k0 + count - 1 from bytes kb .. kb + 2 of every row of the panel."""
            rows = [kb] + [f"%{qt}_kb{b}" for b in (1, 2)]
            for b in (1, 2):
                fn.emit(f"{rows[b]} = arith.addi {kb}, {c(b)} : index")
            ks = [k0] + [f"%{qt}_k{i}" for i in range(1, count)]
            for i in range(1, count):
                fn.emit(f"{ks[i]} = arith.addi {k0}, {c(i)} : index")
            gs = [f"%{qt}_g{i}" for i in range(1 if shared else count)]
            for i, gv in enumerate(gs):
                fn.emit(f"{gv} = arith.divui {ks[i]}, {c(group)} : index")
            for j in range(nv):
                col = c(j * LANES)
                names = {}
                for b in range(3):
                    names[f"%b{b}"] = f"%{qt}_v{j}b{b}"
                    fn.emit(
                        f"{names[f'%b{b}']} = vector.load {qbuf}[%{tag}_p, {rows[b]}, {col}] : {qm}, vector<{LANES}xi8>"
                    )
                for i, gv in enumerate(gs):
                    fn.emit(f"%{qt}_v{j}s{i} = vector.load {sbuf}[%{tag}_p, {gv}, {col}] : {sm}, vector<{LANES}xf32>")
                for i in range(count):
                    names[f"%sc{i}"] = f"%{qt}_v{j}s{0 if shared else i}"
                vec = vector_body(quad_lines(elem, count), f"{qt}_v{j}", names)
                assert vec is not None, "fp6 quad body: arith ops on i8/i32/f32 only"
                lines, _, local = vec
                for line in lines:
                    fn.emit(line)
                for i in range(count):
                    fn.emit(f"vector.store {local[f'%x{i}']}, {wsc}[{ks[i]}, {col}] : {wm}, vector<{LANES}xf32>")

        full = k // 4
        if full:
            fn.emit(f"scf.for %{tag}_p6q = {c(0)} to {c(full)} step {c(1)} {{")
            fn.emit(f"%{tag}_p6kb = arith.muli %{tag}_p6q, {c(3)} : index")
            fn.emit(f"%{tag}_p6k0 = arith.muli %{tag}_p6q, {c(4)} : index")
            quad(f"%{tag}_p6kb", f"%{tag}_p6k0", 4, f"{tag}_p6l")
            fn.emit("}")
        if k % 4:
            quad(c(3 * full), c(4 * full), k % 4, f"{tag}_p6t")

    return emit


def rows_body(elem: str, scale_lines: list[str], scale: str) -> list[str]:
    """Generic body for `fp6_rows`: %a0, %a1, %a2 the bytes 3·(k // 4) + 0, 1, 2 of the row, `scale_lines` the
    f32 scale `scale` of %a3 -> %w."""
    return [
        "%k = linalg.index 1 : index",
        "%c4i = arith.constant 4 : index",
        "%kr = arith.remui %k, %c4i : index",
        "%kr32 = arith.index_cast %kr : index to i32",
        _ci("%c6", 6),
        "%sh = arith.muli %kr32, %c6 : i32",
        *[line.replace("%b0", "%a0").replace("%b1", "%a1").replace("%b2", "%a2") for line in _word_lines()],
        *_code_lines(elem, "%sh", 0),
        *scale_lines,
        f"%w = arith.mulf %v0, {scale} : f32",
    ]


def rows_maps() -> list[str]:
    """The three bytes of the quad of k (d1) in a `fp6_rows` row."""
    return [f"(d1 floordiv 4) * 3 + {b}" for b in range(3)]


def rows_type(n: int, k: int) -> T:
    return T((n, row_bytes(k)), "i8")
