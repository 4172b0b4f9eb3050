"""gpu.module -> NVVM -> LLVM IR -> PTX (llvmlite's NVPTX backend), and `ptxas` acceptance.

The torch-mlir wheel links only the X86 backend, so `gpu-module-to-binary` cannot run: the gpu.module is
lowered to the NVVM/LLVM dialects with upstream passes (kernel memrefs as bare pointers, so a launch passes
one pointer per buffer), its body is moved into a builtin.module and translated to LLVM IR text, and
llvmlite (LLVM 22, NVPTX included) emits PTX for the requested `sm_XX`. `ptxas` comes from PyPI's
`nvidia-cuda-nvcc` (the `gpu` extra); `find_ptxas` returns None where it is not installed.

`convert-gpu-to-nvvm` turns math ops (fma, sqrt, roundeven, absf, copysign) into calls of libdevice's
`__nv_*` functions. Libdevice itself is not linked: the few functions the kernels call are defined here by
the LLVM intrinsics of the same IEEE-exact (non-FTZ) semantics (`LIBDEVICE`), which NVPTX selects to single
instructions (fma.rn, sqrt.rn, cvt.rni, abs, copysign) and which the CPU emulation computes identically.
Transcendentals (exp, erf) are never left to libdevice: the kernels expand them into arith polynomials.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
from qcomp.dialects import new_context
from qcomp.dialects._mlir import ir, run_pipeline
from qcomp.dialects.errors import QcompError

TO_NVVM = (
    "gpu.module(convert-vector-to-scf{full-unroll=true},lower-affine,convert-scf-to-cf),"
    "convert-nvgpu-to-nvvm,"
    "gpu.module(convert-vector-to-llvm,convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=true}),"
    "canonicalize,reconcile-unrealized-casts"
)
TRIPLE = "nvptx64-nvidia-cuda"
PTX_FEATURES = "+ptx80"  # PTX ISA 8.0: sm_90 and the mma shapes used
FP8_CVT = re.compile(r"@llvm\.nvvm\.e(4m3|5m2)x2\.to\.f16x2")


def features(arch: str, llvm_text: str) -> str:
    """PTX ISA of a kernel: 8.0, or 8.1 on sm_89 for the fp8 conversions (`cvt.rn.f16x2.e4m3x2` needs sm_89
    with PTX 8.1, sm_90 with 7.8)."""
    return "+ptx81" if arch == "sm_89" and FP8_CVT.search(llvm_text) else PTX_FEATURES


def lower_to_nvvm(text: str) -> ir.Module:
    """Parse a module holding one gpu.module and lower it to the LLVM/NVVM dialects (in place)."""

    module = ir.Module.parse(text, new_context())
    run_pipeline(module, TO_NVVM)
    return module


def llvm_ir(nvvm_module: ir.Module) -> str:
    """LLVM IR text of the (single) lowered gpu.module's body."""
    from torch_mlir.dialects import llvm as llvm_dialect  # deferred: MLIR bindings (heavy)

    with nvvm_module.context, ir.Location.unknown():
        gpu_mods = [op for op in nvvm_module.body.operations if op.operation.name == "gpu.module"]
        if len(gpu_mods) != 1:
            raise QcompError(f"gpu: expected one gpu.module, found {len(gpu_mods)}")
        inner = ir.Module.create()
        for op in list(gpu_mods[0].regions[0].blocks[0].operations):
            inner.body.append(op)
        return llvm_dialect.translate_module_to_llvmir(inner.operation)


@functools.cache
def _llvm():
    try:
        import llvmlite.binding as llvm  # deferred: llvmlite (optional, GPU target only)
    except ImportError as e:  # pragma: no cover - llvmlite is a dependency
        raise QcompError("gpu target: llvmlite is not installed (pip install llvmlite)") from e
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    return llvm


# libdevice function -> (arity, LLVM intrinsic with the same correctly-rounded f32 semantics)
LIBDEVICE = {
    "__nv_fmaf": (3, "llvm.fma.f32"),
    "__nv_sqrtf": (1, "llvm.sqrt.f32"),
    "__nv_rintf": (1, "llvm.roundeven.f32"),
    "__nv_fabsf": (1, "llvm.fabs.f32"),
    "__nv_copysignf": (2, "llvm.copysign.f32"),
}
_DECLARED = re.compile(r"^declare [^@]*@(__nv_\w+)\(", re.M)


def define_libdevice(llvm_text: str) -> str:
    """Replace the declarations of the `LIBDEVICE` functions by always-inlined definitions; a call of any
    other libdevice function is an error (it would be an unresolved extern for ptxas)."""
    out = llvm_text
    for name in _DECLARED.findall(llvm_text):
        if name not in LIBDEVICE:
            raise QcompError(f"gpu target: a kernel calls libdevice's {name}, which is not provided")
        arity, intr = LIBDEVICE[name]
        params = ", ".join(f"float %a{i}" for i in range(arity))
        body = (
            f"define internal float @{name}({params}) alwaysinline {{\n"
            f"  %r = call float @{intr}({params})\n  ret float %r\n}}"
        )
        if f"@{intr}(" not in out:
            body += f"\ndeclare float @{intr}({', '.join(['float'] * arity)})"
        out = re.sub(rf"^declare [^@]*@{name}\(.*$", lambda _, text=body: text, out, count=1, flags=re.M)
    return out


