"""qcomp.dialects: the MLIR shim and the `qc` dialect."""

from ._mlir import ir, register_torch
from .qc import QC, op_classes, reference_of


def new_context() -> ir.Context:
    """A fresh MLIR context with the torch, torch_c and qc dialects loaded."""
    ctx = ir.Context()
    register_torch(ctx)
    with ctx:
        QC.load()
    return ctx


__all__ = ["QC", "new_context", "op_classes", "reference_of"]
