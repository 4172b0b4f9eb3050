"""qc-gpu-offload: hand the qc ops the GPU kernels implement to the GPU; everything else stays on the host.

Each accepted op of @main becomes a call of an external function `@gpu_<i>` on buffers
(`targets/common/offload.py`), keeping the op's name, attributes and location on the call. Accepted: a
`qc.qlinear` with static shapes, i8 operands, an f32 result, an activation the kernel epilogue fuses
(none, relu) and K small enough that the i32 accumulator cannot overflow (`kernels.max_k`). GELU/SiLU
stay on the host (run `qc-fuse{act=false}` first), where the CPU's own code computes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from qcomp.dialects._mlir import ir
from qcomp.errors import QcompError
from qcomp.targets.common.offload import offload

from .kernels import ACTS, GemmSpec, max_k
from .wlinear import WLinearSpec

GEMM_OPS = ("qc.qlinear", "qc.wlinear")
OFFLOADED_OPS = GEMM_OPS


def gemm_spec(x_shape, xs_shape, w_shape, act: str) -> GemmSpec:
    """The kernel spec of a qc.qlinear with these operand shapes (leading dims of x flattened into M)."""
    m = int(np.prod(x_shape[:-1])) if len(x_shape) > 1 else 1
    return GemmSpec(m=m, n=int(w_shape[0]), k=int(w_shape[1]), act=act, per_token=list(xs_shape) != [1])


def wlinear_spec(x_shape, w_shape, bits: int, group: int) -> WLinearSpec:
    """The kernel spec of a qc.wlinear with these operand shapes (leading dims of x flattened into M)."""
    m = int(np.prod(x_shape[:-1])) if len(x_shape) > 1 else 1
    return WLinearSpec(m=m, n=int(w_shape[0]), k=int(x_shape[-1]), bits=bits, group=group)


def _elem(v) -> str:
    return str(ir.RankedTensorType(v.type).element_type)


def _shape(v) -> list[int] | None:
    t = v.type
    if not isinstance(t, ir.RankedTensorType) or not t.has_static_shape:
        return None
    return list(t.shape)


def accepts(op) -> bool:
    """Whether the GPU kernels implement `op` (see the module docstring)."""
    if op.name not in OFFLOADED_OPS:
        return False
    shapes = [_shape(v) for v in (*op.operands, op.results[0])]
    if any(s is None for s in shapes):
        return False
    if op.name == "qc.wlinear":
        return _accepts_wlinear(op, shapes)
    if str(ir.RankedTensorType(op.results[0].type).element_type) != "f32":
        return False
    if any(str(ir.RankedTensorType(op.operands[i].type).element_type) != "i8" for i in (0, 2)):
        return False
    act = ir.StringAttr(op.attributes["act"]).value
    x, xs, w = shapes[0], shapes[1], shapes[2]
    if act not in ACTS or w[1] > max_k() or min(w + x) < 1:
        return False
    try:
        gemm_spec(x, xs, w, act)
    except QcompError:
        return False
    return True


def _accepts_wlinear(op, shapes) -> bool:
    if [_elem(v) for v in (*op.operands, op.results[0])] != ["f32", "i8", "f32", "f32", "f32"]:
        return False
    try:
        bits = ir.IntegerAttr(op.attributes["bits"]).value
        group = ir.IntegerAttr(op.attributes["group"]).value
        wlinear_spec(shapes[0], shapes[1], bits, group)
    except (QcompError, KeyError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class GpuOffloadPass:
    """Replace each qc op of @main that the GPU kernels implement by a call of an external `@<prefix>_<i>`
    on buffers (the host/accelerator partition of `targets/common/offload.py`).

    Options: prefix (default "gpu"): the external functions' name prefix.
    Preconditions: static shapes; run after quantization (qc.qlinear) and `qc-fuse{act=false}`, before
    `qc-lower-to-linalg`. Ops it does not accept are left unchanged, for the host."""

    name: ClassVar[str] = "qc-gpu-offload"
    prefix: str = "gpu"

    def __post_init__(self):
        if not self.prefix.isidentifier():
            raise QcompError(f"qc-gpu-offload: prefix must be an identifier, got {self.prefix!r}")

    def run(self, module: ir.Module) -> None:
        offload(module, accepts, self.prefix)
