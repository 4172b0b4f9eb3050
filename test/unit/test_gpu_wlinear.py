"""The weight-only GEMM kernel of qc.wlinear on the GPU, checked without a GPU through its CPU emulation:
the dequantized weight is bit-exact (x = I), outputs agree with the reference within f32 rounding, the PTX
is accepted by ptxas for sm_90, and bad specs are one-line errors."""

import numpy as np
import pytest
from qcomp.dialects import reference as ref
from qcomp.dialects.errors import QcompError
from qcomp.targets.gpu.emulate import EmulatedKernels
from qcomp.targets.gpu.kernels import Tiling, gpu_module
from qcomp.targets.gpu.ptx import compile_ptx, define_libdevice, find_ptxas, ptxas
from qcomp.targets.gpu.wlinear import WLinearSpec

# (n, k, bits, group): int4 with a partial last group and an odd group (a byte straddling two groups),
# int8, int3 (packed like int4), and N beyond one block of 128 threads
SHAPES = [(45, 70, 4, 32), (130, 7, 4, 3), (16, 64, 8, 16), (8, 6, 3, 2)]
ROWS = 37  # M: several row blocks and a row tail


def _weights(n, k, bits, group):
    rng = np.random.default_rng(n * 100 + k)
    wq, s = ref.quantize_weight_grouped(rng.standard_normal((n, k)).astype(np.float32), bits=bits, group=group)
    return rng, wq, s


def _specs():
    out = []
    for n, k, bits, group in SHAPES:
        out += [WLinearSpec(k, n, k, bits, group), WLinearSpec(ROWS, n, k, bits, group)]
    return out


@pytest.fixture(scope="module")
def emulated():
    return EmulatedKernels(_specs(), Tiling())


@pytest.mark.parametrize(("n", "k", "bits", "group"), SHAPES)
def test_dequantized_weight_is_bit_exact(emulated, n, k, bits, group):
    _, wq, s = _weights(n, k, bits, group)
    # x = I: every output is fma(1, w, 0) = w plus exact zeros, whatever the order of the sum
    got = emulated.run(WLinearSpec(k, n, k, bits, group), [np.eye(k, dtype=np.float32), wq, s, np.zeros(n, np.float32)])
    assert np.array_equal(got, ref.dequantize_weight(wq, s, bits=bits, group=group, k=k).T)


@pytest.mark.parametrize(("n", "k", "bits", "group"), SHAPES)
def test_outputs_match_the_reference_within_rounding(emulated, n, k, bits, group):
    rng, wq, s = _weights(n, k, bits, group)
    x = rng.standard_normal((ROWS, k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    got = emulated.run(WLinearSpec(ROWS, n, k, bits, group), [x, wq, s, b])
    want = ref.wlinear(x, wq, s, b, bits=bits, group=group)
    # f32 sums in another order (sequential FMAs): within K ulps of the largest term
    np.testing.assert_allclose(got, want, rtol=0, atol=k * 6e-8 * float(np.abs(want).max()))
    # a wrong nibble, scale or group would be off by far more than rounding
    assert not np.array_equal(got, emulated.run(WLinearSpec(ROWS, n, k, bits, group), [x, wq, s * 1.5, b]))


@pytest.mark.skipif(find_ptxas() is None, reason="ptxas not installed (pip install 'qcomp[gpu]': nvidia-cuda-nvcc)")
def test_ptxas_accepts_the_wlinear_kernels_for_sm_90():
    _, ptx = compile_ptx(gpu_module(_specs()[1::2], Tiling()), "sm_90")
    assert "call" not in ptx  # the libdevice functions became instructions
    log = ptxas(ptx, "sm_90")
    for spec in _specs()[1::2]:
        assert f"Compiling entry function '{spec.name}' for 'sm_90'" in log
    assert "0 bytes spill stores" in log


def test_unknown_libdevice_function_is_an_error():
    assert "fma.f32" in define_libdevice("declare float @__nv_fmaf(float, float, float)\n")
    with pytest.raises(QcompError, match="calls libdevice's __nv_expf, which is not provided"):
        define_libdevice("declare float @__nv_expf(float)\n")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"m": 0, "n": 8, "k": 32, "bits": 4, "group": 32}, "empty shape"),
        ({"m": 1, "n": 8, "k": 32, "bits": 9, "group": 32}, "bits must be in 2..8"),
        ({"m": 1, "n": 8, "k": 32, "bits": 4, "group": 0}, "group must be positive"),
    ],
)
def test_bad_wlinear_specs(kwargs, message):
    with pytest.raises(QcompError, match=message):
        WLinearSpec(**kwargs)
