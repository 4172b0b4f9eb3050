"""GEMM throughput of the CPU target's contraction kernels against PyTorch, one thread.

    .venv/bin/python bench/gemm.py [--reps 7]

For each shape (M, K -> N): qcomp qc.linear (f32, weight packed at compile time) in GFLOPS, qcomp
qc.qlinear (i8 x i8 -> i32 + f32 epilogue) in GOPS, torch.mm fp32 and torch._int_mm in G(FL)OPS, and
ratios. Medians of repeated runs. A benchmark, not a test.
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
  %y = "qc.qlinear"(%x, %xs, %w, %ws, %b) {{act = "none"}} : (tensor<{m}x{k}xi8>, tensor<{m}x1xf32>, tensor<{n}x{k}xi8>, tensor<{n}xf32>, tensor<{n}xf32>) -> tensor<{m}x{n}xf32>
  return %y : tensor<{m}x{n}xf32>
}}"""
        x = rng.integers(-128, 128, (m, k)).astype(np.int8)
        w = rng.integers(-127, 128, (n, k)).astype(np.int8)
        xs, ws, b = (np.abs(rng.standard_normal(s)).astype(np.float32) * 0.01 for s in ((m, 1), (n,), (n,)))
        ins, want, layout = (x, xs, ws, b), lambda: ref.qlinear(x, xs, w, ws, b), PACK_I8
    fn = jit_from_text(text)
    packed = [a for a in fn.weights if a.ndim == 3]
    if len(packed) == 1:  # the fast path: fill the packed weight buffer with the real weight
        np.copyto(packed[0], pack_array(w, layout))
    else:
        assert len(fn.weights) == 1
        np.copyto(fn.weights[0], w)

    def check() -> bool:
        got = fn(*ins)[0]
        return bool(np.allclose(got, want(), rtol=1e-4, atol=1e-3) if op == "linear" else np.array_equal(got, want()))

    return (lambda: fn(*ins)), check


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    print(f"machine: {cpu}, {platform.machine()}, 1 thread (torch {torch.__version__})")
    head = f"{'M':>5} {'K':>5} {'N':>6} | {'qc f32':>8} {'qc i8':>8} | {'torch f32':>9} {'_int_mm':>8} |"
    print(head + f" {'f32/torch':>9} {'i8/int_mm':>9} {'i8/qc f32':>9}  exact")
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
            f"{qi / qf:9.2f}  {ok}",
            flush=True,
        )
    print("units: G(FL)OPS = 2·M·N·K / median time; qcomp i8 includes the f32 epilogue ((acc·xs)·ws + b)")


if __name__ == "__main__":
    main()
