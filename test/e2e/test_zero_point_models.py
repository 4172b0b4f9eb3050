"""Asymmetric weights end to end: the w4a16-asym recipe on the tiny LLaMA stores exactly the reference
quantizer's codes, scales and zero points, its kernels dequantize them bit-exactly, and the NPU and CIM
builds (which run qc.wlinear_asym on their CPU host, not on the accelerator) give the CPU build's bits."""

import numpy as np
import qcomp
import torch
from conftest import cosine
from qcomp.dialects import reference as ref
from qcomp.dialects import reference_asym as ra
from qcomp.examples.models import BUILTIN

TAPS = ("qc.wlinear_asym",)
_CACHE: dict = {}


def _setup():
    if not _CACHE:
        model, inputs = BUILTIN["tiny-llama"]()
        with torch.no_grad():
            want = model(*inputs).numpy()
        float_taps = qcomp.compile(model, inputs, recipe="fp32", taps=("qc.linear",)).taps
        weights = [t.operands[1] for t in float_taps]
        cm = qcomp.compile(model, inputs, recipe="w4a16-asym", taps=TAPS)
        _CACHE.update(model=model, inputs=inputs, want=want, weights=weights, cm=cm)
    return _CACHE


def test_codes_scales_zero_points_and_dequantization_match_the_reference():
    c = _setup()
    _, taps = c["cm"].run_with_taps(*c["inputs"])
    assert len(taps) == len(c["weights"])
    assert any((zp.view(np.uint8) != 8).any() for _, (_, _, _, zp, _), _ in taps)  # zero points off the middle
    for (tap, (x, wq, s, zp, b), (y,)), w in zip(taps, c["weights"], strict=True):
        assert tap.attrs == {"bits": 4, "group": 128}
        lo, hi = ra.mse_ranges(w, bits=4, group=128, sym=False)
        want_q, want_s, want_z = ra.quantize_weight_grouped_asym(w, bits=4, group=128, lo=lo, hi=hi)
        assert np.array_equal(wq, want_q), tap.location
        assert np.array_equal(s, want_s), tap.location
        assert np.array_equal(zp, want_z), tap.location
        want = ref.wlinear_asym(x, wq, s, zp, b, bits=4, group=128)
        deq = ra.dequantize_weight_asym(wq, s, zp, bits=4, group=128, k=x.shape[-1])
        bound = 1e-5 * (np.abs(x) @ np.abs(deq).T + 1)  # the same f32 products summed in another order
        assert np.all(np.abs(y - want) <= bound), tap.location


def test_close_to_pytorch_and_closer_than_symmetric():
    c = _setup()
    got = c["cm"](*c["inputs"]).numpy()
    sym = qcomp.compile(c["model"], c["inputs"], recipe="w4a16")(*c["inputs"]).numpy()
    assert cosine(got, c["want"]) >= 0.985
    assert cosine(got, c["want"]) > cosine(sym, c["want"])


def test_accelerator_builds_run_it_on_the_host_bit_exactly():
    c = _setup()
    cpu = c["cm"](*c["inputs"]).numpy()
    for target in ("npu", "cim"):
        cm = qcomp.compile(c["model"], c["inputs"], target=target, recipe="w4a16-asym")
        placement = {r["placement"] for r in cm.report["ops"] if r["op"] == "qc.wlinear_asym"}
        assert placement == {"host"}, target
        assert np.array_equal(cm(*c["inputs"]).numpy(), cpu), target
