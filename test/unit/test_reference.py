"""The numpy reference semantics of the qc ops, checked against values worked out by hand.

Scales are chosen as powers of two (or 1) so that x · (1/scale) is exact in f32 and the expected
integers below follow from the rounding rule alone (round half to even, then saturate).
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from qcomp.dialects import reference as ref

F32 = np.float32


def f32(values) -> np.ndarray:
    return np.array(values, dtype=F32)


def i8(values) -> np.ndarray:
    return np.array(values, dtype=np.int8)


# ----------------------------------------------------------------------------- rounding and saturation
@pytest.mark.parametrize(
    ("x", "scale", "expected"),
    [
        # x · inv lands exactly on .5: ties go to the even neighbour, in both signs
        ([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, -3.5], [1.0], [0, 2, 2, 4, 0, -2, -2, -4]),
        # scale 4 -> inv 0.25: 2 -> 0.5, 6 -> 1.5, 10 -> 2.5, -2 -> -0.5, -6 -> -1.5
        ([2.0, 6.0, 10.0, -2.0, -6.0, 14.0], [4.0], [0, 2, 2, 0, -2, 4]),
        # scale 0.5 -> inv 2: 0.25 -> 0.5, 0.75 -> 1.5, -1.25 -> -2.5; non-ties round to nearest
        ([0.25, 0.75, -1.25, 0.3, -0.3, 1.1], [0.5], [0, 2, -2, 1, -1, 2]),
    ],
)
def test_quantize_rounds_half_to_even(x, scale, expected):
    q = ref.quantize(f32(x), f32(scale), bits=8)
    assert q.dtype == np.int8
    np.testing.assert_array_equal(q, i8(expected))


def test_quantize_saturates_to_symmetric_8_bit_range():
    # -128 is never produced: the range is symmetric [-127, 127]
    x = f32([200.0, -300.0, 127.4, -127.6, -128.0, 126.5, 1e30, -1e30])
    q = ref.quantize(x, f32([1.0]), bits=8)
    np.testing.assert_array_equal(q, i8([127, -127, 127, -127, -127, 126, 127, -127]))


def test_quantize_saturates_to_4_bit_range():
    # qmax(4) = 7: 7.5 rounds to 8 then saturates to 7; 6.5 is a tie going to 6
    x = f32([7.4, 7.5, 8.0, -9.0, -7.5, 6.5, -6.5, 100.0])
    q = ref.quantize(x, f32([1.0]), bits=4)
    np.testing.assert_array_equal(q, i8([7, 7, 7, -7, -7, 6, -6, 7]))


def test_qmax_of_bit_widths():
    assert [ref.qmax(b) for b in (2, 3, 4, 8)] == [1, 3, 7, 127]


def test_quantize_per_channel_along_axis():
    x = f32([[1.0, -3.0, 5.0], [1.0, -3.0, 5.0]])
    # axis 0: row 0 scale 1, row 1 scale 2 (inv 0.5: 0.5 -> 0, -1.5 -> -2, 2.5 -> 2)
    np.testing.assert_array_equal(ref.quantize(x, f32([1.0, 2.0]), axis=0), i8([[1, -3, 5], [0, -2, 2]]))
    # axis -1: per column scales 1, 2, 4 (-3/2 = -1.5 -> -2, 5/4 = 1.25 -> 1)
    np.testing.assert_array_equal(ref.quantize(x, f32([1.0, 2.0, 4.0]), axis=-1), i8([[1, -2, 1], [1, -2, 1]]))


# ----------------------------------------------------------------------------- scales
def test_symmetric_scale_gives_all_zero_channels_scale_one():
    s = ref.symmetric_scale(f32([254.0, 0.0, 127.0]), 8)
    assert s.dtype == F32
    np.testing.assert_array_equal(s, f32([2.0, 1.0, 1.0]))


def test_quantize_weight_per_output_channel():
    w = f32(
        [
            [127.0, -50.0, 3.2],  # max 127 -> scale 1
            [0.0, 0.0, 0.0],  # all zero -> scale 1, q 0
            [254.0, 63.0, -101.0],  # max 254 -> scale 2: 31.5 -> 32, -50.5 -> -50
        ]
    )
    wq, ws = ref.quantize_weight(w, bits=8, axis=0)
    np.testing.assert_array_equal(ws, f32([1.0, 1.0, 2.0]))
    np.testing.assert_array_equal(wq, i8([[127, -50, 3], [0, 0, 0], [127, 32, -50]]))


def test_quantize_weight_4d_conv_and_4_bits():
    # OIHW [2, 1, 1, 4], qmax(4) = 7. Channel 0: max 7 -> scale 1. Channel 1: max 14 -> scale 2,
    # so 5 / 2 = 2.5 -> 2 and 1 / 2 = 0.5 -> 0 (ties to even)
    w = f32([[7.0, -3.0, 7.0, 0.0], [-14.0, 5.0, 1.0, 2.0]]).reshape(2, 1, 1, 4)
    wq, ws = ref.quantize_weight(w, bits=4, axis=0)
    np.testing.assert_array_equal(ws, f32([1.0, 2.0]))
    assert wq.shape == (2, 1, 1, 4)
    np.testing.assert_array_equal(wq.reshape(2, 4), i8([[7, -3, 7, 0], [-7, 2, 0, 1]]))


def test_quantize_dynamic_per_token():
    x = f32(
        [
            [1.0, -127.0, 63.5],  # max 127 -> scale 1; 63.5 ties to 64
            [0.0, 0.0, 0.0],  # all zero -> scale 1
            [254.0, 127.0, -63.5],  # max 254 -> scale 2: 63.5 -> 64 (tie), -31.75 -> -32
        ]
    )
    q, s = ref.quantize_dynamic(x, bits=8, granularity="per_token")
    assert s.shape == (3, 1)
    assert s.dtype == F32
    np.testing.assert_array_equal(s, f32([[1.0], [1.0], [2.0]]))
    np.testing.assert_array_equal(q, i8([[1, -127, 64], [0, 0, 0], [127, 64, -32]]))


def test_quantize_dynamic_per_token_rank3_keeps_leading_dims():
    x = np.zeros((2, 2, 3), F32)
    x[1, 0] = [-508.0, 2.0, 6.0]  # max 508 -> scale 4: 0.5 -> 0, 1.5 -> 2
    q, s = ref.quantize_dynamic(x, granularity="per_token")
    assert s.shape == (2, 2, 1)
    np.testing.assert_array_equal(s[..., 0], f32([[1.0, 1.0], [4.0, 1.0]]))
    np.testing.assert_array_equal(q[1, 0], i8([-127, 0, 2]))
    assert not q[0].any()
    assert not q[1, 1].any()


def test_quantize_dynamic_per_tensor():
    x = f32([[1.0, -2.0], [254.0, 3.0]])  # max 254 -> scale 2: 0.5 -> 0, -1, 127, 1.5 -> 2
    q, s = ref.quantize_dynamic(x, granularity="per_tensor")
    assert s.shape == (1,)
    np.testing.assert_array_equal(s, f32([2.0]))
    np.testing.assert_array_equal(q, i8([[0, -1], [127, 2]]))


def test_quantize_dynamic_all_zero_tensor_and_4_bits():
    q, s = ref.quantize_dynamic(np.zeros((2, 3), F32), granularity="per_tensor")
    np.testing.assert_array_equal(s, f32([1.0]))
    assert not q.any()
    # 4 bits: qmax 7, max 7 -> scale 1; -3.5 ties to -4, 1.5 to 2
    q4, s4 = ref.quantize_dynamic(f32([[7.0, -3.5, 1.5, 0.0]]), bits=4)
    np.testing.assert_array_equal(s4, f32([[1.0]]))
    np.testing.assert_array_equal(q4, i8([[7, -4, 2, 0]]))


# ----------------------------------------------------------------------------- dequantize / requantize
def test_dequantize_per_tensor_and_per_channel():
    q = i8([[1, -2], [127, -127]])
    np.testing.assert_array_equal(ref.dequantize(q, f32([0.25])), f32([[0.25, -0.5], [31.75, -31.75]]))
    np.testing.assert_array_equal(ref.dequantize(q, f32([0.5, 2.0]), axis=-1), f32([[0.5, -4.0], [63.5, -254.0]]))
    np.testing.assert_array_equal(ref.dequantize(q, f32([0.5, 2.0]), axis=0), f32([[0.5, -1.0], [254.0, -254.0]]))
    assert ref.dequantize(q, f32([1.0])).dtype == F32


def test_requantize_rounds_and_saturates():
    acc = np.array([100, 300, -300, 1_000_000, 5, 15, -5, 2**30], np.int32)
    # · 0.5: 50, 150 -> 127, -150 -> -127, sat, 2.5 -> 2, 7.5 -> 8, -2.5 -> -2, sat
    np.testing.assert_array_equal(ref.requantize(acc, f32([0.5])), i8([50, 127, -127, 127, 2, 8, -2, 127]))
    np.testing.assert_array_equal(ref.requantize(acc[:3], f32([0.5]), bits=4), i8([7, 7, -7]))


def test_requantize_per_channel():
    acc = np.array([[3, 10], [-5, 6]], np.int32)
    # column scales 0.5, 0.25: 1.5 -> 2, 2.5 -> 2, -2.5 -> -2, 1.5 -> 2
    np.testing.assert_array_equal(ref.requantize(acc, f32([0.5, 0.25]), axis=-1), i8([[2, 2], [-2, 2]]))


# ----------------------------------------------------------------------------- integer compute
def test_qlinear_accumulates_in_int32_beyond_int16():
    xq = i8([[127, 127, 127, 127], [1, 2, 3, 4]])
    wq = i8([[127, 127, 127, 127], [-127, -127, -127, -127]])
    # acc = [[4·127·127 = 64516, -64516], [127·10 = 1270, -1270]]: 64516 does not fit int16
    xs = f32([[0.5], [2.0]])
    ws = f32([0.25, 1.0])
    b = f32([1.0, -1.0])
    y = ref.qlinear(xq, xs, wq, ws, b, act="none")
    # (64516·0.5)·0.25 + 1 = 8065.5 ; (-64516·0.5)·1 - 1 = -32259 ; (1270·2)·0.25 + 1 = 636 ; -2540 - 1 = -2541
    np.testing.assert_array_equal(y, f32([[8065.5, -32259.0], [636.0, -2541.0]]))
    assert y.dtype == F32
    np.testing.assert_array_equal(ref.qlinear(xq, xs, wq, ws, b, act="relu"), f32([[8065.5, 0.0], [636.0, 0.0]]))


def test_qlinear_with_minus_128_and_per_tensor_scale():
    # -128 is a legal i8 input; (-128)·(-128)·2 = 32768 overflows int16 by one
    xq = i8([[[-128, -128]]])
    wq = i8([[-128, -128], [1, -1]])
    y = ref.qlinear(xq, f32([1.0]), wq, f32([1.0, 1.0]), f32([0.0, 0.0]))
    assert y.shape == (1, 1, 2)
    np.testing.assert_array_equal(y, f32([[[32768.0, 0.0]]]))


def test_qmatmul_batched_with_row_and_column_scales():
    aq = i8([[[1, 2, 3], [127, 127, 127]]])  # [1, 2, 3]
    bq = i8([[[1, 0], [0, 1], [1, 127]]])  # [1, 3, 2]
    a_s = f32([[[0.5], [2.0]]])  # [1, 2, 1]
    b_s = f32([[[1.0, 0.25]]])  # [1, 1, 2]
    # acc = [[4, 383], [254, 16256]]; · rows [0.5, 2] · cols [1, 0.25]
    y = ref.qmatmul(aq, a_s, bq, b_s)
    np.testing.assert_array_equal(y, f32([[[2.0, 47.875], [508.0, 8128.0]]]))


def _direct_conv(x, w, stride, padding, dilation, acc_dtype):
    """Textbook 7-loop convolution (NCHW × OIHW), independent of the reference's einsum formulation."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow), acc_dtype)
    for ni in range(n):
        for oi in range(o):
            for y in range(oh):
                for xo in range(ow):
                    s = acc_dtype(0)
                    for ci in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                hh = y * stride[0] - padding[0] + i * dilation[0]
                                ww = xo * stride[1] - padding[1] + j * dilation[1]
                                if 0 <= hh < h and 0 <= ww < wd:
                                    s += acc_dtype(x[ni, ci, hh, ww]) * acc_dtype(w[oi, ci, i, j])
                    out[ni, oi, y, xo] = s
    return out


