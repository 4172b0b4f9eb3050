"""Register-tiled GEMM microkernels for the CPU target, written as MLIR text on tensors.

C[m, n] = Σ_k A[m, k] · B[k, n], computed per (MR rows × NV·16 columns) register tile with a
k loop carrying MR·NV vector accumulators (scf.for iter_args), so that LLVM keeps them in zmm
registers. Loop order: column panel (NR = 16·NV columns) outermost, so that one panel of B stays in
L2 while every row tile of A streams past it; rows that do not fill a tile run with MR = 1.

- f32: `vector.fma` of a broadcast A element and NV vectors of one B row; B is read either from a
  packed layout [N/NR][K][NR] (a qc.linear weight, packed at compile time by qc-cpu-pack-weights or
  by a copy in the kernel when the weight is not a constant) or from a plain [K, N] (qc.matmul).
- i8 (AVX512-VNNI): `vpdpbusd` (u8 × s8, 4 products per i32 lane) of a broadcast A quad
  (A xor 0x80 = A + 128 as u8) and NV vectors of a B panel in VNNI layout [K/4][NR·4]; the +128 is
  corrected by subtracting 128·Σ_k B[k, n], computed per panel with the same instruction on a
  vector of ones. i32 arithmetic wraps, so the result equals the exact i32 sum of the reference
  (any order of an integer sum is the same).

The vpdpbusd intrinsic is called through a private declaration tagged `qc.intrinsic`; the JIT gives it
its `llvm.call_intrinsic` body after bufferization (buffer deallocation rejects the intrinsic op).
"""

import functools
from dataclasses import dataclass

from .linalg_text import Fn, T

LANES = 16  # 512-bit vectors: 16 × f32 / i32
VNNI_INTRINSIC = "llvm.x86.avx512.vpdpbusd.512"


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The host CPU's feature flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def has_vnni() -> bool:
    return {"avx512f", "avx512bw", "avx512_vnni"} <= cpu_flags()


def panel_vectors(n: int) -> int:
    """Vectors per column panel: the largest of 4, 3, 2, 1 whose 16·NV divides n; 0 when 16 does not."""
    for nv in (4, 3, 2, 1):
        if n % (LANES * nv) == 0:
            return nv
    return 0


