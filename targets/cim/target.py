"""CimTarget: compute-in-memory crossbars as a qcomp target (options, capabilities, cost, pipeline, build).

The partition (`targets/common/offload.py`): qc-cim-offload turns each constant-weight qc.qlinear into an
external call annotated with its crossbar mapping; everything else — float ops, activation quantization,
and attention's activation × activation qc.matmul (f32 in W8A8) — is host code, JIT-compiled by the CPU
target. `build` maps and programs every offloaded layer (`simulator.CrossbarLayer`, seeded device model)
and binds each call to the simulator. The artifact's report has `energy_pj`, `latency_ns`, `area_mm2`,
`arrays`, `tops_per_w` and `layers` (the same per layer) for one call, from `energy.py`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.precision import Precision
from qcomp.targets.base import Artifact, Capabilities, Cost, Target
from qcomp.targets.common.offload import HostProgram, OffloadedOp

from .arch import CimArch, CimOptions
from .energy import LayerCost, layer_cost, summary
from .mapping import plan_layer
from .offload_pass import FORMATS, CimOffloadPass

if TYPE_CHECKING:
    from .simulator import CrossbarLayer

ATTENTION = "host: attention's activation x activation qc.matmul runs in f32 on the CPU (not in the CIM totals)"


@dataclass(frozen=True)
class CimCost(Cost):
    """Cost plus the crossbar arrays the layer occupies (0 for ops that stay on the host)."""

    arrays: int = 0


def _weight_bits(op: OffloadedOp) -> int:
    p = Precision.try_parse(str(op.attrs.get("qc.precision", "w8a8")))
    return p.wbits if p is not None and p.is_integer else 8


class CimArtifact(Artifact):
    """The host program with every offloaded qc.qlinear bound to its programmed crossbar layer."""

    def __init__(self, module, arch: CimArch):
        self.program = HostProgram(module, self._execute)
        self.llvm_text = self.program.llvm_text
        for op in self.program.ops:
            if op.name != "qc.qlinear" or op.constants[2] is None:
                raise QcompError(f"{op.location}: cim target cannot run offloaded {op.name} without constant weights")
        self.program_arrays(arch)

    def program_arrays(self, arch: CimArch) -> None:
        """Map and program every layer for `arch` (a fresh device draw from its seed). Benchmarks use it to
        sweep ADC bits, variation or presets without recompiling the model."""
        from . import simulator  # imports torch: only when a model is built, not for every qcomp-opt run

        self.arch = arch
        self.layers: dict[int, CrossbarLayer] = {}
        self.costs: dict[int, LayerCost] = {}
        for op in self.program.ops:
            wq = op.constants[2]
            n, k = wq.shape
            plan = plan_layer(op.index, op.symbol, op.location, n, k, _weight_bits(op), arch)
            rng = np.random.default_rng([arch.seed, op.index])
            self.layers[op.index] = simulator.CrossbarLayer(plan, wq, arch, rng)
            vectors = math.prod(op.operand_types[0][0][:-1])
            self.costs[op.index] = layer_cost(plan, arch, vectors)

    def _execute(self, op: OffloadedOp, arrays: list[np.ndarray]) -> np.ndarray:
        from . import simulator  # deferred: loads torch (heavy)

        xq, xs, _, ws, b = arrays
        return simulator.qlinear(self.layers[op.index], xq, xs, ws, b, act=str(op.attrs.get("act", "none")))

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        return self.program(*inputs)

    def step_metrics(self) -> dict[str, float]:
        """Additive figures of one call (every offloaded layer once; `targets/common/metrics.py`): energy_pj,
        latency_ns and macs of the crossbars (attention's host matmuls not included)."""
        s = summary(list(self.costs.values()), self.arch)
        return {"energy_pj": s["energy_pj"], "latency_ns": s["latency_ns"], "macs": s["macs"]}

    def plan(self) -> dict:
        """The mapping plan: the architecture, its constants (with sources) and every layer's mapping."""
        a = self.arch
        arch = {f: getattr(a, f) for f in a.__dataclass_fields__ if f not in a.constants()}
        return {
            "arch": arch,
            "constants": a.constants(),
            "adc_at_bits": {"energy_pj": a.adc_energy_pj, "latency_ns": a.adc_latency_ns, "area_um2": a.adc_area_um2},
            "attention": ATTENTION,
            "layers": [layer.plan.to_dict() for layer in self.layers.values()],
        }

    @property
    def report(self) -> dict:
        rows = []
        for i, layer in self.layers.items():
            c = self.costs[i]
            p = layer.plan
            rows.append(
                {
                    "symbol": p.symbol,
                    "location": p.location,
                    "n": p.n,
                    "k": p.k,
                    "weight_bits": p.weight_bits,
                    "arrays": p.arrays,
                    "utilization": p.utilization,
                    "macs": c.macs,
                    "energy_pj": c.energy_pj,
                    "latency_ns": c.latency_ns,
                    "area_mm2": c.area_mm2,
                    "breakdown_pj": c.breakdown_pj,
                }
            )
        return {
            **summary(list(self.costs.values()), self.arch),
            "preset": self.arch.name,
            "ideal": self.arch.ideal,
            "attention": ATTENTION,
            "layers": rows,
        }

    def save(self, directory: str) -> list[str]:
        """cim_plan.json (architecture, constants with sources, per-layer mapping) and cim_report.json."""
        os.makedirs(directory, exist_ok=True)
        out = {"cim_plan.json": self.plan(), "cim_report.json": self.report}
        for name, data in out.items():
            with open(os.path.join(directory, name), "w") as f:
                json.dump(data, f, indent=1)
        return list(out)


class CimTarget(Target):
    name = "cim"
    Options = CimOptions
    passes = (CimOffloadPass,)

    @property
    def arch(self) -> CimArch:
        return self.options.arch()

    @property
    def capabilities(self) -> Capabilities:
        a = self.arch
        return Capabilities(
            ops=frozenset({"qc.qlinear"}),
            weight_bits=(2, 3, 4, 5, 6, 7, 8),
            activation_bits=(8,),
            facts={
                "crossbar": (a.rows, a.cols),
                "cell_bits": a.cell_bits,
                "adc_bits": a.adc_bits,
                "encoding": a.encoding,
                "int8_storage": True,
                "formats": FORMATS,
            },
            # the crossbar runs plain qc.qlinear: activations and the MLP gate stay host ops
            fused=frozenset({"dedupe", "norm", "mask", "roundtrip"}),
        )

    def cost(self, op, precision: str) -> CimCost:
        """Arrays, energy and latency of a qc.linear / qc.qlinear with constant weights [N, K] at `precision`
        ('w<b>a8…': b-bit weights bit-sliced onto the crossbars); other ops and 'fp32' stay on the host
        (weight bytes only)."""

        if op.name not in ("qc.linear", "qc.qlinear"):
            return CimCost()
        n, k = ir.RankedTensorType(op.operands[2 if op.name == "qc.qlinear" else 1].type).shape
        x = ir.RankedTensorType(op.operands[0].type).shape
        p = Precision.parse(precision, f"{op.location}: cim target") if precision.startswith("w") else None
        if p is None or not p.is_integer:  # fp32, number formats: the layer stays on the host
            return CimCost(weight_bytes=4 * n * k)
        bits = p.wbits
        plan = plan_layer(0, "", str(op.location), n, k, bits, self.arch)
        c = layer_cost(plan, self.arch, math.prod(x[:-1]))
        return CimCost(
            weight_bytes=(n * k * bits + 7) // 8 + 4 * n,
            latency_s=c.latency_ns * 1e-9,
            energy_j=c.energy_pj * 1e-12,
            arrays=plan.arrays,
        )

    def stages(self) -> list[tuple[str, str]]:
        o = self.options
        opts = [f"preset={o.preset}"]
        if o.cell_bits is not None:
            opts.append(f"cell_bits={o.cell_bits}")
        if o.encoding is not None:
            opts.append(f"encoding={o.encoding}")
        return [
            ("fuse", self.capabilities.fuse_step()),
            ("offload", f"qc-cim-offload{{{','.join(opts)}}}"),
            ("host", "qc-lower-to-linalg,qc-outline-host-ops"),
        ]

    def build(self, module) -> Artifact:
        return CimArtifact(module, self.arch)
