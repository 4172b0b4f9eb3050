"""Mixed precision Pareto table: perplexity vs average weight bits, mixed (exact DP) against uniform int4
and the "first and last layer at 8 bits" heuristic at equal bits, all with the same AWQ recipe.

    .venv/bin/python bench/mixed.py [--budgets 4.25,4.5,5,5.125,6] [--windows 16] [--seq 512] [--threads 1]
                                    [--sens-tokens 256] [--table T.json] [--plot pareto.png]

Protocol of shared/notes/models.md (SmolLM2, 16 x 512-token windows, calibration on the 8 windows
after them, once for all rows). Output gains (qc-assign-precision{sensitivity=output_kl} by default,
`--sensitivity output_mse|hessian`) are measured once, on the first `--sens-tokens` tokens of the first
calibration window, at w4a16g128. The heuristic rows raise the last, first, second ... layer to int8
while the budget allows (at 5.125 bits exactly "first and last layer at 8 bits"). avg_wbits
counts the f32 group scales (int4 g128 = 4.25 bits). `--table` keeps the calibration table between runs.
"""

import argparse
import json
import os
import platform
import sys
import time

import torch

AWQ = "qc-awq{wbits=4,group=128},qc-quantize{wbits=4,abits=16,group=128},canonicalize"
CANDIDATES = "w4a16g256:w4a16g128:w4a16g64:w8a16g128"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", default="4.25,4.5,5,5.125,6")
    ap.add_argument(
        "--heuristic-budgets",
        default="5.125,6",
        help="budgets that also get the heuristic (last, first, second ... layer at int8 while it fits)",
    )
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sens-tokens", type=int, default=256)
    ap.add_argument("--candidates", default=CANDIDATES)
    ap.add_argument("--sensitivity", default="output_kl", help="output_kl | output_mse | hessian")
    ap.add_argument("--table", default=None, help="calibration table to reuse (written when missing)")
    ap.add_argument("--plot", default=None, help="write the Pareto plot (PNG) here")
    ap.add_argument("--json", default=None, help="write the rows as JSON here")
    ap.add_argument("--pre-awq", action="store_true", help="AWQ scale search (no clip) before the assignment too")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    import qcomp
    from qcomp.calibrate import CalibrationTable, calibrate
    from qcomp.evaluate import default_text, perplexity, token_windows
    from qcomp.models import smollm2
    from qcomp.recipes import Recipe

    model, tok = smollm2()
    wins, calw = token_windows(tok, default_text(), args.windows, args.seq, 8)
    with torch.no_grad():
        fp32 = perplexity(model, wins)[0]
    if args.table and os.path.exists(args.table):
        table = CalibrationTable.load(args.table)
    else:
        sens = [(calw[0][:, : args.sens_tokens],)]
        table = calibrate(model, [(c,) for c in calw], sensitivity="w4a16g128", sensitivity_samples=sens)
        if args.table:
            table.save(args.table)
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, threads {args.threads}")
    print(f"# smollm2: {args.windows} x {args.seq} tokens, fp32 (PyTorch eager) {fp32:.4f}")
    print(f"# output gains: {table.sensitivity}", flush=True)

    def run(label: str, assign: str) -> dict:
        pre = "qc-awq{wbits=4,group=128,clip=false}," if args.pre_awq and assign else ""
        pipeline = pre + (assign + "," if assign else "") + AWQ
        start = time.perf_counter()
        cm = qcomp.compile(
            model, (wins[0],), recipe=Recipe(label, 1, pipeline, calibration="minmax"), calibration=table
        )
        plan = cm.report.get("precision_plan") or {
            "avg_wbits": cm.report["sizes"]["avg_wbits"],
            "sensitivity_s": 0.0,
            "solver_s": 0.0,
        }
        ppl = perplexity(cm, wins)[0]
        row = {
            "label": label,
            "avg_wbits": plan["avg_wbits"],
            "perplexity": ppl,
            "ratio": ppl / fp32,
            "sensitivity_s": plan["sensitivity_s"],
            "solver_s": plan["solver_s"],
            "frontier": plan.get("frontier"),
        }
        print(
            f"{label:40s} avg_wbits {row['avg_wbits']:.4f}  ppl {ppl:.4f}  x fp32 {row['ratio']:.4f}  (sensitivity "
            f"{row['sensitivity_s']:.1f} s, solver {row['solver_s']:.2f} s, total {time.perf_counter() - start:.0f} s)",
            flush=True,
        )
        return row

    def dp(budget: float, sensitivity: str = args.sensitivity) -> str:
        return f"qc-assign-precision{{candidates={args.candidates},budget={budget:.6f},sensitivity={sensitivity}}}"

    rows = [run("uniform int4 g128", "")]
    rows.append(run(f"mixed dp @ {rows[0]['avg_wbits']:.4f} (uniform's bits)", dp(rows[0]["avg_wbits"])))
    heuristic = {float(x) for x in args.heuristic_budgets.split(",") if x}
    for b in (float(x) for x in args.budgets.split(",")):
        if b in heuristic:
            rows.append(
                run(f"first+last int8 heuristic @ {b:g}", f"qc-assign-precision{{method=first_last,budget={b}}}")
            )
        rows.append(run(f"mixed dp @ {b:g}", dp(b)))
    print()
    print(f"candidates: {args.candidates}")
    print("| assignment (+ AWQ) | avg weight bits | perplexity | x fp32 | sensitivity | solver |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['label']} | {r['avg_wbits']:.4f} | {r['perplexity']:.4f} | {r['ratio']:.4f} | "
            f"{r['sensitivity_s']:.1f} s | {r['solver_s']:.2f} s |"
        )
    if args.plot:
        from qcomp.report import plot_pareto

        series: dict[str, list] = {}
        for r in rows:
            kind = "mixed (dp)" if r["label"].startswith("mixed") else r["label"].split(" @")[0]
            series.setdefault(kind, []).append((r["avg_wbits"], r["perplexity"]))
        plot_pareto(series, args.plot, ylabel="perplexity (SmolLM2, lower is better)", reference=("fp32", fp32))
        print(f"wrote {args.plot}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"fp32": fp32, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
