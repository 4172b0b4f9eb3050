"""Every qc op lowered by the CPU target (qc-lower-to-linalg -> LLVM JIT) against the numpy reference.

Integer ops must match bit-exactly; float ops within 1e-5. Each case writes a one-op module
`func.func @main` in generic form, JIT-compiles it and runs it on random inputs that include exact
.5 ties (x · inv lands on k + 0.5) and values outside the integer range.
"""

import numpy as np
import pytest
from qcomp.dialects import reference as ref
from qcomp.targets.cpu.jit import jit_from_text
from qcomp.targets.cpu.kernels import has_vnni

F32 = np.float32
_ELEM = {np.dtype(np.float32): "f32", np.dtype(np.int8): "i8", np.dtype(np.int32): "i32", np.dtype(np.int64): "i64"}


def ttype(a: np.ndarray) -> str:
    return "tensor<" + "".join(f"{d}x" for d in a.shape) + _ELEM[a.dtype] + ">"


def attr_text(v) -> str:
    if isinstance(v, bool):
        raise TypeError(v)
    if isinstance(v, int):
        return f"{v} : i64"
    if isinstance(v, float):
        return f"{v:.9e} : f64"
    if isinstance(v, str):
        return f'"{v}"'
    return "array<i64: " + ", ".join(str(int(e)) for e in v) + ">"


def module_text(op: str, inputs: list[np.ndarray], results: list[np.ndarray], attrs: dict) -> str:
    args = ", ".join(f"%a{i}: {ttype(a)}" for i, a in enumerate(inputs))
    operands = ", ".join(f"%a{i}" for i in range(len(inputs)))
    rtypes = [ttype(r) for r in results]
    names = ", ".join(f"%r{i}" for i in range(len(results)))
    attr = ("{" + ", ".join(f"{k} = {attr_text(v)}" for k, v in attrs.items()) + "} ") if attrs else ""
    return (
        f"func.func @main({args}) -> ({', '.join(rtypes)}) {{\n"
        f'  {names} = "qc.{op}"({operands}) {attr}: ({", ".join(ttype(a) for a in inputs)}) '
        f"-> ({', '.join(rtypes)})\n"
        f"  return {names} : {', '.join(rtypes)}\n"
        "}\n"
    )


