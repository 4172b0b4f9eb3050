"""qc-lower-to-linalg: every qc op -> linalg on tensors (the CPU target's lowering).

Each op becomes a call to a private function written as MLIR text by `lower_ops`: one function per
distinct op signature, kept outlined (`no_inline`) so that LLVM compiles it once however many layers
use it. Precondition: qc ops on
builtin ranked tensors with static shapes (what qc-from-torch produces).

Options (the CPU target's `vectorize` and `row_fusion`, `linalg_text.CodegenOptions`): vectorize=false writes
elementwise maps and row reductions as plain `linalg.generic`s instead of 16-lane vector loops; row_fusion=false
keeps each of them in a loop of its own instead of joining chains over the same rows (norm, softmax, per-token
quantization) into one. Row fusion changes the code, not the results (bit-identical); the scalar maps evaluate
exp, erf, ... with `math` instead of the vector polynomials (float results within rounding).
"""

from dataclasses import dataclass
from typing import ClassVar

from qcomp.dialects._mlir import ir, run_pipeline
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import attr_value, ops_named, replace_with_call

from .linalg_text import CodegenOptions, Fn, T, codegen_options
from .lowerings import LOWERINGS

_ELEMS = ("f32", "i8", "i32", "i64")


@dataclass(frozen=True)
class LowerToLinalgPass:
    """Lower all qc ops to linalg/tensor/arith/math on tensors (options: see the module docstring)."""

    name: ClassVar[str] = "qc-lower-to-linalg"
    vectorize: bool = True
    row_fusion: bool = True

    def __post_init__(self):
        for key in ("vectorize", "row_fusion"):
            if not isinstance(getattr(self, key), bool):
                raise QcompError(f"qc-lower-to-linalg: {key} must be true or false, got {getattr(self, key)!r}")

    def run(self, module: ir.Module) -> None:
        ops = ops_named(module, "qc.")
        if not ops:
            return
        options = CodegenOptions(self.vectorize, self.row_fusion)
        with module.context, ir.Location.unknown(), codegen_options(options):
            helpers: dict[tuple, str] = {}
            texts: list[str] = []
            for op in ops:
                kind = op.name[len("qc.") :]
                if kind not in LOWERINGS:
                    raise QcompError(f"{op.location}: the CPU target has no lowering for '{op.name}'")
                attrs = {k: attr_value(op.attributes[k]) for k in op.attributes}
                bad = [str(v.type) for v in [*op.operands, *op.results] if T.parse(str(v.type)).elem not in _ELEMS]
                if bad:
                    raise QcompError(
                        f"{op.location}: the CPU target lowers '{op.name}' on f32 and integer tensors "
                        f"only, got {bad[0]}"
                    )
                args = [T.parse(str(v.type)) for v in op.operands]
                results = [T.parse(str(r.type)) for r in op.results]
                key = (kind, tuple(args), tuple(results), tuple(sorted((k, str(v)) for k, v in attrs.items())))
                if key not in helpers:
                    fn = Fn(f"__qc_{kind}_{len(helpers)}", args, results)
                    returns = LOWERINGS[kind](fn, attrs)
                    texts.append(fn.text(returns))
                    helpers[key] = fn.name
                replace_with_call(op, helpers[key], list(op.operands))
            try:
                lib = ir.Module.parse("\n".join(texts))
            except ir.MLIRError as e:  # a bug in lower_ops, not a user error: keep the text for the report
                raise QcompError(f"internal error: generated linalg does not parse: {e}") from e
            for f in list(lib.body.operations):
                module.body.append(f.detach_from_parent())
        run_pipeline(module, "symbol-dce,canonicalize,cse")
