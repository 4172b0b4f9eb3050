"""qc.wlinear_asym on constant weights: codes, scales and zero points packed at compile time and dequantized one
panel at a time inside the f32 GEMM kernel (targets/cpu/asym_panels.py), bit-exact against the reference's
dequantization and identical to the per-call route, on static and dynamic row counts."""

import sys
from pathlib import Path

import numpy as np
import pytest
from qcomp.dialects import reference_asym as ra

sys.path.insert(0, str(Path(__file__).parent))
from qcomp.targets.cpu.jit import jit_from_text
from test_cpu_lowering import module_text, ttype

F32 = np.float32


def _const(name: str, a: np.ndarray) -> str:
    fmt = (lambda v: str(int(v))) if a.dtype == np.int8 else (lambda v: f"{float(v):.9e}")
    rows = ", ".join("[" + ", ".join(fmt(v) for v in r) + "]" for r in a)
    return f"  {name} = arith.constant dense<[{rows}]> : {ttype(a)}\n"


def _constant_module(wq, s, z, xtype: str, n: int, bits: int, group: int, rows: str) -> str:
    """@main(x, b) with the codes, scales and zero points as constants; rows: the result's leading dims."""
    out = f"tensor<{rows}x{n}xf32>"
    return (
        f"func.func @main(%x: {xtype}, %b: tensor<{n}xf32>) -> {out} {{\n"
        + _const("%wq", wq)
        + _const("%s", s)
        + _const("%z", z)
        + f'  %y = "qc.wlinear_asym"(%x, %wq, %s, %z, %b) {{bits = {bits} : i64, group = {group} : i64}} : '
        f"({xtype}, {ttype(wq)}, {ttype(s)}, {ttype(z)}, tensor<{n}xf32>) -> {out}\n"
        f"  return %y : {out}\n}}\n"
    )


def _weights(bits: int, group: int, n: int, k: int):
    rng = np.random.default_rng(bits * 7 + n + k)
    # per-row offsets make the groups one-sided: zero points spread over the whole code range
    w = (rng.standard_normal((n, k)) + rng.uniform(-2, 2, (n, 1))).astype(F32)
    return ra.quantize_weight_grouped_asym(w, bits=bits, group=group)


@pytest.mark.parametrize(
    ("bits", "group", "n", "k", "m"),
    [(4, 32, 128, 128, 13), (4, 128, 48, 176, 1), (8, 16, 48, 64, 7), (3, 2, 16, 134, 3), (2, 8, 64, 40, 5)],
)
def test_packed_asym_bit_exact_and_equal_to_the_per_call_route(bits, group, n, k, m):
    wq, s, z = _weights(bits, group, n, k)
    if bits == 8:
        assert (z.view(np.uint8) > 127).any()  # zero points read as unsigned bytes
    # x = I: each output is one f32(q - z) · scale (exact zeros elsewhere): the dequantized weight, bit for bit
    eye = np.eye(k, dtype=F32)
    fn = jit_from_text(_constant_module(wq, s, z, ttype(eye), n, bits, group, str(k)))
    codes = [w for w in fn.weights if w.dtype == np.int8 and w.size == wq.size]
    nr = {128: 64, 64: 64, 48: 48, 16: 16}[n]  # panel width: 16 · the most vectors (<= 4) dividing N
    assert (n // nr, wq.shape[1], nr) in [w.shape for w in codes]  # the codes packed in panels
    assert all(w.ndim == 3 for w in codes)  # no unpacked [N, K'] copy left
    (got,) = fn(eye, np.zeros(n, F32))
    assert np.array_equal(got, ra.dequantize_weight_asym(wq, s, z, bits=bits, group=group, k=k).T)
    # random x: identical to the per-call route (same dequantized weight, same kernel, same sums)
    rng = np.random.default_rng(m)
    x, b = rng.standard_normal((m, k)).astype(F32), rng.standard_normal(n).astype(F32)
    want = ra.wlinear_asym(x, wq, s, z, b, bits=bits, group=group)
    plain = jit_from_text(module_text("wlinear_asym", [x, wq, s, z, b], [want], {"bits": bits, "group": group}))
    (per_call,) = plain(x, wq, s, z, b)
    fn = jit_from_text(_constant_module(wq, s, z, ttype(x), n, bits, group, str(m)))
    (got,) = fn(x, b)
    assert np.array_equal(got, per_call)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_packed_asym_dynamic_rows_equal_static_builds():
    # w4a16-asym on an MLP: constant weights (the packed kernel), one build for batch 1..32; each batch equals a
    # static build of that size bit for bit, and PyTorch within the 4-bit weights' error (about 11% of the
    # output range on this MLP at g128, measured; bound 20%)
    import qcomp
    import torch
    from qcomp.examples.models import mlp
    from torch.export import Dim

    model, (x,) = mlp()
    dyn = qcomp.compile(model, (x,), recipe="w4a16-asym", dynamic_shapes={"x": {0: Dim("batch", min=1, max=32)}})
    for m in (1, 5, 13):
        xs = torch.randn(m, x.shape[1], generator=torch.Generator().manual_seed(m))
        got = dyn(xs)
        want = qcomp.compile(model, (xs,), recipe="w4a16-asym")(xs)
        assert torch.equal(got, want), f"batch {m}: max diff {float((got - want).abs().max())}"
        with torch.no_grad():
            ref = model(xs)
        assert float((got - ref).abs().max()) < 0.2 * float(ref.abs().max())
