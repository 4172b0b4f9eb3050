"""Property fuzzer: random well-formed qc graphs built and run on every target, checked against the numpy
reference and against each other (bench/qc_graphs.py generates, bench/qc_graph_check.py checks).

    python bench/graph_fuzz.py [--cases N] [--seed S] [--workers W] [--case-timeout SECONDS] [--out DIR]
    python bench/graph_fuzz.py --seed S --case I      # one case in this process, its module and findings printed
    python bench/graph_fuzz.py --out DIR[,DIR2] --summarize  # the table of runs' DIR/results.jsonl (unfinished too)
    python bench/graph_fuzz.py --with-ops masked_softmax,kv_attention,kv_attention_int8,conv-dynamic --cases N
        # only the cases (numbers as in a plain run) whose graph has one of these ops: the first N of them;
        # conv-dynamic: a convolution with a `?` batch

Cases run in W worker subprocesses (default 2); a signal or a case using --case-timeout seconds of CPU ends its
worker: the case is reported (signal / hang) and the rest go on in a new one. Each case with a finding is
written to --out (default /tmp/qcomp-graph-fuzz) as graph-S-I.mlir (module, findings in comments, the rerun
command), graph-S-I.inputs.npz and, for a dynamic case, graph-S-I.dynamic.mlir. Progress goes to stderr; the
table at the end counts cases, builds, refusals (one-line errors) per target and findings per kind.
"""

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
KINDS = ("traceback", "multi-line", "signal", "hang", "shape", "reference", "targets", "accepted")

WORKER = """
import json, sys
sys.path.insert(0, {here!r})
from qc_graph_check import reproducer, run_case
from qc_graphs import generate
seed, out = {seed}, {out!r}
for line in sys.stdin:
    i = int(line)
    r = run_case(seed, i)
    if r["findings"]:
        reproducer(generate(seed, i), out, r["findings"])
    print(json.dumps(r), flush=True)
"""


def _read(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _stream(cases: list[int], args, results: list, done: list) -> None:
    """Run `cases` in worker subprocesses, a new one after each signal or hang."""
    code = WORKER.format(here=str(HERE), seed=args.seed, out=args.out)
    i = 0
    while i < len(cases):
        p = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_read, args=(p.stdout, lines), daemon=True).start()
        limit = args.case_timeout + 60  # the first case also pays for the imports
        while i < len(cases):
            try:
                p.stdin.write(f"{cases[i]}\n")
                p.stdin.flush()
                line = _result(lines, limit, p.pid)
            except BrokenPipeError:  # the worker died
                line = None
            limit = args.case_timeout
            if line is None or line == "hang":
                if line == "hang":
                    p.kill()
                p.wait()
                kind = "hang" if line == "hang" else "signal"
                what = f"no result after {limit:.0f} s of CPU" if kind == "hang" else f"worker exit code {p.returncode}"
                _write_lost(args, cases[i], f"{kind}: {what}")
                lost = {"case": cases[i], "graph": "", "findings": [f"{kind}: {what}"], "refusals": {}, "builds": 0}
                results.append(lost)
                with open(os.path.join(args.out, "results.jsonl"), "a") as f:
                    f.write(json.dumps(lost) + "\n")
                i += 1
                done[0] += 1
                break
            results.append(json.loads(line))
            with open(os.path.join(args.out, "results.jsonl"), "a") as f:  # partial results survive an interrupt
                f.write(line if line.endswith("\n") else line + "\n")
            i += 1
            done[0] += 1
        p.kill()
        p.wait()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _result(lines: queue.Queue, limit: float, pid: int) -> str | None:
    """The worker's next result line; None when it died; "hang" when it spent `limit` seconds of CPU on the case,
    or made no CPU progress for min(limit, 120) s (blocked), or took 20 x limit wall seconds. On a loaded machine
    a slow case is not a hang: its wall time can be 20x its CPU time."""
    start = last = _cpu_seconds(pid)
    waited = stalled = 0.0
    step = min(limit, 15.0)
    while True:
        try:
            line = lines.get(timeout=step)
        except queue.Empty:
            waited += step
            now = _cpu_seconds(pid)
            stalled = stalled + step if now - last < 0.01 else 0.0
            last = now
            if now - start >= limit or stalled >= min(limit, 120.0) or waited >= 20 * limit:
                return "hang"
            continue
        if line is None or line.startswith("{"):  # else not a result: some library's output
            return line


def _write_lost(args, case: int, finding: str) -> None:
    sys.path.insert(0, str(HERE))
    from qc_graph_check import reproducer
    from qc_graphs import generate

    reproducer(generate(args.seed, case), args.out, [finding])


def one_case(seed: int, case: int) -> int:
    sys.path.insert(0, str(HERE))
    from qc_graph_check import run_case
    from qc_graphs import generate

    g = generate(seed, case)
    print(g.text(dynamic=bool(g.dyn)))
    r = run_case(seed, case)
    print(r["graph"])
    for t, msg in r["refusals"].items():
        print(f"  refused: {t}: {msg}")
    for f in r["findings"]:
        print(f"  {f}")
    return 1 if r["findings"] else 0


NEW_OPS = ("masked_softmax", "kv_attention", "kv_attention_int8", "conv-dynamic")


def _has(description: str, op: str) -> bool:
    """Whether a case's description (`Graph.describe`) names op (conv-dynamic: a convolution, dynamic rows)."""
    ops = description.split(": ", 1)[-1].split(" (dynamic rows")[0].split(" -> ")
    if op == "conv-dynamic":
        return "dynamic rows" in description and bool({"conv2d", "qconv2d"} & set(ops))
    return op in ops