CONV_CASES = [
    ((1, 1), (0, 0), (1, 1)),
    ((2, 2), (1, 1), (1, 1)),
    ((1, 2), (2, 1), (2, 1)),
]


@pytest.mark.parametrize(("stride", "padding", "dilation"), CONV_CASES)
def test_conv2d_matches_direct_loop(stride, padding, dilation):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 6)).astype(F32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(F32)
    b = rng.standard_normal(4).astype(F32)
    want = _direct_conv(x.astype(np.float64), w.astype(np.float64), stride, padding, dilation, np.float64)
    want += b.reshape(1, -1, 1, 1)
    got = ref.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    assert got.shape == want.shape
    assert got.dtype == F32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("stride", "padding", "dilation"), CONV_CASES)
def test_qconv2d_matches_direct_integer_loop(stride, padding, dilation):
    rng = np.random.default_rng(2)
    xq = rng.integers(-128, 128, (1, 3, 6, 7)).astype(np.int8)
    wq = rng.integers(-128, 128, (2, 3, 2, 3)).astype(np.int8)
    xs, ws, b = f32([0.5]), f32([0.25, 2.0]), f32([1.0, -3.0])
    acc = _direct_conv(xq, wq, stride, padding, dilation, np.int64)
    assert np.abs(acc).max() > 2**15  # the sums really need more than 16 bits
    want = (acc.astype(F32) * F32(0.5)) * ws.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)
    got = ref.qconv2d(xq, xs, wq, ws, b, stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_array_equal(got, want)


def test_qconv2d_hand_computed():
    xq = i8([[[[1, 2], [3, 4]]]])  # [1, 1, 2, 2]
    wq = i8([[[[1, -1], [2, 0]]]])  # [1, 1, 2, 2]: 1 - 2 + 6 + 0 = 5
    y = ref.qconv2d(xq, f32([0.5]), wq, f32([4.0]), f32([0.25]))
    np.testing.assert_array_equal(y, f32([[[[10.25]]]]))  # (5·0.5)·4 + 0.25


# ----------------------------------------------------------------------------- float ops vs torch
def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


@pytest.fixture
def rng():
    return np.random.default_rng(3)


def test_layer_norm_matches_torch(rng):
    x = (rng.standard_normal((2, 3, 16)) * 3 + 1).astype(F32)
    g, b = rng.standard_normal(16).astype(F32), rng.standard_normal(16).astype(F32)
    want = F.layer_norm(_t(x), (16,), _t(g), _t(b), eps=1e-5).numpy()
    np.testing.assert_allclose(ref.layer_norm(x, g, b, eps=1e-5), want, rtol=1e-5, atol=1e-5)


def test_rms_norm_matches_torch(rng):
    x = rng.standard_normal((4, 16)).astype(F32)
    g = rng.standard_normal(16).astype(F32)
    want = F.rms_norm(_t(x), (16,), _t(g), eps=1e-6).numpy()
    np.testing.assert_allclose(ref.rms_norm(x, g, eps=1e-6), want, rtol=1e-5, atol=1e-5)


def test_rms_norm_hand_computed():
    # mean(3², 4²) = 12.5; 3 / sqrt(12.5) = 0.848528..; eps tiny
    y = ref.rms_norm(f32([[3.0, 4.0]]), f32([1.0, 2.0]), eps=1e-12)
    np.testing.assert_allclose(y, f32([[3 / math.sqrt(12.5), 8 / math.sqrt(12.5)]]), rtol=1e-6)


def test_softmax_matches_torch_and_is_stable(rng):
    x = rng.standard_normal((3, 5, 7)).astype(F32) * 4
    np.testing.assert_allclose(ref.softmax(x), F.softmax(_t(x), dim=-1).numpy(), rtol=1e-5, atol=1e-5)
    big = f32([[1000.0, 1000.0, -1000.0]])  # exp(1000) overflows without the max shift
    np.testing.assert_allclose(ref.softmax(big), f32([[0.5, 0.5, 0.0]]), atol=1e-7)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(rng, approximate):
    x = (rng.standard_normal((4, 33)) * 3).astype(F32)
    want = F.gelu(_t(x), approximate=approximate).numpy()
    got = ref.gelu(x, approximate=approximate)
    assert got.dtype == F32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_gelu_forms_differ():
    # the erf and tanh forms really are different functions (guards against ignoring `approximate`)
    x = f32([1.0])
    assert abs(float(ref.gelu(x)[0]) - float(ref.gelu(x, approximate="tanh")[0])) > 1e-5


def test_silu_and_relu_match_torch(rng):
    x = (rng.standard_normal((2, 3, 8)) * 5).astype(F32)
    np.testing.assert_allclose(ref.silu(x), F.silu(_t(x)).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ref.relu(f32([-1.0, 0.0, 2.5])), f32([0.0, 0.0, 2.5]))


def test_elementwise_and_channel_scale():
    a, b = f32([[1.0, 2.0], [3.0, 4.0]]), f32([[0.5, -1.0], [2.0, 0.25]])
    np.testing.assert_array_equal(ref.add(a, b), f32([[1.5, 1.0], [5.0, 4.25]]))
    np.testing.assert_array_equal(ref.mul(a, b), f32([[0.5, -2.0], [6.0, 1.0]]))
    np.testing.assert_array_equal(ref.channel_scale(a, f32([2.0, -0.5])), f32([[2.0, -1.0], [6.0, -2.0]]))


def test_channel_permute():
    x = f32([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(ref.channel_permute(x, perm=[2, 0, 1]), f32([[3.0, 1.0, 2.0], [6.0, 4.0, 5.0]]))


def test_embedding():
    w = f32([[0.0, 1.0], [10.0, 11.0], [20.0, 21.0]])
    ids = np.array([[2, 0], [1, 1]], np.int64)
    y = ref.embedding(w, ids)
    assert y.shape == (2, 2, 2)
    np.testing.assert_array_equal(y, f32([[[20.0, 21.0], [0.0, 1.0]], [[10.0, 11.0], [10.0, 11.0]]]))


def test_linear_and_matmul_hand_computed():
    x = f32([[1.0, 2.0]])
    w = f32([[3.0, 4.0], [-1.0, 0.5]])
    np.testing.assert_array_equal(ref.linear(x, w, f32([0.5, 1.0])), f32([[11.5, 1.0]]))
    a = f32([[[1.0, 2.0], [3.0, 4.0]]])
    b = f32([[[0.0, 1.0], [1.0, 0.0]]])
    np.testing.assert_array_equal(ref.matmul(a, b), f32([[[2.0, 1.0], [4.0, 3.0]]]))
