"""GEMM throughput of the CPU target's contraction kernels against PyTorch, one thread.

    .venv/bin/python bench/gemm.py [--reps 7]

For each shape (M, K -> N): qcomp qc.linear (f32, weight packed at compile time) in GFLOPS, qcomp
qc.qlinear (i8 x i8 -> i32 + f32 epilogue) in GOPS, torch.mm fp32 and torch._int_mm in G(FL)OPS, and
ratios, with qcomp i8 as a fraction of the VNNI peak. The peak is measured, not taken from a data sheet:
the clock from a chain of dependent one-cycle adds (inline asm), the vpdpbusd throughput from a loop of 24
independent register accumulators (no memory), which gives vpdpbusd per cycle and the peak in GOPS.
Medians of repeated runs. A benchmark, not a test.
"""

import argparse
import platform
import time

import numpy as np
import torch

SHAPES = [  # (M, K, N)
    (512, 512, 512),
    (1024, 1024, 1024),
    (2048, 2048, 2048),
    (4096, 4096, 4096),
    (128, 576, 1536),  # SmolLM2 prefill-128: gate/up, down, LM head
    (128, 1536, 576),
    (128, 576, 49152),
    (512, 576, 576),
    (512, 576, 1536),
    (512, 1536, 576),
    (512, 576, 49152),
]


