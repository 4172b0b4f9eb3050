"""The weight-only GEMM of qc.wlinear (w4a16 / w8a16) as a GPU kernel: dequantize in the kernel, f32 FMAs.

y[m, n] = Σ_k x[m, k] · w[n, k] + b[n] with w[n, k] = f32(q[n, k]) · scale[n, k // group], q unpacked from
two nibbles per byte for bits ≤ 4 (element 2j in the low nibble; `reference.pack_int4`) or read as i8.

Each thread owns one output column n and `rows` consecutive rows (a block of `THREADS` threads covers
THREADS columns, the grid (ceil(N / THREADS), ceil(M / rows))). It walks K group by group: the group's scale
is loaded once, then per k the weight byte is loaded, the nibble sign-extended in i8 (shift left so it is
the top nibble, arithmetic shift right by 4), converted with `sitofp` and multiplied by the scale — exactly
the reference's one `mulf`, so the dequantized weight is bit-exact — and `rows` accumulators take
`math.fma(x[m, k], w, acc)` (in K order, one rounding per k). The bias is added at the end with one
`addf`. The f32 sum order (sequential in k, fused multiply-adds) differs from the CPU kernel's (panels of
vector FMAs), so outputs agree with the CPU within rounding, not bit for bit; with x = I each output is one
product `fma(1, w, 0) = w`, which checks the dequantized weight exactly.

Rows beyond M and columns beyond N are clamped for loads and not stored. Weight reads are not coalesced
(a warp reads 32 rows of wq); the kernel is written for correctness and the weight-bandwidth-bound
decode shapes, not peak throughput.
"""

from __future__ import annotations

from dataclasses import dataclass

from qcomp.dialects.errors import QcompError

from .kernels import _Body
from .simt import SimtKernel, end_for, for_range

THREADS = 128
MAX_ROWS = 4


