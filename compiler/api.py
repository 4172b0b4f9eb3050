"""Public API: `qcomp.compile(model, example_inputs, target, recipe) -> CompiledModel`.

`compile` resolves the calibration the recipe needs (`qcomp.calibrate`) and hands the rest to the compile core,
`qcomp.build`; the names below the import block are re-exported from there for code that reads them here.
"""

import torch
from qcomp import calibrate as calib
from qcomp import targets
from qcomp.build import STAGES as STAGES
from qcomp.build import CompiledModel as CompiledModel
from qcomp.build import build, check_dynamic_shapes
from qcomp.build import precision_plan as precision_plan
from qcomp.build import refuse_non_finite as refuse_non_finite
from qcomp.dialects.errors import QcompError
from qcomp.passes.assign_precision import AssignPrecisionPass
from qcomp.passes.gptq import GptqPass
from qcomp.passes.rotate import RotatePass
from qcomp.pipeline import Pipeline
from qcomp.recipes import Recipe, calibration_method, get_recipe


def compile(
    model: torch.nn.Module,
    example_inputs,
    target="cpu",
    recipe: "str | Recipe" = "w8a8",
    calibration=None,
    taps: tuple[str, ...] = (),
    dynamic_shapes=None,
) -> CompiledModel:
    """Compile `model` for `target` with `recipe`.

    target: a name ("cpu") or a Target from `qcomp.targets.get(name, **options)`.
    recipe: a built-in name ("fp32", "w8a8", "w8a8-static", "w8a16", "w4a16"), a YAML file path or a Recipe.
    calibration: what static-scale recipes (w8a8-static) need: a list of input tuples (calibrated with the
        recipe's method on the fp32 model), a `CalibrationTable`, or the path of a saved table (.json).
        Other recipes accept it too (the scales are attached and unused).
    taps: qc op names whose operands and results are also returned (see `run_with_taps`).
    dynamic_shapes: torch.export's, e.g. `{"x": {0: Dim("batch", max=32)}}`: one build then serves every size
        in the ranges (each dynamic dimension needs an upper bound; calls outside get a one-line error).
        Calibration runs on `example_inputs` and `calibration` as given.
    """
    tgt = targets.get(target) if isinstance(target, str) else target
    rec = get_recipe(recipe)
    inputs = tuple(example_inputs) if isinstance(example_inputs, tuple | list) else (example_inputs,)
    ctable = None
    check_dynamic_shapes(tgt, dynamic_shapes)  # before calibrating
    if rec.calibration and calibration is None:
        raise QcompError(
            f"recipe {rec.name!r} needs calibration: compile(..., calibration=[input tuples] | CalibrationTable "
            "| 'table.json')"
        )
    if calibration is not None:
        method, pct = calibration_method(rec.calibration or "minmax", rec.name)
        ctable = calib.resolve(
            calibration, model, inputs, method, pct, tgt, sensitivity=gain_reference(rec), hessian=needs_hessian(rec)
        )
    return build(model, inputs, tgt, rec, ctable, tuple(taps), dynamic_shapes)


def gain_reference(rec: Recipe) -> str | None:
    """The reference precision at which output gains must be measured, when the recipe's qc-assign-precision
    uses sensitivity=output_mse or output_kl: its first integer candidate with the fewest weight bits."""
    for step in Pipeline.parse(rec.pipeline).steps if rec.pipeline else []:
        if isinstance(step, AssignPrecisionPass) and step.sensitivity.startswith("output_"):
            return step.reference_candidate()
    return None


def needs_hessian(rec: Recipe):
    """What calibration must record for the recipe's qc-gptq, which reads each linear input's Hessian: False
    (no qc-gptq), True (Hessians of the float model), or the qc-gptq pass itself where it asks for
    sequential Hessians (`calibrate(hessian=...)` quantizes earlier blocks with its options; hashable), or
    (that pass, the qc-rotate pass before it) when the graph is rotated first."""
    steps = Pipeline.parse(rec.pipeline).steps if rec.pipeline else []
    gptq = [s for s in steps if isinstance(s, GptqPass)]
    if not gptq:
        return False
    if not gptq[0].sequential:
        return True
    before = steps[: steps.index(gptq[0])]
    rotate = [s for s in before if isinstance(s, RotatePass)]
    return (gptq[0], rotate[-1]) if rotate else gptq[0]
