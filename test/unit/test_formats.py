"""The float number formats' reference semantics (`dialects/formats.py`) against torch's float8 casts and
ml_dtypes, bit for bit: every code, every tie between neighbours and the f32 values around it, random
sweeps, ±0, subnormals, max finite, overflow and NaN; MX (e8m0) and NVFP4 (e4m3 + f32) scale selection."""

import math

import ml_dtypes
import numpy as np
import pytest
import torch
from qcomp.dialects import formats as F
from qcomp.dialects.errors import QcompError

ML = {
    "e4m3": ml_dtypes.float8_e4m3fn,
    "e5m2": ml_dtypes.float8_e5m2,
    "e3m2": ml_dtypes.float6_e3m2fn,
    "e2m3": ml_dtypes.float6_e2m3fn,
    "e2m1": ml_dtypes.float4_e2m1fn,
}
TORCH = {"e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}


def _ml_values(name: str) -> np.ndarray:
    """Every code's value according to ml_dtypes (codes in the low bits of a byte)."""
    codes = np.arange(1 << F.ELEMS[name].bits, dtype=np.uint8)
    return codes.view(ML[name]).astype(np.float32)


def _sweep(name: str) -> np.ndarray:
    """Every finite value, every midpoint between neighbours and the f32 values just around each, f32
    subnormals, ±0, random normals over the whole range."""
    v = _ml_values(name)
    pos = np.unique(v[np.isfinite(v) & (v >= 0)])
    mid = ((pos[:-1].astype(np.float64) + pos[1:]) / 2).astype(np.float32)
    assert np.all(mid.astype(np.float64) == (pos[:-1].astype(np.float64) + pos[1:]) / 2)  # exact ties
    near = np.concatenate([np.nextafter(mid, np.float32(np.inf)), np.nextafter(mid, np.float32(0)), mid, pos])
    tiny = np.array([0.0, 1e-45, 1e-40, 1.17e-38, 2.0**-20, 2.0**-10], np.float32)
    rng = np.random.default_rng(0)
    rand = (rng.standard_normal(20000) * np.exp(rng.uniform(-12, math.log(F.ELEMS[name].max_finite), 20000))).astype(
        np.float32
    )
    x = np.concatenate([near, tiny, rand])
    return np.concatenate([x, -x])


@pytest.mark.parametrize("name", list(ML))
def test_every_code_decodes_as_ml_dtypes(name):
    codes = np.arange(1 << F.ELEMS[name].bits, dtype=np.uint8)
    ref, mine = _ml_values(name), F.decode(name, codes)
    assert np.array_equal(np.isnan(ref), np.isnan(mine))
    assert np.array_equal(ref.view(np.uint32)[~np.isnan(ref)], mine.view(np.uint32)[~np.isnan(ref)])  # ±0 too
    fin = np.isfinite(ref)
    assert F.ELEMS[name].max_finite == np.max(ref[fin])
    assert np.array_equal(F.encode(name, ref[fin]), codes[fin])  # every representable value encodes to its code
    assert np.array_equal(F.round_to(name, ref[fin]).view(np.uint32), ref[fin].view(np.uint32))


@pytest.mark.parametrize("name", list(ML))
def test_rounding_matches_ml_dtypes_bit_for_bit(name):
    x = _sweep(name)
    mx = np.float32(F.ELEMS[name].max_finite)
    ref = np.clip(x, -mx, mx).astype(ML[name])  # ml_dtypes does not saturate: clip first (exact, on the grid)
    got = F.round_to(name, x)
    assert np.array_equal(got.view(np.uint32), ref.astype(np.float32).view(np.uint32))
    assert np.array_equal(F.quantize_elems(name, x), ref.view(np.uint8))


@pytest.mark.parametrize("name", list(TORCH))
def test_rounding_matches_torch_float8_casts(name):
    x = _sweep(name)
    mx = np.float32(F.ELEMS[name].max_finite)
    ref = torch.from_numpy(np.clip(x, -mx, mx)).to(TORCH[name])
    assert np.array_equal(F.quantize_elems(name, x), ref.view(torch.uint8).numpy())
    assert np.array_equal(F.round_to(name, x).view(np.uint32), ref.float().numpy().view(np.uint32))


@pytest.mark.parametrize("name", list(ML))
def test_saturation_and_nan(name):
    mx = np.float32(F.ELEMS[name].max_finite)
    x = np.array([mx * 1.01, mx * 4, 3e38, np.inf, -mx * 1.01, -np.inf, np.nan, -np.nan], np.float32)
    got = F.round_to(name, x)
    assert np.array_equal(got[:6], np.array([mx, mx, mx, mx, -mx, -mx], np.float32))
    assert np.all(np.isnan(got[6:]))
    codes = F.quantize_elems(name, x)
    assert np.array_equal(F.decode(name, codes[:6]), got[:6])
    if name in TORCH:  # NaN encodes as a NaN code; torch agrees on the saturated overflow for e4m3fn
        assert np.all(np.isnan(F.decode(name, codes[6:])))
        assert torch.isnan(torch.from_numpy(codes[6:]).view(TORCH[name]).float()).all()
    if name == "e4m3":
        sat = torch.from_numpy(x[:6]).to(torch.float8_e4m3fn).view(torch.uint8).numpy()
        assert np.array_equal(codes[:6], sat)


def _mx_expected(x: np.ndarray, elem: str, block: int = 32):
    """OCP MX v1.0 from its definition: X = 2^(floor(log2(amax)) - emax_elem), P = cast(V / X) saturating;
    the exponent from float64 log2 and the cast by ml_dtypes."""
    xb = x.reshape(-1, block)
    amax = np.abs(xb).max(axis=1).astype(np.float64)
    emax = {"e4m3": 8, "e5m2": 15, "e3m2": 4, "e2m3": 2, "e2m1": 2}[elem]
    with np.errstate(divide="ignore"):
        e = np.where(amax > 0, np.floor(np.log2(amax)) - emax, -127)
    e = np.clip(e, -127, 127)
    xs = (xb.astype(np.float64) / 2.0 ** e[:, None]).astype(np.float32)
    mx = np.float32(F.ELEMS[elem].max_finite)
    return np.clip(xs, -mx, mx).astype(ML[elem]).view(np.uint8).reshape(x.shape), (2.0**e).astype(np.float32)


@pytest.mark.parametrize("elem", list(ML))
def test_mx_scales_follow_the_ocp_spec(elem):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((6, 128)) * np.exp(rng.uniform(-20, 20, (6, 1)))).astype(np.float32)
    x[0, :32] = 0  # an all-zero block: exponent -127
    x[1, 32:64] = 2.0**-140  # amax below 2^-127 · 2^emax: the exponent clamps at -127
    x[2, 5] = 2.0**9 * 1.999  # amax just below a power of two
    qf = F.QFormat(elem, "e8m0", 32)
    codes, s = F.quantize_rows(x, qf)
    want_codes, want_s = _mx_expected(x, elem)
    assert np.array_equal(s.reshape(-1), want_s)
    assert np.array_equal(codes, want_codes)
    assert np.array_equal(
        F.e8m0_code(F.e8m0_exponent(np.array([0.0, 1.0, 7.9, np.nan], np.float32), "e2m1")),
        np.array([0, 125, 127, 255], np.uint8),
    )
    # the e8m0 scale is what ml_dtypes' e8m0 type holds (powers of two, exactly)
    assert np.array_equal(s.astype(ml_dtypes.float8_e8m0fnu).astype(np.float32), s)


