"""Micro-benchmarks behind the CPU cost model: small qc modules compiled by the real CPU target and timed.

`measure(target)` returns the constants `cost_model` needs, as a plain dict (JSON):

- call_s + arg_s per input and output array: one call of a compiled model (Python, ctypes, memref
  descriptors, output allocation); op_s: one kernel call inside it.
- cache_bytes: the per-core cache (sysfs); spill_s_per_byte: what activations beyond it add per byte read
  and written (an add over 8 MiB tensors against one within the cache).
- bandwidth: bytes/s of a one-row linear over a weight larger than the last-level cache (weights stream
  from memory at this rate); copy_s_per_byte: a memcpy from memory (bufferization's copies of constants);
  fault_s_per_byte: the first-touch page faults of a fresh mapping (glibc maps every buffer of 32 MiB or
  more afresh on each allocation; smaller ones are reused from the heap).
- tile_s["<elem>-<layout>-nv<NV>-mr<MR>"]: seconds per k step of one MR x 16·NV register tile of the GEMM
  microkernel (`kernels.emit_gemm`), at MR = 1 and MR = rows_per_tile(NV), fitted from three sizes per
  kernel (two depths K give the slope, a partial last row tile the one-row cost);
  out_s["<elem>-<layout>"]: seconds per output element of the same kernel (bias, stores; the i8 epilogue).
- elem_s[kind]: seconds per element of each loop-nest op (norms, softmax, activations, quantization,
  embedding rows, host ops), per weight of the per-call dequantization of `qc.wlinear`, per
  multiply-accumulate of the contractions without a microkernel (convolutions, N not a multiple of 16).

Medians of the calling thread's CPU time over repeated calls (the compiled code runs on that thread; CPU
time leaves out the time other jobs of a shared machine hold the core), the call overhead subtracted.
`quick=True` uses sizes 4-8x smaller (for tests: coarser, a few seconds).
"""

import mmap
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
from qcomp.dialects import new_context
from qcomp.dialects._mlir import ir

from .gemm_ops import panel_vectors
from .kernels import LANES, rows_per_tile
from .linalg_text import T
from .lowering_passes import lower_probe

GEMM_N = {4: 256, 3: 240, 2: 160, 1: 80}  # N whose panel_vectors(N) is the key


def _module(operands: list[tuple[str, T, str]], op: str, attrs: str, results: list[T]) -> str:
    """@main running one qc op; operands are ('in', type, '') arguments or ('const', type, dense value)."""
    args, lines, names = [], [], []
    for i, (kind, t, value) in enumerate(operands):
        if kind == "in":
            args.append(f"%v{i}: {t.s}")
        else:
            lines.append(f"  %v{i} = arith.constant dense<{value}> : {t.s}")
        names.append(f"%v{i}")
    res = ", ".join(r.s for r in results)
    outs = [f"%y#{i}" for i in range(len(results))] if len(results) > 1 else ["%y"]
    head = f"%y:{len(results)}" if len(results) > 1 else "%y"
    lines.append(
        f'  {head} = "{op}"({", ".join(names)}) {attrs} : ({", ".join(t.s for _, t, _ in operands)}) -> ({res})'
    )
    lines.append(f"  return {', '.join(outs)} : {res}")
    return f"func.func @main({', '.join(args)}) -> ({res}) {{\n" + "\n".join(lines) + "\n}"


