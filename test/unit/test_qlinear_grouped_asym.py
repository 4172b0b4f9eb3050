"""qc.qlinear_grouped_asym (W4A8 g128 with zero points): the reference against an int64 computation written here,
its verifier, qc-quantize{abits=8,group,sym=false}'s codes against qc-gptq{sym=false}'s and reference_asym's, the CPU
lowering bit-exact against the reference, and the option refusals."""

import sys
from pathlib import Path

import numpy as np
import pytest
from qcomp.dialects import new_context
from qcomp.dialects import reference as ref
from qcomp.dialects import reference_asym as ra
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import ops_named
from qcomp.dialects.weights import constant_array
from qcomp.passes.gptq import gptq_quantize, hessian_of
from qcomp.passes.quantize import QuantizePass, grouped_asym_codes
from qcomp.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).parent))
from test_cpu_cost import cpu  # noqa: F401 (the CPU target on fake cost constants)
from test_cpu_lowering import run_both
from test_gptq import K, _layer, _module

F32 = np.float32


def _operands(rng, lead, n, k, group, bits=4, per_token=True):
    g = -(-k // group)
    xq = rng.integers(-127, 128, (*lead, k)).astype(np.int8)
    xs = rng.uniform(1e-3, 2e-2, (*lead, 1) if per_token else (1,)).astype(F32)
    wq = rng.integers(0, 1 << bits, (n, k)).astype(np.uint8).view(np.int8)
    ws = rng.uniform(1e-3, 3e-2, (n, g)).astype(F32)
    zp = rng.integers(0, 1 << bits, (n, g)).astype(np.uint8).view(np.int8)
    b = rng.standard_normal(n).astype(F32)
    return xq, xs, wq, ws, zp, b


@pytest.mark.parametrize("bits", [4, 7])
def test_reference_is_the_group_by_group_sum(bits):
    rng = np.random.default_rng(bits)
    xq, xs, wq, ws, zp, b = _operands(rng, (5,), 6, 40, 16, bits=bits)  # groups of 16, 16, 8: K not a multiple
    got = ref.qlinear_grouped_asym(xq, xs, wq, ws, zp, b, group=16, bits=bits)
    q, z = wq.view(np.uint8).astype(np.int64), zp.view(np.uint8).astype(np.int64)
    want = np.zeros((5, 6), F32)
    for t in range(5):
        for n in range(6):
            y = F32(0)
            for g, (lo, hi) in enumerate(((0, 16), (16, 32), (32, 40))):
                dot = int(np.dot(xq[t, lo:hi].astype(np.int64), q[n, lo:hi] - z[n, g]))
                term = F32(F32(F32(dot) * xs[t, 0]) * ws[n, g])
                y = F32(term + b[n]) if g == 0 else F32(y + F32(term + F32(0)))
            want[t, n] = y
    assert np.array_equal(got, want)
    # the weights are reference_asym's dequantization: the product of the dequantized operands up to f32 rounding
    w = ra.dequantize_weight_asym(
        ra.pack_uint4(wq.view(np.uint8)) if bits <= 4 else wq, ws, zp, bits=bits, group=16, k=40
    ).astype(np.float64)
    np.testing.assert_allclose(got, (xq.astype(np.float64) * xs) @ w.T + b, rtol=1e-5, atol=1e-5)


def _func(shapes: str, types: str, attrs: str = 'act = "none", bits = 4 : i64, group = 4 : i64') -> str:
    return f"""
func.func @f({shapes}) -> tensor<4x8xf32> {{
  %y = "qc.qlinear_grouped_asym"(%x, %xs, %wq, %ws, %zp, %b) {{{attrs}}} : ({types}) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}}"""


_OK = ("tensor<4x10xi8>", "tensor<4x1xf32>", "tensor<8x10xi8>", "tensor<8x3xf32>", "tensor<8x3xi8>", "tensor<8xf32>")


@pytest.mark.parametrize(
    ("index", "type_", "attrs", "problem"),
    [
        (None, None, None, None),  # valid: K = 10 in groups of 4, the last partial
        (4, "tensor<8x2xi8>", None, "zp must be [8, 3] like ws, got [8, 2]"),
        (3, "tensor<8x2xf32>", None, "ws must be [8, 3] (groups of 4), got [8, 2]"),
        (4, "tensor<8x3xf32>", None, "xq, wq and zp must be i8"),
        (3, "tensor<8x3xi8>", None, "xs, ws and b must be float"),
        (None, None, 'act = "none", bits = 4 : i64, group = 0 : i64', "'group' must be positive, got 0"),
        (None, None, 'act = "tanh", bits = 4 : i64, group = 4 : i64', "'act' must be one of"),
        (None, None, 'act = "none", bits = 9 : i64, group = 4 : i64', "bits"),
    ],
)
def test_verifier(index, type_, attrs, problem):
    types = list(_OK)
    if index is not None:
        types[index] = type_
    names = ("x", "xs", "wq", "ws", "zp", "b")
    shapes = ", ".join(f"%{n}: {t}" for n, t in zip(names, types, strict=True))
    text = _func(shapes, ", ".join(types), *([attrs] if attrs else []))
    if problem is None:
        ir.Module.parse(text, new_context())
        return
    with pytest.raises(ir.MLIRError) as info:
        ir.Module.parse(text, new_context())
    msgs = [d.message for d in info.value.error_diagnostics]
    assert len(msgs) == 1, msgs
    assert msgs[0].startswith("'qc.qlinear_grouped_asym' op ")
    assert problem in msgs[0]


@pytest.mark.parametrize(
    ("lead", "n", "k", "group", "per_token", "act", "bits"),
    [
        ((7,), 32, 40, 16, True, "none", 4),  # two full groups and a partial one, on the int8 GEMM kernel
        ((5,), 24, 40, 16, True, "none", 4),  # N = 24: no kernel panels, the linalg loops
        ((2, 3), 16, 64, 32, False, "relu", 7),  # rank 3, per-tensor scale, 7-bit codes (|q - z| up to 127)
        ((4,), 16, 12, 128, True, "none", 3),  # K below one group: the partial group alone
    ],
)
def test_cpu_bit_exact(lead, n, k, group, per_token, act, bits):
    # the weights are operands of the compiled function here (not constants): q - z materialised per call
    rng = np.random.default_rng(k + bits)
    ops = list(_operands(rng, lead, n, k, group, bits=bits, per_token=per_token))
    want, got = run_both("qlinear_grouped_asym", ops, group=group, bits=bits, act=act)
    assert np.array_equal(got[0], want[0])


def test_cpu_refuses_8_bit_codes():
    rng = np.random.default_rng(1)
    ops = list(_operands(rng, (2,), 16, 16, 8, bits=8))
    with pytest.raises(QcompError, match=r"at most 7 bits .* got bits=8$"):
        run_both("qlinear_grouped_asym", ops, group=8, bits=8, act="none")


def test_quantize_stores_gptq_codes():
    # qc-gptq{sym=false,group} records a (lo, hi) range per group; qc-quantize{abits=8,group,sym=false} stores GPTQ's
    # codes, scales and zero points (reference_asym's parameters of those ranges), codes one per byte
    x, w = _layer(5)
    w = w - 0.3
    want_q, ranges = gptq_quantize(
        w, hessian_of(x).astype(F32), bits=4, group=32, act_order=True, static_groups=True, sym=False
    )
    want_s, want_z = ra.asymmetric_params(ranges[..., 0], ranges[..., 1], 4)
    spec = "wbits=4,group=32,sym=false"
    pipeline = f"qc-gptq{{{spec},act_order=true,static_groups=true}},qc-quantize{{abits=8,{spec}}}"
    with new_context(), ir.Location.unknown():
        module = _module(x, w, with_hessian=True)
        Pipeline.parse(pipeline).run(module)
        assert not ops_named(module, "qc.qlinear_grouped", "qc.wlinear_asym", "qc.linear")
        (op,) = ops_named(module, "qc.qlinear_grouped_asym")
        wq, ws, wz = (constant_array(op.operands[i]) for i in (2, 3, 4))
        assert ir.StringAttr(op.attributes["qc.precision"]).value == "w4a8g32"
        assert ir.IntegerAttr(op.attributes["group"]).value == 32
    assert wq.shape == (w.shape[0], K)
    np.testing.assert_array_equal(wq.view(np.uint8), want_q)
    np.testing.assert_array_equal(ws, want_s)
    np.testing.assert_array_equal(wz.view(np.uint8), want_z)


def test_round_to_nearest_codes_are_wlinear_asyms():
    # without recorded ranges: the groups' (min, max), the codes qc.wlinear_asym stores (unpacked)
    rng = np.random.default_rng(2)
    w = (rng.standard_normal((8, 40)) + 0.4).astype(F32)
    q, s, z = grouped_asym_codes(w, bits=4, group=16)
    pq, ps, pz = ra.quantize_weight_grouped_asym(w, bits=4, group=16)
    np.testing.assert_array_equal(q.view(np.uint8), ra.unpack_uint4(pq, 40))
    np.testing.assert_array_equal(s, ps)
    np.testing.assert_array_equal(z, pz)
    assert q.view(np.uint8).max() <= 15


def _grouped_pair(m: int, n: int, k: int, group: int) -> ir.Module:
    """@main with a qc.qlinear_grouped and a qc.qlinear_grouped_asym of the same shapes on constant weights."""
    g = -(-k // group)
    x, w, s, v = f"tensor<{m}x{k}xi8>", f"tensor<{n}x{k}xi8>", f"tensor<{n}x{g}xf32>", f"tensor<{n}xf32>"
    xs, zp, y = f"tensor<{m}x1xf32>", f"tensor<{n}x{g}xi8>", f"tensor<{m}x{n}xf32>"
    attrs = f'{{act = "none", bits = 4 : i64, group = {group} : i64}}'
    text = f"""
func.func @main(%x: {x}, %xs: {xs}) -> ({y}, {y}) {{
  %wq = arith.constant dense<3> : {w}
  %ws = arith.constant dense<0.5> : {s}
  %zp = arith.constant dense<8> : {zp}
  %b = arith.constant dense<0.0> : {v}
  %0 = "qc.qlinear_grouped"(%x, %xs, %wq, %ws, %b) {attrs} : ({x}, {xs}, {w}, {s}, {v}) -> {y}
  %1 = "qc.qlinear_grouped_asym"(%x, %xs, %wq, %ws, %zp, %b) {attrs} : ({x}, {xs}, {w}, {s}, {zp}, {v}) -> {y}
  return %0, %1 : {y}, {y}
}}"""
    return ir.Module.parse(text, new_context())


def test_cpu_cost(cpu):  # noqa: F811
    module = _grouped_pair(16, 64, 256, 128)
    (sym,) = ops_named(module, "qc.qlinear_grouped")
    (asym,) = ops_named(module, "qc.qlinear_grouped_asym")
    # codes one per byte, an f32 scale and an i8 zero point per output channel and group
    assert cpu.cost(asym, "w4a8g128").weight_bytes == 64 * 256 + 64 * 2 * (4 + 1)
    assert cpu.cost(asym, "w4a8g128").weight_bytes == cpu.cost(sym, "w4a8g128").weight_bytes + 64 * 2
    # the q - z map over [N, K] on top of the symmetric op's kernels
    assert cpu.cost(asym, "w4a8g128").latency_s > cpu.cost(sym, "w4a8g128").latency_s
    bigger = _grouped_pair(64, 64, 256, 128)
    assert (
        cpu.cost(ops_named(bigger, "qc.qlinear_grouped_asym")[0], "w4a8g128").latency_s
        > cpu.cost(asym, "w4a8g128").latency_s
    )


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (
            {"abits": 8, "sym": False},
            "sym=false applies to weight-only quantization (abits=16) or grouped W4A8 (abits=8, group > 0)",
        ),
        ({"abits": 8, "group": 128, "sym": False, "wbits": 8}, "sym=false with abits=8 needs wbits <= 7"),
    ],
)
def test_quantize_option_refusals(opts, message):
    with pytest.raises(QcompError, match="^qc-quantize: " + message.replace("(", r"\(").replace(")", r"\)")):
        QuantizePass(**{"wbits": 4, **opts})
    assert QuantizePass(wbits=4, abits=8, group=128, sym=False).precision == "w4a8g128"
