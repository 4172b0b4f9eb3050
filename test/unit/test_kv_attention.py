"""qc.kv_attention(_int8) on the CPU against the numpy reference: outputs, and the cache written in place."""

import numpy as np
import pytest
from qcomp.dialects import reference as ref
from qcomp.targets.cpu.jit import jit_from_text

L, B, H, HKV, D, S = 2, 2, 4, 2, 32, 48


def _module(t: int, int8: bool, window: int, layer: int) -> str:
    q, kv = f"tensor<{B}x{H}x{t}x{D}xf32>", f"tensor<{B}x{HKV}x{t}x{D}xf32>"
    e = "i8" if int8 else "f32"
    kc, vc = f"tensor<{L}x{B}x{HKV}x{D}x{S}x{e}>", f"tensor<{L}x{B}x{HKV}x{S}x{D}x{e}>"
    ks, vs = f"tensor<{L}x{B}x{HKV}x{D // 16}x{2 * S}xi8>", f"tensor<{L}x{B}x{HKV}x{2 * S}xi8>"
    out = f"tensor<{B}x{t}x{H}x{D}xf32>"
    scales = f", %ks: {ks}, %vs: {vs}" if int8 else ""
    operands = "%q, %k, %v, %kc, %vc" + (", %ks, %vs" if int8 else "") + ", %pos"
    types = f"{q}, {kv}, {kv}, {kc}, {vc}" + (f", {ks}, {vs}" if int8 else "") + f", tensor<{B}xi64>"
    name = "qc.kv_attention_int8" if int8 else "qc.kv_attention"
    return (
        f"func.func @main(%q: {q}, %k: {kv}, %v: {kv}, %kc: {kc}, %vc: {vc}{scales}, %pos: tensor<{B}xi64>)"
        f" -> {out} {{\n"
        f'  %y = "{name}"({operands}) {{layer = {layer} : i64, scale = 0.17677669529663687 : f64, '
        f"window = {window} : i64}} : ({types}) -> {out}\n"
        f"  return %y : {out}\n}}\n"
    )


def _caches(int8: bool, rng) -> list[np.ndarray]:
    if not int8:
        return [rng.standard_normal((L, B, HKV, D, S), np.float32), rng.standard_normal((L, B, HKV, S, D), np.float32)]
    return [
        rng.integers(-127, 128, (L, B, HKV, D, S), dtype=np.int8),
        rng.integers(-127, 128, (L, B, HKV, S, D), dtype=np.int8),
        rng.uniform(0.001, 0.02, (L, B, HKV, D // 16, S)).astype(np.float16).view(np.int8),
        rng.uniform(0.001, 0.02, (L, B, HKV, S)).astype(np.float16).view(np.int8),
    ]


@pytest.mark.parametrize(
    ("t", "int8", "window", "pos"),
    [
        (1, False, 0, [0, 17]),  # decode, rows at different positions, one at the very start
        (5, False, 0, [3, 40]),  # a prefill chunk (parallel queries); row 1 crosses the cache end (positions >= S)
        (4, False, 6, [9, 30]),  # sliding window: the first block is partly outside the window
        (1, True, 0, [5, 47]),  # int8 cache, decode at the last position
        (6, True, 5, [0, 21]),  # int8 cache, chunk with a window
    ],
)
def test_kv_attention_matches_reference(t, int8, window, pos):
    rng = np.random.default_rng(t * 7 + window)
    q = rng.standard_normal((B, H, t, D), np.float32)
    k = rng.standard_normal((B, HKV, t, D), np.float32)
    v = rng.standard_normal((B, HKV, t, D), np.float32)
    pos = np.array(pos, np.int64)
    caches = _caches(int8, rng)
    mine = [c.copy() for c in caches]
    fn = jit_from_text(_module(t, int8, window, layer=1))
    y = fn(q, k, v, *mine, pos)[0]
    theirs = [c.copy() for c in caches]
    if int8:
        want = ref.kv_attention_int8(q, k, v, *theirs, pos, layer=1, scale=0.17677669529663687, window=window)
    else:
        want = ref.kv_attention(q, k, v, *theirs, pos, layer=1, scale=0.17677669529663687, window=window)
    np.testing.assert_allclose(y, want, rtol=2e-5, atol=2e-6)
    for got, exp in zip(mine, theirs, strict=True):  # the step's keys/values (int8: quantized) stored in place
        np.testing.assert_array_equal(got, exp)
    assert any(not np.array_equal(a, b) for a, b in zip(mine, caches, strict=True))
    assert np.array_equal(mine[0][0], caches[0][0])  # other layers untouched


def test_kv_attention_int8_scales_edge_cases():
    """Key groups that are 0, below f16's smallest scale, or beyond its largest: the cache bytes (scales as f16
    bits, saturated integers) equal the reference's."""
    rng = np.random.default_rng(3)
    q = rng.standard_normal((B, H, 4, D), np.float32)
    k = rng.standard_normal((B, HKV, 4, D), np.float32)
    v = rng.standard_normal((B, HKV, 4, D), np.float32)
    k[0, 0, :, :16] = 0  # a zero group: scale 1
    k[0, 1, :, 16:32] *= 1e-6  # scale under f16's smallest subnormal: 0, then 1
    k[1, 0, :, 16:32] *= 1e7  # scale over f16's largest: clamped to 65504, integers saturate
    v[1, 1, :, :] *= 3e-5  # a value row with a subnormal f16 scale
    pos = np.array([2, 30], np.int64)
    caches = _caches(True, rng)
    mine, theirs = [c.copy() for c in caches], [c.copy() for c in caches]
    y = jit_from_text(_module(4, True, 0, layer=0))(q, k, v, *mine, pos)[0]
    ref.kv_attention_int8(q, k, v, *theirs, pos, layer=0, scale=0.17677669529663687, window=0)
    for got, exp in zip(mine, theirs, strict=True):
        np.testing.assert_array_equal(got, exp)
    ks = theirs[2].view(np.float16)
    assert ks[0, 0, 0, 0, 2] == 1  # [L, B, Hkv, D / 16, S]
    assert ks[0, 0, 1, 1, 2] == 1
    assert ks[0, 1, 0, 1, 30] == 65504
    assert np.isfinite(y).all()


def test_kv_attention_rejects_bad_shapes():
    from qcomp.dialects import new_context
    from qcomp.dialects._mlir import ir

    text = _module(1, False, 0, layer=5)  # layer out of range for 2 cache layers
    with pytest.raises(ir.MLIRError, match="'layer' 5 out of range"):
        ir.Module.parse(text, new_context())
