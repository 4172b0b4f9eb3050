"""qc-assign-precision with integer and float-format candidates in one search (`passes/float_candidates.py`), and
qc-quantize-float applying the float layers it chose."""

import numpy as np
import pytest
import qcomp
import torch
from qcomp.calibrate import calibrate
from qcomp.dialects import formats as fmt
from qcomp.dialects.errors import QcompError
from qcomp.examples.models import BUILTIN
from qcomp.passes.assign_precision import AssignPrecisionPass
from qcomp.passes.float_candidates import FloatCandidate, float_local_error, parse_float_candidate
from qcomp.recipes import Recipe

MIXED = (
    "qc-assign-precision{candidates=w8a8:nvfp4-w4a16,budget=6,sensitivity=hessian},"
    "qc-quantize-float,qc-quantize{wbits=8,abits=8,granularity=per_token},canonicalize"
)


def test_float_candidates_parse_by_name():
    assert parse_float_candidate("w4a16g128") is None  # an integer candidate
    assert parse_float_candidate("fp8-w8a8") == FloatCandidate("fp8", "fp8")
    assert parse_float_candidate("nvfp4-w4a16") == FloatCandidate("nvfp4", "")
    assert parse_float_candidate("mxfp4/fp8-w4a8") == FloatCandidate("mxfp4", "fp8")
    assert parse_float_candidate("mxfp4/fp8-w4a8").name == "mxfp4/fp8-w4a8"
    for bad, why in (
        ("fp8-w4a8", r"the bits must be the formats' \(fp8-w8a8\)"),
        ("nvfp4-w4a16g16", "carries its own block"),
        ("int4-w4a16", "'int4' is not a format preset"),
        ("mxfp4/fp8-w4a16", "an activation format needs a8"),
    ):
        with pytest.raises(QcompError, match=why) as e:
            parse_float_candidate(bad)
        assert "\n" not in str(e.value)


def test_float_candidates_count_stored_scale_bits():
    # fp8: one f32 scale per output channel; MX: an e8m0 byte per 32; NVFP4: an e4m3 byte per 16
    assert FloatCandidate("fp8", "fp8").bits_per_weight(64) == 8 + 32 / 64
    assert FloatCandidate("mxfp4", "").bits_per_weight(64) == 4.25
    assert FloatCandidate("nvfp4", "").bits_per_weight(64) == 4.5
    assert FloatCandidate("mxfp8", "mxfp8").bits_per_weight(48) == 8 + 8 * 2 / 48  # a partial last block