def test_mx_nan_propagates_through_the_block_scale():
    x = np.ones((1, 64), np.float32)
    x[0, 3] = np.nan
    y = F.fake_quantize(x, F.PRESETS["mxfp4"])
    assert np.all(np.isnan(y[0, :32]))
    assert np.all(y[0, 32:] == 1)


def test_nvfp4_two_level_scales():
    rng = np.random.default_rng(2)
    w = (rng.standard_normal((8, 64)) * rng.uniform(0.01, 3, (8, 1))).astype(np.float32)
    wq, s = F.quantize_weight(w, F.PRESETS["nvfp4"])
    ts = np.float32(np.abs(w).max() / np.float32(6 * 448))
    bamax = np.abs(w.reshape(8, 4, 16)).max(axis=-1)
    bs = ((bamax / np.float32(6)) / ts).astype(ml_dtypes.float8_e4m3fn).astype(np.float32)
    want_s = bs * ts
    assert np.array_equal(s, want_s)
    q = np.clip(w * np.repeat(np.float32(1) / want_s, 16, axis=1), -6, 6).astype(ml_dtypes.float4_e2m1fn)
    assert np.array_equal(F.unpack_nibbles(wq, 64), q.view(np.uint8))
    deq = F.dequantize_weight(wq, s, elem="e2m1", group=16, k=64)
    assert np.array_equal(deq, q.astype(np.float32) * np.repeat(want_s, 16, axis=1))
    assert np.abs(deq - w).max() <= np.abs(w).max() / 6  # sanity: within half the top step of any block


def test_per_channel_fp8_weights_and_static_activations():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 40)).astype(np.float32)
    w[2] = 0
    wq, s = F.quantize_weight(w, F.PRESETS["fp8"])
    want_s = np.where(np.abs(w).max(1) == 0, 1, np.abs(w).max(1) / np.float32(448)).astype(np.float32)
    assert np.array_equal(s[:, 0], want_s)
    want = torch.from_numpy(w * (np.float32(1) / want_s)[:, None]).to(torch.float8_e4m3fn).view(torch.uint8)
    assert np.array_equal(wq.view(np.uint8), want.numpy())
    x = rng.standard_normal((3, 40)).astype(np.float32) * 10
    y = F.fake_quantize(x, F.PRESETS["fp8"], np.array([0.01], np.float32))
    ref = torch.from_numpy(np.clip(x * np.float32(100), -448, 448)).to(torch.float8_e4m3fn).float().numpy()
    assert np.array_equal(y, ref * np.float32(0.01))


