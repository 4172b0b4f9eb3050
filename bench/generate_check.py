"""Generation accuracy on SmolLM2-135M, in one run: greedy parity with transformers, decode vs prefill perplexity,
the int8 KV cache.

    .venv/bin/python bench/generate_check.py [--windows 4] [--seq 256] [--tokens 64] [--threads 2]

1. fp32: `compile_lm(...).generate` against transformers' `model.generate(do_sample=False)` on the prompts
   below, up to `--tokens` new tokens each (both stop at eos): tokens equal before the first difference (and,
   at a difference, the gap between transformers' two best logits there: a near-tie that f32 order may flip).
2. Teacher-forced perplexity over `--windows` windows of `--seq` tokens of the vendored text: through `prefill`
   (chunks over the cache) and through `decode` (one token at a time), for fp32 and W8A8; the relative
   difference (goals: 1e-4 fp32, 0.5% W8A8) and the ratio to PyTorch fp32.
3. `kv="int8"` at W8A8: decode-path perplexity against the fp32-cache one (goal <= 1.01x) and cache bytes
   (goal <= 0.27x), for each `--kv-alphas` (the keys' centring and smoothing, `qcomp.kv_keys`; calibrated on
   `--calib` windows of `--seq` tokens disjoint from the evaluation windows).
"""

import argparse
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPTS = [
    "Once upon a time, in a small village,",
    "def fibonacci(n):",
    "The three primary colors are",
    "Water boils at",
]


def nll(logits: torch.Tensor, ids: torch.Tensor) -> float:
    logp = torch.log_softmax(logits[0, :-1].double(), dim=-1)
    return float(-logp.gather(1, ids[0, 1:, None]).sum())


def ppl_paths(lm, wins, prefill: bool = True) -> tuple[float, float]:
    """(prefill perplexity or nan, decode perplexity) over the windows."""
    a = 0.0 if prefill else math.nan
    b = 0.0
    count = 0
    for w in wins:
        if prefill:
            lm.reset()
            a += nll(lm.prefill(w), w)
        lm.reset()
        steps = torch.stack([lm.decode(w[:, i]) for i in range(w.shape[1])], dim=1)
        b += nll(steps, w)
        count += w.shape[1] - 1
    return math.exp(a / count), math.exp(b / count)


def parity(lm, tok, hf, prompt: str, tokens: int) -> None:
    """One row of the greedy parity table (the header is printed before the first)."""
    if prompt == PROMPTS[0]:
        print(f"\n## Greedy parity, fp32, {tokens} new tokens")
        print("| prompt | equal tokens | first difference: transformers top-2 logit gap |")
        print("|---|---|---|")
    ids = tok(prompt, return_tensors="pt").input_ids
    # both stop at eos (transformers' min_new_tokens would forbid it where ours may pick it)
    ours = lm.generate(ids, max_new_tokens=tokens, eos_token_id=hf.generation_config.eos_token_id)[0]
    with torch.no_grad():
        full = hf.generate(ids, max_new_tokens=tokens, do_sample=False)
    theirs = full[0, ids.shape[1] :].tolist()
    same = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), len(theirs))
    gap = "-"
    if same < len(theirs):
        with torch.no_grad():
            top = hf(full[:, : ids.shape[1] + same]).logits[0, -1].topk(2).values
        gap = f"{float(top[0] - top[1]):.2e}"
    print(f"| {prompt!r} | {same}/{len(theirs)} | {gap} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kv-recipes", default="w8a8", help="W8A8 recipes whose int8 cache is compared (comma-separated)")
    ap.add_argument("--calib", type=int, default=4, help="calibration windows for recipes that need them")
    ap.add_argument("--no-parity", action="store_true", help="skip the greedy parity table and the fp32 build")
    ap.add_argument(
        "--kv-alphas",
        default="0.5",
        help="int8 cache builds per recipe, by compile_lm's kv_alpha: none (keys as computed), 0 (centred), "
        "0.5 (centred and smoothed) ... (comma-separated)",
    )
    ap.add_argument("--decode-only", action="store_true", help="perplexity through decode only (no prefill column)")
    ap.add_argument("--chunk", type=int, default=32, help="prefill chunk (1: one build per row, prompts as decode)")
    args = ap.parse_args()
    import qcomp
    from qcomp.evaluate import default_text, token_windows
    from qcomp.generate import compile_lm
    from qcomp.models import smollm2

    torch.set_num_threads(args.threads)
    model, tok = smollm2()
    hf = model.lm
    target = qcomp.targets.get("cpu", threads=args.threads)
    wins, cal = token_windows(tok, default_text(), args.windows, args.seq, args.calib)
    calibration = list(cal)  # token-id tensors [1, seq]: compile_lm runs their first `chunk` tokens
    with torch.no_grad():
        ref_ppl = math.exp(sum(nll(hf(w).logits, w) for w in wins) / sum(w.shape[1] - 1 for w in wins))
    print(f"SmolLM2-135M, {args.threads} threads, {args.windows} x {args.seq} tokens; PyTorch fp32 ppl {ref_ppl:.4f}")

    built = {}
    kv_recipes = args.kv_recipes.split(",")
    alphas = {a: None if a == "none" else float(a) for a in args.kv_alphas.split(",")}
    fp32 = [] if args.no_parity else [("fp32", "fp32", None)]  # the parity table's build
    int8 = [(r, f"int8 alpha={a}", alpha) for r in kv_recipes for a, alpha in alphas.items()]
    for recipe, kv, alpha in (*fp32, *((r, "fp32", None) for r in kv_recipes), *int8):
        t0 = time.perf_counter()
        built[recipe, kv] = compile_lm(
            model,
            tok,
            target=target,
            recipe=recipe,
            kv=kv.split()[0],
            kv_alpha=alpha,
            max_seq=max(args.seq, 256),
            calibration=calibration,
            chunk=args.chunk,
        )
        print(f"compiled {recipe} kv={kv} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    for p in [] if args.no_parity else PROMPTS:
        parity(built["fp32", "fp32"], tok, hf, p, args.tokens)
    ppl = {}
    print("\n## Teacher-forced perplexity: prefill vs decode")
    print("| recipe | kv | prefill ppl | decode ppl | rel. diff | decode / PyTorch fp32 | cache bytes/token |")
    print("|---|---|---|---|---|---|---|")
    for (recipe, kv), lm in built.items():
        a, b = ppl_paths(lm, wins, not args.decode_only)
        ppl[recipe, kv] = b
        row = f"| {recipe} | {kv} | {a:.4f} | {b:.4f} | {abs(a - b) / a:.2e} | {b / ref_ppl:.4f} |"
        print(f"{row} {lm.report['cache_bytes_per_token']} |")
    for recipe, kv, _ in int8:
        r = ppl[recipe, kv] / ppl[recipe, "fp32"]
        c = built[recipe, kv].report["cache_bytes"] / built[recipe, "fp32"].report["cache_bytes"]
        print(
            f"kv={kv} at {recipe}: decode ppl {r:.4f}x the fp32 cache's (goal <= 1.01), cache bytes {c:.3f}x "
            f"(goal <= 0.27); keys {built[recipe, kv].report['kv_keys']}"
        )


if __name__ == "__main__":
    main()
