"""CIM target: ideal mode is bit-identical to the CPU W8A8 build (mlp, tiny-llama, MiniLM); ADC bits and
device variation move the results the expected way, deterministically per seed; the mapping, the report
and option validation."""

import json

import numpy as np
import pytest
import qcomp
import torch
from qcomp import targets
from qcomp.dialects.errors import QcompError
from qcomp.examples.models import BUILTIN
from qcomp.targets.cim.arch import CimOptions
from qcomp.targets.cim.mapping import input_planes, plan_layer, weight_levels
from qcomp.targets.cim.simulator import CrossbarLayer


def _outs(y):
    return [t.numpy() for t in (y if isinstance(y, tuple) else (y,))]


@pytest.fixture(scope="module")
def tiny_llama():
    model, inputs = BUILTIN["tiny-llama"]()
    cpu = _outs(qcomp.compile(model, inputs, target=targets.get("cpu"), recipe="w8a8")(*inputs))
    cim = qcomp.compile(model, inputs, target=targets.get("cim", ideal=True), recipe="w8a8")
    return model, inputs, cpu, cim


def test_mlp_ideal_bit_identical_to_cpu():
    model, inputs = BUILTIN["mlp"]()
    want = _outs(qcomp.compile(model, inputs, target=targets.get("cpu"), recipe="w8a8")(*inputs))
    got = _outs(qcomp.compile(model, inputs, target="cim:isaac", recipe="w8a8")(*inputs))
    ideal = _outs(qcomp.compile(model, inputs, target=targets.get("cim:mnsim", ideal=True), recipe="w8a8")(*inputs))
    assert all(np.array_equal(g, w) for g, w in zip(ideal, want, strict=True))
    assert not all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))  # isaac's 8-bit ADC is lossy


def test_tiny_llama_ideal_bit_identical_and_report(tiny_llama, tmp_path):
    _, inputs, want, cm = tiny_llama
    got = _outs(cm(*inputs))
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    r = cm.report["target"]
    assert r["name"] == "cim"
    assert r["preset"] == "neurosim"
    layers = r["layers"]
    assert len(layers) == cm.stages["target"].count('qc.offload = "qc.qlinear"') > 0
    assert r["arrays"] == sum(row["arrays"] for row in layers)
    assert r["energy_pj"] == pytest.approx(sum(row["energy_pj"] for row in layers))
    assert r["latency_ns"] == pytest.approx(sum(row["latency_ns"] for row in layers))
    assert r["area_mm2"] >= sum(row["area_mm2"] for row in layers) > 0
    assert r["tops_per_w"] == pytest.approx(2 * r["macs"] / r["energy_pj"])
    assert "cim.arrays" in cm.stages["target"]
    written = cm.artifact.save(str(tmp_path))
    assert sorted(written) == ["cim_plan.json", "cim_report.json"]
    plan = json.loads((tmp_path / "cim_plan.json").read_text())
    assert plan["arch"]["rows"] == 128
    assert all(c["source"] for c in plan["constants"].values())
    assert [row["arrays"] for row in plan["layers"]] == [row["arrays"] for row in layers]


def test_adc_bits_and_variation_move_error_deterministically(tiny_llama):
    _, inputs, want, cm = tiny_llama
    art = cm.artifact
    ref = np.concatenate([w.ravel() for w in want])

    def error(**opts):
        art.program_arrays(CimOptions(**opts).arch())
        out = np.concatenate([g.ravel() for g in _outs(cm(*inputs))])
        return float(np.abs(out - ref).mean() / np.abs(ref).mean()), out

    e4, _ = error(adc_bits=4)
    e6, _ = error(adc_bits=6)
    e8, out8 = error(adc_bits=8)
    assert e4 > e6 > e8 > 0
    _, again = error(adc_bits=8)
    assert np.array_equal(out8, again)  # deterministic
    ev, outv = error(adc_bits=8, variation=0.05, seed=1)
    _, outv2 = error(adc_bits=8, variation=0.05, seed=1)
    _, outv3 = error(adc_bits=8, variation=0.05, seed=2)
    assert np.array_equal(outv, outv2)
    assert not np.array_equal(outv, outv3)
    assert ev > e8
    art.program_arrays(CimOptions(ideal=True).arch())


@pytest.mark.parametrize("preset", ["neurosim", "isaac", "mnsim"])
def test_bit_slicing_reconstructs_weights_and_inputs(preset):
    arch = CimOptions(preset=preset, ideal=True).arch()
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (40, 300)).astype(np.int8)
    x = rng.integers(-127, 128, (5, 300)).astype(np.int8)
    plan = plan_layer(0, "s", "loc", 40, 300, 8, arch)
    levels, coef, offset = weight_levels(w, plan, arch)
    signed = levels[0].astype(np.int64) - (levels[1] if len(levels) == 2 else 0)
    assert np.array_equal(np.tensordot(coef, signed, axes=1) - offset, w.T)
    planes, pcoef, _ = input_planes(x, arch)
    assert np.array_equal(np.tensordot(pcoef, planes.astype(np.int64), axes=1), x)
    acc = CrossbarLayer(plan, w, arch, rng).mvm(x)
    assert np.array_equal(acc, x.astype(np.int64) @ w.T.astype(np.int64))
    assert plan.arrays == plan.row_tiles * plan.col_tiles
    assert 0 < plan.utilization <= 1


