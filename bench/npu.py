"""NPU target: the SCALE-Sim fold-formula check, per-layer reports (MiniLM, one SmolLM2 decoder layer) and
the simulator's end-to-end time on MiniLM (seq 128).

    .venv/bin/python bench/npu.py [--preset gemmini] [--seq 128] [--skip-smollm2] [--fold-only]

Every table prints simulated cycles next to the bound they are measured against: the fold formula
(folds · (2R + C + T - 2), SCALE-Sim) for single GEMMs, and the roofline bound (max of MACs at peak and
compulsory DRAM bytes at the DMA bandwidth) for model layers.
"""

import argparse
import sys
import time

import numpy as np
import qcomp
import torch
from qcomp import targets
from qcomp.targets.npu.arch import NpuOptions
from qcomp.targets.npu.codegen import Gemm, Layout, generate
from qcomp.targets.npu.simulator import timing

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from prefill_inputs import prefill_inputs

SHAPES = [
    (64, 64, 64), (128, 128, 128), (128, 512, 128), (64, 768, 512), (512, 128, 64), (256, 64, 768),
    (128, 768, 3072), (128, 3072, 768), (512, 768, 768), (768, 768, 768), (3072, 768, 768), (3072, 64, 512),
]  # fmt: skip


def _schedule(prog) -> str:
    """ws: streamed when partial sums are reloaded from DRAM, else chunked; os: os."""
    if not any(i.op == "preload" for i in prog):
        return "-"
    return "stream" if any(i.op == "ld" and "acc" in i.flags for i in prog) else "chunk"


def fold_table() -> None:
    print("\n## single GEMMs on scalesim (32x32): simulated cycles vs SCALE-Sim fold formula")
    print(f"{'df':3} {'M':>5} {'K':>5} {'N':>5} {'formula':>9} {'compute':>9} {'dev':>7} {'total(bw=inf)':>13} "
          f"{'dev':>7} {'sched':>6} {'total(bw=10)':>12} {'>=formula':>9} {'sched':>6}")  # fmt: skip
    for df in ("os", "ws"):
        free = NpuOptions(preset="scalesim", dataflow=df, dram_bandwidth=None).arch
        fin = NpuOptions(preset="scalesim", dataflow=df).arch
        for m, k, n in SHAPES:
            g = Gemm("qc.qlinear", "bench", m, k, n)
            sr, sc, t = (m, n, k) if df == "os" else (k, n, m)
            fold = -(-sr // 32) * -(-sc // 32) * (2 * 32 + 32 + t - 2)
            ps, pf = generate(free, g, Layout.of(g)), generate(fin, g, Layout.of(g))
            s, f = timing(ps, free), timing(pf, fin)
            print(f"{df:3} {m:5} {k:5} {n:5} {fold:9} {s.compute_cycles:9} {s.compute_cycles / fold - 1:+7.1%} "
                  f"{s.cycles:13} {s.cycles / fold - 1:+7.1%} {_schedule(ps):>6} {f.cycles:12} "
                  f"{f.cycles >= fold!s:>9} {_schedule(pf):>6}")  # fmt: skip
    print("(ws sched: chunk = M in accumulator-sized chunks, each re-preloading the weights and refilling the array;")
    print(" stream = all M rows through each weight fold, partial sums spilled to DRAM and reloaded: the faster by")
    print(" the cycle model is kept, stream when bandwidth is free, chunk when partial-sum traffic costs more)")


def layer_table(cm, title: str, first: int = 0, count: int | None = None) -> None:
    r = cm.report["target"]
    rows = r["layers"][first : None if count is None else first + count]
    print(f"\n## {title}: {r['preset']} {r['array'][0]}x{r['array'][1]} {r['dataflow']}, "
          f"DRAM {r['dram_bandwidth']} B/cycle")  # fmt: skip
    print(f"{'layer':8} {'M x K x N':>18} {'cycles':>10} {'bound':>10} {'cyc/bound':>9} {'util':>6} {'DRAM bytes':>11}")
    for row in rows:
        shape = "x".join(map(str, row["shape"]))
        print(f"{row['name']:8} {shape:>18} {row['cycles']:10} {row['bound_cycles']:10} "
              f"{row['cycles'] / row['bound_cycles']:9.2f} {row['utilization']:6.1%} "
              f"{row['dram_bytes']:11}")  # fmt: skip
    cyc = sum(x["cycles"] for x in rows)
    print(f"{'total':8} {'':>18} {cyc:10} {sum(x['bound_cycles'] for x in rows):10} "
          f"{'':9} {sum(x['macs'] for x in rows) / (cyc * r['array'][0] * r['array'][1]):6.1%} "
          f"{sum(x['dram_bytes'] for x in rows):11}")  # fmt: skip
    print(f"partition: npu {r['partition']['npu']} ops, host {r['partition']['host']}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="gemmini")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--skip-smollm2", action="store_true")
    ap.add_argument("--fold-only", action="store_true", help="only the single-GEMM fold-formula table")
    args = ap.parse_args()
    torch.set_num_threads(1)
    fold_table()
    if args.fold_only:
        return

    model, inputs = prefill_inputs("minilm", args.seq)
    t0 = time.perf_counter()
    cm = qcomp.compile(model, inputs, target=targets.get("npu", preset=args.preset), recipe="w8a8")
    t_compile = time.perf_counter() - t0
    with torch.no_grad():
        t0 = time.perf_counter()
        got = cm(*inputs)
        t_sim = time.perf_counter() - t0
        want = qcomp.compile(model, inputs, target="cpu", recipe="w8a8")(*inputs)
    layer_table(cm, f"MiniLM W8A8, seq {args.seq}, first encoder block", 0, 6)
    r = cm.report["target"]
    print(f"whole model: {r['cycles']} cycles = {r['latency_s'] * 1e3:.3f} ms, utilization {r['utilization']:.1%}, "
          f"DRAM {r['dram_bytes']} B, roofline bound {r['bound_cycles']} cycles")  # fmt: skip
    print(f"MiniLM seq {args.seq} end to end: compile {t_compile:.1f} s, one simulated call {t_sim:.2f} s "
          f"(limit 60 s); bit-identical to CPU W8A8: {np.array_equal(got.numpy(), want.numpy())}")  # fmt: skip

    if not args.skip_smollm2:
        model, inputs = prefill_inputs("smollm2", args.seq)
        model.lm.model.layers = model.lm.model.layers[:1]  # one decoder layer (+ embedding, norm, LM head)
        model.lm.config.num_hidden_layers = 1
        cm = qcomp.compile(model, inputs, target=targets.get("npu", preset=args.preset), recipe="w8a8")
        layer_table(cm, f"SmolLM2-135M W8A8, seq {args.seq}, one decoder layer (+ LM head)")


if __name__ == "__main__":
    main()
