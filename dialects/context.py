"""The qc dialect loaded into an MLIR context: every op class defined, each verifier guarded, `new_context()`."""

from typing import Any

from . import qc_attention, qc_float, qc_quant  # noqa: F401  (define the quantization, float-format and KV-cache ops)
from ._mlir import ir, register_torch
from .qc import QC, _guarded

for _cls in QC.operations:  # every verifier reports malformed IR as a diagnostic, never an exception
    if "verify_invariants" in _cls.__dict__:
        _cls.verify_invariants = _guarded(_cls, _cls.__dict__["verify_invariants"])


def op_classes() -> dict[str, Any]:
    """Every qc op class by its full name (`qc.linear` -> LinearOp)."""
    return {cls.OPERATION_NAME: cls for cls in QC.operations}


def reference_of(name: str):
    """The numpy reference implementation of the op named `name` (e.g. 'qc.qlinear')."""
    return op_classes()[name].reference


def new_context() -> ir.Context:
    """A fresh MLIR context with the torch, torch_c and qc dialects loaded."""
    ctx = ir.Context()
    register_torch(ctx)
    with ctx:
        QC.load()
    return ctx


__all__ = ["QC", "new_context", "op_classes", "reference_of"]
