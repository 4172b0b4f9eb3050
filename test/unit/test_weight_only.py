"""Weight-only quantization: int4 packing, grouped quantization, and qc.wlinear's CPU kernel."""

import sys
from pathlib import Path

import numpy as np
import pytest
from qcomp.dialects import reference as ref

sys.path.insert(0, str(Path(__file__).parent))
from qcomp.targets.cpu.jit import jit_from_text
from test_cpu_lowering import run_both, ttype


def test_int4_pack_round_trip_every_value():
    q = np.array([[-8, -7, -1, 0, 1, 7, 3], [7, -8, 0, 0, 5, -5, -2]], np.int8)  # odd K: padded
    p = ref.pack_int4(q)
    assert p.shape == (2, 4)
    assert p.dtype == np.int8
    assert np.array_equal(ref.unpack_int4(p, 7), q)
    # low nibble first: (-8, -7) -> 0x98
    assert p.view(np.uint8)[0, 0] == 0x98
    allv = np.arange(-8, 8, dtype=np.int8).reshape(1, 16)
    assert np.array_equal(ref.unpack_int4(ref.pack_int4(allv), 16), allv)


def test_grouped_quantization_scales_per_group():
    w = np.array([[1.4, -0.7, 0.35, 0.0, 0.07]], np.float32)
    q, s = ref.quantize_weight_grouped(w, bits=4, group=2)
    np.testing.assert_array_equal(s, np.array([[0.2, 0.05, 0.01]], np.float32))
    np.testing.assert_array_equal(ref.unpack_int4(q, 5), [[7, -4, 7, 0, 7]])  # -3.5 -> -4 (half to even)
    d = ref.dequantize_weight(q, s, bits=4, group=2, k=5)
    assert np.abs(d - w).max() <= 0.1 + 1e-6  # half a step of the largest scale
    q8, s8 = ref.quantize_weight_grouped(w, bits=8, group=5)  # one group: per output channel
    assert q8.shape == (1, 5)
    assert s8.shape == (1, 1)
    np.testing.assert_array_equal(q8, ref.quantize_weight(w, bits=8, axis=0)[0])


def test_all_zero_group_gets_scale_one():
    q, s = ref.quantize_weight_grouped(np.zeros((2, 4), np.float32), bits=4, group=2)
    np.testing.assert_array_equal(s, np.ones((2, 2), np.float32))
    assert not q.any()


@pytest.mark.parametrize(("bits", "group", "k"), [(4, 128, 176), (4, 4, 7), (8, 176, 176), (8, 3, 7), (3, 2, 6)])
def test_wlinear_kernel_dequantizes_bit_exactly(bits, group, k):
    rng = np.random.default_rng(bits * 1000 + k)
    w = rng.standard_normal((5, k)).astype(np.float32)
    wq, s = ref.quantize_weight_grouped(w, bits=bits, group=group)
    # x = I: every output is one product f32(q) · scale · 1 plus exact zeros, whatever the summation order
    eye, zero = np.eye(k, dtype=np.float32), np.zeros(5, np.float32)
    _, (got,) = run_both("wlinear", [eye, wq, s, zero], bits=bits, group=group)
    assert np.array_equal(got, ref.dequantize_weight(wq, s, bits=bits, group=group, k=k).T)
    # random batched x: the f32 sums agree to rounding
    x = rng.standard_normal((2, 3, k)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    (want,), (got,) = run_both("wlinear", [x, wq, s, b], bits=bits, group=group)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _const(name: str, a: np.ndarray) -> str:
    fmt = (lambda v: str(int(v))) if a.dtype == np.int8 else (lambda v: f"{float(v):.9e}")
    rows = ", ".join("[" + ", ".join(fmt(v) for v in r) + "]" for r in a)
    return f"  {name} = arith.constant dense<[{rows}]> : {ttype(a)}\n"


@pytest.mark.parametrize(
    ("bits", "group", "n", "k", "m"), [(4, 32, 64, 128, 13), (8, 16, 48, 64, 7), (4, 64, 32, 64, 1)]
)
def test_wlinear_constant_weights_dequantized_per_panel_inside_the_kernel(bits, group, n, k, m):
    # constant weight and scales: qc-cpu-pack-weights packs both and the kernel dequantizes panel by panel;
    # the result must equal the per-call whole-weight dequantization (the same sums in the same order)
    rng = np.random.default_rng(bits + n + k)
    wq, s = ref.quantize_weight_grouped(rng.standard_normal((n, k)).astype(np.float32), bits=bits, group=group)
    x = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    (want,), (plain,) = run_both("wlinear", [x, wq, s, b], bits=bits, group=group)
    out = f"tensor<{m}x{n}xf32>"
    text = (
        f"func.func @main(%x: {ttype(x)}, %b: {ttype(b)}) -> {out} {{\n"
        + _const("%wq", wq)
        + _const("%s", s)
        + f'  %y = "qc.wlinear"(%x, %wq, %s, %b) {{bits = {bits} : i64, group = {group} : i64}} : '
        f"({ttype(x)}, {ttype(wq)}, {ttype(s)}, {ttype(b)}) -> {out}\n"
        f"  return %y : {out}\n}}\n"
    )
    fn = jit_from_text(text)
    big = [w for w in fn.weights if w.size >= wq.size]  # the small scales stay inline constants
    assert [(w.dtype, w.ndim, w.shape[1]) for w in big] == [(np.int8, 3, wq.shape[1])]  # int8 panels [N/NR][K'][NR]
    (got,) = fn(x, b)
    assert np.array_equal(got, plain)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
