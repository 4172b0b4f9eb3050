"""The CPU target: qc -> linalg -> LLVM, run by MLIR's ExecutionEngine (JIT) on this machine."""

from .target import CpuTarget

__all__ = ["CpuTarget"]
