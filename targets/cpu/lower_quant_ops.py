"""CPU lowerings of the weight-only quantization ops (qc op -> linalg text), merged into
`lower_qc`'s table.

`qc.wlinear` dequantizes the integer weight once per call into the f32 GEMM microkernel's panel
layout and runs that kernel (when N is a multiple of 16; otherwise into an f32 [N, K] tensor and a
plain linalg contraction) (unpacking int4 nibbles inside the kernel: the packed byte is read through the
map (n, k floordiv 2), the nibble chosen by the parity of k and sign-extended with shifts), then an
f32 x · wᵀ + b exactly like `qc.linear`. The dequantization follows `reference.dequantize_weight`
operation by operation (sitofp, one mulf), so the dequantized weight is bit-exact.
"""

import math

from .kernels import Gemm, emit_gemm, packed_f32_type, panel_vectors
from .linalg_text import Fn, T, collapse, expand
from .lower_ops import linear_loops


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
    m = math.prod(x.shape[:-1])
    x2 = collapse(fn, "%arg0", x, (m, k))
    acc = emit_gemm(fn, Gemm(m, n, k, 1, "panels", "f32"), (x2, T((m, k), "f32")), (w, pt), ("%arg3", b))
    return [expand(fn, acc, T((m, n), "f32"), fn.results[0].shape)]


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


LOWERINGS = {"wlinear": lower_wlinear}
