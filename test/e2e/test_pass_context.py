"""Passes run with a context whose `target` is the Target object `qcomp.compile` builds for (issue 18): a
qc-assign-precision budget is priced with the caller's target options (a CIM preset, the CPU's opt_level),
not with a target rebuilt from its name with default options."""

import pytest
import qcomp
from qcomp import targets
from qcomp.dialects import new_context
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.examples.models import BUILTIN
from qcomp.passes.assign_precision import AssignPrecisionPass
from qcomp.passes.context import PassContext
from qcomp.pipeline import Pipeline
from qcomp.recipes import Recipe
from qcomp.targets.base import Cost
from qcomp.targets.cpu.target import CpuTarget

QUANT = "qc-quantize{wbits=8,abits=8,granularity=per_token},canonicalize"


def _assign(options: str) -> Recipe:
    return Recipe("ctx", 1, f"qc-assign-precision{{sensitivity=hessian,{options}}},{QUANT}", calibration="minmax")


def test_cim_energy_budget_is_priced_with_the_callers_preset():
    model, inputs = BUILTIN["mlp"]()
    tgt = targets.get("cim:isaac", adc_bits=6)  # neither the default preset nor its ADC
    recipe = _assign("candidates=w4a8:w8a8,budget=1000,budget_kind=energy")
    cm = qcomp.compile(model, inputs, target=tgt, recipe=recipe, calibration=[inputs])
    plan = cm.report["precision_plan"]
    # the plan's price is the built model's energy: the same preset and ADC priced it
    assert plan["energy_uj"] == pytest.approx(cm.report["target"]["energy_pj"] * 1e-6)
    default = qcomp.compile(model, inputs, target="cim", recipe=recipe, calibration=[inputs])
    assert default.report["precision_plan"]["energy_uj"] != pytest.approx(plan["energy_uj"])  # presets differ


def test_cpu_latency_budget_is_priced_with_the_callers_opt_level(monkeypatch):
    seen = []  # opt_level of each target that priced something

    def cost(self, op, precision):
        seen.append(self.options.opt_level)
        return Cost(latency_s=1e-6 * (32 if precision == "fp32" else int(precision[1])))

    def estimate_latency(self, module, precision_of=None):
        seen.append(self.options.opt_level)
        return 1e-3

    monkeypatch.setattr(CpuTarget, "cost", cost)  # no measurement of the real cost model's constants
    monkeypatch.setattr(CpuTarget, "estimate_latency", estimate_latency)
    model, inputs = BUILTIN["mlp"]()
    tgt = targets.get("cpu", opt_level=1)
    cm = qcomp.compile(model, inputs, target=tgt, recipe=_assign("budget=1,budget_kind=latency"), calibration=[inputs])
    assert cm.report["precision_plan"]["budget_kind"] == "latency"
    assert seen
    assert set(seen) == {1}


def _module() -> ir.Module:
    with new_context():
        return ir.Module.parse("module {}")


def _priced_by(p: AssignPrecisionPass, module: ir.Module, ctx: PassContext):
    return p._target(module, ctx)[1]


def test_target_option_and_context_precedence():
    m = _module()
    isaac = targets.get("cim:isaac")
    assert _priced_by(AssignPrecisionPass(), m, PassContext(isaac)) is isaac
    # the option names the target being built: the caller's object, options and all
    assert _priced_by(AssignPrecisionPass(target="cim"), m, PassContext(isaac)) is isaac
    # the option names another target or preset: that one prices (e.g. a CPU build of a CIM-priced plan)
    assert _priced_by(AssignPrecisionPass(target="cim:mnsim"), m, PassContext(isaac)).arch.name == "mnsim"
    assert _priced_by(AssignPrecisionPass(target="npu"), m, PassContext(isaac)).name == "npu"
    # a default context (qcomp-opt): the option, else the module's qc.target
    assert _priced_by(AssignPrecisionPass(target="cim:isaac"), m, PassContext()).arch.name == "isaac"
    with m.context:
        m.operation.attributes["qc.target"] = ir.StringAttr.get("cpu")
    assert _priced_by(AssignPrecisionPass(), m, PassContext()).name == "cpu"
    with pytest.raises(QcompError, match="no target to price"):
        _priced_by(AssignPrecisionPass(budget_kind="latency"), _module(), PassContext())


def test_pipeline_hands_its_context_to_passes_that_take_one():
    got = []

    class WithContext:
        name = "with-context"

        def run(self, module, ctx):
            got.append(ctx)

    class WithoutContext:
        name = "without-context"

        def run(self, module):
            got.append(None)

    ctx = PassContext(targets.get("cpu"))
    Pipeline([WithContext(), WithoutContext()]).run(_module(), ctx=ctx)
    assert got == [ctx, None]
    Pipeline([WithContext()]).run(_module())
    assert got[-1] == PassContext()
