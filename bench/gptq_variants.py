"""Low-bit GPTQ variants on SmolLM2-135M emulated in PyTorch: rotation, SmoothQuant, per-token int8 activations.

    .venv/bin/python bench/gptq_variants.py [--windows 16] [--calib 8] [--wbits 4]
        [--variants gptq:g0:sym:a8,gptq:g0:sym:a8:rot,...] [--true-seq] [--damp 0.01] [--heads q,f32,w8]

A variant is colon-separated: `rtn` or `gptq` (qcomp's sequential GPTQ, act-order, static groups, search=mse,
`qcomp.sequential.gptq_model`), `g<N>` (group; g0: one per output channel), `sym` | `asym`, `a8` (every
nn.Linear's input fake-quantized to int8 per token as `reference.quantize_dynamic` does: what qc.qlinear
computes with the W4A8 recipes' `granularity=per_token`) | `a16` (float activations), optional `rot` (the residual
stream rotated by qc-rotate{kind=hadamard}'s matrix `passes.rotate.rotation`, RMSNorm gains folded into the
readers, lm_head untied: what qc-rotate does to the graph), optional `sm<alpha>` (SmoothQuant with that alpha on
q/k/v, gate/up and down_proj, scales from the calibration windows' max|x| per input channel, folded into the
norms and up_proj as qc-smooth folds them). `none:a8` is float weights with int8 activations (the activation
floor). rtn: round to nearest with min-max ranges (as qc-quantize without a search).

Each row is the perplexity on the issue's protocol (qcomp.evaluate's windows) and its ratio to fp32, all in one
run. The compiled builds store the same integer codes (qc-quantize reads GPTQ's recorded ranges back), so they
differ from these rows only by f32 summation order and where a variant has no compiled form (int8 activations
with grouped or asymmetric int4 weights: qc.qlinear holds symmetric per-output-channel weights).

Measured (2-core x86_64 shared at load 8-20, one thread; 16 windows x 512, 8 calibration windows, fp32 29.2318):
    --variants gptq:g0:sym:a8:rot,none:a8:rot      W4A8: 34.5103 (1.1806x; GPTQ 1408 s), int8 floor 29.5842 (1.0121x)
    --variants none:a8,rtn:g0:sym:a8:rot,none:a8:rot:sm0.5   int8 floor 30.2856 (1.0360x) unrotated, 29.3655
        (1.0046x) rotated + SmoothQuant 0.5; W4A8 RTN rotated 214.79 (7.35x)
bench/gptq_sequential.py --wbits 3 --asym --search mse (sequential GPTQ g128, zero points): W3A16 49.5246 (1.6942x;
RTN asym 277.49, 9.49x; GPTQ 2013 s, peak RSS 3.1 GiB).
Later (2-core AMD EPYC, load 1-3, one thread; fp32 29.2318; docs/accuracy.md has the whole table):
    --calib 48 --variants gptq:g128:asym:a8:rot     W4A8 zero points g128 rotated: 33.2160 (1.1363x; 1057 s, 3.9 GiB)
    --calib 48 --variants gptq:g128:sym:a8:rot      W4A8 symmetric g128 rotated: 34.5794 (1.1829x)
    --variants gptq:g128:sym:a8:rot:sm0.5           + SmoothQuant 0.5 (8 windows): 35.8945 (1.2279x)
    --wbits 3 --calib 48 --true-seq --variants gptq:g128:asym:a16 --heads q,f32,w8
                                                    W3A16 47.6351 (1.6296x); head f32 44.7644 (1.5314x); head int8
                                                    44.7840 (1.5320x) (1227 s, 3.4 GiB)
"""

import argparse
import copy
import os
import platform
import resource
import sys
import time

import numpy as np
import torch


def _put(mod, w: torch.Tensor) -> None:
    mod.weight = torch.nn.Parameter(w.to(torch.float32).contiguous(), requires_grad=False)


