"""Outlier passes against round-to-nearest: each pass alone and the recipes, per precision, in one run.

    .venv/bin/python bench/outliers.py [--models smollm2,minilm] [--windows 16] [--seq 512] [--threads 1]
                                       [--only w8a8,w8a8-static,w4a16,w4a8] [--match TEXT]

Protocol of shared/notes/models.md, as `qcomp eval` runs it: SmolLM2 perplexity over the first
`windows` non-overlapping 512-token windows of the vendored text (lower is better), calibration on the
8 windows after them; MiniLM mean cosine similarity of sentence embeddings to fp32 (higher is better),
calibration on 8 further sentences. Calibration runs once per model and every row reuses the table
(what `qcomp.compile(..., calibration=table)` does), so rows differ only by their pipeline.
"""

import argparse
import os
import platform
import sys
import time

import numpy as np
import torch

W4 = "qc-quantize{wbits=4,abits=16,group=128}"
# (precision, row label, recipe name or pipeline); the first row of each precision is round-to-nearest
ROWS = [
    ("w8a8", "rtn", "w8a8"),
    ("w8a8", "qc-smooth (= recipe w8a8-smooth)", "w8a8-smooth"),
    ("w8a8", "qc-smooth{auto}", "qc-smooth{auto=true},qc-quantize"),
    ("w8a8", "qc-split-outliers (= recipe w8a8-split)", "w8a8-split"),
    ("w8a8", "qc-rotate", "qc-rotate,qc-quantize"),
    ("w8a8", "qc-rotate + qc-smooth", "qc-rotate,qc-smooth,qc-quantize"),
    ("w8a8-static", "rtn", "w8a8-static"),
    ("w8a8-static", "qc-smooth", "qc-smooth{alpha=0.8},qc-quantize{static=true}"),
    ("w8a8-static", "qc-smooth{auto}", "qc-smooth{auto=true,granularity=per_tensor},qc-quantize{static=true}"),
    ("w8a8-static", "qc-rotate", "qc-rotate,qc-quantize{static=true}"),
    ("w8a8-static", "recipe w8a8-smooth-static", "w8a8-smooth-static"),
    ("w8a8-static", "recipe w8a8-split-static (split alone)", "w8a8-split-static"),
    ("w8a8-static", "recipe w8a8-rotate-static", "w8a8-rotate-static"),
    ("w4a16", "rtn", "w4a16"),
    ("w4a16", "qc-awq (= recipe w4a16-awq)", "w4a16-awq"),
    ("w4a16", "qc-rotate", "qc-rotate," + W4),
    ("w4a16", "qc-reorder-channels{outlier_bits=8}", "qc-reorder-channels{outlier_bits=8}," + W4),
    ("w4a16", "recipe w4a16-rotate", "w4a16-rotate"),
    ("w4a16", "reorder{outlier_bits=8} + awq (mixed 4/8)", "qc-reorder-channels{outlier_bits=8},qc-awq," + W4),
    ("w4a16", "mixed 4.5 bits + awq (= recipe mixed)", "mixed"),
    ("w4a16", "mixed 5.0 bits + awq", "qc-assign-precision{budget=5.0},qc-awq," + W4),
    ("w4a8", "rtn", "qc-quantize{wbits=4,abits=8}"),
    ("w4a8", "qc-awq{group=0} (= recipe w4a8-awq)", "w4a8-awq"),
    ("w4a8", "qc-smooth + qc-awq{group=0}", "qc-smooth{wbits=4},qc-awq{group=0},qc-quantize{wbits=4,abits=8}"),
    ("w4a8", "recipe w4a8-rotate", "w4a8-rotate"),
]


def _recipe(spec: str):
    from qcomp.recipes import BUILTIN, Recipe

    return BUILTIN[spec] if spec in BUILTIN else Recipe(spec, 1, spec + ",canonicalize", calibration="minmax")


def _score(name, model, cm, evals, refs):
    from qcomp.evaluate import embed, perplexity

    if name == "minilm":
        return float(np.mean([float((embed(cm(i, m), m) * r).sum()) for (i, m), r in zip(evals, refs, strict=True)]))
    return perplexity(cm, evals)[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="smollm2,minilm")
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--sentences", type=int, default=256, help="MiniLM sentences")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated precisions to run")
    ap.add_argument("--match", default="", help="run only rows whose label contains this text (and the rtn rows)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    import qcomp
    from qcomp.calibrate import calibrate
    from qcomp.evaluate import default_text, embed, encoder_batches, perplexity, token_windows
    from qcomp.models import REAL

    only = set(args.only.split(",")) if args.only else None
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, threads {args.threads}")
    print(f"# smollm2: {args.windows} windows x {args.seq} tokens; minilm: {args.sentences} sentences x 128 tokens")
    table_rows = []
    for name in args.models.split(","):
        model, tok = REAL[name]()
        text = default_text()
        if name == "minilm":
            batches = encoder_batches(tok, text, args.sentences + 8, 128)
            evals, cal = batches[: args.sentences], batches[args.sentences :]
            with torch.no_grad():
                refs = [embed(model(i, m), m) for i, m in evals]
            fp32 = 1.0
        else:
            wins, calw = token_windows(tok, text, args.windows, args.seq, 8)
            evals, cal, refs = wins, [(c,) for c in calw], None
            with torch.no_grad():
                fp32 = perplexity(model, evals)[0]
        start = time.perf_counter()
        table = calibrate(model, cal)
        print(f"# {name}: fp32 (PyTorch eager) {fp32:.4f}; calibration {time.perf_counter() - start:.0f} s", flush=True)
        rtn = None
        for prec, label, spec in ROWS:
            if (only and prec not in only) or (args.match and label != "rtn" and args.match not in label):
                continue
            start = time.perf_counter()
            cm = qcomp.compile(model, evals[0], recipe=_recipe(spec), calibration=table)
            value = _score(name, model, cm, evals, refs)
            rtn = value if label == "rtn" else rtn
            row = (name, prec, label, value, fp32, value / fp32, rtn, time.perf_counter() - start)
            table_rows.append(row)
            print(f"{name:8s} {prec:12s} {label:38s} {value:9.4f}  x fp32 {row[5]:.4f}  ({row[-1]:.0f} s)", flush=True)
    print()
    print("| model | precision | pass / recipe | metric | x fp32 | gap to fp32 closed vs rtn |")
    print("|---|---|---|---|---|---|")
    for name, prec, label, value, fp32, ratio, rtn, _ in table_rows:
        closed = "" if label == "rtn" or rtn == fp32 else f"{(rtn - value) / (rtn - fp32):+.0%}"
        print(f"| {name} | {prec} | {label} | {value:.4f} | {ratio:.4f} | {closed} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
