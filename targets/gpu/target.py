"""GpuTarget: qc.qlinear on NVIDIA tensor cores, qc.wlinear (int4/int8 weights dequantized in the kernel) and
qc.fp_wlinear (fp8/fp6/fp4 codes decoded in the kernel, PTX cvt for fp8 on sm_89+) as PTX for sm_XX, every
other op on the host CPU.

pipeline: qc-fuse{act=false,gate=false} (GELU/SiLU and the gate stay on the host), qc-gpu-offload (the
partition), then the CPU lowering of the host part. build: one kernel per distinct offloaded shape
(`kernels.gpu_kernel` for qc.qlinear, `wlinear.WLinearSpec` for qc.wlinear), PTX per
kernel through NVVM and llvmlite (`ptx.compile_ptx`), a launch plan (grid, block, shared memory per
offloaded op) and the host program (`HostProgram`) whose offloaded calls run the kernels: on the CUDA
device (`runtime.CudaRuntime`) or, with emulate=True, as the emulated kernel IR JIT-compiled on this CPU.
Without a device a non-emulated model still compiles (PTX, plan, report); calling it raises one QcompError.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.precision import Precision
from qcomp.targets.base import Artifact, Capabilities, Cost, Target
from qcomp.targets.common.offload import HostProgram, OffloadedOp, offloaded_ops

from .kernels import MMA_K, MMA_M, MMA_N, WARP, GemmSpec, Tiling, gpu_module, max_k
from .offload_pass import OP_SETS, GpuOffloadPass, op_spec
from .ptx import compile_ptx

ARCHS = ("sm_80", "sm_86", "sm_89", "sm_90", "sm_90a")
# H200 SXM (sm_90): dense int8 tensor-core peak and HBM3e bandwidth, for the roofline cost model
PEAK_INT8_OPS = 1979e12
HBM_BYTES_S = 4.8e12
LAUNCH_S = 4e-6


@dataclass(frozen=True)
class GpuOptions:
    """arch: the PTX target (sm_80 … sm_90a; int8 mma.sync m16n8k32 needs sm_80+).
    emulate: run the kernels' IR on the CPU (blocks, warps and lanes as loops) instead of a CUDA device.
    ops: "gemm" (qc.qlinear, qc.wlinear on the GPU; the default, bit-identical to the CPU build at W8A8) or
    "all" (also norms, softmax, GELU/SiLU and per-token dynamic quantization; float ops within rounding)."""

    arch: str = "sm_90"
    emulate: bool = False
    ops: str = "gemm"

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise QcompError(f"gpu target: arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        if not isinstance(self.emulate, bool):
            raise QcompError(f"gpu target: emulate must be true or false, got {self.emulate!r}")
        if self.ops not in OP_SETS:
            raise QcompError(f"gpu target: ops must be one of {', '.join(OP_SETS)}, got {self.ops!r}")


@dataclass
class Kernel:
    """One compiled kernel: its spec, gpu-dialect MLIR, LLVM IR and PTX."""

    spec: Any  # GemmSpec, or a spec with kernel() -> simt.SimtKernel
    mlir: str
    llvm_ir: str
    ptx: str


_RUNTIME_LOCK = threading.Lock()


class GpuArtifact(Artifact):
    """The host program plus the kernels, the launch plan and (lazily) the device runtime."""

    def __init__(self, module, ops: list[OffloadedOp], kernels: dict[str, Kernel], tiling: Tiling, options):
        self.ops, self.kernels, self.tiling, self.options = ops, kernels, tiling, options
        self.specs = [_spec(op, options.arch) for op in ops]
        self.plan = [self._launch(op, spec) for op, spec in zip(ops, self.specs, strict=True)]
        self._runtime = None
        self._emulator = None
        if options.emulate:
            from .emulate import EmulatedKernels  # deferred: JIT-compiles kernels, only with emulate=true

            self._emulator = EmulatedKernels([k.spec for k in kernels.values()], tiling)
        self.program = HostProgram(module, self._execute)
        self.llvm_text = self.program.llvm_text

    def _launch(self, op: OffloadedOp, spec) -> dict[str, Any]:
        row = {"op": op.name, "symbol": op.symbol, "location": op.location, "kernel": spec.name}
        if isinstance(spec, GemmSpec):
            row |= {"grid": list(spec.grid(self.tiling)), "block": [WARP * self.tiling.warps, 1, 1]}
            row["shared_memory_bytes"] = 0
        else:
            kernel = spec.kernel()
            row |= {"grid": list(kernel.grid), "block": [kernel.threads, 1, 1]}
            row["shared_memory_bytes"] = kernel.shared_bytes
        return row | {d: getattr(spec, d) for d in ("m", "n", "k") if hasattr(spec, d)}

    def _execute(self, op: OffloadedOp, arrays: list[np.ndarray]):
        spec = self.specs[op.index]
        shapes = [s for s, _ in op.result_types or [op.result_type]]
        if self._emulator is not None:
            outs = self._emulator.run(spec, arrays)
        else:
            if isinstance(spec, GemmSpec):
                outs = np.empty((spec.m, spec.n), np.float32)
            else:
                outs = [np.empty(s, np.int8 if e == "i8" else np.float32) for s, e in spec.arg_shapes()[len(arrays) :]]
                outs = outs[0] if len(outs) == 1 else tuple(outs)
            plan = self.plan[op.index]
            constant = {i for i, c in enumerate(op.constants) if c is not None}
            self._runtime.launch(op.index, spec.name, plan["grid"], plan["block"], arrays, outs, constant)
        if len(shapes) == 1:
            return outs.reshape(shapes[0])
        return tuple(o.reshape(s) for o, s in zip(outs, shapes, strict=True))

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        if self._emulator is None and self._runtime is None:
            from .runtime import CudaRuntime  # deferred: loads the CUDA driver, only on a GPU

            with _RUNTIME_LOCK:  # one runtime however many threads make the first call
                if self._runtime is None:
                    self._runtime = CudaRuntime({name: k.ptx for name, k in self.kernels.items()})
        return self.program(*inputs)

    def step_metrics(self) -> dict[str, float]:
        """Additive figures of one call (`targets/common/metrics.py`): kernel_launches (one per offloaded op)
        and the macs of the GEMM kernels (m·n·k each)."""
        macs = sum(row["m"] * row["n"] * row["k"] for row in self.plan if {"m", "n", "k"} <= row.keys())
        return {"kernel_launches": len(self.plan), "macs": macs}

    @property
    def report(self) -> dict[str, Any]:
        return {
            "arch": self.options.arch,
            "emulate": self.options.emulate,
            "ops": self.options.ops,
            "kernels": len(self.kernels),
            "offloaded_ops": len(self.ops),
            "gpu_ops": dict(sorted(Counter(op.name for op in self.ops).items())),
            "mma": f"mma.sync.m{MMA_M}n{MMA_N}k{MMA_K}.s32.s8.s8.s32",
            "tiling": {"block_m": self.tiling.block_m, "block_n": self.tiling.block_n, "warps": self.tiling.warps},
            "ptx_lines": sum(k.ptx.count("\n") for k in self.kernels.values()),
        }

    def save(self, directory: str) -> list[str]:
        """kernels/<name>.{mlir,ll,ptx} per kernel, launch_plan.json and gpu_report.json."""
        os.makedirs(os.path.join(directory, "kernels"), exist_ok=True)
        written = []
        for name, k in self.kernels.items():
            for ext, text in (("mlir", k.mlir), ("ll", k.llvm_ir), ("ptx", k.ptx)):
                rel = os.path.join("kernels", f"{name}.{ext}")
                with open(os.path.join(directory, rel), "w") as f:
                    f.write(text)
                written.append(rel)
        for rel, data in (("launch_plan.json", self.plan), ("gpu_report.json", self.report)):
            with open(os.path.join(directory, rel), "w") as f:
                json.dump(data, f, indent=1)
            written.append(rel)
        return written


def _spec(op: OffloadedOp, arch: str):
    return op_spec(op.name, op.attrs, [list(s) for s, _ in op.operand_types], arch)


class GpuTarget(Target):
    name = "gpu"
    Options = GpuOptions
    passes = (GpuOffloadPass,)
    tiling = Tiling()

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            ops=frozenset(OP_SETS[self.options.ops]),
            weight_bits=(2, 3, 4, 5, 6, 7, 8),
            activation_bits=(8,),
            facts={
                "arch": self.options.arch,
                "mma": (MMA_M, MMA_N, MMA_K),
                "block_tile": (self.tiling.block_m, self.tiling.block_n),
                "max_k": max_k(),
                "fused_activations": ("none", "relu"),
                "host_ops": "everything else (CPU target)",
            },
            # the GEMMs stay plain qc.qlinear for the offload; ops=all also runs norms, quantization and softmax
            fused=frozenset({"dedupe", "roundtrip"} | ({"norm", "mask"} if self.options.ops == "gemm" else set())),
        )

    def cost(self, op, precision: str) -> Cost:
        """Roofline on an H200: max(2·M·N·K / int8 peak, bytes moved / HBM bandwidth) + a launch, for a
        qc.linear / qc.qlinear at w8a8; weight bytes at 1 byte per weight plus an f32 scale per channel."""
        p = Precision.parse(precision, "gpu target")  # a one-line error for a text that names no precision
        if op.name not in ("qc.linear", "qc.qlinear"):
            return Cost()
        x = list(ir.RankedTensorType(op.operands[0].type).shape)
        n, k = list(ir.RankedTensorType(op.operands[2 if op.name == "qc.qlinear" else 1].type).shape)
        rows = int(np.prod(x[:-1])) if len(x) > 1 else 1
        wbytes = n * k * 4 if p.is_float else n * k * p.wbits // 8 + 4 * n
        moved = wbytes + rows * k + rows * n * 4
        latency = max(2 * rows * n * k / PEAK_INT8_OPS, moved / HBM_BYTES_S) + LAUNCH_S
        return Cost(weight_bytes=wbytes, latency_s=latency)

    def stages(self) -> list[tuple[str, str]]:
        offload = "qc-gpu-offload" if self.options.ops == "gemm" else f"qc-gpu-offload{{ops={self.options.ops}}}"
        host = "qc-lower-to-linalg,qc-outline-host-ops"
        return [("fuse", self.capabilities.fuse_step()), ("offload", offload), ("host", host)]

    def build(self, module) -> Artifact:
        ops = offloaded_ops(module)
        kernels: dict[str, Kernel] = {}
        for op in ops:
            spec = _spec(op, self.options.arch)
            if spec.name not in kernels:
                text = gpu_module([spec], self.tiling)
                ll, ptx = compile_ptx(text, self.options.arch)
                kernels[spec.name] = Kernel(spec, text, ll, ptx)
        return GpuArtifact(module, ops, kernels, self.tiling, self.options)
