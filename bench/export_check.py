"""SmolLM2-135M exported by `qcomp export`: do llama.cpp and ONNX Runtime reproduce qcomp's numbers?

    .venv/bin/python bench/export_check.py --recipes w8a8,w4a16 --windows 4 --seq 256

For each recipe: qcomp's own perplexity (the model compiled for the CPU) on `--windows` windows of the vendored
text; the GGUF export run by llama.cpp (llama-cpp-python in its own venv, `make bench-llamacpp`; skipped when
absent) and the ONNX export run by ONNX Runtime (`pip install onnx onnxruntime`; skipped when absent) on the same
token windows; and, for comparison, llama.cpp's own quantizer (Q8_0 / Q4_0 of the float model, as made by
bench/llamacpp_peer.py) and the F32 GGUF. Logits of the first window are compared with qcomp's: max |Δ| over
max |logit| and top-1 agreement. ONNX Runtime runs twice: with `session.qdq_matmulnbits_accuracy_level=0`
(float products: qcomp's semantics) and with its default (it may fuse QDQ MatMuls into int8-activation kernels).
llama.cpp always quantizes activations itself (Q8_0 blocks of 32) for Q8_0/Q4_0 weights.

Measured (2 shared cores, 4 windows x 256 tokens; llama-cpp-python 0.3.36, onnxruntime 1.32), perplexity:
fp32 PyTorch 25.315, llama.cpp F32 GGUF 25.316, llama.cpp's own Q8_0 25.36 and Q4_0 30.95;
w4a16 (RTN g128): qcomp 54.138, llama.cpp on the GGUF 54.298 (+0.3%), ONNX Runtime MatMulNBits 54.138
(logits within 3e-6); w4a16-awq: qcomp 35.118, llama.cpp 35.081 (-0.1%), ONNX Runtime 35.118;
w8a8: qcomp 26.675, llama.cpp 25.518, ONNX Runtime QDQ 27.033 (acc0) / 26.494 (default). W8A8 logits of the
three differ by ~0.13-0.16 of max|logit| because per-token int8 activations on SmolLM2 (massive outliers) are
ill-conditioned: moving every activation by one f32 ulp before quantizing moves qcomp's own reference logits
by 0.147 (top-1 0.96); llama.cpp's per-32-block activation quantization is finer, hence its lower perplexity.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
LLAMACPP_PY = CACHE / "qcomp-bench" / "llamacpp-venv" / "bin" / "python"
PEER_GGUF = CACHE / "qcomp" / "llamacpp"
LLAMA_SNIPPET = """
import json, math, sys
import numpy as np
import llama_cpp
path, wins_file, logits_out, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
wins = json.load(open(wins_file))
n = len(wins[0])
llm = llama_cpp.Llama(path, n_ctx=n, n_batch=n, n_ubatch=n, logits_all=True, n_threads=threads,
                      n_threads_batch=threads, verbose=False)
nll, count = 0.0, 0
for i, w in enumerate(wins):
    llm.reset()
    llm.eval(w)
    logits = np.array(llm.scores[:n], dtype=np.float64)
    if i == 0:
        np.save(logits_out, logits.astype(np.float32))
    m = logits[:-1].max(-1, keepdims=True)
    logp = logits[:-1] - m - np.log(np.exp(logits[:-1] - m).sum(-1, keepdims=True))
    nll -= float(logp[np.arange(n - 1), w[1:]].sum())
    count += n - 1
