"""The compile core: a torch model through the pipelines to a target's artifact, as a `CompiledModel`.

`build(model, inputs, target, recipe, table)` imports the model, runs the front end, attaches a resolved
calibration table, runs the recipe's passes and the target's stages, and builds; it calibrates nothing
itself. It sits below calibration (`qcomp.calibrate` builds the fp32 model with taps through it) and below
the public API (`qcomp.compile`, in `api.py`, resolves the calibration a recipe needs, then calls it).
"""

import math
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from qcomp import targets
from qcomp.dialects import attrs, formats
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import find_ops, main_func, ops_named
from qcomp.dialects.quant_math import Candidate
from qcomp.dialects.weights import constant_array
from qcomp.frontend import import_torch
from qcomp.passes.context import PassContext
from qcomp.pipeline import Pipeline
from qcomp.recipes import Recipe, get_recipe
from qcomp.taps import Tap, expose, split
from qcomp.targets.cpu.input_checks import InputError

if TYPE_CHECKING:  # calibration is above this module: the table arrives resolved
    from qcomp.calibrate import CalibrationTable

STAGES = ("torch", "qc", "quantized", "target", "llvm")  # "target": after all of the target's named stages
FRONTIER_KEY = {  # x of the frontier points
    "avg_wbits": "avg_wbits",
    "bytes": "bytes",
    "latency": "latency_ms",
    "arrays": "arrays",
    "energy": "energy_uj",
}


@dataclass
class CompiledModel:
    """A model compiled for one target. Call it with torch tensors; `.report` says what was done."""

    artifact: targets.Artifact
    stages: dict[str, str]
    report: dict
    n_outputs: int
    taps: list[Tap] = field(default_factory=list)
    finite_only: bool = False  # static activation scales: NaN/inf inputs are refused (docs/numerics.md)

    def _run(self, inputs) -> list[np.ndarray]:
        arrays = [x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x) for x in inputs]
        if self.finite_only:
            refuse_non_finite(arrays)
        outs = self.artifact(*arrays)
        self.report["target"].update(self.artifact.report)  # simulators: cycles, energy … of this call
        return outs

    def __call__(self, *inputs):
        outs = [torch.from_numpy(o) for o in self._run(inputs)[: self.n_outputs]]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def run_with_taps(self, *inputs) -> tuple[list[np.ndarray], list[tuple[Tap, list, list]]]:
        """Outputs plus, for each tapped op, the operand and result arrays the target computed."""
        return split(self._run(inputs), self.n_outputs, self.taps)

    def save(self, directory: str) -> list[str]:
        """Write the MLIR of every stage the target has (00-torch.mlir … 03-target.mlir, 04-llvm.mlir where it
        emits LLVM), then the IR after each of the target's named stages but its last (03-target-1-fuse.mlir, ...),
        and the target artifacts."""
        os.makedirs(directory, exist_ok=True)
        files = [(f"{i:02d}-{s}.mlir", s) for i, s in enumerate(STAGES) if self.stages.get(s)]
        inner = [s for s in self.stages if s.startswith("target.")]
        files += [(f"03-target-{k}-{s[len('target.') :]}.mlir", s) for k, s in enumerate(inner, 1)]
        for name, stage in files:
            with open(os.path.join(directory, name), "w") as f:
                f.write(self.stages[stage])
        return [name for name, _ in files] + self.artifact.save(directory)


def _asm(module: ir.Module) -> str:
    return module.operation.get_asm(large_elements_limit=16)


def _weight_bytes(module: ir.Module) -> int:
    """Bytes of the tensor constants; a qc.fp_wlinear's constant fp6 codes (one per byte in the IR) counted four
    in three bytes, as the CPU target stores them (`formats.packed_row_bytes`)."""
    total = 0
    packed: list[ir.Value] = []
    for op in ops_named(module, "qc.fp_wlinear"):
        w, elem = op.operands[1], formats.parse(ir.StringAttr(op.attributes["format"]).value).elem
        shape = ir.RankedTensorType(w.type).shape
        if formats.ELEMS[elem].bits == 6 and constant_array(w) is not None and not any(w == v for v in packed):
            packed.append(w)
            k = ir.RankedTensorType(op.operands[0].type).shape[-1]
            total -= shape[0] * (shape[1] - formats.packed_row_bytes(elem, k))

    def visit(op):
        nonlocal total
        if op.name == "arith.constant" and isinstance(op.results[0].type, ir.RankedTensorType):
            arr = constant_array(op.results[0])
            total += 0 if arr is None else arr.nbytes
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return total


