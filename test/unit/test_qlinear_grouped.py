"""qc.qlinear_grouped (W4A8 g128): the reference against a computation written here, the CPU lowering bit-exact
against the reference (partial last groups, rank 3, per-tensor scales, an activation, K below one group),
qc-quantize's codes against GPTQ's, and its option refusals."""

import sys
from pathlib import Path

import numpy as np
import pytest
from qcomp.dialects import reference as ref
from qcomp.dialects.errors import QcompError
from qcomp.passes.quantize import QuantizePass, grouped_codes

sys.path.insert(0, str(Path(__file__).parent))
from test_cpu_lowering import run_both

F32 = np.float32


def _operands(rng, lead, n, k, group, bits=4, per_token=True):
    g = -(-k // group)
    xq = rng.integers(-127, 128, (*lead, k)).astype(np.int8)
    xs = rng.uniform(1e-3, 2e-2, (*lead, 1) if per_token else (1,)).astype(F32)
    q = (1 << (bits - 1)) - 1
    wq = rng.integers(-q, q + 1, (n, k)).astype(np.int8)
    ws = rng.uniform(1e-3, 3e-2, (n, g)).astype(F32)
    b = rng.standard_normal(n).astype(F32)
    return xq, xs, wq, ws, b


def test_reference_is_the_group_by_group_sum():
    rng = np.random.default_rng(0)
    xq, xs, wq, ws, b = _operands(rng, (5,), 6, 40, 16)  # groups of 16, 16, 8
    got = ref.qlinear_grouped(xq, xs, wq, ws, b, group=16, bits=4)
    # written out: int64 dots per (token, channel, group), each group's qlinear epilogue, summed in group order
    want = np.zeros((5, 6), F32)
    for t in range(5):
        for n in range(6):
            y = F32(0)
            for g, (lo, hi) in enumerate(((0, 16), (16, 32), (32, 40))):
                dot = int(np.dot(xq[t, lo:hi].astype(np.int64), wq[n, lo:hi].astype(np.int64)))
                term = F32(F32(F32(dot) * xs[t, 0]) * ws[n, g])
                y = F32(term + b[n]) if g == 0 else F32(y + F32(term + F32(0)))
            want[t, n] = y
    assert np.array_equal(got, want)
    # and it is the product of the dequantized operands, up to f32 rounding
    w = wq.astype(np.float64) * np.repeat(ws, 16, axis=1)[:, :40]
    plain = (xq.astype(np.float64) * xs) @ w.T + b
    np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("lead", "n", "k", "group", "per_token", "act"),
    [
        ((7,), 32, 40, 16, True, "none"),  # two full groups and a partial one, on the int8 GEMM kernel
        ((5,), 24, 40, 16, True, "none"),  # N = 24: no kernel panels, the linalg loops
        ((2, 3), 16, 64, 32, False, "relu"),  # rank 3, K a multiple of the group, per-tensor scale
        ((4,), 8, 12, 128, True, "silu"),  # K below one group: the partial group alone
    ],
)
def test_cpu_bit_exact(lead, n, k, group, per_token, act):
    rng = np.random.default_rng(k)
    ops = list(_operands(rng, lead, n, k, group, per_token=per_token))
    want, got = run_both("qlinear_grouped", ops, group=group, bits=4, act=act)
    if act == "silu":  # the vector loops' exp polynomial: within f32 rounding of numpy's
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    else:
        assert np.array_equal(got[0], want[0])


def test_quantize_stores_gptq_codes():
    # qc-gptq's grid (a range per group: `qc.weight_clip`) read back by qc-quantize{abits=8,group}: the codes GPTQ chose
    from qcomp.passes.gptq import dequantized, gptq_quantize

    rng = np.random.default_rng(3)
    w = rng.standard_normal((8, 40)).astype(F32)
    x = rng.standard_normal((64, 40))
    q, ranges = gptq_quantize(w, 2 * x.T @ x / 64, bits=4, group=16, act_order=True, static_groups=True)
    wd = dequantized(q, ranges, 4, 16, True)
    codes, scale = grouped_codes(wd, bits=4, group=16, clip=ranges)
    assert np.array_equal(codes, q.astype(np.int8))
    assert np.array_equal(scale, ref.symmetric_scale(ranges, 4))


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (
            {"abits": 8, "sym": False},
            "sym=false applies to weight-only quantization (abits=16) or grouped W4A8 (abits=8, group > 0)",
        ),
        ({"abits": 8, "search": "mse"}, "search=mse applies to weight-only or grouped (group > 0) quantization"),
        ({"abits": 8, "group": -1}, "group must be >= 0, got -1"),
    ],
)
def test_quantize_option_refusals(opts, message):
    with pytest.raises(QcompError, match="^qc-quantize: " + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        QuantizePass(wbits=4, **opts)
    assert QuantizePass(wbits=4, abits=8, group=128).precision == "w4a8g128"
