"""Asymmetric (zero-point) weights: the reference quantizer, and qc.wlinear_asym's CPU kernel bit-exact against it."""

import sys
from pathlib import Path

import numpy as np
import pytest
from qcomp.dialects import reference_asym as ra

sys.path.insert(0, str(Path(__file__).parent))
from qcomp.targets.cpu.jit import jit_from_text
from test_cpu_lowering import module_text

F32 = np.float32


def test_params_of_a_range_hand_computed():
    # [-1, 2] at 2 bits: scale 3/3 = 1, zero point rint(1/1) = 1; a range not containing 0 is widened to it
    s, z = ra.asymmetric_params(np.array([-1.0, 0.5, 0.0], F32), np.array([2.0, 3.5, 0.0], F32), 2)
    np.testing.assert_array_equal(s, np.array([1.0, 3.5 / 3, 1.0], F32))  # [0, 3.5]: lo widened to 0; empty: 1
    np.testing.assert_array_equal(z, [1, 0, 0])
    # codes: w/s + z rounded half to even and saturated to [0, 3]
    q = ra.quantize_asym(np.array([-1.0, -0.5, 0.5, 1.5, 9.0, -9.0], F32), F32(1), np.uint8(1), 2)
    np.testing.assert_array_equal(q, [0, 1, 1, 3, 3, 0])


def test_uint4_pack_round_trip_every_code():
    q = np.arange(16, dtype=np.uint8).reshape(1, 16)
    p = ra.pack_uint4(q)
    assert p.dtype == np.int8
    assert p.view(np.uint8)[0, 0] == 0x10  # codes 0 (low nibble) and 1 (high nibble)
    np.testing.assert_array_equal(ra.unpack_uint4(p, 16), q)
    odd = np.array([[15, 3, 9]], np.uint8)
    np.testing.assert_array_equal(ra.unpack_uint4(ra.pack_uint4(odd), 3), odd)


def test_grouped_asym_quantization_hand_computed():
    # one row, groups of 2 at 4 bits: [0, 3] -> scale 0.2, z 0; [-1.5, 0] -> scale 0.1, z 15
    w = np.array([[0.0, 3.0, -1.5, 0.0, 0.3]], F32)
    q, s, z = ra.quantize_weight_grouped_asym(w, bits=4, group=2)
    np.testing.assert_allclose(s, [[0.2, 0.1, 0.02]], rtol=1e-6)
    np.testing.assert_array_equal(z.view(np.uint8), [[0, 15, 0]])
    np.testing.assert_array_equal(ra.unpack_uint4(q, 5), [[0, 15, 0, 15, 15]])
    d = ra.dequantize_weight_asym(q, s, z, bits=4, group=2, k=5)
    np.testing.assert_allclose(d, w, atol=1e-6)


def test_asym_beats_symmetric_on_a_one_sided_group():
    rng = np.random.default_rng(0)
    w = rng.uniform(0.5, 1.0, (4, 64)).astype(F32)  # all positive: symmetric wastes half its codes
    q, s, z = ra.quantize_weight_grouped_asym(w, bits=4, group=32)
    err_asym = np.abs(ra.dequantize_weight_asym(q, s, z, bits=4, group=32, k=64) - w).max()
    assert err_asym <= s.max() / 2 + 1e-7
    assert err_asym < 0.5 * (1.0 / 7) / 2  # less than half the symmetric step (max 1 / qmax 7, halved)


def test_mse_range_search_never_worse_than_min_max():
    rng = np.random.default_rng(1)
    w = rng.standard_t(3, (8, 96)).astype(F32)  # heavy tails: clipping pays
    for sym in (False, True):
        lo, hi = ra.mse_ranges(w, bits=4, group=32, sym=sym)
        lo0, hi0 = ra.group_min_max(w, 32)
        if sym:
            hi0 = np.maximum(-lo0, hi0)
            lo0 = -hi0
        assert np.all(hi <= hi0 + 1e-7)
        assert np.all(lo >= lo0 - 1e-7)
        q, s, z = ra.quantize_weight_grouped_asym(w, bits=4, group=32, lo=lo, hi=hi)
        q0, s0, z0 = ra.quantize_weight_grouped_asym(w, bits=4, group=32, lo=lo0, hi=hi0)
        e = np.abs(ra.dequantize_weight_asym(q, s, z, bits=4, group=32, k=96) - w) ** 2.4
        e0 = np.abs(ra.dequantize_weight_asym(q0, s0, z0, bits=4, group=32, k=96) - w) ** 2.4
        assert e.sum() < e0.sum()


def _run(inputs, bits, group):
    want = ra.wlinear_asym(*inputs, bits=bits, group=group)
    fn = jit_from_text(module_text("wlinear_asym", inputs, [want], {"bits": bits, "group": group}))
    return want, fn(*inputs)[0]


@pytest.mark.parametrize(
    ("bits", "group", "n", "k"), [(4, 128, 5, 176), (4, 4, 16, 7), (8, 3, 5, 7), (8, 16, 32, 48), (3, 2, 5, 6)]
)
def test_wlinear_asym_kernel_dequantizes_bit_exactly(bits, group, n, k):
    # n = 16, 32: the microkernel's panel route; n = 5: the [N, K] route. 8 bits reaches codes and zero points
    # above 127 (i8 bit patterns read as unsigned).
    rng = np.random.default_rng(bits * 100 + n + k)
    w = (rng.standard_normal((n, k)) + rng.uniform(-2, 2, (n, 1))).astype(F32)
    wq, s, z = ra.quantize_weight_grouped_asym(w, bits=bits, group=group)
    if bits == 8:
        assert (z.view(np.uint8) > 127).any()
        assert (wq.view(np.uint8) > 127).any()
    eye, zero = np.eye(k, dtype=F32), np.zeros(n, F32)
    _, got = _run([eye, wq, s, z, zero], bits, group)  # x = I: each output one f32(q - z) · scale
    assert np.array_equal(got, ra.dequantize_weight_asym(wq, s, z, bits=bits, group=group, k=k).T)
    x = rng.standard_normal((2, 3, k)).astype(F32)
    b = rng.standard_normal(n).astype(F32)
    want, got = _run([x, wq, s, z, b], bits, group)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
