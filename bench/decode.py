"""LLM prompt processing and token generation, side by side in one run: qcomp against transformers, PyTorch
dynamic int8 and llama.cpp, on SmolLM2-135M.

    .venv/bin/python bench/decode.py [--threads 1,2] [--runs 5] [--pp 128] [--tg 128] [--chunk N]
                                     [--recipes fp32,w8a8,w4a8] [--llamacpp PYTHON] [--profile S]

pp128: tokens/s of feeding a 128-token prompt into an empty cache; tg128: tokens/s of 128 single-token steps
from an empty cache (llama-bench's definitions; qcomp's tg includes the argmax over the logits). Medians of
`--runs` after one warm-up, measured in interleaved rounds (every runtime once per round, so a slow spell of
the shared machine hits all alike), wall clock. Per thread count: torch.set_num_threads(N) and qcomp's
`targets.get("cpu", threads=N)` (compiled once per thread count).
- transformers eager fp32 with its DynamicCache (what `generate` runs); `torch.ao.quantization.
  quantize_dynamic` int8 on every nn.Linear, the same loop.
- qcomp `compile_lm` per recipe (fp32 cache), and W8A8 with `kv=int8`; the prefill chunk is the prompt (--chunk,
  default --pp), as llama.cpp's batch holds the whole prompt (n_batch = n_ctx).
- llama.cpp (`llama-cpp-python`, built from source, in its own venv: see bench/llamacpp_peer.py) at Q8_0 and
  Q4_0 of the same weights, each configuration in its own process; skipped when that venv is missing. It cannot
  join the interleaved rounds, so it runs `--runs` times before the builds and again right after each thread
  count's rounds: its medians are over both sets (the load of a shared machine drifts over a long run).
Memory: `weights+cache` is what a runtime holds (qcomp: its weight buffers, shared between the two steps, and the
KV cache of 512 positions); `read/token` the weight bytes one decode step reads (qcomp: all but the f32
embedding table); `read GB/s` = read/token x tg, the weight stream generation sustains, to compare with the
machine's memory bandwidth (the header gives a 512 MB numpy copy's read + write rate); `peak` (with --rss) the
peak RSS of a process that builds only that runtime and runs pp + tg once (llama.cpp: always, its own process).
--profile S: then S seconds of qcomp W8A8's pp under `perf record` (first thread count), the share of the samples
per kernel kind (bench/jit_profile.py).
"""

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
DEFAULT_LLAMACPP = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qcomp-bench/llamacpp-venv"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bandwidth_gbs() -> float:
    """Copy bandwidth (read + write bytes / s) of a 512 MB numpy copy, best of 3."""
    a = np.ones(64 << 20, np.float64)
    b = np.empty_like(a)
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        np.copyto(b, a)
        best = max(best, 2 * a.nbytes / (time.perf_counter() - t))
    return best / 1e9


class HF:
    """transformers' own prefill + cached decode loop (eager)."""

    def __init__(self, lm):
        self.lm = lm

    def pp(self, ids):
        with torch.no_grad():
            self.lm(ids, use_cache=True)

    def tg(self, n):
        from transformers import DynamicCache

        cache = DynamicCache()
        tok = torch.zeros(1, 1, dtype=torch.long)
        with torch.no_grad():
            for _ in range(n):
                out = self.lm(tok, past_key_values=cache, use_cache=True)
                tok = out.logits[:, -1].argmax(-1, keepdim=True)


class Qcomp:
    def __init__(self, lm):
        self.lm = lm

    def pp(self, ids):
        self.lm.reset()
        self.lm.prefill(ids)

    def tg(self, n):
        self.lm.reset()
        tok = np.zeros(1, np.int64)
        for _ in range(n):
            tok = self.lm.decode(tok).numpy().argmax(-1)


def python_share(lm, steps: int = 64) -> tuple[float, float]:
    """(µs per decode() call, µs of it outside the compiled step): the per-token Python overhead."""
    fn = lm.decode_model.artifact.fn
    inner, native = fn._fn, [0.0]

    def timed(packed):
        t = time.perf_counter()
        inner(packed)
        native[0] += time.perf_counter() - t

    fn._fn = timed
    try:
        lm.reset()
        tok = np.zeros(1, np.int64)
        t = time.perf_counter()
        for _ in range(steps):
            tok = lm.decode(tok).numpy().argmax(-1)
        total = time.perf_counter() - t
    finally:
        fn._fn = inner
    return total / steps * 1e6, (total - native[0]) / steps * 1e6