def table(results: list[dict], seconds: float, args) -> None:
    sys.path.insert(0, str(HERE))
    from qc_graph_check import AVX512, NPU_PRESETS, STATIC_REFUSAL, TARGETS

    builds = sum(r["builds"] for r in results)
    refused = Counter(t.split()[0] for r in results for t in r["refusals"])
    nonfinite = Counter(t.split()[0] for r in results for t, m in r["refusals"].items() if STATIC_REFUSAL in m)
    kinds = Counter(f.split(":", 1)[0] for r in results for f in r["findings"])
    took = f", {args.workers} workers, {seconds:.0f} s ({os.cpu_count()} cores)" if seconds == seconds else ""
    print(f"graph fuzzer: {len(results)} cases, seed {args.seed}{took}")

    per_target = Counter()
    for r in results:
        per_target.update(t for t in TARGETS if not t.startswith("npu-") or t == NPU_PRESETS[r["case"] % 3])
        per_target["cpu-dynamic"] += "dynamic rows" in r["graph"]
        per_target[AVX512] += "avx512_zmm" in r or f"{AVX512} build" in r["refusals"]
    print(f"{'builds (cases x targets)':34s} {builds:6d}")
    print(f"{'target':34s} {'cases':>6s} {'refused (one line)':>19s} {'of which NaN/inf, static scales':>32s}")
    for t, n in per_target.items():
        print(f"{t:34s} {n:6d} {refused.get(t, 0):19d} {nonfinite.get(t, 0):32d}")
    if per_target[AVX512]:  # built, not run: how many of them hold 512-bit code
        n = sum(r.get("avx512_zmm", 0) > 0 for r in results)
        print(f"{AVX512 + ' with zmm code':34s} {n:6d}   (compiled by LLVM, not executed: no AVX512 here)")
    for op in NEW_OPS:  # how many cases had the ops added to the generator last
        n = sum(_has(r["graph"], op) for r in results)
        print(f"{'cases with ' + op:34s} {n:6d}")
    print(f"{'finding':34s} {'count':>6s}")
    for k in KINDS:
        print(f"{k:34s} {kinds.get(k, 0):6d}")
    bad = [r for r in results if r["findings"]]
    for r in bad[:10]:
        print(f"  case {r['case']}: {r['graph']}")
        for f in r["findings"][:3]:
            print(f"    {f[:300]}")
    if bad:
        print(f"reproducers: {args.out}/graph-{args.seed}-<case>.mlir")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--first", type=int, default=0, help="number of the first case")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--case", type=int, default=None, help="run this one case in process and print it")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--case-timeout", type=float, default=300.0)
    ap.add_argument("--out", default="/tmp/qcomp-graph-fuzz")
    ap.add_argument("--summarize", action="store_true", help="print the table of --out/results.jsonl and stop")
    ap.add_argument("--with-ops", default="", help="comma-separated qc ops (or conv-dynamic): only cases with one")
    args = ap.parse_args()
    if args.case is not None:
        return one_case(args.seed, args.case)
    if args.summarize:  # --out may list several runs' folders, comma-separated (a case counts once)
        by_case = {}
        for d in args.out.split(","):
            with open(os.path.join(d, "results.jsonl")) as f:
                by_case.update((r["case"], r) for r in map(json.loads, f))
        table([by_case[c] for c in sorted(by_case)], float("nan"), args)
        return 1 if any(r["findings"] for r in by_case.values()) else 0
    t0 = time.perf_counter()
    results = fuzz_graphs(args)
    table(results, time.perf_counter() - t0, args)
    return 1 if any(r["findings"] for r in results) else 0


def graph_ops(g) -> set[str]:
    """The qc ops of graph `g`, and "conv-dynamic" where it has a convolution with a dynamic batch."""
    ops = {n.op for n in g.nodes}
    if g.dyn and ops & {"conv2d", "qconv2d"}:
        ops.add("conv-dynamic")
    return ops


def cases_with_ops(seed: int, first: int, n: int, ops: set[str]) -> list[int]:
    """The first `n` case numbers from `first` on whose graph has one of `ops` (generating is cheap)."""
    sys.path.insert(0, str(HERE))
    from qc_graphs import generate

    out, case = [], first
    while len(out) < n:
        if graph_ops(generate(seed, case)) & ops:
            out.append(case)
        case += 1
    return out


def fuzz_graphs(args) -> list[dict]:
    """Run cases args.first .. args.first + args.cases - 1 (args as this CLI's); their results, in case order."""
    cases = list(range(args.first, args.first + args.cases))
    if getattr(args, "with_ops", ""):
        cases = cases_with_ops(args.seed, args.first, args.cases, set(args.with_ops.split(",")))
    os.makedirs(args.out, exist_ok=True)
    results: list[dict] = []
    done, t0 = [0], time.perf_counter()
    workers = max(1, args.workers)
    streams = [threading.Thread(target=_stream, args=(cases[k::workers], args, results, done)) for k in range(workers)]
    for t in streams:
        t.start()
    while any(t.is_alive() for t in streams):
        for t in streams:
            t.join(timeout=30)
        found = sum(bool(r["findings"]) for r in results)
        print(
            f"  qc graphs: {done[0]}/{len(cases)} cases, {found} with findings ({time.perf_counter() - t0:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    return sorted(results, key=lambda r: r["case"])


if __name__ == "__main__":
    sys.exit(main())