_F32_HEX = re.compile(r"\bf0x([0-9A-Fa-f]{8})\b")
_F32_DEC = re.compile(r"(?<=[\s,\[(<])(-?\d+\.\d+e[+-]\d+)\b")
_INF = re.compile(r"(?<=[\s,\[(])([+-]?)inf\b")
_QNAN = re.compile(r"(?<=[\s,\[(])([+-])qnan\b")


def classic_float_literals(llvm_text: str) -> str:
    """Rewrite f32 constants printed in the newer `f0xHHHHHHHH` / `±inf` / `±qnan` syntax (by the wheel's LLVM) as the
    classic `0x<double bits>` that llvmlite's LLVM parses; the value is the same f32 (exactly representable).
    Shortest decimals (`-2.954600e-03`, which the older parser rejects as inexact) are read back as the f32
    they denote: the kernels have no f64 constants."""

    def repl(m: re.Match) -> str:
        value = struct.unpack("<f", struct.pack("<I", int(m.group(1), 16)))[0]
        return f"0x{struct.unpack('<Q', struct.pack('<d', value))[0]:016X}"

    def dec(m: re.Match) -> str:
        value = float(np.float32(m.group(1)))  # the shortest decimal of an f32 parses back to that f32
        return f"0x{struct.unpack('<Q', struct.pack('<d', value))[0]:016X}"

    out = _F32_DEC.sub(dec, _F32_HEX.sub(repl, llvm_text))
    out = _QNAN.sub(lambda m: "0xFFF8000000000000" if m.group(1) == "-" else "0x7FF8000000000000", out)
    return _INF.sub(lambda m: "0xFFF0000000000000" if m.group(1) == "-" else "0x7FF0000000000000", out)


def to_ptx(llvm_text: str, arch: str) -> str:
    """PTX for `arch` (e.g. sm_90) from LLVM IR text, at -O3, without FMA contraction (bit-exact epilogue)."""
    llvm = _llvm()
    if FP8_CVT.search(llvm_text) and arch not in ("sm_89", "sm_90", "sm_90a"):
        raise QcompError(f"gpu target: fp8 conversions (cvt.rn.f16x2.e4m3x2) need sm_89 or newer, not {arch}")
    tm = _tm(arch, features(arch, llvm_text))
    has_libdevice = bool(_DECLARED.search(llvm_text))
    mod = llvm.parse_assembly(define_libdevice(classic_float_literals(llvm_text)))
    mod.triple = TRIPLE
    mod.verify()
    if has_libdevice:
        mpm = llvm.create_new_module_pass_manager()
        mpm.add_always_inliner_pass()
        mpm.run(mod, llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options()))
    return tm.emit_assembly(mod)


def _tm(arch: str, feats: str = PTX_FEATURES):
    return _llvm().Target.from_triple(TRIPLE).create_target_machine(cpu=arch, features=feats, opt=3)


def compile_ptx(gpu_module_text: str, arch: str) -> tuple[str, str]:
    """(LLVM IR, PTX) of a module holding one gpu.module."""
    ll = llvm_ir(lower_to_nvvm(gpu_module_text))
    return ll, to_ptx(ll, arch)


def find_ptxas() -> str | None:
    """The ptxas of the nvidia-cuda-nvcc wheel (or one on PATH), or None."""
    try:
        import nvidia  # deferred: nvidia CUDA wheels (optional, GPU target only)

        for root in nvidia.__path__:
            for sub in ("cu13", "cuda_nvcc", "cu12"):
                path = os.path.join(root, sub, "bin", "ptxas")
                if os.access(path, os.X_OK):
                    return path
    except ImportError:
        pass
    found = shutil.which("ptxas", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return found


def ptxas(ptx: str, arch: str, ptxas_path: str | None = None) -> str:
    """Assemble `ptx` for `arch` with ptxas -v; returns its resource report, raises QcompError on rejection."""
    exe = ptxas_path or find_ptxas()
    if exe is None:
        raise QcompError("gpu target: ptxas not found (pip install 'qcomp[gpu]' installs nvidia-cuda-nvcc)")
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "k.ptx")
        with open(src, "w") as f:
            f.write(ptx)
        r = subprocess.run(
            [exe, f"-arch={arch}", "-v", src, "-o", os.path.join(d, "k.cubin")],
            capture_output=True,
            text=True,
            timeout=120,
        )
    if r.returncode != 0:
        first = next((ln for ln in r.stderr.splitlines() if ln.strip()), "no message")
        raise QcompError(f"gpu target: ptxas -arch={arch} rejected the PTX: {first}")
    return r.stderr
