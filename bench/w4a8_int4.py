"""W4A8 with packed int4 weights (two per byte, `targets/cpu/int4_panels`) against the same int4 values stored one
per byte (the i8 VNNI kernel) and against W8A8, one thread, one process.

    .venv/bin/python bench/w4a8_int4.py [--reps 7] [--seq 128] [--skip-model]

GEMMs: R qc.qlinear ops on one input, each with its own constant weight (so that a call streams R weights, as a
decoder layer stack does), summed; per shape M x K -> N the CPU time of one call per GEMM. Model: SmolLM2-135M,
one prefill of `seq` tokens, qc-quantize{wbits=4,abits=8,granularity=per_token} (W4A8 without AWQ's slow
calibration; the kernels see the same int4 values) built twice (int4 packing on / off) and W8A8; the weight
bytes each build holds. Medians of `--reps` interleaved rounds (every runtime once per round), CPU time of the
calling thread. A benchmark, not a test.
"""

import argparse
import functools
import os
import time

import numpy as np
import torch

GEMMS = [(1, 576, 1536, 16), (1, 1536, 576, 16), (128, 576, 1536, 4), (128, 1536, 576, 4)]  # (M, K, N, R)


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


def _gemm_module(ws: list[np.ndarray], m: int) -> str:
    n, k = ws[0].shape
    x, xs, vec, y = f"tensor<{m}x{k}xi8>", f"tensor<{m}x1xf32>", f"tensor<{n}xf32>", f"tensor<{m}x{n}xf32>"
    lines = [f"func.func @main(%x: {x}, %xs: {xs}, %ws: {vec}, %b: {vec}) -> {y} {{"]
    acc = None
    for i, w in enumerate(ws):
        lines.append(f'  %w{i} = arith.constant dense<"0x{w.tobytes().hex().upper()}"> : tensor<{n}x{k}xi8>')
        lines.append(
            f'  %y{i} = "qc.qlinear"(%x, %xs, %w{i}, %ws, %b) {{act = "none", qc.precision = "w4a8"}} : '
            f"({x}, {xs}, tensor<{n}x{k}xi8>, {vec}, {vec}) -> {y}"
        )
        if acc is not None:
            lines.append(f'  %s{i} = "qc.add"(%{acc}, %y{i}) : ({y}, {y}) -> {y}')
        acc = f"s{i}" if acc is not None else f"y{i}"
    lines += [f"  return %{acc} : {y}", "}"]
    return "\n".join(lines)


def _build(text: str, int4: bool):
    from qcomp.dialects import new_context
    from qcomp.dialects._mlir import ir
    from qcomp.targets.cpu.jit import JitFunction
    from qcomp.targets.cpu.lower_qc import LowerToLinalgPass
    from qcomp.targets.cpu.pack_weights import PackWeightsPass

    with new_context(), ir.Location.unknown():
        module = ir.Module.parse(text)
        LowerToLinalgPass().run(module)
        PackWeightsPass(int4=int4).run(module)
        return JitFunction(module, threads=1)


def gemms(reps: int) -> None:
    rng = np.random.default_rng(0)
    tiny = _build(_gemm_module([np.zeros((16, 64), np.int8)], 1), True)
    args = (np.zeros((1, 64), np.int8), np.ones((1, 1), np.float32), np.ones(16, np.float32), np.zeros(16, np.float32))
    t = _interleaved({"tiny": functools.partial(tiny, *args)}, reps)["tiny"]
    print(f"call overhead (one 1 x 64 -> 16 GEMM per call): {t * 1e6:.1f} µs per call, included below (/ R)\n")
    print(
        "| GEMM M x K -> N (x R weights) | int4 packed µs/GEMM | i8-stored int4 µs/GEMM | packed / i8 | "
        "weight MB packed / i8 |"
    )
    print("|---|---|---|---|---|")
    for m, k, n, r in GEMMS:
        ws = [rng.integers(-8, 8, (n, k)).astype(np.int8) for _ in range(r)]
        x = rng.integers(-128, 128, (m, k)).astype(np.int8)
        xs, wsc, b = np.full((m, 1), 1e-3, np.float32), np.full(n, 1e-3, np.float32), np.zeros(n, np.float32)
        text = _gemm_module(ws, m)
        fns = {"int4": _build(text, True), "i8": _build(text, False)}
        outs = [f(x, xs, wsc, b)[0] for f in fns.values()]
        assert np.array_equal(outs[0], outs[1]), "int4 and i8 builds differ"
        t = _interleaved({k_: functools.partial(f, x, xs, wsc, b) for k_, f in fns.items()}, reps)
        mb = [sum(w.nbytes for w in f.weights) / 1e6 for f in fns.values()]
        print(
            f"| {m} x {k} -> {n} (x{r}) | {t['int4'] / r * 1e6:.1f} | {t['i8'] / r * 1e6:.1f} | "
            f"{t['int4'] / t['i8']:.3f} | {mb[0]:.2f} / {mb[1]:.2f} |",
            flush=True,
        )


def model(seq: int, reps: int) -> None:
    import qcomp
    from prefill_inputs import prefill_inputs
    from qcomp import targets
    from qcomp.recipes import Recipe
    from qcomp.targets.cpu.target import CpuTarget

    class I8Stored(CpuTarget):
        def pipeline(self) -> str:
            return super().pipeline() + ",qc-cpu-pack-weights{int4=false}"

    w4a8 = Recipe("w4a8-rtn", 1, "qc-quantize{wbits=4,abits=8,granularity=per_token},canonicalize")
    lm, inputs = prefill_inputs("smollm2", seq)
    cpu = targets.get("cpu", threads=1)
    builds = {
        "W4A8 int4 packed": qcomp.compile(lm, inputs, target=cpu, recipe=w4a8),
        "W4A8 i8-stored": qcomp.compile(lm, inputs, target=I8Stored(cpu.options), recipe=w4a8),
        "W8A8": qcomp.compile(lm, inputs, target=cpu, recipe="w8a8"),
    }
    with torch.no_grad():
        outs = {k: cm(*inputs).numpy() for k, cm in builds.items()}
        assert np.array_equal(outs["W4A8 int4 packed"], outs["W4A8 i8-stored"]), "int4 and i8 builds differ"
        t = _interleaved({k: functools.partial(cm, *inputs) for k, cm in builds.items()}, reps)
    print(f"\nSmolLM2-135M prefill {seq} tokens, 1 thread, CPU time:")
    print("| build | median ms | x W8A8 | int8 weight MB | all weight MB |")
    print("|---|---|---|---|---|")
    for k, cm in builds.items():
        ws = cm.artifact.fn.weights
        i8 = sum(w.nbytes for w in ws if w.dtype == np.int8) / 1e6
        print(f"| {k} | {t[k] * 1e3:.2f} | {t[k] / t['W8A8']:.3f} | {i8:.1f} | {sum(w.nbytes for w in ws) / 1e6:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--skip-model", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
    gemms(args.reps)
    if not args.skip_model:
        model(args.seq, args.reps)


if __name__ == "__main__":
    main()
