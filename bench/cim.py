"""CIM target: MiniLM / SmolLM2 accuracy across ADC bits x device variation, and energy/latency/area per preset.

    .venv/bin/python bench/cim.py [--sentences 4] [--seq 128] [--adc 4,5,6,8] [--sigma 0,0.02,0.05]
                                  [--presets neurosim,isaac,mnsim] [--threads 1]
    .venv/bin/python bench/cim.py --model smollm2 [--windows 4] [--seq 512] [--adc 5,6,8] [--sigma 0,0.05]

SmolLM2: perplexity on `--windows` windows of `--seq` tokens of the vendored text (compiler/evaluate.py), on the
`neurosim` preset, beside fp32 (PyTorch eager) and the fault-free ideal CIM, measured through the CPU W8A8 build
it equals bit for bit (test_cim.py checks the identity on tiny-llama and MiniLM); each non-ideal configuration
re-programs the one CIM build (seed 0) and prints its row when measured (a 512-token forward takes minutes).

Accuracy: mean cosine of MiniLM sentence embeddings (mean pool + L2) to PyTorch fp32, on the `neurosim`
preset, beside the fault-free ideal CIM build (== the CPU W8A8 build bit for bit). One compile per preset:
the sweep re-programs the built artifact's arrays (`CimArtifact.program_arrays`, seed 0).
Cost: per-layer and total energy, latency, area and arrays of one seq-length call, each preset, with the
sources of its constants. Prints the wall time of one non-ideal simulated call (the < 120 s goal).
"""

import argparse
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
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    import qcomp
    from qcomp import targets
    from qcomp.evaluate import default_text, embed, encoder_batches
    from qcomp.models import minilm
    from qcomp.targets.cim.arch import CimOptions

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
        f"SmolLM2-135M perplexity, {len(wins)} x {args.seq} tokens ({tokens} predicted), neurosim preset, seed 0: "
        f"fp32 {fp32:.2f}, ideal CIM (== CPU W8A8) {ideal:.2f}",
        flush=True,
    )
    cm = qcomp.compile(model, (wins[0],), target=targets.get("cim"), recipe="w8a8")
    print(f"{'adc_bits':>8} {'sigma':>6} {'ppl':>9} {'x ideal':>8} {'s/window':>9}", flush=True)
    for bits in [int(b) for b in args.adc.split(",")]:
        for s in [float(v) for v in args.sigma.split(",")]:
            cm.artifact.program_arrays(CimOptions(adc_bits=bits, variation=s).arch())
            t0 = time.perf_counter()
            ppl, _ = perplexity(cm, wins, f"adc{bits} sigma{s}")
            dt = (time.perf_counter() - t0) / len(wins)
            print(f"{bits:8d} {s:6.2f} {ppl:9.2f} {ppl / ideal:8.3f} {dt:9.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
