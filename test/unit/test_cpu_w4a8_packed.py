"""Packed int4 weights in the W4A8 VNNI kernel (`int4_panels`): W4A8 qc.qlinear weights are stored two per
byte (half the bytes) and the outputs stay bit-identical to the i8-stored build and to the numpy reference,
on AVX512-VNNI and on the AVX2 fallback."""

import numpy as np
import pytest
import qcomp
from qcomp import targets
from qcomp.dialects import new_context
from qcomp.dialects import reference as ref
from qcomp.dialects._mlir import ir
from qcomp.examples.models import BUILTIN
from qcomp.recipes import Recipe
from qcomp.targets.cpu.gemm_ops import PACK_I4, PACK_I8, pack_array, qlinear
from qcomp.targets.cpu.int4_panels import fits_int4
from qcomp.targets.cpu.jit import JitFunction
from qcomp.targets.cpu.kernels import ISAS, host_isa
from qcomp.targets.cpu.linalg_text import Fn, T
from qcomp.targets.cpu.lower_qc import LowerToLinalgPass
from qcomp.targets.cpu.pack_weights import PackWeightsPass
from qcomp.targets.cpu.target import CpuTarget

W4A8 = Recipe("w4a8-rtn", 1, "qc-quantize{wbits=4,abits=8,granularity=per_token},canonicalize")
ISAS_HERE = [isa for isa in ("avx512-vnni", "avx2") if isa in ISAS[ISAS.index(host_isa()) :]]


class _I8StoredTarget(CpuTarget):
    """The CPU target with the int4 packing off: every W4A8 weight stays one value per byte."""

    def pipeline(self) -> str:
        return super().pipeline() + ",qc-cpu-pack-weights{int4=false}"


def _int8_weights(cm) -> list[np.ndarray]:
    return [w for w in cm.artifact.fn.weights if w.dtype == np.int8]


def test_pack_layout_nibbles_and_range_check():
    rng = np.random.default_rng(0)
    w = rng.integers(-8, 8, (32, 16)).astype(np.int8)
    w[0, :8] = np.arange(-8, 0)  # both ends of the int4 range
    w[1, :8] = np.arange(0, 8)
    p, q = pack_array(w, PACK_I4), pack_array(w, PACK_I8)
    assert p.shape == (1, 2, 128)
    assert p.nbytes * 2 == q.nbytes
    u = p.view(np.uint8).astype(np.int16)
    assert np.array_equal((u & 15) - 8, q[:, 0::2])  # k-quad 2j in the low nibble
    assert np.array_equal((u >> 4) - 8, q[:, 1::2])  # k-quad 2j + 1 in the high nibble
    assert fits_int4(w)
    assert not fits_int4(np.where(w == 7, np.int8(8), w))  # 8 is out of range
    assert not fits_int4(np.where(w == -8, np.int8(-9), w))
    assert not fits_int4(w[:, :12])  # K not a multiple of 8


@pytest.mark.parametrize("name", ["tiny-llama", "mlp"])
def test_w4a8_model_packed_int4_bit_identical(name):
    model, inputs = BUILTIN[name]()
    i8 = qcomp.compile(model, inputs, target=_I8StoredTarget(targets.get("cpu").options), recipe=W4A8)
    want = i8(*inputs).numpy()
    w8 = _int8_weights(i8)
    assert w8
    assert all(w.min() >= -8 and w.max() <= 7 for w in w8)  # int4 values stored one per byte
    for isa in ISAS_HERE:
        cm = qcomp.compile(model, inputs, target=targets.get("cpu", isa=isa), recipe=W4A8)
        assert "_packed_i4" in cm.stages["llvm"]  # the int4 kernels are called
        w4 = _int8_weights(cm)
        assert sum(w.nbytes for w in w4) * 2 == sum(w.nbytes for w in w8)  # every int8 weight at half the bytes
        assert np.array_equal(cm(*inputs).numpy(), want), isa


def _qlinear_module(w: np.ndarray, m: int) -> str:
    n, k = w.shape
    rows = ", ".join("[" + ", ".join(str(int(v)) for v in r) + "]" for r in w)
    x, xs, vec, y = f"tensor<{m}x{k}xi8>", f"tensor<{m}x1xf32>", f"tensor<{n}xf32>", f"tensor<{m}x{n}xf32>"
    return (
        f"func.func @main(%x: {x}, %xs: {xs}, %ws: {vec}, %b: {vec}) -> {y} {{\n"
        f"  %w = arith.constant dense<[{rows}]> : tensor<{n}x{k}xi8>\n"
        f'  %y = "qc.qlinear"(%x, %xs, %w, %ws, %b) {{act = "none", qc.precision = "w4a8"}} : '
        f"({x}, {xs}, tensor<{n}x{k}xi8>, {vec}, {vec}) -> {y}\n  return %y : {y}\n}}\n"
    )


def _build(text: str, int4: bool, isa: str) -> JitFunction:
    with new_context(), ir.Location.unknown():
        module = ir.Module.parse(text)
        LowerToLinalgPass().run(module)
        PackWeightsPass(int4=int4).run(module)
        return JitFunction(module, isa=isa)


@pytest.mark.parametrize("isa", ISAS_HERE)
@pytest.mark.parametrize(("m", "k", "n"), [(1, 72, 48), (13, 200, 96), (130, 576, 160), (3, 12, 16)])
def test_qlinear_int4_kernel_matches_reference_exactly(isa, m, k, n):
    # extremes: A = -128 and 127 rows, weight values -8 and 7 (the nibbles 0 and 15); K = 72, 200 (not a
    # multiple of 64: A's row sums 8 bytes at a time); K = 12 keeps the i8 layout
    rng = np.random.default_rng(m * k + n)
    w = rng.integers(-8, 8, (n, k)).astype(np.int8)
    w[0], w[-1] = -8, 7
    x = rng.integers(-128, 128, (m, k)).astype(np.int8)
    x[0] = -128
    x[-1] = 127 if m > 1 else x[-1]
    xs = np.abs(rng.standard_normal((m, 1))).astype(np.float32) * 0.01
    ws, b = np.abs(rng.standard_normal(n)).astype(np.float32) * 0.01, rng.standard_normal(n).astype(np.float32)
    want = ref.qlinear(x, xs, w, ws, b)
    text = _qlinear_module(w, m)
    f4, f8 = _build(text, True, isa), _build(text, False, isa)
    packs = k % 8 == 0
    assert ("_packed_i4" in f4.llvm_text) == packs
    assert "_packed_i4" not in f8.llvm_text
    if packs:
        assert [a.nbytes for a in f4.weights] == [w.nbytes // 2]
    (got,) = f4(x, xs, ws, b)
    assert np.array_equal(got, want)
    assert np.array_equal(got, f8(x, xs, ws, b)[0])


@pytest.mark.parametrize(
    ("precision", "k", "twin"), [("w4a8", 64, True), (None, 64, True), ("w8a8", 64, False), ("w4a8", 60, False)]
)
def test_int4_twin_only_for_w4_precision_and_k_multiple_of_8(precision, k, twin):
    args = [T((5, k), "i8"), T((5, 1), "f32"), T((32, k), "i8"), T((32,), "f32"), T((32,), "f32")]
    fn = Fn("__qc_qlinear_0", args, [T((5, 32), "f32")])
    assert qlinear(fn, (["%f = arith.sitofp %a0 : i32 to f32"], "%f"), precision=precision)
    assert ("qc.packed_int4" in fn.attrs) == twin
    assert fn.attrs["qc.pack"] == f'"{PACK_I8}"'  # the per-call copy always packs the i8 layout
