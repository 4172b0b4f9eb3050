"""The host runtime the targets share: MLIR's JIT (`ExecutionEngine`) and calls of its packed entry points.

Every target that runs code on this CPU uses it: the CPU target's JIT (`targets/cpu/jit.py`, which runs the
host part of every accelerator build too) and the GPU target's emulation of its kernels (`targets/gpu/
emulate.py`). A packed entry point takes one `void *args[]`, one pointer per memref descriptor; `PackedArgs`
builds that array from a template without creating ctypes objects per call.
"""

import numpy as np
from qcomp.dialects._mlir import ir


def new_engine(module: ir.Module, opt_level: int = 2, shared_libs: list[str] | None = None):
    """An ExecutionEngine over `module` (in the LLVM dialect) at LLVM optimisation level `opt_level`."""
    from torch_mlir import execution_engine  # deferred: MLIR's JIT library loads only when code is run

    return execution_engine.ExecutionEngine(module, opt_level=opt_level, shared_libs=shared_libs or [])


def descriptor_words(shape: tuple[int, ...]) -> list[int]:
    """A row-major memref descriptor's int64 words with its two pointers 0: {allocated, aligned, offset,
    sizes[rank], strides[rank]} (strides in elements)."""
    strides, stride = [], 1
    for d in reversed(shape):
        strides.append(stride)
        stride *= d
    return [0, 0, 0, *shape, *reversed(strides)]


class PackedArgs:
    """The `void *args[]` of a packed MLIR entry point over row-major buffers of fixed shapes.

    `args[i]` points to a pointer to descriptor i; all descriptors live in one int64 array built from a
    template, so a call creates no ctypes types or objects (the torch-mlir helpers make a new Structure
    class per array and ctypes caches a pointer type for each: memory that grows with every call)."""

    def __init__(self, shapes: list[tuple[int, ...]], dynamic: bool = False):
        """dynamic: some shapes have dynamic sizes; every call then writes the sizes and strides of the
        arrays it passes."""
        words: list[int] = []
        starts = []
        for shape in shapes:
            starts.append(len(words))
            words += descriptor_words(tuple(max(d, 0) for d in shape))
        self.template = np.array(words or [0], np.int64)
        self.starts = np.array(starts, np.int64)
        self.n = len(shapes)
        self.dynamic = dynamic

    def set_template(self, i: int, address: int) -> None:
        """Make argument i of every later call point at `address` (weights: fixed buffers)."""
        self.template[self.starts[i] : self.starts[i] + 2] = address

    def address(self, i: int) -> int:
        return int(self.template[self.starts[i]])

    def pack(self, arrays: dict[int, np.ndarray]) -> tuple:
        """(args, keep): `args` the address of the void*[] for the template plus `arrays` (argument index ->
        buffer, C-contiguous, of its shape); `keep` must stay alive until the call returns."""
        desc = self.template.copy()
        if arrays:
            idx = self.starts[list(arrays)]
            addrs = np.array([a.ctypes.data for a in arrays.values()], np.int64)
            desc[idx] = addrs
            desc[idx + 1] = addrs
        if self.dynamic:
            for i, a in arrays.items():
                words = descriptor_words(a.shape)[3:]
                desc[self.starts[i] + 3 : self.starts[i] + 3 + len(words)] = words
        slots = self.starts * 8 + desc.ctypes.data
        args = np.arange(self.n, dtype=np.int64) * 8 + slots.ctypes.data
        return int(args.ctypes.data), (desc, slots, args, arrays)
