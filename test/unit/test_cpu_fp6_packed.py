"""Constant fp6 weights of qc.fp_wlinear stored four codes in three bytes by the CPU target (`fp6_panels`) and
decoded inside the kernel: the compiled weight holds 0.75 byte per weight (K padded to whole quads), and x = I
gives back `formats.dequantize_weight` bit for bit (every code in every place of a quad, per-channel f32 scales,
MX e8m0 blocks of 32, K not a multiple of 4, N not a multiple of 16, dynamic rows)."""

import numpy as np
import pytest
from qcomp.dialects import formats as F
from qcomp.targets.cpu import fp6_panels
from qcomp.targets.cpu.jit import jit_from_text

ALL_CODES = np.arange(64, dtype=np.uint8)  # fp6 has no inf or NaN: every code is a finite value


def _dense(a: np.ndarray) -> str:
    text = np.array2string(a, separator=", ", threshold=1 << 22, max_line_width=1 << 20, floatmode="unique")
    return f"dense<{text}>"


def _module(name: str, wq: np.ndarray, s: np.ndarray, group: int, rows: str) -> str:
    n, k = wq.shape
    st = f"tensor<{n}x{s.shape[1]}x{'i8' if s.dtype == np.int8 else 'f32'}>"
    xt, yt, wt = f"tensor<{rows}x{k}xf32>", f"tensor<{rows}x{n}xf32>", f"tensor<{n}x{k}xi8>"
    return (
        f"func.func @main(%x: {xt}) -> {yt} {{\n"
        f"  %w = arith.constant {_dense(wq)} : {wt}\n"
        f"  %s = arith.constant {_dense(s)} : {st}\n"
        f"  %b = arith.constant dense<0.0> : tensor<{n}xf32>\n"
        f'  %y = "qc.fp_wlinear"(%x, %w, %s, %b) {{format = "{name}", group = {group} : i64}} : '
        f"({xt}, {wt}, {st}, tensor<{n}xf32>) -> {yt}\n  return %y : {yt}\n}}\n"
    )


def _codes(n: int, k: int, rng) -> np.ndarray:
    """Every code at every k mod 4 of some row, in random places."""
    c = np.resize(ALL_CODES, n * k).reshape(n, k)
    return rng.permuted(c, axis=1)


def _scales(qf: F.QFormat, n: int, k: int, group: int, rng) -> np.ndarray:
    g = -(-k // group)
    if qf.scale == "e8m0":  # 1-byte codes, as qc-quantize-float stores MX scales: 2^-20 .. 2^20
        return (rng.integers(-20, 21, (n, g)) + 127).astype(np.uint8).view(np.int8)
    return (rng.standard_normal((n, g)) * 3).astype(np.float32)  # any f32: the product rounds


CASES = [
    ("fp6_e3m2", 32, 64),
    ("fp6_e2m3", 48, 70),  # K mod 4 = 2: a partial last quad
    ("mxfp6_e3m2", 32, 131),  # K mod 4 = 3, a partial last block
    ("mxfp6_e2m3", 64, 96),
    ("e3m2:f32:6", 32, 45),  # groups of 6: the four codes of a quad in two groups
    ("fp6_e3m2", 24, 129),  # N not a multiple of 16: the packed rows, plain loops
    ("mxfp6_e2m3", 40, 66),
]


@pytest.mark.parametrize(("name", "n", "k"), CASES)
def test_constant_fp6_weights_are_packed_and_decode_bit_exactly(name, n, k):
    qf = F.parse(name)
    group = qf.group(k)
    rng = np.random.default_rng(n + k)
    codes = _codes(n, k, rng)
    s = _scales(qf, n, k, group, rng)
    fn = jit_from_text(_module(name, codes.view(np.int8), s, group, str(k)))
    sizes = sorted(w.nbytes for w in fn.weights if w.dtype == np.int8)
    assert 3 * -(-k // 4) * n in sizes  # four codes in three bytes per row ...
    assert n * k not in sizes  # ... and no copy one code per byte
    (got,) = fn(np.eye(k, dtype=np.float32))
    want = F.dequantize_weight(codes.view(np.int8), F.stored_scales(s, qf), elem=qf.elem, group=group, k=k)
    np.testing.assert_array_equal(got, want.T)


@pytest.mark.parametrize("name", ["fp6_e2m3", "mxfp6_e3m2"])
def test_compiled_fp6_linear_is_packed_reported_and_exact_on_dynamic_rows(name):
    """qcomp.compile with qc-quantize-float: the artifact holds the codes in 0.75 byte each, the report counts
    them so (weights_bytes, avg_wbits), and one build for 1..32 rows gives, for x = rows of I, the reference's
    x · dequantize(quantize_weight(W))ᵀ + b bit for bit."""
    import qcomp
    import torch
    from qcomp.recipes import Recipe
    from torch.export import Dim

    n, k = 32, 70
    qf, group = F.parse(name), F.parse(name).group(k)
    torch.manual_seed(0)
    layer = torch.nn.Linear(k, n).eval()
    recipe = Recipe(name, 1, f"qc-quantize-float{{wformat={name}}},canonicalize")
    x0 = torch.zeros(4, k)
    cm = qcomp.compile(layer, (x0,), recipe=recipe, dynamic_shapes={"input": {0: Dim("batch", min=1, max=32)}})
    packed = 3 * -(-k // 4) * n  # 18 quads of three bytes per row
    assert packed in [w.nbytes for w in cm.artifact.fn.weights]
    assert n * k not in [w.nbytes for w in cm.artifact.fn.weights]
    w = layer.weight.detach().numpy()
    b = layer.bias.detach().numpy()
    wq, s = F.quantize_weight(w, qf)
    scale_bytes = 4 * s.size if qf.scale == "f32" else s.size  # MX: one e8m0 code per block
    sizes = cm.report["sizes"]
    assert sizes["weights_bytes"] == packed + scale_bytes + 4 * n
    assert sizes["avg_wbits"] == pytest.approx(8 * (packed + scale_bytes) / (n * k))
    eye = np.eye(k, dtype=np.float32)
    for rows in (1, 5, 13, 32):
        got = cm(torch.from_numpy(eye[:rows])).numpy()
        want = F.fp_wlinear(eye[:rows], wq, s, b, format=name, group=group)
        np.testing.assert_array_equal(got, want)
    x = np.random.default_rng(3).standard_normal((7, k)).astype(np.float32)
    got = cm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, F.fp_wlinear(x, wq, s, b, format=name, group=group), rtol=1e-5, atol=1e-5)


def test_fp6_panels_hold_pack_fp6_rows():
    """The panel layout is `formats.pack_fp6`'s rows, NR columns at a time: each panel row is one byte of a quad."""
    rng = np.random.default_rng(5)
    codes = _codes(32, 10, rng)
    panels = fp6_panels.pack(codes.view(np.int8), fp6_panels.PACK_FP6, 16)
    assert panels.shape == (2, 9, 16)
    rows = F.pack_fp6(codes)
    for n in range(32):
        assert np.array_equal(panels[n // 16, :, n % 16].view(np.uint8), rows[n])
    assert np.array_equal(F.unpack_fp6(rows, 10), codes)
