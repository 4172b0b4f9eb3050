"""The w8a16, w4a16 and w8a8-static recipes on the built-in models.

Integer results (static activation quantization, integer GEMMs) and weight dequantization match the
reference semantics bit-exactly, replayed on the values the JIT computed (taps); the quantized weights
and scales are exactly what the reference quantizers give for the float weights; the weight-only
products (f32 sums, whose order differs between numpy and the kernel) match the reference within f32
rounding; and every recipe stays close to PyTorch.
"""

import numpy as np
import pytest
import qcomp
import torch
from conftest import cosine
from qcomp.calibrate import CalibrationTable, calibrate
from qcomp.dialects import reference as ref
from qcomp.dialects.errors import QcompError
from qcomp.examples.models import BUILTIN

MODELS = ["mlp", "cnn", "tiny-llama", "tiny-gpt2"]
TAPS = ("qc.quantize", "qc.qlinear", "qc.qconv2d", "qc.wlinear", "qc.dequantize")
# int4 round-to-nearest on random Gaussian weights loses ~11% per layer (step max|w|/7); through the
# 7-9 layers of the tiny transformers that is cosine ~0.985. The int8 recipes lose far less.
MIN_COSINE = {"w8a16": 0.999, "w8a8-static": 0.999, "w4a16": 0.98}
_CACHE: dict = {}


def _model(name):
    if ("model", name) not in _CACHE:
        model, inputs = BUILTIN[name]()
        with torch.no_grad():
            want = model(*inputs).numpy()
        float_taps = qcomp.compile(model, inputs, recipe="fp32", taps=("qc.linear", "qc.conv2d")).taps
        weights = [(t.op, t.operands[1]) for t in float_taps]  # float weights in walk order
        _CACHE["model", name] = (model, inputs, want, weights)
    return _CACHE["model", name]


def _table(name) -> CalibrationTable:
    if ("table", name) not in _CACHE:
        model, inputs, _, _ = _model(name)
        _CACHE["table", name] = calibrate(model, [inputs])
    return _CACHE["table", name]


def _compiled(name, recipe):
    if (name, recipe) not in _CACHE:
        model, inputs, _, _ = _model(name)
        cal = _table(name) if recipe == "w8a8-static" else None
        _CACHE[name, recipe] = qcomp.compile(model, inputs, recipe=recipe, calibration=cal, taps=TAPS)
    return _CACHE[name, recipe]


@pytest.mark.parametrize("recipe", ["w8a16", "w4a16", "w8a8-static"])
@pytest.mark.parametrize("name", MODELS)
def test_close_to_pytorch(name, recipe):
    _, inputs, want, _ = _model(name)
    got = _compiled(name, recipe)(*inputs).numpy()
    assert cosine(got, want) >= MIN_COSINE[recipe], f"{name} {recipe}: cosine {cosine(got, want):.5f}"


@pytest.mark.parametrize("recipe", ["w8a16", "w4a16"])
@pytest.mark.parametrize("name", MODELS)
def test_weight_only_matches_reference(name, recipe):
    _, inputs, _, weights = _model(name)
    cm = _compiled(name, recipe)
    bits = int(recipe[1])
    _, taps = cm.run_with_taps(*inputs)
    linear_w = [w for op, w in weights if op == "qc.linear"]
    conv_w = [w for op, w in weights if op == "qc.conv2d"]
    wlinear = [(t, o, r) for t, o, r in taps if t.op == "qc.wlinear"]
    deq = [(t, o, r) for t, o, r in taps if t.op == "qc.dequantize"]
    assert len(wlinear) == len(linear_w)
    assert len(deq) == len(conv_w)
    for (tap, (x, wq, s, b), (y,)), w in zip(wlinear, linear_w, strict=True):
        group = 128 if bits == 4 else w.shape[1]
        want_q, want_s = ref.quantize_weight_grouped(w, bits=bits, group=group)
        assert tap.attrs == {"bits": bits, "group": group}
        assert np.array_equal(wq, want_q), tap.location
        assert np.array_equal(s, want_s), tap.location
        want = ref.wlinear(x, wq, s, b, bits=bits, group=group)
        # the same f32 products summed in another order: within a few ulps of the sum of |terms|
        bound = 1e-5 * (np.abs(x) @ np.abs(ref.dequantize_weight(wq, s, bits=bits, group=group, k=x.shape[-1])).T + 1)
        assert np.all(np.abs(y - want) <= bound), tap.location
    for (tap, (q, s), (y,)), w in zip(deq, conv_w, strict=True):
        want_q, want_s = ref.quantize_weight(w, bits=bits, axis=0)
        assert np.array_equal(q, want_q)
        assert np.array_equal(s, want_s)
        assert np.array_equal(y, ref.dequantize(q, s, axis=0)), tap.location  # bit-exact