def rotated(model, q: np.ndarray):
    """A copy of the logits wrapper of a LLaMA whose residual stream is rotated by the orthogonal q (f64):
    E -> E Q, readers W -> W diag(gamma) Q with gamma -> 1, writers W -> Qᵀ W, lm_head untied (qc-rotate)."""
    m = copy.deepcopy(model)
    lm = m.lm
    qt = torch.from_numpy(q)
    with torch.no_grad():
        head = lm.lm_head.weight.double().clone()
        _put(lm.model.embed_tokens, lm.model.embed_tokens.weight.double() @ qt)
        for layer in lm.model.layers:
            a, mlp = layer.self_attn, layer.mlp
            for lin, norm in [(x, layer.input_layernorm) for x in (a.q_proj, a.k_proj, a.v_proj)] + [
                (x, layer.post_attention_layernorm) for x in (mlp.gate_proj, mlp.up_proj)
            ]:
                _put(lin, lin.weight.double() * norm.weight.double() @ qt)
            for lin in (a.o_proj, mlp.down_proj):
                _put(lin, qt.T @ lin.weight.double())
            for norm in (layer.input_layernorm, layer.post_attention_layernorm):
                _put(norm, torch.ones_like(norm.weight))
        _put(lm.lm_head, head * lm.model.norm.weight.double() @ qt)
        _put(lm.model.norm, torch.ones_like(lm.model.norm.weight))
    lm.config.tie_word_embeddings = False
    return m


def _input_absmax(model, linears: list, calw: list) -> dict[int, torch.Tensor]:
    """max|x| per input channel of each of `linears` over the calibration windows."""
    out: dict[int, torch.Tensor] = {}

    def hook(mod, args):
        x = args[0].detach().reshape(-1, args[0].shape[-1]).abs().amax(0)
        out[id(mod)] = torch.maximum(out[id(mod)], x) if id(mod) in out else x

    hs = [m.register_forward_pre_hook(hook) for m in linears]
    try:
        with torch.no_grad():
            for w in calw:
                model(w)
    finally:
        for h in hs:
            h.remove()
    return out


def smoothed(model, calw: list, alpha: float):
    """A copy with SmoothQuant scales s = max|x|^α / max|W|^(1-α) (>= 1e-5; 1 for silent channels) on q/k/v
    (1/s into input_layernorm), gate/up (into post_attention_layernorm) and down_proj (into up_proj's rows)."""
    m = copy.deepcopy(model)
    lm = m.lm
    groups = []
    for layer in lm.model.layers:
        a, mlp = layer.self_attn, layer.mlp
        groups.append(([a.q_proj, a.k_proj, a.v_proj], layer.input_layernorm, "norm"))
        groups.append(([mlp.gate_proj, mlp.up_proj], layer.post_attention_layernorm, "norm"))
        groups.append(([mlp.down_proj], mlp.up_proj, "rows"))
    xmax = _input_absmax(m, [x for g in groups for x in g[0]], calw)
    with torch.no_grad():
        for lins, prev, how in groups:
            xm = torch.stack([xmax[id(x)] for x in lins]).amax(0).double()
            wm = torch.stack([x.weight.detach().abs().amax(0) for x in lins]).amax(0).double()
            s = (xm**alpha / wm.clamp_min(1e-12) ** (1 - alpha)).clamp_min(1e-5)
            s = torch.where(xm == 0, torch.ones_like(s), s)
            for x in lins:
                _put(x, x.weight.double() * s[None, :])
            if how == "norm":
                _put(prev, prev.weight.double() / s)
            else:
                _put(prev, prev.weight.double() / s[:, None])
    return m


