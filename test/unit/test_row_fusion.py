"""Row fusion (`targets/cpu/row_fusion.py`) and the fused norm + quantize ops: a norm, softmax or per-token
quantization runs as one loop over rows, with results bit-identical to the step-by-step lowering; the fused
qc.rms_norm_quantize / qc.layer_norm_quantize equal the two-op chain bit for bit and the reference within
one quantization step."""

import re

import numpy as np
import pytest
from qcomp.dialects import new_context
from qcomp.dialects._mlir import ir
from qcomp.targets.cpu.jit import JitFunction, jit_from_text
from qcomp.targets.cpu.linalg_text import CodegenOptions, Fn, T, codegen_options
from qcomp.targets.cpu.lower_qc import LOWERINGS, LowerToLinalgPass
from test_cpu_lowering import assert_close, module_text, run_both, tricky

F32 = np.float32

CASES = [
    ("rms_norm", lambda rng: [tricky(rng, (2, 5, 64), 0.05), rng.uniform(0.5, 2, 64).astype(F32)], {"eps": 1e-6}),
    (
        "layer_norm",
        lambda rng: [tricky(rng, (7, 48), 0.05), rng.uniform(0.5, 2, 48).astype(F32), rng.normal(0, 1, 48).astype(F32)],
        {"eps": 1e-5},
    ),
    ("softmax", lambda rng: [rng.normal(0, 4, (3, 4, 32)).astype(F32)], {"axis": -1}),
    ("quantize_dynamic", lambda rng: [tricky(rng, (9, 32), 0.02)], {"bits": 8, "granularity": "per_token"}),
    (
        "rms_norm_quantize",
        lambda rng: [rng.normal(0, 3, (2, 6, 64)).astype(F32), np.full(64, 1.5, F32)],
        {"eps": 1e-6, "bits": 8},
    ),
    (
        "layer_norm_quantize",
        lambda rng: [rng.normal(0, 3, (5, 32)).astype(F32), rng.uniform(0.5, 2, 32).astype(F32), np.zeros(32, F32)],
        {"eps": 1e-5, "bits": 4},
    ),
]


def _mask(rng, shape) -> np.ndarray:
    m = np.where(rng.random(shape) < 0.3, -np.inf, 0).astype(F32)
    m[..., 0, :] = -np.inf  # a fully masked row
    return m


CASES += [
    (
        "masked_softmax",
        lambda rng: [rng.normal(0, 3, (2, 3, 8, 32)).astype(F32), _mask(rng, (1, 1, 8, 32))],
        {"masked_rows": "zero"},
    ),
    (
        "masked_softmax",
        lambda rng: [rng.normal(0, 3, (1, 2, 4, 16)).astype(F32), np.zeros((1, 1, 1, 16), F32)],
        {"masked_rows": "nan"},
    ),
]


def _row_loops(op: str, inputs: list[np.ndarray], attrs: dict, row_fusion: bool = True) -> int:
    with codegen_options(CodegenOptions(row_fusion=row_fusion)):  # what qc-lower-to-linalg{row_fusion=...} sets
        fn = Fn("f", [T(a.shape, "f32") for a in inputs], [])
    LOWERINGS[op](fn, attrs)
    return sum(bool(re.match(r"\s*scf\.(for|parallel)\s*\(?%rows", line)) for line in fn.lines)


def _run_without_row_fusion(op: str, inputs: list[np.ndarray], want: list[np.ndarray], attrs: dict) -> list:
    """The JIT results of qc.<op> lowered by qc-lower-to-linalg{row_fusion=false}."""
    with new_context(), ir.Location.unknown():
        module = ir.Module.parse(module_text(op, inputs, want, attrs))
        LowerToLinalgPass(row_fusion=False).run(module)
        return JitFunction(module)(*inputs)


@pytest.mark.parametrize(("op", "make", "attrs"), CASES, ids=[c[0] for c in CASES])
def test_row_fused_equals_step_by_step(op, make, attrs):
    inputs = make(np.random.default_rng(3))
    want, fused = run_both(op, inputs, **attrs)
    assert _row_loops(op, inputs, attrs) == 1  # every step in one loop over rows
    assert _row_loops(op, inputs, attrs, row_fusion=False) == 0
    steps = _run_without_row_fusion(op, inputs, want, attrs)
    for a, b in zip(fused, steps, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("norm", ["rms_norm", "layer_norm"])
def test_norm_quantize_equals_the_two_op_chain(norm):
    rng = np.random.default_rng(11)
    x = (rng.normal(0, 2, (3, 8, 64)) * rng.uniform(0.1, 30, 64)).astype(F32)  # outlier channels
    g, b = rng.uniform(0.5, 2, 64).astype(F32), rng.normal(0, 0.5, 64).astype(F32)
    params = [g] if norm == "rms_norm" else [g, b]
    eps = {"eps": 1e-5}
    xt, vt, qt, st = "tensor<3x8x64xf32>", "tensor<64xf32>", "tensor<3x8x64xi8>", "tensor<3x8x1xf32>"
    pargs = ", ".join(f"%p{i}: {vt}" for i in range(len(params)))
    pnames = ", ".join(f"%p{i}" for i in range(len(params)))
    chain = jit_from_text(
        f"func.func @main(%x: {xt}, {pargs}) -> ({qt}, {st}) {{\n"
        f'  %n = "qc.{norm}"(%x, {pnames}) {{eps = 1.0e-05 : f64}} : ({xt}, {", ".join([vt] * len(params))}) -> {xt}\n'
        f'  %q:2 = "qc.quantize_dynamic"(%n) {{bits = 8 : i64, granularity = "per_token"}} : ({xt}) -> ({qt}, {st})\n'
        f"  return %q#0, %q#1 : {qt}, {st}\n}}\n"
    )(x, *params)
    want, got = run_both(f"{norm}_quantize", [x, *params], **eps, bits=8)
    assert np.array_equal(got[0], chain[0])
    assert np.array_equal(got[1], chain[1])
    # against numpy (another summation order): the same scales to 1e-6, q within one step
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
    assert np.abs(got[0].astype(np.int32) - want[0]).max() <= 1


def test_fused_op_text_is_one_call_per_norm():
    x = np.zeros((4, 32), F32)
    text = module_text("rms_norm_quantize", [x, x[0]], [x.astype(np.int8), x[:, :1]], {"eps": 1e-6, "bits": 8})
    fn = jit_from_text(text)
    q, s = fn(np.zeros((4, 32), F32), np.ones(32, F32))
    assert not q.any()
    assert np.array_equal(s, np.ones((4, 1), F32))  # all-zero rows: scale 1, q 0


@pytest.mark.parametrize(("shape", "mshape"), [((1, 3, 16, 32), (1, 1, 16, 32)), ((2, 2, 5, 7), (1, 1, 5, 7))])
def test_masked_softmax_matches_reference_and_zeroes_fully_masked_rows(shape, mshape):
    rng = np.random.default_rng(5)
    x, m = rng.normal(0, 4, shape).astype(F32), _mask(rng, mshape)
    want, got = run_both("masked_softmax", [x, m], masked_rows="zero")
    assert_close(want, got)
    assert not got[0][..., 0, :].any()  # every score of query 0 is masked: 0, not NaN
    _, nan = run_both("masked_softmax", [x, m], masked_rows="nan")
    assert np.isnan(nan[0][..., 0, :]).all()
    assert np.array_equal(nan[0][..., 1:, :], got[0][..., 1:, :])