@pytest.mark.parametrize("name", MODELS)
def test_static_integer_ops_bit_exact(name):
    _, inputs, _, weights = _model(name)
    cm = _compiled(name, "w8a8-static")
    _, taps = cm.run_with_taps(*inputs)
    quantize = [(t, o, r) for t, o, r in taps if t.op == "qc.quantize"]
    assert len(quantize) == len(weights)
    assert [float(o[1][0]) for _, o, _ in quantize] == [float(s) for s in _table(name).scales()]
    for tap, operands, results in taps:
        want = qcomp_reference(tap.op)(*operands, **tap.attrs)
        assert results[0].dtype == want.dtype
        assert np.array_equal(results[0], want), f"{tap.op} at {tap.location} differs from the reference"


def qcomp_reference(op):
    from qcomp.dialects import reference_of

    return reference_of(op)


@pytest.mark.parametrize("recipe", ["w8a16", "w4a16", "w8a8-static"])
def test_report_precisions_and_sizes(recipe):
    cm = _compiled("tiny-llama", recipe)
    precisions = {r["precision"] for r in cm.report["ops"] if r["op"] in ("qc.qlinear", "qc.wlinear")}
    assert precisions == {"w8a8" if recipe == "w8a8-static" else recipe}
    sizes = cm.report["sizes"]
    ratio = sizes["weights_bytes"] / sizes["weights_fp32_bytes"]
    # linear weights shrink 4x (int8) or ~8x (int4 packed); the float embedding table stays
    assert ratio < (0.34 if recipe == "w4a16" else 0.45)
    if recipe == "w8a8-static":
        assert cm.report["calibration"]["samples"] == 1


def test_saved_table_gives_identical_weights_and_scales(tmp_path):
    model, inputs, _, _ = _model("mlp")
    table = _table("mlp")
    table.save(tmp_path / "t.json")
    loaded = CalibrationTable.load(tmp_path / "t.json")
    assert loaded.fingerprint == table.fingerprint
    assert loaded.method == table.method
    for a, b in zip(loaded.ops, table.ops, strict=True):
        assert a.key == b.key
        assert a.clips == b.clips
        assert np.array_equal(a.absmax, b.absmax)
    assert np.array_equal(loaded.scales(), table.scales())
    runs = []
    for cal in (table, str(tmp_path / "t.json")):
        cm = qcomp.compile(model, inputs, recipe="w8a8-static", calibration=cal, taps=TAPS)
        runs.append(cm.run_with_taps(*inputs))
    (ya, ta), (yb, tb) = runs
    assert np.array_equal(ya[0], yb[0])
    for (_, oa, _), (_, ob, _) in zip(ta, tb, strict=True):
        for a, b in zip(oa, ob, strict=True):
            assert np.array_equal(a, b)


def test_table_of_another_model_is_refused(tmp_path):
    table = _table("mlp")
    table.save(tmp_path / "mlp.json")
    model, inputs, _, _ = _model("cnn")
    with pytest.raises(QcompError, match="calibration table does not match this model") as e:
        qcomp.compile(model, inputs, recipe="w8a8-static", calibration=str(tmp_path / "mlp.json"))
    assert "\n" not in str(e.value)
    # the same architecture with other weights is another model too
    torch.manual_seed(1)
    other = type(_model("mlp")[0])().eval()
    with pytest.raises(QcompError, match="does not match") as e:
        qcomp.compile(other, _model("mlp")[1], recipe="w8a8-static", calibration=table)
    assert "\n" not in str(e.value)


def test_static_recipe_without_calibration_is_a_clear_error():
    model, inputs, _, _ = _model("mlp")
    with pytest.raises(QcompError, match="needs calibration") as e:
        qcomp.compile(model, inputs, recipe="w8a8-static")
    assert "\n" not in str(e.value)


def test_yaml_recipes_with_and_without_calibration(tmp_path):
    model, inputs, want, _ = _model("mlp")
    static = tmp_path / "static.yaml"
    static.write_text(
        "name: my-static\nversion: 2\npipeline: qc-quantize{static=true},canonicalize\ncalibration: percentile:99.9\n"
    )
    cm = qcomp.compile(model, inputs, recipe=str(static), calibration=[inputs, (inputs[0] * 0.5,)])
    assert cm.report["recipe"]["name"] == "my-static"
    assert cm.report["calibration"] == {"method": "percentile", "samples": 2, "fingerprint": _table("mlp").fingerprint}
    assert cosine(cm(*inputs).numpy(), want) >= 0.99
    w4 = tmp_path / "w4g32.yaml"
    w4.write_text("name: w4-g32\nversion: 1\npipeline: qc-quantize{wbits=4,abits=16,group=32},canonicalize\n")
    cm = qcomp.compile(model, inputs, recipe=str(w4))
    assert {r["precision"] for r in cm.report["ops"] if r["op"] == "qc.wlinear"} == {"w4a16"}
    assert "group = 32" in cm.stages["quantized"]
    assert cosine(cm(*inputs).numpy(), want) >= 0.99