print(json.dumps({"ppl": math.exp(nll / count), "tokens": count}))
"""


def ppl_of(logits_fn, wins) -> tuple[float, np.ndarray]:
    from qcomp.evaluate import window_nll

    nll, count, first = 0.0, 0, None
    for w in wins:
        logits = torch.as_tensor(logits_fn(w))
        first = logits[0].numpy() if first is None else first
        nll += window_nll(logits, w)
        count += w.shape[1] - 1
    return math.exp(nll / count), first


def compare(got: np.ndarray, want: np.ndarray) -> dict:
    return {
        "max_rel": float(np.abs(got - want).max() / np.abs(want).max()),
        "top1": float((got.argmax(-1) == want.argmax(-1)).mean()),
    }


def llamacpp(path: Path, wins, threads: int) -> tuple[float, np.ndarray] | None:
    if not LLAMACPP_PY.exists() or not path.exists():
        return None
    with tempfile.TemporaryDirectory() as d:
        wf, lf = os.path.join(d, "w.json"), os.path.join(d, "l.npy")
        with open(wf, "w") as f:
            json.dump([w[0].tolist() for w in wins], f)
        cmd = [str(LLAMACPP_PY), "-c", LLAMA_SNIPPET, str(path), wf, lf, str(threads)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1]
        return json.loads(out)["ppl"], np.load(lf)


def onnxrt(path: str, wins, exact: bool) -> tuple[float, np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    if exact:
        so.add_session_config_entry("session.qdq_matmulnbits_accuracy_level", "0")
    s = ort.InferenceSession(path, so)
    return ppl_of(lambda w: s.run(None, {"input_ids": w.numpy()})[0], wins)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipes", default="w8a8,w4a16", help="built-in names or recipe .yaml files")
    p.add_argument("--windows", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--calib", type=int, default=4, help="calibration windows (calibrated recipes)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="directory for the exported files (default: a temporary one)")
    p.add_argument("--no-onnx", action="store_true")
    p.add_argument("--no-peers", action="store_true", help="skip the F32 GGUF and llama.cpp's own Q8_0/Q4_0")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(a.threads)
    import qcomp
    from qcomp.evaluate import default_text, token_windows
    from qcomp.export_gguf import write_gguf
    from qcomp.export_llama import extract, hf_config
    from qcomp.export_model import quantized_module
    from qcomp.export_onnx import write_onnx
    from qcomp.models import smollm2
    from qcomp.recipes import get_recipe

    model, tok = smollm2()
    wins, cal = token_windows(tok, default_text(), a.windows, a.seq, a.calib)
    out = Path(a.out or tempfile.mkdtemp(prefix="qcomp-export-"))
    out.mkdir(parents=True, exist_ok=True)
    rows = []

    def row(**r):
        rows.append(r)
        if a.json:
            print(json.dumps(r), flush=True)
        else:
            cmp = f"  vs qcomp: max|Δ|/max {r['max_rel']:.2e}, top-1 {r['top1']:.3f}" if "max_rel" in r else ""
            print(f"{r['recipe']:>11} {r['runtime']:<34} ppl {r['ppl']:9.4f}{cmp}", flush=True)

    with torch.no_grad():
        ppl, fp_logits = ppl_of(lambda w: model(w).numpy(), wins)
    row(recipe="fp32", runtime="PyTorch", ppl=ppl)
    for name, f in (("llama.cpp F32 GGUF", "f32"), ("llama.cpp own Q8_0", "q8_0"), ("llama.cpp own Q4_0", "q4_0")):
        r = None if a.no_peers else llamacpp(PEER_GGUF / f"smollm2-135m-{f}.gguf", wins, a.threads)
        if r is not None:
            row(recipe="fp32", runtime=name, ppl=r[0], **compare(r[1], fp_logits))
    for recipe in a.recipes.split(","):
        rec = get_recipe(recipe)
        calibration = [(c,) for c in cal] if rec.calibration else None
        t = time.perf_counter()
        cm = qcomp.compile(model, (wins[0],), target="cpu", recipe=rec, calibration=calibration)
        ppl, q_logits = ppl_of(lambda w, cm=cm: cm(w).numpy(), wins)
        row(recipe=rec.name, runtime="qcomp (cpu)", ppl=ppl, compile_s=round(time.perf_counter() - t, 1))
        module, rec = quantized_module(model, (wins[0],), rec, calibration)  # what `qcomp export` writes
        lx = extract(module, hf_config(model))
        gg = out / f"smollm2-{rec.name}.gguf"
        res = write_gguf(lx, str(gg), tok, recipe=rec)
        r = llamacpp(gg, wins, a.threads)
        if r is not None:
            row(recipe=rec.name, runtime=f"llama.cpp {'/'.join(res.types)} GGUF", ppl=r[0], **compare(r[1], q_logits))
        if a.no_onnx:
            continue
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            continue
        weights = "nbits" if rec.name.startswith("w4a16") else "qdq"
        on = out / f"smollm2-{rec.name}-{weights}.onnx"
        write_onnx(lx, str(on), rec, weights)
        for exact in (True, False):
            ppl, lg = onnxrt(str(on), wins, exact)
            label = f"ONNX Runtime {weights}{' acc0' if exact else ' default'}"
            row(recipe=rec.name, runtime=label, ppl=ppl, **compare(lg, q_logits))
    print(f"files in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
