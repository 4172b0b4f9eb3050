"""The CPU cost model against measurement: estimated latency of a compiled model vs its measured median.

    .venv/bin/python bench/cpu_cost.py [--models minilm,smollm2] [--recipes fp32,w8a8,w8a16,w4a16]
                                       [--seq 128] [--reps 9] [--threads 1] [--breakdown] [--same-process]

For each model and recipe: `qcomp.compile`, `estimate_latency` of its quantized qc module (the module
qc-assign-precision budgets), the median of `--reps` calls of the compiled model, and measured / estimate
(the cost model aims at 0.8-1.2). `mixed@F` rows: qc-assign-precision{budget_kind=latency} over
w8a8 / w4a16g128 / w8a16g128 with a latency budget F of the way from the fastest to the slowest assignment
(local sensitivities, calibrated on the example); they also print measured / budget.
MiniLM (all-MiniLM-L6-v2) encodes one sequence; SmolLM2-135M runs one
prefill. Times are medians of wall-clock and of the calling thread's CPU time (the compiled code runs on
it; CPU time leaves out the time other jobs of a shared machine hold the core).

Each row runs in a fresh process: the page faults of large buffers (a big part of SmolLM2's latency) depend
on the allocator's history in the process, and a fresh process is what a user compiling one model gets
(`--same-process` runs all rows in this one). The cost model's constants are measured once per machine
(see targets/cpu/cost_model.py).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import torch
from prefill_inputs import prefill_inputs


def _median_times(fn, reps: int) -> tuple[float, float]:
    fn()
    wall, cpu = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.thread_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    return float(np.median(wall)), float(np.median(cpu))


def _qc_module(cm):
    """The quantized qc module of a CompiledModel, parsed back from its stage text (weights elided: the
    cost model reads shapes only)."""
    from qcomp.dialects import new_context
    from qcomp.dialects._mlir import ir, run_pipeline

    ctx = new_context()
    with ctx, ir.Location.unknown():  # a pass that depends on tm_tensor (cumsum's scan) loads that dialect
        run_pipeline(ir.Module.create(), "func.func(convert-torch-to-tmtensor)")
    return ir.Module.parse(cm.stages["quantized"], ctx)


def _breakdown(module, target) -> list[tuple[str, float]]:
    """Estimated seconds per op kind, and of the copies of constants (a module bufferized copy-before-write)."""
    from qcomp.dialects.irutil import main_func
    from qcomp.targets.cpu import cost_model as cmod

    model = cmod.load(target)
    main = main_func(module)
    copies = cmod.main_copies_constants(main, target)
    parts: dict[str, float] = {}
    for op in main.regions[0].blocks[0].operations:
        op = cmod._op(op)
        p = cmod.op_precision(op)
        t = model.op_latency(op, p)
        if t:
            kind = op.name if op.name.startswith("qc.") else "host " + op.name
            parts[kind] = parts.get(kind, 0.0) + t
        if copies:
            parts["copies of constants"] = parts.get("copies of constants", 0.0) + model.op_latency(op, p, True) - t
    return sorted(parts.items(), key=lambda kv: -kv[1])


MIXED = "qc-assign-precision{{candidates={c},budget_kind=latency,sensitivity=hessian,budget={b}}}"
MIXED_CANDIDATES = "w8a8:w4a16g128:w8a16g128"


def _latency_range(model, inputs, table) -> tuple[float, float]:
    """The least and most estimated latency (ms) any mixed assignment can have: the frontier's ends."""
    from qcomp.api import precision_plan
    from qcomp.calibrate import attach
    from qcomp.dialects._mlir import ir
    from qcomp.frontend import import_torch
    from qcomp.pipeline import Pipeline

    module = import_torch(model, inputs)
    Pipeline.parse("qc-raise-norms,qc-from-torch").run(module)
    attach(module, table)
    with module.context:
        module.operation.attributes["qc.target"] = ir.StringAttr.get("cpu")
    Pipeline.parse(MIXED.format(c=MIXED_CANDIDATES, b=1e9)).run(module)
    front = precision_plan(module)["frontier"]
    return front[0]["latency_ms"], front[-1]["latency_ms"]


def _prepare(name: str, seq: int, fraction: float, path: str) -> float:
    """Calibrate (local sensitivities, on the example: only latency matters here), save the table at `path`
    and return the latency budget (ms) `fraction` of the way from the fastest to the slowest assignment."""
    from qcomp.calibrate import calibrate

    model, inputs = prefill_inputs(name, seq)
    table = calibrate(model, [inputs])
    table.save(path)
    lo, hi = _latency_range(model, inputs, table)
    return lo + fraction * (hi - lo)