def _op_table(module: ir.Module, target: targets.Target) -> list[dict]:
    rows = []

    def visit(op):
        if op.name.startswith("qc."):
            prec = attrs.PRECISION.get(op)
            if prec is None:
                prec = "int" if op.name in ("qc.quantize_dynamic", "qc.quantize", "qc.requantize") else "fp32"
            rows.append(
                {
                    "op": op.name,
                    "location": str(op.location),
                    "precision": prec,
                    "placement": "target" if target.capabilities.supports(op.name) else "host",
                }
            )
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return rows


def build(
    model: torch.nn.Module,
    inputs: tuple,
    target: "str | targets.Target",
    recipe: "str | Recipe",
    table: "CalibrationTable | None" = None,
    taps: tuple[str, ...] = (),
    dynamic_shapes=None,
) -> CompiledModel:
    """`model` on `inputs` (a tuple) compiled for `target` with `recipe` (names or objects); `table`: a resolved
    calibration table (`CalibrationTable`) whose statistics are attached after the front end, or None. See
    `qcomp.compile`, which resolves the calibration a recipe needs and then calls this."""
    tgt = targets.get(target) if isinstance(target, str) else target
    rec, ctable = get_recipe(recipe), table
    check_dynamic_shapes(tgt, dynamic_shapes)
    timings: dict[str, float] = {}
    stages: dict[str, str] = {}

    t0 = time.perf_counter()
    module = import_torch(model, inputs, dynamic_shapes=dynamic_shapes)
    timings["import"] = time.perf_counter() - t0
    stages["torch"] = _asm(module)
    _, results = _signature_counts(module)

    ctx = PassContext(target=tgt)

    def stage(name: str, pipeline: str) -> Pipeline:
        p = Pipeline.parse(pipeline) if pipeline else Pipeline([])
        p.run(module, ctx=ctx)  # passes that take a context get the caller's Target object
        for t in p.timings:
            timings[t.name] = timings.get(t.name, 0.0) + t.seconds
        stages[name] = _asm(module)
        return p

    stage("qc", "qc-raise-norms,qc-from-torch")
    if ctable is not None:
        ctable.attach(module)  # static activation scales as qc.act_scale on each layer (calibrate.attach)
    with module.context:  # the target whose cost model passes may price with (qc-assign-precision)
        attrs.TARGET.set_module(module, tgt.name)
    fp32_bytes = _weight_bytes(module)
    stage("quantized", rec.pipeline)
    static = bool(find_ops(module, lambda op: op.name == "qc.quantize", first=True))  # calibrated scales
    avg_wbits = _avg_wbits(module)
    table = _op_table(module, tgt)
    q_bytes = _weight_bytes(module)
    tap_list = expose(module, tuple(taps)) if taps else []
    named = _target_stages(tgt)  # the IR after each but the last is kept as "target.<name>"
    for k, (name, text) in enumerate(named):
        stage("target" if k == len(named) - 1 else f"target.{name}", text)
    t0 = time.perf_counter()
    artifact = tgt.build(module)
    timings["build"] = time.perf_counter() - t0
    stages["llvm"] = getattr(artifact, "llvm_text", "")
    host = attrs.HOST_OPS.get_module(module)
    host_ops = {n.name: n.attr.value for n in host} if host is not None else {}
    report = {
        "model": type(model).__name__,
        "target": {"name": tgt.name, **artifact.report},
        "recipe": {"name": rec.name, "version": rec.version, "pipeline": rec.pipeline},
        "ops": table,
        "placement": {
            "target": sum(r["placement"] == "target" for r in table),
            "host": sum(host_ops.values()) + sum(r["placement"] == "host" for r in table),
        },
        "host_ops": host_ops,
        "sizes": {"weights_fp32_bytes": fp32_bytes, "weights_bytes": q_bytes, "avg_wbits": avg_wbits},
        "timings_s": timings,
    }
    if attrs.PRECISION_PLAN.has(module.operation):  # set by qc-assign-precision
        report["precision_plan"] = precision_plan(module, ctable)
    if ctable is not None:
        report["calibration"] = {"method": ctable.method, "samples": ctable.samples, "fingerprint": ctable.fingerprint}
    return CompiledModel(artifact, stages, report, results, tap_list, finite_only=static)


def check_dynamic_shapes(tgt: targets.Target, dynamic_shapes) -> None:
    if dynamic_shapes is not None and not tgt.capabilities.dynamic_shapes:
        raise QcompError(
            f"target {tgt.name!r} builds for static shapes only: compile without dynamic_shapes (one build per "
            "input shape), or for the cpu target"
        )


def _target_stages(tgt: targets.Target) -> list[tuple[str, str]]:
    """The target's named stages that do something; its pipeline() as one stage where a subclass changed that."""
    named = [(name, text) for name, text in tgt.stages() if text]
    pipeline = tgt.pipeline()
    if ",".join(text for _, text in named) != pipeline:
        return [("lower", pipeline)]
    return named or [("lower", "")]


