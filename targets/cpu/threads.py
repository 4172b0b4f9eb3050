"""Threads for the CPU target: how many, and the OpenMP runtime that runs the kernels' `scf.parallel` loops.

The GEMM kernels (over column panels × row tiles) and the vectorized elementwise maps and row reductions
(over rows) are written as `scf.parallel` loops when they are big enough to be worth a fork. With one thread
they lower to plain loops; with more, `convert-scf-to-openmp` turns them into OpenMP work-sharing loops whose
runtime calls (`__kmpc_fork_call` …) resolve against LLVM/Intel OpenMP's `libiomp5` from the PyPI package
`intel-openmp` (the torch wheel's libgomp lacks that ABI, the MLIR wheel has no async runtime).
"""

import ctypes
import functools
import os
from importlib import metadata

from qcomp.dialects.errors import QcompError

BLOCKTIME_MS = 1  # idle OpenMP workers spin this long, not libiomp5's 200 ms that would starve other work


def machine_threads() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@functools.cache
def openmp_library() -> str | None:
    """The path of libiomp5 from the installed `intel-openmp` distribution, or None."""

    try:
        dist = metadata.distribution("intel-openmp")
    except metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if str(f).endswith("libiomp5.so"):
            path = os.path.realpath(dist.locate_file(f))
            if os.path.isfile(path):
                return path
    return None


@functools.cache
def load_openmp() -> str:
    """Load libiomp5 into the process (the JIT resolves `__kmpc_*` against it) and shorten its spin time;
    returns its path."""
    path = openmp_library()
    if path is None:
        raise QcompError("cpu target: threads > 1 need the OpenMP runtime: pip install intel-openmp")
    ctypes.CDLL(path).kmp_set_blocktime(BLOCKTIME_MS)
    return path


def resolve_threads(threads: int | None) -> int:
    """The thread count to build with: `threads`, or the machine's cores when None (one where there is no
    OpenMP runtime). An explicit count above one without the runtime is an error of the caller's set-up."""

    if threads is None:
        return machine_threads() if openmp_library() else 1
    if threads > 1 and openmp_library() is None:
        raise QcompError(f"cpu target: threads={threads} needs the OpenMP runtime: pip install intel-openmp")
    return threads
