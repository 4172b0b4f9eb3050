"""Sweep files: which models, recipes, budgets, targets and seeds a `qcomp sweep` crosses.

    name: small                       # optional; names the report
    models: [tiny-llama, mlp]         # built-ins, real models (smollm2, minilm) or file.py:factory;
                                      # or {name: smollm2, windows: 4, seq: 128, calib: 4, samples: 8}
    recipes: [w8a8, w8a8-smooth, mixed, mixed@5]   # built-in names, recipe .yaml files, NAME@BUDGET
    budgets: [4.5, 6]                 # crossed with every recipe that has a qc-assign-precision step
    targets: [cpu, {name: cim, options: {adc_bits: 6}}]
    seeds: [0, 1]                     # CIM device draw (a target's `seed` option) and synthetic data
    eval: {windows: 4, seq: 128, calib: 4, samples: 8}   # defaults for every model
    threads: 1                        # torch and CPU-target threads per point

The points are models × recipes (each budgeted recipe once per budget) × targets × seeds. A point is plain data
(strings and numbers): it is what travels to a worker, with the model as its factory spec, never a pickled
module. `Point.key` names it in results.jsonl, so a rerun skips what is already there.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from qcomp.dialects.errors import QcompError
from qcomp.recipes import get_recipe

MAX_SPEC_BYTES = 1 << 20
EVAL_KEYS = ("windows", "seq", "calib", "samples")
EVAL_DEFAULTS = {"windows": 4, "seq": 128, "calib": 4, "samples": 8}
TOP_KEYS = {"name", "models", "recipes", "budgets", "targets", "seeds", "eval", "threads"}


@dataclass(frozen=True)
class ModelSpec:
    """A model by factory spec, with how it is evaluated: `windows` x `seq` tokens (LMs), `windows` sentences of
    `seq` tokens (encoders) or `samples` synthetic inputs (built-in and file.py models); `calib` calibration
    windows / sentences / samples."""

    spec: str
    windows: int = EVAL_DEFAULTS["windows"]
    seq: int = EVAL_DEFAULTS["seq"]
    calib: int = EVAL_DEFAULTS["calib"]
    samples: int = EVAL_DEFAULTS["samples"]


@dataclass(frozen=True)
class Point:
    """One compile-and-evaluate job of a sweep."""

    model: ModelSpec
    recipe: str  # as written: a built-in name or a recipe file
    budget: float | None
    target: str
    target_options: dict = field(default_factory=dict)
    seed: int = 0
    threads: int = 1

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def key(self) -> str:
        """A canonical text naming everything that decides the point's result."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def label(self) -> str:
        recipe = self.recipe if self.budget is None else f"{self.recipe}@{self.budget:g}"
        opts = ",".join(f"{k}={v}" for k, v in sorted(self.target_options.items()))
        return f"{self.model.spec} {recipe} {self.target}{'{' + opts + '}' if opts else ''} seed {self.seed}"

    @staticmethod
    def from_dict(d: dict) -> Point:
        return Point(**{**d, "model": ModelSpec(**d["model"])})


@dataclass(frozen=True)
class SweepSpec:
    name: str
    points: tuple[Point, ...]


def _list(data: dict, key: str, where: str, default=None) -> list:
    value = data.get(key, default)
    if value is None:
        raise QcompError(f"{where}: '{key}' is missing (a list)")
    value = value if isinstance(value, list) else [value]
    if not value:
        raise QcompError(f"{where}: '{key}' is empty")
    return value


