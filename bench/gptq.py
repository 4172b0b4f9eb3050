"""GPTQ against round-to-nearest and AWQ at 4 bits on SmolLM2-135M, in one run.

    .venv/bin/python bench/gptq.py [--windows 16] [--seq 512] [--calib 8] [--threads 1] [--match TEXT]
                                   [--group 128] [--sequential]

Protocol of shared/notes/models.md, as `qcomp eval` runs it: perplexity over the first `windows`
non-overlapping 512-token windows of the vendored text (lower is better), calibration on the `calib`
windows after them. Calibration (with each linear input's Hessian, for qc-gptq) runs once and every row
reuses the table, so rows differ only by their pipeline. Prints the time of calibration and of each row's
compile (qc-gptq included), and the process's peak RSS. --sequential adds GPTQ rows on sequential Hessians
(one more calibration per distinct qc-gptq options); --group G makes every g128 row g<G> (bench/peers/
llmcompressor_gptq.py runs at g64: llm-compressor cannot do 576 columns in groups of 128).

Peers on the same weights, windows and protocol: bench/peers/gptq_reference.py (the GPTQ reference algorithm,
g128) and bench/peers/llmcompressor_gptq.py (llm-compressor's GPTQModifier, g64), each in its own process.
"""

import argparse
import os
import platform
import resource
import sys
import time

import torch

W4G = "qc-quantize{wbits=4,abits=16,group=128}"
W4A8 = "qc-quantize{wbits=4,abits=8,granularity=per_token}"
GPTQ = "qc-gptq{wbits=4,group=128"
W3A = "qc-quantize{wbits=3,abits=16,group=128"
GPTQ3 = "qc-gptq{wbits=3,group=128,act_order=true,static_groups=true"
# (precision, row label, recipe name or pipeline); the first row of each precision is round-to-nearest
ROWS = [
    ("w4a16 g128", "rtn (= recipe w4a16)", "w4a16"),
    ("w4a16 g128", "recipe w4a16-awq", "w4a16-awq"),
    ("w4a16 g128", "qc-gptq", GPTQ + "}," + W4G),
    ("w4a16 g128", "qc-gptq{act_order,static_groups} (= w4a16-gptq)", "w4a16-gptq"),
    ("w4a16 g128", "qc-awq + qc-gptq{act_order}", "qc-awq," + GPTQ + ",act_order=true,static_groups=true}," + W4G),
    ("w4a16 g128", "recipe w4a16-asym (zero points, mse range)", "w4a16-asym"),
    ("w4a16 g128", "recipe w4a16-gptq-asym (zero points)", "w4a16-gptq-asym"),
    ("w4a8 per-channel", "rtn (= recipe w4a8)", "w4a8"),
    ("w4a8 per-channel", "recipe w4a8-awq", "w4a8-awq"),
    ("w4a8 per-channel", "recipe w4a8-rotate", "w4a8-rotate"),
    ("w4a8 per-channel", "qc-gptq{group=0,act_order} (= w4a8-gptq)", "w4a8-gptq"),
    ("w4a8 per-channel", "qc-rotate + qc-gptq{group=0,act_order}", "qc-rotate,qc-gptq{group=0,act_order=true}," + W4A8),
    ("w3a16 g128", "rtn symmetric", "qc-quantize{wbits=3,abits=16,group=128}"),
    ("w3a16 g128", "qc-quantize{sym=false,search=mse} (asym rtn)", W3A + ",sym=false,search=mse}"),
    ("w3a16 g128", "qc-gptq{act_order,static_groups} symmetric", GPTQ3 + "}," + W3A + "}"),
    ("w3a16 g128", "recipe w3a16-gptq (zero points)", "w3a16-gptq"),
]
# --sequential: these rows again on Hessians from a model whose earlier blocks are GPTQ-quantized with the
# row's qc-gptq options (calibrate(hessian="sequential", gptq=...)); (precision, label, recipe, gptq options)
G4 = {"wbits": 4, "group": 128, "act_order": True, "static_groups": True}
SEQ_ROWS = [
    ("w4a16 g128", "w4a16-gptq, sequential Hessians", "w4a16-gptq", G4),
    ("w4a16 g128", "w4a16-gptq-asym, sequential Hessians", "w4a16-gptq-asym", {**G4, "sym": False}),
    ("w3a16 g128", "w3a16-gptq, sequential Hessians", "w3a16-gptq", {**G4, "wbits": 3, "sym": False}),
]


