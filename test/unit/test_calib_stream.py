"""Block-streamed calibration (`calibrate(..., stream="blocks")`, `qcomp.calib_stream`): a tiny LLaMA saved to
safetensors, calibrated block by block from a meta-device skeleton, gives the whole-model path's table: the same
ops, keys and fingerprint, and statistics, Hessians and output gains equal within f32 rounding (the whole-model
path runs the compiled fp32 build, the streamed one PyTorch eager)."""

import numpy as np
import pytest
import torch
from qcomp.calib_stream import calibrate_streamed, skeleton
from qcomp.calibrate import calibrate
from qcomp.dialects.errors import QcompError
from qcomp.examples.models import tiny_llama

REF = "w4a8"  # output gains at int4 per-channel weights and int8 per-token activations (both quantizers run)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    model, _ = tiny_llama()
    path = tmp_path_factory.mktemp("tiny") / "ckpt"
    model.lm.save_pretrained(path)
    gen = torch.Generator().manual_seed(1)
    samples = [(torch.randint(0, 512, (1, 12), generator=gen),) for _ in range(3)]
    whole = calibrate(model, samples, hessian=True, sensitivity=REF, sensitivity_samples=samples[:2])
    sk = skeleton(path)
    streamed = calibrate(
        sk, samples, hessian=True, sensitivity=REF, sensitivity_samples=samples[:2], stream="blocks", weights=path
    )
    return whole, streamed, sk


def _close(a, b, rtol=2e-5):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(float(np.max(np.abs(a))), 1e-12)
    return float(np.max(np.abs(a - b))) <= rtol * scale


def test_same_ops_keys_and_fingerprint(tables):
    whole, streamed, _ = tables
    assert len(whole.ops) == 15  # 2 blocks x 7 linears + lm_head
    assert [o.key for o in streamed.ops] == [o.key for o in whole.ops]
    assert streamed.fingerprint == whole.fingerprint
    assert streamed.samples == whole.samples == 3


def test_statistics_equal_within_f32_rounding(tables):
    whole, streamed, _ = tables
    for w, s in zip(whole.ops, streamed.ops, strict=True):
        assert _close(w.absmax, s.absmax), w.key
        assert _close(w.mean_abs, s.mean_abs), w.key
        assert w.sample.shape == s.sample.shape, w.key
        assert _close(w.sample, s.sample), w.key
        for m in w.clips:
            assert s.clips[m] == pytest.approx(w.clips[m], rel=1e-3), (w.key, m)  # a histogram bin edge may move
        assert w.hessian.shape == s.hessian.shape, w.key
        assert _close(w.hessian, s.hessian), w.key


def test_output_gains_equal_within_f32_rounding(tables):
    whole, streamed, _ = tables
    assert streamed.sensitivity["reference"] == REF
    assert streamed.sensitivity["samples"] == 2
    for w, s in zip(whole.ops, streamed.ops, strict=True):
        assert w.output_gain is not None, w.key
        assert s.output_gain is not None, w.key
        for k in ("mse", "kl"):
            assert s.output_gain[k] == pytest.approx(w.output_gain[k], rel=1e-4, abs=1e-12), (w.key, k)


def test_weights_are_dropped_after_calibration(tables):
    *_, sk = tables
    assert all(p.is_meta for p in sk.parameters())


def test_bad_uses_are_one_line_errors(tmp_path):
    sk = skeleton_or_skip(tmp_path)
    ids = [(torch.zeros(1, 4, dtype=torch.long),)]
    with pytest.raises(QcompError, match=r"no data \(meta\): pass weights=CHECKPOINT"):
        calibrate_streamed(sk, ids, None)
    with pytest.raises(QcompError, match="sequential GPTQ Hessians"):
        calibrate_streamed(sk, ids, tmp_path / "ckpt", hessian="sequential")
    with pytest.raises(QcompError, match="calibration stream must be None or 'blocks'"):
        calibrate(sk, ids, stream="layers", weights=tmp_path / "ckpt")
    with pytest.raises(QcompError, match="no such safetensors file"):
        calibrate_streamed(sk, ids, tmp_path / "nowhere")
    with pytest.raises(QcompError, match=r"needs a model whose layers are a torch\.nn\.ModuleList"):
        calibrate_streamed(torch.nn.Sequential(torch.nn.Linear(4, 4)), [(torch.zeros(1, 4),)], None)


def skeleton_or_skip(tmp_path):
    model, _ = tiny_llama()
    model.lm.save_pretrained(tmp_path / "ckpt")
    return skeleton(tmp_path / "ckpt")