def test_cost_prices_weight_bits_in_arrays_and_energy():
    from qcomp.dialects import new_context
    from qcomp.dialects._mlir import ir

    text = """
func.func @main(%x: tensor<16x256xf32>) -> tensor<16x128xf32> {
  %w = arith.constant dense<0.25> : tensor<128x256xf32>
  %b = arith.constant dense<0.0> : tensor<128xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<16x256xf32>, tensor<128x256xf32>, tensor<128xf32>) -> tensor<16x128xf32>
  return %y : tensor<16x128xf32>
}
"""
    module = ir.Module.parse(text, new_context())
    op = module.body.operations[0].regions[0].blocks[0].operations[2].operation
    cim = targets.get("cim")
    c8, c4 = cim.cost(op, "w8a8"), cim.cost(op, "w4a8")
    assert c8.arrays == 2 * 9
    assert c4.arrays == 2 * 5
    assert c4.energy_j < c8.energy_j
    assert c8.latency_s > 0
    assert cim.cost(op, "fp32").arrays == 0
    assert cim.capabilities.supports("qc.qlinear")
    assert not cim.capabilities.supports("qc.matmul")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"preset": "tpu"}, "unknown preset 'tpu' (known: neurosim, isaac, mnsim)"),
        ({"adc_bits": 3}, "adc_bits must be 4..10"),
        ({"variation": -0.1}, "variation must be in [0, 0.5]"),
        ({"stuck_at": 0.7}, "stuck-at rate sa0 must be in [0, 0.5)"),
        ({"encoding": "twos"}, "encoding must be one of offset, differential"),
        ({"cell_bits": 5}, "cell_bits must be 1..4"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"ideal": "yes"}, "ideal must be true or false"),
        ({"adc_range": "auto"}, "adc_range must be one of minmax, full"),
        ({"bogus": 1}, "target cim:"),
    ],
)
def test_option_errors(options, message):
    with pytest.raises(QcompError) as info:
        targets.get("cim", **options)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_preset_spec_and_pipeline():
    t = targets.get("cim:mnsim", adc_bits=8)
    assert t.arch.rows == 256
    assert t.arch.encoding == "differential"
    assert t.arch.adc_bits == 8
    fuse = "qc-fuse{act=false,gate=false}"
    assert t.pipeline() == f"{fuse},qc-cim-offload{{preset=mnsim}},qc-lower-to-linalg,qc-outline-host-ops"


@pytest.mark.slow
def test_minilm_ideal_bit_identical_to_cpu():
    from qcomp.evaluate import default_text, encoder_batches
    from qcomp.models import minilm

    model, tok = minilm()
    inputs = tuple(encoder_batches(tok, default_text(), 1, 32)[0])
    want = qcomp.compile(model, inputs, target=targets.get("cpu"), recipe="w8a8")(*inputs)
    got = qcomp.compile(model, inputs, target=targets.get("cim", ideal=True), recipe="w8a8")(*inputs)
    assert isinstance(got, torch.Tensor)
    assert np.array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("adc_range", ["minmax", "full"])
def test_mvm_matches_a_direct_adc_model_with_zero_rows(adc_range):
    """The batched simulator (int8 matmuls, rows of all-zero planes skipped, vectorised ADC, shift-add as one
    matrix-vector product) against the ADC model written out per (cycle, tile, slice) in f64."""
    arch = CimOptions(adc_bits=5, adc_range=adc_range).arch()
    rng = np.random.default_rng(3)
    n, k, m = 24, 300, 40
    w = rng.integers(-127, 128, (n, k)).astype(np.int8)
    x = np.rint(rng.standard_normal((m, k)) * rng.standard_normal(k) ** 4).clip(-127, 127).astype(np.int8)
    x[5] = 0
    plan = plan_layer(0, "s", "loc", n, k, 8, arch)
    layer = CrossbarLayer(plan, w, arch, rng)
    levels, scoef, offset = weight_levels(w, plan, arch)
    planes, pcoef, vmax = input_planes(x, arch)
    cells = levels[0].astype(np.float64) - 0.5  # 1-bit cells against the mid-level reference
    top = (1 << arch.adc_bits) - 1
    want = np.zeros((m, n))
    for c in range(len(planes)):
        for t in range(plan.row_tiles):
            rows = slice(t * arch.rows, (t + 1) * arch.rows)
            for s in range(plan.slices):
                ps = (planes[c][:, rows].astype(np.float64) @ cells[s][rows]).astype(np.float32)  # exact
                if adc_range == "minmax":  # in f32 like the model (a tie's rounding depends on it)
                    lo, step = ps.min(), (ps.max() - ps.min()) / np.float32(top) or np.float32(1)
                    q = np.minimum(np.rint((ps - lo) / step), top).astype(np.float64) * step + lo
                else:
                    span = np.float32(arch.rows * 0.5 * vmax[c])
                    step = max(np.float32(1), np.float32(2) * span / np.float32(top))
                    q = np.clip(np.rint((ps + span) / step), 0, np.floor(2 * span / step)).astype(np.float64)
                    q = q * step - span
                want += pcoef[c] * scoef[s] * q
    want -= (offset - 0.5 * scoef.sum()) * x.astype(np.int64).sum(axis=1, keepdims=True)
    got = layer.mvm(x)
    assert np.allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
    assert not np.allclose(got, x.astype(np.int64) @ w.T.astype(np.int64), rtol=0, atol=1)  # the ADC is lossy
