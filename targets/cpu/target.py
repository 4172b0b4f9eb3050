"""CpuTarget: options, capabilities, cost model, pipeline and build for the host CPU."""

import os
from dataclasses import dataclass

import numpy as np
from qcomp.errors import QcompError
from qcomp.targets.base import Artifact, Capabilities, Cost, Target

from .jit import JitFunction
from .lower_ops import LOWERINGS
from .lower_qc import LowerToLinalgPass
from .outline import OutlineHostOpsPass
from .pack_weights import PackWeightsPass


@dataclass(frozen=True)
class CpuOptions:
    """opt_level: LLVM optimisation level 0..3 (default 2: O3 triples JIT time for little gain on v0 loops)."""

    opt_level: int = 2

    def __post_init__(self):
        if self.opt_level not in (0, 1, 2, 3):
            raise QcompError(f"cpu target: opt_level must be 0..3, got {self.opt_level}")


class JitArtifact(Artifact):
    """The JIT-compiled @main plus the LLVM-dialect module it came from."""

    def __init__(self, fn: JitFunction, llvm_text: str):
        self.fn, self.llvm_text = fn, llvm_text

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        return self.fn(*inputs)

    def save(self, directory: str) -> list[str]:
        path = os.path.join(directory, "model.o")
        self.fn.engine.dump_to_object_file(path)
        return ["model.o"]


class CpuTarget(Target):
    name = "cpu"
    Options = CpuOptions
    passes = (LowerToLinalgPass, PackWeightsPass, OutlineHostOpsPass)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            ops=frozenset(f"qc.{k}" for k in LOWERINGS),
            weight_bits=(2, 3, 4, 5, 6, 7, 8),
            activation_bits=(8,),
            facts={"int8_storage": True},
        )

    def cost(self, op, precision: str) -> Cost:
        """Weight bytes of `op` at `precision` ('fp32' or 'w<b>a<b>'): integer weights are stored one per byte
        with an f32 scale per output channel. Latency is not modelled yet."""
        from qcomp.weights import constant_array

        if len(op.operands) < 2:
            return Cost()
        w = constant_array(op.operands[1])
        if w is None:
            return Cost()
        if precision == "fp32":
            return Cost(weight_bytes=4 * w.size)
        return Cost(weight_bytes=w.size + 4 * w.shape[0])

    def pipeline(self) -> str:
        # qc-cpu-pack-weights runs in build(), where the weights turn into buffers (JitFunction)
        return "qc-lower-to-linalg,qc-outline-host-ops"

    def build(self, module) -> Artifact:
        fn = JitFunction(module, opt_level=self.options.opt_level)
        return JitArtifact(fn, fn.llvm_text)
