"""The float-format weight GEMM of qc.fp_wlinear on the GPU, checked without a GPU through its CPU emulation:
every code of every element format decodes to the reference's value (x = I), outputs equal the CPU build's
bit for bit, the fp8 kernels for sm_89+ use PTX's cvt (ptxas accepts them), older arches decode with
integer ops, and bad specs are one-line errors."""

import numpy as np
import pytest
from qcomp.dialects import formats as fmt
from qcomp.dialects.errors import QcompError
from qcomp.targets.gpu.emulate import EmulatedKernels
from qcomp.targets.gpu.fp_wlinear import FpWLinearSpec, decode_for
from qcomp.targets.gpu.kernels import Tiling, gpu_module
from qcomp.targets.gpu.offload_pass import fp_wlinear_spec
from qcomp.targets.gpu.ptx import compile_ptx, find_ptxas, ptxas

# (format, n, k): per channel, MX blocks of 32 with a partial last block, NVFP4 blocks of 16
CASES = [
    ("fp8", 32, 40),
    ("fp8_e5m2", 16, 33),
    ("mxfp8", 48, 70),
    ("mxfp6_e3m2", 16, 64),
    ("mxfp6_e2m3", 16, 40),
    ("mxfp4", 32, 64),
    ("nvfp4", 16, 48),
]
ROWS = 7


def _spec(text: str, m: int, n: int, k: int, decode: str = "bits") -> FpWLinearSpec:
    qf = fmt.parse(text)
    return FpWLinearSpec(m, n, k, qf.bits, qf.group(k), elem=qf.elem, decode=decode)


