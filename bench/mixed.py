"""Mixed precision Pareto table: perplexity vs average weight bits, mixed (exact DP) against uniform int4
and the "first and last layer at 8 bits" heuristic at equal bits, all with the same AWQ recipe.

    .venv/bin/python bench/mixed.py [--budgets 4.5,5,6] [--windows 16] [--seq 512] [--threads 1]

Protocol of shared/notes/models.md (SmolLM2, 16 x 512-token windows, calibration on the 8 windows
after them, once for all rows). avg_wbits counts the f32 group scales (int4 g128 = 4.25 bits).
"""

import argparse
import os
import platform
import sys
import time

import torch

AWQ = "qc-awq{wbits=4,group=128},qc-quantize{wbits=4,abits=16,group=128},canonicalize"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", default="4.5,5,6")
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    import qcomp
    from qcomp.calibrate import calibrate
    from qcomp.evaluate import default_text, perplexity, token_windows
    from qcomp.models import smollm2
    from qcomp.recipes import Recipe

    model, tok = smollm2()
    wins, calw = token_windows(tok, default_text(), args.windows, args.seq, 8)
    with torch.no_grad():
        fp32 = perplexity(model, wins)[0]
    table = calibrate(model, [(c,) for c in calw])
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, threads {args.threads}")
    print(f"# smollm2: {args.windows} x {args.seq} tokens, fp32 (PyTorch eager) {fp32:.4f}", flush=True)

    def run(label: str, assign: str) -> tuple:
        pipeline = (assign + "," if assign else "") + AWQ
        start = time.perf_counter()
        recipe = Recipe(label, 1, pipeline, calibration="minmax")
        cm = qcomp.compile(model, (wins[0],), recipe=recipe, calibration=table)
        plan = cm.report.get("precision_plan", {"avg_wbits": 4.25, "budget": float("nan")})
        ppl = perplexity(cm, wins)[0]
        solver = cm.report["timings_s"].get("qc-assign-precision", 0.0)
        row = (label, plan["avg_wbits"], ppl, ppl / fp32, solver, time.perf_counter() - start)
        print(
            f"{label:34s} avg_wbits {row[1]:.4f}  ppl {ppl:.4f}  x fp32 {row[3]:.4f}  "
            f"(assign {solver:.1f} s, total {row[5]:.0f} s)",
            flush=True,
        )
        return row

    rows = [run("uniform int4 g128", "")]
    heur = run("first+last layer int8 (heuristic)", "qc-assign-precision{method=first_last,budget=16}")
    rows += [heur, run(f"mixed dp @ {heur[1]:.4f}", f"qc-assign-precision{{budget={heur[1]:.6f}}}")]
    for b in (float(x) for x in args.budgets.split(",")):
        rows.append(run(f"mixed dp @ {b:g}", f"qc-assign-precision{{budget={b}}}"))
    print()
    print("| assignment (+ AWQ, int4/int8 g128) | avg weight bits | perplexity | x fp32 | sensitivity + solver |")
    print("|---|---|---|---|---|")
    for label, bits, ppl, ratio, solver, _ in rows:
        print(f"| {label} | {bits:.4f} | {ppl:.4f} | {ratio:.4f} | {solver:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
