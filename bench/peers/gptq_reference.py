"""The GPTQ reference implementation's algorithm (IST-DASLab/gptq: quant.py, gptq.py, llama.py) in plain
PyTorch, as a g128 peer for bench/gptq.py on SmolLM2-135M (llm-compressor cannot do g128 there: see
llmcompressor_gptq.py). Needs torch and transformers only, not qcomp: runs in qcomp's venv or the peer's::

    .venv/bin/python bench/peers/gptq_reference.py --windows 16 --calib 8 [--wbits 4] [--group 128] [--asym]

What it reproduces, line for line where it matters:
- `Quantizer.find_params(weight=True)`: per row, xmin = min(x, 0), xmax = max(x, 0) (sym: xmax = max(|xmin|,
  xmax), xmin = -xmax; an all-zero row gets [-1, 1]); scale = (xmax - xmin) / maxq, maxq = 2^bits - 1; zero =
  (maxq + 1) / 2 (sym) or round(-xmin / scale); q = clamp(round(x / scale) + zero, 0, maxq), w = scale · (q - zero).
  So symmetric 4-bit is absmax / 7.5 on codes [-8, 7] (qcomp's: absmax / 7 on [-7, 7]).
- `GPTQ.fasterquant(blocksize=128, percdamp=.01, groupsize, actorder, static_groups)`: dead columns, damping,
  Cholesky of H⁻¹, lazy block updates; groups found at column (i1 + i) % groupsize == 0 from W[:, j : j + g]
  (the partial last group as it comes), or with static_groups from the original weight before any rounding.
- `llama_sequential`: decoder layer by decoder layer, each layer's inputs the outputs of the already quantized
  layers before it, all of a layer's linears from one pass (no --true-sequential). qcomp also quantizes the
  tied lm_head (a qc.linear), so this script quantizes an untied copy of it last, on the final norm's outputs.
"""

import argparse
import math
import os
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from protocol import digest, load_smollm2, perplexity, token_windows


class Quantizer:
    def __init__(self, bits: int, sym: bool):
        self.maxq, self.sym = 2**bits - 1, sym

    def find_params(self, x: torch.Tensor) -> "Quantizer":
        zero = torch.zeros(x.shape[0])
        xmin, xmax = torch.minimum(x.min(1).values, zero), torch.maximum(x.max(1).values, zero)
        if self.sym:
            xmax = torch.maximum(xmin.abs(), xmax)
            xmin = torch.where(xmin < 0, -xmax, xmin)
        dead = (xmin == 0) & (xmax == 0)
        xmin[dead], xmax[dead] = -1, 1
        self.scale = (xmax - xmin) / self.maxq
        self.zero = torch.full_like(self.scale, (self.maxq + 1) / 2) if self.sym else torch.round(-xmin / self.scale)
        return self


