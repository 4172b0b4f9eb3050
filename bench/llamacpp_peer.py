"""llama.cpp as a peer for bench/decode.py: SmolLM2-135M pp128 / tg128 tokens/s and peak RSS.

Runs with the llama.cpp venv's python (not qcomp's; qcomp is not importable there)::

    python3 -m venv ~/.cache/qcomp-bench/llamacpp-venv
    CMAKE_ARGS="-DGGML_NATIVE=ON" ~/.cache/qcomp-bench/llamacpp-venv/bin/pip install llama-cpp-python gguf
    ~/.cache/qcomp-bench/llamacpp-venv/bin/python bench/llamacpp_peer.py --threads 1,2 --json

The weights are qcomp's: the fp32 checkpoint that `qcomp.models.smollm2()` caches under
$XDG_CACHE_HOME/qcomp/smollm2-135m-fp32 (run that once in qcomp's venv first). It is converted to an F32 GGUF
(q/k rows permuted to llama.cpp's RoPE layout, values unchanged), then quantized to Q8_0, Q4_0 and Q4_1 with
llama.cpp's own quantizer (its default mix: in Q4_0, token_embd, also the tied output, stays Q8_0); the GGUFs
are cached under $XDG_CACHE_HOME/qcomp/llamacpp/.

pp128: one llama_decode of a 128-token prompt into an empty KV cache (logits of the last token only).
tg128: 128 single-token llama_decode calls from an empty KV cache (llama-bench's definitions). Each is timed
after one warm-up run; the median of --runs is reported. Every (quant, threads) pair runs in its own
subprocess, so peak_rss_mb (VmHWM: the interpreter, libllama, the touched mmap'd weights, the KV cache and
compute buffers) belongs to that configuration alone. --json prints one JSON object per line, with every run
(pp_all, tg_all) and the load average: ggml's threads spin at barriers, so with threads == cores any other busy
process makes single runs 10x slower.
--check N compares N greedy tokens of the F32 GGUF against transformers' generate(do_sample=False), run
by --ref-python (default: the repo's .venv).
"""

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qcomp"
HF_DIR = CACHE / "smollm2-135m-fp32"
GGUF_DIR = CACHE / "llamacpp"
QUANTS = ("f32", "q8_0", "q4_0", "q4_1")
CHECK_PROMPT = "The capital of France is Paris. The three largest cities in Germany are"
HPARAMS = """vocab_size:vocab_size context_length:max_position_embeddings embedding_length:hidden_size
feed_forward_length:intermediate_size block_count:num_hidden_layers head_count:num_attention_heads
head_count_kv:num_key_value_heads rope_dimension_count:head_dim layer_norm_rms_eps:rms_norm_eps
bos_token_id:bos_token_id eos_token_id:eos_token_id"""  # GGUFWriter.add_{name} : config.json key
LAYER_TENSORS = """input_layernorm:attn_norm post_attention_layernorm:ffn_norm self_attn.q_proj:attn_q
self_attn.k_proj:attn_k self_attn.v_proj:attn_v self_attn.o_proj:attn_output mlp.gate_proj:ffn_gate mlp.up_proj:ffn_up
mlp.down_proj:ffn_down"""  # HF name in model.layers.{i} : GGUF name in blk.{i}
REF_SNIPPET = """
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
d, prompt, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
tok = AutoTokenizer.from_pretrained(d)
lm = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
ids = tok(prompt, return_tensors="pt").input_ids
out = lm.generate(ids, do_sample=False, max_new_tokens=n, min_new_tokens=n, pad_token_id=tok.pad_token_id)
print(json.dumps({"prompt": ids[0].tolist(), "greedy": out[0, ids.shape[1]:].tolist()}))
"""


