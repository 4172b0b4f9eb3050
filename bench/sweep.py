"""A sweep in process vs on a local Ray cluster: wall time of each, their ratio, and whether the numbers agree.

    .venv/bin/python bench/sweep.py [examples/sweeps/smollm2.yaml] [-o out/bench-sweep] [--cpus 2] [--only ray|serial]

Both runs start from empty result directories (`-o`/serial, `-o`/ray). The Ray run starts a local cluster on
127.0.0.1 with `--cpus` CPUs (its start-up is timed and counted in the Ray time), one point per CPU at a time,
each point with the sweep's `threads` torch/CPU-target threads. The machine's load average is printed beside the
times: on a shared machine the ratio says as much about the other processes as about Ray.
"""

import argparse
import json
import os
import shutil
import sys
import time

EXACT = ("value", "fp32_value", "avg_wbits", "weights_bytes", "budget")


def _run(spec, out: str, ray: str | None, cpus: int) -> tuple[float, float, dict]:
    from qcomp.sweep import read_results, run_sweep

    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    startup = 0.0
    if ray:
        from qcomp.executor import ray_init

        ray_init(ray, cpus)
        startup = time.perf_counter() - start
    outcome = run_sweep(spec, out, ray=ray, num_cpus=cpus)
    seconds = time.perf_counter() - start
    if outcome.failed:
        print("failed points:\n  " + "\n  ".join(outcome.failed), file=sys.stderr)
    return seconds, startup, read_results(os.path.join(out, "results.jsonl"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec", nargs="?", default="examples/sweeps/smollm2.yaml")
    ap.add_argument("-o", "--output", default="out/bench-sweep")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--only", choices=("ray", "serial"), default=None)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from qcomp.sweep_spec import load_spec

    spec = load_spec(args.spec)
    print(f"sweep {spec.name}: {len(spec.points)} points; load average before: {os.getloadavg()[0]:.1f}", flush=True)
    runs = {}
    for name, ray in (("serial", None), ("ray", "local")):
        if args.only in (None, name):
            runs[name] = _run(spec, os.path.join(args.output, name), ray, args.cpus)
            s, up, _ = runs[name]
            extra = f" (Ray start-up {up:.1f} s included)" if ray else ""
            print(f"{name}: {s:.1f} s{extra}; load average now {os.getloadavg()[0]:.1f}", flush=True)
    summary = {k: {"seconds": v[0], "startup_s": v[1], "points": len(v[2])} for k, v in runs.items()}
    if len(runs) == 2:
        serial, ray = runs["serial"][2], runs["ray"][2]
        same = serial.keys() == ray.keys() and all(
            {k: serial[p].get(k) for k in EXACT} == {k: ray[p].get(k) for k in EXACT} for p in serial
        )
        ratio = runs["ray"][0] / runs["serial"][0]
        summary |= {"ratio": ratio, "same_numbers": same}
        print(f"ray / serial = {ratio:.3f} with {args.cpus} workers; identical numbers: {same}")
    with open(os.path.join(args.output, "bench.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
