"""A NaN reaching an integer quantizer gets code 0 (docs/numerics.md): in the reference and in every CPU
lowering of a rounding to a code (static quantize, per-tensor and per-token dynamic quantize, a norm fused with
its quantization), at each ISA. Before, LLVM's fptosi of NaN decided: 0 on one path, -128 (outside the
symmetric range) on the vectorized ones, which the CIM simulator then refused."""

import numpy as np
import pytest
from qcomp.dialects import reference as ref
from qcomp.dialects.errors import QcompError
from qcomp.targets.cpu.jit import jit_from_text
from qcomp.targets.cpu.kernels import ISAS, host_isa
from test_cpu_lowering import module_text

AVAILABLE = ISAS[ISAS.index(host_isa()) :]
F32 = np.float32


def _x(k: int = 37) -> np.ndarray:
    x = (np.arange(3 * k, dtype=F32).reshape(3, k) - 50) * F32(0.37)
    x[0, 3] = x[2, k - 1] = np.nan
    x[1, 0] = np.inf
    x[1, 5] = -np.inf
    return x


def _expected_codes(x: np.ndarray, inv: np.ndarray, bits: int) -> np.ndarray:
    """Written out here, not taken from the reference: roundeven, clamp, NaN -> 0."""
    q = (1 << (bits - 1)) - 1
    r = np.rint(x * inv)
    r[np.isnan(r)] = 0
    return np.clip(r, -q, q).astype(np.int8)


@pytest.mark.parametrize("isa", AVAILABLE)
@pytest.mark.parametrize(("bits", "k"), [(8, 37), (4, 48), (7, 64)])
def test_static_quantize_maps_nan_to_code_zero(isa, bits, k):
    x, scale = _x(k), np.array([0.25], F32)
    want = _expected_codes(x, F32(1) / scale, bits)
    assert want[0, 3] == 0
    assert want[1, 0] == (1 << (bits - 1)) - 1  # inf still saturates
    np.testing.assert_array_equal(ref.quantize(x, scale, bits=bits), want)
    fn = jit_from_text(module_text("quantize", [x, scale], [want], {"bits": bits, "axis": -1}), isa=isa)
    with pytest.raises(QcompError, match=r"input 0: nan at index \[0, 3\]"):
        fn(x, scale)  # a static-scale function refuses NaN/inf at its inputs
    fn.finite_only = False  # as a NaN made inside a model reaches its static quantizer: the kernel's own rule
    np.testing.assert_array_equal(fn(x, scale)[0], want)


@pytest.mark.parametrize("isa", AVAILABLE)
@pytest.mark.parametrize(("granularity", "k"), [("per_token", 37), ("per_token", 48), ("per_tensor", 64)])
def test_dynamic_quantize_of_a_nan_row_gives_code_zero(isa, granularity, k):
    # a row holding NaN has a NaN scale, so every x · (1/scale) of that row is NaN: all its codes are 0
    x = _x(k)
    x[1, 0] = x[1, 5] = 1.0  # row 1 finite, row 0 and 2 hold NaN
    q, s = ref.quantize_dynamic(x, bits=8, granularity=granularity)
    nan_rows = [0, 2] if granularity == "per_token" else [0, 1, 2]
    assert (q[nan_rows] == 0).all()
    fn = jit_from_text(module_text("quantize_dynamic", [x], [q, s], {"bits": 8, "granularity": granularity}), isa=isa)
    gq, gs = fn(x)
    np.testing.assert_array_equal(gq, q)
    np.testing.assert_array_equal(gs, s)


@pytest.mark.parametrize("isa", AVAILABLE)
def test_fused_rms_norm_quantize_gives_code_zero_for_nan(isa):
    x, gamma = _x(), np.linspace(0.5, 1.5, 37, dtype=F32)
    q, s = ref.rms_norm_quantize(x, gamma, eps=1e-5, bits=8)
    assert (q[[0, 2]] == 0).all()
    fn = jit_from_text(module_text("rms_norm_quantize", [x, gamma], [q, s], {"eps": 1e-5, "bits": 8}), isa=isa)
    gq, _ = fn(x, gamma)
    np.testing.assert_array_equal(gq[[0, 2]], 0)
    assert np.abs(gq[1].astype(int) - q[1]).max() <= 1  # the finite row: the float norm within one code