class Bench:
    """Compiles modules with `target` and times them (median seconds of repeated calls)."""

    def __init__(self, target, budget_s: float = 0.08, seed: int = 0):
        self.target, self.budget_s = target, budget_s
        self.rng = np.random.default_rng(seed)
        self.call_s, self.arg_s = 0.0, 0.0  # the call overhead `net` subtracts (see `calibrate_calls`)

    def calibrate_calls(self) -> None:
        """The fixed cost of a call: a base plus a cost per input and output array (each gets a memref
        descriptor built in Python), from two tiny modules with 2 and 4 arrays."""
        tiny = _f32(1, 16)
        two = self.time(_chain_text(1))[0]
        ln = [("in", tiny, ""), ("in", _f32(16), ""), ("in", _f32(16), "")]
        four = self.time(_module(ln, "qc.layer_norm", "{eps = 1.0e-05 : f64}", [tiny]))[0]
        self.arg_s = max((four - two) / 2, 0.0)
        self.call_s = max(two - 2 * self.arg_s, 0.0)

    def build(self, text: str):

        with new_context(), ir.Location.unknown():
            module = ir.Module.parse(text)
            lower_probe(module, self.target.pipeline())
            return self.target.build(module)

    def inputs(self, art) -> list[np.ndarray]:
        ins = []
        for shape, dtype in art.fn.inputs:
            if dtype.kind == "f":
                ins.append(self.rng.standard_normal(shape).astype(dtype))
            else:  # token ids (embedding tables have >= 100 rows here) and i8 / i32 operands
                ins.append(self.rng.integers(0, 100, shape).astype(dtype))
        return ins

    def time(self, text: str) -> tuple[float, int]:
        """(median seconds of a call, number of input and output arrays)."""
        art = self.build(text)
        ins = self.inputs(art)
        return self.time_call(lambda: art(*ins)), len(ins) + len(art.fn.results)

    def net(self, text: str) -> float:
        """Seconds of a call less the call overhead."""
        t, arrays = self.time(text)
        return t - self.call_s - arrays * self.arg_s

    def time_call(self, call: Callable[[], object]) -> float:
        """Median CPU time of this thread per call (the compiled code runs on it; CPU time leaves out the
        time other jobs of a shared machine hold the core)."""
        call()
        ts: list[float] = []
        start = time.thread_time()
        while len(ts) < 5 or (time.thread_time() - start < self.budget_s and len(ts) < 200):
            t0 = time.thread_time()
            call()
            ts.append(time.thread_time() - t0)
        return statistics.median(ts)


# ----------------------------------------------------------------------------- module texts
def _f32(*shape: int) -> T:
    return T(tuple(shape), "f32")


def _i8(*shape: int) -> T:
    return T(tuple(shape), "i8")


def linear_text(m: int, n: int, k: int) -> str:
    return _module(
        [("in", _f32(m, k), ""), ("const", _f32(n, k), "0.5"), ("const", _f32(n), "0.0")], "qc.linear", "", [_f32(m, n)]
    )


def qlinear_text(m: int, n: int, k: int) -> str:
    ops = [("in", _i8(m, k), ""), ("in", _f32(m, 1), ""), ("const", _i8(n, k), "3")]
    ops += [("const", _f32(n), "0.01"), ("const", _f32(n), "0.0")]
    return _module(ops, "qc.qlinear", '{act = "none"}', [_f32(m, n)])


def matmul_text(m: int, n: int, k: int) -> str:
    return _module([("in", _f32(m, k), ""), ("in", _f32(k, n), "")], "qc.matmul", "", [_f32(m, n)])


