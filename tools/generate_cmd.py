"""`qcomp generate MODEL --prompt TEXT`: compile a causal LM for generation and stream its continuation.

MODEL is a real model (`smollm2`), a built-in test model (`tiny-llama`, `tiny-gpt2`: random weights, no
tokenizer, so the prompt is given as ids with --prompt-ids) or `file.py:factory` returning (model, tokenizer)
where model is a transformers causal LM as loaded (f32, bf16 or f16). Greedy by default; --temperature T > 0
samples (with --top-k, --top-p, --seed), as transformers' `generate(do_sample=True)` does.
"""

import json
import resource
import sys

from qcomp.dialects.errors import QcompError
from qcomp.recipes import get_recipe

from .model_args import factory_result


def add_parser(sub) -> None:
    g = sub.add_parser("generate", help="generate text with a compiled causal LM (prefill + decode over a KV cache)")
    g.add_argument("model", help="smollm2, tiny-llama, tiny-gpt2 or file.py:factory -> (model, tokenizer)")
    g.add_argument("--recipe", default="w8a8", help="fp32, w8a8, w4a8, ... or a recipe .yaml file")
    g.add_argument("--target", default="cpu", help="cpu, npu, cim, gpu (accelerators: simulated, slow)")
    g.add_argument("--prompt", default=None, help="prompt text (needs the model's tokenizer)")
    g.add_argument("--prompt-ids", default=None, help="prompt as comma-separated token ids")
    g.add_argument("--max-new-tokens", type=int, default=64)
    g.add_argument("--temperature", type=float, default=0.0, help="0: greedy; > 0: sample at this temperature")
    g.add_argument("--top-k", type=int, default=None, help="sample among the k most likely tokens")
    g.add_argument("--top-p", type=float, default=None, help="sample among the most likely tokens of mass p")
    g.add_argument("--seed", type=int, default=None, help="seed of the sampler")
    g.add_argument("--kv", default="fp32", choices=["fp32", "int8"], help="KV cache format")
    g.add_argument("--max-seq", type=int, default=1024, help="cache positions (prompt + generated tokens)")
    g.add_argument("--chunk", type=int, default=32, help="prompt tokens per prefill call")
    g.add_argument("--threads", type=int, default=None, help="CPU threads (default: the machine's cores)")
    g.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")
    g.add_argument(
        "--calib",
        type=int,
        default=None,
        help="calibration windows of 128 tokens of the vendored text, for calibrated recipes and the int8 cache's "
        "key centring (default: 4 when the recipe needs calibration or with --kv int8; 0: none)",
    )


def _load(spec: str):
    """(model, tokenizer or None) for `spec`."""
    from qcomp.examples.models import BUILTIN  # deferred: torch loads only when the command runs
    from qcomp.models import REAL

    if spec in BUILTIN and spec not in REAL:
        result = BUILTIN[spec]()
        return result[0], None
    return factory_result(spec, REAL, "(model, tokenizer)")


def _calibration(args, tok, model):
    """`args.calib` windows of 128 tokens (the vendored text through the tokenizer; random ids of the vocabulary
    for a model without one), or None where nothing needs them."""
    import torch  # deferred: torch loads only when the command runs
    from qcomp.evaluate import default_text, token_windows

    n = args.calib
    if n is None:
        needed = bool(get_recipe(args.recipe).calibration) or args.kv == "int8"
        n = 4 if needed else 0
    if n < 0:
        raise QcompError(f"--calib must be >= 0, got {n}")
    if n == 0:
        return None
    if tok is not None:
        return token_windows(tok, default_text(), 0, 128, n)[1]
    from qcomp.models import causal_lm  # deferred: torch

    vocab = int(causal_lm(model).config.vocab_size)
    gen = torch.Generator().manual_seed(0)
    return [torch.randint(0, vocab, (1, 128), generator=gen) for _ in range(n)]