def _recipe(spec: str, group: int = 128):
    """The recipe (a built-in name or a pipeline) with its groups of 128 made groups of `group`."""
    from qcomp.recipes import BUILTIN, Recipe

    pipeline = BUILTIN[spec].pipeline if spec in BUILTIN else spec + ",canonicalize"
    if spec in BUILTIN and group == 128:
        return BUILTIN[spec]
    return Recipe(spec, 1, pipeline.replace("group=128", f"group={group}"), calibration="minmax")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--calib", type=int, default=8, help="calibration windows")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--match", default="", help="only rows whose label has one of these (a|b|c), and their rtn rows")
    ap.add_argument("--group", type=int, default=128, help="weight-only group size of every g128 row")
    ap.add_argument("--sequential", action="store_true", help="also the sequential-Hessian GPTQ rows")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    import qcomp
    from qcomp.calibrate import calibrate
    from qcomp.evaluate import default_text, perplexity, token_windows
    from qcomp.models import REAL

    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, threads {args.threads}")
    print(f"# smollm2: {args.windows} windows x {args.seq} tokens, calibration {args.calib} windows")
    model, tok = REAL["smollm2"]()
    wins, calw = token_windows(tok, default_text(), args.windows, args.seq, args.calib)
    with torch.no_grad():
        fp32 = perplexity(model, wins)[0]
    start = time.perf_counter()
    table = calibrate(model, [(c,) for c in calw], hessian=True)
    print(
        f"# fp32 (PyTorch eager) {fp32:.4f}; calibration with Hessians {time.perf_counter() - start:.0f} s", flush=True
    )
    rows, rtn, tables = [], {}, {}
    todo = [(*r, None) for r in ROWS] + (SEQ_ROWS if args.sequential else [])
    if args.match:  # the matching rows, and the rtn row of each of their precisions
        alts = args.match.split("|")
        picked = [r for r in todo if any(m in r[1] for m in alts)]
        todo = [r for r in todo if r in picked or (r[1].startswith("rtn") and any(p[0] == r[0] for p in picked))]
    for prec, label, spec, seq in todo:
        prec = prec.replace("g128", f"g{args.group}")
        cal = table
        if seq is not None:
            opts = {**seq, "group": args.group}
            key = tuple(sorted(opts.items()))
            if key not in tables:
                start = time.perf_counter()
                tables[key] = calibrate(model, [(c,) for c in calw], hessian="sequential", gptq=opts)
                print(f"# sequential calibration {opts}: {time.perf_counter() - start:.0f} s", flush=True)
            cal = tables[key]
        start = time.perf_counter()
        cm = qcomp.compile(model, wins[0], recipe=_recipe(spec, args.group), calibration=cal)
        compile_s = time.perf_counter() - start
        passes = {k: v for k, v in cm.report["timings_s"].items() if k.startswith("qc-gptq") or k.startswith("qc-awq")}
        value = perplexity(cm, wins)[0]
        if label.startswith("rtn"):
            rtn[prec] = value
        rows.append((prec, label, value, value / fp32, rtn.get(prec), compile_s))
        pass_s = "".join(f", {k} {v:.0f} s" for k, v in passes.items())
        print(
            f"{prec:16s} {label:48s} {value:9.4f}  x fp32 {value / fp32:.4f}  (compile {compile_s:.0f} s{pass_s})",
            flush=True,
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\n# peak RSS {rss:.2f} GiB\n")
    print(f"| precision | pass / recipe | perplexity | x fp32 ({fp32:.2f}) | gap to fp32 closed vs rtn |")
    print("|---|---|---|---|---|")
    for prec, label, value, ratio, r, _ in rows:
        closed = "" if label.startswith("rtn") or r is None or r == fp32 else f"{(r - value) / (r - fp32):+.0%}"
        print(f"| {prec} | {label} | {value:.4f} | {ratio:.4f} | {closed} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