def wlinear_text(m: int, n: int, k: int, bits: int, group: int) -> str:
    kw = -(-k // 2) if bits <= 4 else k
    ops = [("in", _f32(m, k), ""), ("const", _i8(n, kw), "17"), ("const", _f32(n, -(-k // group)), "0.01")]
    ops.append(("const", _f32(n), "0.0"))
    return _module(ops, "qc.wlinear", f"{{bits = {bits} : i64, group = {group} : i64}}", [_f32(m, n)])


def _unary(op: str, attrs: str = "", rows: int = 128, cols: int = 1024) -> str:
    return _module([("in", _f32(rows, cols), "")], op, attrs, [_f32(rows, cols)])


def elementwise_texts(rows: int, cols: int) -> dict[str, str]:
    """One module per loop-nest op kind over [rows, cols] elements (the key is the cost model's kind)."""
    x, s = _f32(rows, cols), _f32(cols)
    perm = ", ".join(str(i) for i in reversed(range(cols)))
    eps = "{eps = 1.0e-05 : f64}"
    axis_bits = "{axis = -1 : i64, bits = 8 : i64}"
    texts = {
        "add": _module([("in", x, ""), ("in", x, "")], "qc.add", "", [x]),
        "mul": _module([("in", x, ""), ("in", x, "")], "qc.mul", "", [x]),
        "relu": _unary("qc.relu", "", rows, cols),
        "silu": _unary("qc.silu", "", rows, cols),
        "gelu": _unary("qc.gelu", '{approximate = "none"}', rows, cols),
        "gelu_tanh": _unary("qc.gelu", '{approximate = "tanh"}', rows, cols),
        "softmax": _unary("qc.softmax", "{axis = -1 : i64}", rows, cols),
        "channel_scale": _module([("in", x, ""), ("const", s, "0.5")], "qc.channel_scale", "", [x]),
        "channel_permute": _module([("in", x, "")], "qc.channel_permute", f"{{perm = array<i64: {perm}>}}", [x]),
        "layer_norm": _module([("in", x, ""), ("const", s, "1.0"), ("const", s, "0.0")], "qc.layer_norm", eps, [x]),
        "rms_norm": _module([("in", x, ""), ("const", s, "1.0")], "qc.rms_norm", eps, [x]),
        "quantize": _module(
            [("in", x, ""), ("const", _f32(1), "0.05")],
            "qc.quantize",
            axis_bits,
            [_i8(rows, cols)],
        ),
        "quantize_dynamic": _module(
            [("in", x, "")],
            "qc.quantize_dynamic",
            '{bits = 8 : i64, granularity = "per_token"}',
            [_i8(rows, cols), _f32(rows, 1)],
        ),
        "dequantize": _module(
            [("in", _i8(rows, cols), ""), ("const", s, "0.01")], "qc.dequantize", "{axis = -1 : i64}", [x]
        ),
        "requantize": _module(
            [("in", T((rows, cols), "i32"), ""), ("const", _f32(1), "0.01")],
            "qc.requantize",
            axis_bits,
            [_i8(rows, cols)],
        ),
        "embedding": _module(
            [("in", _f32(4 * rows, cols), ""), ("in", T((1, rows), "i64"), "")],
            "qc.embedding",
            "",
            [_f32(1, rows, cols)],
        ),
        "host_map": _host_map(rows, cols),
        "host_copy": _host_transpose(rows, cols),
    }
    return texts


def _host_map(rows: int, cols: int) -> str:
    """A host linalg.generic as qc-from-torch leaves them: x · constant."""
    t = _f32(rows, cols).s
    m = "affine_map<(d0, d1) -> (d0, d1)>"
    return f"""func.func @main(%x: {t}) -> {t} {{
  %e = tensor.empty() : {t}
  %y = linalg.generic {{indexing_maps = [{m}, {m}], iterator_types = ["parallel", "parallel"]}}
      ins(%x : {t}) outs(%e : {t}) {{
  ^bb0(%in: f32, %out: f32):
    %c = arith.constant 0.125 : f32
    %r = arith.mulf %in, %c : f32
    linalg.yield %r : f32
  }} -> {t}
  return %y : {t}
}}"""


def _host_transpose(rows: int, cols: int) -> str:
    """A host linalg.transpose as attention leaves them: [1, T, H, D] -> [1, H, T, D]."""
    h = 8
    a, b = _f32(1, rows, h, cols // h).s, _f32(1, h, rows, cols // h).s
    return f"""func.func @main(%x: {a}) -> {b} {{
  %e = tensor.empty() : {b}
  %y = linalg.transpose ins(%x : {a}) outs(%e : {b}) permutation = [0, 2, 1, 3]
  return %y : {b}
}}"""


def conv_text(quantized: bool, c: int, hw: int) -> tuple[str, int]:
    """A 3x3 convolution (padding 1), and its multiply-accumulate count."""
    attrs = "{dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1>, stride = array<i64: 1, 1>}"
    y = _f32(1, 2 * c, hw, hw)
    if quantized:
        ops = [("in", _i8(1, c, hw, hw), ""), ("const", _f32(1), "0.01"), ("const", _i8(2 * c, c, 3, 3), "3")]
        ops += [("const", _f32(2 * c), "0.01"), ("const", _f32(2 * c), "0.0")]
        text = _module(ops, "qc.qconv2d", attrs, [y])
    else:
        ops = [("in", _f32(1, c, hw, hw), ""), ("const", _f32(2 * c, c, 3, 3), "0.5"), ("const", _f32(2 * c), "0.0")]
        text = _module(ops, "qc.conv2d", attrs, [y])
    return text, 2 * c * c * 9 * hw * hw


# ----------------------------------------------------------------------------- fits
def _gemm_text(elem: str, layout: str, m: int, n: int, k: int) -> str:
    if layout == "rows":
        return matmul_text(m, n, k)
    return linear_text(m, n, k) if elem == "f32" else qlinear_text(m, n, k)


def fit_gemm(bench: Bench, elem: str, layout: str, nv: int, op_s: float, quick: bool) -> dict:
    """tile_s at MR = 1 and MR = rows_per_tile(NV), and out_s, of one kernel from three sizes (see module doc).

    Model: op_s + m·n·out + P·K'·(T·c_full + (R + s)·c_one) with P panels, T full row tiles, R rows left
    and s = 1 for i8 (the column sums of B: one extra one-row pass per panel), K' = K / (4 for i8)."""
    n = GEMM_N[nv] // (2 if quick and nv == 4 else 1)
    mr = rows_per_tile(nv)
    tiles = (48 if quick else 128) // mr
    m = mr * tiles
    k1, k2 = (128, 384) if quick else (256, 1024)
    g = 4 if elem == "i8" else 1
    p = n // (LANES * nv)
    ta = bench.net(_gemm_text(elem, layout, m, n, k1))
    tb = bench.net(_gemm_text(elem, layout, m, n, k2))
    tc = bench.net(_gemm_text(elem, layout, m + mr - 1, n, k2))
    per_step = max((tb - ta) / (p * (k2 - k1) / g), 1e-12)  # T·c_full + s·c_one
    out = max((ta - p * k1 / g * per_step - op_s) / (m * n), 0.0)
    one = (tc - tb - (mr - 1) * n * out) / (p * k2 / g * (mr - 1))
    s = 1 if elem == "i8" else 0
    # a one-row step costs at least 1/MR of a full tile's (the same loads, fewer rows) and at most all of it
    full = per_step / tiles
    for _ in range(3):  # per_step = T·full + s·one, with `one` clamped into [full/MR, full]
        one = min(max(one, full / mr), full)
        full = (per_step - s * one) / tiles
    key = f"{elem}-{layout}-nv{nv}"
    return {"tile": {f"{key}-mr{mr}": full, f"{key}-mr1": one}, "out": out}


def measure(target, quick: bool = False) -> dict:
    """All constants of the cost model for `target` (a CpuTarget), measured on this machine."""

    bench = Bench(target, budget_s=0.03 if quick else 0.08)
    bench.calibrate_calls()
    chain = 64 if quick else 256
    op_s = max((bench.net(_chain_text(chain)) - bench.net(_chain_text(1))) / (chain - 1), 0.0)

    tile: dict[str, float] = {}
    out: dict[str, list[float]] = {}
    for elem, layout in (("f32", "panels"), ("i8", "panels"), ("f32", "rows")):
        for nv in (4, 3, 2, 1):
            assert panel_vectors(GEMM_N[nv]) == nv
            fit = fit_gemm(bench, elem, layout, nv, op_s, quick)
            tile.update(fit["tile"])
            out.setdefault(f"{elem}-{layout}", []).append(fit["out"])
    out_s = {k: float(np.median(v)) for k, v in out.items()}

    rows, cols = (64, 256) if quick else (128, 1024)
    elem_s: dict[str, float] = {}
    for kind, text in elementwise_texts(rows, cols).items():
        elem_s[kind] = max((bench.net(text) - op_s) / (rows * cols), 0.0)

    # the contractions without a microkernel: per multiply-accumulate
    m, n, k = (16, 40, 64) if quick else (64, 40, 256)
    elem_s["loops_f32"] = max((bench.net(linear_text(m, n, k)) - op_s) / (m * n * k), 0.0)
    elem_s["loops_i8"] = max((bench.net(qlinear_text(m, n, k)) - op_s) / (m * n * k), 0.0)
    for quantized in (False, True):
        text, macs = conv_text(quantized, 8, 8) if quick else conv_text(quantized, 16, 16)
        elem_s["conv_i8" if quantized else "conv_f32"] = max((bench.net(text) - op_s) / macs, 0.0)

    # weight-only: the per-call dequantization into the f32 panels, per weight (one row of x: the GEMM is small)
    n, k = (256, 256) if quick else (1024, 1024)
    nv = panel_vectors(n)
    gemm = n // (LANES * nv) * k * tile[f"f32-panels-nv{nv}-mr1"] + n * out_s["f32-panels"]
    for bits in (8, 4):
        t = bench.net(wlinear_text(1, n, k, bits, 128)) - op_s - gemm
        elem_s[f"dequant_w{bits}"] = max(t / (n * k), 0.0)

    # activations beyond the per-core cache: an add over 8 MiB tensors against the rate within the cache
    cache = cache_bytes()
    rows_big = 2048
    t = bench.net(_module([("in", _f32(rows_big, 1024), "")] * 2, "qc.add", "", [_f32(rows_big, 1024)])) - op_s
    spill = max((t - rows_big * 1024 * elem_s["add"]) / (3 * rows_big * 1024 * 4 - cache), 0.0)

    # streaming: a one-row linear over a weight beyond the last-level cache (the weights' path from memory)
    n = k = 4096
    bandwidth = n * k * 4 / max(bench.net(linear_text(1, n, k)) - op_s, 1e-9)
    copy_s, fault_s = measure_memory(quick)
    return {
        "call_s": bench.call_s,
        "arg_s": bench.arg_s,
        "op_s": op_s,
        "bandwidth": bandwidth,
        "cache_bytes": cache,
        "spill_s_per_byte": spill,
        "copy_s_per_byte": copy_s,
        "fault_s_per_byte": fault_s,
        "tile_s": tile,
        "out_s": out_s,
        "elem_s": elem_s,
    }


def cache_bytes() -> int:
    """The per-core (L2) cache size the OS reports (1 MiB where it does not)."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for index in sorted(os.listdir(base)):
            with open(os.path.join(base, index, "level")) as f:
                if f.read().strip() != "2":
                    continue
            with open(os.path.join(base, index, "size")) as f:
                text = f.read().strip()
            unit = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
            return int(text.rstrip("KM")) * unit
    except (OSError, ValueError):
        pass
    return 1 << 20


def measure_memory(quick: bool) -> tuple[float, float]:
    """(seconds per byte of a memcpy from memory into touched memory, seconds per byte of first-touch page
    faults of a fresh anonymous mapping). The compiled code copies constants with memcpy where bufferization
    copies them, and glibc maps every buffer of 32 MiB or more afresh, so its pages fault on every call."""

    size = (16 if quick else 64) << 20
    src = np.random.default_rng(0).integers(0, 255, size, dtype=np.uint8)
    copy, fault = [], []
    for _ in range(3):
        buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)  # as glibc maps buffers
        a = np.frombuffer(buf, np.uint8)
        t0 = time.thread_time()
        np.copyto(a, src)  # into fresh pages: faults, the kernel's zeroing, the copy
        t1 = time.thread_time()
        np.copyto(a, src)
        t2 = time.thread_time()
        copy.append((t2 - t1) / size)
        fault.append(max((t1 - t0) - (t2 - t1), 0.0) / size)
        del a
        buf.close()
    return statistics.median(copy), statistics.median(fault)


def _chain_text(n: int) -> str:
    t = _f32(1, 16).s
    lines = [f'  %y0 = "qc.add"(%x, %x) : ({t}, {t}) -> {t}']
    lines += [f'  %y{i} = "qc.add"(%y{i - 1}, %x) : ({t}, {t}) -> {t}' for i in range(1, n)]
    return f"func.func @main(%x: {t}) -> {t} {{\n" + "\n".join(lines) + f"\n  return %y{n - 1} : {t}\n}}"
