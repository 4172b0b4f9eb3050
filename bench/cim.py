"""CIM target: MiniLM / SmolLM2 accuracy across ADC bits x device variation, and energy/latency/area per preset.

    .venv/bin/python bench/cim.py [--sentences 4] [--seq 128] [--adc 4,5,6,8] [--sigma 0,0.02,0.05]
                                  [--presets neurosim,isaac,mnsim] [--threads 1]
    .venv/bin/python bench/cim.py --model smollm2 [--windows 4] [--seq 512] [--adc 5,8,6,4] [--sigma 0,0.02,0.05]

SmolLM2: perplexity on `--windows` windows of `--seq` tokens of the vendored text (compiler/evaluate.py), on the
`neurosim` preset, beside fp32 (PyTorch eager) and the fault-free ideal CIM, measured through the CPU W8A8 build
it equals bit for bit (test_cim.py checks the identity on tiny-llama and MiniLM); each non-ideal configuration
re-programs the one CIM build (seed 0) and prints its markdown row when measured: variation-free rows first, then
the varied ones ADC width by ADC width in --adc order (a varied 512-token forward takes ~2 minutes on one core).

    .venv/bin/python bench/cim.py --mixed [--sentences 4] [--seq 128] [--budget-kind arrays|energy]

CIM-aware mixed precision (MiniLM, neurosim preset, ideal arrays so only the weight widths matter): uniform
w{4,5,6,8}a8 beside qc-assign-precision{candidates=w4a8:w5a8:w6a8:w8a8,budget_kind=arrays|energy} with the budget
set to each uniform width's own cost (arrays or µJ per call, from CimTarget.cost), cosine to fp32.

Accuracy: mean cosine of MiniLM sentence embeddings (mean pool + L2) to PyTorch fp32, on the `neurosim`
preset, beside the fault-free ideal CIM build (== the CPU W8A8 build bit for bit). One compile per preset:
the sweep re-programs the built artifact's arrays (`CimArtifact.program_arrays`, seed 0).
Cost: per-layer and total energy, latency, area and arrays of one seq-length call, each preset, with the
sources of its constants. Prints the wall time of one non-ideal simulated call (the < 120 s goal).
"""

import argparse
import math
import os
import time

