"""GPU kernels of the norms, softmax, GELU/SiLU and dynamic quantization, checked without a GPU through their
CPU emulation (one block per row, shared-memory tree reductions behind barriers): quantize_dynamic's q and
scale equal the reference exactly, float ops are within stated bounds, and ptxas accepts the PTX."""

import numpy as np
import pytest
from qcomp.dialects import reference as ref
from qcomp.dialects.errors import QcompError
from qcomp.targets.gpu.emulate import EmulatedKernels
from qcomp.targets.gpu.kernels import Tiling, gpu_module
from qcomp.targets.gpu.ptx import compile_ptx, find_ptxas, ptxas
from qcomp.targets.gpu.rowops import MapSpec, RowSpec

R, D = 6, 300  # D: two full strides of 128 threads and a tail
SPECS = [
    RowSpec("rms_norm", R, D, eps=1e-6),
    RowSpec("layer_norm", R, D, eps=1e-5),
    RowSpec("softmax", R, D),
    RowSpec("quantize_dynamic", R, D),
    RowSpec("quantize_dynamic", R, 7, bits=4),  # rows shorter than the block
    MapSpec("gelu", 1000),
    MapSpec("silu", 1000),
]


@pytest.fixture(scope="module")
def emulated():
    return EmulatedKernels(SPECS, Tiling())


def _x(rng, shape, scale=3.0):
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    x[1] = 0  # an all-zero row: scale 1, q 0; norms of zeros stay finite
    return x


def _close(got, want, rel):
    assert got.dtype == np.float32
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=0, atol=rel * float(np.abs(want).max()))


def test_norms_and_softmax_within_rounding(emulated):
    rng = np.random.default_rng(0)
    x = _x(rng, (R, D))
    g, b = rng.standard_normal(D).astype(np.float32), rng.standard_normal(D).astype(np.float32)
    # sums in another order than numpy's (strided partials, then a tree): a few ulps of the largest output
    _close(emulated.run(SPECS[0], [x, g]), ref.rms_norm(x, g, eps=1e-6), 2e-7)
    _close(emulated.run(SPECS[1], [x, g, b]), ref.layer_norm(x, g, b, eps=1e-5), 2e-7)
    _close(emulated.run(SPECS[2], [x]), ref.softmax(x), 2e-7)  # exp: Cephes polynomial, 8.1e-8 relative
    assert np.allclose(emulated.run(SPECS[2], [x]).sum(-1), 1, atol=1e-6)


@pytest.mark.parametrize("spec", SPECS[3:5], ids=lambda s: s.name)
def test_quantize_dynamic_is_exact(emulated, spec):
    x = _x(np.random.default_rng(spec.d), (R, spec.d))
    x[2, 3] = 1e-30  # a tiny absmax: scale underflows nothing, inv is huge, q saturates correctly
    q, s = emulated.run(spec, [x])
    want_q, want_s = ref.quantize_dynamic(x, bits=spec.bits)
    assert q.dtype == np.int8
    assert np.array_equal(q, want_q)
    assert np.array_equal(s, want_s.reshape(-1))
    assert s[1] == 1


def test_activations_within_their_polynomial_error(emulated):
    x = np.linspace(-12, 12, 1000, dtype=np.float32)
    # erf: Eigen's rational approximation (4.4e-7 absolute); exp: Cephes (8.1e-8 relative)
    np.testing.assert_allclose(emulated.run(SPECS[5], [x]), ref.gelu(x), rtol=1e-6, atol=6e-6)
    np.testing.assert_allclose(emulated.run(SPECS[6], [x]), ref.silu(x), rtol=1e-6, atol=1e-7)


@pytest.mark.skipif(find_ptxas() is None, reason="ptxas not installed (pip install 'qcomp[gpu]': nvidia-cuda-nvcc)")
def test_ptxas_accepts_the_row_kernels_for_sm_90():
    _, ptx = compile_ptx(gpu_module(SPECS, Tiling()), "sm_90")
    assert "call" not in ptx  # no libdevice: exp/erf are polynomials, sqrt/rint/fma single instructions
    assert "bar.sync" in ptx  # the barriers between reduction phases
    assert ".shared" in ptx
    log = ptxas(ptx, "sm_90")
    for spec in SPECS:
        assert f"Compiling entry function '{spec.name}' for 'sm_90'" in log


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RowSpec("cumsum", 2, 4), "unknown op 'cumsum'"),
        (lambda: RowSpec("softmax", 0, 4), "empty shape"),
        (lambda: RowSpec("quantize_dynamic", 2, 4, bits=1), "bits must be in 2..8"),
        (lambda: MapSpec("gelu", 8, "tanh"), "approximate='tanh' is not implemented"),
    ],
)
def test_bad_row_specs(make, message):
    with pytest.raises(QcompError, match=message):
        make()