def _mixed(name: str, seq: int, threads: int, fraction: float):
    """The mixed Recipe and its calibration table, prepared in another process: calibrating and probing
    allocate big buffers, and the allocator's history changes the measured page faults (a fresh process
    measures what a user compiling one model gets)."""
    import tempfile

    from qcomp.calibrate import CalibrationTable
    from qcomp.recipes import Recipe

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "table.json")
        cmd = [sys.executable, __file__, "--prepare", f"{name}:{fraction}:{path}", "--seq", str(seq)]
        cmd += ["--threads", str(threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        budget = json.loads(out.strip().splitlines()[-1])["budget"]
        table = CalibrationTable.load(path)
    assign = MIXED.format(c=MIXED_CANDIDATES, b=f"{budget:.6f}")
    return Recipe(f"mixed@{fraction:g}", 1, assign + ",qc-quantize,canonicalize", calibration="minmax"), table


def _row(name: str, recipe: str, seq: int, reps: int, breakdown: bool, threads: int = 1) -> dict:
    import qcomp
    from qcomp import targets
    from qcomp.targets.cpu import cost_model

    target = targets.get("cpu")
    table = None
    if recipe.startswith("mixed@"):  # a latency budget between the fastest and the slowest assignment
        recipe, table = _mixed(name, seq, threads, float(recipe.removeprefix("mixed@")))
    model, inputs = prefill_inputs(name, seq)
    start = time.perf_counter()
    cm = qcomp.compile(model, inputs, target=target, recipe=recipe, calibration=table)
    t_compile = time.perf_counter() - start
    module = _qc_module(cm)
    est = cost_model.estimate_latency(module, target)
    plan = cm.report.get("precision_plan")
    wall, cpu = _median_times(lambda: cm(*inputs), reps)
    name_of = recipe if isinstance(recipe, str) else recipe.name
    row = {"model": name, "recipe": name_of, "tokens": int(inputs[0].shape[-1]), "estimate": est}
    if plan is not None:  # the assignment's own estimate, when the budget was latency
        row.update(planned=plan["latency_ms"] / 1e3, budget=plan["budget"] / 1e3, avg_wbits=plan["avg_wbits"])
    row.update({"wall": wall, "cpu": cpu, "compile": t_compile})
    if breakdown:
        row["breakdown"] = _breakdown(module, target)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="minilm,smollm2")
    ap.add_argument("--recipes", default="fp32,w8a8,w8a16,w4a16,mixed@0.25,mixed@0.5,mixed@0.75")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--breakdown", action="store_true", help="estimated time per op kind")
    ap.add_argument("--same-process", action="store_true", help="run every row in this process")
    ap.add_argument("--row", help=argparse.SUPPRESS)  # model:recipe, run in a child process
    ap.add_argument("--prepare", help=argparse.SUPPRESS)  # model:fraction:table path, run in a child process
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    if args.prepare:
        name, fraction, path = args.prepare.split(":", 2)
        print(json.dumps({"budget": _prepare(name, args.seq, float(fraction), path)}))
        return
    if args.row:
        name, recipe = args.row.split(":")
        print(json.dumps(_row(name, recipe, args.seq, args.reps, args.breakdown, args.threads)))
        return

    from qcomp import targets
    from qcomp.targets.cpu import cost_model

    target = targets.get("cpu")
    start = time.perf_counter()
    cost_model.load(target)
    t_load = time.perf_counter() - start
    key = cost_model.cache_key(target)
    print(f"machine: {key['cpu']}, {platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}")
    print(f"cost model v{key['version']}: {cost_model.cache_path(target)} ({t_load:.1f} s to load or measure)")
    head = (
        f"{'model':<8} {'recipe':<10} {'tokens':>6} | {'estimate':>9} {'wall':>9} {'ratio':>6} {'cpu':>9} {'ratio':>6}"
    )
    print(f"{head} | {'compile':>7}")
    rows = []
    for name in args.models.split(","):
        for recipe in args.recipes.split(","):
            if args.same_process:
                row = _row(name, recipe, args.seq, args.reps, args.breakdown)
            else:
                cmd = [sys.executable, __file__, "--row", f"{name}:{recipe}", "--seq", str(args.seq)]
                cmd += ["--reps", str(args.reps), "--threads", str(args.threads)] + ["--breakdown"] * args.breakdown
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                row = json.loads(out.strip().splitlines()[-1])
            rows.append(row)
            est, wall, cpu = row["estimate"], row["wall"], row["cpu"]
            print(
                f"{name:<8} {recipe:<10} {row['tokens']:>6} | {est * 1e3:7.2f}ms {wall * 1e3:7.2f}ms {wall / est:6.3f} "
                f"{cpu * 1e3:7.2f}ms {cpu / est:6.3f} | {row['compile']:6.1f}s",
                flush=True,
            )
            if "planned" in row:
                print(
                    f"{'':<8} {'':<10} {'':>6} | latency budget {row['budget'] * 1e3:.2f} ms, planned "
                    f"{row['planned'] * 1e3:.2f} ms, avg_wbits {row['avg_wbits']:.3f}: measured / budget "
                    f"{wall / row['budget']:.3f} (wall), {cpu / row['budget']:.3f} (cpu)"
                )
            for kind, t in row.get("breakdown", []):
                print(f"      {t * 1e3:9.2f} ms  {kind}")
    for what in ("wall", "cpu"):
        ratios = [r[what] / r["estimate"] for r in rows]
        print(f"{what} / estimate: min {min(ratios):.3f}, max {max(ratios):.3f} (goal 0.8-1.2)")
    load = os.getloadavg()[0]
    where = "one process" if args.same_process else "a fresh process per row"
    print(f"medians of {args.reps} calls, {where}; load average {load:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
