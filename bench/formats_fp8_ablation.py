"""Where SmolLM2's FP8 W8A8 error comes from: each linear layer fake-quantized in PyTorch with qcomp's reference
(`qcomp.dialects.formats`), one variable changed per row, perplexity ratio to fp32 measured side by side.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/formats_fp8_ablation.py [--windows 8] [--seq 512] [--rows all|A,B]
                                                                    [--threads 2]

No compile: each `nn.Linear`'s forward becomes x̂·Ŵᵀ + b with Ŵ = dequantize(quantize(W)) and x̂ the
activation fake-quantization (dynamic per token / per tensor, or static per tensor from min-max calibration on
`--calib` windows after the evaluation windows), exactly the values `qc.fp_wlinear` and `qc.fp_fake_quant` use
(the compiled build's product runs in f32 as here). The numbers are what the recipes would measure, up to f32
summation order. A row is '+'-joined modifiers of the `fp8` recipe (e4m3 weights per channel, e4m3
activations per token, every linear incl. lm_head), e.g. `fp8`, `-head`, `-head+gptq`:
- w-only / a-only: one side quantized.
- -<kind>: that kind of layer left f32 (q k v o gate up down head).
- a32-<kind>: that kind of layer keeps fp8 weights with f32 activations (W8A16).
- head-w / head-a: lm_head with only its weights / only its activations in fp8.
- a-tensor / a-static: activations per tensor, dynamic / static; a-e5m2: e5m2 activations per token.
- w-tensor: one weight scale per tensor.
- gptq: weights rounded by GPTQ onto the e4m3 grid (`passes/float_gptq.py`; Hessians of the fp32 model's
  inputs over the calibration windows), scales those of round-to-nearest.
- f64: the product x̂·Ŵᵀ + b in float64, rounded to f32 once: the same quantized model with other f32 roundings
  (as a compiled build's summation order differs from PyTorch's); fp8's rounding amplifies such 1-ulp differences
  from layer to layer, so the row measures the run-to-run noise of a ratio.
- smooth / smooth<α>: SmoothQuant before the casts (`passes/smooth.py`'s s = max|X_j|^α / max|W_:,j|^(1−α), α 0.5
  by default, max|X_j| over the calibration windows, max|W_:,j| over the layers sharing the input: q/k/v, gate/up):
  x/s is fake-quantized and W·diag(s) quantized, what qc-smooth folding 1/s into the producer gives.
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
    """Per-row settings from '+'-joined modifiers (see the module docstring)."""
    c = {"w": "fp8", "a": "fp8", "static": False, "skip": set(), "head_w": True, "head_a": True, "int8": False}
    c["a32"] = set()
    c["gptq"], c["smooth"], c["f64"] = False, None, False
    for mod in name.split("+"):
        if mod == "fp8":
            pass
        elif mod == "w-only":
            c["a"] = None
        elif mod == "a-only":
            c["w"] = None
        elif mod.startswith("a32-"):
            c["a32"] |= {KINDS[k] for k in mod[4:].split("-")}
        elif mod.startswith("-"):
            c["skip"] |= {KINDS[k] for k in mod[1:].split("-")}
        elif mod == "head-w":
            c["head_a"] = False
        elif mod == "head-a":
            c["head_w"] = False
        elif mod == "a-tensor":
            c["a"] = "e4m3:f32:tensor"
        elif mod == "a-static":
            c["a"], c["static"] = "e4m3:f32:tensor", True
        elif mod == "a-e5m2":
            c["a"] = "fp8_e5m2"
        elif mod == "w-tensor":
            c["w"] = "e4m3:f32:tensor"
        elif mod == "gptq":
            c["gptq"] = True
        elif mod == "int8":
            c["int8"] = True
        elif mod == "f64":
            c["f64"] = True
        elif mod.startswith("smooth"):
            c["smooth"] = float(mod[len("smooth") :] or 0.5)
        else:
            raise SystemExit(f"unknown row modifier {mod!r} in {name!r}")
    return c


def _fp8_per_token(x: torch.Tensor) -> torch.Tensor:
    """`formats.fake_quantize(x, fp8)` through torch's float8_e4m3fn cast (RNE; the operands are within ±448
    after the scale): the same f32 operations, bit-identical to the reference (checked on heavy-tailed data)."""
    s = x.abs().amax(-1, keepdim=True) / 448.0
    s = torch.where(s == 0, torch.ones_like(s), s)
    return (x * (1.0 / s)).to(torch.float8_e4m3fn).float() * s


class FakeQuant:
    """Patches every nn.Linear of a model with the row's fake quantization; `restore()` undoes it."""

    def __init__(self, model, cfg: dict, amax: dict | None, hessians: dict | None = None, camax: dict | None = None):
        from qcomp.dialects import formats as fmt
        from qcomp.passes.float_gptq import gptq_float

        self.saved, self.weights = [], {}  # weights: each patched module's Ŵ (numpy)
        smooth = smoothing(model, camax, cfg["smooth"]) if cfg["smooth"] is not None else {}
        for name, mod in model.named_modules():
            if not isinstance(mod, torch.nn.Linear):
                continue
            kind = name.rsplit(".", 1)[-1]
            if kind in cfg["skip"]:
                continue
            w = mod.weight.detach().numpy()
            sm = smooth.get(name)
            h = hessians[name] if cfg["gptq"] else None
            a_max = amax.get(name) if amax else None
            if sm is not None:  # the layer sees x / s: its weight, Hessian and static range follow
                w = (w * sm[None, :]).astype(np.float32)
                h = None if h is None else h / np.outer(sm, sm)
                a_max = float(np.max(camax[name] / sm))
            wfmt = cfg["w"] if (kind != "lm_head" or cfg["head_w"]) else None
            afmt = cfg["a"] if (kind != "lm_head" or cfg["head_a"]) and kind not in cfg["a32"] else None
            if cfg["int8"]:
                wq = int8_fake(w)
                act = int8_fake
            else:
                if wfmt:
                    qf = fmt.parse(wfmt)
                    if cfg["gptq"]:
                        codes, s = gptq_float(w, h, qf)
                    else:
                        codes, s = fmt.quantize_weight(w, qf)
                    wq = fmt.dequantize_weight(codes, s, elem=qf.elem, group=qf.group(w.shape[1]), k=w.shape[1])
                else:
                    wq = w
                act = self._act(fmt, afmt, cfg["static"], a_max)
            self.saved.append((mod, mod.forward))
            self.weights[mod] = wq
            inv = None if sm is None else torch.from_numpy((np.float32(1) / sm).astype(np.float32))
            mod.forward = self._forward(torch.from_numpy(np.ascontiguousarray(wq)), mod.bias, act, inv, cfg["f64"])

    @staticmethod
    def _act(fmt, afmt, static, amax):
        if afmt is None:
            return None
        qf = fmt.parse(afmt)
        if static:
            scale = fmt.scales(np.float32(amax), qf).reshape(1)
            return lambda x: fmt.fake_quantize(x, qf, scale)
        if qf == fmt.parse("fp8"):
            return _fp8_per_token
        return lambda x: fmt.fake_quantize(x, qf)

    @staticmethod
    def _forward(wq, bias, act, inv_s=None, f64=False):
        w64 = wq.double() if f64 else None
        b64 = None if bias is None or not f64 else bias.detach().double()

        def fwd(x):
            if inv_s is not None:
                x = x * inv_s
            if act is _fp8_per_token:
                x = act(x)
            elif act is not None:
                x = torch.from_numpy(act(x.detach().numpy()))
            if w64 is not None:
                return torch.nn.functional.linear(x.double(), w64, b64).float()
            return torch.nn.functional.linear(x, wq, bias)

        return fwd

    def restore(self):
        for mod, fwd in self.saved:
            mod.forward = fwd


