"""qc-keep-last: give the last linear layer (an LM's head, a classifier) its own precision, float by default.

Peers' low-bit LLM recipes leave `lm_head` out (llm-compressor's `ignore=["lm_head"]`, AutoGPTQ and AutoAWQ by
default): it is the largest matrix of a small model (SmolLM2-135M: 28M of 135M weights, tied to the embedding
table) and the layer whose error reaches the logits unfiltered. This pass marks the last `qc.linear` with a
constant weight, in program order, with `qc.precision = "fp32"` (precision=fp32, the default), which qc-gptq,
qc-awq, qc-quantize and qc-quantize-float leave alone; or with its own integer width (precision=w8a16,
w8a8, w4a16g32, ...: `qc.wbits`, `qc.abits` and `qc.wgroup`, which qc-gptq and qc-quantize read in place of
their options). Run it before those passes. A module without a linear layer is left unchanged.

Options: precision (`fp32` or an integer `Precision` text, default fp32).
"""

from dataclasses import dataclass
from typing import ClassVar

from qcomp.dialects._mlir import ir
from qcomp.dialects.attrs import ABITS, PRECISION, WBITS, WGROUP
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import ops_named
from qcomp.dialects.precision import Precision

from .channel_fold import linear_weight


@dataclass(frozen=True)
class KeepLastPass:
    """Mark the last linear layer float or with its own integer precision (see module docstring)."""

    name: ClassVar[str] = "qc-keep-last"
    precision: str = "fp32"

    def __post_init__(self):
        p = Precision.parse(self.precision, "qc-keep-last: precision")
        if p.format or (self.precision != "fp32" and p.wbits > 8):
            raise QcompError(f"qc-keep-last: precision must be fp32 or an integer precision, got {self.precision!r}")

    def run(self, module: ir.Module) -> None:
        with module.context:
            linears = [op for op in ops_named(module, "qc.linear") if linear_weight(op) is not None]
            if not linears:
                return
            op = linears[-1]
            if self.precision == "fp32":
                PRECISION.set(op, "fp32")
                return
            p = Precision.parse(self.precision)
            WBITS.set(op, p.wbits)
            ABITS.set(op, p.abits)
            WGROUP.set(op, p.group)
