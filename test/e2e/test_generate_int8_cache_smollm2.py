"""The int8 KV cache's goal on SmolLM2-135M at W8A8: teacher-forced perplexity through `decode` (window tokens fed
one at a time, every key and value read back from the cache) with kv="int8" at most 1.01x the fp32 cache's, at
0.27x its bytes or less (issue 17), over WINDOWS x SEQ tokens of the vendored text, the key centring calibrated on
CALIB windows disjoint from them (compile_lm's default kv_alpha). The ratio moves with the window set (a 1e-6 key
change moves it as much as the cache does at W8A8): bench/generate_check.py measured 1.0020x over these 24 windows
(--windows 24 --seq 256); the first 6 alone give 1.0106x (this test at WINDOWS = 6), so fewer windows do not
test the goal. Decode steps: 2 x 24 x 255."""

import math

import pytest
import torch

pytestmark = pytest.mark.slow  # two SmolLM2 W8A8 builds: `make test-slow`

WINDOWS, SEQ, CALIB = 24, 256, 4


def _decode_nll(lm, w: torch.Tensor) -> float:
    lm.reset()
    logits = torch.stack([lm.decode(w[:, i]) for i in range(w.shape[1] - 1)], dim=1)  # predicts tokens 1..n-1
    logp = torch.log_softmax(logits[0].double(), dim=-1)
    return float(-logp.gather(1, w[0, 1:, None]).sum())


def test_int8_cache_perplexity_within_1_percent_of_fp32_cache():
    import qcomp
    from qcomp.evaluate import default_text, token_windows
    from qcomp.generate import compile_lm
    from qcomp.models import smollm2

    model, tok = smollm2()
    wins, cal = token_windows(tok, default_text(), WINDOWS, SEQ, CALIB)
    target = qcomp.targets.get("cpu", threads=1)
    ppl, cache = {}, {}
    for kv in ("fp32", "int8"):  # chunk=1: the decode build only (prompts run as decode steps)
        lm = compile_lm(model, tok, target=target, recipe="w8a8", kv=kv, max_seq=SEQ, calibration=cal, chunk=1)
        ppl[kv] = math.exp(sum(_decode_nll(lm, w) for w in wins) / (WINDOWS * (SEQ - 1)))
        cache[kv] = lm.report["cache_bytes"]
        del lm
    ratio = ppl["int8"] / ppl["fp32"]
    print(f"decode ppl: fp32 cache {ppl['fp32']:.4f}, int8 cache {ppl['int8']:.4f} ({ratio:.4f}x)")
    assert 15 < ppl["fp32"] < 60  # SmolLM2-135M on this text: about 30 (a broken build is far off)
    assert ratio <= 1.01
    assert cache["int8"] <= 0.27 * cache["fp32"]
