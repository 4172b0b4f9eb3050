"""GPTQ onto float grids (`passes/float_gptq.py`, qc-quantize-float{gptq=true}): with an identity Hessian it is
round-to-nearest bit for bit; with correlated inputs it lowers the layer's output error below RTN's while its
weights stay on the format's grid with RTN's scales; the pass refuses an uncalibrated layer in one line."""

import numpy as np
import pytest
import qcomp
from qcomp.dialects import formats as fmt
from qcomp.dialects.errors import QcompError
from qcomp.examples.models import BUILTIN
from qcomp.passes.float_gptq import gptq_float
from qcomp.recipes import Recipe

FORMATS = ["fp8", "mxfp4", "nvfp4", "mxfp6_e3m2"]


def _layer(seed: int, n: int = 24, k: int = 64, rows: int = 256):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n, k)).astype(np.float32)
    mix = rng.standard_normal((k, k)) / np.sqrt(k) + np.eye(k)  # correlated input channels
    x = (rng.standard_normal((rows, k)) @ mix * np.exp(rng.standard_normal(k))).astype(np.float32)
    return w, x, 2 * (x.astype(np.float64).T @ x) / rows


@pytest.mark.parametrize("text", FORMATS)
def test_identity_hessian_is_round_to_nearest(text):
    w, _, _ = _layer(1)
    qf = fmt.parse(text)
    wq, s = gptq_float(w, np.eye(w.shape[1]), qf)
    want_q, want_s = fmt.quantize_weight(w, qf)
    assert np.array_equal(wq, want_q)
    assert np.array_equal(s, want_s)


@pytest.mark.parametrize("text", FORMATS)
def test_lowers_the_output_error_and_stays_on_the_grid(text):
    w, x, h = _layer(2)
    qf = fmt.parse(text)
    k = w.shape[1]
    wq, s = gptq_float(w, h, qf)
    rq, rs = fmt.quantize_weight(w, qf)
    assert np.array_equal(s, rs)  # RTN's scales
    deq = fmt.dequantize_weight(wq, s, elem=qf.elem, group=qf.group(k), k=k)
    # on the grid: quantizing the result with the same scales gives it back
    codes = fmt.quantize_elems(qf.elem, deq * np.repeat(1 / s, qf.group(k), axis=1)[:, :k])
    assert np.array_equal(fmt.dequantize_rows(codes, s, qf.elem, qf.group(k)), deq)
    rtn = fmt.dequantize_weight(rq, rs, elem=qf.elem, group=qf.group(k), k=k)
    err_gptq = np.mean((x @ (deq - w).T) ** 2)
    err_rtn = np.mean((x @ (rtn - w).T) ** 2)
    assert err_gptq < 0.9 * err_rtn  # about 0.8 on these layers, (err_gptq, err_rtn)


def test_bad_hessian_shape_is_one_line():
    w, _, _ = _layer(3)
    with pytest.raises(QcompError, match=r"the Hessian is \[3, 3\], expected \[64, 64\]"):
        gptq_float(w, np.eye(3), fmt.parse("fp8"))


def test_pass_needs_calibration():
    model, inputs = BUILTIN["mlp"]()
    rec = Recipe("fp8-gptq-test", 1, "qc-quantize-float{wformat=fp8,aformat=fp8,gptq=true}")
    with pytest.raises(QcompError, match=r"gptq=true.*calibrate the model first") as e:
        qcomp.compile(model, inputs, recipe=rec)
    assert "\n" not in str(e.value)


def test_pass_rounds_with_the_calibrated_hessian():
    """The compiled model's weights are gptq_float of the float weights with the Hessian of the calibrated
    activation rows, and the model stays close to the float one."""
    from qcomp.calibrate import calibrate

    model, inputs = BUILTIN["mlp"]()
    cal = calibrate(model, [inputs])
    rec = Recipe("fp8-gptq-test", 1, "qc-quantize-float{wformat=fp8,aformat=fp8,gptq=true}", calibration="minmax")
    cm = qcomp.compile(model, inputs, recipe=rec, calibration=cal, taps=("qc.fp_wlinear",))
    rtn = qcomp.compile(model, inputs, recipe="fp8", taps=("qc.fp_wlinear",))
    outs, taps = cm.run_with_taps(*inputs)
    _, rtn_taps = rtn.run_with_taps(*inputs)
    assert len(taps) == 3
    changed = 0
    for (_, (_, wq, s, _), _), (_, (_, rq, rs, _), _) in zip(taps, rtn_taps, strict=True):
        assert np.array_equal(s, rs)
        changed += int(not np.array_equal(wq, rq))
    assert changed == 3  # error feedback moved codes in every layer
    import torch

    with torch.no_grad():
        want = model(*inputs).numpy()
    got = np.asarray(outs[0]).ravel()
    assert float(got @ want.ravel()) / (np.linalg.norm(got) * np.linalg.norm(want)) >= 0.995
