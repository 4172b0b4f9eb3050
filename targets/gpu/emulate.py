"""Run the GPU kernels on the CPU: the emulated kernel IR (`kernels.emulation_module`) JIT-compiled by MLIR.

Every kernel of a model goes into one module, compiled once; `EmulatedKernels.run(spec, arrays)` calls the
kernel of one spec (a qc.qlinear `GemmSpec`, or any spec with `kernel()` -> `simt.SimtKernel` and
`arg_shapes()`) on numpy arrays (operands reshaped to the kernel's memrefs); it returns the output array,
or a tuple of them for a kernel with several outputs.
No fast-math flags and no FMA contraction: the epilogue rounds exactly like the reference and the CPU
target, and integer accumulation is exact (no overflow below `kernels.max_k`).
"""

from __future__ import annotations

import numpy as np
from qcomp.dialects._mlir import ir, run_pipeline
from qcomp.dialects.context import new_context
from qcomp.dialects.errors import QcompError
from qcomp.targets.common.host import PackedArgs, new_engine

from .kernels import MMA_EMULATION, GemmSpec, Tiling, emulated_kernel

TO_LLVM = (
    "convert-vector-to-scf{full-unroll=true},lower-affine,convert-scf-to-cf,expand-strided-metadata,lower-affine,"
    "convert-vector-to-llvm,convert-math-to-llvm,finalize-memref-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,"
    "convert-func-to-llvm,convert-cf-to-llvm,convert-ub-to-llvm,reconcile-unrealized-casts"
)
_DTYPES = (np.int8, np.float32, np.int8, np.float32, np.float32, np.float32)
_NP = {"f32": np.float32, "i8": np.int8, "i32": np.int32}


def emulation_text(specs: list, tiling: Tiling) -> str:
    """One module with the emulated kernel of every spec (and the lock-step mma when a GEMM needs it)."""
    funcs = [emulated_kernel(s, tiling) if isinstance(s, GemmSpec) else s.kernel().emulated_func() for s in specs]
    if any(isinstance(s, GemmSpec) for s in specs):
        funcs.append(MMA_EMULATION)
    return "module {\n" + "\n".join(funcs) + "\n}\n"


class EmulatedKernels:
    """The emulated kernels of `specs`, JIT-compiled for this CPU."""

    def __init__(self, specs: list, tiling: Tiling, opt_level: int = 2):
        self.specs = {s.name: s for s in specs}
        self.text = emulation_text(list(self.specs.values()), tiling)
        module = ir.Module.parse(self.text, new_context())
        run_pipeline(module, TO_LLVM)
        self.engine = new_engine(module, opt_level)
        self._module = module
        self._functions: dict = {}

    def run(self, spec, arrays: list[np.ndarray]):
        """The kernel's output(s) from its inputs of any leading shape (flattened to the kernel's shapes);
        for a GemmSpec: y [m, n] f32 from (xq, xs, wq, ws, b)."""
        if spec.name not in self.specs:
            raise QcompError(f"gpu emulation: no kernel {spec.name}")
        if not isinstance(spec, GemmSpec):
            return self._run_simt(spec, arrays)
        shapes = [(spec.m, spec.k), (spec.m if spec.per_token else 1,), (spec.n, spec.k), (spec.n,), (spec.n,)]
        args = []
        for a, shape, dt in zip(arrays, shapes, _DTYPES[:5], strict=True):
            a = np.ascontiguousarray(a, dtype=dt)
            if a.size != int(np.prod(shape)):
                raise QcompError(f"gpu emulation: {spec.name} got an operand of {a.size} values, expected {shape}")
            args.append(a.reshape(shape))
        y = np.empty((spec.m, spec.n), np.float32)
        self._invoke(spec.name, [*args, y])
        return y

    def _run_simt(self, spec, arrays: list[np.ndarray]):
        shapes = spec.arg_shapes()
        n_in = len(arrays)
        args = []
        for a, (shape, elem) in zip(arrays, shapes[:n_in], strict=True):
            a = np.ascontiguousarray(a, dtype=_NP[elem])
            if a.size != int(np.prod(shape)):
                raise QcompError(f"gpu emulation: {spec.name} got an operand of {a.size} values, expected {shape}")
            args.append(a.reshape(shape))
        outs = [np.empty(shape, _NP[elem]) for shape, elem in shapes[n_in:]]
        self._invoke(spec.name, [*args, *outs])
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _invoke(self, name: str, args: list[np.ndarray]) -> None:
        """Call kernel `name` on contiguous arrays, creating no ctypes types per call (`host.PackedArgs`)."""
        fn = self._functions.get(name)
        if fn is None:
            fn = self._functions[name] = self.engine.lookup(name)
        packed, keep = PackedArgs([a.shape for a in args]).pack(dict(enumerate(args)))
        fn(packed)
        del keep