def fasterquant(w, h, bits, sym, groupsize, actorder, static_groups, blocksize=128, percdamp=0.01):
    """GPTQ.fasterquant of the reference on W [N, K] (float32) with H [K, K]; returns the quantized W."""
    w, h = w.clone().float(), h.clone().float()
    k = w.shape[1]
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    groups = []
    if static_groups:
        groups = [Quantizer(bits, sym).find_params(w[:, i : i + groupsize]) for i in range(0, k, groupsize)]
    quantizer = Quantizer(bits, sym).find_params(w)
    perm = None
    if actorder:
        perm = torch.argsort(torch.diag(h), descending=True)
        w, h = w[:, perm], h[perm][:, perm]
        invperm = torch.argsort(perm)
    q = torch.zeros_like(w)
    damp = percdamp * torch.mean(torch.diag(h))
    h[range(k), range(k)] += damp
    h = torch.linalg.cholesky(h)
    h = torch.cholesky_inverse(h)
    hinv = torch.linalg.cholesky(h, upper=True)
    for i1 in range(0, k, blocksize):
        i2 = min(i1 + blocksize, k)
        w1, q1, err1 = w[:, i1:i2].clone(), torch.zeros_like(w[:, i1:i2]), torch.zeros_like(w[:, i1:i2])
        hinv1 = hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col, d = w1[:, i], hinv1[i, i]
            if groupsize != -1:
                if not static_groups:
                    if (i1 + i) % groupsize == 0:
                        quantizer = Quantizer(bits, sym).find_params(w[:, (i1 + i) : (i1 + i + groupsize)])
                else:
                    idx = i1 + i
                    if actorder:
                        idx = perm[idx]
                    quantizer = groups[int(idx) // groupsize]
            qc = _q1(quantizer, col)
            q1[:, i] = qc
            e = (col - qc) / d
            w1[:, i:] -= e.unsqueeze(1).matmul(hinv1[i, i:].unsqueeze(0))
            err1[:, i] = e
        q[:, i1:i2] = q1
        w[:, i2:] -= err1.matmul(hinv[i1:i2, i2:])
    return q[:, invperm] if actorder else q


def _q1(quantizer: Quantizer, col: torch.Tensor) -> torch.Tensor:
    """One column through the reference's `quantize(x, scale, zero, maxq)` with per-row parameters."""
    q = torch.clamp(torch.round(col / quantizer.scale) + quantizer.zero, 0, quantizer.maxq)
    return quantizer.scale * (q - quantizer.zero)


def _hessians(mods, run):
    """Stream H = 2·XᵀX / rows (the reference's running average) of each module's input during `run()`."""
    acc = {m: [torch.zeros(m.in_features, m.in_features, dtype=torch.float64), 0] for m in mods}

    def hook(m, args):
        x = args[0].reshape(-1, args[0].shape[-1]).double()
        acc[m][0] += x.T @ x
        acc[m][1] += x.shape[0]

    hs = [m.register_forward_pre_hook(hook) for m in mods]
    try:
        run()
    finally:
        for h in hs:
            h.remove()
    return {m: (2 * a / max(n, 1)).float() for m, (a, n) in acc.items()}


def quantize_model(model, calw, args) -> None:
    layers = model.model.layers
    captured = []

    class _Catch(Exception):
        pass

    def catch(_m, a, kw):
        captured.append((a[0], kw))
        raise _Catch

    hook = layers[0].register_forward_pre_hook(catch, with_kwargs=True)
    with torch.no_grad():
        for c in calw:
            try:
                model(input_ids=c, use_cache=False)
            except _Catch:
                pass
    hook.remove()
    opts = (args.wbits, not args.asym, args.group or -1, True, True)  # bits, sym, groupsize, actorder, static
    inps = [x for x, _ in captured]

    def run_layer(layer):
        return [_first(layer(x, **kw)) for x, (_, kw) in zip(inps, captured, strict=True)]

    with torch.no_grad():
        for layer in layers:
            mods = [m for m in layer.modules() if isinstance(m, torch.nn.Linear)]
            hs = _hessians(mods, lambda layer=layer: run_layer(layer))
            for m in mods:
                m.weight.data = fasterquant(m.weight.data, hs[m], *opts)
            inps = run_layer(layer)
        head = model.lm_head
        hs = _hessians([head], lambda: [head(model.model.norm(x)) for x in inps])
        head.weight.data = fasterquant(head.weight.data, hs[head], *opts)


def _first(out):
    return out[0] if isinstance(out, tuple) else out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--calib", type=int, default=8, help="calibration windows")
    ap.add_argument("--wbits", type=int, default=4)
    ap.add_argument("--group", type=int, default=128)
    ap.add_argument("--asym", action="store_true", help="zero points (the reference's default; here: symmetric)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    model, tok = load_smollm2()
    wins, calw = token_windows(tok, args.windows, args.seq, args.calib)
    print(f"# GPTQ reference peer: {args.windows} windows x {args.seq} tokens, calibration {args.calib} windows")
    print(f"# eval windows sha256 {digest(wins)}, calibration windows sha256 {digest(calw)}")
    fp32 = perplexity(model, wins)
    print(f"# fp32 {fp32:.4f}", flush=True)
    start = time.perf_counter()
    quantize_model(model, calw, args)
    gptq_s = time.perf_counter() - start
    value = perplexity(model, wins)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    fmt = "asym" if args.asym else "sym"
    print(
        f"GPTQ reference w{args.wbits}a16 g{args.group} {fmt} act_order+static_groups sequential: ppl {value:.4f}  "
        f"x fp32 {value / fp32:.4f}  (GPTQ {gptq_s:.0f} s, peak RSS {rss:.2f} GiB)"
    )
    return 0 if math.isfinite(value) else 1


if __name__ == "__main__":
    sys.exit(main())
