"""SmolLM2-135M exported by `qcomp export`: do llama.cpp and ONNX Runtime reproduce qcomp's numbers?

    .venv/bin/python bench/export_check.py --recipes w8a8,w4a16 --windows 4 --seq 256
    .venv/bin/python bench/export_check.py --recipes w4a16:g32,w4a16-gptq:g32,w4a16-asym:g32,w4a16-gptq-asym:g32 \
        --qcomp-eval reference --no-onnx

--rotate SEED first turns SmolLM2 into an equivalent float model whose weights are off any 4-bit grid (a seeded
random orthogonal rotation of the residual stream folded into the weights, RMSNorm gains folded into the readers):
SmolLM2 was shipped as Q4_1 (asymmetric, blocks of 32), so llama.cpp's own Q4_1 of the plain model recovers
the shipped weights and is nearly lossless; the rotated model is where block quantizers can be compared. Its F32
GGUF is qcomp's fp32 export; llama.cpp's own Q4_0/Q4_1/Q8_0 are made from that file by llama_model_quantize.

A recipe `NAME:gG` is the built-in recipe with every `group=` of its pipeline set to G (g32: one scale, and
zero point, per llama.cpp block, so the GGUF holds the codes as Q4_0 / Q4_1 blocks).

For each recipe: qcomp's own perplexity (the model compiled for the CPU; with `--qcomp-eval reference`, the
exported weights dequantized by qcomp's reference semantics into the PyTorch model, activations quantized as
recorded: the compiled CPU build computes the same up to f32 summation order; this skips a 10-30 min build)
on `--windows` windows of the vendored text; the GGUF export run by llama.cpp (llama-cpp-python in its own
venv, `make bench-llamacpp`; skipped when absent) and the ONNX export run by ONNX Runtime (`pip install onnx
onnxruntime`; skipped when absent) on the same token windows; and, for comparison, llama.cpp's own quantizer
(Q8_0 / Q4_0 / Q4_1 of the float model, as made by bench/llamacpp_peer.py) and the F32 GGUF. Logits of the
first window are compared with qcomp's: max |Δ| over max |logit| and top-1 agreement. ONNX Runtime runs twice:
with `session.qdq_matmulnbits_accuracy_level=0` (float products: qcomp's semantics) and with its default (it
may fuse QDQ MatMuls into int8-activation kernels). llama.cpp always quantizes activations itself (Q8_0 /
Q8_1 blocks of 32) for Q8_0/Q4_0/Q4_1 weights.

Measured (2 shared cores, 4 windows x 256 tokens; llama-cpp-python 0.3.36, onnxruntime 1.32), perplexity:
fp32 PyTorch 25.315, llama.cpp F32 GGUF 25.316, llama.cpp's own Q8_0 25.36 and Q4_0 30.95;
w4a16 (RTN g128): qcomp 54.138, llama.cpp on the GGUF 54.298 (+0.3%), ONNX Runtime MatMulNBits 54.138
(logits within 3e-6); w4a16-awq: qcomp 35.118, llama.cpp 35.081 (-0.1%), ONNX Runtime 35.118;
w8a8: qcomp 26.675, llama.cpp 25.518, ONNX Runtime QDQ 27.033 (acc0) / 26.494 (default). W8A8 logits of the
three differ by ~0.13-0.16 of max|logit| because per-token int8 activations on SmolLM2 (massive outliers) are
ill-conditioned: moving every activation by one f32 ulp before quantizing moves qcomp's own reference logits
by 0.147 (top-1 0.96); llama.cpp's per-32-block activation quantization is finer, hence its lower perplexity.

GPTQ at g32 against llama.cpp's own quantizer (same windows, `--head q8_0 --qcomp-eval reference --threads 1`,
load 13-20; docs/export.md has the tables): plain SmolLM2, `w4a16-gptq:g32` -> Q4_0: qcomp 29.500, llama.cpp on
the GGUF 29.457, llama.cpp's own Q4_0 30.952 (0.952x); ONNX Runtime MatMulNBits 29.500. Rotated SmolLM2
(`--rotate 0`), `w4a16-gptq-asym:g32` -> Q4_1: qcomp 28.112, llama.cpp 28.293, llama.cpp's own Q4_1 40.229
(embedding Q4_1) / 39.968 (`--own-embedding q8_0`): 0.708x. The plain model's own Q4_1 (25.384) recovers the
grid SmolLM2 was shipped on. Tiny LLaMA (`--tiny`): llama.cpp runs Q4_1 within 1e-2 of qcomp's logits.

W8A8 -> Q8_0 (`--recipes w8a8,w8a8-smooth --online-scales drop --head q8_0 --peers q8_0 --qcomp-eval reference
--threads 1`, load 9-11; activations in llama.cpp are its own Q8_0 blocks of 32): w8a8 qcomp 26.740, llama.cpp
25.467, ONNX Runtime QDQ 26.782; w8a8-smooth (o_proj's online scale undone) qcomp 25.500, llama.cpp 25.271 (0.996x
llama.cpp's own Q8_0 25.362), ONNX Runtime 25.541. `--online-scales drop` undoes a smoothing the passes could only
apply as an online per-channel scale (`export_model.drop_online_scales`), which GGUF cannot hold.
`w4a16-awq:g32` -> Q4_0 in the same run: qcomp 27.236, llama.cpp on the GGUF 27.250, llama.cpp's own Q4_0 30.952
(0.880x); ONNX Runtime MatMulNBits 27.236.
"""

