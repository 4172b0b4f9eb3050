"""Dynamic shapes: what torch.export says about a model's input and output dimensions.

`qcomp.compile(..., dynamic_shapes=...)` takes torch.export's `Dim` semantics. The exported program names
each dynamic dimension with a symbol and a range (`s0` in [1, 32]); its outputs' dimensions are expressions
of those symbols (`s0`, `2*s0`). A `ShapeSpec` keeps both, so that a compiled function

- checks every call's inputs against the ranges and the static dimensions (one line naming the input, the
  dimension and the allowed range), binding each symbol to its size, and
- knows each output's shape before it runs (the caller allocates it: no padding to the maximum).
"""

import json
from dataclasses import dataclass

from .errors import QcompError

Dim = int | str  # a static size, or a symbol's name
SHAPES_ATTR = "qc.shapes"  # module attribute: the ShapeSpec as JSON, where the module has dynamic dimensions


@dataclass(frozen=True)
class ShapeSpec:
    """Input shapes (ints and symbol names), output shapes (ints and expressions of the symbols, as text),
    the symbols' inclusive ranges and the user's names for the inputs."""

    inputs: tuple[tuple[Dim, ...], ...]
    outputs: tuple[tuple[Dim, ...], ...]
    ranges: dict[str, tuple[int, int]]
    names: tuple[str, ...]

    @property
    def dynamic(self) -> bool:
        return bool(self.ranges)

    def bind(self, shapes: list[tuple[int, ...]]) -> dict[str, int]:
        """Each symbol's size in these input shapes; a one-line QcompError where one does not fit."""
        env: dict[str, int] = {}
        for name, want, got in zip(self.names, self.inputs, shapes, strict=True):
            if len(got) != len(want):
                raise QcompError(f"input {name!r}: expected rank {len(want)} {_show(want)}, got shape {list(got)}")
            for d, (w, g) in enumerate(zip(want, got, strict=True)):
                if isinstance(w, int):
                    if g != w:
                        raise QcompError(f"input {name!r}: dimension {d} must be {w} {_show(want)}, got {g}")
                    continue
                lo, hi = self.ranges[w]
                if not lo <= g <= hi:
                    raise QcompError(f"input {name!r}: dimension {d} ({w}) is {g}, outside its range [{lo}, {hi}]")
                if env.setdefault(w, g) != g:
                    raise QcompError(
                        f"input {name!r}: dimension {d} ({w}) is {g}, but another input has {w} = {env[w]}"
                    )
        return env

    def to_json(self) -> str:
        return json.dumps({"inputs": self.inputs, "outputs": self.outputs, "ranges": self.ranges, "names": self.names})

    @staticmethod
    def from_json(text: str) -> "ShapeSpec":
        d = json.loads(text)
        shapes = lambda key: tuple(tuple(s) for s in d[key])  # noqa: E731
        ranges = {k: (int(lo), int(hi)) for k, (lo, hi) in d["ranges"].items()}
        return ShapeSpec(shapes("inputs"), shapes("outputs"), ranges, tuple(d["names"]))

    def output_shapes(self, env: dict[str, int]) -> list[tuple[int, ...]]:
        return [tuple(d if isinstance(d, int) else _eval(d, env) for d in shape) for shape in self.outputs]

    def example(self, which: str = "max") -> list[tuple[int, ...]]:
        """Input shapes with every symbol at the low or high end of its range."""
        pick = {s: (lo if which == "min" else hi) for s, (lo, hi) in self.ranges.items()}
        return [tuple(d if isinstance(d, int) else pick[d] for d in shape) for shape in self.inputs]


def _show(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _eval(expr: str, env: dict[str, int]) -> int:
    import sympy  # deferred: sympy (heavy; symbolic shapes only)

    value = sympy.sympify(expr).subs({sympy.Symbol(k): v for k, v in env.items()})
    if not value.is_integer:
        raise QcompError(f"output dimension {expr} does not evaluate to an integer for {env}")
    return int(value)


def _dim(d, ranges: dict) -> Dim:
    if isinstance(d, int):
        return d
    import torch  # here, not at the top: qcomp-opt imports this module and never needs torch

    expr = d.node.expr if isinstance(d, torch.SymInt) else d
    if hasattr(expr, "is_number") and expr.is_number:
        return int(expr)
    return str(expr)


def spec_of(prog) -> ShapeSpec:
    """The ShapeSpec of a torch.export ExportedProgram."""
    import torch  # deferred: torch (heavy)

    sig = prog.graph_signature
    user_inputs = set(sig.user_inputs)
    ranges = {}
    for sym, vr in prog.range_constraints.items():
        lo, hi = int(vr.lower), vr.upper
        if not getattr(hi, "is_finite", True) or str(hi) in ("oo", "int_oo"):
            raise QcompError(
                f"dynamic dimension {sym} has no upper bound: give it one, e.g. Dim('{sym}', max=512) "
                "(a compiled model is checked against its ranges)"
            )
        ranges[str(sym)] = (lo, int(hi))
    inputs, names = [], []
    outputs = []
    for node in prog.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            val = node.meta.get("val")
            if isinstance(val, torch.Tensor):
                inputs.append(tuple(_dim(d, ranges) for d in val.shape))
                names.append(node.name)
        elif node.op == "output":
            for a in node.args[0]:
                val = getattr(a, "meta", {}).get("val")
                if isinstance(val, torch.Tensor):
                    outputs.append(tuple(_dim(d, ranges) for d in val.shape))
    for shape in inputs:
        for d in shape:
            if isinstance(d, str) and d not in ranges:
                raise QcompError(f"input dimension {d} is an expression; give each dynamic input dimension a Dim")
    return ShapeSpec(tuple(inputs), tuple(outputs), ranges, tuple(names))


def module_spec(module) -> ShapeSpec | None:
    """The `qc.shapes` of a module (None where all its shapes are static)."""
    attrs = module.operation.attributes
    if SHAPES_ATTR not in attrs:
        return None
    from qcomp.dialects._mlir import ir  # deferred: loads MLIR (heavy)

    return ShapeSpec.from_json(ir.StringAttr(attrs[SHAPES_ATTR]).value)