def run_both(op: str, inputs: list[np.ndarray], **attrs) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(reference results, JIT results) of qc.<op> on `inputs`; result types come from the reference."""
    want = getattr(ref, op)(*inputs, **attrs)
    want = list(want) if isinstance(want, tuple) else [want]
    want = [np.asarray(w) for w in want]
    fn = jit_from_text(module_text(op, inputs, want, attrs))
    got = fn(*inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        assert g.dtype == w.dtype
    return want, got


def assert_exact(want, got):
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(g, w)


def assert_close(want, got):
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def tricky(rng, shape, scale: float = 1.0, qmax: int = 127) -> np.ndarray:
    """f32 values whose x/scale is a mix of exact k + 0.5 ties, out-of-range values and random reals."""
    ties = (rng.integers(-qmax - 4, qmax + 4, shape) + 0.5) * scale
    wide = rng.uniform(-3 * qmax, 3 * qmax, shape) * scale
    plain = rng.standard_normal(shape) * (qmax / 3) * scale
    pick = rng.integers(0, 3, shape)
    return np.choose(pick, [ties, wide, plain]).astype(F32)


def i8s(rng, shape) -> np.ndarray:
    return rng.integers(-128, 128, shape).astype(np.int8)


def f32s(rng, shape, mul: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * mul).astype(F32)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ----------------------------------------------------------------------------- integer ops: bit-exact
def test_quantize_per_tensor_ties_and_saturation(rng):
    x = tricky(rng, (6, 20), scale=0.25)
    want, got = run_both("quantize", [x, np.array([0.25], F32)], bits=8, axis=-1)
    assert_exact(want, got)
    # the inputs really exercise ties and both saturation ends
    assert (np.abs(x * 4 - np.trunc(x * 4)) == 0.5).any()
    assert (got[0] == 127).any()
    assert (got[0] == -127).any()
    assert not (got[0] == -128).any()


def test_quantize_per_channel_axis0_odd_scales(rng):
    s = np.array([0.5, 0.037, 1.0, 3.3, 0.25], F32)
    x = np.concatenate([tricky(rng, (1, 16), float(v)) for v in s]).astype(F32)
    want, got = run_both("quantize", [x, s], bits=8, axis=0)
    assert_exact(want, got)


def test_quantize_4_bit_rank3_per_channel_last_axis(rng):
    s = np.array([0.5, 1.0, 2.0, 0.125, 0.7, 1.5, 4.0, 0.3], F32)
    x = (tricky(rng, (2, 3, 8), 1.0, qmax=7) * s).astype(F32)
    want, got = run_both("quantize", [x, s], bits=4, axis=-1)
    assert_exact(want, got)
    assert got[0].max() == 7
    assert got[0].min() == -7


def _dynamic_input(rng, shape, qmax=127):
    """Rows whose absmax is qmax · 2^k (exact scale 2^k) so the others land on ties; one all-zero row."""
    x = tricky(rng, shape, 1.0, qmax).reshape(-1, shape[-1])
    for r in range(x.shape[0]):
        k = 2.0 ** int(rng.integers(-3, 3))
        x[r] = np.clip(np.round(x[r]) + 0.5, -qmax + 0.5, qmax - 0.5) * k
        x[r, rng.integers(0, shape[-1])] = qmax * k * (1 if r % 2 else -1)
    x[1] = 0.0
    return x.reshape(shape).astype(F32)


def test_quantize_dynamic_per_token_rank3(rng):
    x = _dynamic_input(rng, (2, 4, 24))
    want, got = run_both("quantize_dynamic", [x], bits=8, granularity="per_token")
    assert_exact(want, got)
    assert got[1].shape == (2, 4, 1)
    assert got[1][0, 1, 0] == 1.0  # the all-zero row gets scale 1


def test_quantize_dynamic_per_token_random_4_bit(rng):
    x = f32s(rng, (5, 33), 10.0)
    want, got = run_both("quantize_dynamic", [x], bits=4, granularity="per_token")
    assert_exact(want, got)
    assert np.abs(got[0]).max() == 7


def test_quantize_dynamic_per_token_rank1(rng):
    x = f32s(rng, (8,), 10.0)
    want, got = run_both("quantize_dynamic", [x], bits=8, granularity="per_token")
    assert_exact(want, got)


def test_quantize_dynamic_per_tensor(rng):
    x = _dynamic_input(rng, (6, 16))
    x[3, 5] = 254.0  # the tensor absmax: scale 2
    want, got = run_both("quantize_dynamic", [x], bits=8, granularity="per_tensor")
    assert_exact(want, got)
    assert got[1].shape == (1,)
    assert got[1][0] == 2.0


def test_quantize_dynamic_per_tensor_all_zero():
    x = np.zeros((3, 4), F32)
    want, got = run_both("quantize_dynamic", [x], bits=8, granularity="per_tensor")
    assert_exact(want, got)
    assert got[1][0] == 1.0
    assert not got[0].any()


def test_dequantize_per_tensor_rank3(rng):
    q = i8s(rng, (2, 3, 5))
    want, got = run_both("dequantize", [q, np.array([0.0371], F32)], axis=-1)
    assert_exact(want, got)


def test_dequantize_per_channel_axis0(rng):
    q = i8s(rng, (4, 7))
    want, got = run_both("dequantize", [q, np.array([0.5, 0.01, 3.0, 1.7], F32)], axis=0)
    assert_exact(want, got)


def test_requantize_per_tensor_ties(rng):
    acc = rng.integers(-600, 600, (5, 9)).astype(np.int32)
    acc[0, :3] = [2**31 - 1, -(2**31), 2**24 + 1]
    acc[1, :6] = [1, 3, 5, -1, -3, -5]  # · 0.5 = ±0.5, ±1.5, ±2.5
    want, got = run_both("requantize", [acc, np.array([0.5], F32)], bits=8, axis=-1)
    assert_exact(want, got)
    np.testing.assert_array_equal(got[0][1, :6], [0, 2, 2, 0, -2, -2])
    np.testing.assert_array_equal(got[0][0, :3], [127, -127, 127])


def test_requantize_per_channel_rank3_4_bit(rng):
    acc = rng.integers(-100_000, 100_000, (2, 3, 4)).astype(np.int32)
    want, got = run_both("requantize", [acc, np.array([1e-4, 2.5e-5, 0.001, 3e-6], F32)], bits=4, axis=-1)
    assert_exact(want, got)


def test_qlinear_rank3_per_token_act_none(rng):
    xq, wq = i8s(rng, (2, 3, 64)), i8s(rng, (8, 64))
    xq[0, 0], wq[0] = -128, -128  # a 64 · 16384 = 1048576 accumulator: far beyond int16
    xs, ws, b = np.abs(f32s(rng, (2, 3, 1), 0.05)), np.abs(f32s(rng, (8,), 0.01)), f32s(rng, (8,))
    want, got = run_both("qlinear", [xq, xs, wq, ws, b], act="none")
    assert_exact(want, got)


def test_qlinear_per_tensor_scale_act_relu(rng):
    xq, wq = i8s(rng, (5, 16)), i8s(rng, (8, 16))
    want, got = run_both(
        "qlinear", [xq, np.array([0.02], F32), wq, np.abs(f32s(rng, (8,), 0.01)), f32s(rng, (8,))], act="relu"
    )
    assert_exact(want, got)
    assert (got[0] == 0).any()
    assert (got[0] > 0).any()


@pytest.mark.parametrize("act", ["gelu", "silu"])
def test_qlinear_float_epilogue_activations(rng, act):
    xq, wq = i8s(rng, (3, 16)), i8s(rng, (4, 16))
    inputs = [xq, np.array([1e-3], F32), wq, np.abs(f32s(rng, (4,), 0.01)), f32s(rng, (4,))]
    want, got = run_both("qlinear", inputs, act=act)
    assert_close(want, got)


@pytest.mark.parametrize(
    ("shape", "n", "act"), [((2, 7, 64), 48, "none"), ((5, 32), 24, "relu"), ((3, 16), 32, "silu")]
)
def test_qlinear_gated_is_gate_times_qlinear(rng, shape, n, act):
    # n = 48: the VNNI kernel with the gate read in its epilogue; n = 24: the generic loops
    xq, wq = i8s(rng, shape), i8s(rng, (n, shape[-1]))
    xs, ws, b = np.abs(f32s(rng, (*shape[:-1], 1), 0.05)), np.abs(f32s(rng, (n,), 0.01)), f32s(rng, (n,))
    gate = f32s(rng, (*shape[:-1], n), 2.0)
    want, got = run_both("qlinear_gated", [xq, xs, wq, ws, b, gate], act=act)
    (assert_close if act == "silu" else assert_exact)(want, got)
    _, plain = run_both("qlinear", [xq, xs, wq, ws, b], act=act)
    assert np.array_equal(got[0], gate * plain[0])  # the same f32 product as a separate qc.mul


@pytest.mark.parametrize("batch", [(2,), (2, 3)])
def test_qmatmul_batched(rng, batch):
    aq, bq = i8s(rng, (*batch, 4, 32)), i8s(rng, (*batch, 32, 5))
    a_s, b_s = np.abs(f32s(rng, (*batch, 4, 1), 0.1)), np.abs(f32s(rng, (*batch, 1, 5), 0.1))
    want, got = run_both("qmatmul", [aq, a_s, bq, b_s])
    assert_exact(want, got)


@pytest.mark.parametrize(
    ("stride", "padding", "dilation"),
    [((2, 2), (1, 1), (1, 1)), ((1, 2), (2, 1), (2, 1))],
)
def test_qconv2d(rng, stride, padding, dilation):
    xq, wq = i8s(rng, (2, 3, 9, 8)), i8s(rng, (4, 3, 3, 3))
    xs, ws, b = np.array([0.02], F32), np.abs(f32s(rng, (4,), 0.01)), f32s(rng, (4,))
    want, got = run_both(
        "qconv2d", [xq, xs, wq, ws, b], stride=list(stride), padding=list(padding), dilation=list(dilation), groups=1
    )
    assert_exact(want, got)


# ----------------------------------------------------------------------------- float ops: within 1e-5
@pytest.mark.parametrize("lead", [(5,), (2, 3)])
def test_linear(rng, lead):
    want, got = run_both("linear", [f32s(rng, (*lead, 16)), f32s(rng, (8, 16), 0.25), f32s(rng, (8,))])
    assert_close(want, got)


@pytest.mark.parametrize("batch", [(3,), (2, 2)])
def test_matmul_batched(rng, batch):
    want, got = run_both("matmul", [f32s(rng, (*batch, 4, 8)), f32s(rng, (*batch, 8, 6))])
    assert_close(want, got)


@pytest.mark.parametrize(
    ("stride", "padding", "dilation"),
    [((1, 1), (0, 0), (1, 1)), ((2, 1), (1, 2), (1, 2))],
)
def test_conv2d(rng, stride, padding, dilation):
    x, w, b = f32s(rng, (2, 3, 8, 9)), f32s(rng, (5, 3, 3, 2), 0.3), f32s(rng, (5,))
    want, got = run_both(
        "conv2d", [x, w, b], stride=list(stride), padding=list(padding), dilation=list(dilation), groups=1
    )
    assert_close(want, got)


def test_layer_norm_rank3(rng):
    x = (f32s(rng, (2, 3, 32), 3.0) + 2).astype(F32)
    want, got = run_both("layer_norm", [x, f32s(rng, (32,)), f32s(rng, (32,))], eps=1e-5)
    assert_close(want, got)


def test_rms_norm(rng):
    want, got = run_both("rms_norm", [f32s(rng, (4, 32), 2.0), f32s(rng, (32,))], eps=1e-6)
    assert_close(want, got)


def test_softmax_rank3_large_values(rng):
    x = f32s(rng, (2, 3, 10), 4.0)
    x[0, 0, :2] = 1000.0  # exp overflows without the max shift
    want, got = run_both("softmax", [x], axis=-1)
    assert_close(want, got)
    assert np.isfinite(got[0]).all()


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(rng, approximate):
    want, got = run_both("gelu", [f32s(rng, (3, 40), 3.0)], approximate=approximate)
    assert_close(want, got)


@pytest.mark.parametrize("op", ["silu", "relu"])
def test_unary(rng, op):
    want, got = run_both(op, [f32s(rng, (2, 3, 7), 4.0)])
    assert_close(want, got)


@pytest.mark.parametrize("op", ["add", "mul"])
def test_binary(rng, op):
    want, got = run_both(op, [f32s(rng, (4, 6)), f32s(rng, (4, 6))])
    assert_close(want, got)


def test_channel_scale_rank3(rng):
    want, got = run_both("channel_scale", [f32s(rng, (2, 3, 6)), f32s(rng, (6,))])
    assert_close(want, got)


@pytest.mark.parametrize(("shape", "perm"), [((3, 5), [4, 0, 3, 1, 2]), ((2, 2, 4), [3, 2, 1, 0])])
def test_channel_permute(rng, shape, perm):
    want, got = run_both("channel_permute", [f32s(rng, shape)], perm=perm)
    assert_exact(want, got)


@pytest.mark.parametrize("id_dtype", [np.int64, np.int32])
def test_embedding(rng, id_dtype):
    w = f32s(rng, (10, 6))
    ids = rng.integers(0, 10, (2, 5)).astype(id_dtype)
    want, got = run_both("embedding", [w, ids])
    assert_exact(want, got)


def test_two_ops_share_one_module(rng):
    # quantize_dynamic feeding qlinear, as qc-quantize emits them: the chain stays bit-exact
    x, wq = tricky(rng, (3, 16), 0.5), i8s(rng, (4, 16))
    ws, b = np.abs(f32s(rng, (4,), 0.01)), f32s(rng, (4,))
    text = """