import torch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("minilm", "smollm2"), default="minilm")
    ap.add_argument("--windows", type=int, default=4, help="smollm2: windows of --seq tokens")
    ap.add_argument("--sentences", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--adc", default="4,5,6,8")
    ap.add_argument("--sigma", default="0,0.02,0.05")
    ap.add_argument("--presets", default="neurosim,isaac,mnsim")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mixed", action="store_true", help="CIM-aware mixed precision table (MiniLM)")
    ap.add_argument("--budget-kind", choices=("arrays", "energy"), default="arrays")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    import qcomp
    from qcomp import targets
    from qcomp.evaluate import default_text, embed, encoder_batches
    from qcomp.models import minilm
    from qcomp.targets.cim.arch import CimOptions

    if args.mixed:
        return mixed_table(args)
    if args.model == "smollm2":
        return smollm2_table(args)
    model, tok = minilm()
    batches = encoder_batches(tok, default_text(), args.sentences, args.seq)
    with torch.no_grad():
        ref = [embed(model(*b), b[1]) for b in batches]

    def cosine(cm) -> float:
        cos = [
            torch.nn.functional.cosine_similarity(embed(cm(*b), b[1]), r).mean()
            for b, r in zip(batches, ref, strict=True)
        ]
        return float(torch.stack(cos).mean())

    presets = args.presets.split(",")
    built = {p: qcomp.compile(model, batches[0], target=targets.get("cim", preset=p), recipe="w8a8") for p in presets}

    cm = built.get("neurosim") or qcomp.compile(model, batches[0], target="cim:neurosim", recipe="w8a8")
    art = cm.artifact
    art.program_arrays(CimOptions(ideal=True).arch())
    ideal = cosine(cm)
    print(
        f"MiniLM (seq {args.seq}, {len(batches)} sentences), neurosim preset, cosine to fp32; ideal CIM = CPU W8A8: "
        f"{ideal:.4f}"
    )
    sigmas = [float(s) for s in args.sigma.split(",")]
    print("adc_bits | " + " | ".join(f"sigma={s:<5}" for s in sigmas))
    timed = None
    for bits in [int(b) for b in args.adc.split(",")]:
        row = []
        for s in sigmas:
            art.program_arrays(CimOptions(adc_bits=bits, variation=s).arch())
            t0 = time.perf_counter()
            row.append(cosine(cm))
            timed = timed or (time.perf_counter() - t0) / len(batches)
        print(f"{bits:8d} | " + " | ".join(f"{c:11.4f}" for c in row))
    print(f"one simulated call (non-ideal, seq {args.seq}): {timed:.1f} s")

    for p, cmp in built.items():
        r = cmp.artifact.report
        print(
            f"\n{p}: energy {r['energy_pj'] / 1e6:.2f} uJ, latency {r['latency_ns'] / 1e3:.1f} us, "
            f"area {r['area_mm2']:.2f} mm2, arrays {r['arrays']}, {r['tops_per_w']:.2f} TOPS/W (2 MAC)"
        )
        print(f"  {'layer':<8} {'NxK':>10} {'arrays':>6} {'util':>5} {'energy uJ':>9} {'latency us':>10} {'mm2':>6}")
        for row in r["layers"]:
            loc = row["symbol"]
            print(
                f"  {loc:<8} {row['n']:>4}x{row['k']:<5} {row['arrays']:6d} {row['utilization']:5.2f} "
                f"{row['energy_pj'] / 1e6:9.3f} {row['latency_ns'] / 1e3:10.2f} {row['area_mm2']:6.3f}"
            )
        for name, c in cmp.artifact.arch.constants().items():
            print(
                f"  {name:<9} {c['energy_pj']:8.3f} pJ {c['latency_ns']:7.2f} ns {c['area_um2']:9.1f} um2"
                f"  {c['source']}"
            )
    return 0


def smollm2_table(args) -> int:
    import qcomp
    from qcomp import targets
    from qcomp.evaluate import default_text, perplexity, token_windows
    from qcomp.models import smollm2
    from qcomp.targets.cim.arch import CimOptions

    model, tok = smollm2()
    wins, _ = token_windows(tok, default_text(), args.windows, args.seq)
    with torch.no_grad():
        fp32, tokens = perplexity(model, wins, "fp32")
    cpu = qcomp.compile(model, (wins[0],), target=targets.get("cpu"), recipe="w8a8")
    ideal, _ = perplexity(cpu, wins, "w8a8")
    print(
        f"SmolLM2-135M perplexity, {len(wins)} x {args.seq} tokens ({tokens} predicted), neurosim preset, seed 0\n",
        flush=True,
    )
    print("| configuration | perplexity | x ideal | s/window |\n|---|---:|---:|---:|")
    print(f"| fp32 (PyTorch eager) | {fp32:.2f} | {fp32 / ideal:.3f} | |")
    print(f"| ideal CIM (== CPU W8A8 bit for bit) | {ideal:.2f} | 1.000 | |", flush=True)
    cm = qcomp.compile(model, (wins[0],), target=targets.get("cim"), recipe="w8a8")
    bits = [int(b) for b in args.adc.split(",")]
    sigmas = [float(v) for v in args.sigma.split(",")]
    # variation-free rows first (int8 matmuls, several times faster than the varied f32 ones), then per ADC width
    configs = [(b, s) for s in sigmas if s == 0 for b in bits] + [(b, s) for b in bits for s in sigmas if s]
    for b, s in configs:
        cm.artifact.program_arrays(CimOptions(adc_bits=b, variation=s).arch())
        t0 = time.perf_counter()
        ppl, _ = perplexity(cm, wins, f"adc{b} sigma{s}")
        dt = (time.perf_counter() - t0) / len(wins)
        print(f"| {b}-bit ADC, sigma {s:.2f} | {ppl:.2f} | {ppl / ideal:.3f} | {dt:.0f} |", flush=True)
    return 0


def mixed_table(args) -> int:
    import qcomp
    from qcomp import targets
    from qcomp.evaluate import default_text, embed, encoder_batches
    from qcomp.models import minilm
    from qcomp.recipes import Recipe

    model, tok = minilm()
    batches = encoder_batches(tok, default_text(), args.sentences + 4, args.seq)
    evals, calib = batches[: args.sentences], batches[args.sentences :]
    with torch.no_grad():
        ref = [embed(model(*b), b[1]) for b in evals]
    tgt = targets.get("cim", ideal=True)
    quant = "qc-quantize{wbits=8,abits=8,granularity=per_token},canonicalize"

    def run(recipe: Recipe, calibration=None) -> tuple[float, dict]:
        cm = qcomp.compile(model, evals[0], target=tgt, recipe=recipe, calibration=calibration)
        cos = [float((embed(cm(*b), b[1]) * r).sum(-1).mean()) for b, r in zip(evals, ref, strict=True)]
        return sum(cos) / len(cos), cm.report

    def cost(report: dict) -> float:
        r = report["target"]
        return r["arrays"] if args.budget_kind == "arrays" else r["energy_pj"] * 1e-6

    unit = "arrays" if args.budget_kind == "arrays" else "uJ"
    print(f"MiniLM (seq {args.seq}, {len(evals)} sentences), neurosim preset (ideal arrays), cosine to fp32")
    print(f"{'precision':<28} {unit:>9} {'avg_wbits':>9} {'cosine':>8}")
    uniform = {}
    for b in (4, 5, 6, 8):
        cos, rep = run(Recipe(f"w{b}a8", 1, quant.replace("wbits=8", f"wbits={b}")))
        uniform[b] = cost(rep)
        print(f"{f'uniform w{b}a8':<28} {uniform[b]:9.1f} {rep['sizes']['avg_wbits']:9.2f} {cos:8.4f}", flush=True)
    for b in (5, 6):
        budget = uniform[b] if args.budget_kind == "arrays" else math.ceil(uniform[b] * 1e3) / 1e3
        assign = f"qc-assign-precision{{candidates=w4a8:w5a8:w6a8:w8a8,budget={budget},budget_kind={args.budget_kind}}}"
        cos, rep = run(Recipe("cim-mixed", 1, f"{assign},{quant}", calibration="minmax"), calib)
        counts = {}
        for row in rep["target"]["layers"]:
            counts[row["weight_bits"]] = counts.get(row["weight_bits"], 0) + 1
        mix = "+".join(f"{n}xw{w}" for w, n in sorted(counts.items()))
        name = f"mixed <= w{b} ({mix})"
        print(f"{name:<28} {cost(rep):9.1f} {rep['sizes']['avg_wbits']:9.2f} {cos:8.4f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
