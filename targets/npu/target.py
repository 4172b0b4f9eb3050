"""NpuTarget: the systolic-array accelerator as a qcomp target (options, capabilities, cost, pipeline, build).

The pipeline partitions the quantized module (`qc-npu-offload`: qc.qlinear runs on the NPU, everything
else on the host CPU) and lowers the host part like the CPU target. `build` generates one program per
offloaded op (codegen.py), and returns an artifact whose host code (targets/common/offload.HostProgram,
JIT-compiled for the CPU) calls the simulator for each offloaded op. Its `report` holds the cycles of one
call: total and per layer ({name, cycles, utilization, dram_bytes, ...}), the roofline bound of each
layer and the host/NPU partition. `save(dir)` writes npu.s (assembly), npu.bin (binary) and npu_report.json.
"""

import json
import os
import struct
import threading
from functools import lru_cache

import numpy as np
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.precision import Precision
from qcomp.targets.base import Artifact, Capabilities, Cost, Target
from qcomp.targets.common.offload import HostProgram, offloaded_ops

from . import isa
from .arch import Arch, NpuOptions
from .codegen import Gemm, Layout, generate
from .offload_pass import FORMATS, NPU_OPS, NpuOffloadPass, partition
from .program import Layer
from .simulator import Machine, timing

BIN_MAGIC = b"QNPU"


def layer_row(arch: Arch, layer: Layer) -> dict:
    s, g = layer.stats, layer.gemm
    return {
        "name": layer.name,
        "op": g.name,
        "location": g.location,
        "shape": [g.m, g.k, g.n],
        "cycles": s.cycles,
        "compute_cycles": s.compute_cycles,
        "bound_cycles": layer.bound,
        "utilization": s.utilization(arch),
        "dram_bytes": s.dram_bytes,
        "sram_bytes": s.sram_bytes,
        "macs": s.macs,
        "bank_conflicts": s.bank_conflicts,
        "instructions": s.instructions,
    }


