"""qc-gpu-offload: hand the qc ops the GPU kernels implement to the GPU; everything else stays on the host.

Each accepted op of @main becomes a call of an external function `@gpu_<i>` on buffers
(`targets/common/offload.py`), keeping the op's name, attributes and location on the call. Accepted, with
static shapes and f32 float operands:
- ops=gemm (the default) and ops=all: a `qc.qlinear` with i8 operands, an activation the kernel epilogue
  fuses (none, relu) and K small enough that the i32 accumulator cannot overflow (`kernels.max_k`); a
  `qc.wlinear` (weight-only int2..int8 weights, f32 activations; `wlinear.py`); a `qc.fp_wlinear` (fp8 / fp6 /
  fp4 codes with their f32 group scales, f32 activations: what qc-quantize-float makes, its activation
  fake-quantization staying on the host; `fp_wlinear.py`);
- ops=all only: qc.rms_norm, qc.layer_norm, qc.softmax, qc.quantize_dynamic (per token, rank ≥ 2; two
  results), qc.gelu (erf form) and qc.silu (`rowops.py`). Their f32 sums run in another order than the
  CPU's, so ops=all gives up bit-identity with the CPU build for those ops (the integer GEMMs stay exact).
GELU/SiLU stay on the host with ops=gemm (run `qc-fuse{act=false}` first), where the CPU's own code computes
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from qcomp.dialects import formats as fmt
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import attr_value
from qcomp.targets.common.offload import offload

from .fp_wlinear import FpWLinearSpec, decode_for
from .kernels import ACTS, GemmSpec, max_k
from .rowops import MapSpec, RowSpec
from .wlinear import WLinearSpec

GEMM_OPS = ("qc.qlinear", "qc.wlinear", "qc.fp_wlinear")
ROW_OPS = ("qc.rms_norm", "qc.layer_norm", "qc.softmax", "qc.quantize_dynamic", "qc.gelu", "qc.silu")
OFFLOADED_OPS = GEMM_OPS
OP_SETS = {"gemm": GEMM_OPS, "all": GEMM_OPS + ROW_OPS}


def _rows(shape) -> int:
    return int(np.prod(shape[:-1])) if len(shape) > 1 else 1


def gemm_spec(x_shape, xs_shape, w_shape, act: str) -> GemmSpec:
    """The kernel spec of a qc.qlinear with these operand shapes (leading dims of x flattened into M)."""
    return GemmSpec(m=_rows(x_shape), n=int(w_shape[0]), k=int(w_shape[1]), act=act, per_token=list(xs_shape) != [1])


def wlinear_spec(x_shape, w_shape, bits: int, group: int) -> WLinearSpec:
    """The kernel spec of a qc.wlinear with these operand shapes (leading dims of x flattened into M)."""
    return WLinearSpec(m=_rows(x_shape), n=int(w_shape[0]), k=int(x_shape[-1]), bits=bits, group=group)


def fp_wlinear_spec(
    x_shape, w_shape, format: str, group: int, arch: str = "sm_90", tensor_scale: float | None = None
) -> FpWLinearSpec:
    """The kernel spec of a qc.fp_wlinear (leading dims of x flattened into M); fp8 codes are decoded with
    PTX's cvt on sm_89+ (`fp_wlinear.decode_for`). e8m0 / e4m3 scales are taken as their 1-byte codes (what
    qc-quantize-float stores; `accepts` leaves such layers with f32 scales to the host)."""
    qf = fmt.parse(format)
    bits = qf.bits
    m, n, k = _rows(x_shape), int(w_shape[0]), int(x_shape[-1])
    return FpWLinearSpec(
        m=m,
        n=n,
        k=k,
        bits=bits,
        group=group,
        elem=qf.elem,
        decode=decode_for(qf.elem, arch),
        scale=qf.scale,
        tensor_scale=tensor_scale,
    )


def op_spec(name: str, attrs: dict, shapes: list[list[int]], arch: str = "sm_90"):
    """The kernel spec of an offloadable op from its name, attributes and operand shapes (for `arch`);
    QcompError when no kernel implements it."""
    if name == "qc.qlinear":
        return gemm_spec(shapes[0], shapes[1], shapes[2], attrs.get("act", "none"))
    if name == "qc.wlinear":
        return wlinear_spec(shapes[0], shapes[1], int(attrs["bits"]), int(attrs["group"]))
    if name == "qc.fp_wlinear":
        ts = attrs.get("tensor_scale")
        return fp_wlinear_spec(shapes[0], shapes[1], str(attrs["format"]), int(attrs["group"]), arch, ts)
    x = shapes[0]
    op = name.removeprefix("qc.")
    if op in ("gelu", "silu"):
        return MapSpec(op, int(np.prod(x)), attrs.get("approximate", "none"))
    if op == "quantize_dynamic":
        if attrs.get("granularity") != "per_token" or len(x) < 2:
            raise QcompError("gpu: quantize_dynamic runs on the GPU per token on rank >= 2 only")
        return RowSpec(op, _rows(x), int(x[-1]), bits=int(attrs["bits"]))
    if op in ("rms_norm", "layer_norm", "softmax"):
        return RowSpec(op, _rows(x), int(x[-1]), eps=float(attrs.get("eps", 0.0)))
    raise QcompError(f"gpu: no kernel for {name}")


def _shape(v) -> list[int] | None:
    t = v.type
    if not isinstance(t, ir.RankedTensorType) or not t.has_static_shape:
        return None
    return list(t.shape)


def _elem(v) -> str:
    return str(ir.RankedTensorType(v.type).element_type)


_ELEMS = {
    "qc.qlinear": ["i8", "f32", "i8", "f32", "f32", "f32"],
    "qc.wlinear": ["f32", "i8", "f32", "f32", "f32"],
    "qc.fp_wlinear": ["f32", "i8", "f32", "f32", "f32"],
}


def accepts(op, ops: tuple[str, ...] = OFFLOADED_OPS) -> bool:
    """Whether the GPU kernels implement `op` (see the module docstring)."""
    if op.name not in ops:
        return False
    values = [*op.operands, *op.results]
    shapes = [_shape(v) for v in values]
    if any(s is None or min(s, default=1) < 1 for s in shapes):
        return False
    elems = [_elem(v) for v in values]
    if op.name == "qc.quantize_dynamic":
        want = ["f32", "i8", "f32"]
    else:
        want = list(_ELEMS.get(op.name, ["f32"] * len(values)))
    if op.name == "qc.fp_wlinear" and fmt.parse(attr_value(op.attributes["format"])).scale != "f32":
        want[2] = "i8"  # MX / NVFP4 scales as 1-byte codes
    if elems != want:
        return False
    attrs = {name: attr_value(op.attributes[name]) for name in op.attributes}
    if op.name == "qc.qlinear" and (attrs.get("act") not in ACTS or shapes[2][1] > max_k()):
        return False
    try:
        op_spec(op.name, attrs, shapes)
    except (QcompError, KeyError, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class GpuOffloadPass:
    """Replace each qc op of @main that the GPU kernels implement by a call of an external `@<prefix>_<i>`
    on buffers (the host/accelerator partition of `targets/common/offload.py`).

    Options: prefix (default "gpu"): the external functions' name prefix; ops (default "gemm"): which ops
    run on the GPU: "gemm" (qc.qlinear, qc.wlinear, qc.fp_wlinear) or "all" (also the norms, softmax, GELU/SiLU and
    per-token qc.quantize_dynamic).
    Preconditions: static shapes; run after quantization (qc.qlinear) and `qc-fuse{act=false}`, before
    `qc-lower-to-linalg`. Ops it does not accept are left unchanged, for the host."""

    name: ClassVar[str] = "qc-gpu-offload"
    prefix: str = "gpu"
    ops: str = "gemm"

    def __post_init__(self):
        if not self.prefix.isidentifier():
            raise QcompError(f"qc-gpu-offload: prefix must be an identifier, got {self.prefix!r}")
        if self.ops not in OP_SETS:
            raise QcompError(f"qc-gpu-offload: ops must be one of {', '.join(OP_SETS)}, got {self.ops!r}")

    def run(self, module: ir.Module) -> None:
        ops = OP_SETS[self.ops]
        offload(module, lambda op: accepts(op, ops), self.prefix, multi_result=True)
