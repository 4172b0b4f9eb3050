"""qcomp: the driver.

    qcomp compile MODEL --target cpu --recipe w8a8 -o DIR
    qcomp opt FILE.mlir -p PIPELINE ...        (same as qcomp-opt)

MODEL is a built-in example (mlp, cnn, tiny-llama, tiny-gpt2) or `path/file.py:factory`, a function
returning (module, example_inputs).
"""

import argparse
import importlib.util
import json
import os
import sys
import textwrap
import time

from qcomp.errors import QcompError


def _factory_result(spec: str, builtins: dict, what: str):
    """Call the built-in factory `spec` or the function of `file.py:factory`; check it returns a pair."""
    if spec in builtins:
        return builtins[spec]()
    path, sep, factory = spec.rpartition(":")
    if not sep or not path.endswith(".py"):
        raise QcompError(f"unknown model {spec!r}: use a built-in ({', '.join(builtins)}) or file.py:factory")
    if not os.path.isfile(path):
        raise QcompError(f"{path}: no such file")
    mod_spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as e:
        raise QcompError(f"{path}: failed to import: {type(e).__name__}: {e}") from e
    fn = getattr(module, factory, None)
    if not callable(fn):
        raise QcompError(f"{path}: has no function {factory!r}")
    result = fn()
    if not (isinstance(result, tuple) and len(result) == 2):
        raise QcompError(f"{path}:{factory} must return {what}")
    return result


def load_model(spec: str):
    """(module, example_inputs) from a built-in name or `file.py:factory`."""
    from qcomp.examples.models import BUILTIN

    model, inputs = _factory_result(spec, BUILTIN, "(module, example_inputs)")
    return model, tuple(inputs) if isinstance(inputs, tuple | list) else (inputs,)


def load_eval_model(spec: str):
    """(module, tokenizer) from a built-in real model (smollm2, minilm) or `file.py:factory`."""
    from qcomp.models import REAL

    return _factory_result(spec, REAL, "(module, tokenizer)")


def cmd_eval(args) -> int:
    import torch
    from qcomp.evaluate import evaluate

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tok = load_eval_model(args.model)
    r = evaluate(
        args.model,
        model,
        tok,
        recipe=args.recipe,
        target=args.target,
        text=args.text,
        windows=args.windows,
        seq=args.seq,
        calib=args.calib,
        budget=args.budget,
    )
    if args.json:
        print(json.dumps(r.as_dict()))
    else:
        ratio = r.value / r.fp32_value if r.fp32_value else float("nan")
        print(
            f"qcomp: {r.model} {r.recipe} on {r.target}: {r.metric} {r.value:.4f} (PyTorch fp32 {r.fp32_value:.4f}, "
            f"ratio {ratio:.4f}) over {r.tokens} tokens in {r.seconds:.1f} s"
        )
    return 0


def _counts(items: dict[str, int]) -> str:
    ranked = sorted(items.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{k.removeprefix('torch.aten.')} {v}" for k, v in ranked)
    return textwrap.fill(text, width=110, subsequent_indent=" " * 24)


def cmd_compile(args) -> int:
    import numpy as np
    import qcomp
    import torch

    model, inputs = load_model(args.model)
    start = time.perf_counter()
    target = qcomp.targets.get(args.target)
    cm = qcomp.compile(model, inputs, target=target, recipe=args.recipe)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        want = model(*inputs)
    want = (want if isinstance(want, torch.Tensor) else want[0]).numpy()
    got = cm(*inputs)
    got = (got if isinstance(got, torch.Tensor) else got[0]).numpy()
    err = float(np.abs(got - want).max() / max(float(np.abs(want).max()), 1e-30))
    cos = float((got * want).sum() / max(np.linalg.norm(got) * np.linalg.norm(want), 1e-30))
    r = cm.report
    on_target: dict[str, int] = {}
    for row in r["ops"]:
        on_target[row["op"]] = on_target.get(row["op"], 0) + 1
    written = cm.save(args.output)
    with open(os.path.join(args.output, "report.json"), "w") as f:
        json.dump({**r, "check": {"max_rel_err": err, "cosine": cos}}, f, indent=1)
    written.append("report.json")
    sizes = r["sizes"]
    print(
        f"qcomp: compiled {args.model} ({r['model']}) for {r['target']} with recipe {r['recipe']['name']} "
        f"in {seconds:.1f} s"
    )
    print(f"  qc ops on {r['target']:<6}: {r['placement']['target']:4d}  ({_counts(on_target)})")
    print(f"  host ops       : {sum(r['host_ops'].values()):4d}  ({_counts(r['host_ops']) or 'none'})")
    print(
        f"  weights        : {sizes['weights_fp32_bytes'] / 1e3:.1f} kB fp32 -> {sizes['weights_bytes'] / 1e3:.1f} kB"
    )
    print(f"  vs PyTorch     : max rel err {err:.2e}, cosine {cos:.6f} (example inputs)")
    print(f"  wrote {args.output}/: {' '.join(written)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="qcomp", description="MLIR-based quantizing compiler for PyTorch models")
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compile", help="compile a model for a target")
    c.add_argument("model", help="built-in name (mlp, cnn, tiny-llama, tiny-gpt2) or file.py:factory")
    c.add_argument("--target", default="cpu")
    c.add_argument("--recipe", default="w8a8", help="fp32, w8a8, or a recipe .yaml file")
    c.add_argument("-o", "--output", default="out", help="directory for the stages and artifacts")
    e = sub.add_parser("eval", help="perplexity (causal LM) or embedding cosine (encoder) on a text")
    e.add_argument("model", help="built-in real model (smollm2, minilm) or file.py:factory -> (module, tokenizer)")
    e.add_argument("--recipe", default="fp32")
    e.add_argument("--target", default="cpu")
    e.add_argument("--text", default=None, help="plain-text file (default: the vendored 1911 Britannica text)")
    e.add_argument("--windows", type=int, default=16, help="evaluation windows (LM) or sentences (encoder)")
    e.add_argument("--seq", type=int, default=512, help="tokens per window / padded sentence length")
    e.add_argument("--calib", type=int, default=8, help="calibration windows for static recipes")
    e.add_argument("--threads", type=int, default=0, help="torch threads for the eager reference (0: default)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument(
        "--budget", type=float, default=None, help="average weight bits for the recipe's qc-assign-precision"
    )
    sub.add_parser("opt", help="run a pipeline on an MLIR file (see qcomp-opt --help)", add_help=False)
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "opt":
        from qcomp.tools.qcomp_opt import main as opt_main

        return opt_main(argv[1:])
    args = ap.parse_args(argv)
    try:
        return {"compile": cmd_compile, "eval": cmd_eval}[args.command](args)
    except QcompError as e:
        print(f"qcomp: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
