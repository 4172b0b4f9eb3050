"""GPU check (run by bench/gpu_check.sh on a machine with a CUDA device): MiniLM and SmolLM2 W8A8 compiled
for the GPU target must give outputs bit-identical to the CPU target's build; prints a latency table against
PyTorch bf16 on the GPU and `torch._int_mm` on the same int8 GEMM shapes.

    .venv/bin/python bench/gpu_check.py [--models minilm,smollm2] [--seq 32] [--reps 5]

Exit status 1 when any output differs from the CPU build.
"""

import argparse
import os
import sys
import time

import numpy as np
import qcomp
import torch
from prefill_inputs import prefill_inputs
from qcomp import targets


def _median(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _outs(x):
    return [t.numpy() for t in (x if isinstance(x, tuple) else (x,))]


def _int_mm_time(plan: list[dict], reps: int) -> float:
    """Sum over the offloaded GEMMs of torch._int_mm on the GPU (M padded to 17+ as _int_mm requires)."""
    total = 0.0
    for row in plan:
        m = max(row["m"], 17)
        a = torch.randint(-127, 128, (m, row["k"]), dtype=torch.int8, device="cuda")
        b = torch.randint(-127, 128, (row["k"], row["n"]), dtype=torch.int8, device="cuda")
        total += _median(lambda a=a, b=b: torch._int_mm(a, b), reps)
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="minilm,smollm2")
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    ok = True
    rows = []
    for name in args.models.split(","):
        model, inputs = prefill_inputs(name, args.seq)
        cpu = qcomp.compile(model, inputs, target=targets.get("cpu"), recipe="w8a8")
        gpu = qcomp.compile(model, inputs, target=targets.get("gpu"), recipe="w8a8")
        with torch.no_grad():
            want, got = _outs(cpu(*inputs)), _outs(gpu(*inputs))
        same = all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
        ok &= same
        t_gpu = _median(lambda gpu=gpu, inputs=inputs: gpu(*inputs), args.reps)
        t_cpu = _median(lambda cpu=cpu, inputs=inputs: cpu(*inputs), args.reps)
        row = {"model": name, "bit_identical": same, "qcomp_gpu_ms": t_gpu * 1e3, "qcomp_cpu_ms": t_cpu * 1e3}
        if torch.cuda.is_available():
            m16 = model.to("cuda", torch.bfloat16).eval()
            dev = [x.to("cuda") for x in inputs]
            with torch.no_grad():
                row["torch_bf16_ms"] = _median(lambda m16=m16, dev=dev: m16(*dev), args.reps) * 1e3
            row["torch_int_mm_gemms_ms"] = _int_mm_time(gpu.artifact.plan, args.reps) * 1e3
        row["kernels"] = len(gpu.artifact.kernels)
        row["offloaded"] = len(gpu.artifact.plan)
        rows.append(row)
        print(f"{name}: bit-identical to the CPU build: {same}", flush=True)
    keys = [
        "model",
        "bit_identical",
        "kernels",
        "offloaded",
        "qcomp_gpu_ms",
        "qcomp_cpu_ms",
        "torch_bf16_ms",
        "torch_int_mm_gemms_ms",
    ]
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(f"{r[k]:.3f}" if isinstance(r.get(k), float) else str(r.get(k, "-")) for k in keys))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
