"""The host CPU's instruction sets: AVX512-VNNI, AVX2 (+FMA) or generic vector code. The CPU target's GEMM kernels
pick theirs from it (`targets/cpu/isa.py` re-exports it); the accelerators' simulators, which run on the host, read
it too."""

import functools


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The host CPU's feature flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


LANES = 16  # 512-bit vectors: 16 × f32 / i32
ISAS = ("avx512-vnni", "avx2", "generic")  # best first
ISA_FEATURES = {"avx512-vnni": (), "avx2": ("-avx512f", "-avxvnni"), "generic": ("-avx",)}  # LLVM features off


def host_isa() -> str:
    """The best kernel ISA of this CPU: AVX512-VNNI, AVX2 (+FMA) or generic vector code."""
    flags = cpu_flags()
    if {"avx512f", "avx512bw", "avx512_vnni"} <= flags:
        return "avx512-vnni"
    if {"avx2", "fma"} <= flags:
        return "avx2"
    return "generic"


def has_vnni() -> bool:
    return host_isa() == "avx512-vnni"