import argparse
import gc
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


def with_group(spec: str):
    """`NAME` or `NAME:gG` (the recipe with group=G throughout its pipeline) -> Recipe."""
    import re

    from qcomp.recipes import Recipe, get_recipe

    name, _, g = spec.partition(":")
    rec = get_recipe(name)
    if not g:
        return rec
    if not re.fullmatch(r"g\d+", g) or "group=" not in rec.pipeline:
        sys.exit(f"{spec}: want NAME:gG with a recipe whose pipeline has group= options")
    pipeline = re.sub(r"group=\d+", f"group={g[1:]}", rec.pipeline)
    return Recipe(f"{rec.name}-{g}", rec.version, pipeline, rec.description, rec.calibration)


def reference_logits(model, lx):
    """qcomp's semantics in PyTorch: a copy of `model` (qcomp's logits wrapper) holding lx's dequantized weights,
    activations quantized as recorded (dynamic int8 per token/tensor, as `qc.quantize_dynamic`)."""
    import copy

    from qcomp.dialects import reference as ref
    from qcomp.export_llama import HF_NAMES, QWeight

    lm = copy.deepcopy(model.lm)
    mods = dict(lm.named_modules())
    names = {"model.embed_tokens": "token_embd.weight", "model.norm": "output_norm.weight", "lm_head": "output.weight"}
    for i in range(lm.config.num_hidden_layers):
        names.update({f"model.layers.{i}.{hf}": f"blk.{i}.{g}.weight" for g, hf in HF_NAMES.items()})
    for mod, name in names.items():
        t = lx.tensors[name]
        w = torch.from_numpy(np.array(t.dequantize() if isinstance(t, QWeight) else t))
        mods[mod].weight = torch.nn.Parameter(w, requires_grad=False)  # unties tied embeddings
        act = lx.activations.get(name)
        if act and act[0] == "static":
            sys.exit(f"{name}: --qcomp-eval reference does not model static activation scales; use compile")
        if act:

            def pre(m, args, gran=act[1]):
                q, sc = ref.quantize_dynamic(args[0].numpy(), granularity=gran)
                return (torch.from_numpy(q.astype(np.float32) * sc),)

            mods[mod].register_forward_pre_hook(pre)

    def run(w):
        with torch.no_grad():
            return lm(w, use_cache=False).logits.numpy()

    return run


def tiny_llama():
    """qcomp's logits wrapper of a random 2-layer LLaMA whose linear layers all have K % 32 == 0."""
    from qcomp.models import CausalLMLogits
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, attn_implementation="sdpa",
    )  # fmt: skip
    return CausalLMLogits(LlamaForCausalLM(cfg).eval()).eval()


