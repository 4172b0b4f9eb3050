"""CPU latency of one linear layer per number format: float formats (weights decoded inside the f32 GEMM) beside
fp32 and the int8/int4 recipes, one compiled single-layer model per recipe, same machine, same run (fp6: weight-only
`qc-quantize-float{wformat=...}` builds, see WEIGHT_FORMATS).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/formats_speed.py [--shapes 1x576x1536,128x576x1536,128x1536x576]
                                                             [--reps 20] [--threads 1]

Each cell: the median of `reps` calls of the compiled model (M x K input -> N outputs) in ms, then its ratio to
the fp32 build. Recipes with activation formats (fp8, mxfp4-w4a4) include the run-time fake quantization of x.
A benchmark, not a test: the machine is shared, so compare ratios within one run.
"""

import argparse
import platform
import sys
import time

import numpy as np
import torch

RECIPES = [
    "fp32",
    "w8a16",
    "w8a8",
    "fp8",
    "mxfp8",
    "fp6_e3m2",
    "mxfp6_e2m3",
    "w4a16",
    "mxfp4",
    "nvfp4",
    "mxfp4-w4a4",
    "nvfp4-w4a4",
]
WEIGHT_FORMATS = ("fp6_e3m2", "fp6_e2m3", "mxfp6_e3m2", "mxfp6_e2m3")  # no built-in recipe: weights only


def _recipe(name: str):
    """A built-in recipe's name, or a weight-only recipe of a format in WEIGHT_FORMATS (fp6: four codes in three
    bytes, decoded inside the GEMM)."""
    from qcomp.recipes import Recipe

    if name in WEIGHT_FORMATS:
        return Recipe(name, 1, f"qc-quantize-float{{wformat={name}}},canonicalize")
    return name


def _median_ms(fn, reps: int) -> float:
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return 1e3 * float(np.median(ts))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="1x576x1536,128x576x1536,128x1536x576")
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import qcomp

    recipes = args.recipes.split(",")
    print(f"# {platform.processor() or platform.machine()}, cpu target threads {args.threads}, median of {args.reps}")
    print("| M x K -> N | " + " | ".join(recipes) + " |")
    print("|---" * (len(recipes) + 1) + "|")
    for shape in args.shapes.split(","):
        m, k, n = (int(v) for v in shape.split("x"))
        torch.manual_seed(0)
        layer = torch.nn.Linear(k, n).eval()
        x = torch.randn(m, k)
        cells, base = [], None
        for r in recipes:
            cm = qcomp.compile(layer, (x,), target=qcomp.targets.get("cpu", threads=args.threads), recipe=_recipe(r))
            ms = _median_ms(lambda cm=cm, x=x: cm(x), args.reps)
            base = base or ms
            cells.append(f"{ms:.3f} ({ms / base:.2f}x)")
        print(f"| {m} x {k} -> {n} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
