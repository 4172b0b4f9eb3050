"""qc-gptq: GPTQ beats round-to-nearest on a layer's output, stays on qc-quantize's integer grid, and gets
its Hessian from streamed calibration (kept true through the outlier passes' input transformations)."""

import numpy as np
import pytest
import torch
from qcomp.dialects import new_context
from qcomp.dialects import reference as ref
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import ops_named
from qcomp.dialects.weights import constant_array
from qcomp.passes import act_stats
from qcomp.passes.awq import fake_quant_grouped
from qcomp.passes.gptq import GptqPass, gptq_quantize, hessian_of
from qcomp.pipeline import Pipeline

N, K, ROWS = 32, 128, 512


def _layer(seed: int = 0):
    """A random layer whose inputs are correlated (a random mixing) with uneven channel magnitudes."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((K, K)).astype(np.float32) / np.sqrt(K)
    x = rng.standard_normal((ROWS, K)).astype(np.float32) @ mix + 0.2 * rng.standard_normal((ROWS, K)).astype(
        np.float32
    )
    x *= np.exp(0.7 * rng.standard_normal(K)).astype(np.float32)
    return x, rng.standard_normal((N, K)).astype(np.float32)


def _deq(q, ranges, bits, group):
    return ref.dequantize_weight(q, ref.symmetric_scale(ranges, bits), bits=8, group=group, k=q.shape[1])


@pytest.mark.parametrize(
    ("group", "opts"),
    [(64, {}), (64, {"act_order": True, "static_groups": True}), (0, {}), (0, {"act_order": True}), (32, {})],
)
def test_output_error_below_round_to_nearest(group, opts):
    x, w = _layer()
    q, ranges = gptq_quantize(w, hessian_of(x), bits=4, group=group or K, block=64, **opts)
    err = np.linalg.norm(x @ w.T - x @ _deq(q, ranges, 4, group or K).T)
    rtn = np.linalg.norm(x @ w.T - x @ fake_quant_grouped(w, 4, group).T)
    assert err < 0.85 * rtn  # typically 0.6-0.8 x on this layer


def test_act_order_needs_static_groups():
    with pytest.raises(QcompError, match="static_groups=true"):
        GptqPass(group=128, act_order=True)
    GptqPass(group=0, act_order=True)  # per output channel: one contiguous group anyway


def _module(x: np.ndarray, w: np.ndarray, with_hessian: bool):
    n, k = w.shape
    text = f"""
func.func @main(%x: tensor<4x{k}xf32>) -> tensor<4x{n}xf32> {{
  %w = arith.constant dense<0.0> : tensor<{n}x{k}xf32>
  %b = arith.constant dense<0.0> : tensor<{n}xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x{k}xf32>, tensor<{n}x{k}xf32>, tensor<{n}xf32>) -> tensor<4x{n}xf32>
  return %y : tensor<4x{n}xf32>
}}"""
    module = ir.Module.parse(text)
    (op,) = ops_named(module, "qc.linear")
    from qcomp.passes.channel_fold import set_constant

    set_constant(op, 1, w)
    h = hessian_of(x).astype(np.float32) if with_hessian else None
    act_stats.write(op, act_stats.ActStats(np.abs(x).max(0), np.abs(x).mean(0), x[:256], h), rescale=False)
    return module


@pytest.mark.parametrize(
    ("gptq", "quantize", "group", "wlinear"),
    [
        ("qc-gptq{wbits=4,group=32,act_order=true,static_groups=true}", "{wbits=4,abits=16,group=32}", 32, True),
        ("qc-gptq{wbits=3,group=64}", "{wbits=3,abits=16,group=64}", 64, True),
        ("qc-gptq{wbits=4,group=0,act_order=true}", "{wbits=4,abits=8}", K, False),
    ],
)
def test_weights_stay_on_the_reference_grid(gptq, quantize, group, wlinear):
    """qc-quantize after qc-gptq stores exactly GPTQ's integers and scales (weight-only and w4a8)."""
    x, w = _layer(1)
    p = GptqPass(**{k: v == "true" if v in ("true", "false") else int(v) for k, v in _opts(gptq).items()})
    bits = p.wbits
    want_q, ranges = gptq_quantize(  # the pass reads the f32 Hessian calibration attaches
        w,
        hessian_of(x).astype(np.float32),
        bits=bits,
        group=group,
        act_order=p.act_order,
        static_groups=p.static_groups,
    )
    with new_context(), ir.Location.unknown():
        module = _module(x, w, with_hessian=True)
        Pipeline.parse(f"{gptq},qc-quantize{quantize}").run(module)
        (op,) = ops_named(module, "qc.wlinear" if wlinear else "qc.qlinear")
        if wlinear:
            wq, ws = constant_array(op.operands[1]), constant_array(op.operands[2])
            got = ref.unpack_int4(wq, K) if bits <= 4 else wq
        else:
            got, ws = constant_array(op.operands[2]), constant_array(op.operands[3])
    np.testing.assert_array_equal(got, want_q)
    np.testing.assert_array_equal(ws.reshape(ranges.shape), ref.symmetric_scale(ranges, bits))
    assert np.abs(want_q).max() <= ref.qmax(bits)


