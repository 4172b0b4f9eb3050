"""Where SmolLM2's FP8 W8A8 error comes from: each linear layer fake-quantized in PyTorch with qcomp's reference
(`qcomp.dialects.formats`), one variable changed per row, perplexity ratio to fp32 measured side by side.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/formats_fp8_ablation.py [--windows 8] [--seq 512] [--rows all|A,B]
                                                                    [--threads 2]

No compile: each `nn.Linear`'s forward becomes x̂·Ŵᵀ + b with Ŵ = dequantize(quantize(W)) and x̂ the
activation fake-quantization (dynamic per token / per tensor, or static per tensor from min-max calibration on
`--calib` windows after the evaluation windows), exactly the values `qc.fp_wlinear` and `qc.fp_fake_quant` use
(the compiled build's product runs in f32 as here). The numbers are what the recipes would measure, up to f32
summation order. Rows:
- fp8: e4m3 weights per channel, e4m3 activations per token (the `fp8` recipe), every linear incl. lm_head.
- w-only / a-only: one side quantized.
- -<kind>: the fp8 row with that kind of layer left f32 (q k v o gate up down head).
- head-w / head-a: lm_head with only its weights / only its activations in fp8.
- a-tensor / a-static: activations per tensor, dynamic / static; a-e5m2: e5m2 activations per token.
- w-tensor: one weight scale per tensor.
- int8: symmetric int8 per channel / per token (`w8a8`), for comparison.
"""

import argparse
import math
import os
import platform
import sys
import time

import numpy as np
import torch

KINDS = {
    "q": "q_proj",
    "k": "k_proj",
    "v": "v_proj",
    "o": "o_proj",
    "gate": "gate_proj",
    "up": "up_proj",
    "down": "down_proj",
    "head": "lm_head",
}


def int8_fake(x: np.ndarray) -> np.ndarray:
    """Symmetric int8 along the last dim, scale amax/127, round half to even (qc-quantize's semantics)."""
    amax = np.max(np.abs(x), axis=-1, keepdims=True)
    s = np.where(amax == 0, np.float32(1), amax / np.float32(127)).astype(np.float32)
    return (np.clip(np.rint(x * (np.float32(1) / s)), -127, 127) * s).astype(np.float32)


def row_config(name: str) -> dict:
    """Per-row settings: weight format, activation format, static, f32 kinds, per-kind overrides."""
    c = {"w": "fp8", "a": "fp8", "static": False, "skip": set(), "head_w": True, "head_a": True, "int8": False}
    if name == "fp8":
        pass
    elif name == "w-only":
        c["a"] = None
    elif name == "a-only":
        c["w"] = None
    elif name.startswith("-"):
        c["skip"] = {KINDS[k] for k in name[1:].split("-")}
    elif name == "head-w":
        c["head_a"] = False
    elif name == "head-a":
        c["head_w"] = False
    elif name == "a-tensor":
        c["a"] = "e4m3:f32:tensor"
    elif name == "a-static":
        c["a"], c["static"] = "e4m3:f32:tensor", True
    elif name == "a-e5m2":
        c["a"] = "fp8_e5m2"
    elif name == "w-tensor":
        c["w"] = "e4m3:f32:tensor"
    elif name == "int8":
        c["int8"] = True
    else:
        raise SystemExit(f"unknown row {name!r}")
    return c


