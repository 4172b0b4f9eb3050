"""GPU kernels without a GPU: per model, recipe and offloaded op set, how many kernels, how many of them
ptxas accepts for the arch, which ops run on the GPU, and the emulated build's largest deviation from the
CPU build (max |gpu - cpu| / max |cpu| over the outputs; 0 means bit-identical). Prints a table.

    .venv/bin/python bench/gpu_kernels.py [--models tiny-llama,minilm] [--recipes w8a8,w4a16] [--ops gemm,all]
"""

import argparse
import os
import sys

import numpy as np
import qcomp
from qcomp import targets
from qcomp.examples.models import BUILTIN
from qcomp.targets.gpu.ptx import find_ptxas, ptxas

sys.path.insert(0, os.path.dirname(__file__))
from prefill_inputs import prefill_inputs


def _inputs(name: str, seq: int):
    if name in BUILTIN:
        return BUILTIN[name]()
    return prefill_inputs(name, seq)


def _outs(x):
    return [t.numpy() for t in (x if isinstance(x, tuple) else (x,))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="tiny-llama,minilm")
    ap.add_argument("--recipes", default="w8a8,w4a16")
    ap.add_argument("--ops", default="gemm,all")
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--arch", default="sm_90")
    args = ap.parse_args()
    have_ptxas = find_ptxas() is not None
    rows = []
    for name in args.models.split(","):
        model, inputs = _inputs(name, args.seq)
        for recipe in args.recipes.split(","):
            want = _outs(qcomp.compile(model, inputs, target=targets.get("cpu"), recipe=recipe)(*inputs))
            for ops in args.ops.split(","):
                gpu = qcomp.compile(
                    model, inputs, target=targets.get("gpu", emulate=True, ops=ops, arch=args.arch), recipe=recipe
                )
                got = _outs(gpu(*inputs))
                dev = max(float(np.abs(g - w).max() / np.abs(w).max()) for g, w in zip(got, want, strict=True))
                kernels = gpu.artifact.kernels.values()
                accepted = "-"
                if have_ptxas:
                    accepted = sum(f"'{k.spec.name}' for '{args.arch}'" in ptxas(k.ptx, args.arch) for k in kernels)
                gpu_ops = gpu.report["target"]["gpu_ops"]
                rows.append(
                    [
                        name,
                        recipe,
                        ops,
                        len(kernels),
                        accepted,
                        f"{dev:.2e}",
                        " ".join(f"{k[3:]}:{v}" for k, v in gpu_ops.items()),
                    ]
                )
                print(" | ".join(map(str, rows[-1])), flush=True)
    print()
    print("model | recipe | ops | kernels | ptxas ok | max rel dev from CPU | ops on the GPU")
    for r in rows:
        print(" | ".join(map(str, r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