def _opts(spec: str) -> dict:
    body = spec.partition("{")[2].rstrip("}")
    return dict(kv.split("=") for kv in body.split(",") if kv)


def test_sample_hessian_when_none_was_streamed():
    """Without qc.act_hessian the pass builds H from the row sample: the same as passing that H."""
    x, w = _layer(2)
    with new_context(), ir.Location.unknown():
        module = _module(x, w, with_hessian=False)
        Pipeline.parse("qc-gptq{wbits=4,group=64}").run(module)
        got = constant_array(ops_named(module, "qc.linear")[0].operands[1])
    q, ranges = gptq_quantize(w, hessian_of(x[:256]), bits=4, group=64)
    np.testing.assert_allclose(got, _deq(q, ranges, 4, 64), rtol=1e-5, atol=1e-6)  # BLAS summation order


def test_no_hessian_nor_sample_is_one_clear_error():
    """A layer calibrated with max|x| only (no Hessian, no row sample): an error naming the missing statistics."""
    x, w = _layer(3)
    with new_context(), ir.Location.unknown():
        module = _module(x, w, with_hessian=False)
        (op,) = ops_named(module, "qc.linear")
        act_stats.write(op, act_stats.ActStats(np.abs(x).max(0)), rescale=False)
        with pytest.raises(QcompError, match=r"qc-gptq needs the layer's input Hessian .* or activation samples"):
            Pipeline.parse("qc-gptq{wbits=4,group=64}").run(module)


def test_hessian_follows_input_transformations():
    """Scaling, permutation, selection and rotation of x map H = 2XᵀX/rows like the sample they map."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 8)).astype(np.float32)
    st = act_stats.ActStats(np.abs(x).max(0), np.abs(x).mean(0), x, hessian_of(x).astype(np.float32))
    s = rng.uniform(0.5, 2, 8).astype(np.float32)
    q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    q = q.astype(np.float32)
    for fn, bound in (
        (lambda a: a / s, None),
        (lambda a: a[..., ::-1], None),
        (lambda a: a[..., :5], None),
        (lambda a: a @ q, lambda a: np.abs(a) @ np.abs(q)),
    ):
        m = st.map(fn, bound=bound)
        np.testing.assert_allclose(m.hessian, hessian_of(m.sample), rtol=1e-4, atol=1e-5)


def test_calibration_streams_the_hessian_over_all_rows(tmp_path):
    """calibrate(hessian=True): per linear input 2·XᵀX / rows over every calibration row (not just the
    kept sample); saved beside the table and read back; attached as qc.act_hessian."""
    from qcomp.calibrate import CalibrationTable, attach, calibrate, hessians_path

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)).eval()
    samples = [(torch.randn(7, 6),) for _ in range(3)]
    table = calibrate(model, samples, hessian=True)
    x = torch.cat([s[0] for s in samples]).numpy().astype(np.float64)
    np.testing.assert_allclose(table.ops[0].hessian, 2 * x.T @ x / len(x), rtol=1e-5)
    with torch.no_grad():
        x1 = torch.relu(model[0](torch.cat([s[0] for s in samples]))).numpy().astype(np.float64)
    np.testing.assert_allclose(table.ops[1].hessian, 2 * x1.T @ x1 / len(x1), rtol=1e-5, atol=1e-6)
    table.save(tmp_path / "t.json")
    assert (tmp_path / "t.hessians.npz").exists()
    assert hessians_path(tmp_path / "t.json") == str(tmp_path / "t.hessians.npz")
    back = CalibrationTable.load(tmp_path / "t.json")
    np.testing.assert_array_equal(back.ops[1].hessian, table.ops[1].hessian)
    from qcomp.frontend import import_torch

    module = import_torch(model, samples[0])
    Pipeline.parse("qc-raise-norms,qc-from-torch").run(module)
    attach(module, back)
    st = act_stats.read(ops_named(module, "qc.linear")[1])
    np.testing.assert_array_equal(st.hessian, table.ops[1].hessian)
