"""Recipes: named, versioned pipelines (like llm-compressor recipes), built in or from a YAML file.

YAML form:
    name: my-w8a8
    version: 1
    description: per-tensor activations
    pipeline: qc-quantize{wbits=8,abits=8,granularity=per_tensor},canonicalize
    calibration: percentile:99.9     # optional: the recipe needs calibration (method[:percentile])

A recipe with `calibration` (e.g. w8a8-static) needs `qcomp.compile(..., calibration=samples or table)`:
the method (minmax | percentile[:p] | mse | kl) is the one used when calibrating from samples.
"""

import os
import re
from dataclasses import dataclass

from qcomp.dialects.errors import QcompError
from qcomp.dialects.quant_math import METHODS


@dataclass(frozen=True)
class Recipe:
    name: str
    version: int
    pipeline: str
    description: str = ""
    calibration: str = ""  # calibration method spec when the pipeline needs static activation scales

    def __post_init__(self):
        if self.calibration:
            calibration_method(self.calibration, self.name)


def calibration_method(spec: str, recipe: str = "recipe") -> tuple[str, float]:
    """'percentile:99.9' -> ('percentile', 99.9); 'kl' -> ('kl', 99.99)."""
    method, _, p = spec.partition(":")
    if method not in METHODS:
        raise QcompError(f"{recipe}: calibration method must be one of {', '.join(METHODS)}, got {method!r}")
    try:
        pct = float(p) if p else 99.99
    except ValueError:
        raise QcompError(f"{recipe}: calibration percentile must be a number, got {p!r}") from None
    if (p and method != "percentile") or not 0 < pct <= 100:
        raise QcompError(f"{recipe}: bad calibration spec {spec!r} (use percentile:P with 0 < P <= 100)")
    return method, pct


