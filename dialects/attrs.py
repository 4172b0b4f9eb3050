"""Every discardable `qc.*` attribute, declared once: its name, what it holds, where it sits, and typed get/set.

Discardable attributes (MLIR's term: not part of an op's definition; any pass may drop them) carry what the
passes learn about the IR from outside it: calibration statistics, precisions chosen for a layer, the target
and what offloading did. Ops' own (inherent) attributes, such as `bits` or `group`, are declared by their op
classes in `qc*.py` instead.

    ACT_SCALE.get(op)            # float | None
    ACT_ABSMAX.set(op, array)    # a dense f32 tensor attribute
    PRECISION.get(op, "fp32")    # a default when absent
    TARGET.get_module(module)    # module attributes are read off module.operation

`Attr.name` is the attribute's text; code not yet using get/set spells it through the name
(`op.attributes[ACT_SCALE.name]`), never as a literal. `test_attrs.py` fails on a `qc.<name>` literal in the
source that is neither an op nor declared here.
"""

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ._mlir import ir


@dataclass(frozen=True)
class Attr:
    """One discardable attribute: `name`, where it sits (`on`: 'op', 'module' or 'func') and what it holds."""

    name: str
    on: str
    doc: str
    kind: ClassVar[str] = "any MLIR attribute"

    def has(self, op) -> bool:
        return self.name in _attrs(op)

    def raw(self, op) -> ir.Attribute | None:
        """The attribute itself, or None."""
        a = _attrs(op)
        return a[self.name] if self.name in a else None

    def get(self, op, default: Any = None) -> Any:
        """The attribute's value (its Python form, see `kind`), or `default` when absent."""
        a = self.raw(op)
        return default if a is None else self.decode(a)

    def set(self, op, value: Any) -> None:
        _attrs(op)[self.name] = self.encode(value)

    def delete(self, op) -> None:
        a = _attrs(op)
        if self.name in a:
            del a[self.name]

    def get_module(self, module: ir.Module, default: Any = None) -> Any:
        return self.get(module.operation, default)

    def set_module(self, module: ir.Module, value: Any) -> None:
        self.set(module.operation, value)

    def decode(self, a: ir.Attribute) -> Any:
        return a

    def encode(self, value: Any) -> ir.Attribute:
        return value


class StrAttr(Attr):
    kind = "str (StringAttr)"

    def decode(self, a):
        return ir.StringAttr(a).value

    def encode(self, value):
        return ir.StringAttr.get(str(value))


class IntAttr(Attr):
    kind = "int (i64 IntegerAttr)"

    def decode(self, a):
        return ir.IntegerAttr(a).value

    def encode(self, value):
        return ir.IntegerAttr.get(ir.IntegerType.get_signless(64), int(value))


class F32Attr(Attr):
    kind = "float (f32 FloatAttr)"

    def decode(self, a):
        return ir.FloatAttr(a).value

    def encode(self, value):
        return ir.FloatAttr.get(ir.F32Type.get(), float(value))


class F64Attr(F32Attr):
    kind = "float (f64 FloatAttr)"

    def encode(self, value):
        return ir.FloatAttr.get(ir.F64Type.get(), float(value))


class ArrayAttr(Attr):
    kind = "np.ndarray (dense f32 tensor attribute)"

    def decode(self, a):
        return np.array(a, dtype=np.float32)

    def encode(self, value):
        arr = np.ascontiguousarray(value, dtype=np.float32)
        return ir.DenseElementsAttr.get(arr, type=ir.RankedTensorType.get(list(arr.shape), ir.F32Type.get()))


class DictAttr(Attr):
    kind = "ir.DictAttr"

    def decode(self, a):
        return ir.DictAttr(a)


def _attrs(op):
    return (op.operation if hasattr(op, "operation") else op).attributes


