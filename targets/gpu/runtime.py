"""Launch the PTX kernels on a CUDA device through the driver API (ctypes on libcuda), where one exists.

`cuda_device()` says whether a device can be used (or why not, in one line). `CudaRuntime` loads each
kernel's PTX with cuModuleLoadData, keeps each offloaded op's weights (wq, ws, b) resident on the device,
and per call copies the activations in, launches with the launch plan's grid and block, and copies y back.
Kernel parameters are bare device pointers (the kernels are lowered with the bare-pointer memref ABI).
"""

from __future__ import annotations

import ctypes
import functools
import threading

import numpy as np
from qcomp.dialects.errors import QcompError

_LIBS = ("libcuda.so.1", "libcuda.so")


@functools.cache
def _driver() -> tuple[ctypes.CDLL | None, str]:
    for name in _LIBS:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        return None, "no CUDA driver (libcuda.so.1 not found)"
    if lib.cuInit(0) != 0:
        return None, "the CUDA driver found no usable device (cuInit failed)"
    count = ctypes.c_int(0)
    if lib.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value == 0:
        return None, "the CUDA driver reports no device"
    return lib, ""


def cuda_device() -> tuple[bool, str]:
    """(True, "") when a CUDA device can run the kernels, else (False, why not)."""
    lib, why = _driver()
    return lib is not None, why


def _check(code: int, what: str) -> None:
    if code != 0:
        raise QcompError(f"gpu runtime: {what} failed with CUDA error {code}")


class CudaRuntime:
    """Device 0's primary context, the loaded kernels and the resident weights of each offloaded op."""

    def __init__(self, ptx_by_kernel: dict[str, str]):
        lib, why = _driver()
        if lib is None:
            raise QcompError(f"gpu target: cannot run the compiled model: {why}; compile with emulate=True")
        self.lib = lib
        lib.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
        lib.cuMemcpyHtoD_v2.argtypes = [ctypes.c_uint64, ctypes.c_void_p, ctypes.c_size_t]
        lib.cuMemcpyDtoH_v2.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t]
        lib.cuMemFree_v2.argtypes = [ctypes.c_uint64]
        dev, self.ctx = ctypes.c_int(), ctypes.c_void_p()
        _check(lib.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
        _check(lib.cuDevicePrimaryCtxRetain(ctypes.byref(self.ctx), dev), "cuDevicePrimaryCtxRetain")
        _check(lib.cuCtxSetCurrent(self.ctx), "cuCtxSetCurrent")
        self.functions = {}
        for name, ptx in ptx_by_kernel.items():
            mod, fn = ctypes.c_void_p(), ctypes.c_void_p()
            _check(lib.cuModuleLoadData(ctypes.byref(mod), ctypes.c_char_p(ptx.encode() + b"\0")), "cuModuleLoadData")
            _check(lib.cuModuleGetFunction(ctypes.byref(fn), mod, name.encode()), f"cuModuleGetFunction({name})")
            self.functions[name] = fn
        self.resident: dict[tuple[int, int], int] = {}  # (op index, operand) -> device pointer
        self.scratch: dict[int, tuple[int, int]] = {}  # size class -> (pointer, bytes)
        self._lock = threading.Lock()

    def _alloc(self, nbytes: int) -> int:
        ptr = ctypes.c_uint64()
        _check(self.lib.cuMemAlloc_v2(ctypes.byref(ptr), max(nbytes, 1)), "cuMemAlloc")
        return ptr.value

    def _upload(self, a: np.ndarray, ptr: int | None = None) -> int:
        a = np.ascontiguousarray(a)
        ptr = self._alloc(a.nbytes) if ptr is None else ptr
        _check(self.lib.cuMemcpyHtoD_v2(ptr, a.ctypes.data, a.nbytes), "cuMemcpyHtoD")
        return ptr

    def _buffer(self, slot: int, nbytes: int) -> int:
        have = self.scratch.get(slot)
        if have is None or have[1] < nbytes:
            if have is not None:
                self.lib.cuMemFree_v2(have[0])
            self.scratch[slot] = (self._alloc(nbytes), nbytes)
        return self.scratch[slot][0]

    def launch(self, op_index: int, kernel: str, grid, block, arrays: list[np.ndarray], outs, constant=()) -> None:
        """Run `kernel` on the input arrays, filling `outs` (one array or a list); inputs whose index is in
        `constant` (weights, scales, bias: constants of the model) stay on the device after the first call.
        Thread-safe: launches are serialized (they share the scratch buffers), each with the context current
        on the calling thread."""
        with self._lock:
            _check(self.lib.cuCtxSetCurrent(self.ctx), "cuCtxSetCurrent")
            self._launch(op_index, kernel, grid, block, arrays, outs, constant)

    def _launch(self, op_index: int, kernel: str, grid, block, arrays: list[np.ndarray], outs, constant) -> None:
        outs = [outs] if isinstance(outs, np.ndarray) else list(outs)
        ptrs = []
        for i, a in enumerate(arrays):
            if i in constant:
                key = (op_index, i)
                if key not in self.resident:
                    self.resident[key] = self._upload(a)
                ptrs.append(self.resident[key])
            else:
                ptrs.append(self._upload(a, self._buffer(i, np.asarray(a).nbytes)))
        dev_outs = [self._buffer(100 + j, o.nbytes) for j, o in enumerate(outs)]
        ptrs += dev_outs
        params = [ctypes.c_uint64(p) for p in ptrs]
        argv = (ctypes.c_void_p * len(params))(*[ctypes.cast(ctypes.byref(p), ctypes.c_void_p) for p in params])
        _check(
            self.lib.cuLaunchKernel(
                self.functions[kernel], *map(ctypes.c_uint, grid), *map(ctypes.c_uint, block), 0, None, argv, None
            ),
            f"cuLaunchKernel({kernel})",
        )
        _check(self.lib.cuCtxSynchronize(), "cuCtxSynchronize")
        for o, ptr in zip(outs, dev_outs, strict=True):
            _check(self.lib.cuMemcpyDtoH_v2(o.ctypes.data, ptr, o.nbytes), "cuMemcpyDtoH")
