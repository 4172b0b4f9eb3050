"""The int8 GEMM kernel of qc.qlinear in MLIR's gpu/nvgpu dialects, and its CPU emulation.

One kernel per qc.qlinear shape: y[m, n] = act(((f32(Σ_k xq[m, k]·wq[n, k]) · xs[m]) · ws[n]) + b[n]).

Tiling (`Tiling`): a block of `warps_m × warps_n` warps owns a (16·mma_m·warps_m) × (8·mma_n·warps_n) tile
of y; each warp owns `mma_m × mma_n` tensor-core tiles of 16×8 and walks K in steps of 32, issuing
`nvgpu.mma.sync` m16n8k32 with i8 operands and i32 accumulators (PTX `mma.sync.aligned.m16n8k32.row.col.
s32.s8.s8.s32`). Fragments are loaded straight from global memory in the PTX fragment layout (A row-major:
each lane holds 4 bytes of K per register; B = wqᵀ, so a lane's 4 bytes of K are contiguous in wq too).
Rows of A / columns of B beyond M / N are clamped (they only feed outputs that are not stored); a K tail
(K % 32) is read with zero padding. The epilogue (f32 conversion, x scale, w scale, bias, activation) is
applied in registers to each lane's accumulator fragment and stored directly: no second pass over memory.

PTX's integer mma saturates (`.satfinite`) where the reference wraps; `max_k` bounds K so that no i32
overflow can happen (|acc| ≤ K·128² < 2³¹), where both agree.

The emulation (`emulated_kernel`) is the same generated per-lane code (fragment index math, loads,
epilogue, stores) in a `func.func` with blocks, warps and lanes as loops; each warp-collective mma.sync is
run in lock-step: the lanes store their fragments to a [32, regs, 4] scratch buffer and `@qc_mma_m16n8k32`
computes the 16×8×32 integer product from that scratch through the inverse of the PTX fragment layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from qcomp.dialects.errors import QcompError

MMA_M, MMA_N, MMA_K = 16, 8, 32
WARP = 32
ACTS = ("none", "relu")


def max_k() -> int:
    """Largest K whose i32 accumulator cannot overflow: K·128² < 2³¹ (so saturation never differs)."""
    return (2**31 - 1) // (128 * 128)


@dataclass(frozen=True)
class Tiling:
    """warps_m × warps_n warps per block; each warp computes mma_m × mma_n tensor-core tiles of 16×8."""

    warps_m: int = 2
    warps_n: int = 2
    mma_m: int = 1
    mma_n: int = 4

    def __post_init__(self):
        for f in ("warps_m", "warps_n", "mma_m", "mma_n"):
            v = getattr(self, f)
            if not isinstance(v, int) or not 1 <= v <= 8:
                raise QcompError(f"gpu tiling: {f} must be an integer in 1..8, got {v!r}")

    @property
    def warps(self) -> int:
        return self.warps_m * self.warps_n

    @property
    def block_m(self) -> int:
        return MMA_M * self.mma_m * self.warps_m

    @property
    def block_n(self) -> int:
        return MMA_N * self.mma_n * self.warps_n


@dataclass(frozen=True)
class GemmSpec:
    """One qc.qlinear shape: xq [m, k] i8, xs [m] (per token) or [1], wq [n, k] i8, ws [n], b [n] -> y [m, n]."""

    m: int
    n: int
    k: int
    act: str = "none"
    per_token: bool = True

    def __post_init__(self):
        if min(self.m, self.n, self.k) < 1:
            raise QcompError(f"gpu gemm: empty shape m={self.m} n={self.n} k={self.k}")
        if self.k > max_k():
            raise QcompError(f"gpu gemm: K={self.k} may overflow the i32 accumulator (max {max_k()})")
        if self.act not in ACTS:
            raise QcompError(f"gpu gemm: activation {self.act!r} is not fused on the GPU (known: {', '.join(ACTS)})")

    @property
    def name(self) -> str:
        xs = "t" if self.per_token else "s"
        return f"qlinear_m{self.m}_n{self.n}_k{self.k}_{self.act}_{xs}"

    def grid(self, tiling: Tiling) -> tuple[int, int, int]:
        return (-(-self.n // tiling.block_n), -(-self.m // tiling.block_m), 1)

    def memref_types(self) -> list[str]:
        m, n, k = self.m, self.n, self.k
        xs = m if self.per_token else 1
        return [
            f"memref<{m}x{k}xi8>",
            f"memref<{xs}xf32>",
            f"memref<{n}x{k}xi8>",
            f"memref<{n}xf32>",
            f"memref<{n}xf32>",
            f"memref<{m}x{n}xf32>",
        ]


class _Body:
    """SSA text builder: fresh names, index constants hoisted to the function entry."""

    def __init__(self, indent: str = "    "):
        self.lines: list[str] = []
        self.consts: dict[str, str] = {}
        self.n = 0
        self.indent = indent

    def fresh(self, hint: str = "v") -> str:
        self.n += 1
        return f"%{hint}{self.n}"

    def emit(self, line: str, depth: int = 0) -> None:
        self.lines.append(self.indent + "  " * depth + line)

    def op(self, rhs: str, hint: str = "v", depth: int = 0) -> str:
        name = self.fresh(hint)
        self.emit(f"{name} = {rhs}", depth)
        return name

    def c(self, value: int | float | str, ty: str = "index") -> str:
        key = f"{value}:{ty}"
        if key not in self.consts:
            self.consts[key] = f"%c_{len(self.consts)}"
        return self.consts[key]

    def const_lines(self) -> list[str]:
        out = []
        for key, name in self.consts.items():
            value, ty = key.rsplit(":", 1)
            out.append(f"{self.indent}{name} = arith.constant {value} : {ty}")
        return out


class _Lane:
    """The per-lane code shared by the GPU kernel and its emulation."""

    def __init__(self, spec: GemmSpec, tiling: Tiling, b: _Body, args: list[str]):
        self.s, self.t, self.b = spec, tiling, b
        self.xq, self.xs, self.wq, self.ws, self.bias, self.y = args
        self.ty = spec.memref_types()

    def coords(self, lane: str, d: int) -> tuple[str, str]:
        """(groupID, threadID_in_group) = (lane / 4, lane % 4)."""
        b = self.b
        return b.op(f"arith.divui {lane}, {b.c(4)} : index", "g", d), b.op(
            f"arith.remui {lane}, {b.c(4)} : index", "t", d
        )

    def bases(self, warp: str, bm: str, bn: str, d: int) -> tuple[list[str], list[str]]:
        """Row base of each of the warp's mma_m tiles and column base of each of its mma_n tiles."""
        b, t = self.b, self.t
        wm = b.op(f"arith.divui {warp}, {b.c(t.warps_n)} : index", "wm", d)
        wn = b.op(f"arith.remui {warp}, {b.c(t.warps_n)} : index", "wn", d)
        m0 = b.op(f"arith.muli {bm}, {b.c(t.block_m)} : index", "m", d)
        m0 = b.op(
            f"arith.addi {m0}, {b.op(f'arith.muli {wm}, {b.c(MMA_M * t.mma_m)} : index', 'm', d)} : index", "m", d
        )
        n0 = b.op(f"arith.muli {bn}, {b.c(t.block_n)} : index", "n", d)
        n0 = b.op(
            f"arith.addi {n0}, {b.op(f'arith.muli {wn}, {b.c(MMA_N * t.mma_n)} : index', 'n', d)} : index", "n", d
        )
        ms = [b.op(f"arith.addi {m0}, {b.c(i * MMA_M)} : index", "mi", d) for i in range(t.mma_m)]
        ns = [b.op(f"arith.addi {n0}, {b.c(j * MMA_N)} : index", "nj", d) for j in range(t.mma_n)]
        return ms, ns

    def _load4(self, mem: str, ty: str, row: str, col: str, tail: bool, d: int) -> str:
        b = self.b
        if tail:  # zero padding beyond K
            return b.op(
                f"vector.transfer_read {mem}[{row}, {col}], {b.c(0, 'i8')} {{in_bounds = [false]}} "
                f": {ty}, vector<4xi8>",
                "f",
                d,
            )
        align = 4 if self.s.k % 4 == 0 else 1
        return b.op(f"vector.load {mem}[{row}, {col}] {{alignment = {align} : i64}} : {ty}, vector<4xi8>", "f", d)

    def _clamp(self, v: str, limit: int, d: int) -> str:
        return self.b.op(f"arith.minui {v}, {self.b.c(limit - 1)} : index", "cl", d)

    def _cols(self, k0: str, t: str, d: int) -> tuple[str, str]:
        b = self.b
        c0 = b.op(f"arith.addi {k0}, {b.op(f'arith.muli {t}, {b.c(4)} : index', 'kc', d)} : index", "kc", d)
        return c0, b.op(f"arith.addi {c0}, {b.c(16)} : index", "kc", d)

    def a_frag(self, m_base: str, k0: str, g: str, t: str, tail: bool, d: int) -> str:
        """vector<4x4xi8>: registers (row g, k 0..15), (g+8, 0..15), (g, 16..31), (g+8, 16..31) of the A tile."""
        b = self.b
        r0 = b.op(f"arith.addi {m_base}, {g} : index", "ar", d)
        r1 = b.op(f"arith.addi {r0}, {b.c(8)} : index", "ar", d)
        r0, r1 = self._clamp(r0, self.s.m, d), self._clamp(r1, self.s.m, d)
        c0, c1 = self._cols(k0, t, d)
        vec = b.c("dense<0>", "vector<4x4xi8>")
        for i, (r, c) in enumerate(((r0, c0), (r1, c0), (r0, c1), (r1, c1))):
            part = self._load4(self.xq, self.ty[0], r, c, tail, d)
            vec = b.op(f"vector.insert {part}, {vec} [{i}] : vector<4xi8> into vector<4x4xi8>", "a", d)
        return vec

    def b_frag(self, n_base: str, k0: str, g: str, t: str, tail: bool, d: int) -> str:
        """vector<2x4xi8>: registers (k 0..15, col g), (k 16..31, col g) of B = wqᵀ, i.e. row g of wq."""
        b = self.b
        n = self._clamp(b.op(f"arith.addi {n_base}, {g} : index", "br", d), self.s.n, d)
        c0, c1 = self._cols(k0, t, d)
        vec = b.c("dense<0>", "vector<2x4xi8>")
        for i, c in enumerate((c0, c1)):
            part = self._load4(self.wq, self.ty[2], n, c, tail, d)
            vec = b.op(f"vector.insert {part}, {vec} [{i}] : vector<4xi8> into vector<2x4xi8>", "b", d)
        return vec

    def epilogue(self, acc: str, m_base: str, n_base: str, g: str, t: str, d: int) -> None:
        """y[m, n] = act(((f32(acc) · xs[m]) · ws[n]) + b[n]) for the lane's 2×2 accumulator fragment."""
        b, s = self.b, self.s
        for r in range(2):
            m = b.op(f"arith.addi {m_base}, {g} : index", "em", d)
            if r:
                m = b.op(f"arith.addi {m}, {b.c(8)} : index", "em", d)
            m_ok = b.op(f"arith.cmpi ult, {m}, {b.c(s.m)} : index", "ok", d)
            for cc in range(2):
                n = b.op(f"arith.addi {n_base}, {b.op(f'arith.muli {t}, {b.c(2)} : index', 'en', d)} : index", "en", d)
                if cc:
                    n = b.op(f"arith.addi {n}, {b.c(1)} : index", "en", d)
                n_ok = b.op(f"arith.cmpi ult, {n}, {b.c(s.n)} : index", "ok", d)
                ok = b.op(f"arith.andi {m_ok}, {n_ok} : i1", "ok", d)
                b.emit(f"scf.if {ok} {{", d)
                v = b.op(f"vector.extract {acc}[{r}, {cc}] : i32 from vector<2x2xi32>", "acc", d + 1)
                f = b.op(f"arith.sitofp {v} : i32 to f32", "y", d + 1)
                xi = m if s.per_token else b.c(0)
                xs = b.op(f"memref.load {self.xs}[{xi}] : {self.ty[1]}", "xs", d + 1)
                f = b.op(f"arith.mulf {f}, {xs} : f32", "y", d + 1)
                ws = b.op(f"memref.load {self.ws}[{n}] : {self.ty[3]}", "ws", d + 1)
                f = b.op(f"arith.mulf {f}, {ws} : f32", "y", d + 1)
                bias = b.op(f"memref.load {self.bias}[{n}] : {self.ty[4]}", "bs", d + 1)
                f = b.op(f"arith.addf {f}, {bias} : f32", "y", d + 1)
                if s.act == "relu":
                    f = b.op(f"arith.maximumf {f}, {b.c('0.000000e+00', 'f32')} : f32", "y", d + 1)
                b.emit(f"memref.store {f}, {self.y}[{m}, {n}] : {self.ty[5]}", d + 1)
                b.emit("}", d)


