"""The evaluation protocol of bench/gptq.py without qcomp, for peers that run in their own venvs.

The fp32 SmolLM2 checkpoint `qcomp.models.smollm2()` caches under $XDG_CACHE_HOME/qcomp/smollm2-135m-fp32 (run
qcomp once first), the vendored text, and qcomp.evaluate's windows and perplexity re-implemented line for line:
`windows` non-overlapping windows of `seq` tokens (no special tokens), each scored alone in float64,
calibration on the `calib` windows after them. `digest` prints a hash of the windows to compare both sides.
"""

import hashlib
import math
import os
import sys
from pathlib import Path

import torch

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qcomp"
HF_DIR = CACHE / "smollm2-135m-fp32"
TEXT = Path(__file__).resolve().parents[2] / "compiler" / "data" / "eb1911-shakespeare.txt"


def load_smollm2(untie: bool = True):
    """(model fp32 eval, tokenizer); untie: lm_head gets its own copy of the embedding (quantizing it must not
    touch the embedding, which stays fp32 as in qcomp, whose tied lm_head is a qc.linear of its own)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (HF_DIR / "model.safetensors").is_file():
        sys.exit(f"{HF_DIR}: no fp32 SmolLM2 checkpoint: run qcomp.models.smollm2() in qcomp's venv once first")
    tok = AutoTokenizer.from_pretrained(HF_DIR)
    model = AutoModelForCausalLM.from_pretrained(HF_DIR, dtype=torch.float32).eval()
    if untie and model.lm_head.weight is model.model.embed_tokens.weight:
        model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())
        model.config.tie_word_embeddings = False
    return model, tok


def token_windows(tok, windows: int, seq: int, calib: int):
    """qcomp.evaluate.token_windows on the vendored text: (evaluation windows, calibration windows), [1, seq]."""
    ids = tok(TEXT.read_text(), add_special_tokens=False)["input_ids"]
    need = (windows + calib) * seq
    if len(ids) < need:
        sys.exit(f"the text has {len(ids)} tokens, fewer than {windows} + {calib} windows of {seq}")
    t = torch.tensor(ids[:need], dtype=torch.int64).reshape(-1, 1, seq)
    return list(t[:windows]), list(t[windows:])


def digest(wins) -> str:
    return hashlib.sha256(torch.cat(wins).numpy().tobytes()).hexdigest()[:16]


def perplexity(model, wins) -> float:
    """exp(mean -log p(token t+1 | <= t)) over the windows, each scored alone, in float64 (qcomp.evaluate)."""
    nll, count = 0.0, 0
    with torch.no_grad():
        for w in wins:
            logits = model(input_ids=w, use_cache=False).logits
            logp = torch.log_softmax(logits[0, :-1].double(), dim=-1)
            nll += float(-logp.gather(1, w[0, 1:, None]).sum())
            count += w.shape[1] - 1
    return math.exp(nll / count)