def refuse_non_finite(arrays) -> None:
    """A one-line error for the first NaN or inf in a float input. A quantizer with a calibrated (static) scale
    has no code for them: it would saturate inf and turn NaN into 0, a finite and wrong output."""
    for i, a in enumerate(arrays):
        if a.dtype.kind == "f" and a.size and not np.isfinite(a).all():
            at = np.unravel_index(int(np.flatnonzero(~np.isfinite(a))[0]), a.shape)
            raise InputError(
                f"input {i}: {a[at]} at index {[int(j) for j in at]}: this model quantizes activations with static "
                "(calibrated) scales, which cannot carry NaN or inf (a dynamic recipe propagates them like PyTorch)"
            )


def _avg_wbits(module: ir.Module) -> float | None:
    """Stored bits per weight over the quantized linear layers, scales included (qc.wlinear, qc.fp_wlinear:
    an f32 per group, or a 1-byte e8m0/e4m3 code per block plus NVFP4's f32 tensor scale; qc.qlinear: an f32 per
    output channel; qc.qlinear_grouped: an f32 per output channel and group; qc.wlinear_asym and
    qc.qlinear_grouped_asym: an i8 zero point per group too) — the count qc-assign-precision budgets."""
    bits = params = 0.0
    asym = ("qc.wlinear_asym", "qc.qlinear_grouped_asym")
    named = ("qc.wlinear", "qc.qlinear", "qc.qlinear_grouped", *asym, "qc.fp_wlinear")
    for op in ops_named(module, *named):
        n, k = (ir.RankedTensorType(op.results[0].type).shape[-1], ir.RankedTensorType(op.operands[0].type).shape[-1])
        extra = 0.0
        if op.name in ("qc.wlinear", "qc.qlinear_grouped", *asym):
            b, g = ir.IntegerAttr(op.attributes["bits"]).value, ir.IntegerAttr(op.attributes["group"]).value
            if op.name in asym:
                extra = 8 * math.ceil(k / g) / k  # an i8 zero point per group
        elif op.name == "qc.fp_wlinear":  # codes as stored: fp4 two per byte, fp6 four in three bytes, fp8 one per byte
            elem = formats.parse(ir.StringAttr(op.attributes["format"]).value).elem
            b = formats.ELEMS[elem].bits
            if b == 6:  # a partial last quad is padded
                extra = (8 * formats.packed_row_bytes(elem, k) - 6 * k) / k
            g = ir.IntegerAttr(op.attributes["group"]).value
            scale_type = ir.RankedTensorType(op.operands[2].type).element_type
            if isinstance(scale_type, ir.IntegerType):  # 1-byte scale codes (e8m0, e4m3) instead of f32 scales
                extra -= 24 * math.ceil(k / g) / k
                if "tensor_scale" in op.attributes:  # NVFP4's one f32 tensor scale
                    extra += 32 / (n * k)
        else:
            b, g = int(ir.StringAttr(op.attributes["qc.precision"]).value[1]), k
        bits += (Candidate(b, 16, g).bits_per_weight(k) + extra) * n * k  # the count qc-assign-precision uses
        params += n * k
    return bits / params if params else None


def precision_plan(module: ir.Module, ctable=None) -> dict:
    """The module's `qc.precision_plan` (qc-assign-precision) as plain data, with the time spent measuring
    output gains when the calibration table has them."""
    plan = ir.DictAttr(module.operation.attributes["qc.precision_plan"])
    out = {}
    for k in (
        "avg_wbits",
        "bytes",
        "budget",
        "budget_kind",
        "method",
        "sensitivity",
        "error",
        "solver_s",
        "latency_ms",
        "arrays",
        "energy_uj",
    ):
        if k in plan:
            a = plan[k]
            out[k] = ir.StringAttr(a).value if isinstance(a, ir.StringAttr) else a.value
    out["sensitivity_s"] = plan["sensitivity_s"].value
    if ctable is not None and ctable.sensitivity and out["sensitivity"].startswith("output_") and out["method"] == "dp":
        out["sensitivity_s"] += ctable.sensitivity["seconds"]
        out["gain_reference"] = ctable.sensitivity["reference"]
    out["layers"] = [
        {
            "location": ir.StringAttr(d["location"]).value,
            "precision": ir.StringAttr(d["precision"]).value,
            "params": d["params"].value,
            "error": d["error"].value,
        }
        for d in map(ir.DictAttr, plan["layers"])
    ]
    x = FRONTIER_KEY[out["budget_kind"]]
    out["frontier"] = [{x: p[0].value, "error": p[1].value} for p in map(ir.ArrayAttr, plan["frontier"])]
    return out


def _signature_counts(module: ir.Module) -> tuple[int, int]:
    ft = ir.FunctionType(ir.TypeAttr(main_func(module).attributes["function_type"]).value)
    return len(ft.inputs), len(ft.results)
