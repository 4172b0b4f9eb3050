"""The float-format recipes (fp8, MX, NVFP4) end to end on the built-in MLP: the compiled model's weights are
what `formats.quantize_weight` gives for the float weights, its fake-quantized activations equal the reference
bit for bit (replayed on the values the JIT computed), its GEMMs the reference within f32 rounding, and the
output stays close to PyTorch; the report names the formats; targets without float formats refuse them."""

import numpy as np
import pytest
import qcomp
import torch
from conftest import cosine
from qcomp.calibrate import calibrate
from qcomp.dialects import formats as F
from qcomp.dialects import reference_of
from qcomp.dialects.errors import QcompError
from qcomp.examples.models import BUILTIN

TAPS = ("qc.fp_wlinear", "qc.fp_fake_quant", "qc.fp_fake_quant_static")
# one layer of 4-bit floats loses a few % (cosine ~0.98 on random weights); fp8 far less
MIN_COSINE = {"fp8": 0.995, "fp8-static": 0.995, "mxfp4-w4a4": 0.95, "nvfp4": 0.97}
_CACHE: dict = {}


def _mlp():
    if "mlp" not in _CACHE:
        model, inputs = BUILTIN["mlp"]()
        with torch.no_grad():
            want = model(*inputs).numpy()
        float_taps = qcomp.compile(model, inputs, recipe="fp32", taps=("qc.linear",)).taps
        _CACHE["mlp"] = (model, inputs, want, [t.operands[1] for t in float_taps])
    return _CACHE["mlp"]


@pytest.mark.parametrize("recipe", list(MIN_COSINE))
def test_recipe_matches_reference_and_pytorch(recipe):
    model, inputs, want, weights = _mlp()
    cal = calibrate(model, [inputs]) if recipe == "fp8-static" else None
    cm = qcomp.compile(model, inputs, recipe=recipe, calibration=cal, taps=TAPS)
    outs, taps = cm.run_with_taps(*inputs)
    got = np.asarray(outs[0])
    assert cosine(got, want) >= MIN_COSINE[recipe], f"{recipe}: cosine {cosine(got, want):.5f}"
    lin = [(t, o, r) for t, o, r in taps if t.op == "qc.fp_wlinear"]
    assert len(lin) == len(weights)
    for (tap, (x, wq, s, b), (y,)), w in zip(lin, weights, strict=True):
        qf = F.parse(tap.attrs["format"])
        want_q, want_s = F.quantize_weight(w, qf)
        assert np.array_equal(wq, want_q), tap.location
        # e8m0 / e4m3 scales stored as 1-byte codes (NVFP4: with the f32 tensor scale), decoding to RTN's
        assert s.dtype == (np.float32 if qf.scale == "f32" else np.int8), tap.location
        assert np.array_equal(F.stored_scales(s, qf, tap.attrs.get("tensor_scale")), want_s), tap.location
        ref = reference_of(tap.op)(x, wq, s, b, **tap.attrs)
        fs = F.stored_scales(s, qf, tap.attrs.get("tensor_scale"))
        deq = F.dequantize_weight(wq, fs, elem=qf.elem, group=tap.attrs["group"], k=x.shape[-1])
        assert np.all(np.abs(y - ref) <= 1e-5 * (np.abs(x) @ np.abs(deq).T + 1)), tap.location
    acts = [(t, o, r) for t, o, r in taps if t.op != "qc.fp_wlinear"]
    assert len(acts) == (0 if recipe == "nvfp4" else len(weights))
    for tap, operands, results in acts:
        assert np.array_equal(results[0], reference_of(tap.op)(*operands, **tap.attrs)), tap.location
    precisions = {r["precision"] for r in cm.report["ops"] if r["op"] == "qc.fp_wlinear"}
    assert precisions == {
        {
            "fp8": "fp8-w8a8",
            "fp8-static": "fp8/e4m3:f32:tensor-w8a8",
            "mxfp4-w4a4": "mxfp4-w4a4",
            "nvfp4": "nvfp4-w4a16",
        }[recipe]
    }


@pytest.mark.parametrize("target", ["cim", "npu"])
def test_integer_accelerators_refuse_float_formats(target):
    model, inputs, _, _ = _mlp()
    with pytest.raises(QcompError, match="float number formats") as e:
        qcomp.compile(model, inputs, target=target, recipe="nvfp4")
    assert "\n" not in str(e.value)


@pytest.mark.slow  # ~20 s: three recipe builds
def test_combines_with_rotation_and_smoothing():
    """qc-rotate and qc-smooth run before the float quantizer: every linear layer of tiny-llama ends up NVFP4
    (weights and activations) and the model stays close to PyTorch."""
    from qcomp.recipes import Recipe

    model, inputs = BUILTIN["tiny-llama"]()
    with torch.no_grad():
        want = model(*inputs).numpy()
    pipeline = "qc-rotate{kind=hadamard},qc-smooth{alpha=0.5},qc-quantize{wformat=nvfp4,aformat=nvfp4}"
    cm = qcomp.compile(
        model, inputs, recipe=Recipe("nvfp4-rot", 1, pipeline, calibration="minmax"), calibration=[inputs]
    )
    ops = [r["op"] for r in cm.report["ops"]]
    assert "qc.linear" not in ops
    assert ops.count("qc.fp_wlinear") == 15  # 2 layers x (q, k, v, o, gate, up, down) + the LM head
    assert cosine(cm(*inputs).numpy(), want) >= 0.97


@pytest.mark.parametrize("recipe", ["fp8", "nvfp4", "mxfp4-w4a4"])
@pytest.mark.parametrize("arch", ["sm_90", "sm_80"])
def test_gpu_target_runs_float_format_gemms_bit_identically(recipe, arch):
    """qc.fp_wlinear runs as a GPU kernel (codes decoded in the kernel: PTX cvt for fp8 on sm_90, integer
    ops on sm_80; MX / NVFP4 scales as 1-byte codes), its emulation equal to the CPU build bit for bit;
    activation fake-quantization stays on the host."""
    model, inputs, _, _ = _mlp()
    want = qcomp.compile(model, inputs, recipe=recipe)(*inputs).numpy()
    cm = qcomp.compile(model, inputs, target=qcomp.targets.get("gpu", emulate=True, arch=arch), recipe=recipe)
    assert np.array_equal(cm(*inputs).numpy(), want)
    assert [row["op"] for row in cm.artifact.plan] == ["qc.fp_wlinear"] * 3  # every layer launches a kernel
    ptx = "".join(k.ptx for k in cm.artifact.kernels.values())
    assert ("cvt.rn.f16x2.e4m3x2" in ptx) == (recipe == "fp8" and arch == "sm_90")


def test_fp8_keep_head_leaves_the_last_linear_f32():
    """fp8-keep-head: every linear layer fp8 W8A8 but the last one (an LM head, a classifier), which stays f32."""
    model, inputs, want, _ = _mlp()
    cm = qcomp.compile(model, inputs, recipe="fp8-keep-head")
    ops = [(r["op"], r["precision"]) for r in cm.report["ops"] if r["op"] in ("qc.linear", "qc.fp_wlinear")]
    assert ops == [("qc.fp_wlinear", "fp8-w8a8")] * 2 + [("qc.linear", "fp32")]
    assert cosine(cm(*inputs).numpy(), want) >= MIN_COSINE["fp8"]