func.func @main(%x: tensor<3x16xf32>, %wq: tensor<4x16xi8>, %ws: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<3x4xf32> {
  %q, %s = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_token"}
      : (tensor<3x16xf32>) -> (tensor<3x16xi8>, tensor<3x1xf32>)
  %y = "qc.qlinear"(%q, %s, %wq, %ws, %b) {act = "none"}
      : (tensor<3x16xi8>, tensor<3x1xf32>, tensor<4x16xi8>, tensor<4xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}
"""
    q, s = ref.quantize_dynamic(x)
    np.testing.assert_array_equal(jit_from_text(text)(x, wq, ws, b)[0], ref.qlinear(q, s, wq, ws, b))


# ----------------------------------------------------------------------------- GEMM microkernels (kernels.py)
def _jit_const_weight(op: str, inputs: list[np.ndarray], wi: int, want: np.ndarray, **attrs):
    """JIT qc.<op> with operand `wi` (2-D) as an inline arith.constant, packed at build time; returns
    (fn, the remaining inputs)."""
    w = inputs[wi]
    args = [a for i, a in enumerate(inputs) if i != wi]
    fmt = (lambda v: str(int(v))) if w.dtype == np.int8 else (lambda v: f"{float(v):.9e}")
    rows = ", ".join("[" + ", ".join(fmt(v) for v in r) + "]" for r in w)
    names = [f"%a{i}" for i in range(len(args))]
    names.insert(wi, "%w")
    attr = ("{" + ", ".join(f"{k} = {attr_text(v)}" for k, v in attrs.items()) + "} ") if attrs else ""
    text = (
        f"func.func @main({', '.join(f'%a{i}: {ttype(a)}' for i, a in enumerate(args))}) -> {ttype(want)} {{\n"
        f"  %w = arith.constant dense<[{rows}]> : {ttype(w)}\n"
        f'  %y = "qc.{op}"({", ".join(names)}) {attr}: ({", ".join(ttype(a) for a in inputs)}) -> {ttype(want)}\n'
        f"  return %y : {ttype(want)}\n}}\n"
    )
    return jit_from_text(text), args


@pytest.mark.parametrize(("lead", "n", "k"), [((2, 37), 48, 20), ((5,), 64, 33), ((3,), 192, 8), ((1, 1), 16, 1)])
def test_linear_kernel_tiles_and_remainders(rng, lead, n, k):
    # N a multiple of 16 takes the register-tiled kernel (row counts that leave a remainder tile too)
    x, w, b = f32s(rng, (*lead, k)), f32s(rng, (n, k), 0.25), f32s(rng, (n,))
    want, got = run_both("linear", [x, w, b])
    assert_close(want, got)
    fn = jit_from_text(module_text("linear", [x, w, b], want, {}))
    assert "llvm.intr.fmuladd" in fn.llvm_text  # vector.fma


def test_linear_kernel_constant_weight_packed_at_build(rng):
    x, w, b = f32s(rng, (2, 7, 24)), f32s(rng, (96, 24), 0.25), f32s(rng, (96,))
    want = ref.linear(x, w, b)
    fn, args = _jit_const_weight("linear", [x, w, b], 1, want)
    assert [a.shape for a in fn.weights] == [(2, 24, 48)]  # [N/NR][K][NR] panels, NR = 48
    np.testing.assert_allclose(fn(*args)[0], want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("batch", "m", "k", "n"), [((2, 3), 13, 7, 32), ((), 5, 16, 64), ((1,), 30, 3, 16)])
def test_matmul_kernel(rng, batch, m, k, n):
    want, got = run_both("matmul", [f32s(rng, (*batch, m, k)), f32s(rng, (*batch, k, n))])
    assert_close(want, got)


def _qlinear_inputs(rng, lead, n, k):
    xq, wq = i8s(rng, (*lead, k)), i8s(rng, (n, k))
    xq.reshape(-1, k)[0], wq[0], wq[1] = -128, -128, 127  # extreme products: (-128)² · K, -128 · 127 · K
    xs, ws, b = np.abs(f32s(rng, (*lead, 1), 0.05)), np.abs(f32s(rng, (n,), 0.01)), f32s(rng, (n,))
    return [xq, xs, wq, ws, b]


@pytest.mark.parametrize(("lead", "n", "k"), [((2, 3), 16, 64), ((29,), 48, 12), ((1, 9), 192, 4096), ((4,), 16, 6)])
def test_qlinear_kernel_bit_exact(rng, lead, n, k):
    # VNNI kernel when K % 4 == 0 and N % 16 == 0 (and the CPU has AVX512-VNNI), else the generic loops
    inputs = _qlinear_inputs(rng, lead, n, k)
    want, got = run_both("qlinear", inputs, act="relu")
    assert_exact(want, got)
    if has_vnni() and k % 4 == 0:
        assert "vpdpbusd" in jit_from_text(module_text("qlinear", inputs, want, {"act": "relu"})).llvm_text


def test_qlinear_kernel_constant_weight_packed_at_build(rng):
    inputs = _qlinear_inputs(rng, (2, 5), 64, 32)
    want = ref.qlinear(*inputs, act="none")
    fn, args = _jit_const_weight("qlinear", inputs, 2, want, act="none")
    if has_vnni():
        assert [a.shape for a in fn.weights] == [(1, 8, 256)]  # VNNI quads [N/NR][K/4][NR·4]
    np.testing.assert_array_equal(fn(*args)[0], want)


@pytest.mark.parametrize(("batch", "m", "k", "n"), [((2, 3), 7, 12, 32), ((), 13, 64, 16), ((2,), 4, 6, 16)])
def test_qmatmul_kernel_bit_exact(rng, batch, m, k, n):
    aq, bq = i8s(rng, (*batch, m, k)), i8s(rng, (*batch, k, n))
    aq[..., 0, :], bq[..., :, 0] = -128, -128
    a_s, b_s = np.abs(f32s(rng, (*batch, m, 1), 0.1)), np.abs(f32s(rng, (*batch, 1, n), 0.1))
    want, got = run_both("qmatmul", [aq, a_s, bq, b_s])
    assert_exact(want, got)
