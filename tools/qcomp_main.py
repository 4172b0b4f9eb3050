"""qcomp: the driver.

    qcomp compile MODEL --target cpu --recipe w8a8 -o DIR      [--budget B] [--calib N] [--calib-stream [DIR]]
    qcomp eval MODEL --recipe mixed --budget 4.25,4.5,5,6     [--json] [--plot pareto.png]
    qcomp report DIR | report.json                            [--png frontier.png]
    qcomp generate MODEL --recipe w8a8 --prompt TEXT          [--max-new-tokens N --kv int8 --json ...]
    qcomp opt FILE.mlir -p PIPELINE ...        (same as qcomp-opt)

MODEL (compile) is a built-in example (mlp, cnn, tiny-llama, tiny-gpt2), a real model (smollm2, minilm:
inputs and calibration windows from the vendored text) or `path/file.py:factory`, a function returning
(module, example_inputs) or (module, example_inputs, calibration_samples).
"""

import argparse
import json
import os
import sys
import textwrap
import time

from qcomp.dialects.errors import QcompError
from qcomp.report import budget_table, load_report, plot_frontier, plot_pareto, render

from . import export_cmd, generate_cmd, sweep_cmd
from .model_args import load_eval_model, load_model, streamed_calibration, synthetic_samples


def _budgets(text: str) -> list[float]:
    """argparse type of --budget: one number or a comma-separated list, each > 0."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not values or any(not v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"budgets must be > 0, got {text!r}")
    return values


def cmd_eval(args) -> int:
    import torch  # deferred: torch and MLIR load only when the command runs
    from qcomp.evaluate import evaluate_budgets

    if args.plot and args.budget is None:
        raise QcompError("--plot draws the measured (avg_wbits, metric) point of each --budget: give --budget")
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tok = load_eval_model(args.model)
    results = []
    for r in evaluate_budgets(
        args.model,
        model,
        tok,
        recipe=args.recipe,
        budgets=args.budget or [None],
        target=args.target,
        text=args.text,
        windows=args.windows,
        seq=args.seq,
        calib=args.calib,
    ):
        results.append(r)
        if args.json:
            print(json.dumps(r.as_dict()), flush=True)
            continue
        ratio = r.value / r.fp32_value if r.fp32_value else float("nan")
        bits = f" at {r.avg_wbits:.4f} avg weight bits" if r.avg_wbits is not None else ""
        print(
            f"qcomp: {r.model} {r.recipe} on {r.target}: {r.metric} {r.value:.4f}{bits} (PyTorch fp32 "
            f"{r.fp32_value:.4f}, ratio {ratio:.4f}) over {r.tokens} tokens in {r.seconds:.1f} s",
            flush=True,
        )
    first = results[0]
    if len(results) > 1 and not args.json:
        head = f"{first.model}, {args.recipe} on {first.target}, {first.metric}; fp32 {first.fp32_value:.4f}"
        print(f"\nPareto table ({head}):")
        print(budget_table([r.as_dict() for r in results], first.fp32_value, first.metric))
    if args.plot:
        plot_pareto(
            {f"{args.recipe} (measured)": [(r.avg_wbits, r.value) for r in results]},
            args.plot,
            ylabel=first.metric,
            title=f"{first.model} {args.recipe} on {first.target}: {first.metric} vs average weight bits",
            reference=("PyTorch fp32", first.fp32_value),
        )
        if not args.json:
            print(f"qcomp: wrote {args.plot}")
    return 0


def _counts(items: dict[str, int]) -> str:
    ranked = sorted(items.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{k.removeprefix('torch.aten.')} {v}" for k, v in ranked)
    return textwrap.fill(text, width=110, subsequent_indent=" " * 24)


def cmd_compile(args) -> int:
    import numpy as np  # deferred: torch and MLIR load only when the command runs
    import qcomp
    import torch
    from qcomp.recipes import get_recipe, with_budget

    if args.calib < 1:
        raise QcompError(f"--calib must be >= 1, got {args.calib}")
    rec = get_recipe(args.recipe)
    if args.budget is not None:
        rec = with_budget(rec, args.budget)
    model, inputs, samples = load_model(args.model, args.calib, args.seq)
    calibration, source = None, ""
    if rec.calibration:
        calibration = samples[: args.calib] if samples else synthetic_samples(inputs, args.calib)
        source = "given" if samples else "synthetic: the example, then random ids / noisy copies"
    start = time.perf_counter()
    target = qcomp.targets.get(args.target)
    table = calibration
    if args.calib_stream and calibration is None:
        raise QcompError(f"--calib-stream: recipe {rec.name} needs no calibration (nothing to stream)")
    if args.calib_stream:
        table = streamed_calibration(args.model, args.calib_stream, model, rec, calibration, target)
        source += ", block-streamed"
    cm = qcomp.compile(model, inputs, target=target, recipe=rec, calibration=table)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        want = model(*inputs)
    want = (want if isinstance(want, torch.Tensor) else want[0]).numpy()
    try:
        got = cm(*inputs)
    except QcompError as e:  # a target whose device is absent (gpu without CUDA) compiles and saves, unchecked
        got, unchecked = None, str(e)
    if got is not None:
        got = (got if isinstance(got, torch.Tensor) else got[0]).numpy()
        err = float(np.abs(got - want).max() / max(float(np.abs(want).max()), 1e-30))
        cos = float((got * want).sum() / max(np.linalg.norm(got) * np.linalg.norm(want), 1e-30))
    else:
        err = cos = float("nan")
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
        f"qcomp: compiled {args.model} ({r['model']}) for {r['target']['name']} with recipe {r['recipe']['name']} "
        f"in {seconds:.1f} s"
    )
    print(f"  qc ops on {r['target']['name']:<6}: {r['placement']['target']:4d}  ({_counts(on_target)})")
    print(f"  host ops       : {sum(r['host_ops'].values()):4d}  ({_counts(r['host_ops']) or 'none'})")
    print(
        f"  weights        : {sizes['weights_fp32_bytes'] / 1e3:.1f} kB fp32 -> {sizes['weights_bytes'] / 1e3:.1f} kB"
    )
    if calibration is not None:
        print(f"  calibration    : {r['calibration']['method']} on {len(calibration)} samples ({source})")
    plan = r.get("precision_plan")
    if plan is not None:
        per: dict[str, int] = {}
        for layer in plan["layers"]:
            per[layer["precision"]] = per.get(layer["precision"], 0) + 1
        print(
            f"  precision plan : avg_wbits {plan['avg_wbits']:.4f} (budget {plan['budget']:g} {plan['budget_kind']}); "
            f"{_counts(per)} layers; qcomp report {args.output} for the map and frontier"
        )
    if got is None:
        print(f"  vs PyTorch     : not run ({unchecked})")
    else:
        print(f"  vs PyTorch     : max rel err {err:.2e}, cosine {cos:.6f} (example inputs)")
    print(f"  wrote {args.output}/: {' '.join(written)}")
    return 0


def cmd_report(args) -> int:
    report = load_report(args.path)
    plan = report.get("precision_plan")
    if args.png and plan is None:
        raise QcompError(f"{args.path}: no precision_plan to plot (the recipe ran no qc-assign-precision)")
    try:
        text = render(report)
    except (KeyError, TypeError, ValueError) as e:
        raise QcompError(f"{args.path}: malformed report: {type(e).__name__}: {e}") from e
    print(text)
    if args.png:
        plot_frontier(plan, args.png, title=f"{report.get('model', '')} {report['recipe'].get('name', '')}".strip())
        print(f"\nqcomp: wrote {args.png}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="qcomp", description="MLIR-based quantizing compiler for PyTorch models")
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compile", help="compile a model for a target")
    c.add_argument(
        "model",
        help="built-in name (mlp, cnn, tiny-llama, tiny-gpt2), real model (smollm2, minilm) or file.py:factory "
        "returning (module, example_inputs[, calibration_samples])",
    )
    c.add_argument("--target", default="cpu")
    c.add_argument("--recipe", default="w8a8", help="fp32, w8a8, mixed, ... or a recipe .yaml file")
    c.add_argument("-o", "--output", default="out", help="directory for the stages and artifacts")
    c.add_argument(
        "--budget", type=float, default=None, help="average weight bits for the recipe's qc-assign-precision (mixed)"
    )
    c.add_argument(
        "--calib",
        type=int,
        default=4,
        help="calibration samples for recipes that need them (default 4): the factory's own samples; for "
        "smollm2/minilm the windows/sentences of the vendored text after the example; otherwise synthetic: the "
        "example, then copies with integer tensors drawn uniformly in the example's [min, max] (token ids) and "
        "float tensors plus Gaussian noise of half their standard deviation",
    )
    c.add_argument("--seq", type=int, default=64, help="tokens of the example and calibration inputs of smollm2/minilm")
    c.add_argument(
        "--calib-stream",
        nargs="?",
        const="auto",
        default=None,
        metavar="DIR",
        help="calibrate decoder block by block with the weights read from the safetensors checkpoint DIR (a "
        "transformers directory; smollm2: its cached checkpoint by default): peak memory about one block",
    )
    e = sub.add_parser("eval", help="perplexity (causal LM) or embedding cosine (encoder) on a text")
    e.add_argument("model", help="built-in real model (smollm2, minilm) or file.py:factory -> (module, tokenizer)")
    e.add_argument("--recipe", default="fp32")
    e.add_argument("--target", default="cpu")
    e.add_argument("--text", default=None, help="plain-text file (default: the vendored 1911 Britannica text)")
    e.add_argument("--windows", type=int, default=16, help="evaluation windows (LM) or sentences (encoder)")
    e.add_argument("--seq", type=int, default=512, help="tokens per window / padded sentence length")
    e.add_argument("--calib", type=int, default=8, help="calibration windows for static recipes")
    e.add_argument("--threads", type=int, default=0, help="torch threads for the eager reference (0: default)")
    e.add_argument("--json", action="store_true", help="print one JSON object per budget")
    e.add_argument(
        "--budget",
        type=_budgets,
        default=None,
        help="average weight bits for the recipe's qc-assign-precision; several (4.25,4.5,5,6) calibrate once "
        "and print a Pareto table",
    )
    e.add_argument("--plot", default=None, help="write the measured Pareto plot (metric vs avg_wbits) as PNG")
    rp = sub.add_parser("report", help="print a compile report: precision map per layer and Pareto frontier")
    rp.add_argument("path", help="a qcomp compile -o directory or its report.json")
    rp.add_argument("--png", default=None, help="write the predicted Pareto frontier plot here")
    generate_cmd.add_parser(sub)
    export_cmd.add_parser(sub)
    sweep_cmd.add_parser(sub)
    sub.add_parser("opt", help="run a pipeline on an MLIR file (see qcomp-opt --help)", add_help=False)
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "opt":
        from qcomp.tools.qcomp_opt import main as opt_main  # deferred: a tool of its own (MLIR)

        return opt_main(argv[1:])
    args = ap.parse_args(argv)
    try:
        commands = {"compile": cmd_compile, "eval": cmd_eval, "report": cmd_report, "sweep": sweep_cmd.cmd_sweep}
        return {**commands, "generate": generate_cmd.cmd_generate, "export": export_cmd.cmd_export}[args.command](args)
    except QcompError as e:
        print(f"qcomp: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
