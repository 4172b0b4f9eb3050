"""Mixed precision with integer and float-format candidates in one search, beside integers only, at equal budgets.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/formats_mixed.py [--model minilm|smollm2] [--budgets 4.5,5]
                                                             [--windows 32] [--seq 128] [--calib 4] [--threads 2]

Rows per budget (average stored weight bits, scales included): `int` = qc-assign-precision over int4 g256/g128/
g64 and int8 g128 weight-only (the `mixed` recipe's candidates, without AWQ), `int+float` = the same plus
MXFP4 (4.25 bits) and NVFP4 (4.5 bits) weights; both measured with output gains (sensitivity=output_mse) from
one calibration. Uniform rows for reference: int4 g64 (4.5 bits) and NVFP4 (4.5 bits). MiniLM: mean embedding
cosine to fp32 (higher is better); SmolLM2: perplexity (lower is better); ratio to PyTorch fp32, one run.

Measured (2-core x86_64 under load ~9, torch threads 2; `--model minilm --budgets 4.5 --windows 32`), cosine at
4.5 bits: int4 g64 0.9473, nvfp4 0.9724, int mixed 0.9573 (g128 x11, g256 x3, g64 x21, int8 x1), int+float
mixed 0.9760 (mxfp4 x11, nvfp4 x21, int4 g256 x3, int8 x1).
"""

import argparse
import os
import platform
import sys
import time

import torch

INTS = "w4a16g256:w4a16g128:w4a16g64:w8a16g128"
FLOATS = "mxfp4-w4a16:nvfp4-w4a16"


def rows(budgets: list[float]) -> list[tuple[str, str, bool]]:
    """(name, pipeline, calibrated)."""
    out = [
        ("int4 g64", "qc-quantize{wbits=4,abits=16,group=64},canonicalize", False),
        ("nvfp4", "qc-quantize-float{wformat=nvfp4},canonicalize", False),
    ]
    for b in budgets:
        assign = "qc-assign-precision{{candidates={},budget={:g},budget_kind=avg_wbits}}"
        tail = "qc-quantize{wbits=4,abits=16,group=128},canonicalize"
        out.append((f"int @{b:g}", assign.format(INTS, b) + "," + tail, True))
        out.append((f"int+float @{b:g}", assign.format(f"{INTS}:{FLOATS}", b) + ",qc-quantize-float," + tail, True))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="minilm", choices=["minilm", "smollm2"])
    ap.add_argument("--budgets", default="4.5,5")
    ap.add_argument("--windows", type=int, default=32, help="MiniLM sentences / SmolLM2 windows")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--calib", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    from collections import Counter

    import qcomp
    from qcomp.evaluate import evaluate
    from qcomp.models import REAL
    from qcomp.recipes import Recipe

    model, tok = REAL[args.model]()
    built: list = []  # the last build, for its precision plan

    def compile_fn(*a, **k):
        built.append(qcomp.compile(*a, **k))
        return built[-1]

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}")
    print(f"# {args.model}: {args.windows} x {args.seq} tokens; calibration {args.calib} samples")
    print("| row | avg weight bits | plan | metric | value | fp32 | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, pipeline, calibrated in rows([float(b) for b in args.budgets.split(",")]):
        rec = Recipe(name.replace(" ", "-").replace("@", "at"), 1, pipeline, calibration="minmax" if calibrated else "")
        start = time.perf_counter()
        r = evaluate(
            args.model,
            model,
            tok,
            recipe=rec,
            windows=args.windows,
            seq=args.seq,
            calib=args.calib,
            compile_fn=compile_fn,
        )
        layers = built[-1].report.get("precision_plan", {}).get("layers", [])
        plan = " ".join(f"{p} x{n}" for p, n in sorted(Counter(row["precision"] for row in layers).items()))
        built.clear()
        print(
            f"| {name} | {r.avg_wbits:.3f} | {plan} | {r.metric} | {r.value:.4f} | {r.fp32_value:.4f} |"
            f" {r.value / r.fp32_value:.4f} |  ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
