"""Peak memory of calibration: the whole-model path against block streaming (`calibrate(..., stream="blocks")`).

    .venv/bin/python bench/calib_stream.py [--windows 128] [--seq 128] [--no-hessian] [--sensitivity w4a16g128]

SmolLM2-135M (its fp32 checkpoint, which `qcomp.models.smollm2` writes under ~/.cache/qcomp), calibrated on
`--windows` windows of `--seq` tokens of the vendored text (the windows after the first 16 evaluation windows),
with Hessians (qc-gptq) unless --no-hessian, and output gains when --sensitivity names a reference. Each path
runs in its own process (one torch thread), which reports its peak resident set (ru_maxrss) and wall time and
saves its table; this script then prints both side by side and the largest differences between the two tables
(relative to each array's largest magnitude): the streamed path runs PyTorch eager, the whole-model path the
compiled fp32 build, so equal tables differ by f32 rounding.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def _child(path: str, out: str, windows: int, seq: int, hessian: bool, sensitivity: str | None) -> None:
    import torch
    from qcomp.calibrate import calibrate
    from qcomp.evaluate import default_text, token_windows
    from transformers import AutoTokenizer

    torch.set_num_threads(1)
    ckpt = _checkpoint()
    tok = AutoTokenizer.from_pretrained(ckpt)
    _, cal = token_windows(tok, default_text(), 16, seq, windows)
    samples = [(c,) for c in cal]
    start = time.perf_counter()
    if path == "whole":
        from qcomp.models import smollm2

        model, _ = smollm2()
        table = calibrate(model, samples, hessian=hessian, sensitivity=sensitivity)
    else:
        from qcomp.calib_stream import skeleton

        model = skeleton(ckpt)
        table = calibrate(model, samples, hessian=hessian, sensitivity=sensitivity, stream="blocks", weights=ckpt)
    seconds = time.perf_counter() - start
    table.save(os.path.join(out, f"{path}.json"))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    with open(os.path.join(out, f"{path}.run.json"), "w") as f:
        json.dump({"peak_rss_mib": rss, "seconds": seconds, "ops": len(table.ops)}, f)


def _checkpoint() -> str:
    from qcomp.dialects.cache import cache_dir
    from qcomp.models import smollm2

    ckpt = os.path.join(cache_dir(), "smollm2-135m-fp32")
    if not os.path.isfile(os.path.join(ckpt, "model.safetensors")):
        smollm2()  # de-quantizes the GGUF once and writes the checkpoint
    return ckpt


def _diff(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a))), 1e-30)) if a.size else 0.0


def _compare(whole, streamed) -> dict:
    worst: dict[str, float] = {}

    def note(k: str, v: float) -> None:
        worst[k] = max(worst.get(k, 0.0), v)

    for w, s in zip(whole.ops, streamed.ops, strict=True):
        note("absmax", _diff(w.absmax, s.absmax))
        note("mean_abs", _diff(w.mean_abs, s.mean_abs))
        note("row sample", _diff(w.sample, s.sample))
        for m in w.clips:
            note(f"clip {m}", abs(w.clips[m] - s.clips[m]) / max(w.clips[m], 1e-30))
        if w.hessian is not None:
            note("hessian", _diff(w.hessian, s.hessian))
        for k in (w.output_gain or {}).keys() & (s.output_gain or {}).keys():
            note(f"gain {k}", abs(w.output_gain[k] - s.output_gain[k]) / max(abs(w.output_gain[k]), 1e-30))
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=128)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--no-hessian", action="store_true")
    ap.add_argument("--sensitivity", default=None)
    ap.add_argument("-o", "--output", default=None, help="where the two tables go (default: a temporary directory)")
    ap.add_argument("--child", choices=("whole", "stream"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    hessian = not args.no_hessian
    if args.child:
        _child(args.child, args.output, args.windows, args.seq, hessian, args.sensitivity)
        return 0
    out = args.output or tempfile.mkdtemp(prefix="calib-stream-")
    os.makedirs(out, exist_ok=True)
    _checkpoint()
    print(
        f"SmolLM2-135M, {args.windows} windows x {args.seq} tokens, hessian={hessian}, sensitivity={args.sensitivity}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, 1 torch thread; "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    runs = {}
    for path in ("stream", "whole"):
        cmd = [sys.executable, __file__, "--child", path, "-o", out, "--windows", str(args.windows)]
        cmd += ["--seq", str(args.seq)] + (["--no-hessian"] if not hessian else [])
        cmd += ["--sensitivity", args.sensitivity] if args.sensitivity else []
        subprocess.run(cmd, check=True)
        with open(os.path.join(out, f"{path}.run.json")) as f:
            runs[path] = json.load(f)
        r = runs[path]
        print(f"{path}: peak RSS {r['peak_rss_mib']:.0f} MiB, {r['seconds']:.1f} s", flush=True)
    from qcomp.calibrate import CalibrationTable

    whole = CalibrationTable.load(os.path.join(out, "whole.json"))
    streamed = CalibrationTable.load(os.path.join(out, "stream.json"))
    same_keys = [o.key for o in whole.ops] == [o.key for o in streamed.ops]
    print("\n| path | peak RSS MiB | seconds |\n|---|---|---|")
    for path in ("whole", "stream"):
        print(f"| {path} | {runs[path]['peak_rss_mib']:.0f} | {runs[path]['seconds']:.1f} |")
    ratio = runs["stream"]["peak_rss_mib"] / runs["whole"]["peak_rss_mib"]
    print(f"\nstream / whole peak RSS = {ratio:.3f}; load average now {os.getloadavg()[0]:.1f}")
    print(f"same ops and keys: {same_keys}; same fingerprint: {whole.fingerprint == streamed.fingerprint}")
    if same_keys:
        for k, v in _compare(whole, streamed).items():
            print(f"  max |whole - stream| / max |whole|, {k}: {v:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
