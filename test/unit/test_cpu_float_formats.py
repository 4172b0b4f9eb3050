"""The CPU kernels of the float-format ops against `dialects/formats.py`, bit for bit: qc.fp_wlinear's in-code
decoding of every code of each format (panels and plain loops), qc.fp_fake_quant's rounding and scale choice
(per token, per tensor, MX e8m0 blocks, NVFP4 two-level scales) on ties, subnormals, overflow, zeros and NaN."""

import sys
from pathlib import Path

import numpy as np
import pytest
from qcomp.dialects import formats as F

sys.path.insert(0, str(Path(__file__).parent))
from test_cpu_lowering import run_both

WFORMATS = ["fp8", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4", "mxfp8", "mxfp6_e2m3", "mxfp4", "nvfp4"]


def _finite_codes(elem: str, shape, rng) -> np.ndarray:
    v = F.decode(elem, np.arange(1 << F.ELEMS[elem].bits, dtype=np.uint8))
    finite = np.flatnonzero(np.isfinite(v)).astype(np.uint8)
    c = np.resize(finite, int(np.prod(shape))).reshape(shape)  # every finite code, then repeated
    return rng.permuted(c, axis=1)


def _store(elem: str, codes: np.ndarray) -> np.ndarray:
    return F.pack_nibbles(codes) if F.ELEMS[elem].bits == 4 else codes.view(np.int8)


# n = 32: decoded into the microkernel's panels; n = 5: plain loops
@pytest.mark.parametrize(("name", "n"), [*((f, 32) for f in WFORMATS), ("fp8", 5), ("fp4", 5)])
def test_fp_wlinear_decodes_every_code_bit_exactly(name, n):
    qf = F.PRESETS[name]
    k = 64
    rng = np.random.default_rng(n)
    codes = _finite_codes(qf.elem, (n, k), rng)
    group = qf.group(k)
    s = np.exp2(rng.integers(-8, 8, (n, k // group))).astype(np.float32) * np.float32(1.375)
    wq = _store(qf.elem, codes)
    eye, zero = np.eye(k, dtype=np.float32), np.zeros(n, np.float32)
    want, got = run_both("fp_wlinear", [eye, wq, s, zero], format=name, group=group)
    np.testing.assert_array_equal(got[0], F.dequantize_weight(wq, s, elem=qf.elem, group=group, k=k).T)
    np.testing.assert_array_equal(got[0], want[0])
    x = rng.standard_normal((2, 3, k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    wq, s = F.quantize_weight(w, qf)
    want, got = run_both("fp_wlinear", [x, wq, s, b], format=name, group=group)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)  # f32 sums in another order


@pytest.mark.parametrize("name", ["fp8", "fp8_e5m2"])
def test_fp_wlinear_nan_and_inf_codes(name):
    elem = F.PRESETS[name].elem
    codes = np.zeros((16, 16), np.uint8)
    codes[3, 5] = 0x7F  # e4m3: NaN; e5m2: NaN
    codes[7, 1] = 0x7C if elem == "e5m2" else 0xFF  # e5m2: +inf; e4m3: -NaN
    eye = np.eye(16, dtype=np.float32)
    want, got = run_both(
        "fp_wlinear",
        [eye, codes.view(np.int8), np.ones((16, 1), np.float32), np.zeros(16, np.float32)],
        format=name,
        group=16,
    )
    np.testing.assert_array_equal(got[0], want[0])  # NaN in the same places
    assert np.isnan(got[0][:, 3]).all()


def _activations(rng, rows: int, k: int, elem: str) -> np.ndarray:
    """Rows mixing exact ties of the format, values around them, subnormal-sized ones and random reals."""
    mx = F.ELEMS[elem].max_finite
    v = F.decode(elem, np.arange(1 << F.ELEMS[elem].bits, dtype=np.uint8))
    pos = np.unique(v[np.isfinite(v) & (v >= 0)])
    ties = ((pos[:-1].astype(np.float64) + pos[1:]) / 2).astype(np.float32)
    pool = np.concatenate([ties, np.nextafter(ties, np.float32(0)), pos, [1e-40, 3e-45]]).astype(np.float32)
    x = rng.choice(pool, (rows, k)) * rng.choice([-1, 1], (rows, k))
    x[:, 0] = mx  # amax = max_finite: scale 1, so the ties stay ties
    x[1] = rng.standard_normal(k) * 1e3
    x[2] = 0
    x[3, 7] = np.nan
    x[4, 9] = np.inf
    return x.astype(np.float32)


@pytest.mark.parametrize(
    "name", ["fp8", "fp8_e5m2", "fp6_e3m2", "fp4", "e4m3:f32:tensor", "mxfp8", "mxfp6_e3m2", "mxfp4", "nvfp4"]
)
def test_fp_fake_quant_bit_exact(name):
    qf = F.parse(name)
    rng = np.random.default_rng(7)
    x = _activations(rng, 6, 64, qf.elem)
    if qf.block == -1:
        x[3, 7] = x[4, 9] = 1  # per tensor: a NaN would make everything NaN
    want, got = run_both("fp_fake_quant", [x], format=name)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[0].view(np.uint32)[2], want[0].view(np.uint32)[2])  # ±0 kept
    batched = rng.standard_normal((2, 3, 64)).astype(np.float32) * np.float32(5)
    want, got = run_both("fp_fake_quant", [batched], format=name)
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("name", ["mxfp4", "nvfp4"])
def test_fp_fake_quant_partial_last_block(name):
    x = _activations(np.random.default_rng(8), 6, 40, F.parse(name).elem)  # blocks of 32/16: the last partial
    x[0, 39] = 300.0  # the partial block's absmax
    want, got = run_both("fp_fake_quant", [x], format=name)
    np.testing.assert_array_equal(got[0], want[0])


def test_fp_fake_quant_static_saturates():
    x = np.array([[1.0, -3.0, 1000.0, -np.inf, 0.0171875, np.nan, 2e-3, -5e-6]], np.float32)
    s = np.array([0.01], np.float32)
    want, got = run_both("fp_fake_quant_static", [x, s], format="e4m3:f32:tensor")
    np.testing.assert_array_equal(got[0], want[0])
    assert got[0][0, 2] == np.float32(448) * s[0]
    assert got[0][0, 3] == -np.float32(448) * s[0]


def _dense(a: np.ndarray) -> str:
    return "dense<" + np.array2string(a, separator=", ", threshold=1 << 20, max_line_width=1 << 20) + ">"


@pytest.mark.parametrize("name", ["fp8", "fp8_e5m2", "mxfp6_e3m2", "fp6_e2m3", "fp4", "mxfp4", "nvfp4"])
def test_constant_weights_decode_inside_the_gemm_kernel(name):
    """Constant codes and scales are packed in panels at compile time and decoded one panel at a time inside the
    f32 GEMM (the `_packed` twin; fp6 four codes in three bytes, see test_cpu_fp6_packed): x = I gives the
    decoded weight, bit for bit."""
    from qcomp.targets.cpu.jit import jit_from_text

    qf, n, k = F.PRESETS[name], 32, 64
    rng = np.random.default_rng(11)
    codes = _finite_codes(qf.elem, (n, k), rng)
    group = qf.group(k)
    s = np.exp2(rng.integers(-6, 6, (n, k // group))).astype(np.float32) * np.float32(0.75)
    wq = _store(qf.elem, codes)
    text = (
        f"func.func @main(%x: tensor<{k}x{k}xf32>) -> tensor<{k}x{n}xf32> {{\n"
        f"  %w = arith.constant {_dense(wq)} : tensor<{n}x{wq.shape[1]}xi8>\n"
        f"  %s = arith.constant {_dense(s)} : tensor<{n}x{s.shape[1]}xf32>\n"
        f"  %b = arith.constant dense<0.0> : tensor<{n}xf32>\n"
        f'  %y = "qc.fp_wlinear"(%x, %w, %s, %b) {{format = "{name}", group = {group} : i64}} : '
        f"(tensor<{k}x{k}xf32>, tensor<{n}x{wq.shape[1]}xi8>, tensor<{n}x{s.shape[1]}xf32>, tensor<{n}xf32>) "
        f"-> tensor<{k}x{n}xf32>\n  return %y : tensor<{k}x{n}xf32>\n}}\n"
    )
    fn = jit_from_text(text)
    assert "fp_wlinear_0_packed" in fn.llvm_text  # the in-kernel decoding twin runs
    (got,) = fn(np.eye(k, dtype=np.float32))
    np.testing.assert_array_equal(got, F.dequantize_weight(wq, s, elem=qf.elem, group=group, k=k).T)


@pytest.mark.parametrize(("name", "n"), [("mxfp8", 32), ("mxfp4", 32), ("nvfp4", 32), ("mxfp4", 5)])
def test_fp_wlinear_one_byte_scale_codes(name, n):
    """1-byte scale codes: every e8m0 code (2^-127 subnormal and 0xFF NaN included) or every finite e4m3 code
    times a tensor scale decodes in the kernel to `formats.decode_scales`' f32, bit for bit."""
    qf = F.PRESETS[name]
    k = 256
    group = qf.group(k)
    rng = np.random.default_rng(7)
    g = k // group
    if qf.scale == "e8m0":
        sc = np.resize(np.arange(256, dtype=np.uint8), n * g).reshape(n, g)
        ts = None
    else:
        sc = np.resize(_finite_codes("e4m3", (1, 128), rng).ravel() & 0x7F, n * g).reshape(n, g)
        ts = 3.0517578e-05
    codes = _finite_codes(qf.elem, (n, k), rng)
    wq = _store(qf.elem, codes)
    attrs = {"format": name, "group": group} | ({"tensor_scale": ts} if ts else {})
    eye, zero = np.eye(k, dtype=np.float32), np.zeros(n, np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        want, got = run_both("fp_wlinear", [eye, wq, sc.view(np.int8), zero], **attrs)
        s = F.decode_scales(sc, qf, ts)
        deq = F.dequantize_weight(wq, s, elem=qf.elem, group=group, k=k).T
    finite = np.isfinite(deq).all(axis=0)  # a NaN scale or an inf weight poisons its column through x = I's zeros
    np.testing.assert_array_equal(got[0][:, finite], deq[:, finite])
    assert np.isnan(got[0][:, ~finite]).all()
    np.testing.assert_array_equal(got[0], want[0])
