"""qcomp sweep SPEC.yaml [--ray auto|local|ADDRESS] [-o DIR]: a models × recipes × budgets × targets × seeds sweep.

Each point is compiled and evaluated (in process, or as a Ray task with --ray); results stream into
DIR/results.jsonl (a rerun runs only the missing points), then DIR/results.md and DIR/pareto.png.
"""

import os

from qcomp.dialects.errors import QcompError


def add_parser(sub) -> None:
    s = sub.add_parser("sweep", help="compile and evaluate a sweep of models x recipes x budgets x targets x seeds")
    s.add_argument("spec", help="sweep YAML file (models, recipes, budgets, targets, seeds, eval, threads)")
    s.add_argument("-o", "--output", default=None, help="results directory (default: sweeps/<spec name>)")
    s.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        default=None,
        metavar="auto|local|ADDRESS",
        help="run points as Ray tasks: 'local' starts a cluster on 127.0.0.1, 'auto' joins the one Ray finds "
        "(RAY_ADDRESS or `ray start` on this machine; else local), or a cluster address (ray://HOST:10001)",
    )
    s.add_argument("--cpus", type=int, default=None, help="CPUs of a cluster --ray local starts (default: all)")
    s.add_argument("--no-report", action="store_true", help="only results.jsonl (no table or plot)")


def cmd_sweep(args) -> int:
    from qcomp.sweep import run_sweep  # deferred: torch and MLIR load only when the command runs
    from qcomp.sweep_spec import load_spec

    spec = load_spec(args.spec)
    if args.cpus is not None and args.cpus < 1:
        raise QcompError(f"--cpus must be >= 1, got {args.cpus}")
    out = args.output or os.path.join("sweeps", spec.name)
    where = f"Ray ({args.ray})" if args.ray else "in process"
    print(f"qcomp: sweep {spec.name}: {len(spec.points)} points, {where}, results in {out}/", flush=True)
    try:
        outcome = run_sweep(spec, out, ray=args.ray, num_cpus=args.cpus, report=not args.no_report)
    except KeyboardInterrupt:
        print(f"\nqcomp: interrupted; finished points are in {out}/results.jsonl: rerun to resume", flush=True)
        return 130
    print(
        f"qcomp: {outcome.ran} points run ({len(outcome.failed)} failed), {outcome.skipped} already done, "
        f"in {outcome.seconds:.1f} s"
    )
    for err in outcome.failed:
        print(f"  failed: {err}")
    if outcome.written:
        print(f"  wrote {out}/: results.jsonl {' '.join(outcome.written)}")
    return 1 if outcome.failed else 0
