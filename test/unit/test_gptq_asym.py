"""qc-gptq{sym=false}: GPTQ onto asymmetric weights (zero points) beats asymmetric round-to-nearest and lands
exactly on the codes, scales and zero points that qc-quantize{sym=false} stores."""

import sys
from pathlib import Path

import numpy as np
import pytest
from qcomp.dialects import new_context
from qcomp.dialects import reference as ref
from qcomp.dialects import reference_asym as ra
from qcomp.dialects._mlir import ir
from qcomp.dialects.irutil import ops_named
from qcomp.dialects.weights import constant_array
from qcomp.passes.gptq import gptq_quantize, hessian_of
from qcomp.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).parent))
from test_gptq import K, _layer, _module


def _deq_asym(q, ranges, bits, group):
    s, z = ra.asymmetric_params(ranges[..., 0], ranges[..., 1], bits)
    k = q.shape[1]
    return (q - ra.expand_groups(z, group, k).astype(np.float32)) * ra.expand_groups(s, group, k)


@pytest.mark.parametrize(("bits", "group", "opts"), [(4, 64, {}), (4, 32, {"act_order": True, "static_groups": True})])
def test_output_error_below_asymmetric_round_to_nearest(bits, group, opts):
    x, w = _layer()
    w = w + 0.5  # a one-sided offset: where zero points pay
    q, ranges = gptq_quantize(w, hessian_of(x), bits=bits, group=group, block=64, sym=False, **opts)
    assert ranges.shape == (w.shape[0], K // group, 2)
    assert q.min() >= 0
    assert q.max() <= ra.umax(bits)
    err = np.linalg.norm(x @ w.T - x @ _deq_asym(q, ranges, bits, group).T)
    wq, s, z = ra.quantize_weight_grouped_asym(w, bits=bits, group=group)
    rtn = np.linalg.norm(x @ w.T - x @ ra.dequantize_weight_asym(wq, s, z, bits=bits, group=group, k=K).T)
    sq, sr = gptq_quantize(w, hessian_of(x), bits=bits, group=group, block=64, **opts)
    sym = np.linalg.norm(x @ w.T - x @ (sq * ref.symmetric_scale(sr, bits).repeat(group, axis=1)).T)
    assert err < 0.85 * rtn  # GPTQ's error feedback
    assert err < sym  # the zero point's extra code range on an offset layer


@pytest.mark.parametrize("bits", [4, 3, 8])
def test_codes_scales_and_zero_points_land_on_qc_quantize(bits):
    x, w = _layer(1)
    w = w - 0.3
    want_q, ranges = gptq_quantize(
        w, hessian_of(x).astype(np.float32), bits=bits, group=32, act_order=True, static_groups=True, sym=False
    )
    want_s, want_z = ra.asymmetric_params(ranges[..., 0], ranges[..., 1], bits)
    spec = f"wbits={bits},group=32,sym=false"
    gptq, quantize = f"qc-gptq{{{spec},act_order=true,static_groups=true}}", f"qc-quantize{{abits=16,{spec}}}"
    with new_context(), ir.Location.unknown():
        module = _module(x, w, with_hessian=True)
        Pipeline.parse(f"{gptq},{quantize}").run(module)
        assert not ops_named(module, "qc.wlinear")
        (op,) = ops_named(module, "qc.wlinear_asym")
        wq, ws, wz = (constant_array(op.operands[i]) for i in (1, 2, 3))
    got = ra.unpack_uint4(wq, K) if bits <= 4 else wq.view(np.uint8)
    np.testing.assert_array_equal(got, want_q)
    np.testing.assert_array_equal(ws, want_s)
    np.testing.assert_array_equal(wz.view(np.uint8), want_z)


def test_int8_activation_layers_stay_symmetric():
    # a layer that qc-quantize gives int8 activations (qc.qlinear, symmetric weights) gets symmetric GPTQ
    x, w = _layer(2)
    want_q, ranges = gptq_quantize(w, hessian_of(x).astype(np.float32), bits=4, group=K)
    with new_context(), ir.Location.unknown():
        module = _module(x, w, with_hessian=True)
        (lin,) = ops_named(module, "qc.linear")
        lin.attributes["qc.abits"] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), 8)
        Pipeline.parse("qc-gptq{wbits=4,sym=false},qc-quantize{wbits=4,abits=16,sym=false}").run(module)
        (op,) = ops_named(module, "qc.qlinear")
        np.testing.assert_array_equal(constant_array(op.operands[2]), want_q)


