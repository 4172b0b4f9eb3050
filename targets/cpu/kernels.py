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
- packed int4 (W4A8 weights, `int4_panels`): B holds two k-quads per byte [K/8][NR·4]; each step unpacks
  them with and/shift into offset-binary nibbles (u8) multiplied with A unchanged (s8), two quads per
  step, and subtracts 8·Σ_k A[m, k] per row instead of the column correction.
- i8 on i16 pairs (CPUs without VNNI, `pair_panels`): B as [K/2][NR·2] column pairs, A as broadcast words of two
  sign-extended i16, one vpmaddwd per 16 products; no correction; tiles of `pair_panels.ROWS` rows × 16 columns.

The kernels load from the operands' buffers and store into a fresh buffer (no tensor in the loops).
The vpdpbusd intrinsic is called through a private declaration tagged `qc.intrinsic`; the JIT gives it
its body after bufferization (buffer deallocation rejects the intrinsic op): `llvm.call_intrinsic` on
AVX512-VNNI, elsewhere (the AVX2 fallback, generic CPUs) the same u8 × s8 quad sums in plain vector ops.
"""

from collections.abc import Callable
from dataclasses import dataclass

from . import int4_panels, pair_panels
from .epilogue import Epilogue as Epilogue  # re-exported: gemm_ops builds epilogues
from .epilogue import apply_epilogue, epilogue_rows
from .isa import ISA_FEATURES as ISA_FEATURES
from .isa import ISAS as ISAS
from .isa import LANES as LANES  # re-exported: the ISA helpers moved to `isa`
from .isa import cpu_flags as cpu_flags
from .isa import has_vnni as has_vnni
from .isa import host_isa as host_isa
from .linalg_text import Fn, T

PARALLEL_MIN_MACS = 1 << 17  # smaller GEMMs keep plain loops (an OpenMP fork costs a few µs); decode GEMVs are above
VNNI_INTRINSIC = "llvm.x86.avx512.vpdpbusd.512"


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
    g = 4 and K' = K/4 for the i8 kernel (VNNI quads), g = 1 and K' = K for f32; or 'dequant' (f32 only,
    unbatched): B is an integer weight in panels, dequantized one panel at a time into a [K][NR] f32
    scratch that every row tile of the panel then reads (see `Dequant`).
    """

    m: int | str  # an SSA index where the row count is dynamic (then `m_t` is None)
    n: int
    k: int
    batch: int
    b_layout: str
    elem: str  # 'f32' or 'i8'
    int4: bool = False  # i8 'panels' only: B packed two int4 per byte (`int4_panels`)
    pairs: bool = False  # i8 'panels' only: B as column pairs, the dot on i16 pairs (`pair_panels`)

    @property
    def m_t(self) -> int | None:
        """M in types: the int, or None (`?`) for a dynamic M."""
        return self.m if isinstance(self.m, int) else None

    @property
    def k_steps(self) -> int:
        """Iterations of the k loop: K (f32), K/4 VNNI quads (i8), K/2 pairs (i16 pairs) or K/8 quad pairs (int4)."""
        return self.k // (8 if self.int4 else self.group)

    @property
    def nv(self) -> int:
        return panel_vectors(self.n)

    @property
    def nr(self) -> int:
        return LANES * self.nv

    @property
    def group(self) -> int:
        return (2 if self.pairs else 4) if self.elem == "i8" else 1


@dataclass(frozen=True)
class Dequant:
    """B of a 'dequant' GEMM: integer weights q as panels [N/NR][K'][NR] i8 (K' = K/2 int4 nibble pairs, low
    nibble = even k, when bits <= 4; else K' = K) and their scales as panels [N/NR][G][NR] f32 (one per group
    of `group` k, group even for nibbles): B[k, n] = f32(q[k, n]) · scale[k // group, n], as
    `reference.dequantize_weight` (one sitofp, one mulf). `decode` replaces the sitofp for float formats:
    (i8 vector of codes, f32 vector result name, tag) -> vector lines (`lower_float_formats.vector_decode`).
    `fill` replaces the whole panel loop for a layout of its own (packed fp6, `fp6_panels.fill`): (fn, gemm, tag,
    (q buffer, memref), (scale buffer, memref), (scratch, memref)) -> emits the lines filling the scratch."""

    scales: tuple[str, T]
    bits: int
    group: int
    decode: Callable[[str, str, str], list[str]] | None = None
    fill: Callable[..., None] | None = None


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

    def c(self, v: int | str) -> str:
        if isinstance(v, str):  # already an SSA index (a dynamic M)
            return v
        if v not in self.consts:
            name = f"%{self.tag}_c{v}"
            self.fn.emit(f"{name} = arith.constant {v} : index")
            self.consts[v] = name
        return self.consts[v]


