"""A compiled fp8 build against the PyTorch emulation (`formats_fp8_ablation.py`), layer by layer, on the same windows.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/formats_fp8_layers.py [--model smollm2|tiny-llama] [--windows 2]
                                                                  [--seq 512] [--head] [--threads 1]

The build is `qc-quantize-float{wformat=fp8,aformat=fp8,keep_last=true}` (the LM head f32; --head quantizes it
too) with taps on qc.fp_fake_quant and qc.fp_wlinear. Per window: perplexity of fp32, the emulation and the
build; then per linear layer in program order: the build's fake quantization replayed through the reference on
the build's own input (`mism`: elements that differ, 0 = bit-identical), its GEMM against the reference on the
build's own operands (`gemm`: max relative difference, f32 summation order), and how far the build's input and
output of that layer are from the emulation's (`in`, `out`: max |diff| / max |emulated|). The first two say
whether the build computes the reference semantics; the last two show the two runs drifting apart as fp8
rounding amplifies 1-ulp f32 differences.
"""

import argparse
import math
import os
import sys
import time

import numpy as np
import torch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2", choices=["smollm2", "tiny-llama"])
    ap.add_argument("--windows", type=int, default=2)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--head", action="store_true", help="quantize the LM head too")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import qcomp
    from formats_fp8_ablation import FakeQuant, row_config
    from qcomp.dialects import formats as fmt
    from qcomp.evaluate import default_text, token_windows, window_nll
    from qcomp.recipes import Recipe

    if args.model == "smollm2":
        from qcomp.models import smollm2

        model, tok = smollm2()
        wins, _ = token_windows(tok, default_text(), args.windows, args.seq, 0)
    else:
        from qcomp.examples.models import tiny_llama

        model, _ = tiny_llama()
        g = torch.Generator().manual_seed(0)
        wins = [torch.randint(0, 256, (1, args.seq), generator=g) for _ in range(args.windows)]
    lm = model.lm if hasattr(model, "lm") else model
    row = "fp8" if args.head else "-head"
    pipe = "qc-quantize-float{wformat=fp8,aformat=fp8" + ("" if args.head else ",keep_last=true") + "},canonicalize"
    start = time.perf_counter()
    taps = ("qc.fp_fake_quant", "qc.fp_wlinear")
    cm = qcomp.compile(model, (wins[0],), recipe=Recipe("fp8-layers", 1, pipe), taps=taps)
    print(f"# {args.model}, {args.windows} windows x {args.seq} tokens, {pipe}; torch threads {args.threads}")
    print(f"# compiled in {time.perf_counter() - start:.0f} s")

    seen: dict = {}
    hooks = []
    for name, mod in lm.named_modules():
        if isinstance(mod, torch.nn.Linear):

            def hook(m, inp, out, name=name):
                seen[name] = (inp[0].detach().numpy().copy(), out.detach().numpy().copy())

            hooks.append(mod.register_forward_hook(hook))
    fq = FakeQuant(lm, row_config(row), None)
    emulated_w = {id(m): wq for m, wq in fq.weights.items()}
    fq.restore()
    names = {id(m): n for n, m in lm.named_modules()}
    for wi, w in enumerate(wins):
        with torch.no_grad():
            ref = model(w)
            fq = FakeQuant(lm, row_config(row), None)
            seen.clear()
            emu = model(w)
            fq.restore()
        outs, tapped = cm.run_with_taps(w)
        got = torch.from_numpy(np.asarray(outs[0]))
        n = w.shape[1] - 1
        f, e, c = (window_nll(x, w) / n for x in (ref, emu, got))
        print(
            f"window {wi}: ppl fp32 {math.exp(f):.4f}  emulation {math.exp(e):.4f} ({math.exp(e - f):.4f}x)"
            f"  compiled {math.exp(c):.4f} ({math.exp(c - f):.4f}x)"
        )
        fqs = [t for t in tapped if t[0].op == "qc.fp_fake_quant"]
        wls = [t for t in tapped if t[0].op == "qc.fp_wlinear"]
        print("  # layer                                    mism   gemm      in        out")
        for i, ((t, (x, wq, sc, b), (y,)), (tf, (xf,), (xq,))) in enumerate(zip(wls, fqs, strict=True)):
            qf = fmt.parse(t.attrs["format"])
            deq = fmt.dequantize_weight(
                wq, fmt.stored_scales(sc, qf), elem=qf.elem, group=t.attrs["group"], k=x.shape[-1]
            )
            match = [names[k] for k, v in emulated_w.items() if v.shape == deq.shape and np.array_equal(v, deq)]
            mism = int(np.sum(fmt.fp_fake_quant(xf, format=tf.attrs["format"]).view(np.int32) != xq.view(np.int32)))
            ref_y = fmt.fp_wlinear(x, wq, sc, b, format=t.attrs["format"], group=t.attrs["group"])
            gemm = float(np.abs(ref_y - y).max() / (np.abs(ref_y).max() + 1e-30))
            line = f"{i:3d} {match[0] if match else '?':40s} {mism:5d}  {gemm:.1e}"
            if match and match[0] in seen:
                xe, ye = seen[match[0]]
                d_in = float(np.abs(xe.reshape(xf.shape) - xf).max() / np.abs(xe).max())
                d_out = float(np.abs(ye.reshape(y.shape) - y).max() / np.abs(ye).max())
                line += f"  {d_in:.1e}  {d_out:.1e}"
            print(line, flush=True)
    for h in hooks:
        h.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