def _median_time(fn, reps: int) -> float:
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def _qcomp(op: str, m: int, k: int, n: int, rng):
    """JIT one qc.linear / qc.qlinear with a constant weight; returns (call, check) closures."""
    from qcomp.dialects import reference as ref
    from qcomp.targets.cpu.gemm_ops import PACK_F32, PACK_I8, pack_array
    from qcomp.targets.cpu.jit import jit_from_text
    from qcomp.targets.cpu.pair_panels import PACK_PAIRS

    if op == "linear":
        text = f"""
func.func @main(%x: tensor<{m}x{k}xf32>, %b: tensor<{n}xf32>) -> tensor<{m}x{n}xf32> {{
  %w = arith.constant dense<0.0> : tensor<{n}x{k}xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<{m}x{k}xf32>, tensor<{n}x{k}xf32>, tensor<{n}xf32>) -> tensor<{m}x{n}xf32>
  return %y : tensor<{m}x{n}xf32>
}}"""
        x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((m, k), (n, k), (n,)))
        ins, want, layout = (x, b), lambda: ref.linear(x, w, b), PACK_F32
    else:
        text = f"""
func.func @main(%x: tensor<{m}x{k}xi8>, %xs: tensor<{m}x1xf32>, %ws: tensor<{n}xf32>, %b: tensor<{n}xf32>) -> tensor<{m}x{n}xf32> {{
  %w = arith.constant dense<0> : tensor<{n}x{k}xi8>
  %y = "qc.qlinear"(%x, %xs, %w, %ws, %b) {{act = "none", qc.precision = "w8a8"}} : (tensor<{m}x{k}xi8>, tensor<{m}x1xf32>, tensor<{n}x{k}xi8>, tensor<{n}xf32>, tensor<{n}xf32>) -> tensor<{m}x{n}xf32>
  return %y : tensor<{m}x{n}xf32>
}}"""
        x = rng.integers(-128, 128, (m, k)).astype(np.int8)
        # columns in +/- pairs: every row sums to 0 like the zero placeholder, so the kernel's compile-time +128
        # correction (128 * row sum) stays right when the real weight is copied into the packed buffer
        half = rng.integers(-127, 128, (n, k // 2))
        w = np.concatenate([half, -half], axis=1)[:, rng.permutation(k)].astype(np.int8)
        xs, ws, b = (np.abs(rng.standard_normal(s)).astype(np.float32) * 0.01 for s in ((m, 1), (n,), (n,)))
        ins, want, layout = (x, xs, ws, b), lambda: ref.qlinear(x, xs, w, ws, b), PACK_I8
    fn = jit_from_text(text)
    packed = [a for a in fn.weights if a.ndim == 3]
    if len(packed) == 1:  # the fast path: fill the packed weight buffer with the real weight
        if op != "linear" and packed[0].shape[1] == k // 2:  # no VNNI: the kernel on i16 pairs
            layout = PACK_PAIRS
        np.copyto(packed[0], pack_array(w, layout))
    else:
        assert len(fn.weights) == 1
        np.copyto(fn.weights[0], w)

    def check() -> bool:
        got = fn(*ins)[0]
        return bool(np.allclose(got, want(), rtol=1e-4, atol=1e-3) if op == "linear" else np.array_equal(got, want()))

    return (lambda: fn(*ins)), check


def _best_time(fn, reps: int) -> float:
    fn()
    return min(_timed(fn) for _ in range(reps))


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def clock_ghz(reps: int = 20) -> float:
    """The core clock: 16 dependent `add` instructions (one cycle each on x86-64) per loop iteration."""
    from qcomp.targets.cpu.jit import jit_from_text

    n = 2_000_000
    adds = "\n".join(
        f'    %a{i + 1} = llvm.inline_asm "addq $$1, $0", "=r,0,~{{flags}}" %a{i} : (i64) -> i64' for i in range(16)
    )
    # the loop sits in its own function: the JIT compiles @main without optimisation (it only calls kernels)
    text = f"""
func.func private @chain(%s: i64) -> i64 {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant {n} : index
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%a0 = %s) -> (i64) {{
{adds}
    scf.yield %a16 : i64
  }}
  return %r : i64
}}
func.func @main(%x: tensor<1xi64>) -> tensor<1xi64> {{
  %c0 = arith.constant 0 : index
  %s = tensor.extract %x[%c0] : tensor<1xi64>
  %r = func.call @chain(%s) : (i64) -> i64
  %o = tensor.from_elements %r : tensor<1xi64>
  return %o : tensor<1xi64>
}}"""
    fn = jit_from_text(text)
    x = np.zeros(1, np.int64)
    return 16 * n / _best_time(lambda: fn(x), reps) / 1e9


def vnni_peak_gops(reps: int = 20) -> float:
    """vpdpbusd throughput on registers only: 24 independent 512-bit accumulators, 64 MACs each per step."""
    from qcomp.targets.cpu.jit import jit_from_text
    from qcomp.targets.cpu.kernels import VNNI_INTRINSIC

    n, acc = 200_000, 24
    vt, bt = "vector<16xi32>", "vector<64xi8>"
    body = "\n".join(f"    %n{i} = func.call @dot(%a{i}, %v, %v) : ({vt}, {bt}, {bt}) -> {vt}" for i in range(acc))
    total = "\n".join(f"  %t{i + 1} = arith.addi %t{i}, %r#{i} : {vt}" for i in range(acc))
    text = f"""
func.func private @dot({vt}, {bt}, {bt}) -> {vt} attributes {{qc.intrinsic = "{VNNI_INTRINSIC}"}}
func.func private @loop(%v: {bt}) -> {vt} {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant {n} : index
  %t0 = arith.constant dense<0> : {vt}
  %r:{acc} = scf.for %i = %c0 to %n step %c1 iter_args({", ".join(f"%a{i} = %t0" for i in range(acc))}) -> ({", ".join([vt] * acc)}) {{
{body}
    scf.yield {", ".join(f"%n{i}" for i in range(acc))} : {", ".join([vt] * acc)}
  }}
{total}
  return %t{acc} : {vt}
}}
func.func @main(%x: tensor<64xi8>) -> tensor<16xi32> {{
  %c0 = arith.constant 0 : index
  %p = arith.constant 0 : i8
  %v = vector.transfer_read %x[%c0], %p : tensor<64xi8>, {bt}
  %s = func.call @loop(%v) : ({bt}) -> {vt}
  %e = tensor.empty() : tensor<16xi32>
  %o = vector.transfer_write %s, %e[%c0] : {vt}, tensor<16xi32>
  return %o : tensor<16xi32>
}}"""
    fn = jit_from_text(text, isa="avx512-vnni")
    x = np.ones(64, np.int8)
    return 2 * 64 * acc * n / _best_time(lambda: fn(x), reps) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    print(f"machine: {cpu}, {platform.machine()}, 1 thread (torch {torch.__version__})")
    peak = None
    from qcomp.targets.cpu.kernels import has_vnni

    if has_vnni():
        ghz, peak = clock_ghz(), vnni_peak_gops()
        print(
            f"measured clock {ghz:.2f} GHz; vpdpbusd (512-bit) on registers: {peak:.0f} GOPS = "
            f"{peak / (ghz * 128):.2f} per cycle: the VNNI peak"
        )
    head = f"{'M':>5} {'K':>5} {'N':>6} | {'qc f32':>8} {'qc i8':>8} | {'torch f32':>9} {'_int_mm':>8} |"
    print(head + f" {'f32/torch':>9} {'i8/int_mm':>9} {'i8/qc f32':>9} {'i8/peak':>7}  exact")
    for m, k, n in SHAPES:
        ops = 2 * m * n * k
        f32_call, f32_ok = _qcomp("linear", m, k, n, rng)
        i8_call, i8_ok = _qcomp("qlinear", m, k, n, rng)
        qf = ops / _median_time(f32_call, args.reps) / 1e9
        qi = ops / _median_time(i8_call, args.reps) / 1e9
        a, w = torch.randn(m, k), torch.randn(k, n)
        tf = ops / _median_time(lambda a=a, w=w: torch.mm(a, w), args.reps) / 1e9
        ai, wi = torch.randint(-128, 128, (m, k), dtype=torch.int8), torch.randint(-128, 128, (k, n), dtype=torch.int8)
        ti = ops / _median_time(lambda ai=ai, wi=wi: torch._int_mm(ai, wi), args.reps) / 1e9
        ok = f32_ok() and i8_ok()
        print(
            f"{m:>5} {k:>5} {n:>6} | {qf:8.1f} {qi:8.1f} | {tf:9.1f} {ti:8.1f} | {qf / tf:9.2f} {qi / ti:9.2f} "
            f"{qi / qf:9.2f} {f'{qi / peak:7.2f}' if peak else '      -'}  {ok}",
            flush=True,
        )
    print("units: G(FL)OPS = 2·M·N·K / median time; qcomp i8 includes the f32 epilogue ((acc·xs)·ws + b)")


if __name__ == "__main__":
    main()