def rotated(model, seed: int):
    """A copy of qcomp's logits wrapper of a LLaMA computing the same function with its residual stream rotated by
    a seeded random orthogonal Q (QR of a Gaussian): RMSNorm gains folded into the layers reading them (gains 1),
    E -> E Q, readers W -> W diag(g) Q, writers W -> Qᵀ W; lm_head untied from the embedding."""
    import copy

    m = copy.deepcopy(model)
    lm = m.lm
    d = lm.config.hidden_size
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    q = torch.from_numpy(q * np.sign(np.diag(r)))  # float64

    def put(mod, w):
        mod.weight = torch.nn.Parameter(w.to(torch.float32).contiguous(), requires_grad=False)

    def read(lin, norm):
        put(lin, lin.weight.double() * norm.weight.double() @ q)

    with torch.no_grad():
        head = lm.lm_head.weight.double().clone()
        put(lm.model.embed_tokens, lm.model.embed_tokens.weight.double() @ q)
        for layer in lm.model.layers:
            a, mlp = layer.self_attn, layer.mlp
            for lin in (a.q_proj, a.k_proj, a.v_proj):
                read(lin, layer.input_layernorm)
            for lin in (mlp.gate_proj, mlp.up_proj):
                read(lin, layer.post_attention_layernorm)
            for lin in (a.o_proj, mlp.down_proj):
                put(lin, q.T @ lin.weight.double())
            for norm in (layer.input_layernorm, layer.post_attention_layernorm):
                norm.weight = torch.nn.Parameter(torch.ones_like(norm.weight), requires_grad=False)
        put(lm.lm_head, head * lm.model.norm.weight.double() @ q)
        lm.model.norm.weight = torch.nn.Parameter(torch.ones_like(lm.model.norm.weight), requires_grad=False)
    lm.config.tie_word_embeddings = False
    return m


QUANTIZE_SNIPPET = """
import ctypes, sys
import llama_cpp
src, dst, ftype, embd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
p = llama_cpp.llama_model_quantize_default_params()
p.ftype = getattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_" + ftype.upper())
if embd != "default":
    p.token_embedding_type = getattr(llama_cpp, "GGML_TYPE_" + embd.upper())
sys.exit(llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(p)))
"""