class FakeQuant:
    """Patches every nn.Linear of a model with the row's fake quantization; `restore()` undoes it."""

    def __init__(self, model, cfg: dict, amax: dict | None):
        from qcomp.dialects import formats as fmt

        self.saved = []
        for name, mod in model.named_modules():
            if not isinstance(mod, torch.nn.Linear):
                continue
            kind = name.rsplit(".", 1)[-1]
            if kind in cfg["skip"]:
                continue
            w = mod.weight.detach().numpy()
            wfmt = cfg["w"] if (kind != "lm_head" or cfg["head_w"]) else None
            afmt = cfg["a"] if (kind != "lm_head" or cfg["head_a"]) else None
            if cfg["int8"]:
                wq = int8_fake(w)
                act = int8_fake
            else:
                if wfmt:
                    qf = fmt.parse(wfmt)
                    codes, s = fmt.quantize_weight(w, qf)
                    wq = fmt.dequantize_weight(codes, s, elem=qf.elem, group=qf.group(w.shape[1]), k=w.shape[1])
                else:
                    wq = w
                act = self._act(fmt, afmt, cfg["static"], amax.get(name) if amax else None)
            self.saved.append((mod, mod.forward))
            mod.forward = self._forward(torch.from_numpy(np.ascontiguousarray(wq)), mod.bias, act)

    @staticmethod
    def _act(fmt, afmt, static, amax):
        if afmt is None:
            return None
        qf = fmt.parse(afmt)
        if static:
            scale = fmt.scales(np.float32(amax), qf).reshape(1)
            return lambda x: fmt.fake_quantize(x, qf, scale)
        return lambda x: fmt.fake_quantize(x, qf)

    @staticmethod
    def _forward(wq, bias, act):
        def fwd(x):
            if act is not None:
                x = torch.from_numpy(act(x.detach().numpy()))
            return torch.nn.functional.linear(x, wq, bias)

        return fwd

    def restore(self):
        for mod, fwd in self.saved:
            mod.forward = fwd


def absmax_per_linear(model, windows) -> dict:
    """max |x| of each nn.Linear's input over the calibration windows (min-max, as qc.act_absmax)."""
    amax, hooks = {}, []
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):

            def hook(m, inp, out, name=name):
                amax[name] = max(amax.get(name, 0.0), float(inp[0].abs().max()))

            hooks.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        for w in windows:
            model(w)
    for h in hooks:
        h.remove()
    return amax


ROWS = (
    "fp8",
    "w-only",
    "a-only",
    "-head",
    "head-w",
    "head-a",
    "-q",
    "-k",
    "-v",
    "-o",
    "-gate",
    "-up",
    "-down",
    "a-tensor",
    "a-static",
    "a-e5m2",
    "w-tensor",
    "int8",
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--calib", type=int, default=4)
    ap.add_argument("--rows", default="all")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    from qcomp.evaluate import default_text, token_windows, window_nll
    from qcomp.models import smollm2

    model, tok = smollm2()
    lm = model.lm if hasattr(model, "lm") else model
    wins, cal = token_windows(tok, default_text(), args.windows, args.seq, args.calib)
    names = ROWS if args.rows == "all" else tuple(args.rows.split(","))
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}")
    print(f"# SmolLM2-135M, {args.windows} windows x {args.seq} tokens; static scales from {args.calib} windows")

    def nlls():
        with torch.no_grad():
            return np.array([window_nll(model(w), w) / (w.shape[1] - 1) for w in wins])

    ref = nlls()
    amax = absmax_per_linear(lm, cal) if "a-static" in names else None
    print(f"fp32 ppl {math.exp(ref.mean()):.4f}  (per window: {', '.join(f'{math.exp(v):.2f}' for v in ref)})")
    out = []
    for name in names:
        start = time.perf_counter()
        fq = FakeQuant(lm, row_config(name), amax)
        try:
            got = nlls()
        finally:
            fq.restore()
        ratio = math.exp(got.mean() - ref.mean())
        spread = np.exp(got - ref)
        out.append((name, math.exp(got.mean()), ratio, spread.min(), spread.max()))
        print(
            f"{name:10s} ppl {out[-1][1]:9.4f}  ratio {ratio:.4f}  per-window ratio {spread.min():.4f}..{spread.max():.4f}"
            f"  ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    print()
    print("| row | ppl | × fp32 | per-window × fp32 (min..max) |")
    print("|---|---|---|---|")
    for name, ppl, ratio, lo, hi in out:
        print(f"| {name} | {ppl:.4f} | {ratio:.4f} | {lo:.4f}..{hi:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
