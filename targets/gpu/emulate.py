"""Run the GPU kernels on the CPU: the emulated kernel IR (`kernels.emulation_module`) JIT-compiled by MLIR.

Every kernel of a model goes into one module, compiled once; `EmulatedKernels.run(spec, arrays)` calls the
kernel of one qc.qlinear shape on numpy arrays (operands reshaped to the kernel's 2-D / 1-D memrefs).
No fast-math flags and no FMA contraction: the epilogue rounds exactly like the reference and the CPU
target, and integer accumulation is exact (no overflow below `kernels.max_k`).
"""

from __future__ import annotations

import ctypes

import numpy as np
from qcomp.dialects._mlir import ir, run_pipeline
from qcomp.errors import QcompError

from .kernels import GemmSpec, Tiling, emulation_module

TO_LLVM = (
    "convert-vector-to-scf{full-unroll=true},lower-affine,convert-scf-to-cf,expand-strided-metadata,lower-affine,"
    "convert-vector-to-llvm,finalize-memref-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,"
    "convert-func-to-llvm,convert-cf-to-llvm,convert-ub-to-llvm,reconcile-unrealized-casts"
)
_DTYPES = (np.int8, np.float32, np.int8, np.float32, np.float32, np.float32)


class EmulatedKernels:
    """The emulated kernels of `specs`, JIT-compiled for this CPU."""

    def __init__(self, specs: list[GemmSpec], tiling: Tiling, opt_level: int = 2):
        from qcomp.dialects import new_context
        from torch_mlir import execution_engine

        self.specs = {s.name: s for s in specs}
        self.text = emulation_module(list(self.specs.values()), tiling)
        module = ir.Module.parse(self.text, new_context())
        run_pipeline(module, TO_LLVM)
        self.engine = execution_engine.ExecutionEngine(module, opt_level=opt_level)
        self._module = module

    def run(self, spec: GemmSpec, arrays: list[np.ndarray]) -> np.ndarray:
        """y [m, n] f32 from (xq, xs, wq, ws, b) of any leading shape (flattened to the kernel's shapes)."""
        from torch_mlir.runtime import get_ranked_memref_descriptor

        if spec.name not in self.specs:
            raise QcompError(f"gpu emulation: no kernel {spec.name}")
        shapes = [(spec.m, spec.k), (spec.m if spec.per_token else 1,), (spec.n, spec.k), (spec.n,), (spec.n,)]
        args = []
        for a, shape, dt in zip(arrays, shapes, _DTYPES[:5], strict=True):
            a = np.ascontiguousarray(a, dtype=dt)
            if a.size != int(np.prod(shape)):
                raise QcompError(f"gpu emulation: {spec.name} got an operand of {a.size} values, expected {shape}")
            args.append(a.reshape(shape))
        y = np.empty((spec.m, spec.n), np.float32)
        args.append(y)
        descs = [get_ranked_memref_descriptor(a) for a in args]
        ptrs = [ctypes.pointer(ctypes.pointer(d)) for d in descs]
        self.engine.invoke(spec.name, *ptrs)
        return y