def _buffer(fn: Fn, src: str, t: T) -> str:
    """The read-only buffer of tensor `src` (the kernels load with vector.load / memref.load)."""
    r = fn.v()
    fn.emit(f"{r} = bufferization.to_buffer {src} read_only : {t.s} to {t.memref}")
    return r


def emit_gemm(
    fn: Fn,
    g: Gemm,
    a: tuple[str, T],
    b: tuple[str, T],
    bias: tuple[str, T] | None = None,
    epilogue: Epilogue | None = None,
    dequant: Dequant | None = None,
    corrections: tuple[str, T] | None = None,
) -> str:
    """Emit the kernel computing the [batch?, M, N] accumulator (f32, or i32 for i8); returns its SSA name.

    a: [batch?, M, K]; b: see Gemm.b_layout; bias (f32 only): [N], added to each row after the k loop;
    epilogue (unbatched only): applied to each accumulator vector in registers, the result is then f32;
    corrections (i8, unbatched): the i32 [N] 128 · Σ_k B[k, n] computed ahead (else by a pass over B per call).
    The kernel works on buffers (loads from the operands' buffers, stores into a new one that becomes the
    result tensor), so that bufferization never copies the result, also in copy-before-write mode."""
    e = _Emitter(fn, fn.v()[1:])
    t = e.tag
    acc_elem = "f32" if g.elem == "f32" else "i32"
    vt = f"vector<{LANES}x{acc_elem}>"
    out = T(((g.batch,) if g.batch > 1 else ()) + (g.m_t, g.n), "f32" if epilogue else acc_elem)
    om = out.memref
    ovt = f"vector<{LANES}x{out.elem}>"
    batched = g.batch > 1
    tile_rows = pair_panels.ROWS if g.pairs else rows_per_tile(g.nv)
    mr = min(tile_rows, g.m_t or tile_rows)
    # every index constant up front, so that all loop bodies see them
    for v in sorted(
        {0, 1, 2, 4, mr, g.batch, g.n // g.nr, g.k_steps, g.nr, g.group, *range(mr)}
        | ({g.m, g.m // mr * mr} if g.m_t else set())
        | {j * LANES * s for j in range(g.nv) for s in (1, g.group)}
    ):
        e.c(v)
    if g.m_t:
        full = g.m // mr * mr
    else:  # rows in whole tiles, the rest one at a time: computed per call
        full = f"%{t}_full"
        fn.emit(f"%{t}_ntiles = arith.divui {g.m}, {e.c(mr)} : index")
        fn.emit(f"{full} = arith.muli %{t}_ntiles, {e.c(mr)} : index")
    am, bm = a[1].memref, b[1].memref
    abuf, bbuf = _buffer(fn, *a), _buffer(fn, *b)
    biasbuf = _buffer(fn, *bias) if bias is not None else None
    ebufs = [(_buffer(fn, v, et), et, kind) for v, et, kind in epilogue.inputs] if epilogue else []
    for n, (eb, et, kind) in enumerate(ebufs):
        if kind == "scalar":
            fn.emit(f"%{t}_esc{n} = memref.load {eb}[{e.c(0)}] : {et.memref}")
            fn.emit(f"%{t}_es{n} = vector.broadcast %{t}_esc{n} : f32 to vector<{LANES}xf32>")
    obuf = fn.v()
    fn.emit(f"{obuf} = memref.alloc({'' if g.m_t else g.m}) {{alignment = 64 : i64}} : {om}")
    if g.pairs:
        zero = fn.v()
        fn.emit(f"{zero} = arith.constant dense<0> : {vt}")
        dot = f"@{fn.name}_pmaddwd"
        fn.extra.append(pair_panels.dot_function(dot))
    elif g.elem == "i8":
        ones = fn.v()
        fn.emit(f"{ones} = arith.constant dense<1> : vector<{4 * LANES}xi8>")
        zero = fn.v()
        fn.emit(f"{zero} = arith.constant dense<0> : {vt}")
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
    if g.int4:  # A as i32 quads and the per-row 8·Σ_k A the offset-binary nibbles add
        int4_panels.vector_constants(fn, t)
        abuf, am, rcbuf = int4_panels.signed_quads(fn, e.c, g.m, g.k, (abuf, am), (dot, ones), t)
    elif g.pairs:  # A as words of two i16, once per call
        abuf, am = pair_panels.pair_words(fn, e.c, g.m, g.k, (abuf, am), t)
    elif g.elem == "i8":  # A + 128 as u8 quads, once per call: the k loop then broadcasts straight from memory
        abuf, am = _flipped_quads(fn, e, g, abuf, am)
    bvec = f"vector<{LANES * g.group}x{g.elem}>"

    def b_loads(k: str, pre: str, q: str, js: tuple[int, ...] | None = None) -> list[str]:
        lines = []
        for j in range(g.nv) if js is None else js:
            if g.b_layout == "dequant":
                sm = T((g.k, g.nr), "f32").memref
                lines.append(f"{pre}{j} = vector.load %{t}_wsc[{k}, {e.c(j * LANES)}] : {sm}, {bvec}")
                continue
            if g.int4:  # defines {pre}{j} (k-quad 2k) and {pre}{j}h (2k + 1)
                lines += int4_panels.unpack(f"{pre}{j}", f"{bbuf}[%{t}_p, {k}, {e.c(j * LANES * 4)}]", bm, t)
                continue
            if g.b_layout == "panels":
                idx = [*bi, f"%{t}_p", k, e.c(j * LANES * g.group)]
            else:
                idx = [*bi, k, f"%{q}_nb{j}"]
            lines.append(f"{pre}{j} = vector.load {bbuf}[{', '.join(idx)}] : {bm}, {bvec}")
        return lines

    def tile(mr: int, m0: str, p: str, q: str, js: tuple[int, ...] | None = None) -> None:
        """One MR × NR tile at row m0 of the panel set up under prefix q, stored into the result buffer (js: only
        these vectors of the panel, MR × 16·len(js))."""
        js = tuple(range(g.nv)) if js is None else js
        accs = [f"%{p}_acc{i}_{j}" for i in range(mr) for j in js]
        rows = []
        for i in range(mr):
            r = f"%{p}_r{i}"
            fn.emit(f"{r} = arith.addi {m0}, {e.c(i)} : index")
            rows.append(r)
        k = f"%{p}_k"
        res = f"%{p}_res"
        iters = ", ".join(f"{a} = {zero}" for a in accs)
        fn.emit(
            f"{res}:{len(accs)} = scf.for {k} = {e.c(0)} to {e.c(g.k_steps)} step {e.c(1)} "
            f"iter_args({iters}) -> ({', '.join([vt] * len(accs))}) {{"
        )
        body = b_loads(k, f"%{p}_bv", q, js)
        news = []
        if g.elem == "f32":
            for i in range(mr):
                body.append(f"%{p}_as{i} = memref.load {abuf}[{', '.join([*bi, rows[i], k])}] : {am}")
                body.append(f"%{p}_ab{i} = vector.broadcast %{p}_as{i} : f32 to {vt}")
                for j in js:
                    n = f"%{p}_n{i}_{j}"
                    body.append(f"{n} = vector.fma %{p}_ab{i}, %{p}_bv{j}, %{p}_acc{i}_{j} : {vt}")
                    news.append(n)
        elif g.pairs:  # one word of A (two i16) per row times B's 16 column pairs (sign-extended in the dot)
            for i in range(mr):
                a = f"%{p}_a{i}"
                body += [
                    f"{a}u = memref.load {abuf}[{rows[i]}, {k}] : {am}",
                    f"{a}b = vector.broadcast {a}u : i32 to {vt}",
                    f"{a}v = vector.bitcast {a}b : {vt} to vector<{2 * LANES}xi16>",
                ]
                for j in js:
                    n = f"%{p}_n{i}_{j}"
                    body.append(
                        f"{n} = func.call {dot}(%{p}_acc{i}_{j}, {a}v, %{p}_bv{j}) "
                        f": ({vt}, vector<{2 * LANES}xi16>, {bvec}) -> {vt}"
                    )
                    news.append(n)
        else:  # int4: two quads per step, the nibbles (u8) times A (s8); else A + 128 (u8) times B (s8)
            subs = [("", f"%{p}_k0"), ("h", f"%{p}_k1")] if g.int4 else [("", k)]
            if g.int4:
                body += [
                    f"%{p}_k0 = arith.muli {k}, {e.c(2)} : index",
                    f"%{p}_k1 = arith.addi %{p}_k0, {e.c(1)} : index",
                ]
            for i in range(mr):
                for j in range(g.nv):
                    news.append(f"%{p}_acc{i}_{j}")
                for h, kq in subs:
                    q4 = f"%{p}_a{i}{h}"
                    body += [
                        f"{q4}u = memref.load {abuf}[{', '.join([*bi, rows[i], kq])}] : {am}",
                        f"{q4}b = vector.broadcast {q4}u : i32 to {vt}",
                        f"{q4}v = vector.bitcast {q4}b : {vt} to vector<{4 * LANES}xi8>",
                    ]
                    for j in range(g.nv):
                        n, ab = f"%{p}_n{i}_{j}{h}", (f"%{p}_bv{j}{h}", f"{q4}v")
                        body.append(
                            f"{n} = func.call {dot}({news[i * g.nv + j]}, {', '.join(ab if g.int4 else ab[::-1])}) "
                            f": ({vt}, vector<{4 * LANES}xi8>, vector<{4 * LANES}xi8>) -> {vt}"
                        )
                        news[i * g.nv + j] = n
        body.append(f"scf.yield {', '.join(news)} : {', '.join([vt] * len(news))}")
        for line in body:
            fn.emit("  " + line)
        fn.emit("}")
        for i in range(mr):
            row_inputs = epilogue_rows(fn, ebufs, rows[i], f"{p}_e{i}")
            rc = int4_panels.row_correction(fn, rcbuf, g.m_t, rows[i], f"%{p}_rc{i}") if g.int4 else None
            for jj, j in enumerate(js):
                v = f"{res}#{i * len(js) + jj}"
                if g.elem == "f32" and bias is not None:
                    fn.emit(f"%{p}_y{i}_{j} = arith.addf {v}, %{q}_bias{j} : {vt}")
                    v = f"%{p}_y{i}_{j}"
                elif g.elem == "i8" and not g.pairs:
                    fn.emit(f"%{p}_y{i}_{j} = arith.subi {v}, {rc or f'%{q}_corr{j}'} : {vt}")
                    v = f"%{p}_y{i}_{j}"
                if epilogue:
                    v = apply_epilogue(fn, epilogue, ebufs, row_inputs, v, f"{p}_e{i}_{j}", j, (t, q, rows[i]))
                fn.emit(f"vector.store {v}, {obuf}[{', '.join([*bi, rows[i], f'%{q}_col{j}'])}] : {om}, {ovt}")

    def panel(pv: str, q: str) -> None:
        """Column indices and per-column vectors (bias, epilogue inputs, +128 correction) of panel `pv`."""
        fn.emit(f"%{q}_n0 = arith.muli {pv}, {e.c(g.nr)} : index")
        for j in range(g.nv):
            fn.emit(f"%{q}_col{j} = arith.addi %{q}_n0, {e.c(j * LANES)} : index")
            if g.b_layout == "rows":
                fn.emit(f"%{q}_nb{j} = arith.muli %{q}_col{j}, {e.c(g.group)} : index")
            if bias is not None:
                fn.emit(f"%{q}_bias{j} = vector.load {biasbuf}[%{q}_col{j}] : {bias[1].memref}, {vt}")
            if g.elem == "i8" and not (g.int4 or g.pairs):
                fn.emit(f"%{q}_corr{j} = vector.load {corrbuf}[{', '.join([*bi, f'%{q}_col{j}'])}] : {cm}, {vt}")
            for n, (eb, et, kind) in enumerate(ebufs):
                if kind == "col":
                    fn.emit(f"%{q}_ec{j}_{n} = vector.load {eb}[%{q}_col{j}] : {et.memref}, vector<{LANES}xf32>")

    big = g.batch * (g.m_t or 1) * g.n * g.k >= PARALLEL_MIN_MACS  # a dynamic M is priced as one row
    panels = e.c(g.n // g.nr)
    if g.b_layout == "dequant":  # per panel: dequantize into the scratch, then every row tile reads it
        for v in (g.k // 2, 2, dequant.group):  # constants before the loops, visible in every body
            e.c(v)
        fn.emit(f"%{t}_f4 = arith.constant dense<4> : vector<{LANES}xi8>")
        sbuf = _buffer(fn, *dequant.scales)
        _open_loops(fn, big, [f"%{t}_p"], [e.c(0)], [panels], [e.c(1)])
        _dequant_panel(fn, e, g, (bbuf, bm), (sbuf, dequant.scales[1].memref), dequant)
        panel(f"%{t}_p", f"{t}_dP")
        for m_lo, m_hi, m_step, tmr, tag in ((0, full, mr, mr, "t"), (full, g.m, 1, 1, "u")):
            if not (g.m_t and m_lo >= m_hi):
                fn.emit(f"scf.for %{t}_m{tag} = {e.c(m_lo)} to {e.c(m_hi)} step {e.c(m_step)} {{")
                tile(tmr, f"%{t}_m{tag}", f"{t}_{tag}", f"{t}_dP")
                fn.emit("}")
        _close_loops(fn, big, 1)
        result = fn.v()
        fn.emit(f"{result} = bufferization.to_tensor {obuf} restrict writable : {om} to {out.s}")
        return result
    if g.elem == "i8" and not g.int4 and corrections is not None:  # computed at compile time for a constant B
        corrbuf, cm = _buffer(fn, *corrections), corrections[1].memref
    elif g.elem == "i8" and not (g.int4 or g.pairs):  # 128 · Σ_k B[k, n] per column, before the tiles: vpdpbusd of ones
        corrbuf, cm = _column_corrections(fn, e, g, bi, b_loads, dot, ones, zero, seven)
    lo, hi = [*([e.c(0)] if batched else []), e.c(0)], [*([e.c(g.batch)] if batched else []), panels]
    pvar = f"%{t}_p"
    for m_lo, m_hi, m_step, tmr, tag in ((e.c(0), e.c(full), e.c(mr), mr, "t"), (e.c(full), e.c(g.m), e.c(1), 1, "u")):
        if tag == "u" and g.m_t and full == g.m:
            break
        mvar = f"%{t}_m{tag}"
        ivs = [*bi, pvar, mvar]
        _open_loops(fn, big, ivs, [*lo, m_lo], [*hi, m_hi], [*[e.c(1)] * len(lo), m_step])
        panel(pvar, f"{t}_{tag}P")
        if g.pairs and tmr > 1:  # AVX2 has 16 registers: MR rows × 16 columns at a time
            for j in range(g.nv):
                tile(tmr, mvar, f"{t}_{tag}{j}", f"{t}_{tag}P", (j,))
        else:
            tile(tmr, mvar, f"{t}_{tag}", f"{t}_{tag}P")
        _close_loops(fn, big, len(ivs))
    result = fn.v()
    fn.emit(f"{result} = bufferization.to_tensor {obuf} restrict writable : {om} to {out.s}")
    return result


def _flipped_quads(fn: Fn, e: _Emitter, g: Gemm, abuf: str, am: str) -> tuple[str, str]:
    """A copy of the i8 A buffer [batch?, M, K] as i32 quads [batch?, M, K/4] of A xor 0x80 (= A + 128 as u8),
    written 64 bytes at a time when K allows (else 4); returns the buffer and its memref type."""
    t = e.tag
    batched = g.batch > 1
    out = T(((g.batch,) if batched else ()) + (g.m_t, g.k // 4), "i32").memref
    w = 64 if g.k % 64 == 0 else 4
    buf = f"%{t}_af"
    fn.emit(f"{buf} = memref.alloc({'' if g.m_t else g.m}) {{alignment = 64 : i64}} : {out}")
    fn.emit(f"%{t}_fx = arith.constant dense<-128> : vector<{w}xi8>")
    for v in (w, w // 4, g.k):
        e.c(v)
    bi = [f"%{t}_fb"] if batched else []
    if batched:
        fn.emit(f"scf.for %{t}_fb = {e.c(0)} to {e.c(g.batch)} step {e.c(1)} {{")
    fn.emit(f"scf.for %{t}_fm = {e.c(0)} to {e.c(g.m)} step {e.c(1)} {{")
    fn.emit(f"scf.for %{t}_fk = {e.c(0)} to {e.c(g.k)} step {e.c(w)} {{")
    fn.emit(f"%{t}_fv = vector.load {abuf}[{', '.join([*bi, f'%{t}_fm', f'%{t}_fk'])}] : {am}, vector<{w}xi8>")
    fn.emit(f"%{t}_fu = arith.xori %{t}_fv, %{t}_fx : vector<{w}xi8>")
    fn.emit(f"%{t}_fw = vector.bitcast %{t}_fu : vector<{w}xi8> to vector<{w // 4}xi32>")
    fn.emit(f"%{t}_fq = arith.divui %{t}_fk, {e.c(4)} : index")
    fn.emit(f"vector.store %{t}_fw, {buf}[{', '.join([*bi, f'%{t}_fm', f'%{t}_fq'])}] : {out}, vector<{w // 4}xi32>")
    fn.emit("}")
    fn.emit("}")
    if batched:
        fn.emit("}")
    return buf, out


def _dequant_panel(fn: Fn, e: _Emitter, g: Gemm, qb: tuple[str, str], sb: tuple[str, str], dq: Dequant) -> None:
    """Allocate the [K][NR] f32 scratch %<tag>_wsc and fill it with panel %<tag>_p of the dequantized weight
    (qb, sb: the weight's and the scales' buffers and memref types), 16 columns per vector (int4: one byte
    vector gives the even k's low nibbles and the odd k's high ones)."""
    t = e.tag
    (qbuf, qm), (sbuf, scm) = qb, sb
    sm = T((g.k, g.nr), "f32").memref
    fn.emit(f"%{t}_wsc = memref.alloc() {{alignment = 64 : i64}} : {sm}")
    if dq.fill is not None:
        dq.fill(fn, g, t, qb, sb, (f"%{t}_wsc", sm))
        return
    nib = dq.bits <= 4
    steps = g.k // 2 if nib else g.k
    fn.emit(f"scf.for %{t}_dk = {e.c(0)} to {e.c(steps)} step {e.c(1)} {{")
    k0 = f"%{t}_dk0"
    fn.emit(f"{k0} = arith.muli %{t}_dk, {e.c(2 if nib else 1)} : index")
    fn.emit(f"%{t}_dg = arith.divui {k0}, {e.c(dq.group)} : index")
    for j in range(g.nv):
        col = e.c(j * LANES)
        q = f"%{t}_dq{j}"
        fn.emit(f"{q} = vector.load {qbuf}[%{t}_p, %{t}_dk, {col}] : {qm}, vector<{LANES}xi8>")
        fn.emit(f"{q}s = vector.load {sbuf}[%{t}_p, %{t}_dg, {col}] : {scm}, vector<{LANES}xf32>")
        parts = [(q, k0)]
        if nib:
            fn.emit(f"{q}l = arith.shli {q}, %{t}_f4 : vector<{LANES}xi8>")
            fn.emit(f"{q}lo = arith.shrsi {q}l, %{t}_f4 : vector<{LANES}xi8>")
            fn.emit(f"{q}hi = arith.shrsi {q}, %{t}_f4 : vector<{LANES}xi8>")
            fn.emit(f"{q}k1 = arith.addi {k0}, {e.c(1)} : index")
            parts = [(f"{q}lo", k0), (f"{q}hi", f"{q}k1")]
        for n, (v, kk) in enumerate(parts):
            if dq.decode is None:
                fn.emit(f"{q}f{n} = arith.sitofp {v} : vector<{LANES}xi8> to vector<{LANES}xf32>")
            else:
                for line in dq.decode(v, f"{q}f{n}", f"{q[1:]}d{n}"):
                    fn.emit(line)
            fn.emit(f"{q}w{n} = arith.mulf {q}f{n}, {q}s : vector<{LANES}xf32>")
            fn.emit(f"vector.store {q}w{n}, %{t}_wsc[{kk}, {col}] : {sm}, vector<{LANES}xf32>")
    fn.emit("}")


def _open_loops(fn: Fn, parallel: bool, ivs: list[str], lo: list[str], hi: list[str], step: list[str]) -> None:
    """A loop nest over `ivs`: one `scf.parallel` (run by OpenMP threads when the JIT has them) or nested
    `scf.for`s (kernels too small to be worth a fork)."""
    if parallel:
        fn.emit(f"scf.parallel ({', '.join(ivs)}) = ({', '.join(lo)}) to ({', '.join(hi)}) step ({', '.join(step)}) {{")
        return
    for iv, a, b, s in zip(ivs, lo, hi, step, strict=True):
        fn.emit(f"scf.for {iv} = {a} to {b} step {s} {{")


def _close_loops(fn: Fn, parallel: bool, depth: int) -> None:
    if parallel:
        fn.emit("scf.reduce")
        fn.emit("}")
        return
    for _ in range(depth):
        fn.emit("}")


def _column_corrections(fn: Fn, e: _Emitter, g: Gemm, bi: list[str], b_loads, dot: str, ones, zero, seven):
    """128 · Σ_k B[k, n] for every column (and batch), as an i32 buffer [batch?, N]: the +128 of A's u8
    form, subtracted from each accumulator. Computed with vpdpbusd on a vector of ones, panel by panel."""
    t = e.tag
    vt = f"vector<{LANES}xi32>"
    cm = T(((g.batch,) if g.batch > 1 else ()) + (g.n,), "i32").memref
    buf = f"%{t}_corrb"
    fn.emit(f"{buf} = memref.alloc() {{alignment = 64 : i64}} : {cm}")
    if bi:
        fn.emit(f"scf.for {bi[0]} = {e.c(0)} to {e.c(g.batch)} step {e.c(1)} {{")
    fn.emit(f"scf.for %{t}_p = {e.c(0)} to {e.c(g.n // g.nr)} step {e.c(1)} {{")
    fn.emit(f"%{t}_cc0 = arith.muli %{t}_p, {e.c(g.nr)} : index")
    for j in range(g.nv):
        fn.emit(f"%{t}_ccol{j} = arith.addi %{t}_cc0, {e.c(j * LANES)} : index")
        if g.b_layout == "rows":
            fn.emit(f"%{t}_c_nb{j} = arith.muli %{t}_ccol{j}, {e.c(g.group)} : index")
    cs = [f"%{t}_cs{j}" for j in range(g.nv)]
    fn.emit(
        f"%{t}_csum:{g.nv} = scf.for %{t}_ck = {e.c(0)} to {e.c(g.k // 4)} step {e.c(1)} "
        f"iter_args({', '.join(f'{c} = {zero}' for c in cs)}) -> ({', '.join([vt] * g.nv)}) {{"
    )
    for line in b_loads(f"%{t}_ck", f"%{t}_cb", f"{t}_c"):
        fn.emit("  " + line)
    for j in range(g.nv):
        fn.emit(
            f"  %{t}_cn{j} = func.call {dot}({cs[j]}, {ones}, %{t}_cb{j}) "
            f": ({vt}, vector<{4 * LANES}xi8>, vector<{4 * LANES}xi8>) -> {vt}"
        )
    fn.emit(f"  scf.yield {', '.join(f'%{t}_cn{j}' for j in range(g.nv))} : {', '.join([vt] * g.nv)}")
    fn.emit("}")
    for j in range(g.nv):
        fn.emit(f"%{t}_cv{j} = arith.shli %{t}_csum#{j}, {seven} : {vt}")
        fn.emit(f"vector.store %{t}_cv{j}, {buf}[{', '.join([*bi, f'%{t}_ccol{j}'])}] : {cm}, {vt}")
    fn.emit("}")
    if bi:
        fn.emit("}")
    return buf, cm