class NpuArtifact(Artifact):
    """Host code on the CPU JIT plus one simulated NPU program per offloaded op.

    Thread-safe: each thread runs on its own simulated machine (scratchpad, accumulator) and its own copy of
    each layer's DRAM image, made on that thread's first call of the layer."""

    def __init__(self, arch: Arch, host: HostProgram, layers: list[Layer], part: dict):
        self.arch, self.host, self.layers, self.partition = arch, host, layers, part
        self.llvm_text = host.llvm_text
        self.calls = 0
        self._local = threading.local()
        self._lock = threading.Lock()

    @property
    def machine(self) -> Machine:
        """This thread's simulated NPU."""
        local = self._local
        if not hasattr(local, "machine"):
            local.machine, local.images = Machine(self.arch), {}
        return local.machine

    def execute(self, op, arrays: list[np.ndarray]) -> np.ndarray:
        machine, layer = self.machine, self.layers[op.index]
        images = self._local.images
        if op.index not in images:
            images[op.index] = layer.image.copy()
        return layer.run(machine, arrays, op.result_type[0], images[op.index])

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        outs = self.host(*inputs)
        with self._lock:
            self.calls += 1
        return outs

    def step_metrics(self) -> dict[str, float]:
        """Additive figures of one call (every offloaded layer once; `targets/common/metrics.py`): cycles,
        latency_ns at the clock, dram_bytes and macs."""
        cycles = sum(layer.stats.cycles for layer in self.layers)
        return {
            "cycles": cycles,
            "latency_ns": cycles / self.arch.clock_hz * 1e9,
            "dram_bytes": sum(layer.stats.dram_bytes for layer in self.layers),
            "macs": sum(layer.stats.macs for layer in self.layers),
        }

    @property
    def report(self) -> dict:
        a = self.arch
        rows = [layer_row(a, layer) for layer in self.layers]
        cycles = sum(r["cycles"] for r in rows)
        macs = sum(r["macs"] for r in rows)
        return {
            "preset": a.name,
            "dataflow": a.dataflow,
            "array": [a.rows, a.cols],
            "dram_bandwidth": a.dram_bandwidth,
            "cycles": cycles,
            "latency_s": cycles / a.clock_hz,
            "utilization": macs / (a.peak_macs_per_cycle * cycles) if cycles else 0.0,
            "dram_bytes": sum(r["dram_bytes"] for r in rows),
            "bound_cycles": sum(r["bound_cycles"] for r in rows),
            "layers": rows,
            "partition": self.partition,
            "calls": self.calls,
        }

    def save(self, directory: str) -> list[str]:
        """npu.s: the assembly of every layer; npu.bin: "QNPU", u32 layer count, then per layer u32
        instruction count and its 32-byte instructions; npu_report.json: `report`."""
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "npu.s"), "w") as f:
            f.write(assembly(self.arch, self.layers))
        with open(os.path.join(directory, "npu.bin"), "wb") as f:
            f.write(BIN_MAGIC + struct.pack("<I", len(self.layers)))
            for layer in self.layers:
                f.write(struct.pack("<I", len(layer.binary) // isa.WIDTH) + layer.binary)
        with open(os.path.join(directory, "npu_report.json"), "w") as f:
            json.dump(self.report, f, indent=1)
        return ["npu.s", "npu.bin", "npu_report.json"]


def assembly(arch: Arch, layers: list[Layer]) -> str:
    head = f"; qcomp npu program: {arch.name} {arch.rows}x{arch.cols} {arch.dataflow}\n"
    parts = [head]
    for layer in layers:
        g = layer.gemm
        parts.append(f"\n{layer.name}:  ; {g.name} M={g.m} K={g.k} N={g.n} act={g.act} {g.location}\n")
        parts.append(isa.disassemble(layer.program))
    return "".join(parts)


def read_binary(blob: bytes) -> list[list[isa.Instr]]:
    """The programs of an npu.bin file."""
    if blob[:4] != BIN_MAGIC:
        raise QcompError("npu binary: missing QNPU header")
    (count,), at, out = struct.unpack_from("<I", blob, 4), 8, []
    for _ in range(count):
        (n,) = struct.unpack_from("<I", blob, at)
        out.append(isa.decode(blob[at + 4 : at + 4 + n * isa.WIDTH]))
        at += 4 + n * isa.WIDTH
    return out


@lru_cache(maxsize=512)
def _gemm_cycles(arch: Arch, g: Gemm) -> int:
    return timing(generate(arch, g, Layout.of(g)), arch).cycles


class NpuTarget(Target):
    name = "npu"
    Options = NpuOptions
    passes = (NpuOffloadPass,)

    @property
    def arch(self) -> Arch:
        return self.options.arch

    @property
    def capabilities(self) -> Capabilities:
        a = self.arch
        return Capabilities(
            ops=frozenset(NPU_OPS),
            weight_bits=(8,),
            activation_bits=(8,),
            facts={
                "array": (a.rows, a.cols),
                "dataflow": a.dataflow,
                "scratchpad_bytes": a.scratchpad_bytes,
                "accumulator_bytes": a.accumulator_bytes,
                "host": "cpu",
                "formats": FORMATS,
            },
            # the array runs plain qc.qlinear: GELU/SiLU and the MLP gate stay host ops
            fused=frozenset({"dedupe", "norm", "mask", "roundtrip"}),
        )

    def cost(self, op, precision: str) -> Cost:
        """Cycles of a linear layer on the array at 'w8a8' (simulated program of its GEMM, in seconds at the
        clock) and the bytes of its weights; other precisions and ops run on the host: latency None."""
        if op.name not in ("qc.linear", "qc.qlinear"):
            return Cost()
        x, w = (ir.RankedTensorType(op.operands[i].type).shape for i in (0, 2 if op.name == "qc.qlinear" else 1))
        n, k = w
        m = int(np.prod(x[:-1], dtype=np.int64))
        bits = _weight_bits(precision)
        wbytes = n * k * 4 if bits is None else -(-n * k * bits // 8) + 4 * n
        if precision != "w8a8":
            return Cost(weight_bytes=wbytes)
        try:
            cycles = _gemm_cycles(self.arch, Gemm(op.name, str(op.location), m, k, n))
        except QcompError:
            return Cost(weight_bytes=wbytes)
        return Cost(weight_bytes=wbytes, latency_s=cycles / self.arch.clock_hz)

    def stages(self) -> list[tuple[str, str]]:
        fuse = self.capabilities.fuse_step()  # qc-fuse{act=false,gate=false}: the GEMMs stay plain qc.qlinear
        return [("fuse", fuse), ("offload", "qc-npu-offload"), ("host", "qc-lower-to-linalg,qc-outline-host-ops")]

    def build(self, module) -> Artifact:
        arch = self.arch
        part = partition(module)
        layers = [Layer.build(arch, op) for op in offloaded_ops(module)]  # rejects what does not fit
        holder: list[NpuArtifact] = []
        host = HostProgram(module, lambda op, arrays: holder[0].execute(op, arrays))
        art = NpuArtifact(arch, host, layers, part)
        holder.append(art)
        return art


def _weight_bits(precision: str) -> int | None:
    """Integer weight bits of `precision` ('w8a8' -> 8); None for float layers, number formats and bad texts."""
    p = Precision.try_parse(precision)
    return p.wbits if p is not None and p.is_integer else None
