"""Whole models compiled for the CPU: fp32 matches PyTorch tightly; w8a8 matches the reference semantics
bit-exactly op by op (replayed through qcomp.dialects.reference on the values the JIT computed) and
PyTorch within a stated error."""

import numpy as np
import pytest
from conftest import compiled, cosine, max_rel_err
from qcomp.dialects import reference as ref

MODELS = ["mlp", "cnn", "tiny-llama", "tiny-gpt2"]
REFERENCE = {"qc.quantize_dynamic": ref.quantize_dynamic, "qc.qlinear": ref.qlinear, "qc.qconv2d": ref.qconv2d}


@pytest.mark.parametrize("name", MODELS)
def test_fp32_matches_pytorch(name):
    _, inputs, cm, want = compiled(name, "fp32")
    got = cm(*inputs).numpy()
    assert got.shape == want.shape
    assert max_rel_err(got, want) <= 1e-4


@pytest.mark.parametrize("name", MODELS)
def test_w8a8_integer_ops_bit_exact(name):
    _, inputs, cm, _ = compiled(name, "w8a8")
    _, taps = cm.run_with_taps(*inputs)
    assert {t.op for t, _, _ in taps} >= {"qc.quantize_dynamic"}
    for tap, operands, results in taps:
        want = REFERENCE[tap.op](*operands, **tap.attrs)
        want = want if isinstance(want, tuple) else (want,)
        for w, g in zip(want, results, strict=True):
            assert g.dtype == w.dtype, f"{tap.op} at {tap.location}"
            assert np.array_equal(g, w), f"{tap.op} at {tap.location} differs from the reference"


@pytest.mark.parametrize("name", MODELS)
def test_w8a8_close_to_pytorch(name):
    _, inputs, cm, want = compiled(name, "w8a8")
    got = cm(*inputs).numpy()
    assert cosine(got, want) >= 0.99
    assert max_rel_err(got, want) < 0.1  # quantization changes results, but not wildly


@pytest.mark.parametrize(("name", "layers"), [("mlp", 3), ("cnn", 3), ("tiny-llama", 15), ("tiny-gpt2", 9)])
def test_w8a8_quantizes_every_weight_layer(name, layers):
    _, _, cm, _ = compiled(name, "w8a8")
    precisions = [r["precision"] for r in cm.report["ops"] if r["op"] in ("qc.qlinear", "qc.qconv2d")]
    assert precisions == ["w8a8"] * layers
    assert not [r for r in cm.report["ops"] if r["op"] in ("qc.linear", "qc.conv2d")]
    sizes = cm.report["sizes"]
    assert sizes["weights_bytes"] < 0.6 * sizes["weights_fp32_bytes"]


def test_report_lists_host_ops_of_llama():
    _, _, cm, _ = compiled("tiny-llama", "w8a8")
    host = cm.report["host_ops"]
    assert host.get("torch.aten.cumsum") == 1  # the causal-mask construction stays host code
    assert cm.report["placement"]["host"] == sum(host.values())
    assert all(r["placement"] == "target" for r in cm.report["ops"])


def test_save_writes_every_stage(tmp_path):
    _, _, cm, _ = compiled("mlp", "w8a8")
    written = cm.save(str(tmp_path))
    assert written[:5] == ["00-torch.mlir", "01-qc.mlir", "02-quantized.mlir", "03-target.mlir", "04-llvm.mlir"]
    assert "torch.aten.linear" in (tmp_path / "00-torch.mlir").read_text()
    assert '"qc.linear"' in (tmp_path / "01-qc.mlir").read_text()
    assert '"qc.qlinear"' in (tmp_path / "02-quantized.mlir").read_text()
    assert "linalg.generic" in (tmp_path / "03-target.mlir").read_text()
    assert "llvm.func @main" in (tmp_path / "04-llvm.mlir").read_text()
    assert (tmp_path / "model.o").stat().st_size > 0


def test_wrong_input_shape_is_a_clear_error():
    _, inputs, cm, _ = compiled("mlp", "fp32")
    with pytest.raises(ValueError, match=r"input 0: expected float32\[8, 64\]"):
        cm(inputs[0][:4])