BUILTIN: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("fp32", 1, "", "no quantization: the float graph as imported"),
        Recipe(
            "w8a8",
            1,
            "qc-quantize{wbits=8,abits=8,granularity=per_token},canonicalize",
            "round-to-nearest: int8 weights per output channel, int8 activations per token (dynamic)",
        ),
        Recipe(
            "w8a8-static",
            1,
            "qc-quantize{wbits=8,abits=8,static=true},canonicalize",
            "int8 weights per output channel, int8 activations per tensor with static scales from calibration",
            calibration="minmax",
        ),
        Recipe(
            "w8a16",
            1,
            "qc-quantize{wbits=8,abits=16},canonicalize",
            "weight-only: int8 weights per output channel, float activations",
        ),
        Recipe(
            "w4a8",
            1,
            "qc-quantize{wbits=4,abits=8,granularity=per_token},canonicalize",
            "int4 weights per output channel (packed two per byte for the CPU's VNNI kernel), int8 activations per "
            "token, dynamic",
        ),
        Recipe(
            "w4a16",
            1,
            "qc-quantize{wbits=4,abits=16,group=128},canonicalize",
            "weight-only: symmetric int4 weights in groups of 128 input channels, packed two per byte",
        ),
        # outlier handling (issue 4): calibrated, so they need `calibration=` like w8a8-static
        Recipe(
            "w8a8-smooth",
            1,
            "qc-smooth{alpha=0.5},qc-quantize{wbits=8,abits=8,granularity=per_token},canonicalize",
            "SmoothQuant (alpha 0.5) then w8a8 with dynamic per-token activations",
            calibration="minmax",
        ),
        Recipe(
            "w8a8-smooth-static",
            1,
            "qc-split-outliers{ratio=8},qc-smooth{alpha=0.7},qc-quantize{wbits=8,abits=8,static=true},canonicalize",
            "outlier channels (> 6 and > 8x the median) split off in float, SmoothQuant (alpha 0.7) on the rest, "
            "w8a8 with static per-tensor activation scales",
            calibration="minmax",
        ),
        Recipe(
            "w8a8-rotate-static",
            1,
            "qc-rotate{kind=hadamard},qc-split-outliers{ratio=8},qc-smooth{alpha=0.65},"
            "qc-quantize{wbits=8,abits=8,static=true},canonicalize",
            "Hadamard rotation of the residual stream, outlier channels split off in float, SmoothQuant "
            "(alpha 0.65), w8a8 with static per-tensor activation scales",
            calibration="minmax",
        ),
        Recipe(
            "w8a8-split",
            1,
            "qc-split-outliers{ratio=8},qc-quantize{wbits=8,abits=8,granularity=per_token},canonicalize",
            "LLM.int8()-style: calibrated outlier channels (> 6 and > 8x the median) in float, the rest w8a8 dynamic",
            calibration="minmax",
        ),
        Recipe(
            "w8a8-split-static",
            1,
            "qc-split-outliers{ratio=8},qc-quantize{wbits=8,abits=8,static=true},canonicalize",
            "calibrated outlier channels in float, the rest w8a8 with static per-tensor scales",
            calibration="minmax",
        ),
        Recipe(
            "w8a8-split-smooth",
            1,
            "qc-split-outliers{threshold=3,ratio=4},qc-smooth{alpha=0.5},"
            "qc-quantize{wbits=8,abits=8,granularity=per_token},canonicalize",
            "input channels > 3 and > 4x the median in float (0.4% of MiniLM's), SmoothQuant (alpha 0.5) on the "
            "rest, w8a8 with dynamic per-token activations (MiniLM: the FFN down-projections' GELU outliers)",
            calibration="minmax",
        ),
        Recipe(
            "w4a16-awq",
            1,
            "qc-awq{wbits=4,group=128},qc-quantize{wbits=4,abits=16,group=128},canonicalize",
            "AWQ scale and clip search, then int4 weights in groups of 128",
            calibration="minmax",
        ),
        Recipe(
            "w4a16-rotate",
            1,
            "qc-rotate{kind=hadamard},qc-awq{wbits=4,group=128},qc-quantize{wbits=4,abits=16,group=128},canonicalize",
            "Hadamard rotation of the residual stream (QuaRot), AWQ search, int4 weights in groups of 128",
            calibration="minmax",
        ),
        Recipe(
            "w4a8-rotate",
            1,
            "qc-rotate{kind=hadamard},qc-awq{wbits=4,group=0},qc-quantize{wbits=4,abits=8,granularity=per_token},"
            "canonicalize",
            "Hadamard rotation of the residual stream and AWQ, then int4 weights per output channel with dynamic "
            "int8 activations per token",
            calibration="minmax",
        ),
        Recipe(
            "mixed",
            1,
            "qc-assign-precision{candidates=w4a16g256:w4a16g128:w4a16g64:w8a16g128,budget=4.5,budget_kind=avg_wbits},"
            "qc-awq{wbits=4,group=128},qc-quantize{wbits=4,abits=16,group=128},canonicalize",
            "mixed weight-only precision: int4 in groups of 256, 128 or 64, or int8, per layer, chosen by each "
            "layer's measured effect on the model output (output gains) under 4.5 average weight bits (scales "
            "included), then AWQ at each layer's width and group",
            calibration="minmax",
        ),
        Recipe(
            "mixed-kl",
            1,
            "qc-assign-precision{candidates=w4a16g256:w4a16g128:w4a16g64:w8a16g128,budget=4.5,budget_kind=avg_wbits,"
            "sensitivity=output_kl},qc-awq{wbits=4,group=128},qc-quantize{wbits=4,abits=16,group=128},canonicalize",
            "mixed for language models: as mixed, with each layer's effect measured as the KL divergence of the "
            "next-token distribution (what perplexity feels) instead of the output MSE",
            calibration="minmax",
        ),
        Recipe(
            "w4a16-gptq",
            1,
            "qc-gptq{wbits=4,group=128,act_order=true,static_groups=true},qc-quantize{wbits=4,abits=16,group=128},"
            "canonicalize",
            "GPTQ (act-order, static groups) onto symmetric int4 weights in groups of 128, float activations",
            calibration="minmax",
        ),
        Recipe(
            "w4a8-gptq",
            1,
            "qc-gptq{wbits=4,group=0,act_order=true},qc-quantize{wbits=4,abits=8,granularity=per_token},canonicalize",
            "GPTQ (act-order) onto int4 weights per output channel, dynamic int8 activations per token",
            calibration="minmax",
        ),
        Recipe(
            "w4a8-gptq-g128",
            2,
            "qc-rotate{kind=hadamard},qc-gptq{wbits=4,group=128,act_order=true,static_groups=true,search=mse,"
            "sequential=true},qc-quantize{wbits=4,abits=8,granularity=per_token,group=128},canonicalize",
            "Hadamard rotation of the residual stream, sequential GPTQ (act-order, static groups, MSE ranges) onto "
            "symmetric int4 weights with a scale per group of 128 inputs, dynamic int8 activations per token "
            "(qc.qlinear_grouped)",
            calibration="minmax",
        ),
        Recipe(
            "w4a8-gptq-g128-asym",
            1,
            "qc-rotate{kind=hadamard},qc-gptq{wbits=4,group=128,sym=false,act_order=true,static_groups=true,"
            "search=mse,sequential=true},qc-quantize{wbits=4,abits=8,granularity=per_token,group=128,sym=false},"
            "canonicalize",
            "Hadamard rotation of the residual stream, sequential GPTQ (act-order, static groups, MSE ranges) onto "
            "asymmetric int4 weights with a scale and a zero point per group of 128 inputs, dynamic int8 activations "
            "per token (qc.qlinear_grouped_asym)",
            calibration="minmax",
        ),
        Recipe(
            "w4a8-awq",
            1,
            "qc-awq{wbits=4,group=0},qc-quantize{wbits=4,abits=8,granularity=per_token},canonicalize",
            "AWQ scale and clip search, then int4 weights per output channel with dynamic int8 activations",
            calibration="minmax",
        ),
        # float number formats (issue 21; `qcomp.dialects.formats`): round-to-nearest, fake-quantized activations
        Recipe(
            "fp8",
            1,
            "qc-quantize-float{wformat=fp8,aformat=fp8},canonicalize",
            "FP8 W8A8: e4m3 weights per output channel, e4m3 activations per token (dynamic), f32 scales",
        ),
        Recipe(
            "fp8-keep-head",
            1,
            "qc-quantize-float{wformat=fp8,aformat=fp8,keep_last=true},canonicalize",
            "FP8 W8A8 as fp8, the last linear layer (an LM head, a classifier) kept f32, as llm-compressor's FP8 "
            "recipes keep lm_head",
        ),
        Recipe(
            "fp8-static",
            1,
            "qc-quantize-float{wformat=fp8,aformat=e4m3:f32:tensor,static=true},canonicalize",
            "FP8 W8A8: e4m3 weights per output channel, e4m3 activations with one static scale per tensor "
            "(calibrated max|x| / 448)",
            calibration="minmax",
        ),
        Recipe(
            "mxfp8",
            1,
            "qc-quantize-float{wformat=mxfp8,aformat=mxfp8},canonicalize",
            "MXFP8 (OCP MX v1.0): e4m3 weights and activations in blocks of 32 sharing an e8m0 scale",
        ),
        Recipe(
            "mxfp4",
            1,
            "qc-quantize-float{wformat=mxfp4},canonicalize",
            "MXFP4 weights (e2m1 in blocks of 32 with an e8m0 scale), float activations",
        ),
        Recipe(
            "mxfp4-w4a4",
            1,
            "qc-quantize-float{wformat=mxfp4,aformat=mxfp4},canonicalize",
            "MXFP4 weights and activations (blocks of 32, e8m0 scales)",
        ),
        Recipe(
            "nvfp4",
            1,
            "qc-quantize-float{wformat=nvfp4},canonicalize",
            "NVFP4 weights (e2m1 in blocks of 16 with e4m3 scales and one f32 tensor scale), float activations",
        ),
        Recipe(
            "nvfp4-w4a4",
            1,
            "qc-quantize-float{wformat=nvfp4,aformat=nvfp4},canonicalize",
            "NVFP4 weights and activations (activations: e4m3 block scales under an f32 scale per token)",
        ),
        Recipe(
            "w4a16-asym",
            1,
            "qc-quantize{wbits=4,abits=16,group=128,sym=false,search=mse},canonicalize",
            "round-to-nearest onto asymmetric int4 weights (unsigned codes, a zero point per group of 128), each "
            "group's range chosen by MSE search; no calibration",
        ),
        Recipe(
            "w4a16-gptq-asym",
            1,
            "qc-gptq{wbits=4,group=128,sym=false,act_order=true,static_groups=true,search=mse},"
            "qc-quantize{wbits=4,abits=16,group=128,sym=false},canonicalize",
            "GPTQ (act-order, static groups, MSE-searched group ranges) onto asymmetric int4 weights with a zero "
            "point per group of 128",
            calibration="minmax",
        ),
        Recipe(
            "w3a16-gptq-head8",
            1,
            "qc-keep-last{precision=w8a16},qc-gptq{wbits=3,group=128,sym=false,act_order=true,static_groups=true,"
            "search=mse,sequential=true,true_sequential=true},qc-quantize{wbits=3,abits=16,group=128,sym=false},"
            "canonicalize",
            "true-sequential GPTQ (act-order, static groups, MSE ranges) onto asymmetric int3 weights with a zero "
            "point per group of 128; the last linear layer (an LM head) at int8, as peers' recipes leave lm_head out",
            calibration="minmax",
        ),
        Recipe(
            "w3a16-gptq",
            1,
            "qc-gptq{wbits=3,group=128,sym=false,act_order=true,static_groups=true},"
            "qc-quantize{wbits=3,abits=16,group=128,sym=false},canonicalize",
            "GPTQ (act-order, static groups) onto asymmetric int3 weights with a zero point per group of 128",
            calibration="minmax",
        ),
    )
}