def _k_steps(spec: GemmSpec) -> tuple[int, bool]:
    """(K covered by full 32-wide steps, whether a zero-padded tail step follows)."""
    full = spec.k // MMA_K * MMA_K
    return full, full < spec.k


def _args(spec: GemmSpec) -> tuple[list[str], str]:
    names = ["%xq", "%xs", "%wq", "%ws", "%bias", "%y"]
    return names, ", ".join(f"{n}: {t}" for n, t in zip(names, spec.memref_types(), strict=True))


def gpu_kernel(spec: GemmSpec, tiling: Tiling) -> str:
    """The `gpu.func` of one qc.qlinear shape (kernel, known block size), nvgpu.mma.sync on tensor cores."""
    b = _Body("    ")
    names, sig = _args(spec)
    lane_code = _Lane(spec, tiling, b, names)
    tid = b.op("gpu.thread_id x", "tid")
    bn = b.op("gpu.block_id x", "bx")
    bm = b.op("gpu.block_id y", "by")
    warp = b.op(f"arith.divui {tid}, {b.c(WARP)} : index", "warp")
    lane = b.op(f"arith.remui {tid}, {b.c(WARP)} : index", "lane")
    g, t = lane_code.coords(lane, 0)
    ms, ns = lane_code.bases(warp, bm, bn, 0)
    tiles = [(i, j) for i in range(tiling.mma_m) for j in range(tiling.mma_n)]
    zero = b.c("dense<0>", "vector<2x2xi32>")
    acc_ty = ", ".join(["vector<2x2xi32>"] * len(tiles))

    def step(k0: str, accs: list[str], tail: bool, d: int) -> list[str]:
        afr = [lane_code.a_frag(ms[i], k0, g, t, tail, d) for i in range(tiling.mma_m)]
        bfr = [lane_code.b_frag(ns[j], k0, g, t, tail, d) for j in range(tiling.mma_n)]
        return [
            b.op(
                f"nvgpu.mma.sync({afr[i]}, {bfr[j]}, {accs[x]}) {{mmaShape = [16, 8, 32]}} : "
                "(vector<4x4xi8>, vector<2x4xi8>, vector<2x2xi32>) -> vector<2x2xi32>",
                "mma",
                d,
            )
            for x, (i, j) in enumerate(tiles)
        ]

    full, tail = _k_steps(spec)
    accs = [zero] * len(tiles)
    if full:
        res = b.fresh("acc")
        iters = [f"%it{x}" for x in range(len(tiles))]
        init = ", ".join(f"{it} = {zero}" for it in iters)
        b.emit(
            f"{res}:{len(tiles)} = scf.for %k0 = {b.c(0)} to {b.c(full)} step {b.c(MMA_K)} "
            f"iter_args({init}) -> ({acc_ty}) {{"
        )
        out = step("%k0", iters, False, 1)
        b.emit(f"scf.yield {', '.join(out)} : {acc_ty}", 1)
        b.emit("}")
        accs = [f"{res}#{x}" for x in range(len(tiles))]
    if tail:
        accs = step(b.c(full), accs, True, 0)
    for x, (i, j) in enumerate(tiles):
        lane_code.epilogue(accs[x], ms[i], ns[j], g, t, 0)
    threads = WARP * tiling.warps
    head = (
        f"  gpu.func @{spec.name}({sig}) kernel attributes "
        f"{{known_block_size = array<i32: {threads}, 1, 1>, "
        f"known_grid_size = array<i32: {', '.join(map(str, spec.grid(tiling)))}>}} {{"
    )
    return "\n".join([head, *b.const_lines(), *b.lines, "    gpu.return", "  }"])