def own_quants(model, tok, out: Path, kinds: list[str], embedding: str = "default") -> dict[str, Path]:
    """An F32 GGUF of `model`'s parameters (qcomp's GGUF writer, q/k rows permuted as llama.cpp wants) and llama.cpp's
    own quantizations of that file (llama_model_quantize; `embedding`: its token embedding type, e.g. q8_0)."""
    from qcomp.export_gguf import write_gguf
    from qcomp.export_llama import HF_NAMES, LlamaExport, llama_hparams

    lm = model.lm
    sd = {k: v.detach().numpy() for k, v in lm.state_dict().items()}
    t = {"token_embd.weight": sd["model.embed_tokens.weight"], "output_norm.weight": sd["model.norm.weight"]}
    t["output.weight"] = sd["lm_head.weight"]
    for i in range(lm.config.num_hidden_layers):
        t.update({f"blk.{i}.{g}.weight": sd[f"model.layers.{i}.{hf}.weight"] for g, hf in HF_NAMES.items()})
    files = {"f32": out / "model-f32.gguf"}
    write_gguf(LlamaExport(llama_hparams(lm.config), t, {}, dict.fromkeys(t, "state_dict")), str(files["f32"]), tok)
    for k in kinds:
        if k != "f32" and LLAMACPP_PY.exists():
            files[k] = out / f"model-own-{k}.gguf"
            cmd = [str(LLAMACPP_PY), "-c", QUANTIZE_SNIPPET, str(files["f32"]), str(files[k]), k, embedding]
            subprocess.run(cmd, check=True, capture_output=True)
    return files


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    return f"{cpu}, {os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipes", default="w8a8,w4a16", help="built-in names or recipe .yaml files")
    p.add_argument("--windows", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--calib", type=int, default=4, help="calibration windows (calibrated recipes)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="directory for the exported files (default: a temporary one)")
    p.add_argument("--no-onnx", action="store_true")
    p.add_argument("--no-peers", action="store_true", help="skip the F32 GGUF and llama.cpp's own Q8_0/Q4_0/Q4_1")
    p.add_argument("--peers", default="f32,q8_0,q4_0,q4_1", help="which of the F32 GGUF and llama.cpp's own quants")
    p.add_argument(
        "--qcomp-eval",
        default="compile",
        choices=["compile", "reference"],
        help="qcomp's own number: the compiled CPU build, or the reference semantics in PyTorch (no build)",
    )
    p.add_argument("--head", default="recipe", choices=["recipe", "q8_0"], help="as `qcomp export --head`")
    p.add_argument("--embedding", default="f32", choices=["f32", "q8_0"], help="as `qcomp export --embedding`")
    p.add_argument(
        "--own-embedding",
        default="default",
        help="--rotate: the token embedding type of llama.cpp's own quants (default: its mix, Q4_x for an untied "
        "embedding; q8_0 matches the tied plain model)",
    )
    p.add_argument(
        "--online-scales",
        default="keep",
        choices=["keep", "drop"],
        help="drop: undo smoothings that need an online per-channel scale (w8a8-smooth's o_proj), as export()",
    )
    p.add_argument("--rotate", type=int, default=None, metavar="SEED", help="SmolLM2 rotated off its Q4_1 grid")
    p.add_argument("--tiny", action="store_true", help="a random 2-layer LLaMA (every K a multiple of 32), random ids")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(a.threads)
    import qcomp
    from qcomp.evaluate import default_text, token_windows
    from qcomp.export_gguf import write_gguf
    from qcomp.export_llama import extract, hf_config
    from qcomp.export_model import head_q8_0, quantized_module
    from qcomp.export_onnx import write_onnx
    from qcomp.models import smollm2

    if a.tiny:
        model, tok = tiny_llama(), None
        ids = torch.randint(0, 256, (a.windows + a.calib, 1, a.seq), generator=torch.Generator().manual_seed(1))
        wins, cal = list(ids[: a.windows]), list(ids[a.windows :])
        a.no_peers = a.no_peers or a.rotate is None  # the cached peers are SmolLM2's
    else:
        model, tok = smollm2()
        wins, cal = token_windows(tok, default_text(), a.windows, a.seq, a.calib)
    if a.rotate is not None:
        model = rotated(model, a.rotate)
    out = Path(a.out or tempfile.mkdtemp(prefix="qcomp-export-"))
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"machine: {machine()}; torch/llama.cpp threads {a.threads}; {a.windows} windows x {a.seq} tokens")
    what = "tiny random LLaMA" if a.tiny else "SmolLM2-135M"
    print(f"model: {what}, rotation seed {a.rotate}; head {a.head}, embedding {a.embedding}")

    def row(**r):
        rows.append(r)
        if a.json:
            print(json.dumps(r), flush=True)
        else:
            cmp = f"  vs qcomp: max|Δ|/max {r['max_rel']:.2e}, top-1 {r['top1']:.3f}" if "max_rel" in r else ""
            print(f"{r['recipe']:>20} {r['runtime']:<34} ppl {r['ppl']:9.4f}{cmp}", flush=True)

    with torch.no_grad():
        ppl, fp_logits = ppl_of(lambda w: model(w).numpy(), wins)
    row(recipe="fp32", runtime="PyTorch", ppl=ppl)
    peers = (("F32 GGUF", "f32"), ("own Q8_0", "q8_0"), ("own Q4_0", "q4_0"), ("own Q4_1", "q4_1"))
    peers = tuple(pf for pf in peers if pf[1] in a.peers.split(","))
    peer_files = {f: PEER_GGUF / f"smollm2-135m-{f}.gguf" for _, f in peers}
    if a.rotate is not None and not a.no_peers:
        peer_files = own_quants(model, tok, out, [f for _, f in peers if f != "f32"], a.own_embedding)
    for name, f in ((f"llama.cpp {n}", f) for n, f in peers):
        r = None if a.no_peers else llamacpp(peer_files[f], wins, a.threads)
        if r is not None:
            mb = round(peer_files[f].stat().st_size / 1e6, 1)
            row(recipe="fp32", runtime=name, ppl=r[0], mb=mb, **compare(r[1], fp_logits))
    for spec in filter(None, a.recipes.split(",")):
        module = lx = cm = None  # the previous recipe's IR, weights and build (a SmolLM2 GPTQ run peaks near 6 GB)
        gc.collect()
        rec = with_group(spec)
        calibration = [(c,) for c in cal] if rec.calibration else None
        t = time.perf_counter()
        module, rec = quantized_module(
            model, (wins[0],), rec, calibration, keep_head=a.head != "recipe", online_scales=a.online_scales
        )
        lx = extract(module, hf_config(model))  # what `qcomp export --head H` writes
        if a.head == "q8_0":
            head_q8_0(lx)
        if a.embedding == "q8_0":
            head_q8_0(lx, "token_embd.weight")
        quant_s = round(time.perf_counter() - t, 1)
        if a.qcomp_eval == "compile" and a.online_scales != "keep":
            sys.exit("--online-scales drop needs --qcomp-eval reference (qcomp.compile keeps the recipe's scales)")
        if a.qcomp_eval == "compile" and a.head != "recipe":
            sys.exit("--head q8_0 needs --qcomp-eval reference (the compiled build quantizes the head by the recipe)")
        if a.qcomp_eval == "compile":
            t = time.perf_counter()
            cm = qcomp.compile(model, (wins[0],), target="cpu", recipe=rec, calibration=calibration)
            ppl, q_logits = ppl_of(lambda w, cm=cm: cm(w).numpy(), wins)
            row(recipe=rec.name, runtime="qcomp (cpu)", ppl=ppl, compile_s=round(time.perf_counter() - t, 1))
        else:
            ppl, q_logits = ppl_of(reference_logits(model, lx), wins)
            row(recipe=rec.name, runtime="qcomp (reference, PyTorch)", ppl=ppl, quantize_s=quant_s)
        gg = out / f"{'tiny' if a.tiny else 'smollm2'}-{rec.name}.gguf"
        res = write_gguf(lx, str(gg), tok, recipe=rec)
        r = llamacpp(gg, wins, a.threads)
        if r is not None:
            kinds = "/".join(k for k in res.types if k != "F32")
            row(recipe=rec.name, runtime=f"llama.cpp {kinds} GGUF", ppl=r[0], mb=round(res.bytes / 1e6, 1),
                **compare(r[1], q_logits))  # fmt: skip
        if a.no_onnx or a.embedding != "f32":  # ONNX export takes the recipe's tensors only
            continue
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            continue
        weights = "nbits" if rec.name.startswith(("w4a16", "w3a16")) else "qdq"
        on = out / f"{'tiny' if a.tiny else 'smollm2'}-{rec.name}-{weights}.onnx"
        write_onnx(lx, str(on), rec, weights)
        for exact in (True, False):
            ppl, lg = onnxrt(str(on), wins, exact)
            label = f"ONNX Runtime {weights}{' acc0' if exact else ' default'}"
            row(recipe=rec.name, runtime=label, ppl=ppl, **compare(lg, q_logits))
    summary(rows)
    print(f"files in {out}", file=sys.stderr)


