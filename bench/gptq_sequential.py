"""Sequential vs one-pass GPTQ Hessians on SmolLM2-135M, with qcomp's GPTQ, evaluated in PyTorch.

    .venv/bin/python bench/gptq_sequential.py [--windows 4] [--calib 4] [--wbits 4] [--group 128] [--asym]
        [--search mse] [--damp 0.01] [--no-act-order] [--true-seq]

The rtn row rounds to nearest (min-max ranges, as qc-quantize without a search). The GPTQ rows quantize
every nn.Linear (lm_head included) with `qcomp.passes.gptq.gptq_quantize` (act-order, static groups: the
options of recipes w4a16-gptq[-asym] / w3a16-gptq) and put the dequantized f32 weights into a copy of the
PyTorch model (`qcomp.sequential.gptq_model`); perplexity as bench/gptq.py. "one pass": every Hessian
from the float model (what calibrate(hessian=True) gives qc-gptq); "sequential": block b's Hessians from the
model whose blocks < b are already quantized (calibrate(hessian="sequential")). The compiled model runs these
same weights (qc-quantize stores GPTQ's codes, the CPU dequantizes them bit-exactly), so its perplexity
differs only by f32 summation order; this skips the compile (minutes per row on a loaded 2-core machine).
"""

import argparse
import os
import resource
import sys
import time

import torch


def _rtn(model, bits: int, group: int, sym: bool):
    """A copy of `model` with every nn.Linear rounded to nearest as qc-quantize{abits=16} stores it (min-max
    ranges; sym=false: zero points, no MSE search)."""
    import copy

    from qcomp.dialects import reference as ref
    from qcomp.dialects import reference_asym as ra

    work = copy.deepcopy(model)
    for m in [m for m in work.modules() if isinstance(m, torch.nn.Linear)]:
        w = m.weight.detach().numpy()
        if sym:
            q, s = ref.quantize_weight_grouped(w, bits=bits, group=group)
            d = ref.dequantize_weight(q, s, bits=bits, group=group, k=w.shape[1])
        else:
            q, s, z = ra.quantize_weight_grouped_asym(w, bits=bits, group=group)
            d = ra.dequantize_weight_asym(q, s, z, bits=bits, group=group, k=w.shape[1])
        m.weight = torch.nn.Parameter(torch.from_numpy(d))
    return work


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--calib", type=int, default=4)
    ap.add_argument("--wbits", type=int, default=4)
    ap.add_argument("--group", type=int, default=128)
    ap.add_argument("--asym", action="store_true")
    ap.add_argument("--search", default="none", choices=["none", "mse"], help="qc-gptq's group range search")
    ap.add_argument("--damp", type=float, default=0.01)
    ap.add_argument("--no-act-order", dest="act_order", action="store_false")
    ap.add_argument("--true-seq", action="store_true", help="sequential within a block too (q/k/v, o, gate/up, down)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--rows",
        default="rtn,one,seq",
        help="which rows: rtn, rtnsym (symmetric RTN whatever --asym), one (one pass), seq (sequential)",
    )
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    from qcomp.evaluate import default_text, perplexity, token_windows
    from qcomp.models import REAL
    from qcomp.sequential import gptq_model

    model, tok = REAL["smollm2"]()
    wins, calw = token_windows(tok, default_text(), args.windows, args.seq, args.calib)
    with torch.no_grad():
        fp32 = perplexity(model, wins)[0]
    opts = {
        "wbits": args.wbits,
        "group": args.group,
        "act_order": args.act_order,
        "static_groups": True,
        "sym": not args.asym,
        "search": args.search,
        "damp": args.damp,
    }
    extra = ", true-sequential" if args.true_seq else ""
    print(f"# smollm2 {args.windows} windows x {args.seq}, calibration {args.calib}; fp32 {fp32:.4f}; {opts}{extra}")
    rows = args.rows.split(",")
    for row, sym in (("rtn", not args.asym), ("rtnsym", True)):  # rtnsym: the baseline (symmetric RTN)
        if row in rows:
            with torch.no_grad():
                value = perplexity(_rtn(model, args.wbits, args.group, sym), wins)[0]
            print(f"{row:10s} ppl {value:.4f}  x fp32 {value / fp32:.4f}", flush=True)
    for name, sequential in [r for r in (("one pass", False), ("sequential", True)) if r[0][:3] in rows]:
        start = time.perf_counter()
        _, q = gptq_model(model, [(c,) for c in calw], opts, sequential=sequential, true_sequential=args.true_seq)
        gptq_s = time.perf_counter() - start
        with torch.no_grad():
            value = perplexity(q, wins)[0]
        print(f"{name:10s} ppl {value:.4f}  x fp32 {value / fp32:.4f}  (GPTQ {gptq_s:.0f} s)", flush=True)
        del q
    print(f"# peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