def gguf_path(quant: str) -> Path:
    return GGUF_DIR / f"smollm2-135m-{quant}.gguf"


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """F32 tensors of a .safetensors file, memory-mapped."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    header.pop("__metadata__", None)
    assert all(t["dtype"] == "F32" for t in header.values())
    return {k: raw[slice(*t["data_offsets"])].view(np.float32).reshape(t["shape"]) for k, t in header.items()}


def write_f32_gguf(hf_dir: Path, out: Path) -> None:
    """HF LLaMA checkpoint (fp32, tied embeddings, byte-level BPE tokenizer) -> F32 GGUF, as convert_hf_to_gguf."""
    import gguf

    cfg = json.loads((hf_dir / "config.json").read_text())
    tj = json.loads((hf_dir / "tokenizer.json").read_text())
    n_head, n_kv, n_layer = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_hidden_layers"]
    w = gguf.GGUFWriter(str(out) + ".tmp", "llama")
    w.add_name("SmolLM2-135M (qcomp fp32)")
    for method, key in (kv.split(":") for kv in HPARAMS.split()):
        getattr(w, f"add_{method}")(cfg[key])
    w.add_rope_freq_base(cfg["rope_parameters"]["rope_theta"])
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    vocab = {i: t for t, i in tj["model"]["vocab"].items()}
    types = {i: gguf.TokenType.NORMAL for i in vocab}
    for t in tj["added_tokens"]:
        vocab[t["id"]] = t["content"]
        types[t["id"]] = gguf.TokenType.CONTROL if t["special"] else gguf.TokenType.USER_DEFINED
    assert sorted(vocab) == list(range(cfg["vocab_size"]))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list([vocab[i] for i in range(len(vocab))])
    w.add_token_types([types[i] for i in range(len(vocab))])
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]])
    w.add_unk_token_id(cfg.get("unk_token_id", 0))
    w.add_pad_token_id(cfg.get("pad_token_id", cfg["eos_token_id"]))
    w.add_add_bos_token(False)
    w.add_add_space_prefix(False)

    def permute(x: np.ndarray, heads: int) -> np.ndarray:  # HF rotate-half rows -> llama.cpp interleaved rows
        return x.reshape(heads, 2, x.shape[0] // heads // 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)

    names = dict(kv.split(":") for kv in LAYER_TENSORS.split())
    tensors = read_safetensors(hf_dir / "model.safetensors")
    w.add_tensor("token_embd.weight", np.ascontiguousarray(tensors.pop("model.embed_tokens.weight")))
    w.add_tensor("output_norm.weight", np.ascontiguousarray(tensors.pop("model.norm.weight")))
    if not cfg.get("tie_word_embeddings"):
        w.add_tensor("output.weight", np.ascontiguousarray(tensors.pop("lm_head.weight")))
    for i in range(n_layer):
        for hf, gg in names.items():
            x = tensors.pop(f"model.layers.{i}.{hf}.weight")
            x = permute(x, n_head) if gg == "attn_q" else permute(x, n_kv) if gg == "attn_k" else x
            w.add_tensor(f"blk.{i}.{gg}.weight", np.ascontiguousarray(x))
    assert not tensors, f"unconverted tensors: {sorted(tensors)}"
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(str(out) + ".tmp", out)


def ensure_gguf(quant: str) -> Path:
    """The cached GGUF for quant, made from qcomp's fp32 checkpoint (and quantized by llama.cpp) if missing."""
    import llama_cpp

    path = gguf_path(quant)
    if path.exists():
        return path
    GGUF_DIR.mkdir(parents=True, exist_ok=True)
    if quant == "f32":
        if not (HF_DIR / "model.safetensors").exists():
            sys.exit(
                f"{HF_DIR} is missing: run `python -c 'from qcomp.models import smollm2; smollm2()'` "
                "once in qcomp's venv (HF_HUB_OFFLINE=1 is fine)"
            )
        write_f32_gguf(HF_DIR, path)
        return path
    src = ensure_gguf("f32")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quant.upper()}")
    params.nthread = os.cpu_count() or 1
    tmp = str(path) + ".tmp"
    if llama_cpp.llama_model_quantize(str(src).encode(), tmp.encode(), ctypes.byref(params)) != 0:
        sys.exit(f"llama_model_quantize failed for {quant}")
    os.replace(tmp, path)
    return path


def load(quant: str, threads: int, flash_attn: bool = False, n_ctx: int = 512):
    import llama_cpp

    kw = dict(n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, n_threads=threads, n_threads_batch=threads)
    return llama_cpp.Llama(str(ensure_gguf(quant)), flash_attn=flash_attn, verbose=False, **kw)


def rss_mb(field: str = "VmHWM") -> float:
    """VmHWM (peak) or VmRSS of this process; ru_maxrss would carry the parent's peak over fork+exec."""
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith(field + ":"))
    return round(kb / 1024, 1)


def decode(llm, tokens: list[int]) -> None:
    import llama_cpp

    arr = (llama_cpp.llama_token * len(tokens))(*tokens)  # must outlive the batch
    batch = llama_cpp.llama_batch_get_one(arr, len(tokens))
    if llama_cpp.llama_decode(llm.ctx, batch) != 0:
        raise RuntimeError("llama_decode failed")


def clear(llm) -> None:
    import llama_cpp

    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)