def summary(rows: list[dict]) -> None:
    """Each qcomp GGUF run by llama.cpp against llama.cpp's own quantizer of the same block type (same run)."""
    own = {r["runtime"].split()[-1]: r for r in rows if r["runtime"].startswith("llama.cpp own")}
    fp = next((r["ppl"] for r in rows if r["runtime"] == "PyTorch"), None)
    mine = [r for r in rows if r["runtime"].startswith("llama.cpp Q") and r["runtime"].endswith("GGUF")]
    if not mine or not own:
        return
    print("\nllama.cpp perplexity: qcomp's GGUF vs llama.cpp's own quantizer of the float model (same windows)")
    print(
        f"{'recipe':>20} {'file types':>10} {'qcomp GGUF':>11} {'MB':>6} {'llama.cpp own':>14} {'MB':>6} "
        f"{'ratio':>7} {'x fp32':>7}"
    )
    for r in mine:
        kind = next((k for k in r["runtime"].split()[1].split("/") if k in ("Q4_0", "Q4_1")), None)
        if kind in own:
            o = own[kind]
            x = f"{r['ppl'] / fp:7.3f}" if fp else ""
            print(
                f"{r['recipe']:>20} {r['runtime'].split()[1]:>10} {r['ppl']:11.3f} {r['mb']:6.1f} "
                f"{o['ppl']:14.3f} {o['mb']:6.1f} {r['ppl'] / o['ppl']:7.3f} {x}"
            )


if __name__ == "__main__":
    main()