def test_same_weights_as_the_gptq_reference_algorithm():
    # bench/peers/gptq_reference.py re-implements IST-DASLab/gptq's fasterquant in plain PyTorch; with zero
    # points, act-order and static groups (both take group ranges from the original weight) the algorithms agree
    sys.path.insert(0, str(Path(__file__).parents[2] / "bench" / "peers"))
    import torch
    from gptq_reference import fasterquant
    from qcomp.passes.gptq import dequantized

    x, w = _layer(4)
    w = w + 0.3
    h = hessian_of(x).astype(np.float32)
    q, ranges = gptq_quantize(w, h, bits=4, group=32, act_order=True, static_groups=True, sym=False)
    theirs = fasterquant(torch.from_numpy(w), torch.from_numpy(h), 4, False, 32, True, True).numpy()
    ours = dequantized(q, ranges, 4, 32, False)
    assert np.mean(ours == theirs) > 0.99  # f32 Cholesky on both sides; a tie may round the other way
    np.testing.assert_allclose(ours, theirs, atol=np.abs(w).max() / 7)


def test_awq_clip_search_with_zero_points_is_what_qc_quantize_stores():
    from qcomp.passes.awq import fake_quant_grouped
    from qcomp.passes.channel_fold import WEIGHT_CLIP

    x, w = _layer(5)
    w[:, :4] *= 6  # a few large columns: clipping pays
    x = x[:256]
    with new_context(), ir.Location.unknown():
        module = _module(x, w, with_hessian=False)
        Pipeline.parse("qc-awq{wbits=4,group=32,sym=false}").run(module)
        clip = np.array(ops_named(module, "qc.linear")[0].attributes[WEIGHT_CLIP])
        Pipeline.parse("qc-quantize{wbits=4,abits=16,group=32,sym=false}").run(module)
        (op,) = ops_named(module, "qc.wlinear_asym")
        wq, ws, wz = (constant_array(op.operands[i]) for i in (1, 2, 3))
    deq = ra.dequantize_weight_asym(wq, ws, wz, bits=4, group=32, k=K)
    np.testing.assert_array_equal(deq, fake_quant_grouped(w, 4, 32, clip, sym=False))
    rtn = fake_quant_grouped(w, 4, 32, sym=False)
    assert np.linalg.norm(x @ (w - deq).T) < np.linalg.norm(x @ (w - rtn).T)
    assert (clip < np.abs(w).reshape(w.shape[0], -1, 32).max(-1)).any()  # some group was clipped


@pytest.mark.parametrize("sym", [False, True])
def test_mse_search_inside_gptq_shrinks_ranges_and_lands_on_qc_quantize(sym):
    # heavy-tailed weights: the MSE search clips some groups' ranges; qc-gptq{search=mse} records them and
    # qc-quantize stores exactly the codes gptq_quantize chose
    x, _ = _layer(6)
    w = np.random.default_rng(6).standard_t(2.5, (32, K)).astype(np.float32)
    opts = {"bits": 4, "group": 32, "act_order": True, "static_groups": True, "sym": sym}
    h = hessian_of(x).astype(np.float32)
    q, ranges = gptq_quantize(w, h, search="mse", **opts)
    _, full = gptq_quantize(w, h, **opts)
    if sym:
        assert np.all(ranges <= full + 1e-7)
        assert (ranges < full - 1e-6).any()
    else:
        assert np.all(ranges[..., 1] <= full[..., 1] + 1e-7)
        assert np.all(ranges[..., 0] >= full[..., 0] - 1e-7)
        assert (ranges[..., 1] - ranges[..., 0] < full[..., 1] - full[..., 0] - 1e-6).any()
    spec = f"wbits=4,group=32,sym={str(sym).lower()}"
    with new_context(), ir.Location.unknown():
        module = _module(x, w, with_hessian=True)
        Pipeline.parse(
            f"qc-gptq{{{spec},act_order=true,static_groups=true,search=mse}},qc-quantize{{abits=16,{spec}}}"
        ).run(module)
        (op,) = ops_named(module, "qc.wlinear_asym" if not sym else "qc.wlinear")
        wq = constant_array(op.operands[1])
    got = ra.unpack_uint4(wq, K) if not sym else ref.unpack_int4(wq, K)
    np.testing.assert_array_equal(got, q)