GROUPS = {"q_proj": "attn_in", "k_proj": "attn_in", "v_proj": "attn_in", "gate_proj": "mlp_in", "up_proj": "mlp_in"}


def smoothing(model, camax: dict, alpha: float) -> dict:
    """SmoothQuant scales s [K] per nn.Linear (`passes/smooth.py`'s formula), max|W_:,j| over the layers that
    share the input (GROUPS)."""
    from qcomp.passes.smooth import smoothing_scale

    groups: dict = {}
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):
            parent, _, kind = name.rpartition(".")
            groups.setdefault(f"{parent}.{GROUPS.get(kind, kind)}", []).append((name, mod))
    out = {}
    for members in groups.values():
        wmax = np.max([m.weight.detach().abs().amax(0).numpy() for _, m in members], axis=0)
        s = smoothing_scale(camax[members[0][0]], wmax, alpha)
        out.update({name: s for name, _ in members})
    return out


def input_stats(model, windows) -> tuple[dict, dict, dict]:
    """Per nn.Linear input over the calibration windows: max |x| (min-max, as qc.act_absmax), the
    Hessian 2·XᵀX / rows (as qc.act_hessian, float64) and max |x| per input channel."""
    amax, hess, rows, hooks, camax = {}, {}, {}, [], {}
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):

            def hook(m, inp, out, name=name):
                x = inp[0].detach().reshape(-1, inp[0].shape[-1]).double()
                amax[name] = max(amax.get(name, 0.0), float(x.abs().max()))
                cm = x.abs().amax(0).float().numpy()
                camax[name] = np.maximum(camax[name], cm) if name in camax else cm
                hess[name] = hess.get(name, 0) + 2 * (x.T @ x)
                rows[name] = rows.get(name, 0) + x.shape[0]

            hooks.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        for w in windows:
            model(w)
    for h in hooks:
        h.remove()
    return amax, {n: (h / rows[n]).numpy() for n, h in hess.items()}, camax


ROWS = ("fp8", "-head", "-head+w-only", "-head+a-only", "-head+gptq", "gptq", "int8")


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
    need = any("a-static" in n or "gptq" in n or "smooth" in n for n in names)
    amax, hessians, camax = input_stats(lm, cal) if need else (None, None, None)
    print(f"fp32 ppl {math.exp(ref.mean()):.4f}  (per window: {', '.join(f'{math.exp(v):.2f}' for v in ref)})")
    out = []
    for name in names:
        start = time.perf_counter()
        fq = FakeQuant(lm, row_config(name), amax, hessians, camax)
        try:
            got = nlls()
        finally:
            fq.restore()
        ratio = math.exp(got.mean() - ref.mean())
        spread = np.exp(got - ref)
        out.append((name, math.exp(got.mean()), ratio, spread.min(), spread.max()))
        print(
            f"{name:14s} ppl {out[-1][1]:9.4f}  ratio {ratio:.4f}"
            f"  per-window {spread.min():.4f}..{spread.max():.4f}  ({time.perf_counter() - start:.0f} s)",
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
