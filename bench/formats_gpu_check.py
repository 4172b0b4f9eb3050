"""GPU check of the float-format kernels (qc.fp_wlinear: fp8 by PTX cvt, MX / NVFP4 with 1-byte scales): each
model compiled for the GPU target must give outputs bit-identical to the CPU target's build.

    .venv/bin/python bench/formats_gpu_check.py [--models mlp,tiny-llama] [--recipes fp8,nvfp4,mxfp4-w4a4]
                                                [--arch sm_90] [--emulate]

On a machine with a CUDA device the kernels run through the CUDA driver; --emulate runs their CPU emulation
instead (what the tests do; a dry run of this script where no GPU is lent). Prints one row per model and
recipe: kernels launched, max |GPU - CPU|, bit-identical or not. Exit status 1 when any output differs.
"""

import argparse
import os
import sys

import numpy as np
import torch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mlp,tiny-llama")
    ap.add_argument("--recipes", default="fp8,nvfp4,mxfp4-w4a4")
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--emulate", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import qcomp
    from qcomp import targets
    from qcomp.examples.models import BUILTIN

    where = "emulated on this CPU" if args.emulate else "on the CUDA device"
    print(f"# GPU target {args.arch}, kernels {where}; CPU build as the reference")
    print("| model | recipe | fp_wlinear kernels | max abs diff | bit-identical |")
    print("|---|---|---|---|---|")
    bad = 0
    for name in args.models.split(","):
        model, inputs = BUILTIN[name]()
        for recipe in args.recipes.split(","):
            with torch.no_grad():
                want = qcomp.compile(model, inputs, target=targets.get("cpu"), recipe=recipe)(*inputs).numpy()
            gpu = targets.get("gpu", arch=args.arch, emulate=args.emulate)
            cm = qcomp.compile(model, inputs, target=gpu, recipe=recipe)
            got = cm(*inputs).numpy()
            n = sum(row["op"] == "qc.fp_wlinear" for row in cm.artifact.plan)
            same = np.array_equal(got, want, equal_nan=True)
            bad += not same
            diff = float(np.nanmax(np.abs(got - want))) if got.size else 0.0
            print(f"| {name} | {recipe} | {n} | {diff:.3g} | {'yes' if same else 'NO'} |", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