# ----------------------------------------------------------------------------- calibration statistics (op)
ACT_ABSMAX = ArrayAttr("qc.act_absmax", "op", "per-channel max |x| of the layer's activation input (calibration)")
ACT_MEAN = ArrayAttr("qc.act_mean", "op", "per-channel mean |x| of the activation input (calibration)")
ACT_SAMPLE = ArrayAttr("qc.act_sample", "op", "evenly spaced rows of the activation input (calibration)")
ACT_HESSIAN = ArrayAttr("qc.act_hessian", "op", "X^T X of the activation input, for qc-gptq (calibration)")
ACT_SCALE = F32Attr("qc.act_scale", "op", "the static activation scale, by the module's calibration method")
OUTPUT_GAIN = F64Attr("qc.output_gain", "op", "model-output MSE per unit of the layer's local error (sensitivity)")
OUTPUT_GAIN_KL = F64Attr("qc.output_gain_kl", "op", "mean token KL per unit of local error (sensitivity)")
CALIBRATION = DictAttr("qc.calibration", "module", "{method, percentile}: how activation clips are chosen")
# ----------------------------------------------------------------------------- weights and precisions (op)
WEIGHT_CLIP = ArrayAttr("qc.weight_clip", "op", "per output channel (and group) weight clip (qc-awq, qc-gptq)")
WEIGHT_RANGE = ArrayAttr("qc.weight_range", "op", "(lo, hi) per channel and group of asymmetric weights (qc-gptq)")
WBITS = IntAttr("qc.wbits", "op", "a layer's own weight width (qc-reorder-channels, qc-assign-precision)")
ABITS = IntAttr("qc.abits", "op", "a layer's own activation width (qc-assign-precision)")
WGROUP = IntAttr("qc.wgroup", "op", "a layer's own weight group size, 0 = per output channel (qc-assign-precision)")
PRECISION = StrAttr("qc.precision", "op", "a layer's precision as `Precision` text ('fp32', 'w4a16g128', ...)")
PRECISION_PLAN = DictAttr("qc.precision_plan", "module", "qc-assign-precision's plan: budget, cost, layers")
# ----------------------------------------------------------------------------- compilation (module)
TARGET = StrAttr("qc.target", "module", "the name of the target qcomp.compile builds for")
HOST_OPS = DictAttr("qc.host_ops", "module", "torch op name -> count of the ops qc-from-torch left as host code")
SHAPES = StrAttr("qc.shapes", "module", "the ShapeSpec as JSON, where the module has dynamic dimensions")
FUSED = DictAttr("qc.fused", "module", "qc-fuse's counts of each fused form")
# ----------------------------------------------------------------------------- offloading (calls of @main)
OFFLOAD = StrAttr("qc.offload", "op", "on a call: the qc op an accelerator runs in its place")
OFFLOAD_ATTRS = DictAttr("qc.attrs", "op", "on an offloaded call: the qc op's attributes")
RESULTS = IntAttr("qc.results", "op", "on an offloaded call of an op with several results: its trailing out-buffers")
NPU_PARTITION = DictAttr("qc.npu_partition", "module", "the NPU's partition of @main (offloaded and host ops)")
# ----------------------------------------------------------------------------- CPU code generation (func)
INTRINSIC = StrAttr("qc.intrinsic", "func", "a declaration the CPU JIT binds to a runtime symbol")
PACKED = Attr("qc.packed", "func", "@the kernel taking the packed weights (a FlatSymbolRefAttr)")
PACKED_INT4 = Attr("qc.packed_int4", "func", "@the twin kernel taking int4 weights packed two per byte (W4A8)")
PACKED_PAIRS = Attr("qc.packed_pairs", "func", "@the twin kernel on i16 pairs (int8 GEMM on CPUs without VNNI)")
PACK = StrAttr("qc.pack", "func", "comma-separated layouts the weight operands are packed to")
PACK_OPERAND = IntAttr("qc.pack_operand", "func", "the index of the weight operand that is packed")
PACK_APPEND = StrAttr("qc.pack_append", "func", "'<kind>:<operand>': a derived array appended to the packed call")

ALL: tuple[Attr, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Attr))
BY_NAME: dict[str, Attr] = {a.name: a for a in ALL}
