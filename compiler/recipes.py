"""Recipes: named, versioned pipelines (like llm-compressor recipes), built in or from a YAML file.

YAML form:
    name: my-w8a8
    version: 1
    description: per-tensor activations
    pipeline: qc-quantize{wbits=8,abits=8,granularity=per_tensor},canonicalize
"""

import os
from dataclasses import dataclass

from qcomp.errors import QcompError


@dataclass(frozen=True)
class Recipe:
    name: str
    version: int
    pipeline: str
    description: str = ""


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
    )
}


def load_recipe(path: str) -> Recipe:
    import yaml

    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise QcompError(f"{path}: cannot read recipe: {str(e).splitlines()[0]}") from e
    if not isinstance(data, dict) or "pipeline" not in data:
        raise QcompError(f"{path}: a recipe needs at least a 'pipeline' key")
    unknown = set(data) - {"name", "version", "pipeline", "description"}
    if unknown:
        raise QcompError(f"{path}: unknown recipe keys {sorted(unknown)}")
    version = data.get("version", 1)
    if not isinstance(version, int):
        raise QcompError(f"{path}: 'version' must be an integer, got {version!r}")
    return Recipe(
        str(data.get("name", os.path.basename(path))),
        version,
        str(data["pipeline"] or ""),
        str(data.get("description", "")),
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
