"""Accuracy table: recipe x model, each cell the metric and its ratio to PyTorch eager fp32, in one run.

    .venv/bin/python bench/accuracy.py [--models smollm2,minilm] [--recipes fp32,w8a16,w8a8,w8a8-static,w4a16]
                                       [--windows 16] [--seq 512] [--threads 1] [--calib 8]

SmolLM2: perplexity over non-overlapping windows of the vendored 1911 Britannica text (lower is better).
MiniLM: mean cosine similarity of sentence embeddings to fp32 (higher is better).
The default recipes are round-to-nearest baselines (the outlier passes must beat these numbers);
`--recipes 4bit` is the low-bit table: W4A16 g128 (rtn, zero points + MSE range, AWQ, GPTQ, GPTQ with zero
points), W4A8 (rtn, GPTQ) and W3A16 g128 (GPTQ with zero points), calibrated recipes on `--calib` windows.
"""

import argparse
import os
import platform
import sys
import time

import torch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="smollm2,minilm")
    ap.add_argument("--recipes", default="fp32,w8a16,w8a8,w8a8-static,w4a16")
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--sentences", type=int, default=256, help="MiniLM sentences")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--calib", type=int, default=8, help="calibration windows (sentences for MiniLM)")
    args = ap.parse_args()
    if args.recipes == "4bit":
        args.recipes = "fp32,w4a16,w4a16-asym,w4a16-awq,w4a16-gptq,w4a16-gptq-asym,w4a8,w4a8-gptq,w3a16-gptq"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    from qcomp.dialects.errors import QcompError
    from qcomp.evaluate import evaluate
    from qcomp.models import REAL

    print(
        f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}"
    )
    print(f"# smollm2: {args.windows} windows x {args.seq} tokens; minilm: {args.sentences} sentences x 128 tokens")
    rows = []
    for name in args.models.split(","):
        model, tok = REAL[name]()
        for recipe in args.recipes.split(","):
            start = time.perf_counter()
            try:
                if name == "minilm":
                    r = evaluate(name, model, tok, recipe=recipe, windows=args.sentences, seq=128, calib=args.calib)
                else:
                    r = evaluate(name, model, tok, recipe=recipe, windows=args.windows, seq=args.seq, calib=args.calib)
                cell = (r.metric, r.value, r.fp32_value, r.value / r.fp32_value)
            except QcompError as e:
                cell = ("error", float("nan"), float("nan"), float("nan"))
                print(f"# {name} {recipe}: {e}", file=sys.stderr)
            rows.append((name, recipe, *cell, time.perf_counter() - start))
            print(
                f"{name:8s} {recipe:12s} {cell[0]:10s} {cell[1]:10.4f}  fp32 {cell[2]:10.4f}  ratio {cell[3]:7.4f}"
                f"  ({rows[-1][-1]:.0f} s)",
                flush=True,
            )
    print()
    print("| model | recipe | metric | value | PyTorch fp32 | ratio |")
    print("|---|---|---|---|---|---|")
    for name, recipe, metric, value, ref, ratio, _ in rows:
        print(f"| {name} | {recipe} | {metric} | {value:.4f} | {ref:.4f} | {ratio:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
