"""CPU lowering of qc.kv_attention and qc.kv_attention_int8: attention of one step over the KV cache, in place.

Two phases, on the operands' buffers:
1. write: each (row b, kv head g, step token t) at position p = pos[b] + t < S stores its key into the
   transposed key cache (a column of [D, S]) and its value into the value cache (a row of [S, D]); the int8
   form quantizes first (`reference.quantize_kv_rows`: absmax / 127 rounded to f16, multiply by the inverse
   scale, round half to even, saturate), keys per 16 channels and values per row, and stores the f16 scales'
   two bytes each in the i8 scale buffers (positions contiguous, so 16 positions' scales are one 32-byte load).
2. attend: each query (b, h, t) walks the positions of its window 16 at a time (one vector lane each): 16
   scores are D fused multiply-adds of a broadcast query element and 16 keys (the transposed layout makes them
   one vector load; int8: per 16-channel group, times the group's 16 key scales), masked to the window, then
   folded into a running max, sum and D-wide accumulator
   (online softmax: no score buffer, one pass over the cache). For T > 1 (a prefill chunk) the queries run
   as a parallel loop.

The caches are operands that the kernel writes (see `qcomp.dialects.qc_attention`): they are taken with
`bufferization.to_buffer ... read_only`, so bufferization passes the caller's buffers through unchanged and
the stores land in the cache the caller handed in. The float sums run in another order than the reference's
(blocked online softmax, the vector exp of `vector_math`): results agree within f32 rounding; the int8 cache
contents are bit-identical to the reference.
"""

import math

from qcomp.dialects.errors import QcompError
from qcomp.dialects.reference import F16_MAX, KV_GROUP
from qcomp.targets.common import vector_math

from .isa import LANES
from .linalg_text import Fn, T, f32

_V = f"vector<{LANES}xf32>"
_VI = f"vector<{LANES}xi32>"


