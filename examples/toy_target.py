"""A toy accelerator: the smallest complete qcomp target, the walkthrough of docs/architecture.md.

It runs `qc.qlinear` (no fused activation, static shapes) in numpy through the op's reference semantics and
leaves every other op to the host CPU, as the NPU and CIM targets do with their simulators. Registering it is
one line, `targets.TARGETS["toy"] = ("qcomp.examples.toy_target", "ToyTarget")` (test/e2e/test_toy_target.py
does it for one test); a real target lives in `targets/<name>/` and adds that line to `targets/__init__.py`.
"""

import json
import os
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from qcomp.dialects import reference_of
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.targets.base import Artifact, Capabilities, Cost, Target
from qcomp.targets.common.float_formats import refuse_float_formats
from qcomp.targets.common.offload import HostProgram, OffloadedOp, offload

OPS = ("qc.qlinear",)
FORMATS = ("int",)  # Capabilities.facts["formats"]: integer codes with scales only


@dataclass(frozen=True)
class ToyOptions:
    """prefix: the name prefix of the external functions the host calls (default "toy")."""

    prefix: str = "toy"

    def __post_init__(self):
        if not isinstance(self.prefix, str) or not self.prefix.isidentifier():
            raise QcompError(f"toy target: prefix must be an identifier, got {self.prefix!r}")


def accepts(op) -> bool:
    """Whether the toy runs `op`: a qc.qlinear without a fused activation, on static non-empty shapes."""
    if op.name not in OPS or ir.StringAttr(op.attributes["act"]).value != "none":
        return False
    types = [v.type for v in [*op.operands, *op.results]]
    return all(isinstance(t, ir.RankedTensorType) and t.has_static_shape and 0 not in t.shape for t in types)


@dataclass(frozen=True)
class ToyOffloadPass:
    """Replace each qc.qlinear the toy runs (act none, static shapes) by a call of `@<prefix>_<i>`.
    Options: prefix (default "toy")."""

    name: ClassVar[str] = "qc-toy-offload"
    prefix: str = "toy"

    def run(self, module: ir.Module) -> None:
        refuse_float_formats(module, "toy", FORMATS, "the toy runs the integer qc.qlinear only")
        offload(module, accepts, self.prefix)


class ToyArtifact(Artifact):
    """The host program with every offloaded op run by the op's numpy reference."""

    def __init__(self, module: ir.Module):
        self.host = HostProgram(module, self.execute)
        self.llvm_text = self.host.llvm_text
        self.macs = 0  # of the last call

    def execute(self, op: OffloadedOp, arrays: list[np.ndarray]) -> np.ndarray:
        (n, k), rows = op.operand_types[2][0], int(np.prod(op.operand_types[0][0][:-1]))
        self.macs += rows * n * k
        return reference_of(op.name)(*arrays, act=op.attrs["act"])

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        self.macs = 0
        return self.host(*inputs)

    def save(self, directory: str) -> list[str]:
        with open(os.path.join(directory, "toy.json"), "w") as f:
            json.dump([{"op": op.name, "symbol": op.symbol, "location": op.location} for op in self.host.ops], f)
        return ["toy.json"]

    @property
    def report(self) -> dict:
        return {"offloaded": len(self.host.ops), "macs": self.macs}


class ToyTarget(Target):
    name = "toy"
    Options = ToyOptions
    passes = (ToyOffloadPass,)

    @property
    def capabilities(self) -> Capabilities:
        # what qc-fuse may make for it: no `act`/`gate`, so activations stay host ops and its GEMMs plain qc.qlinear
        fused = frozenset({"dedupe", "norm", "mask", "roundtrip"})
        return Capabilities(frozenset(OPS), (8,), (8,), facts={"formats": FORMATS}, fused=fused)

    def cost(self, op, precision: str) -> Cost:
        """Weight bytes only (the toy has no latency or energy model)."""
        if op.name != "qc.qlinear":
            return Cost()
        n, k = ir.RankedTensorType(op.operands[2].type).shape
        return Cost(weight_bytes=n * k + 4 * n)

    def stages(self) -> list[tuple[str, str]]:  # named stages: qcomp.compile keeps and saves the IR after each
        offload = f"qc-toy-offload{{prefix={self.options.prefix}}}"
        return [
            ("fuse", self.capabilities.fuse_step()),
            ("offload", offload),
            ("host", "qc-lower-to-linalg,qc-outline-host-ops"),
        ]

    def build(self, module) -> Artifact:
        return ToyArtifact(module)
