"""Float number formats beside integers at equal bits, with and without rotation, on SmolLM2 and MiniLM.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/formats.py [--models smollm2,minilm] [--windows 4] [--seq 512]
                                                       [--sentences 64] [--rows all|NAME,NAME] [--threads 2]

Each row: the recipe's pipeline, its stored bits per weight (codes + scales, see BITS), the metric (SmolLM2:
perplexity over non-overlapping windows of the vendored text, lower is better; MiniLM: mean embedding cosine
to fp32, higher is better) and its ratio to PyTorch fp32, all in one run. Rotation (`qc-rotate{kind=hadamard}`,
QuaRot) applies to RMSNorm models only: the `+rot` rows run on SmolLM2. Integer rows are qcomp's symmetric
round-to-nearest (`qc-quantize`), float rows `qc-quantize-float` (codes and scales as `qcomp.dialects.formats`
defines them; activations fake-quantized, products in f32).
"""

import argparse
import os
import platform
import sys
import time

import torch

ROT = "qc-rotate{kind=hadamard},"
# name -> (pipeline, stored bits per weight incl. scales, needs calibration)
ROWS = {
    "w8a8": ("qc-quantize{wbits=8,abits=8,granularity=per_token}", "8+32/K", False),
    "fp8": ("qc-quantize-float{wformat=fp8,aformat=fp8}", "8+32/K", False),
    "fp8-keep-head": ("qc-quantize-float{wformat=fp8,aformat=fp8,keep_last=true}", "8+32/K", False),
    "fp8-gptq": ("qc-quantize-float{wformat=fp8,aformat=fp8,keep_last=true,gptq=true}", "8+32/K", True),
    "fp8-static": ("qc-quantize-float{wformat=fp8,aformat=e4m3:f32:tensor,static=true}", "8+32/K", True),
    "mxfp8": ("qc-quantize-float{wformat=mxfp8,aformat=mxfp8}", "8.25", False),
    "w4a16-g128": ("qc-quantize{wbits=4,abits=16,group=128}", "4.25", False),
    "mxfp4": ("qc-quantize-float{wformat=mxfp4}", "4.25", False),
    "w4a16-g64": ("qc-quantize{wbits=4,abits=16,group=64}", "4.5", False),
    "nvfp4": ("qc-quantize-float{wformat=nvfp4}", "4.5", False),
    "w4a16-g32": ("qc-quantize{wbits=4,abits=16,group=32}", "5", False),
    "w4a16-g16": ("qc-quantize{wbits=4,abits=16,group=16}", "6", False),
    "mxfp4-w4a4": ("qc-quantize-float{wformat=mxfp4,aformat=mxfp4}", "4.25", False),
    "nvfp4-w4a4": ("qc-quantize-float{wformat=nvfp4,aformat=nvfp4}", "4.5", False),
}
# fp8-keep-head / fp8-gptq: the LM head (tied to the f32 embedding in SmolLM2) stays f32, as llm-compressor's
# FP8 recipes ignore lm_head; fp8-gptq rounds the weights onto the e4m3 grid by GPTQ (passes/float_gptq.py)
ROTATED = ("fp8", "w4a16-g128", "mxfp4", "nvfp4", "w4a16-g64", "mxfp4-w4a4", "nvfp4-w4a4")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="smollm2,minilm")
    ap.add_argument("--rows", default="all", help="comma-separated names of ROWS (and NAME+rot), or all")
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--sentences", type=int, default=64, help="MiniLM sentences")
    ap.add_argument("--calib", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    import qcomp.api as api
    from qcomp.dialects.errors import QcompError
    from qcomp.evaluate import evaluate
    from qcomp.models import REAL
    from qcomp.recipes import Recipe

    # calibration streams each layer's full input Hessian only for recipes api.needs_hessian names (qc-gptq);
    # qc-quantize-float{gptq=true} gets it too here (else it falls back to the 512 sampled activation rows)
    needs = api.needs_hessian
    api.needs_hessian = lambda rec: needs(rec) or "gptq=true" in (rec.pipeline or "")
    names = [*ROWS, *(f"{n}+rot" for n in ROTATED)] if args.rows == "all" else args.rows.split(",")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}")
    print(
        f"# smollm2: {args.windows} windows x {args.seq} tokens; minilm: {args.sentences} sentences x 128 tokens;"
        f" calibration {args.calib} samples where needed"
    )
    rows = []
    for model_name in args.models.split(","):
        model, tok = REAL[model_name]()
        for name in names:
            base = name.removesuffix("+rot")
            rot = name != base
            if rot and model_name != "smollm2":
                continue
            pipeline, bits, calibrated = ROWS[base]
            rec = Recipe(
                name, 1, (ROT if rot else "") + pipeline + ",canonicalize", calibration="minmax" if calibrated else ""
            )
            start = time.perf_counter()
            try:
                if model_name == "minilm":
                    r = evaluate(model_name, model, tok, recipe=rec, windows=args.sentences, seq=128, calib=args.calib)
                else:
                    r = evaluate(
                        model_name, model, tok, recipe=rec, windows=args.windows, seq=args.seq, calib=args.calib
                    )
                cell = (r.metric, r.value, r.fp32_value, r.value / r.fp32_value)
            except QcompError as e:
                cell = ("error", float("nan"), float("nan"), float("nan"))
                print(f"# {model_name} {name}: {e}", file=sys.stderr)
            rows.append((model_name, name, bits, *cell, time.perf_counter() - start))
            print(
                f"{model_name:8s} {name:16s} {bits:7s} {cell[0]:10s} {cell[1]:10.4f}  fp32 {cell[2]:10.4f}"
                f"  ratio {cell[3]:7.4f}  ({rows[-1][-1]:.0f} s)",
                flush=True,
            )
    print()
    print("| model | recipe | bits/weight | metric | value | PyTorch fp32 | ratio |")
    print("|---|---|---|---|---|---|---|")
    for m, name, bits, metric, value, ref, ratio, _ in rows:
        print(f"| {m} | {name} | {bits} | {metric} | {value:.4f} | {ref:.4f} | {ratio:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
