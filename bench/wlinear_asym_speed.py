"""W4A16 with zero points (qc.wlinear_asym, packed at compile time by `targets/cpu/asym_panels`) against the
symmetric int4 kernel (qc.wlinear, packed), the zero-point op's per-call route (the weight dequantized whole on
every call, as before the packed kernel) and f32 (qc.linear), one thread, one process.

    .venv/bin/python bench/wlinear_asym_speed.py [--reps 7] [--group 128]

GEMMs: R ops on one input, each with its own constant weight (a call streams R weights, as a decoder layer
stack does), summed; per shape M x K -> N the CPU time of one call per GEMM (medians of `--reps` interleaved
rounds, every build once per round, CPU time of the calling thread). Shapes are SmolLM2-135M's MLP (576 <-> 1536)
at decode (M = 1) and prefill (M = 128); K = 576 has a partial last group of 64 at g128. The asymmetric builds are
checked equal to each other (bit for bit) and to the reference within f32 rounding. A benchmark, not a test.
"""

import argparse
import functools
import os
import time

import numpy as np

GEMMS = [(1, 576, 1536, 16), (1, 1536, 576, 16), (128, 576, 1536, 4), (128, 1536, 576, 4)]  # (M, K, N, R)
F32 = np.float32


def _interleaved(runners: dict, reps: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in runners}
    for fn in runners.values():
        fn()
    for _ in range(reps):
        for label, fn in runners.items():
            t = time.thread_time()
            fn()
            times[label].append(time.thread_time() - t)
    return {k: float(np.median(v)) for k, v in times.items()}


def _hex(a: np.ndarray, t: str) -> str:
    return f'arith.constant dense<"0x{np.ascontiguousarray(a).tobytes().hex().upper()}"> : {t}'


def _tt(a: np.ndarray) -> str:
    return f"tensor<{'x'.join(map(str, a.shape))}x{'f32' if a.dtype == F32 else 'i8'}>"


def _module(kind: str, layers: list[tuple], m: int, k: int, n: int, group: int) -> str:
    """@main(x, b[, weights as arguments for 'asym-call']) summing R ops of `kind` (sym, asym, asym-call, f32)."""
    x, vec, y = f"tensor<{m}x{k}xf32>", f"tensor<{n}xf32>", f"tensor<{m}x{n}xf32>"
    args = [f"%x: {x}", f"%b: {vec}"]
    body, acc = [], None
    for i, parts in enumerate(layers):
        names = []
        for j, a in enumerate(parts):
            name = f"%w{i}_{j}"
            if kind == "asym-call":
                args.append(f"{name}: {_tt(a)}")
            else:
                body.append(f"  {name} = {_hex(a, _tt(a))}")
            names.append(name)
        op, attrs = {
            "f32": ("qc.linear", ""),
            "sym": ("qc.wlinear", f" {{bits = 4 : i64, group = {group} : i64}}"),
        }.get(kind, ("qc.wlinear_asym", f" {{bits = 4 : i64, group = {group} : i64}}"))
        types = ", ".join([x, *(_tt(a) for a in parts), vec])
        body.append(f'  %y{i} = "{op}"(%x, {", ".join(names)}, %b){attrs} : ({types}) -> {y}')
        if acc is not None:
            body.append(f'  %s{i} = "qc.add"(%{acc}, %y{i}) : ({y}, {y}) -> {y}')
        acc = f"s{i}" if acc is not None else f"y{i}"
    return "\n".join([f"func.func @main({', '.join(args)}) -> {y} {{", *body, f"  return %{acc} : {y}", "}"])


def _build(text: str):
    from qcomp.targets.cpu.jit import jit_from_text

    return jit_from_text(text, threads=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--group", type=int, default=128)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from qcomp.dialects import reference as ref
    from qcomp.dialects import reference_asym as ra
    from qcomp.targets.cpu.isa import host_isa

    g = args.group
    print(f"# 1 thread, ISA {host_isa()}, group {g}, medians of {args.reps} interleaved rounds, CPU time per GEMM")
    print(
        "| GEMM M x K -> N (x R) | f32 µs | int4 sym packed µs | int4 asym packed µs | asym per-call µs | "
        "asym / sym packed | per-call / packed |"
    )
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for m, k, n, r in GEMMS:
        ws = [(rng.standard_normal((n, k)) * 0.05 + rng.uniform(-0.05, 0.05, (n, 1))).astype(F32) for _ in range(r)]
        x, b = rng.standard_normal((m, k)).astype(F32), rng.standard_normal(n).astype(F32)
        asym = [ra.quantize_weight_grouped_asym(w, bits=4, group=g) for w in ws]
        layers = {
            "f32": [(w,) for w in ws],
            "sym": [ref.quantize_weight_grouped(w, bits=4, group=g) for w in ws],
            "asym": asym,
            "asym-call": asym,
        }
        fns = {kind: _build(_module(kind, ls, m, k, n, g)) for kind, ls in layers.items()}
        flat = [a for parts in asym for a in parts]
        calls = {kind: functools.partial(f, x, b, *(flat if kind == "asym-call" else ())) for kind, f in fns.items()}
        packed, per_call = calls["asym"]()[0], calls["asym-call"]()[0]
        assert np.array_equal(packed, per_call), "packed and per-call asymmetric builds differ"
        want = sum(ra.wlinear_asym(x, *a, b, bits=4, group=g) for a in asym)
        np.testing.assert_allclose(packed, want, rtol=1e-4, atol=1e-4)
        t = _interleaved(calls, args.reps)
        us = {kind: v / r * 1e6 for kind, v in t.items()}
        print(
            f"| {m} x {k} -> {n} (x{r}) | {us['f32']:.1f} | {us['sym']:.1f} | {us['asym']:.1f} | "
            f"{us['asym-call']:.1f} | {t['asym'] / t['sym']:.3f} | {t['asym-call'] / t['asym']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