def _write_phase(fn: Fn, b: str, int8: bool, t_: T, kc: T, vc: T, sc: T | None, vs: T | None) -> None:
    """Phase 1 for row %b (inside its loop): keys and values of every (g, t) into the cache at pos[b] + t."""
    _, hkv, tt, d = t_.shape
    e = fn.emit
    e(f"%p0i = memref.load %posb[{b}] : memref<{t_.shape[0]}xi64>")
    e("%p0 = arith.index_cast %p0i : i64 to index")
    e(f"scf.for %g = %c0 to %c{hkv} step %c1 {{")
    e(f"  scf.for %t = %c0 to %c{tt} step %c1 {{")
    e("    %p = arith.addi %p0, %t : index")
    e("    %inb = arith.cmpi ult, %p, %cS : index")  # negative positions are huge as unsigned
    e("    scf.if %inb {")
    if not int8:
        e(f"      scf.for %dd = %c0 to %c{d} step %c1 {{")
        e(f"        %kx = memref.load %kb[{b}, %g, %t, %dd] : {t_.memref}")
        e(f"        memref.store %kx, %kcb[%cL, {b}, %g, %dd, %p] : {kc.memref}")
        e("      }")
        for i in range(d // LANES):
            e(f"      %vx{i} = vector.load %vb[{b}, %g, %t, %c{i * LANES}] : {t_.memref}, {_V}")
            e(f"      vector.store %vx{i}, %vcb[%cL, {b}, %g, %p, %c{i * LANES}] : {vc.memref}, {_V}")
    else:
        _quantize_row(fn, "%kb", "k", b, d, KV_GROUP, t_)
        _quantize_row(fn, "%vb", "v", b, d, d, t_)
        e("      %p2 = arith.muli %p, %c2 : index")
        for gi in range(d // KV_GROUP):
            _store_scale(fn, f"%k_sc{gi}", f"%ksb[%cL, {b}, %g, %c{gi}, %p2]", sc.memref)
        _store_scale(fn, "%v_sc0", f"%vsb[%cL, {b}, %g, %p2]", vs.memref)
        for i in range(d // LANES):
            e(f"      vector.store %v_q{i}, %vcb[%cL, {b}, %g, %p, %c{i * LANES}] : {vc.memref}, vector<{LANES}xi8>")
            for lane in range(LANES):
                e(f"      %k_e{i}_{lane} = vector.extract %k_q{i}[{lane}] : i8 from vector<{LANES}xi8>")
                e(f"      memref.store %k_e{i}_{lane}, %kcb[%cL, {b}, %g, %c{i * LANES + lane}, %p] : {kc.memref}")
    e("    }")
    e("  }")
    e("}")


def _quantize_row(fn: Fn, src: str, name: str, b: str, d: int, group: int, t_: T) -> None:
    """%{name}_sc<g> (f16) and %{name}_q<i> (vector<16xi8>): `reference.quantize_kv_rows` of the (b, g, t) row,
    one scale per `group` channels."""
    e = fn.emit
    per = group // LANES
    for i in range(d // LANES):
        e(f"      %{name}_x{i} = vector.load {src}[{b}, %g, %t, %c{i * LANES}] : {t_.memref}, {_V}")
    for gi in range(d // group):
        first = gi * per
        e(f"      %{name}_a{first} = math.absf %{name}_x{first} : {_V}")
        for i in range(first + 1, first + per):
            e(f"      %{name}_ab{i} = math.absf %{name}_x{i} : {_V}")
            e(f"      %{name}_a{i} = arith.maximumf %{name}_a{i - 1}, %{name}_ab{i} : {_V}")
        n = f"{name}{gi}"
        e(f"      %{n}_amax = vector.reduction <maximumf>, %{name}_a{first + per - 1} : {_V} into f32")
        e(f"      %{n}_s0 = arith.divf %{n}_amax, %f127 : f32")
        e(f"      %{n}_s1 = arith.minimumf %{n}_s0, %f16max : f32")
        e(f"      %{n}_h = arith.truncf %{n}_s1 : f32 to f16")
        e(f"      %{n}_z = arith.cmpf oeq, %{n}_h, %h0 : f16")
        e(f"      %{name}_sc{gi} = arith.select %{n}_z, %h1, %{n}_h : f16")
        e(f"      %{n}_scale = arith.extf %{name}_sc{gi} : f16 to f32")
        e(f"      %{n}_inv = arith.divf %f1, %{n}_scale : f32")
        e(f"      %{n}_invv = vector.broadcast %{n}_inv : f32 to {_V}")
        for i in range(first, first + per):
            e(f"      %{name}_m{i} = arith.mulf %{name}_x{i}, %{n}_invv : {_V}")
            e(f"      %{name}_r{i} = math.roundeven %{name}_m{i} : {_V}")
            e(f"      %{name}_lo{i} = arith.maximumf %{name}_r{i}, %v_m127 : {_V}")
            e(f"      %{name}_hi{i} = arith.minimumf %{name}_lo{i}, %v_p127 : {_V}")
            e(f"      %{name}_q{i} = arith.fptosi %{name}_hi{i} : {_V} to vector<{LANES}xi8>")


def _store_scale(fn: Fn, scale: str, at: str, memref: str) -> None:
    """Store f16 %scale as its two bytes (little-endian) at `at` of an i8 scale buffer."""
    v = scale.lstrip("%")
    fn.emit(f"      %{v}_v = vector.broadcast {scale} : f16 to vector<1xf16>")
    fn.emit(f"      %{v}_b = vector.bitcast %{v}_v : vector<1xf16> to vector<2xi8>")
    fn.emit(f"      vector.store %{v}_b, {at} : {memref}, vector<2xi8>")


def _load_scales(fn: Fn, at: str, memref: str, name: str) -> str:
    """16 f16 scales (32 bytes at `at`) as a vector<16xf32>."""
    fn.emit(f"  %{name}8 = vector.load {at} : {memref}, vector<{2 * LANES}xi8>")
    fn.emit(f"  %{name}16 = vector.bitcast %{name}8 : vector<{2 * LANES}xi8> to vector<{LANES}xf16>")
    fn.emit(f"  %{name} = arith.extf %{name}16 : vector<{LANES}xf16> to {_V}")
    return f"%{name}"


def _attend_phase(fn: Fn, attrs: dict, int8: bool, q: T, kc: T, vc: T, sc: T | None, vs: T | None, out: T) -> None:
    """Phase 2 for query (%b, %h, %t): online softmax over the window, 16 positions per step."""
    b_, h, tt, d = q.shape
    hkv = kc.shape[2]
    n = d // LANES
    window = int(attrs["window"])
    e = fn.emit
    e(f"%gsz = arith.constant {h // hkv} : index")
    e("%g = arith.divui %h, %gsz : index")
    e(f"%p0i = memref.load %posb[%b] : memref<{b_}xi64>")
    e("%p0 = arith.index_cast %p0i : i64 to index")
    e("%p = arith.addi %p0, %t : index")
    e("%inb = arith.cmpi ult, %p, %cS : index")
    e("%p1 = arith.addi %p, %c1 : index")
    e("%hi = arith.select %inb, %p1, %c0 : index")  # out of range: no position, the output row is 0
    if window > 0:
        e(f"%wl = arith.subi %p1, %c{window} : index")
        e(f"%wok = arith.cmpi sge, %p1, %c{window} : index")
        e("%lo = arith.select %wok, %wl, %c0 : index")
    else:
        e("%lo = arith.addi %c0, %c0 : index")
    e("%jb = arith.divui %lo, %c16 : index")
    e("%jstart = arith.muli %jb, %c16 : index")
    e("%lo32i = arith.index_cast %lo : index to i32")
    e("%hi32i = arith.index_cast %hi : index to i32")
    e(f"%lo32 = vector.broadcast %lo32i : i32 to {_VI}")
    e(f"%hi32 = vector.broadcast %hi32i : i32 to {_VI}")
    accs = ", ".join(f"%acc{i} = %vzero" for i in range(n))
    types = ", ".join([_V] * n)
    carried = f"iter_args(%m = %fninf, %l = %f0, {accs}) -> (f32, f32, {types})"
    e(f"%res:{n + 2} = scf.for %j0 = %jstart to %hi step %c16 {carried} {{")
    if not int8:
        e(f"  %s = scf.for %d = %c0 to %c{d} step %c1 iter_args(%sa = %vzero) -> ({_V}) {{")
        e(f"    %qd = memref.load %qb[%b, %h, %t, %d] : {q.memref}")
        e(f"    %qv = vector.broadcast %qd : f32 to {_V}")
        e(f"    %kv = vector.load %kcb[%cL, %b, %g, %d, %j0] : {kc.memref}, {_V}")
        e(f"    %sn = vector.fma %qv, %kv, %sa : {_V}")
        e(f"    scf.yield %sn : {_V}")
        e("  }")
        s = "%s"
    else:  # per group of KV_GROUP channels: the integer keys' partial scores, times the group's 16 scales
        e("  %j02 = arith.muli %j0, %c2 : index")
        s = "%vzero"
        for gi in range(d // KV_GROUP):
            lo, hi = gi * KV_GROUP, (gi + 1) * KV_GROUP
            e(f"  %s{gi} = scf.for %d = %c{lo} to %c{hi} step %c1 iter_args(%sa = %vzero) -> ({_V}) {{")
            e(f"    %qd = memref.load %qb[%b, %h, %t, %d] : {q.memref}")
            e(f"    %qv = vector.broadcast %qd : f32 to {_V}")
            e(f"    %kv8 = vector.load %kcb[%cL, %b, %g, %d, %j0] : {kc.memref}, vector<{LANES}xi8>")
            e(f"    %kv = arith.sitofp %kv8 : vector<{LANES}xi8> to {_V}")
            e(f"    %sn = vector.fma %qv, %kv, %sa : {_V}")
            e(f"    scf.yield %sn : {_V}")
            e("  }")
            ks = _load_scales(fn, f"%ksb[%cL, %b, %g, %c{gi}, %j02]", sc.memref, f"ks{gi}")
            e(f"  %sk{gi} = vector.fma %s{gi}, {ks}, {s} : {_V}")
            s = f"%sk{gi}"
    e(f"  %ss = arith.mulf {s}, %vscale : {_V}")
    e("  %j032 = arith.index_cast %j0 : index to i32")
    e(f"  %jv0 = vector.broadcast %j032 : i32 to {_VI}")
    e(f"  %jv = arith.addi %jv0, %iota : {_VI}")
    e(f"  %okl = arith.cmpi sge, %jv, %lo32 : {_VI}")
    e(f"  %okh = arith.cmpi slt, %jv, %hi32 : {_VI}")
    e(f"  %ok = arith.andi %okl, %okh : vector<{LANES}xi1>")
    e(f"  %sm = arith.select %ok, %ss, %vninf : vector<{LANES}xi1>, {_V}")
    e(f"  %mb = vector.reduction <maximumf>, %sm : {_V} into f32")
    e("  %mn = arith.maximumf %m, %mb : f32")
    e("  %dm = arith.subf %m, %mn : f32")
    e("  %c = math.exp %dm : f32")
    e(f"  %mnv = vector.broadcast %mn : f32 to {_V}")
    e(f"  %x = arith.subf %sm, %mnv : {_V}")
    lines, pv = vector_math.exp("%x", "ex", _V)
    for line in lines:
        e("  " + line)
    e(f"  %ps = vector.reduction <add>, {pv} : {_V} into f32")
    e("  %lc = arith.mulf %l, %c : f32")
    e("  %ln = arith.addf %lc, %ps : f32")
    e(f"  %cv = vector.broadcast %c : f32 to {_V}")
    if int8:
        vsv = _load_scales(fn, "%vsb[%cL, %b, %g, %j02]", vs.memref, "vsv")
        e(f"  %pw = arith.mulf {pv}, {vsv} : {_V}")
        pv = "%pw"
    cur = [f"%acc{i}" for i in range(n)]
    for i in range(n):
        e(f"  %a{i}_s = arith.mulf %acc{i}, %cv : {_V}")
        cur[i] = f"%a{i}_s"
    for jj in range(LANES):
        e(f"  %pj{jj} = vector.extract {pv}[{jj}] : f32 from {_V}")
        e(f"  %pb{jj} = vector.broadcast %pj{jj} : f32 to {_V}")
        e(f"  %row{jj} = arith.addi %j0, %c{jj} : index")
        for i in range(n):
            if int8:
                row = f"%vcb[%cL, %b, %g, %row{jj}, %c{i * LANES}]"
                e(f"  %vr8_{jj}_{i} = vector.load {row} : {vc.memref}, vector<{LANES}xi8>")
                e(f"  %vr{jj}_{i} = arith.sitofp %vr8_{jj}_{i} : vector<{LANES}xi8> to {_V}")
            else:
                e(f"  %vr{jj}_{i} = vector.load %vcb[%cL, %b, %g, %row{jj}, %c{i * LANES}] : {vc.memref}, {_V}")
            e(f"  %f{jj}_{i} = vector.fma %pb{jj}, %vr{jj}_{i}, {cur[i]} : {_V}")
            cur[i] = f"%f{jj}_{i}"
    e(f"  scf.yield %mn, %ln, {', '.join(cur)} : f32, f32, {types}")
    e("}")
    e("%lz = arith.cmpf oeq, %res#1, %f0 : f32")
    e("%lsafe = arith.select %lz, %f1, %res#1 : f32")
    e(f"%lv = vector.broadcast %lsafe : f32 to {_V}")
    for i in range(n):
        e(f"%o{i} = arith.divf %res#{i + 2}, %lv : {_V}")
        e(f"vector.store %o{i}, %ob[%b, %t, %h, %c{i * LANES}] : {out.memref}, {_V}")


def _lower(fn: Fn, attrs: dict, int8: bool) -> list[str]:
    q, k, v, kc, vc = fn.args[:5]
    sc, vs = (fn.args[5], fn.args[6]) if int8 else (None, None)
    b_, h, tt, d = q.shape
    s_max = kc.shape[4]
    if d % LANES or s_max % LANES:
        raise QcompError(
            f"the CPU kv_attention kernel needs a head dim and a cache length that are multiples of {LANES}, "
            f"got {d} and {s_max}"
        )
    out = fn.results[0]
    e = fn.emit
    names = ["%qb", "%kb", "%vb", "%kcb", "%vcb", *(["%ksb", "%vsb"] if int8 else []), "%posb"]
    for i, (name, t) in enumerate(zip(names, fn.args, strict=True)):
        e(f"{name} = bufferization.to_buffer %arg{i} read_only : {t.s} to {t.memref}")
    e(f"%ob = memref.alloc() {{alignment = 64 : i64}} : {out.memref}")
    consts = {0, 1, 2, 16, b_, h, tt, d, kc.shape[2], *range(d + 1)}
    if int(attrs["window"]) > 0:
        consts.add(int(attrs["window"]))
    for c in sorted(consts):
        e(f"%c{c} = arith.constant {c} : index")
    e(f"%cS = arith.constant {s_max} : index")
    e(f"%cL = arith.constant {int(attrs['layer'])} : index")
    e("%f0 = arith.constant 0.0 : f32")
    e("%f1 = arith.constant 1.0 : f32")
    e("%f127 = arith.constant 127.0 : f32")
    e(f"%f16max = arith.constant {F16_MAX} : f32")
    e("%h0 = arith.constant 0.0 : f16")
    e("%h1 = arith.constant 1.0 : f16")
    e(f"%fninf = arith.constant {f32(-math.inf)} : f32")
    e(f"%vzero = arith.constant dense<0.0> : {_V}")
    e(f"%vninf = arith.constant dense<{f32(-math.inf)}> : {_V}")
    e(f"%v_m127 = arith.constant dense<-127.0> : {_V}")
    e(f"%v_p127 = arith.constant dense<127.0> : {_V}")
    e(f"%vscale = arith.constant dense<{f32(float(attrs['scale']))}> : {_V}")
    e(f"%iota = arith.constant dense<[{', '.join(str(i) for i in range(LANES))}]> : {_VI}")
    e(f"scf.for %b = %c0 to %c{b_} step %c1 {{")
    body_start = len(fn.lines)
    _write_phase(fn, "%b", int8, k, kc, vc, sc, vs)
    fn.lines[body_start:] = ["  " + line for line in fn.lines[body_start:]]
    e("}")
    loop = "scf.parallel" if tt > 1 else "scf.for"
    if tt > 1:
        e(f"scf.parallel (%b, %h, %t) = (%c0, %c0, %c0) to (%c{b_}, %c{h}, %c{tt}) step (%c1, %c1, %c1) {{")
    else:
        e(f"scf.for %b = %c0 to %c{b_} step %c1 {{")
        e(f"scf.for %h = %c0 to %c{h} step %c1 {{")
        e("%t = arith.addi %c0, %c0 : index")
    body_start = len(fn.lines)
    _attend_phase(fn, attrs, int8, q, kc, vc, sc, vs, out)
    fn.lines[body_start:] = ["  " + line for line in fn.lines[body_start:]]
    if loop == "scf.parallel":
        e("  scf.reduce")
        e("}")
    else:
        e("}")
        e("}")
    r = fn.v()
    e(f"{r} = bufferization.to_tensor %ob restrict writable : {out.memref} to {out.s}")
    return [r]


def lower_kv_attention(fn: Fn, attrs: dict) -> list[str]:
    return _lower(fn, attrs, int8=False)


def lower_kv_attention_int8(fn: Fn, attrs: dict) -> list[str]:
    return _lower(fn, attrs, int8=True)


LOWERINGS = {"kv_attention": lower_kv_attention, "kv_attention_int8": lower_kv_attention_int8}
