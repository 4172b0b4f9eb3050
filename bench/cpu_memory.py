"""Peak memory of a compiled model against PyTorch fp32, each in its own process, side by side in one run.

    .venv/bin/python bench/cpu_memory.py [--models minilm,smollm2] [--seq 128] [--recipe w8a8]

- PyTorch fp32: a fresh Python process imports torch and transformers, loads the model, runs one forward
  pass of `seq` tokens (no grad) and reports its peak resident set (ru_maxrss), and the RSS after the imports
  (what any PyTorch process pays before the model).
- qcomp: the model compiled with `--recipe` for the CPU target (threads as given), saved ahead of time
  (`model.so` + `model.weights`, see examples/c) and run once by `examples/c/run_model`, started by the launcher:
  its peak RSS is the whole deployed model: code, weights and activations, no Python.
Ratios are qcomp's peak over PyTorch's peak, and over PyTorch's peak less its import baseline.

A process's peak RSS counts the memory of the process it was forked from (Linux carries the high-water mark
across exec), so every measured process is started by a small launcher process that is spawned first,
before this script imports anything big: the launcher's own few MB are the resolution of the figures.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

TORCH_CHILD = """
import json, resource, sys
sys.path.insert(0, {here!r})
import torch, transformers
from prefill_inputs import prefill_inputs
torch.set_num_threads({threads})
def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
base = rss_kb()
model, inputs = prefill_inputs({name!r}, {seq})
with torch.no_grad():
    model(*inputs)
print(json.dumps({{"base_kb": base, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""


LAUNCHER = """
import json, os, subprocess, sys
for line in sys.stdin:
    p = subprocess.Popen(json.loads(line), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    print(json.dumps({"status": status, "peak_kb": usage.ru_maxrss, "stdout": out}), flush=True)
"""


class Launcher:
    """A small process that runs commands and reports each one's exit status, peak RSS and stdout."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, argv: list[str]) -> dict:
        self.proc.stdin.write(json.dumps(argv) + "\n")
        self.proc.stdin.flush()
        r = json.loads(self.proc.stdout.readline())
        if r["status"] != 0:
            raise SystemExit(f"{argv[0]} failed with status {r['status']}")
        return r


def torch_peak(launcher: Launcher, name: str, seq: int, threads: int) -> dict:
    code = TORCH_CHILD.format(here=HERE, name=name, seq=seq, threads=threads)
    r = launcher.run([sys.executable, "-c", code])
    return json.loads(r["stdout"].strip().splitlines()[-1])


def qcomp_peak(launcher: Launcher, name: str, seq: int, recipe: str, threads: int, tmp: str) -> dict:
    import qcomp
    import torch
    from prefill_inputs import prefill_inputs

    torch.set_num_threads(threads)
    model, inputs = prefill_inputs(name, seq)
    cm = qcomp.compile(model, inputs, recipe=recipe, target=qcomp.targets.get("cpu", threads=threads))
    cm.save(tmp)
    del cm, model
    subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "examples", "c"), f"MODEL_DIR={tmp}"], check=True)
    r = launcher.run([os.path.join(tmp, "run_model"), os.path.join(tmp, "model.weights")])
    return {"peak_kb": r["peak_kb"], "weights_kb": os.path.getsize(os.path.join(tmp, "model.weights")) // 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="minilm,smollm2")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--recipe", default="w8a8")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    launcher = Launcher()  # first, while this process is small
    floor = launcher.run([sys.executable, "-c", "pass"])["peak_kb"]
    sys.path.insert(0, HERE)
    print(
        f"# peak resident memory, seq {args.seq}, threads {args.threads}, qcomp recipe {args.recipe}; "
        f"resolution: a bare Python started by the launcher peaks at {floor / 1024:.0f} MB"
    )
    print(
        "| model | PyTorch fp32 peak MB | (less import baseline) | qcomp AOT peak MB | weights file MB "
        "| x PyTorch peak | x PyTorch model part |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        t = torch_peak(launcher, name, args.seq, args.threads)
        with tempfile.TemporaryDirectory() as tmp:
            q = qcomp_peak(launcher, name, args.seq, args.recipe, args.threads, tmp)
        model_part = t["peak_kb"] - t["base_kb"]
        print(
            f"| {name} | {t['peak_kb'] / 1024:.0f} | {model_part / 1024:.0f} | {q['peak_kb'] / 1024:.0f} "
            f"| {q['weights_kb'] / 1024:.0f} | {q['peak_kb'] / t['peak_kb']:.3f} | {q['peak_kb'] / model_part:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
