"""The int8 cache's key centring and smoothing (`qcomp.kv_keys`) on a tiny LLaMA whose keys carry per-channel
offsets (as trained LLMs' keys do): exact for attention in f32, and it lowers the int8 cache's error."""

import numpy as np
import pytest
import torch
from qcomp.examples.models import tiny_llama
from qcomp.generate import compile_lm
from qcomp.lm_step import LMStep, cache_shapes, calibrate_keys


@pytest.fixture(scope="module")
def model():
    m, (ids,) = tiny_llama(seq=24)
    lm = m.lm
    g = torch.Generator().manual_seed(1)
    for layer in lm.model.layers:  # offsets on the slowest rotary channels (nearly constant over 64 positions)
        k = layer.self_attn.k_proj
        bias = torch.zeros(k.out_features)
        d = lm.config.hidden_size // lm.config.num_attention_heads
        for head in range(k.out_features // d):
            for c in (d // 2 - 2, d // 2 - 1, d - 2, d - 1):
                bias[head * d + c] = 20.0 * (1 + torch.rand(1, generator=g).item())
        k.bias = torch.nn.Parameter(bias)
    calib = [torch.randint(0, 512, (1, 48), generator=g) for _ in range(3)]
    return lm, ids, calib


def _eager(step, lm, ids, kv):
    cache = [torch.zeros(s, dtype=d) for s, d in cache_shapes(lm, 1, 64, kv)]
    with torch.no_grad():
        return step(ids, torch.zeros(1, dtype=torch.long), *cache), cache


def test_transform_is_exact_for_attention(model):
    lm, ids, calib = model
    keys = calibrate_keys(lm, calib, alpha=0.5)
    assert float(keys.center0.abs().max()) > 5  # the offsets were found
    assert float((keys.qfactor0 - 1).abs().max()) > 0.1  # and the channels' ranges differ
    plain, _ = _eager(LMStep(lm, "fp32"), lm, ids, "fp32")
    moved, cache = _eager(LMStep(lm, "fp32", keys), lm, ids, "fp32")
    with torch.no_grad():
        want = lm(ids).logits
    scale = float(want.abs().max())
    assert float((plain - want).abs().max()) <= 1e-5 * scale
    assert float((moved - want).abs().max()) <= 1e-5 * scale  # q·mu shifts every score of a query alike
    assert float(cache[0][0, 0, :, :, : ids.shape[1]].mean(-1).abs().max()) < 1.5  # cached keys centred


def test_compiled_int8_cache_with_centred_keys(model):
    """The compiled step caches the transformed keys (as the eager op does, within one integer step where f32
    order rounds them differently), and the int8 cache's error falls against keys cached as computed."""
    lm, ids, calib = model
    n = ids.shape[1]
    with torch.no_grad():
        want = lm(ids).logits
    c = compile_lm(lm, recipe="fp32", kv="int8", calibration=calib, max_seq=64, chunk=1)
    assert c.report["kv_keys"] == f"centred, smoothed (alpha 0.5) on {3 * 48} tokens"
    got = torch.stack([c.decode(ids[:, i]) for i in range(n)], dim=1)
    _, eager = _eager(LMStep(lm, "int8", calibrate_keys(lm, calib, 0.5)), lm, ids, "int8")
    for mine, theirs in ((c.cache[0][..., :n], eager[0][..., :n]), (c.cache[1][..., :n, :], eager[1][..., :n, :])):
        d = np.abs(mine.astype(np.int32) - theirs.numpy().astype(np.int32))
        assert d.max() <= 1
        assert (d == 0).mean() > 0.99
    plain, _ = _eager(LMStep(lm, "int8"), lm, ids, "int8")
    err, err_plain = (float((x - want).norm() / want.norm()) for x in (got, plain))
    assert err < 0.7 * err_plain, (err, err_plain)  # measured (eager) 0.0029 vs 0.0057