def worker(quant: str, threads: int, runs: int, n_pp: int, n_tg: int, flash_attn: bool) -> dict:
    """Times pp/tg in this process (one configuration) and reports its peak RSS."""
    import llama_cpp

    base = rss_mb("VmRSS")  # the interpreter with numpy and libllama loaded
    llm = load(quant, threads, flash_attn)
    rng = np.random.default_rng(0)
    prompt, gen = (rng.integers(3, llm.n_vocab(), n).tolist() for n in (n_pp, n_tg))  # random ids, as llama-bench

    def pp() -> float:
        clear(llm)
        t = time.perf_counter()
        decode(llm, prompt)
        return n_pp / (time.perf_counter() - t)

    def tg() -> float:
        clear(llm)
        t = time.perf_counter()
        for tok in gen:
            decode(llm, [tok])
        return n_tg / (time.perf_counter() - t)

    pp(), tg()  # warm-up
    pps = [pp() for _ in range(runs)]
    tgs = [tg() for _ in range(runs)]
    r = {"engine": "llama.cpp", "version": llama_cpp.__version__, "quant": quant, "threads": threads}
    r |= {f"pp{n_pp}_tok_s": round(statistics.median(pps), 2), f"tg{n_tg}_tok_s": round(statistics.median(tgs), 2)}
    r |= {"peak_rss_mb": rss_mb(), "base_rss_mb": base, "model_mb": round(gguf_path(quant).stat().st_size / 2**20, 1)}
    r |= {"pp_all": [round(x, 1) for x in pps], "tg_all": [round(x, 1) for x in tgs]}
    return r | {"flash_attn": flash_attn, "runs": runs, "loadavg_1m": round(os.getloadavg()[0], 2)}


def check(n: int, ref_python: str) -> dict:
    """Greedy token ids of the F32 GGUF vs transformers on the same checkpoint and prompt ids."""
    import llama_cpp

    cmd = [ref_python, "-c", REF_SNIPPET, str(HF_DIR), CHECK_PROMPT, str(n)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    ref = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout.splitlines()[-1])
    llm = load("f32", os.cpu_count() or 1)
    ours = llm.tokenize(CHECK_PROMPT.encode(), add_bos=False, special=False)
    toks, out = list(ref["prompt"]), []
    for _ in range(n):
        decode(llm, toks)
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
        toks = [int(np.argmax(logits))]
        out.append(toks[0])
    agree = next((i for i, (a, b) in enumerate(zip(out, ref["greedy"], strict=True)) if a != b), n)
    r = {"check": "greedy_f32", "tokens": n, "match": out == ref["greedy"], "agree_prefix": agree}
    return r | {"tokenizer_match": ours == ref["prompt"], "llamacpp": out, "transformers": ref["greedy"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--quants", default="q8_0,q4_0", help=f"comma-separated, of {','.join(QUANTS)}")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--pp", type=int, default=128)
    p.add_argument("--tg", type=int, default=128)
    p.add_argument("--flash-attn", action="store_true", help="flash attention (llama-cpp-python's default: off)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--check", type=int, default=0, metavar="N", help="compare N greedy tokens with transformers")
    p.add_argument("--ref-python", default=str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"))
    p.add_argument("--worker", nargs=2, metavar=("QUANT", "THREADS"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker[0], int(a.worker[1]), a.runs, a.pp, a.tg, a.flash_attn)))
        return
    if a.check:
        r = check(a.check, a.ref_python)
        msg = (
            f"greedy {a.check}: match={r['match']} (agree for {r['agree_prefix']}), same tokens={r['tokenizer_match']}"
        )
        print(json.dumps(r) if a.json else msg)
    quants = [q for q in a.quants.split(",") if q]
    for q in quants:
        assert q in QUANTS, q
        ensure_gguf(q)  # once, before any timing
    if not a.json:
        print(f"{'quant':6} {'threads':>7} {f'pp{a.pp} tok/s':>12} {f'tg{a.tg} tok/s':>12} {'peak RSS MB':>12}")
    for q in quants:
        for t in (int(x) for x in a.threads.split(",")):
            cmd = [sys.executable, __file__, "--worker", q, str(t), *f"--runs {a.runs} --pp {a.pp} --tg {a.tg}".split()]
            cmd += ["--flash-attn"] * a.flash_attn
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            row = f"{q:6} {t:>7} {r[f'pp{a.pp}_tok_s']:>12} {r[f'tg{a.tg}_tok_s']:>12} {r['peak_rss_mb']:>12}"
            print(json.dumps(r) if a.json else row, flush=True)


if __name__ == "__main__":
    main()
