"""The one place that imports MLIR (the upstream Python bindings shipped in the torch-mlir wheel).

Everything else in qcomp imports `ir`, `passmanager`, `rewrite`, `ext` … from here, so a change of
the bindings between LLVM versions is handled in this file only.
"""

from torch_mlir import ir, passmanager, rewrite
from torch_mlir.dialects import arith, func, linalg, tensor
from torch_mlir.dialects import ext
from torch_mlir.dialects.ext import Dialect, Operand, Pure, Result

__all__ = [
    "Dialect",
    "Operand",
    "Pure",
    "Result",
    "arith",
    "ext",
    "func",
    "ir",
    "linalg",
    "load_torch_c",
    "register_torch",
    "passmanager",
    "rewrite",
    "run_pipeline",
    "tensor",
]


def run_pipeline(module: ir.Module, pipeline: str) -> None:
    """Run an upstream textual pipeline (`builtin.module(...)` added when missing) on `module`."""
    if not pipeline.startswith("builtin.module("):
        pipeline = f"builtin.module({pipeline})"
    passmanager.PassManager.parse(pipeline, context=module.context).run(module.operation)


def load_torch_c(context: ir.Context) -> None:
    """Load the `torch_c` dialect into `context` (not loaded by register_dialect; a pass that depends on it is)."""
    with context, ir.Location.unknown():
        m = ir.Module.create()
        passmanager.PassManager.parse("builtin.module(func.func(convert-torch-to-arith))").run(m.operation)


def register_torch(context: ir.Context) -> None:
    """Make the torch dialect (and torch_c) known to `context`."""
    from torch_mlir.dialects import torch as torch_d

    torch_d.register_dialect(context)
    load_torch_c(context)
