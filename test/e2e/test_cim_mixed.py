"""CIM-aware mixed precision: qc-assign-precision{budget_kind=arrays|energy} priced by CimTarget.cost keeps the
built CIM model within the budget, the built arrays carry the plan's widths, and ideal arrays still equal the
CPU build of the same mixed-precision model bit for bit."""

import numpy as np
import pytest
import qcomp
from qcomp import targets
from qcomp.dialects.errors import QcompError
from qcomp.examples.models import BUILTIN
from qcomp.recipes import Recipe

QUANT = "qc-quantize{wbits=8,abits=8,granularity=per_token},canonicalize"


def _mixed(budget: float, kind: str = "arrays", target: str = ",target=cim") -> Recipe:
    assign = f"qc-assign-precision{{candidates=w4a8:w6a8:w8a8,budget={budget},budget_kind={kind}{target}}}"
    return Recipe("cim-mixed", 1, f"{assign},{QUANT}", calibration="minmax")


def _outs(y):
    return [t.numpy() for t in (y if isinstance(y, tuple) else (y,))]


@pytest.mark.slow
def test_arrays_budget_is_respected_and_built():
    model, inputs = BUILTIN["tiny-llama"]()
    tgt = targets.get("cim", ideal=True)
    w6 = qcomp.compile(model, inputs, target=tgt, recipe=Recipe("w6a8", 1, QUANT.replace("wbits=8", "wbits=6")))
    budget = w6.report["target"]["arrays"]
    cm = qcomp.compile(model, inputs, target=tgt, recipe=_mixed(budget), calibration=[inputs])
    plan, rep = cm.report["precision_plan"], cm.report["target"]
    assert plan["budget_kind"] == "arrays"
    assert plan["arrays"] == rep["arrays"] <= budget
    widths = {row["precision"] for row in plan["layers"]}
    assert len(widths) > 1  # really mixed, not uniform w6
    assert [int(row["precision"][1]) for row in plan["layers"]] == [row["weight_bits"] for row in rep["layers"]]
    assert all(f["arrays"] > 0 for f in plan["frontier"])
    cpu = qcomp.compile(model, inputs, target=targets.get("cpu"), recipe=_mixed(budget), calibration=[inputs])
    assert all(np.array_equal(g, w) for g, w in zip(_outs(cm(*inputs)), _outs(cpu(*inputs)), strict=True))
    with pytest.raises(QcompError, match=r"budget 10 arrays is below the cheapest assignment \(\d+ arrays on the"):
        qcomp.compile(model, inputs, target=tgt, recipe=_mixed(10), calibration=[inputs])


def test_energy_budget_and_a_target_without_arrays():
    model, inputs = BUILTIN["mlp"]()
    tgt = targets.get("cim")
    w8 = qcomp.compile(model, inputs, target=tgt, recipe="w8a8").report["target"]["energy_pj"] * 1e-6
    cm = qcomp.compile(model, inputs, target=tgt, recipe=_mixed(0.75 * w8, "energy"), calibration=[inputs])
    plan = cm.report["precision_plan"]
    assert plan["energy_uj"] == pytest.approx(cm.report["target"]["energy_pj"] * 1e-6)
    assert plan["energy_uj"] <= 0.75 * w8
    with pytest.raises(QcompError, match=r"target cpu does not price 'arrays'"):
        qcomp.compile(model, inputs, target="cpu", recipe=_mixed(100, target=""), calibration=[inputs])