def llamacpp_rows(python: Path, threads: list[int], runs: int, pp: int, tg: int) -> list[dict]:
    script = Path(__file__).with_name("llamacpp_peer.py")
    cmd = [str(python), str(script), "--threads", ",".join(map(str, threads)), "--runs", str(runs)]
    cmd += ["--pp", str(pp), "--tg", str(tg), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode:
        print(f"llama.cpp peer failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return []
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def merge_runs(llama: dict, r: dict, pp: int, tg: int) -> None:
    """Add llama.cpp result `r` to `llama` (by quant and threads): medians over every run so far."""
    key = r["quant"], r["threads"]
    if key not in llama:
        llama[key] = r
        return
    m = llama[key]
    m["pp_all"], m["tg_all"] = m["pp_all"] + r["pp_all"], m["tg_all"] + r["tg_all"]
    m[f"pp{pp}_tok_s"], m[f"tg{tg}_tok_s"] = statistics.median(m["pp_all"]), statistics.median(m["tg_all"])
    m["peak_rss_mb"] = max(m["peak_rss_mb"], r["peak_rss_mb"])


def read_bytes(lm) -> int:
    """Weight bytes a qcomp decode step reads: every weight buffer but the f32 embedding table (one row read)."""
    vocab = lm.vocab
    return sum(
        w.nbytes
        for w in lm.decode_model.artifact.fn.weights
        if not (w.dtype == np.float32 and w.ndim == 2 and w.shape[0] == vocab)
    )


def build(name: str, model, tok, target, chunk: int):
    """(runner, resident weight + cache bytes, weight bytes read per decode step) of the runtime `name`."""
    from qcomp.generate import compile_lm

    hf = model.lm
    if name == "transformers eager fp32":
        return HF(hf), 4.0 * hf.num_parameters(), 4.0 * hf.num_parameters()
    if name == "torch quantize_dynamic int8":
        qd = torch.ao.quantization.quantize_dynamic(copy.deepcopy(hf), {torch.nn.Linear}, dtype=torch.qint8)
        return HF(qd), float("nan"), float("nan")
    _, recipe, kv = name.split()
    lm = compile_lm(model, tok, target=target, recipe=recipe, kv=kv[3:], max_seq=512, chunk=chunk)
    weights = sum(w.nbytes for w in lm.decode_model.artifact.fn.weights)
    weights += (
        sum(w.nbytes for w in lm.prefill_model.artifact.fn.weights if w.nbytes) - lm.report["shared_weight_bytes"]
    )
    return Qcomp(lm), weights + lm.report["cache_bytes"], read_bytes(lm)


def peak_rss_child(name: str, threads: int, chunk: int, pp: int, tg: int) -> float:
    """Peak RSS (MB) of a process that builds only runtime `name` and runs pp + tg once."""
    cmd = [sys.executable, __file__, "--rss-of", name, "--threads", str(threads), "--chunk", str(chunk)]
    cmd += ["--pp", str(pp), "--tg", str(tg)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1])["peak_rss_mb"] if lines else float("nan")


def profile_pp(runner, ids, seconds: float) -> None:
    """Print where qcomp's pp time goes: perf samples per kernel kind (bench/jit_profile.py)."""
    from jit_profile import profile

    shares = profile(runner.lm.prefill_model.artifact.fn, lambda: runner.pp(ids), seconds, "/tmp/qcomp-pp.perf")
    if shares is None:
        print("(no perf or nm: --profile skipped)")
        return
    print(
        f"\nqcomp w8a8 pp{ids.shape[1]}, {seconds:.0f} s of perf samples: "
        + ", ".join(f"{k} {v:.1f}%" for k, v in shares if v >= 0.5)
    )


def vm_hwm_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) / 1024 for ln in f if ln.startswith("VmHWM"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pp", type=int, default=128)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--chunk", type=int, default=None, help="qcomp's prefill chunk (default: --pp)")
    ap.add_argument("--recipes", default="fp32,w8a8,w4a8")
    ap.add_argument("--llamacpp", default=str(DEFAULT_LLAMACPP / "bin/python"), help="python of llama.cpp's venv")
    ap.add_argument("--rss", action="store_true", help="also each runtime's peak RSS, in a process of its own")
    ap.add_argument("--rss-of", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--profile", type=float, default=0.0, help="seconds of perf samples of qcomp W8A8's pp")
    args = ap.parse_args()
    args.chunk = args.chunk or args.pp
    import qcomp
    from qcomp.models import smollm2

    threads = [int(t) for t in args.threads.split(",")]
    model, tok = smollm2()
    hf = model.lm
    ids = torch.randint(0, hf.config.vocab_size, (1, args.pp), generator=torch.Generator().manual_seed(0))
    if args.rss_of:  # child of --rss
        torch.set_num_threads(threads[0])
        runner, _, _ = build(args.rss_of, model, tok, qcomp.targets.get("cpu", threads=threads[0]), args.chunk)
        runner.pp(ids)
        runner.tg(args.tg)
        print(json.dumps({"name": args.rss_of, "peak_rss_mb": vm_hwm_mb()}))
        return
    bw = bandwidth_gbs()
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    print(f"SmolLM2-135M; {cpu}, {os.cpu_count()} cores; {platform.python_version()}; torch {torch.__version__}")
    print(f"copy bandwidth {bw:.1f} GB/s; pp{args.pp}, tg{args.tg}, medians of {args.runs}; qcomp chunk {args.chunk}")
    llama = {}
    if Path(args.llamacpp).exists():
        for r in llamacpp_rows(Path(args.llamacpp), threads, args.runs, args.pp, args.tg):
            merge_runs(llama, r, args.pp, args.tg)
    else:
        print(f"(llama.cpp rows skipped: no {args.llamacpp}; see bench/llamacpp_peer.py)")
    names = ["transformers eager fp32", "torch quantize_dynamic int8"]
    names += [f"qcomp {r} kv=fp32" for r in args.recipes.split(",")] + ["qcomp w8a8 kv=int8"]
    for n in threads:
        torch.set_num_threads(n)
        target = qcomp.targets.get("cpu", threads=n)
        runtimes = [(name, *build(name, model, tok, target, args.chunk)) for name in names]
        for _, r, _, _ in runtimes:  # warm-up
            r.pp(ids)
            r.tg(4)
        pp_t = {name: [] for name, *_ in runtimes}
        tg_t = {name: [] for name, *_ in runtimes}
        for _ in range(args.runs):
            for name, r, _, _ in runtimes:
                t = time.perf_counter()
                r.pp(ids)
                pp_t[name].append(time.perf_counter() - t)
                t = time.perf_counter()
                r.tg(args.tg)
                tg_t[name].append(time.perf_counter() - t)
        if llama:  # llama.cpp again, right after the rounds
            for r in llamacpp_rows(Path(args.llamacpp), [n], args.runs, args.pp, args.tg):
                merge_runs(llama, r, args.pp, args.tg)
        peaks = {name: peak_rss_child(name, n, args.chunk, args.pp, args.tg) if args.rss else None for name in names}
        print(f"\n## {n} thread{'s' if n > 1 else ''} (load average {os.getloadavg()[0]:.1f})")
        print("| runtime | pp tok/s | tg tok/s | tg / eager | weights+cache MB | read/token MB | read GB/s | peak MB |")
        print("|---|---|---|---|---|---|---|---|")
        eager_tg = args.tg / statistics.median(tg_t["transformers eager fp32"])
        for name, _, resident, read in runtimes:
            pp_s = args.pp / statistics.median(pp_t[name])
            tg_s = args.tg / statistics.median(tg_t[name])
            rate = read * tg_s / 1e9  # weight bytes streamed per second while generating
            peak = f"{peaks[name]:.0f}" if peaks[name] is not None else "-"
            print(
                f"| {name} | {pp_s:.1f} | {tg_s:.1f} | {tg_s / eager_tg:.2f} | {resident / 2**20:.0f} | "
                f"{read / 2**20:.0f} | {rate:.1f} | {peak} |"
            )
        for quant in ("q8_0", "q4_0"):
            r = llama.get((quant, n))
            if r:
                pp_s, tg_s = r[f"pp{args.pp}_tok_s"], r[f"tg{args.tg}_tok_s"]
                print(
                    f"| llama.cpp {quant.upper()} | {pp_s:.1f} | {tg_s:.1f} | {tg_s / eager_tg:.2f} | "
                    f"{r.get('model_mb', 0):.0f} (file) | | | {r['peak_rss_mb']:.0f} |"
                )

        w8 = next((r for name, r, *_ in runtimes if name == "qcomp w8a8 kv=fp32"), None)
        if w8 is not None:
            per, py = python_share(w8.lm)
            print(f"\nqcomp w8a8 decode: {per:.0f} us per token, {py:.0f} us ({py / per:.1%}) of it outside the step")
        if w8 is not None and args.profile and n == threads[0]:
            profile_pp(w8, ids, args.profile)


if __name__ == "__main__":
    main()