def test_float_local_error_is_the_fp8_round_trip_error():
    """fp8-w8a8's local error against the same error computed with torch's float8_e4m3fn casts."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((24, 40)).astype(np.float32)
    x = (rng.standard_normal((16, 40)) * np.linspace(0.1, 5, 40)).astype(np.float32)

    def e4m3(t: torch.Tensor) -> torch.Tensor:
        s = t.abs().amax(-1, keepdim=True) / 448.0
        return (t * (1.0 / s)).to(torch.float8_e4m3fn).float() * s

    wt, xt = torch.from_numpy(w), torch.from_numpy(x)
    d = (e4m3(xt) @ e4m3(wt).T - xt @ wt.T).double()
    want = float((d * d).sum())
    assert float_local_error(w, x, FloatCandidate("fp8", "fp8")) == pytest.approx(want, rel=1e-5)
    assert want > 0


def test_output_gains_need_an_integer_candidate():
    with pytest.raises(QcompError, match="has none") as e:
        AssignPrecisionPass(candidates="fp8-w8a8:nvfp4-w4a16", sensitivity="output_mse")
    assert "\n" not in str(e.value)
    p = AssignPrecisionPass(candidates="nvfp4-w4a16:w8a8:w4a16g32")
    assert p.reference_candidate() == "w4a16g32"


def test_mixed_int_and_float_search_builds_each_layer_as_chosen():
    """Under a budget between all-NVFP4 (4.5 bits) and all-int8 (8.25-8.5), the plan mixes int8 W8A8 and NVFP4
    layers; each compiled layer is its pick (NVFP4 codes and scales those of the reference), the plan's bits are
    the hand count, and the model stays close to PyTorch."""
    model, inputs = BUILTIN["mlp"]()
    torch.manual_seed(0)
    cal = calibrate(model, [inputs, (torch.randn_like(inputs[0]),)])
    rec = Recipe("mixed-float-test", 1, MIXED, calibration="minmax")
    cm = qcomp.compile(model, inputs, recipe=rec, calibration=cal, taps=("qc.fp_wlinear",))
    plan = cm.report["precision_plan"]
    picks = [row["precision"] for row in plan["layers"]]
    assert sorted(set(picks)) == ["nvfp4-w4a16", "w8a8"]
    # fc1 [128, 64], fc2 [128, 128], fc3 [32, 128]: int8 8 + 32/K bits, NVFP4 4 + 8/16
    sizes, ks = (128 * 64, 128 * 128, 32 * 128), (64, 128, 128)
    bits = [4.5 if p == "nvfp4-w4a16" else 8 + 32 / k for p, k in zip(picks, ks, strict=True)]
    assert plan["avg_wbits"] == pytest.approx(sum(b * n for b, n in zip(bits, sizes, strict=True)) / sum(sizes))
    assert plan["avg_wbits"] <= 6
    ops = [r["precision"] for r in cm.report["ops"] if r["op"] in ("qc.fp_wlinear", "qc.qlinear")]
    assert ops == picks
    outs, taps = cm.run_with_taps(*inputs)
    weights = [m.weight.detach().numpy() for m in (model.fc1, model.fc2, model.fc3)]
    nv = fmt.parse("nvfp4")
    nv_weights = [w for w, p in zip(weights, picks, strict=True) if p != "w8a8"]
    for (tap, (_, wq, s, _), _), w in zip(taps, nv_weights, strict=True):
        codes, scales = fmt.quantize_weight(w, nv)
        ts = fmt.weight_tensor_scale(w, nv)
        assert np.array_equal(wq, codes)
        assert np.array_equal(s, fmt.scale_codes(scales, nv, ts))
        assert tap.attrs["tensor_scale"] == ts
    with torch.no_grad():
        want = model(*inputs).numpy().ravel()
    got = np.asarray(outs[0]).ravel()
    assert float(got @ want) / (np.linalg.norm(got) * np.linalg.norm(want)) >= 0.99


def test_quantize_float_skips_layers_the_plan_gave_integers():
    """With a plan of only integer picks, qc-quantize-float leaves every layer to qc-quantize."""
    model, inputs = BUILTIN["mlp"]()
    cal = calibrate(model, [inputs])
    pipe = MIXED.replace("budget=6", "budget=9")  # room for int8 everywhere: the least error
    cm = qcomp.compile(model, inputs, recipe=Recipe("t", 1, pipe, calibration="minmax"), calibration=cal)
    assert [r["precision"] for r in cm.report["precision_plan"]["layers"]] == ["w8a8"] * 3
    assert not [r for r in cm.report["ops"] if r["op"].startswith("qc.fp_")]


def test_output_gains_are_measured_at_an_integer_candidate():
    from qcomp.api import gain_reference

    rec = Recipe("t", 1, "qc-assign-precision{candidates=w8a8:nvfp4-w4a16:mxfp4-w4a16,sensitivity=output_kl}")
    assert gain_reference(rec) == "w8a8"  # not the 4-bit float formats: qcomp.sensitivity quantizes to integers


def test_quantize_before_quantize_float_is_refused_not_integer_quantized():
    """qc-quantize meeting a layer the plan gave a number format (the passes in the wrong order) refuses it in
    one line naming the order, instead of quantizing it to integers."""
    model, inputs = BUILTIN["mlp"]()
    cal = calibrate(model, [inputs])
    a, b = "qc-quantize-float,", "qc-quantize{wbits=8,abits=8,granularity=per_token},"
    pipe = MIXED.replace(a + b, b + a)
    assert pipe != MIXED
    with pytest.raises(QcompError, match="run qc-quantize-float before qc-quantize") as e:
        qcomp.compile(model, inputs, recipe=Recipe("t", 1, pipe, calibration="minmax"), calibration=cal)
    assert "\n" not in str(e.value)
