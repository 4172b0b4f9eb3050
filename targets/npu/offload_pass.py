"""qc-npu-offload: the host/NPU partition: every qc op the NPU runs becomes a call of an external function.

The NPU runs `qc.qlinear` with act none or relu (the int8 GEMM and its f32 epilogue; GELU/SiLU stay on the
host, where the CPU target's own code computes them, so NPU and CPU builds agree bit for bit). Each
accepted op of @main is replaced through `targets/common/offload.py` by `func.call @npu_<i>` on buffers,
keeping its name, attributes and location; every other qc op stays for the host (CPU) lowering.
The pass records the partition as the module attribute `qc.npu_partition` = {npu = n, host = {op: count}}.
Options: prefix (the external functions' name prefix, default "npu"). Precondition: qc dialect after
qc-quantize (and qc-fuse{act=false}); ops with dynamic or empty (0-row) shapes are left on the host.
"""

from dataclasses import dataclass
from typing import ClassVar

from qcomp.dialects._mlir import ir
from qcomp.targets.common.float_formats import refuse_float_formats
from qcomp.targets.common.offload import offload

NPU_OPS = ("qc.qlinear",)
NPU_ACTS = ("none", "relu")
FORMATS = ("int",)  # Capabilities.facts["formats"]
FORMAT_REASON = "the systolic array has int8 MACs with i32 accumulators (no FP8 or FP4 multipliers)"
PARTITION_ATTR = "qc.npu_partition"


def accepts(op) -> bool:
    """Whether the NPU runs `op`."""
    if op.name not in NPU_OPS or ir.StringAttr(op.attributes["act"]).value not in NPU_ACTS:
        return False
    values = [*op.operands, *op.results]
    shapes = [ir.RankedTensorType(v.type) for v in values if isinstance(v.type, ir.RankedTensorType)]
    if len(shapes) != len(values) or not all(t.has_static_shape for t in shapes):
        return False
    return all(d > 0 for t in shapes for d in t.shape)  # an empty GEMM (0 rows) stays on the host: nothing to run


def _host_qc_ops(module: ir.Module) -> dict[str, int]:
    counts: dict[str, int] = {}

    def visit(op):
        if op.name.startswith("qc."):
            counts[op.name] = counts.get(op.name, 0) + 1
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return counts


@dataclass(frozen=True)
class NpuOffloadPass:
    """Replace the qc ops the NPU runs (qc.qlinear, act none|relu, static shapes) by external calls
    `@<prefix>_<i>` and record the partition in `qc.npu_partition`. Options: prefix (default "npu")."""

    name: ClassVar[str] = "qc-npu-offload"
    prefix: str = "npu"

    def run(self, module: ir.Module) -> None:
        refuse_float_formats(module, "npu", FORMATS, FORMAT_REASON)
        n = offload(module, accepts, self.prefix)
        host = _host_qc_ops(module)
        with module.context:
            i64 = ir.IntegerType.get_signless(64)
            module.operation.attributes[PARTITION_ATTR] = ir.DictAttr.get(
                {
                    "npu": ir.IntegerAttr.get(i64, n),
                    "host": ir.DictAttr.get({k: ir.IntegerAttr.get(i64, v) for k, v in sorted(host.items())}),
                }
            )


def partition(module: ir.Module) -> dict:
    """The `qc.npu_partition` attribute as plain data ({"npu": n, "host": {op: count}})."""
    if PARTITION_ATTR not in module.operation.attributes:
        return {"npu": 0, "host": {}}
    d = ir.DictAttr(module.operation.attributes[PARTITION_ATTR])
    host = ir.DictAttr(d["host"])
    return {"npu": ir.IntegerAttr(d["npu"]).value, "host": {a.name: ir.IntegerAttr(a.attr).value for a in host}}
