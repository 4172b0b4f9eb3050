"""qc-cim-offload: move the weight GEMMs of @main onto crossbar arrays, with their mapping visible in the IR.

Every `qc.qlinear` of @main whose weight operand is a constant (act none or relu: GELU/SiLU epilogues stay on
the host, as on the NPU) becomes an external call on buffers
(`targets/common/offload.py`, prefix `cim`), and the call carries its crossbar mapping:

    func.call @cim_0(%x, %xs, %w, %ws, %b, %out) {qc.offload = "qc.qlinear", qc.attrs = {...},
        cim.arrays = 6, cim.row_tiles = 1, cim.col_tiles = 6, cim.slices = 8, cim.polarity = 1,
        cim.weight_bits = 8, cim.input_cycles = 8, cim.utilization = 0.99}

(`targets/cim/mapping.py` defines these numbers). Everything else stays on the host: float ops, the
activation quantization, and attention's activation × activation `qc.matmul` (f32 in W8A8 recipes: writing
activations into resistive cells for every token would cost a cell write per element per call, so the
CIM target keeps them on the host's digital units). Weight-only `qc.wlinear` (f32 activations) stays on
the host as well.

Options: preset (the architecture whose crossbar size, cell bits, DAC bits and encoding decide the
mapping), cell_bits and encoding (override the preset when set: 0 and "" keep it).
Precondition: qc dialect after qc-quantize (and qc-fuse{act=false} to keep float activations on the host).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import find_main
from qcomp.dialects.precision import Precision
from qcomp.dialects.weights import constant_array
from qcomp.targets.common.float_formats import refuse_float_formats
from qcomp.targets.common.offload import OFFLOAD_ATTR, offload

from .arch import CimArch, CimOptions
from .mapping import plan_layer

PREFIX = "cim"
FORMATS = ("int",)  # Capabilities.facts["formats"]
FORMAT_REASON = "crossbars store integer weight bits in their cells and take integer inputs bit-serially"


def weight_bits(op) -> int:
    """Bits of a qc.qlinear's weights from its `qc.precision` ("w<b>a8"); 8 when absent."""
    if "qc.precision" not in op.attributes:
        return 8
    prec = ir.StringAttr(op.attributes["qc.precision"]).value
    p = Precision.try_parse(prec)
    if p is None or not p.is_integer:
        raise QcompError(f"{op.location}: qc.qlinear precision {prec!r} is not w<bits>a<bits>")
    return p.wbits


def _accept(op) -> bool:
    # GELU/SiLU epilogues stay on the host, where the CPU's own code computes them (bit-identical builds)
    return (
        op.name == "qc.qlinear"
        and ir.StringAttr(op.attributes["act"]).value in ("none", "relu")
        and constant_array(op.operands[2]) is not None
    )


@dataclass(frozen=True)
class CimOffloadPass:
    """Offload constant-weight qc.qlinear ops of @main to CIM crossbars and annotate each call with its
    mapping (cim.arrays, cim.row_tiles, cim.col_tiles, cim.slices, cim.polarity, cim.weight_bits,
    cim.input_cycles, cim.utilization). Options: preset, cell_bits (0: preset's), encoding ("": preset's)."""

    name: ClassVar[str] = "qc-cim-offload"
    preset: str = "neurosim"
    cell_bits: int = 0
    encoding: str = ""

    def arch(self) -> CimArch:
        return CimOptions(preset=self.preset, cell_bits=self.cell_bits or None, encoding=self.encoding or None).arch()

    def run(self, module: ir.Module) -> None:
        refuse_float_formats(module, "cim", FORMATS, FORMAT_REASON)
        arch = self.arch()
        main = find_main(module)
        if main is None:
            return
        bits = {}
        for op in main.regions[0].blocks[0].operations:
            op = op.operation
            if _accept(op):
                bits[str(op.location)] = weight_bits(op)  # read before the op is replaced
        before = {c.operation for c in main.regions[0].blocks[0].operations if OFFLOAD_ATTR in c.attributes}
        offload(module, _accept, PREFIX)
        i32 = ir.IntegerType.get_signless(32, module.context)
        f32 = ir.F32Type.get(module.context)
        index = 0
        for call in main.regions[0].blocks[0].operations:
            call = call.operation
            if call.name != "func.call" or OFFLOAD_ATTR not in call.attributes or call in before:
                continue
            wtype = ir.RankedTensorType(call.operands[2].owner.operands[0].type)
            n, k = wtype.shape
            plan = plan_layer(index, "", str(call.location), n, k, bits.get(str(call.location), 8), arch)
            index += 1
            with module.context, ir.Location.unknown():
                for key in ("arrays", "row_tiles", "col_tiles", "slices", "polarity", "weight_bits", "input_cycles"):
                    call.attributes[f"cim.{key}"] = ir.IntegerAttr.get(i32, getattr(plan, key))
                call.attributes["cim.utilization"] = ir.FloatAttr.get(f32, round(plan.utilization, 4))
