"""The one place that imports MLIR (the upstream Python bindings shipped in the torch-mlir wheel).

Everything else in qcomp imports `ir`, `passmanager`, `rewrite`, `ext` … from here, so a change of
the bindings between LLVM versions is handled in this file only.
"""

from torch_mlir import ir, passmanager, rewrite
from torch_mlir.dialects import arith, ext, func, linalg, tensor
from torch_mlir.dialects.ext import Dialect, Operand, Pure, Result

__all__ = [
    "Dialect",
    "Operand",
    "PassFailure",
    "Pure",
    "Result",
    "arith",
    "ext",
    "func",
    "ir",
    "linalg",
    "load_torch_c",
    "passmanager",
    "register_torch",
    "rewrite",
    "run_pass_manager",
    "run_pipeline",
    "tensor",
]


class PassFailure(Exception):
    """A pass pipeline failed; `diagnostics` holds the (location, message) of each error it emitted."""

    def __init__(self, diagnostics: list[tuple[str, str]]):
        self.diagnostics = diagnostics
        first = diagnostics[0] if diagnostics else ("", "pass pipeline failed without a diagnostic")
        super().__init__(f"{first[0]}: error: {first[1]}" if first[0] else first[1])


def run_pass_manager(pm, module: ir.Module) -> None:
    """Run `pm` on `module`, turning its error diagnostics into one PassFailure (nothing printed to stderr)."""
    errors: list[tuple[str, str]] = []

    def handler(d):
        if d.severity == ir.DiagnosticSeverity.ERROR:
            errors.append((str(d.location), d.message))
        return True

    h = module.context.attach_diagnostic_handler(handler)
    try:
        pm.run(module.operation)
    except ir.MLIRError as e:
        raise PassFailure(errors or [(str(d.location), d.message) for d in e.error_diagnostics]) from None
    finally:
        h.detach()


def run_pipeline(module: ir.Module, pipeline: str) -> None:
    """Run an upstream textual pipeline (`builtin.module(...)` added when missing) on `module`."""
    if not pipeline.startswith("builtin.module("):
        pipeline = f"builtin.module({pipeline})"
    run_pass_manager(passmanager.PassManager.parse(pipeline, context=module.context), module)


def load_torch_c(context: ir.Context) -> None:
    """Load the `torch_c` dialect into `context` (not loaded by register_dialect; a pass that depends on it is)."""
    with context, ir.Location.unknown():
        m = ir.Module.create()
        passmanager.PassManager.parse("builtin.module(func.func(convert-torch-to-arith))").run(m.operation)


def register_torch(context: ir.Context) -> None:
    """Make the torch dialect (and torch_c) known to `context`."""
    from torch_mlir.dialects import torch as torch_d  # deferred: MLIR bindings (heavy)

    torch_d.register_dialect(context)
    load_torch_c(context)
