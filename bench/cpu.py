"""End-to-end CPU latency, side by side in one run: qcomp against PyTorch (and ONNX Runtime when installed).

    .venv/bin/python bench/cpu.py [--models minilm,smollm2] [--seqs 128] [--threads 1] [--reps 7]

For MiniLM (all-MiniLM-L6-v2, one padded sentence of `seq` tokens) and SmolLM2-135M (one prefill of `seq`
tokens): PyTorch eager fp32, PyTorch dynamic int8 (`torch.ao.quantization.quantize_dynamic` on every
nn.Linear), ONNX Runtime fp32 and its dynamic int8 quantization (only if `onnxruntime` and `onnx` are
installed: `make bench-setup`), and qcomp fp32 / w8a8 / w4a8 / w4a16 compiled for the CPU. Medians of `--reps`
calls after one warm-up, measured in interleaved rounds (each round calls every runtime once, so a slow
spell of the shared machine hits all alike), wall clock (or the calling thread's CPU time with `--clock
cpu`); every ratio is to PyTorch eager fp32 measured in the same run. Threads (`--threads N`):
torch.set_num_threads, ORT's intra-op threads and qcomp's `targets.get("cpu", threads=N)` (OpenMP over GEMM
tiles and rows); with N > 1 every timed call follows an untimed one of the same runtime, so that its worker
threads are awake (the steady state of a serving loop).
"""

import argparse
import copy
import functools
import os
import platform
import time

import numpy as np
import torch
from prefill_inputs import prefill_inputs

CLOCK = {"wall": time.perf_counter, "cpu": time.thread_time}
_clock = time.perf_counter


# before each timed call: the previous runtime's idle worker threads (libgomp, ORT's pool, OpenMP) spin for a
# while after their last job and would take the cores from the next runtime's threads
SETTLE_S = 0.2


def _interleaved(runners: list[tuple[str, object]], reps: int, warm: int = 0) -> list[tuple[str, float]]:
    """Median seconds per call of each runner, measured in `reps` rounds that call every runner once (after one
    warm-up call each), so that a slow spell of the shared machine hits all of them alike. warm: untimed calls
    right before each timed one (with threads: after the settle pause, a runtime's sleeping worker threads take
    milliseconds to wake on this VM, which a serving loop calling back to back never pays)."""
    times: dict[str, list[float]] = {label: [] for label, _ in runners}
    for _, fn in runners:
        fn()
    for _ in range(reps):
        for label, fn in runners:
            time.sleep(SETTLE_S)
            for _ in range(warm):
                fn()
            t = _clock()
            fn()
            times[label].append(_clock() - t)
    return [(label, float(np.median(times[label]))) for label, _ in runners]


class _WithMask(torch.nn.Module):
    """A causal LM called with an all-ones attention mask: the TorchScript ONNX exporter cannot export the
    packed-sequence check (aten::diff) transformers runs when the mask is absent; the logits are the same."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids, attention_mask):
        return self.lm(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits


def _ort_runners(model, inputs, threads: int, tmp: str) -> list[tuple[str, object]]:
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        return []
    path = os.path.join(tmp, "model.onnx")
    if hasattr(model, "lm"):  # qcomp.models.CausalLMLogits
        model, inputs = _WithMask(model.lm), (inputs[0], torch.ones_like(inputs[0]))
    names = [f"in{i}" for i in range(len(inputs))]
    torch.onnx.export(model, inputs, path, input_names=names, dynamo=False)
    qpath = os.path.join(tmp, "model.int8.onnx")
    quantize_dynamic(path, qpath, weight_type=QuantType.QInt8)
    runners = []
    for label, p in (("onnxruntime fp32", path), ("onnxruntime dynamic int8", qpath)):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sess = ort.InferenceSession(p, so, providers=["CPUExecutionProvider"])
        feed = {n: x.numpy() for n, x in zip(names, inputs, strict=True)}
        runners.append((label, functools.partial(sess.run, None, feed)))
    return runners


def main() -> None:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="minilm,smollm2")
    ap.add_argument("--seqs", default="128")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--recipes", default="fp32,w8a8,w4a8,w4a16")
    ap.add_argument(
        "--clock",
        choices=sorted(CLOCK),
        default="wall",
        help="cpu: the calling thread's CPU time (robust on a shared machine; with --threads 1 only)",
    )
    args = ap.parse_args()
    if args.clock == "cpu" and args.threads != 1:
        ap.error("--clock cpu measures the calling thread only: use it with --threads 1")
    global _clock
    _clock = CLOCK[args.clock]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    import qcomp

    print(
        f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, threads {args.threads}, "
        f"clock {args.clock}"
    )
    for name in args.models.split(","):
        for seq in (int(s) for s in args.seqs.split(",")):
            model, inputs = prefill_inputs(name, seq)
            dyn = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)
            runners = [("pytorch eager fp32", functools.partial(model, *inputs))]
            runners.append(("pytorch dynamic int8", functools.partial(dyn, *inputs)))
            with tempfile.TemporaryDirectory() as tmp:
                runners += _ort_runners(model, inputs, args.threads, tmp)
            target = qcomp.targets.get("cpu", threads=args.threads)
            for recipe in args.recipes.split(","):
                cm = qcomp.compile(model, inputs, recipe=recipe, target=target)
                runners.append((f"qcomp {recipe}", functools.partial(cm, *inputs)))
            with torch.no_grad():
                rows = _interleaved(runners, args.reps, warm=1 if args.threads > 1 else 0)
            eager = rows[0][1]
            del runners, dyn
            print(f"\n{name}, {seq} tokens:")
            print("| runtime | median ms | x eager fp32 |")
            print("|---|---|---|")
            for label, t in rows:
                print(f"| {label} | {t * 1e3:.2f} | {t / eager:.3f} |", flush=True)


if __name__ == "__main__":
    main()