def fake_quant_tokens(x: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """`reference.quantize_dynamic(per_token)` then dequantize: scale = max|x| / qmax per row (1 where 0),
    q = clamp(roundeven(x · (1/scale)))."""
    qmax = (1 << (bits - 1)) - 1
    s = x.abs().amax(-1, keepdim=True) / qmax
    s = torch.where(s == 0, torch.ones_like(s), s)
    return torch.clamp(torch.round(x * (1.0 / s)), -qmax, qmax) * s


def with_int8_inputs(model, skip=None) -> list:
    """Hooks that fake-quantize every nn.Linear's input per token but `skip`'s (remove them to undo)."""
    return [
        m.register_forward_pre_hook(lambda mod, args: (fake_quant_tokens(args[0]), *args[1:]))
        for m in model.modules()
        if isinstance(m, torch.nn.Linear) and m is not skip
    ]


def _head(w: torch.Tensor, how: str) -> torch.nn.Parameter:
    """The LM head's weight kept f32 (`f32`: weight and input float) or int8 per output channel, round to nearest
    (`w8`, as qc-quantize{wbits=8} stores it)."""
    from qcomp.dialects import reference as ref

    if how == "f32":
        return torch.nn.Parameter(w.detach().clone(), requires_grad=False)
    if how != "w8":
        sys.exit(f"--heads: q, f32 or w8, got {how!r}")
    a = w.detach().numpy()
    q, s = ref.quantize_weight_grouped(a, bits=8, group=a.shape[1])
    return torch.nn.Parameter(torch.from_numpy(ref.dequantize_weight(q, s, bits=8, group=a.shape[1], k=a.shape[1])))


def _rtn(model, bits: int, group: int, sym: bool):
    from qcomp.dialects import reference as ref
    from qcomp.dialects import reference_asym as ra

    work = copy.deepcopy(model)
    for m in [m for m in work.modules() if isinstance(m, torch.nn.Linear)]:
        w = m.weight.detach().numpy()
        g = group or w.shape[1]
        if sym:
            q, s = ref.quantize_weight_grouped(w, bits=bits, group=g)
            d = ref.dequantize_weight(q, s, bits=bits, group=g, k=w.shape[1])
        else:
            q, s, z = ra.quantize_weight_grouped_asym(w, bits=bits, group=g)
            d = ra.dequantize_weight_asym(q, s, z, bits=bits, group=g, k=w.shape[1])
        m.weight = torch.nn.Parameter(torch.from_numpy(d))
    return work


def parse_variant(text: str) -> dict:
    parts = text.split(":")
    v = {"method": parts[0], "group": 128, "sym": True, "abits": 16, "rot": False, "alpha": None}
    if v["method"] not in ("rtn", "gptq", "none"):
        sys.exit(f"variant {text!r}: starts with rtn, gptq or none")
    for p in parts[1:]:
        if p.startswith("g") and p[1:].isdigit():
            v["group"] = int(p[1:])
        elif p in ("sym", "asym"):
            v["sym"] = p == "sym"
        elif p in ("a8", "a16"):
            v["abits"] = int(p[1:])
        elif p == "rot":
            v["rot"] = True
        elif p.startswith("sm"):
            v["alpha"] = float(p[2:])
        else:
            sys.exit(f"variant {text!r}: unknown part {p!r}")
    return v


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--calib", type=int, default=8)
    ap.add_argument("--wbits", type=int, default=4)
    ap.add_argument("--damp", type=float, default=0.01)
    ap.add_argument("--true-seq", action="store_true")
    ap.add_argument(
        "--heads",
        default="q",
        help="LM head variants scored on each quantized model: q (as quantized), f32 (kept float, as peers' "
        "recipes ignore lm_head), w8 (int8 per channel, round to nearest)",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fp32", type=float, help="the fp32 perplexity of these windows, measured before (saves one run)")
    ap.add_argument("--variants", default="none:a8,rtn:g0:sym:a8,gptq:g0:sym:a8,gptq:g0:sym:a8:rot")
    args = ap.parse_args()
    variants = [(t, parse_variant(t)) for t in args.variants.split(",")]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    from qcomp.evaluate import default_text, perplexity, token_windows
    from qcomp.models import REAL
    from qcomp.passes.rotate import rotation
    from qcomp.sequential import gptq_model

    model, tok = REAL["smollm2"]()
    wins, calw = token_windows(tok, default_text(), args.windows, args.seq, args.calib)
    if args.fp32 is None:
        with torch.no_grad():
            fp32 = perplexity(model, wins)[0]
    else:
        fp32 = args.fp32
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}, load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"# smollm2 {args.windows} windows x {args.seq}, calib {args.calib}, wbits {args.wbits}, fp32 {fp32:.4f}"
        + (" (given)" if args.fp32 else "")
    )
    rot = None
    for text, v in variants:
        start = time.perf_counter()
        base = model
        if v["rot"]:
            rot = rot or rotated(model, rotation(model.lm.config.hidden_size, "hadamard", 0))
            base = rot
        if v["alpha"] is not None:
            base = smoothed(base, calw, v["alpha"])
        if v["method"] == "rtn":
            q = _rtn(base, args.wbits, v["group"], v["sym"])
        elif v["method"] == "gptq":
            opts = {
                "wbits": args.wbits,
                "group": v["group"],
                "act_order": True,
                "static_groups": True,
                "sym": v["sym"],
                "search": "mse",
                "damp": args.damp,
            }
            q = gptq_model(base, [(c,) for c in calw], opts, true_sequential=args.true_seq)[1]
        else:
            q = base
        quantized_head = q.lm.lm_head.weight
        for head in args.heads.split(","):
            name = text if head == "q" else f"{text}:head-{head}"
            with torch.no_grad():
                q.lm.lm_head.weight = quantized_head if head == "q" else _head(base.lm.lm_head.weight, head)
            hooks = with_int8_inputs(q, skip=q.lm.lm_head if head == "f32" else None) if v["abits"] == 8 else []
            with torch.no_grad():
                value = perplexity(q, wins)[0]
            for h in hooks:
                h.remove()
            took = time.perf_counter() - start
            print(f"{name:28s} ppl {value:.4f}  x fp32 {value / fp32:.4f}  ({took:.0f} s)", flush=True)
        del q
    print(f"# peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