def rows_per_tile(nv: int) -> int:
    """MR: 24 accumulators (of 32 zmm registers) at most, 12 rows at most."""
    return min(12, 24 // nv)


@dataclass(frozen=True)
class Gemm:
    """One microkernel: sizes, the batch count (1 = unbatched) and how B is laid out.

    b_layout: 'panels' (B as [batch?][N/NR][K'][NR·g]) or 'rows' (B as [batch?][K'][N·g]), where
    g = 4 and K' = K/4 for the i8 kernel (VNNI quads), g = 1 and K' = K for f32.
    """

    m: int
    n: int
    k: int
    batch: int
    b_layout: str
    elem: str  # 'f32' or 'i8'

    @property
    def nv(self) -> int:
        return panel_vectors(self.n)

    @property
    def nr(self) -> int:
        return LANES * self.nv

    @property
    def group(self) -> int:
        return 4 if self.elem == "i8" else 1


def packed_f32_type(n: int, k: int) -> T:
    nr = LANES * panel_vectors(n)
    return T((n // nr, k, nr), "f32")


def packed_i8_type(n: int, k: int) -> T:
    nr = LANES * panel_vectors(n)
    return T((n // nr, k // 4, nr * 4), "i8")


class _Emitter:
    """Index constants and SSA names for one kernel body in `fn`."""

    def __init__(self, fn: Fn, tag: str):
        self.fn, self.tag = fn, tag
        self.consts: dict[int, str] = {}

    def c(self, v: int) -> str:
        if v not in self.consts:
            name = f"%{self.tag}_c{v}"
            self.fn.emit(f"{name} = arith.constant {v} : index")
            self.consts[v] = name
        return self.consts[v]


def emit_gemm(fn: Fn, g: Gemm, a: tuple[str, T], b: tuple[str, T], bias: tuple[str, T] | None = None) -> str:
    """Emit the kernel computing the [batch?, M, N] accumulator (f32, or i32 for i8); returns its SSA name.

    a: [batch?, M, K]; b: see Gemm.b_layout; bias (f32 only): [N], added to each row after the k loop."""
    e = _Emitter(fn, fn.v()[1:])
    t = e.tag
    acc_elem = "f32" if g.elem == "f32" else "i32"
    vt = f"vector<{LANES}x{acc_elem}>"
    out = T(((g.batch,) if g.batch > 1 else ()) + (g.m, g.n), acc_elem)
    batched = g.batch > 1
    mr = min(rows_per_tile(g.nv), g.m)
    full = g.m // mr * mr
    # every index constant up front, so that all loop bodies see them
    for v in sorted({0, 1, 4, g.m, full, mr, g.batch, g.n // g.nr, g.k // g.group, g.nr, g.group, *range(mr)}
                    | {j * LANES * s for j in range(g.nv) for s in (1, g.group)}):
        e.c(v)
    pad = fn.const("0.0" if g.elem == "f32" else "0", g.elem)
    init = fn.empty(out)
    if g.elem == "i8":
        ones = fn.v()
        fn.emit(f"{ones} = arith.constant dense<1> : vector<{4 * LANES}xi8>")
        zero = fn.v()
        fn.emit(f"{zero} = arith.constant dense<0> : {vt}")
        flip = fn.const(str(-0x7F7F7F80), "i32")  # 0x80808080: x xor 0x80 = x + 128 as u8
        seven = fn.v()
        fn.emit(f"{seven} = arith.constant dense<7> : {vt}")
        dot = f"@{fn.name}_vpdpbusd"
        fn.extra.append(
            f"func.func private {dot}({vt}, vector<{4 * LANES}xi8>, vector<{4 * LANES}xi8>) -> {vt} "
            f'attributes {{qc.intrinsic = "{VNNI_INTRINSIC}"}}'
        )
    else:
        zero = fn.v()
        fn.emit(f"{zero} = arith.constant dense<0.0> : {vt}")

    bi = [f"%{t}_b"] if batched else []
    bvec = f"vector<{LANES * g.group}x{g.elem}>"

    def b_index(k: str, j: int) -> str:
        if g.b_layout == "panels":
            idx = [*bi, f"%{t}_p", k, e.c(j * LANES * g.group)]
        else:
            idx = [*bi, k, f"%{t}_nb{j}"]
        return ", ".join(idx)

    def b_loads(k: str, pre: str) -> list[str]:
        lines = []
        for j in range(g.nv):
            lines.append(
                f"{pre}{j} = vector.transfer_read {b[0]}[{b_index(k, j)}], {pad} {{in_bounds = [true]}} "
                f": {b[1].s}, {bvec}"
            )
        return lines

    def tile(mr: int, m0: str, o: str, p: str) -> None:
        """One MR × NR tile at row m0 written into tensor `o`, which the loop body then yields."""
        accs = [f"%{p}_acc{i}_{j}" for i in range(mr) for j in range(g.nv)]
        rows = []
        for i in range(mr):
            r = f"%{p}_r{i}"
            fn.emit(f"{r} = arith.addi {m0}, {e.c(i)} : index")
            rows.append(r)
        k = f"%{p}_k"
        res_acc = f"%{p}_res"
        iters = ", ".join(f"{a} = {zero}" for a in accs)
        fn.emit(
            f"{res_acc}:{len(accs)} = scf.for {k} = {e.c(0)} to {e.c(g.k // g.group)} step {e.c(1)} "
            f"iter_args({iters}) -> ({', '.join([vt] * len(accs))}) {{"
        )
        body = b_loads(k, f"%{p}_bv")
        news = []
        if g.elem == "f32":
            for i in range(mr):
                body.append(f"%{p}_as{i} = tensor.extract {a[0]}[{', '.join([*bi, rows[i], k])}] : {a[1].s}")
                body.append(f"%{p}_ab{i} = vector.broadcast %{p}_as{i} : f32 to {vt}")
                for j in range(g.nv):
                    n = f"%{p}_n{i}_{j}"
                    body.append(f"{n} = vector.fma %{p}_ab{i}, %{p}_bv{j}, %{p}_acc{i}_{j} : {vt}")
                    news.append(n)
        else:
            body.append(f"%{p}_k4 = arith.muli {k}, {e.c(4)} : index")
            for i in range(mr):
                q = f"%{p}_a{i}"
                body += [
                    f"{q}q = vector.transfer_read {a[0]}[{', '.join([*bi, rows[i], f'%{p}_k4'])}], {pad} "
                    f"{{in_bounds = [true]}} : {a[1].s}, vector<4xi8>",
                    f"{q}w = vector.bitcast {q}q : vector<4xi8> to vector<1xi32>",
                    f"{q}s = vector.extract {q}w[0] : i32 from vector<1xi32>",
                    f"{q}u = arith.xori {q}s, {flip} : i32",
                    f"{q}b = vector.broadcast {q}u : i32 to {vt}",
                    f"{q}v = vector.bitcast {q}b : {vt} to vector<{4 * LANES}xi8>",
                ]
                for j in range(g.nv):
                    n = f"%{p}_n{i}_{j}"
                    body.append(
                        f"{n} = func.call {dot}(%{p}_acc{i}_{j}, {q}v, %{p}_bv{j}) "
                        f": ({vt}, vector<{4 * LANES}xi8>, vector<{4 * LANES}xi8>) -> {vt}"
                    )
                    news.append(n)
        body.append(f"scf.yield {', '.join(news)} : {', '.join([vt] * len(news))}")
        for line in body:
            fn.emit("  " + line)
        fn.emit("}")
        cur = o
        for i in range(mr):
            for j in range(g.nv):
                v = f"{res_acc}#{i * g.nv + j}"
                if g.elem == "f32" and bias is not None:
                    fn.emit(f"%{p}_y{i}_{j} = arith.addf {v}, %{t}_bias{j} : {vt}")
                    v = f"%{p}_y{i}_{j}"
                elif g.elem == "i8":
                    fn.emit(f"%{p}_y{i}_{j} = arith.subi {v}, %{t}_corr{j} : {vt}")
                    v = f"%{p}_y{i}_{j}"
                nxt = f"%{p}_o{i}_{j}"
                col = f"%{t}_col{j}"
                fn.emit(
                    f"{nxt} = vector.transfer_write {v}, {cur}[{', '.join([*bi, rows[i], col])}] "
                    f"{{in_bounds = [true]}} : {vt}, {out.s}"
                )
                cur = nxt
        fn.emit(f"scf.yield {cur} : {out.s}")

    result = fn.v()
    ob = f"%{t}_ob"
    if batched:
        fn.emit(
            f"{result} = scf.for {bi[0]} = {e.c(0)} to {e.c(g.batch)} step {e.c(1)} iter_args({ob} = {init}) "
            f"-> ({out.s}) {{"
        )
        start = ob
    else:
        start = init
    panels = f"%{t}_panels"
    fn.emit(
        f"{panels if batched else result} = scf.for %{t}_p = {e.c(0)} to {e.c(g.n // g.nr)} step {e.c(1)} "
        f"iter_args(%{t}_op = {start}) -> ({out.s}) {{"
    )
    fn.emit(f"%{t}_n0 = arith.muli %{t}_p, {e.c(g.nr)} : index")
    for j in range(g.nv):
        fn.emit(f"%{t}_col{j} = arith.addi %{t}_n0, {e.c(j * LANES)} : index")
        if g.b_layout == "rows":
            fn.emit(f"%{t}_nb{j} = arith.muli %{t}_col{j}, {e.c(g.group)} : index")
        if bias is not None:
            fn.emit(
                f"%{t}_bias{j} = vector.transfer_read {bias[0]}[%{t}_col{j}], {pad} {{in_bounds = [true]}} "
                f": {bias[1].s}, {vt}"
            )
    if g.elem == "i8":  # 128 · Σ_k B[k, n] for this panel: vpdpbusd of ones
        cs = [f"%{t}_cs{j}" for j in range(g.nv)]
        fn.emit(
            f"%{t}_csum:{g.nv} = scf.for %{t}_ck = {e.c(0)} to {e.c(g.k // 4)} step {e.c(1)} "
            f"iter_args({', '.join(f'{c} = {zero}' for c in cs)}) -> ({', '.join([vt] * g.nv)}) {{"
        )
        for line in b_loads(f"%{t}_ck", f"%{t}_cb"):
            fn.emit("  " + line)
        for j in range(g.nv):
            fn.emit(
                f"  %{t}_cn{j} = func.call {dot}({cs[j]}, {ones}, %{t}_cb{j}) "
                f": ({vt}, vector<{4 * LANES}xi8>, vector<{4 * LANES}xi8>) -> {vt}"
            )
        fn.emit(f"  scf.yield {', '.join(f'%{t}_cn{j}' for j in range(g.nv))} : {', '.join([vt] * g.nv)}")
        fn.emit("}")
        for j in range(g.nv):
            fn.emit(f"%{t}_corr{j} = arith.shli %{t}_csum#{j}, {seven} : {vt}")
    fn.emit(
        f"%{t}_om = scf.for %{t}_m = {e.c(0)} to {e.c(full)} step {e.c(mr)} iter_args(%{t}_ot = %{t}_op) "
        f"-> ({out.s}) {{"
    )
    tile(mr, f"%{t}_m", f"%{t}_ot", f"{t}_t")
    fn.emit("}")
    last = f"%{t}_om"
    if full < g.m:
        fn.emit(
            f"%{t}_or = scf.for %{t}_mr = {e.c(full)} to {e.c(g.m)} step {e.c(1)} iter_args(%{t}_ou = %{t}_om) "
            f"-> ({out.s}) {{"
        )
        tile(1, f"%{t}_mr", f"%{t}_ou", f"{t}_u")
        fn.emit("}")
        last = f"%{t}_or"
    fn.emit(f"scf.yield {last} : {out.s}")
    fn.emit("}")
    if batched:
        fn.emit(f"scf.yield {panels} : {out.s}")
        fn.emit("}")
    return result