def _target(name: str, threads: int | None):
    from qcomp import targets  # deferred: the registry's targets load MLIR

    kind, _, preset = name.partition(":")
    opts = {"threads": threads} if threads and kind == "cpu" else {}
    return targets.get(name, **opts) if not preset else targets.get(name)


def cmd_generate(args) -> int:
    import torch  # deferred: torch and MLIR load only when the command runs
    from qcomp.generate import compile_lm

    if (args.prompt is None) == (args.prompt_ids is None):
        raise QcompError("give the prompt as --prompt TEXT or --prompt-ids 1,2,3 (one of them)")
    if args.max_new_tokens < 1:
        raise QcompError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    if args.threads is not None:
        if args.threads < 1:
            raise QcompError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    model, tok = _load(args.model)
    if args.prompt is not None:
        if tok is None:
            raise QcompError(f"{args.model} has no tokenizer: give the prompt as --prompt-ids")
        ids = tok(args.prompt, return_tensors="pt").input_ids
    else:
        try:
            ids = torch.tensor([[int(x) for x in args.prompt_ids.split(",")]])
        except ValueError:
            raise QcompError(f"--prompt-ids must be integers separated by commas, got {args.prompt_ids!r}") from None
    lm = compile_lm(
        model,
        tok,
        target=_target(args.target, args.threads),
        recipe=args.recipe,
        calibration=_calibration(args, tok, model),
        max_seq=max(args.max_seq, ids.shape[1] + args.max_new_tokens),
        kv=args.kv,
        chunk=args.chunk,
    )
    eos = getattr(tok, "eos_token_id", None) if tok is not None else None
    stream = _Stream(tok, quiet=args.json)
    if not args.json and args.prompt is not None:
        print(args.prompt, end="", flush=True)
    out = lm.generate(
        ids,
        max_new_tokens=args.max_new_tokens,
        do_sample=args.temperature > 0,
        temperature=args.temperature if args.temperature > 0 else 1.0,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        eos_token_id=eos,
        on_token=stream,
    )[0]
    stats = lm.stats.as_dict()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "text": tok.decode(out) if tok is not None else None,
        "token_ids": out,
        "prompt_tokens": stats["prompt_tokens"],
        "generated_tokens": stats["generated_tokens"],
        "prompt_tokens_per_s": stats["prompt_tokens_per_s"],
        "gen_tokens_per_s": stats["gen_tokens_per_s"],
        "ttft_ms": stats["ttft_ms"],
        "peak_rss_mb": peak,
        "recipe": args.recipe,
        "kv": args.kv,
        "kv_cache_bytes": lm.report["cache_bytes"],
        "kv_keys": lm.report.get("kv_keys"),
        "compile_s": lm.report["compile_s"],
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print()
    print(
        f"qcomp: prompt {result['prompt_tokens']} tokens at {result['prompt_tokens_per_s']:.1f} tok/s, "
        f"generated {result['generated_tokens']} at {result['gen_tokens_per_s']:.1f} tok/s, "
        f"first token {result['ttft_ms']:.0f} ms, peak RSS {peak:.0f} MB "
        f"({args.recipe}, kv {args.kv}, compiled in {result['compile_s']:.1f} s)",
        file=sys.stderr,
    )
    return 0


class _Stream:
    """on_token callback: prints the text the new token adds (ids when there is no tokenizer)."""

    def __init__(self, tok, quiet: bool):
        self.tok, self.quiet, self.ids, self.shown = tok, quiet, [], ""

    def __call__(self, row: int, token: int) -> None:
        if self.quiet or row:
            return
        self.ids.append(token)
        if self.tok is None:
            print(f"{token} ", end="", flush=True)
            return
        text = self.tok.decode(self.ids, skip_special_tokens=False)
        if text.startswith(self.shown) and not text.endswith("\ufffd"):  # wait for whole UTF-8 characters
            print(text[len(self.shown) :], end="", flush=True)
            self.shown = text