def _all_codes(elem: str) -> np.ndarray:
    """Weight codes [N=16, K] holding every code of the format once (K = 2^bits / 16, at least 1)."""
    bits = fmt.ELEMS[elem].bits
    codes = np.arange(1 << bits, dtype=np.uint8)
    k = max(1, codes.size // 16)
    codes = np.resize(codes, 16 * k).reshape(16, k)
    return codes


@pytest.fixture(scope="module")
def emulated():
    specs = []
    for text, n, k in CASES:
        specs += [_spec(text, k, n, k), _spec(text, ROWS, n, k)]
    specs += [_spec(text, ROWS, n, k, "cvt") for text, n, k in CASES[:2]]
    for elem in fmt.ELEMS:
        k = _all_codes(elem).shape[1]
        specs.append(FpWLinearSpec(k, 16, k, fmt.ELEMS[elem].bits, k, elem=elem))
    return EmulatedKernels(specs, Tiling())


@pytest.mark.parametrize("elem", list(fmt.ELEMS))
def test_every_code_decodes_to_the_reference_value(emulated, elem):
    codes = _all_codes(elem)
    k = codes.shape[1]
    wq = fmt.pack_nibbles(codes) if fmt.ELEMS[elem].bits == 4 else codes.view(np.int8)
    s = np.full((16, 1), 0.5, np.float32)
    spec = FpWLinearSpec(k, 16, k, fmt.ELEMS[elem].bits, k, elem=elem)
    with np.errstate(invalid="ignore"):
        got = emulated.run(spec, [np.eye(k, dtype=np.float32), wq, s, np.zeros(16, np.float32)]).T
    # the reference's table times the scale; a NaN code stays NaN (x = I: NaN · 0 poisons its whole row)
    want = fmt.decode(elem, codes) * np.float32(0.5)
    nan_rows = np.isnan(want).any(axis=1)
    assert np.array_equal(got[~nan_rows], want[~nan_rows])
    assert np.isnan(got[nan_rows]).any(axis=1).all()


@pytest.mark.parametrize(("text", "n", "k"), CASES)
def test_dequantized_weight_is_bit_exact(emulated, text, n, k):
    rng = np.random.default_rng(n + k)
    wq, s = fmt.quantize_weight(rng.standard_normal((n, k)).astype(np.float32), fmt.parse(text))
    spec = _spec(text, k, n, k)
    got = emulated.run(spec, [np.eye(k, dtype=np.float32), wq, s, np.zeros(n, np.float32)])
    assert np.array_equal(got.T, fmt.dequantize_weight(wq, s, elem=spec.elem, group=spec.group, k=k))


@pytest.mark.parametrize(("text", "n", "k"), CASES)
def test_outputs_match_the_reference_within_rounding(emulated, text, n, k):
    rng = np.random.default_rng(n * k)
    wq, s = fmt.quantize_weight(rng.standard_normal((n, k)).astype(np.float32), fmt.parse(text))
    x = rng.standard_normal((ROWS, k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    got = emulated.run(_spec(text, ROWS, n, k), [x, wq, s, b])
    want = fmt.fp_wlinear(x, wq, s, b, format=text, group=fmt.parse(text).group(k))
    np.testing.assert_allclose(got, want, rtol=0, atol=k * 6e-8 * float(np.abs(want).max()))
    assert not np.array_equal(got, emulated.run(_spec(text, ROWS, n, k), [x, wq, s * 1.5, b]))


@pytest.mark.parametrize(("text", "n", "k"), [c for c in CASES if fmt.parse(c[0]).scale != "f32"])
def test_one_byte_scale_codes_give_the_f32_scales_results(emulated, text, n, k):
    """The kernel taking e8m0 / e4m3 scale codes (NVFP4: the tensor scale a kernel constant) computes what the
    kernel taking their f32 values does, bit for bit (x = I: the reference's dequantized weight)."""
    qf = fmt.parse(text)
    rng = np.random.default_rng(k)
    w = rng.standard_normal((n, k)).astype(np.float32)
    wq, s = fmt.quantize_weight(w, qf)
    ts = fmt.weight_tensor_scale(w, qf)
    codes = fmt.scale_codes(s, qf, ts)
    spec = FpWLinearSpec(k, n, k, qf.bits, qf.group(k), elem=qf.elem, scale=qf.scale, tensor_scale=ts)
    got = EmulatedKernels([spec], Tiling()).run(spec, [np.eye(k, dtype=np.float32), wq, codes, np.zeros(n, np.float32)])
    assert np.array_equal(got.T, fmt.dequantize_weight(wq, s, elem=qf.elem, group=qf.group(k), k=k))


@pytest.mark.parametrize(("text", "n", "k"), CASES[:2])
def test_the_cvt_kernel_emulates_like_the_bits_kernel(emulated, text, n, k):
    rng = np.random.default_rng(3)
    wq, s = fmt.quantize_weight(rng.standard_normal((n, k)).astype(np.float32), fmt.parse(text))
    args = [rng.standard_normal((ROWS, k)).astype(np.float32), wq, s, rng.standard_normal(n).astype(np.float32)]
    assert np.array_equal(
        emulated.run(_spec(text, ROWS, n, k, "cvt"), args), emulated.run(_spec(text, ROWS, n, k), args)
    )


@pytest.mark.parametrize(
    ("elem", "arch", "want"),
    [("e4m3", "sm_90", "cvt"), ("e5m2", "sm_89", "cvt"), ("e4m3", "sm_86", "bits"), ("e2m1", "sm_90", "bits")],
)
def test_decode_follows_the_arch(elem, arch, want):
    assert decode_for(elem, arch) == want


def _ptx(spec: FpWLinearSpec, arch: str) -> str:
    return compile_ptx(gpu_module([spec], Tiling()), arch)[1]


def test_fp8_kernels_convert_with_cvt_on_sm_89_and_sm_90():
    spec = _spec("fp8", 4, 32, 64, "cvt")
    for arch, version in (("sm_90", ".version 8.0"), ("sm_89", ".version 8.1")):
        ptx = _ptx(spec, arch)
        assert "cvt.rn.f16x2.e4m3x2" in ptx
        assert version in ptx
    assert "cvt.rn.f16x2.e5m2x2" in _ptx(_spec("fp8_e5m2", 4, 32, 64, "cvt"), "sm_90")
    # sm_86 has no fp8 conversion: the bits kernel shifts
    assert "cvt.rn.f16x2" not in _ptx(fp_wlinear_spec([4, 64], [32, 64], "fp8", 64, "sm_86"), "sm_86")


def test_cvt_kernel_for_an_arch_without_fp8_is_one_line():
    with pytest.raises(QcompError, match="need sm_89 or newer, not sm_80"):
        _ptx(_spec("fp8", 4, 32, 64, "cvt"), "sm_80")


@pytest.mark.skipif(find_ptxas() is None, reason="ptxas not installed (pip install 'qcomp[gpu]': nvidia-cuda-nvcc)")
@pytest.mark.parametrize(
    ("text", "arch", "decode"), [("fp8", "sm_90", "cvt"), ("fp8", "sm_89", "cvt"), ("nvfp4", "sm_80", "bits")]
)
def test_ptxas_accepts_the_fp_wlinear_kernels(text, arch, decode):
    spec = _spec(text, ROWS, 32, 64, decode)
    log = ptxas(_ptx(spec, arch), arch)
    assert f"Compiling entry function '{spec.name}' for '{arch}'" in log
    assert "0 bytes spill stores" in log


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"elem": "e9m9"}, "element format must be one of"),
        ({"elem": "e4m3", "bits": 4}, "e4m3 has 8 bits, got bits=4"),
        ({"elem": "e2m1", "bits": 4, "decode": "cvt"}, "decode must be 'bits' or 'cvt'"),
        ({"scale": "e4m3"}, "e4m3 with a tensor_scale"),
    ],
)
def test_bad_fp_wlinear_specs(kwargs, message):
    with pytest.raises(QcompError, match=message):
        FpWLinearSpec(**({"m": 1, "n": 8, "k": 32, "bits": 8, "group": 32} | kwargs))