def gpu_module(specs: list, tiling: Tiling, name: str = "qc_gpu") -> str:
    """A module holding one gpu.module with a kernel per spec (a GemmSpec, or a spec whose `kernel()` is a
    `simt.SimtKernel`)."""
    kernels = "\n".join(gpu_kernel(s, tiling) if isinstance(s, GemmSpec) else s.kernel().gpu_func() for s in specs)
    return f"module attributes {{gpu.container_module}} {{\ngpu.module @{name} {{\n{kernels}\n}}\n}}\n"


MMA_EMULATION = """
func.func private @qc_mma_m16n8k32(%a: memref<32x4x4xi8>, %b: memref<32x2x4xi8>, %c: memref<32x2x2xi32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %c32 = arith.constant 32 : index
  scf.for %lane = %c0 to %c32 step %c1 {
    %g = arith.divui %lane, %c4 : index
    %t = arith.remui %lane, %c4 : index
    scf.for %r = %c0 to %c2 step %c1 {
      %r8 = arith.muli %r, %c8 : index
      %row = arith.addi %g, %r8 : index
      %rlane = arith.muli %g, %c4 : index
      scf.for %cc = %c0 to %c2 step %c1 {
        %t2 = arith.muli %t, %c2 : index
        %col = arith.addi %t2, %cc : index
        %blane = arith.muli %col, %c4 : index
        %init = memref.load %c[%lane, %r, %cc] : memref<32x2x2xi32>
        %sum = scf.for %k = %c0 to %c32 step %c1 iter_args(%s = %init) -> (i32) {
          %kh = arith.divui %k, %c16 : index
          %kl = arith.remui %k, %c16 : index
          %kq = arith.divui %kl, %c4 : index
          %kb = arith.remui %k, %c4 : index
          // A[row, k]: lane (row % 8)·4 + (k % 16) / 4, register row / 8 + 2·(k / 16), byte k % 4
          %al = arith.addi %rlane, %kq : index
          %kh2 = arith.muli %kh, %c2 : index
          %areg = arith.addi %r, %kh2 : index
          %av = memref.load %a[%al, %areg, %kb] : memref<32x4x4xi8>
          // B[k, col]: lane col·4 + (k % 16) / 4, register k / 16, byte k % 4
          %bl = arith.addi %blane, %kq : index
          %bv = memref.load %b[%bl, %kh, %kb] : memref<32x2x4xi8>
          %a32 = arith.extsi %av : i8 to i32
          %b32 = arith.extsi %bv : i8 to i32
          %p = arith.muli %a32, %b32 : i32
          %s2 = arith.addi %s, %p : i32
          scf.yield %s2 : i32
        }
        memref.store %sum, %c[%lane, %r, %cc] : memref<32x2x2xi32>
      }
    }
  }
  return
}
"""


