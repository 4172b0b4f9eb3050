"""The vector-loop lowering (`vector_map`, `vector_math`) of ops whose last dim is a multiple of 16: the
integer ops stay bit-exact to the reference, the float ops match it (float64 math) within a stated error,
also at the edges (masked softmax rows, saturating exp)."""

import numpy as np
import pytest
from qcomp.targets.cpu.jit import jit_from_text
from test_cpu_lowering import assert_exact, f32s, module_text, run_both, tricky

F32 = np.float32


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_lowering_is_vectorized():
    x = np.zeros((2, 32), F32)
    text = jit_from_text(module_text("gelu", [x], [x], {"approximate": "none"})).llvm_text
    assert "vector<16xf32>" in text
    assert "@erf" not in text


def test_quantize_dynamic_per_token_exact(rng):
    x = tricky(rng, (3, 5, 64), 0.02)
    x[0, 0] = 0.0  # an all-zero row: scale 1
    assert_exact(*run_both("quantize_dynamic", [x], bits=8, granularity="per_token"))


@pytest.mark.parametrize(("axis", "shape"), [(-1, (4, 32)), (0, (4, 48))])
def test_quantize_per_channel_ties_and_saturation_exact(rng, axis, shape):
    s = np.abs(f32s(rng, (shape[axis],), 0.1)) + F32(0.01)
    x = (tricky(rng, shape, 1.0) * (s if axis == -1 else s[:, None])).astype(F32)
    assert_exact(*run_both("quantize", [x, s], bits=8, axis=axis))


def test_dequantize_and_requantize_exact(rng):
    acc = rng.integers(-100_000, 100_000, (3, 32)).astype(np.int32)
    s = np.abs(f32s(rng, (32,), 1e-3))
    assert_exact(*run_both("dequantize", [acc, s], axis=-1))
    assert_exact(*run_both("requantize", [acc, s], bits=8, axis=-1))


@pytest.mark.parametrize(
    ("op", "attrs"), [("gelu", {"approximate": "none"}), ("gelu", {"approximate": "tanh"}), ("silu", {})]
)
def test_activations_close(rng, op, attrs):
    x = np.concatenate([f32s(rng, (4, 64), 4.0), np.linspace(-100, 100, 64, dtype=F32)[None]]).astype(F32)
    want, got = run_both(op, [x], **attrs)
    # erf's rational approximation: 4.4e-7 absolute; exp: 8.1e-8 relative
    np.testing.assert_allclose(got[0], want[0], rtol=2e-6, atol=1e-6)


def test_softmax_with_masked_rows_close(rng):
    x = f32s(rng, (2, 3, 32), 5.0)
    x[0, 0, 5:] = np.finfo(F32).min  # a padding mask as HF writes it: those probabilities are exactly 0
    x[1, 2, :7] = -np.inf
    want, got = run_both("softmax", [x], axis=-1)
    assert np.all(got[0][0, 0, 5:] == 0)
    assert np.all(got[0][1, 2, :7] == 0)
    np.testing.assert_allclose(got[0], want[0], rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("op", ["layer_norm", "rms_norm"])
def test_norms_close(rng, op):
    x = (f32s(rng, (3, 4, 48), 2.0) + 1).astype(F32)
    params = [f32s(rng, (48,))] + ([f32s(rng, (48,))] if op == "layer_norm" else [])
    want, got = run_both(op, [x, *params], eps=1e-5)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