def with_budget(recipe: Recipe, budget: float) -> Recipe:
    """`recipe` with the budget of its qc-assign-precision step replaced (`qcomp eval --budget`)."""
    if "qc-assign-precision" not in recipe.pipeline:
        raise QcompError(f"recipe {recipe.name!r} has no qc-assign-precision step to take a budget (try 'mixed')")
    pipeline = re.sub(
        r"qc-assign-precision(\{[^}]*\})?",
        lambda m: _set_option(m.group(0), "budget", f"{budget:g}"),
        recipe.pipeline,
    )
    return Recipe(f"{recipe.name}@{budget:g}", recipe.version, pipeline, recipe.description, recipe.calibration)


def _set_option(spec: str, key: str, value: str) -> str:
    name, _, rest = spec.partition("{")
    items = [i for i in rest.rstrip("}").split(",") if i and not i.strip().startswith(key + "=")]
    return f"{name}{{{','.join([*items, f'{key}={value}'])}}}"


MAX_RECIPE_BYTES = 1 << 20  # a recipe is a few lines; refuse anything larger before parsing it


def _safe_loader():
    """PyYAML's SafeLoader without anchors and aliases: a recipe needs none, and aliases of aliases expand
    exponentially once the value is turned into text (a 600-byte "billion laughs" file is gigabytes)."""
    import yaml  # deferred: only YAML recipe files need PyYAML (`import qcomp` stays light)

    class RecipeLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise _AliasError(f"line {mark.line + 1}, column {mark.column + 1}")
            return super().compose_node(parent, index)

    return RecipeLoader