def _positive_int(value, what: str, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise QcompError(f"{where}: {what} must be an integer >= 1, got {value!r}")
    return value


def _eval_settings(data, where: str, base: dict) -> dict:
    if not isinstance(data, dict):
        raise QcompError(f"{where}: expected a mapping of {', '.join(EVAL_KEYS)}, got {data!r}")
    unknown = set(data) - set(EVAL_KEYS)
    if unknown:
        raise QcompError(f"{where}: unknown keys {sorted(map(str, unknown))} (known: {', '.join(EVAL_KEYS)})")
    return {**base, **{k: _positive_int(v, k, where) for k, v in data.items()}}


def _model(entry, where: str, defaults: dict) -> ModelSpec:
    if isinstance(entry, str):
        return ModelSpec(entry, **defaults)
    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
        rest = {k: v for k, v in entry.items() if k != "name"}
        return ModelSpec(entry["name"], **_eval_settings(rest, f"{where}: model {entry['name']}", defaults))
    raise QcompError(f"{where}: a model is a factory spec or {{name: SPEC, windows: N, ...}}, got {entry!r}")


def _target(entry, where: str) -> tuple[str, dict]:
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and isinstance(entry.get("name"), str) and set(entry) <= {"name", "options"}:
        options = entry.get("options") or {}
        if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
            raise QcompError(f"{where}: target {entry['name']}: 'options' must be a mapping")
        if any(isinstance(v, dict | list) for v in options.values()):
            raise QcompError(f"{where}: target {entry['name']}: option values must be numbers, text or booleans")
        return entry["name"], dict(options)
    raise QcompError(f"{where}: a target is a name or {{name: NAME, options: {{...}}}}, got {entry!r}")


def _number(value, what: str, where: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise QcompError(f"{where}: {what} must be a number > 0, got {value!r}") from None
    if not v > 0 or v == float("inf"):
        raise QcompError(f"{where}: {what} must be a number > 0, got {value!r}")
    return v


def _recipes(entries: list, budgets: list[float], where: str) -> list[tuple[str, float | None]]:
    """(recipe, budget) pairs: NAME@B as written; a budgeted recipe once per budget (or its own budget)."""

    out = []
    for entry in entries:
        if not isinstance(entry, str):
            raise QcompError(f"{where}: a recipe is a name or a .yaml file, got {entry!r}")
        name, at, budget = entry.rpartition("@") if "@" in entry else (entry, "", "")
        rec = get_recipe(name)  # an unknown recipe fails here, before anything runs
        if at:
            if "qc-assign-precision" not in rec.pipeline:
                raise QcompError(f"{where}: recipe {name!r} has no qc-assign-precision step to take budget {budget}")
            out.append((name, _number(budget, f"the budget of {entry}", where)))
        elif budgets and "qc-assign-precision" in rec.pipeline:
            out += [(name, b) for b in budgets]
        else:
            out.append((name, None))
    return out


def parse_spec(data, where: str = "sweep") -> SweepSpec:
    """A SweepSpec from the YAML's data (see module docstring); every mistake is a one-line QcompError."""
    if not isinstance(data, dict):
        raise QcompError(f"{where}: a sweep file is a mapping with models, recipes, targets ...")
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise QcompError(f"{where}: unknown keys {sorted(map(str, unknown))} (known: {', '.join(sorted(TOP_KEYS))})")
    defaults = _eval_settings(data.get("eval") or {}, f"{where}: eval", dict(EVAL_DEFAULTS))
    threads = _positive_int(data.get("threads", 1), "threads", where)
    models = [_model(m, where, defaults) for m in _list(data, "models", where)]
    budgets = [_number(b, "a budget", where) for b in data.get("budgets") or []]
    recipes = _recipes(_list(data, "recipes", where), budgets, where)
    targets = [_target(t, where) for t in _list(data, "targets", where, default=["cpu"])]
    seeds = [_seed(s, where) for s in _list(data, "seeds", where, default=[0])]
    points = [
        Point(m, r, b, t, opts, s, threads) for m in models for r, b in recipes for t, opts in targets for s in seeds
    ]
    keys = [p.key for p in points]
    if len(set(keys)) != len(keys):
        raise QcompError(f"{where}: the same point is listed twice (repeated model, recipe, target or seed)")
    return SweepSpec(str(data.get("name") or "sweep"), tuple(points))


def _seed(value, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise QcompError(f"{where}: a seed must be an integer >= 0, got {value!r}")
    return value


def load_spec(path: str) -> SweepSpec:
    """Read and check a sweep YAML file."""
    import yaml  # deferred: yaml (heavy)

    try:
        with open(path, "rb") as f:
            text = f.read(MAX_SPEC_BYTES + 1)
        if len(text) > MAX_SPEC_BYTES:
            raise QcompError(f"{path}: cannot read sweep: larger than {MAX_SPEC_BYTES} bytes")
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError, RecursionError) as e:
        raise QcompError(f"{path}: cannot read sweep: {str(e).splitlines()[0]}") from None
    return parse_spec(data, path)  # file.py models and recipe files: paths relative to the working directory