def emulated_kernel(spec: GemmSpec, tiling: Tiling) -> str:
    """The kernel as a CPU function: blocks, warps and lanes as loops, mma.sync run in lock-step."""
    b = _Body("    ")
    names, sig = _args(spec)
    lane_code = _Lane(spec, tiling, b, names)
    tiles = [(i, j) for i in range(tiling.mma_m) for j in range(tiling.mma_n)]
    afr = [b.op("memref.alloca() : memref<32x4x4xi8>", "afr") for _ in range(tiling.mma_m)]
    bfr = [b.op("memref.alloca() : memref<32x2x4xi8>", "bfr") for _ in range(tiling.mma_n)]
    acc = [b.op("memref.alloca() : memref<32x2x2xi32>", "accm") for _ in tiles]
    gx, gy, _ = spec.grid(tiling)
    one, zero = b.c(1), b.c(0)
    b.emit(f"scf.for %by = {zero} to {b.c(gy)} step {one} {{")
    b.emit(f"scf.for %bx = {zero} to {b.c(gx)} step {one} {{", 1)
    b.emit(f"scf.for %warp = {zero} to {b.c(tiling.warps)} step {one} {{", 2)
    d = 3
    ms, ns = lane_code.bases("%warp", "%by", "%bx", d)
    zrow = b.c("dense<0>", "vector<2xi32>")
    b.emit(f"scf.for %zl = {zero} to {b.c(WARP)} step {one} {{", d)
    for a in acc:
        for r in range(2):
            b.emit(f"vector.store {zrow}, {a}[%zl, {b.c(r)}, {zero}] : memref<32x2x2xi32>, vector<2xi32>", d + 1)
    b.emit("}", d)

    def step(k0: str, tail: bool, d: int) -> None:
        lane = b.fresh("lane")
        b.emit(f"scf.for {lane} = {zero} to {b.c(WARP)} step {one} {{", d)
        g, t = lane_code.coords(lane, d + 1)
        for i in range(tiling.mma_m):
            v = lane_code.a_frag(ms[i], k0, g, t, tail, d + 1)
            for r in range(4):
                row = b.op(f"vector.extract {v}[{r}] : vector<4xi8> from vector<4x4xi8>", "ar", d + 1)
                b.emit(
                    f"vector.store {row}, {afr[i]}[{lane}, {b.c(r)}, {zero}] : memref<32x4x4xi8>, vector<4xi8>", d + 1
                )
        for j in range(tiling.mma_n):
            v = lane_code.b_frag(ns[j], k0, g, t, tail, d + 1)
            for r in range(2):
                row = b.op(f"vector.extract {v}[{r}] : vector<4xi8> from vector<2x4xi8>", "br", d + 1)
                b.emit(
                    f"vector.store {row}, {bfr[j]}[{lane}, {b.c(r)}, {zero}] : memref<32x2x4xi8>, vector<4xi8>", d + 1
                )
        b.emit("}", d)
        for x, (i, j) in enumerate(tiles):
            b.emit(
                f"func.call @qc_mma_m16n8k32({afr[i]}, {bfr[j]}, {acc[x]}) : "
                "(memref<32x4x4xi8>, memref<32x2x4xi8>, memref<32x2x2xi32>) -> ()",
                d,
            )

    full, tail = _k_steps(spec)
    if full:
        b.emit(f"scf.for %k0 = {zero} to {b.c(full)} step {b.c(MMA_K)} {{", d)
        step("%k0", False, d + 1)
        b.emit("}", d)
    if tail:
        step(b.c(full), True, d)
    b.emit(f"scf.for %el = {zero} to {b.c(WARP)} step {one} {{", d)
    g, t = lane_code.coords("%el", d + 1)
    for x, (i, j) in enumerate(tiles):
        v = b.c("dense<0>", "vector<2x2xi32>")
        for r in range(2):
            row = b.op(f"vector.load {acc[x]}[%el, {b.c(r)}, {zero}] : memref<32x2x2xi32>, vector<2xi32>", "cr", d + 1)
            v = b.op(f"vector.insert {row}, {v} [{r}] : vector<2xi32> into vector<2x2xi32>", "c", d + 1)
        lane_code.epilogue(v, ms[i], ns[j], g, t, d + 1)
    b.emit("}", d)
    for depth in (2, 1, 0):
        b.emit("}", depth)
    head = f"  func.func @{spec.name}({sig}) attributes {{llvm.emit_c_interface}} {{"
    return "\n".join([head, *b.const_lines(), *b.lines, "    return", "  }"])


def emulation_module(specs: list[GemmSpec], tiling: Tiling) -> str:
    """A module with the emulated kernel of every spec and the lock-step mma."""
    body = "\n".join(emulated_kernel(s, tiling) for s in specs)
    return f"module {{\n{body}\n{MMA_EMULATION}\n}}\n"