class _AliasError(Exception):
    pass


def load_recipe(path: str) -> Recipe:
    import yaml  # deferred: only YAML recipe files need PyYAML

    try:
        with open(path, "rb") as f:  # bytes: PyYAML's reader reports non-UTF-8 text as a YAMLError
            text = f.read(MAX_RECIPE_BYTES + 1)
        if len(text) > MAX_RECIPE_BYTES:
            raise QcompError(f"{path}: cannot read recipe: larger than {MAX_RECIPE_BYTES} bytes")
        data = yaml.load(text, Loader=_safe_loader())  # a SafeLoader subclass
    except _AliasError as e:
        raise QcompError(f"{path}: {e}: YAML aliases (*name) are not allowed in a recipe") from None
    except (OSError, yaml.YAMLError, RecursionError) as e:
        raise QcompError(f"{path}: cannot read recipe: {str(e).splitlines()[0]}") from e
    if not isinstance(data, dict) or "pipeline" not in data:
        raise QcompError(f"{path}: a recipe needs at least a 'pipeline' key")
    unknown = set(data) - {"name", "version", "pipeline", "description", "calibration"}
    if unknown:
        raise QcompError(f"{path}: unknown recipe keys {sorted(map(str, unknown))}")
    for key in ("name", "pipeline", "description", "calibration"):
        if isinstance(data.get(key), (list, dict)):
            raise QcompError(f"{path}: recipe key '{key}' must be text, got a {type(data[key]).__name__}")
    version = data.get("version", 1)
    if not isinstance(version, int):
        raise QcompError(f"{path}: 'version' must be an integer, got {version!r}")
    return Recipe(
        str(data.get("name", os.path.basename(path))),
        version,
        str(data["pipeline"] or ""),
        str(data.get("description", "")),
        str(data.get("calibration") or ""),
    )


def get_recipe(recipe: "str | Recipe") -> Recipe:
    """A built-in recipe by name, a recipe file (.yaml/.yml), or a Recipe object."""
    if isinstance(recipe, Recipe):
        return recipe
    if recipe in BUILTIN:
        return BUILTIN[recipe]
    if recipe.endswith((".yaml", ".yml")):
        return load_recipe(recipe)
    raise QcompError(f"unknown recipe {recipe!r} (built in: {', '.join(BUILTIN)}; or a .yaml file)")
