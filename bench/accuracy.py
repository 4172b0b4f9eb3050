"""Accuracy table: recipe x model, each cell the metric and its ratio to PyTorch eager fp32, in one run.

    .venv/bin/python bench/accuracy.py [--models smollm2,minilm] [--recipes fp32,w8a16,w8a8,w8a8-static,w4a16]
                                       [--windows 16] [--seq 512] [--threads 1] [--calib 8]

SmolLM2: perplexity over non-overlapping windows of the vendored 1911 Britannica text (lower is better).
MiniLM: mean cosine similarity of sentence embeddings to fp32 (higher is better).
The default recipes are round-to-nearest baselines (the outlier passes must beat these numbers);
`--recipes 4bit` is the low-bit table: W4A16 g128 (rtn, zero points + MSE range, AWQ, GPTQ, GPTQ with zero
points), W4A8 (rtn, GPTQ) and W3A16 g128 (GPTQ with zero points), calibrated recipes on `--calib` windows.
A recipe is a built-in name or a recipe file (.yaml).

--pytorch adds, for SmolLM2 recipes made only of qc-rotate, qc-gptq and qc-quantize, the PyTorch-scored
perplexity of the same quantization beside the compiled one: the model rotated as qc-rotate rotates it, every
nn.Linear GPTQ-quantized with the recipe's qc-gptq options (`qcomp.sequential.gptq_model`, one-pass or sequential
Hessians as its `sequential` option says) and, where qc-quantize has abits=8, every linear input fake-quantized to
int8 per token (bench/gptq_variants.py). The compiled build stores the same codes, so the two differ by f32
summation order (and by the compiled kernels' arithmetic) only.
"""

import argparse
import os
import platform
import sys
import time

import torch


def pytorch_scored(model, tok, recipe: str, windows: int, seq: int, calib: int) -> float | None:
    """The PyTorch-scored perplexity of `recipe` (module docstring), None when it has other passes or no qc-gptq."""
    from gptq_variants import rotated, with_int8_inputs
    from qcomp.evaluate import default_text, perplexity, token_windows
    from qcomp.passes.rotate import rotation
    from qcomp.pipeline import Pipeline
    from qcomp.recipes import get_recipe
    from qcomp.sequential import gptq_model

    steps = [st for st in Pipeline.parse(get_recipe(recipe).pipeline).steps if not isinstance(st, str)]
    by_name = {st.name: st for st in steps}
    if "qc-gptq" not in by_name or set(by_name) - {"qc-rotate", "qc-gptq", "qc-quantize"}:
        return None
    wins, calw = token_windows(tok, default_text(), windows, seq, calib)
    if "qc-rotate" in by_name:
        r = by_name["qc-rotate"]
        model = rotated(model, rotation(model.lm.config.hidden_size, r.kind, r.seed))
    g = by_name["qc-gptq"]
    opts = {k: getattr(g, k) for k in ("wbits", "group", "sym", "act_order", "block", "damp", "static_groups")}
    _, q = gptq_model(model, [(c,) for c in calw], {**opts, "search": g.search}, sequential=g.sequential)
    hooks = with_int8_inputs(q) if getattr(by_name.get("qc-quantize"), "abits", 16) == 8 else []
    with torch.no_grad():
        value = perplexity(q, wins)[0]
    for h in hooks:
        h.remove()
    return value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="smollm2,minilm")
    ap.add_argument("--recipes", default="fp32,w8a16,w8a8,w8a8-static,w4a16")
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--sentences", type=int, default=256, help="MiniLM sentences")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--calib", type=int, default=8, help="calibration windows (sentences for MiniLM)")
    ap.add_argument("--pytorch", action="store_true", help="PyTorch-scored GPTQ perplexity beside the compiled one")
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
            scored = None
            if args.pytorch and name == "smollm2":
                scored = pytorch_scored(model, tok, recipe, args.windows, args.seq, args.calib)
            rows.append((name, recipe, *cell, scored, time.perf_counter() - start))
            print(
                f"{name:8s} {recipe:12s} {cell[0]:10s} {cell[1]:10.4f}  fp32 {cell[2]:10.4f}  ratio {cell[3]:7.4f}"
                + (f"  PyTorch-scored {scored:.4f}" if scored is not None else "")
                + f"  ({rows[-1][-1]:.0f} s)",
                flush=True,
            )
    print()
    print("| model | recipe | metric | value | PyTorch fp32 | ratio | PyTorch-scored |")
    print("|---|---|---|---|---|---|---|")
    for name, recipe, metric, value, ref, ratio, scored, _ in rows:
        other = "-" if scored is None else f"{scored:.4f}"
        print(f"| {name} | {recipe} | {metric} | {value:.4f} | {ref:.4f} | {ratio:.4f} | {other} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