def test_fp4_nibble_packing_round_trips_odd_k():
    c = np.random.default_rng(4).integers(0, 16, (3, 7)).astype(np.uint8)
    p = F.pack_nibbles(c)
    assert p.shape == (3, 4)
    assert p.dtype == np.int8
    assert np.array_equal(F.unpack_nibbles(p, 7), c)


def test_format_text_parses_and_prints():
    assert F.parse("nvfp4") == F.QFormat("e2m1", "e4m3", 16)
    assert F.parse("e2m1:e8m0:32") == F.PRESETS["mxfp4"]
    assert str(F.parse("e2m1:e8m0:32")) == "mxfp4"
    assert str(F.parse("e4m3:f32:tensor")) == "e4m3:f32:tensor"
    assert F.precision_name(F.PRESETS["fp8"], F.PRESETS["fp8"]) == "fp8-w8a8"
    assert F.precision_name(F.PRESETS["nvfp4"], None) == "nvfp4-w4a16"
    for bad in ("fp9", "e4m3:f16:32", "e2m1:e8m0:0", "e2m1:e8m0:channel", "e4m3:f32"):
        with pytest.raises(QcompError) as e:
            F.parse(bad, "qc-quantize")
        assert "\n" not in str(e.value)
        assert "qc-quantize" in str(e.value)


def test_e8m0_scale_codes_round_trip_every_exponent():
    """Every e8m0 code is 2^(c - 127) (0: the f32 subnormal 2^-127; 0xFF: NaN), and the codes of those scales
    are the codes again."""
    qf = F.parse("mxfp4")
    c = np.arange(256, dtype=np.uint8)
    s = F.decode_scales(c, qf)
    want = np.array([np.ldexp(np.float32(1), int(i) - 127) for i in range(255)] + [np.nan], np.float32)
    assert np.array_equal(s, want, equal_nan=True)
    # ml_dtypes' OCP e8m0 ("fnu": finite, no sign, 0xFF NaN) agrees
    assert np.array_equal(c.view(ml_dtypes.float8_e8m0fnu).astype(np.float32), s, equal_nan=True)
    assert np.array_equal(F.scale_codes(s, qf).view(np.uint8), c)


def test_weight_scales_as_bytes_decode_to_the_f32_scales():
    rng = np.random.default_rng(5)
    w = (rng.standard_normal((24, 96)) * np.exp2(rng.integers(-20, 20, (24, 1)))).astype(np.float32)
    w[3] = 0  # zero blocks: scale 2^-127 (e8m0) / 0 (NVFP4)
    for name in ("mxfp8", "mxfp4", "mxfp6_e2m3", "nvfp4"):
        qf = F.parse(name)
        _, s = F.quantize_weight(w, qf)
        ts = F.weight_tensor_scale(w, qf)
        codes = F.scale_codes(s, qf, ts)
        assert codes.dtype == np.int8
        assert np.array_equal(F.decode_scales(codes, qf, ts), s), name
        assert (ts is None) == (qf.scale == "e8m0")


def test_scale_codes_refuse_scales_that_are_not_one_byte():
    with pytest.raises(QcompError, match="not one byte times the tensor scale"):
        F.scale_codes(np.array([[0.3]], np.float32), F.parse("mxfp4"))
    with pytest.raises(QcompError, match="need their f32 tensor scale"):
        F.scale_codes(np.array([[0.5]], np.float32), F.parse("nvfp4"))
    with pytest.raises(QcompError, match="has f32 scales, not 1-byte ones"):
        F.scale_codes(np.array([[0.5]], np.float32), F.parse("fp8"))


@pytest.mark.parametrize("k", [4, 7, 64, 1])
def test_fp6_packing_is_four_codes_in_three_bytes(k):
    rng = np.random.default_rng(k)
    codes = rng.integers(0, 64, (5, k), dtype=np.uint8)
    packed = F.pack_fp6(codes)
    assert packed.shape == (5, 3 * -(-k // 4))
    assert np.array_equal(F.unpack_fp6(packed, k), codes)
    # bit order, by hand: c0 = 0b000001, c1 = 0b000010, c2 = 0b000011, c3 = 0b111111 ->
    # word = 1 | 2 << 6 | 3 << 12 | 63 << 18 = 0xFC3081 -> bytes 0x81, 0x30, 0xFC
    hand = F.pack_fp6(np.array([[1, 2, 3, 63]], np.uint8))
    assert hand.tolist() == [[0x81, 0x30, 0xFC]]