@dataclass(frozen=True)
class WLinearSpec:
    """One qc.wlinear shape: x [m, k] f32, wq [n, ceil(k/2) or k] i8, scale [n, ceil(k/group)], b [n] -> y [m, n]."""

    m: int
    n: int
    k: int
    bits: int
    group: int

    def __post_init__(self):
        if min(self.m, self.n, self.k) < 1:
            raise QcompError(f"gpu wlinear: empty shape m={self.m} n={self.n} k={self.k}")
        if not 2 <= self.bits <= 8:
            raise QcompError(f"gpu wlinear: bits must be in 2..8, got {self.bits}")
        if self.group < 1:
            raise QcompError(f"gpu wlinear: group must be positive, got {self.group}")

    @property
    def name(self) -> str:
        return f"wlinear_m{self.m}_n{self.n}_k{self.k}_w{self.bits}g{self.group}"

    @property
    def packed(self) -> bool:
        return self.bits <= 4

    @property
    def kw(self) -> int:
        return -(-self.k // 2) if self.packed else self.k

    @property
    def groups(self) -> int:
        return -(-self.k // self.group)

    @property
    def rows(self) -> int:
        return min(MAX_ROWS, self.m)

    def grid(self) -> tuple[int, int, int]:
        return (-(-self.n // THREADS), -(-self.m // self.rows), 1)

    def arg_shapes(self) -> list[tuple[tuple[int, ...], str]]:
        """(shape, element) of x, wq, scale, b, then y."""
        return [
            ((self.m, self.k), "f32"),
            ((self.n, self.kw), "i8"),
            ((self.n, self.groups), "f32"),
            ((self.n,), "f32"),
            ((self.m, self.n), "f32"),
        ]

    def kernel(self) -> SimtKernel:
        names = ["%x", "%wq", "%scale", "%bias", "%y"]
        types = [f"memref<{'x'.join(map(str, s))}x{e}>" for s, e in self.arg_shapes()]
        return SimtKernel(self.name, list(zip(names, types, strict=True)), self.grid(), THREADS, [self._phase])

    def scale_value(self, b: _Body, s: str, d: int) -> str:
        """The f32 scale of a group from what `scale` holds (f32 here)."""
        return s

    def weight(self, b: _Body, q: str, s: str, d: int) -> str:
        """The f32 weight of the i8 value `q` (a nibble sign-extended, or a byte) with its group's scale `s`."""
        return b.op(f"arith.mulf {b.op(f'arith.sitofp {q} : i8 to f32', 'w', d)}, {s} : f32", "w", d)

    def _phase(self, b: _Body, tid: str, bx: str, by: str, d: int) -> None:
        tx, tw, ts, tb, ty = (f"memref<{'x'.join(map(str, s))}x{e}>" for s, e in self.arg_shapes())
        idx = "index"
        n = b.op(f"arith.addi {b.op(f'arith.muli {bx}, {b.c(THREADS)} : {idx}', 'n', d)}, {tid} : {idx}", "n", d)
        n_ld = b.op(f"arith.minui {n}, {b.c(self.n - 1)} : {idx}", "n", d)
        m0 = b.op(f"arith.muli {by}, {b.c(self.rows)} : {idx}", "m", d)
        ms, ms_ld = [], []
        for r in range(self.rows):
            m = b.op(f"arith.addi {m0}, {b.c(r)} : {idx}", "m", d) if r else m0
            ms.append(m)
            ms_ld.append(b.op(f"arith.minui {m}, {b.c(self.m - 1)} : {idx}", "m", d))
        zero = b.c("0.000000e+00", "f32")
        acc_t = ["f32"] * self.rows
        g, accs, res = for_range(b, b.c(0), b.c(self.groups), b.c(1), d, [(zero, "f32")] * self.rows)
        s = self.scale_value(b, b.op(f"memref.load %scale[{n_ld}, {g}] : {ts}", "s", d + 1), d + 1)
        k_lo = b.op(f"arith.muli {g}, {b.c(self.group)} : {idx}", "k", d + 1)
        k_hi = b.op(f"arith.addi {k_lo}, {b.c(self.group)} : {idx}", "k", d + 1)
        k_hi = b.op(f"arith.minui {k_hi}, {b.c(self.k)} : {idx}", "k", d + 1)
        k, accs2, res2 = for_range(b, k_lo, k_hi, b.c(1), d + 1, [(a, "f32") for a in accs])
        e = d + 2
        if self.packed:
            kb = b.op(f"arith.shrui {k}, {b.c(1)} : {idx}", "kb", e)
            byte = b.op(f"memref.load %wq[{n_ld}, {kb}] : {tw}", "q", e)
            odd = b.op(f"arith.index_cast {b.op(f'arith.andi {k}, {b.c(1)} : {idx}', 'kb', e)} : {idx} to i8", "q", e)
            # even k: low nibble -> shift left 4; odd k: high nibble -> no shift; then arithmetic >> 4
            four = b.c(4, "i8")
            left = b.op(f"arith.subi {four}, {b.op(f'arith.muli {odd}, {four} : i8', 'q', e)} : i8", "q", e)
            q = b.op(f"arith.shrsi {b.op(f'arith.shli {byte}, {left} : i8', 'q', e)}, {four} : i8", "q", e)
        else:
            q = b.op(f"memref.load %wq[{n_ld}, {k}] : {tw}", "q", e)
        w = self.weight(b, q, s, e)
        new = []
        for r in range(self.rows):
            xv = b.op(f"memref.load %x[{ms_ld[r]}, {k}] : {tx}", "xv", e)
            new.append(b.op(f"math.fma {xv}, {w}, {accs2[r]} : f32", "acc", e))
        end_for(b, d + 1, new, acc_t)
        end_for(b, d, [f"{res2}#{r}" for r in range(self.rows)], acc_t)
        bias = b.op(f"memref.load %bias[{n_ld}] : {tb}", "bs", d)
        n_ok = b.op(f"arith.cmpi ult, {n}, {b.c(self.n)} : {idx}", "ok", d)
        for r in range(self.rows):
            m_ok = b.op(f"arith.cmpi ult, {ms[r]}, {b.c(self.m)} : {idx}", "ok", d)
            ok = b.op(f"arith.andi {n_ok}, {m_ok} : i1", "ok", d)
            b.emit(f"scf.if {ok} {{", d)
            yv = b.op(f"arith.addf {res}#{r}, {bias} : f32", "y", d + 1)
            b.emit(f"memref.store {yv}, %y[{ms[r]}, {n}] : {ty}", d + 1)
            b.emit("}", d)
