"""GPU kernels of the row ops (qc.rms_norm, qc.layer_norm, qc.softmax, qc.quantize_dynamic per token) and
the activations (qc.gelu, qc.silu), as `simt.SimtKernel`s.

Row ops: one block of `THREADS` threads per row of the last dimension. A row reduction is a strided
phase (thread t combines elements t, t+128, … in order and writes its partial to shared memory) followed by
a tree over shared memory (log2(128) = 7 phases: thread t < s combines slots t and t+s), each phase behind a
`gpu.barrier`; each reduction has its own shared array, so a later phase reads slot 0 while other slots
are written. The final phase maps the row. The arithmetic per element is the CPU target's, op by op
(`targets/cpu/lower_ops.py`): rms_norm y = (x / sqrt(Σx²/D + eps)) · γ; layer_norm y = ((x − μ) / sqrt(var +
eps)) · γ + β with μ = Σx/D, var = Σ(x − μ)²/D; softmax y = e / Σe with e = exp(x − max);
quantize_dynamic: scale = absmax/qmax (1 for an all-zero row), q = sat(roundeven(x · (1/scale))).

exp and erf are the CPU target's own polynomial expansions (`targets/cpu/vector_math.py`, on vector<1xf32>;
Cephes expf, max relative error 8.1e-8; Eigen's erf, max absolute error 4.4e-7), not libdevice, so the
emulation computes the device's bits exactly. Error against the CPU build: elementwise GELU/SiLU take the
same operations as the CPU's vectorized code (rows of a multiple of 16: bit-identical); max and absmax are
order-independent, so quantize_dynamic's q and scale equal the reference's exactly for the same x; sums
(norms, softmax) run in another order than the CPU's, within a few ulps (see the tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qcomp.dialects.errors import QcompError
from qcomp.targets.common import vector_math
from qcomp.targets.common.linalg_text import f32

from .kernels import _Body
from .simt import SimtKernel, end_for, for_range, shared_ty

THREADS = 128
ROW_OPS = ("rms_norm", "layer_norm", "softmax", "quantize_dynamic")
MAP_OPS = ("gelu", "silu")


def _f(b: _Body, v: float) -> str:
    return b.c(f32(v), "f32")


def _math1(b: _Body, fn, x: str, d: int) -> str:
    """A `vector_math` function (exp, erf) on a scalar, through vector<1xf32>."""
    v = b.op(f"vector.broadcast {x} : f32 to vector<1xf32>", "vb", d)
    lines, res = fn(v, b.fresh("m")[1:], "vector<1xf32>")
    for line in lines:
        b.emit(line, d)
    return b.op(f"vector.extract {res}[0] : f32 from vector<1xf32>", "ve", d)


def _exp(b: _Body, x: str, d: int) -> str:
    return _math1(b, vector_math.exp, x, d)


@dataclass(frozen=True)
class RowSpec:
    """One row op over `rows` rows of `d` elements (leading dims flattened into rows)."""

    op: str
    rows: int
    d: int
    eps: float = 0.0
    bits: int = 8

    def __post_init__(self):
        if self.op not in ROW_OPS:
            raise QcompError(f"gpu row kernel: unknown op {self.op!r} (known: {', '.join(ROW_OPS)})")
        if min(self.rows, self.d) < 1:
            raise QcompError(f"gpu row kernel: empty shape rows={self.rows} d={self.d}")
        if self.op == "quantize_dynamic" and not 2 <= self.bits <= 8:
            raise QcompError(f"gpu row kernel: bits must be in 2..8, got {self.bits}")

    @property
    def name(self) -> str:
        extra = f"_b{self.bits}" if self.op == "quantize_dynamic" else ""
        return f"{self.op}_r{self.rows}_d{self.d}{extra}"

    def arg_shapes(self) -> list[tuple[tuple[int, ...], str]]:
        x = ((self.rows, self.d), "f32")
        vec = ((self.d,), "f32")
        return {
            "rms_norm": [x, vec, x],
            "layer_norm": [x, vec, vec, x],
            "softmax": [x, x],
            "quantize_dynamic": [x, ((self.rows, self.d), "i8"), ((self.rows,), "f32")],
        }[self.op]

    @property
    def _ty(self) -> dict[str, str]:
        names = {
            "rms_norm": ["%x", "%gamma", "%y"],
            "layer_norm": ["%x", "%gamma", "%beta", "%y"],
            "softmax": ["%x", "%y"],
            "quantize_dynamic": ["%x", "%q", "%scale"],
        }[self.op]
        types = [f"memref<{'x'.join(map(str, s))}x{e}>" for s, e in self.arg_shapes()]
        return dict(zip(names, types, strict=True))

    def kernel(self) -> SimtKernel:
        k = SimtKernel(self.name, list(self._ty.items()), (self.rows, 1, 1), THREADS, [])
        getattr(self, f"_{self.op}")(k)
        return k

    # -- building blocks ------------------------------------------------------------------------------------
    def _load_x(self, b: _Body, row: str, j: str, d: int) -> str:
        return b.op(f"memref.load %x[{row}, {j}] : {self._ty['%x']}", "x", d)

    def _reduce(self, k: SimtKernel, red: str, init: float, combine: str, elem, after: list[str] = ()) -> None:
        """Phases reducing elem(b, row, j, depth) over the row into shared `red`[0] with `combine`."""
        k.shared.append((red, THREADS))

        def strided(b: _Body, tid: str, bx: str, by: str, d: int) -> None:
            j, (acc,), res = for_range(b, tid, b.c(self.d), b.c(THREADS), d, [(_f(b, init), "f32")])
            v = elem(b, bx, j, d + 1)
            end_for(b, d, [b.op(f"{combine} {acc}, {v} : f32", "p", d + 1)], ["f32"])
            b.emit(f"memref.store {res}#0, {red}[{tid}] : {shared_ty(b, k, red)}", d)

        k.phases.append(strided)
        s = THREADS // 2
        while s:
            k.phases.append(self._tree_step(k, red, combine, s))
            s //= 2

    @staticmethod
    def _tree_step(k: SimtKernel, red: str, combine: str, s: int):
        def step(b: _Body, tid: str, bx: str, by: str, d: int) -> None:
            ty = shared_ty(b, k, red)
            b.emit(f"scf.if {b.op(f'arith.cmpi ult, {tid}, {b.c(s)} : index', 'lo', d)} {{", d)
            other = b.op(f"arith.addi {tid}, {b.c(s)} : index", "o", d + 1)
            a = b.op(f"memref.load {red}[{tid}] : {ty}", "ra", d + 1)
            c = b.op(f"memref.load {red}[{other}] : {ty}", "rb", d + 1)
            b.emit(f"memref.store {b.op(f'{combine} {a}, {c} : f32', 'rc', d + 1)}, {red}[{tid}] : {ty}", d + 1)
            b.emit("}", d)

        return step

    def _stat(self, b: _Body, k: SimtKernel, red: str, d: int) -> str:
        return b.op(f"memref.load {red}[{b.c(0)}] : {shared_ty(b, k, red)}", "st", d)

    def _map(self, k: SimtKernel, body) -> None:
        """Final phase: y[row, j] = body(b, x, j, depth) for j = tid, tid + 128, …"""

        def phase(b: _Body, tid: str, bx: str, by: str, d: int) -> None:
            pre = self._pre(b, k, d)
            j, _, _ = for_range(b, tid, b.c(self.d), b.c(THREADS), d)
            body(b, pre, bx, j, d + 1)
            end_for(b, d)

        k.phases.append(phase)

    def _pre(self, b: _Body, k: SimtKernel, d: int) -> dict[str, str]:
        return {name: self._stat(b, k, name, d) for name, _ in k.shared}

    def _mean(self, b: _Body, total: str, d: int) -> str:
        return b.op(f"arith.divf {total}, {_f(b, float(self.d))} : f32", "mean", d)

    def _store(self, b: _Body, v: str, row: str, j: str, d: int) -> None:
        b.emit(f"memref.store {v}, %y[{row}, {j}] : {self._ty['%y']}", d)

    # -- the ops --------------------------------------------------------------------------------------------
    def _rms_norm(self, k: SimtKernel) -> None:
        def sq(b, row, j, d):
            x = self._load_x(b, row, j, d)
            return b.op(f"arith.mulf {x}, {x} : f32", "sq", d)

        self._reduce(k, "%red0", 0.0, "arith.addf", sq)

        def body(b, pre, row, j, d):
            ve = b.op(f"arith.addf {self._mean(b, pre['%red0'], d)}, {_f(b, self.eps)} : f32", "ve", d)
            sd = b.op(f"math.sqrt {ve} : f32", "sd", d)
            n = b.op(f"arith.divf {self._load_x(b, row, j, d)}, {sd} : f32", "n", d)
            g = b.op(f"memref.load %gamma[{j}] : {self._ty['%gamma']}", "g", d)
            self._store(b, b.op(f"arith.mulf {n}, {g} : f32", "y", d), row, j, d)

        self._map(k, body)

    def _layer_norm(self, k: SimtKernel) -> None:
        self._reduce(k, "%red0", 0.0, "arith.addf", self._load_x)

        def dev(b, row, j, d):
            mean = self._mean(b, self._stat(b, k, "%red0", d), d)
            dx = b.op(f"arith.subf {self._load_x(b, row, j, d)}, {mean} : f32", "dx", d)
            return b.op(f"arith.mulf {dx}, {dx} : f32", "sq", d)

        self._reduce(k, "%red1", 0.0, "arith.addf", dev)

        def body(b, pre, row, j, d):
            mean, var = self._mean(b, pre["%red0"], d), self._mean(b, pre["%red1"], d)
            dx = b.op(f"arith.subf {self._load_x(b, row, j, d)}, {mean} : f32", "dx", d)
            sd = b.op(f"math.sqrt {b.op(f'arith.addf {var}, {_f(b, self.eps)} : f32', 've', d)} : f32", "sd", d)
            n = b.op(f"arith.divf {dx}, {sd} : f32", "n", d)
            g = b.op(f"memref.load %gamma[{j}] : {self._ty['%gamma']}", "g", d)
            be = b.op(f"memref.load %beta[{j}] : {self._ty['%beta']}", "be", d)
            y = b.op(f"arith.mulf {n}, {g} : f32", "y", d)
            self._store(b, b.op(f"arith.addf {y}, {be} : f32", "y", d), row, j, d)

        self._map(k, body)

    def _softmax(self, k: SimtKernel) -> None:
        self._reduce(k, "%red0", -math.inf, "arith.maximumf", self._load_x)

        def e(b, row, j, d):
            mx = self._stat(b, k, "%red0", d)
            return _exp(b, b.op(f"arith.subf {self._load_x(b, row, j, d)}, {mx} : f32", "dx", d), d)

        self._reduce(k, "%red1", 0.0, "arith.addf", e)

        def body(b, pre, row, j, d):
            ex = _exp(b, b.op(f"arith.subf {self._load_x(b, row, j, d)}, {pre['%red0']} : f32", "dx", d), d)
            self._store(b, b.op(f"arith.divf {ex}, {pre['%red1']} : f32", "y", d), row, j, d)

        self._map(k, body)

    def _quantize_dynamic(self, k: SimtKernel) -> None:
        def absx(b, row, j, d):
            return b.op(f"math.absf {self._load_x(b, row, j, d)} : f32", "ax", d)

        self._reduce(k, "%red0", 0.0, "arith.maximumf", absx)
        qmax = float((1 << (self.bits - 1)) - 1)

        def phase(b: _Body, tid: str, bx: str, by: str, d: int) -> None:
            sc = b.op(f"arith.divf {self._stat(b, k, '%red0', d)}, {_f(b, qmax)} : f32", "sc", d)
            zero = b.op(f"arith.cmpf oeq, {sc}, {_f(b, 0.0)} : f32", "z", d)
            sc = b.op(f"arith.select {zero}, {_f(b, 1.0)}, {sc} : f32", "sc", d)
            inv = b.op(f"arith.divf {_f(b, 1.0)}, {sc} : f32", "inv", d)
            b.emit(f"scf.if {b.op(f'arith.cmpi eq, {tid}, {b.c(0)} : index', 't0', d)} {{", d)
            b.emit(f"memref.store {sc}, %scale[{bx}] : {self._ty['%scale']}", d + 1)
            b.emit("}", d)
            j, _, _ = for_range(b, tid, b.c(self.d), b.c(THREADS), d)
            e = d + 1
            r = b.op(f"arith.mulf {self._load_x(b, bx, j, e)}, {inv} : f32", "qm", e)
            r = b.op(f"math.roundeven {r} : f32", "qr", e)
            r = b.op(f"arith.maximumf {r}, {_f(b, -qmax)} : f32", "qa", e)
            r = b.op(f"arith.minimumf {r}, {_f(b, qmax)} : f32", "qb", e)
            nan = b.op(f"arith.cmpf uno, {r}, {r} : f32", "qn", e)  # NaN -> code 0 (reference._saturate)
            r = b.op(f"arith.select {nan}, {_f(b, 0.0)}, {r} : f32", "qc", e)
            q = b.op(f"arith.fptosi {r} : f32 to i8", "q", e)
            b.emit(f"memref.store {q}, %q[{bx}, {j}] : {self._ty['%q']}", e)
            end_for(b, d)

        k.phases.append(phase)


@dataclass(frozen=True)
class MapSpec:
    """An elementwise activation over `size` elements: one element per thread."""

    op: str
    size: int
    approximate: str = "none"

    def __post_init__(self):
        if self.op not in MAP_OPS:
            raise QcompError(f"gpu map kernel: unknown op {self.op!r} (known: {', '.join(MAP_OPS)})")
        if self.size < 1:
            raise QcompError("gpu map kernel: empty tensor")
        if self.approximate != "none":
            raise QcompError(f"gpu map kernel: gelu approximate={self.approximate!r} is not implemented")

    @property
    def name(self) -> str:
        return f"{self.op}_n{self.size}"

    def arg_shapes(self) -> list[tuple[tuple[int, ...], str]]:
        return [((self.size,), "f32"), ((self.size,), "f32")]

    def kernel(self) -> SimtKernel:
        ty = f"memref<{self.size}xf32>"
        grid = (-(-self.size // THREADS), 1, 1)
        return SimtKernel(self.name, [("%x", ty), ("%y", ty)], grid, THREADS, [self._phase])

    def _phase(self, b: _Body, tid: str, bx: str, by: str, d: int) -> None:
        ty = f"memref<{self.size}xf32>"
        i = b.op(f"arith.addi {b.op(f'arith.muli {bx}, {b.c(THREADS)} : index', 'i', d)}, {tid} : index", "i", d)
        b.emit(f"scf.if {b.op(f'arith.cmpi ult, {i}, {b.c(self.size)} : index', 'ok', d)} {{", d)
        e = d + 1
        x = b.op(f"memref.load %x[{i}] : {ty}", "x", e)
        if self.op == "silu":  # x / (1 + exp(-x))
            ex = _exp(b, b.op(f"arith.negf {x} : f32", "nx", e), e)
            y = b.op(f"arith.divf {x}, {b.op(f'arith.addf {_f(b, 1.0)}, {ex} : f32', 'den', e)} : f32", "y", e)
        else:  # (0.5 · x) · (1 + erf(x / √2))
            hx = b.op(f"arith.mulf {_f(b, 0.5)}, {x} : f32", "hx", e)
            t = _math1(b, vector_math.erf, b.op(f"arith.divf {x}, {_f(b, math.sqrt(2))} : f32", "xq", e), e)
            y = b.op(f"arith.mulf {hx}, {b.op(f'arith.addf {_f(b, 1.0)}, {t} : f32', 'u', e)} : f32", "y", e)
        b.emit(f"memref.store {y}, %y[{i}] : {ty}", e)
        b.emit("}", d)
