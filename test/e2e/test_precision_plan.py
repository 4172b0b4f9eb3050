"""qc-assign-precision end to end on tiny-llama: the compiled ops follow the plan exactly.

Every planned layer comes out with the precision, weight width and group the plan names (weights and
scales exactly the reference quantizers' for that width and group), the budget is never exceeded, the
reported frontier is a Pareto curve through the plan, and a narrower budget never predicts less error.
"""

import numpy as np
import pytest
import qcomp
from qcomp.calibrate import calibrate
from qcomp.dialects import reference as ref
from qcomp.dialects.errors import QcompError
from qcomp.passes.assign_precision import parse_candidate
from qcomp.recipes import Recipe

from examples.models import tiny_llama

CANDIDATES = "w4a16g32:w4a16g16:w8a16g64:w8a8"
TAPS = ("qc.wlinear", "qc.qlinear")


@pytest.fixture(scope="module")
def llama():
    model, inputs = tiny_llama()
    float_taps = qcomp.compile(model, inputs, recipe="fp32", taps=("qc.linear",)).taps
    table = calibrate(model, [inputs], sensitivity="w4a16g32")
    return model, inputs, [t.operands[1] for t in float_taps], table


def _compile(llama, budget: float, sensitivity: str = "output_mse"):
    model, inputs, _, table = llama
    pipeline = (
        f"qc-assign-precision{{candidates={CANDIDATES},budget={budget},sensitivity={sensitivity}}},"
        "qc-quantize{wbits=4,abits=16,group=32},canonicalize"
    )
    return qcomp.compile(
        model, inputs, recipe=Recipe("t", 1, pipeline, calibration="minmax"), calibration=table, taps=TAPS
    )


@pytest.mark.parametrize("budget", [5.2, 6.5, 8.2])
def test_compiled_ops_follow_the_plan(llama, budget):
    _, inputs, weights, _ = llama
    cm = _compile(llama, budget)
    plan = cm.report["precision_plan"]
    assert plan["avg_wbits"] <= budget
    assert len(plan["layers"]) == len(weights)
    _, taps = cm.run_with_taps(*inputs)
    assert len(taps) == len(weights)
    total_bits = 0.0
    for (tap, operands, _), layer, w in zip(taps, plan["layers"], weights, strict=True):
        c = parse_candidate(layer["precision"])
        assert layer["params"] == w.size
        total_bits += c.bits_per_weight(w.shape[1]) * w.size
        if c.abits == 16:
            assert tap.op == "qc.wlinear", layer
            assert tap.attrs == {"bits": c.wbits, "group": c.group}
            want_q, want_s = ref.quantize_weight_grouped(w, bits=c.wbits, group=c.group)
            assert np.array_equal(operands[1], want_q), tap.location
            assert np.array_equal(operands[2], want_s), tap.location
        else:
            assert tap.op == "qc.qlinear", layer
            want_q, want_s = ref.quantize_weight(w, bits=c.wbits, axis=0)
            assert np.array_equal(operands[2], want_q), tap.location
            assert np.array_equal(operands[3], want_s), tap.location
    assert total_bits / sum(w.size for w in weights) == pytest.approx(plan["avg_wbits"], rel=1e-12)
    assert cm.report["sizes"]["avg_wbits"] == pytest.approx(plan["avg_wbits"], rel=1e-12)  # counted on the ops


def test_frontier_is_pareto_and_passes_through_the_plan(llama):
    plans = [_compile(llama, b).report["precision_plan"] for b in (5.2, 6.5)]
    for plan in plans:
        bits = [p["avg_wbits"] for p in plan["frontier"]]
        errs = [p["error"] for p in plan["frontier"]]
        assert bits == sorted(bits)
        assert errs == sorted(errs, reverse=True)
        assert min(e for b, e in zip(bits, errs, strict=True) if b <= plan["budget"] + 1e-9) == pytest.approx(
            plan["error"]
        )
    assert plans[0]["error"] > plans[1]["error"]  # more bits, less predicted error
    ends = [(p["frontier"][0], p["frontier"][-1]) for p in plans]
    assert ends[0] == ends[1]  # one curve for the model, whatever the budget: same cheapest and widest points


def test_output_mse_and_hessian_rank_layers_differently(llama):
    # the gains put the lm_head (logits) and the hidden layers on one scale: the two sensitivities must
    # not produce the same per-layer errors up to one common factor
    a = _compile(llama, 6.0).report["precision_plan"]["layers"]
    b = _compile(llama, 6.0, "hessian").report["precision_plan"]["layers"]
    ratio = np.array([x["error"] for x in a]) / np.array([y["error"] for y in b])
    assert ratio.max() / ratio.min() > 2


def test_table_without_gains_is_a_clear_error(llama):
    model, inputs, _, _ = llama
    pipeline = "qc-assign-precision{budget=6},qc-quantize{wbits=4,abits=16,group=32}"
    with pytest.raises(QcompError, match="needs output gains, and this calibration table has none"):
        qcomp.compile(
            model, inputs, recipe=Recipe("t", 1, pipeline, calibration="minmax"), calibration=calibrate(model, [inputs])
        )


def test_latency_budget_is_honoured_and_priced_like_the_built_module(llama):
    # budget_kind=latency prices each candidate with the CPU cost model (CpuTarget.cost); the plan's estimate
    # must be what the same model says of the quantized module that was built, and stay within the budget
    from qcomp.report import frontier_table
    from qcomp.targets.cpu.cost_model import estimate_latency

    model, inputs, _, table = llama

    def plan_for(budget: float) -> dict:
        pipeline = (
            f"qc-assign-precision{{candidates=w8a8:w4a16g32:w8a16g64,budget={budget},budget_kind=latency}},"
            "qc-quantize{wbits=4,abits=16,group=32},canonicalize"
        )
        cm = qcomp.compile(model, inputs, recipe=Recipe("t", 1, pipeline, calibration="minmax"), calibration=table)
        plan = cm.report["precision_plan"]
        assert plan["latency_ms"] <= budget
        built = estimate_latency(_quantized_module(cm), qcomp.targets.get("cpu")) * 1e3
        assert built == pytest.approx(plan["latency_ms"], rel=0.02)
        assert "latency_ms" in frontier_table(plan)
        return plan

    loose = plan_for(1000.0)  # ms: no constraint, the most accurate assignment
    lo, hi = loose["frontier"][0]["latency_ms"], loose["frontier"][-1]["latency_ms"]
    assert lo < hi == pytest.approx(loose["latency_ms"], rel=1e-3)  # frontier costs are on the DP grid
    tight = plan_for(lo + 0.3 * (hi - lo))
    assert tight["latency_ms"] < loose["latency_ms"]
    assert tight["error"] > loose["error"]


def _quantized_module(cm):
    from qcomp.dialects import new_context
    from qcomp.dialects._mlir import ir, run_pipeline

    ctx = new_context()
    with ctx, ir.Location.unknown():
        run_pipeline(ir.Module.create(), "func.func(convert-torch-to-tmtensor)")  # loads tm_tensor (cumsum)
    return ir.Module.parse(cm.stages["quantized"], ctx)
