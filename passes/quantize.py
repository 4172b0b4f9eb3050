"""qc-quantize: round-to-nearest weight quantization and dynamic activation quantization.

Every `qc.linear` and `qc.conv2d` whose weight is a constant becomes its integer form:
weights are quantized symmetrically per output channel at `wbits` (offline, through the reference
`quantize_weight`), activations dynamically at `abits` with `qc.quantize_dynamic` (per token for
linear layers as in LLM.int8()/SmoothQuant's dynamic variant; per tensor for convolutions), and the
product runs as `qc.qlinear` / `qc.qconv2d` with i32 accumulation and an f32 epilogue.

An op carrying `qc.precision = "fp32"` is left alone (how mixed precision and users keep a layer
in float). Quantized ops get `qc.precision = "w<wbits>a<abits>"`.

Options: wbits (2..8, default 8), abits (8; other widths need the later integer kernels),
granularity ("per_token" | "per_tensor", for linear layers).
Precondition: qc ops on builtin tensors (after qc-from-torch).
"""

from dataclasses import dataclass
from typing import ClassVar

from qcomp.dialects import reference as ref
from qcomp.dialects._mlir import ir
from qcomp.errors import QcompError
from qcomp.weights import constant_array, make_constant


def _i64(v: int) -> ir.IntegerAttr:
    return ir.IntegerAttr.get(ir.IntegerType.get_signless(64), v)


def _ops(module: ir.Module, names: tuple[str, ...]) -> list:
    found = []

    def visit(op):
        if op.name in names:
            found.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return found


@dataclass(frozen=True)
class QuantizePass:
    """Quantize linear and conv2d layers to integer ops (see module docstring for options)."""

    name: ClassVar[str] = "qc-quantize"
    wbits: int = 8
    abits: int = 8
    granularity: str = "per_token"

    def __post_init__(self):
        if not 2 <= self.wbits <= 8:
            raise QcompError(f"qc-quantize: wbits must be in [2, 8], got {self.wbits}")
        if self.abits != 8:
            raise QcompError(f"qc-quantize: abits={self.abits} is not supported yet (only 8)")
        if self.granularity not in ("per_token", "per_tensor"):
            raise QcompError(f"qc-quantize: granularity must be per_token or per_tensor, got {self.granularity!r}")

    @property
    def precision(self) -> str:
        return f"w{self.wbits}a{self.abits}"

    def run(self, module: ir.Module) -> None:
        with module.context, ir.Location.unknown():
            for op in _ops(module, ("qc.linear", "qc.conv2d")):
                keep = op.attributes["qc.precision"].value if "qc.precision" in op.attributes else None
                w = constant_array(op.operands[1])
                if keep == "fp32" or w is None:
                    continue
                self._rewrite(op, w)

    def _rewrite(self, op, w) -> None:
        conv = op.name == "qc.conv2d"
        x, b = op.operands[0], op.operands[2]
        wq, ws = ref.quantize_weight(w, bits=self.wbits, axis=0)
        xt = ir.RankedTensorType(x.type)
        gran = "per_tensor" if conv else self.granularity
        st = ir.RankedTensorType.get([1] if gran == "per_tensor" else [*xt.shape[:-1], 1], ir.F32Type.get())
        qt = ir.RankedTensorType.get(xt.shape, ir.IntegerType.get_signless(8))
        with ir.InsertionPoint(op), op.location:
            qd = ir.Operation.create(
                "qc.quantize_dynamic",
                results=[qt, st],
                operands=[x],
                attributes={"bits": _i64(self.abits), "granularity": ir.StringAttr.get(gran)},
            )
            attrs = {"qc.precision": ir.StringAttr.get(self.precision)}
            if conv:
                attrs.update({k: op.attributes[k] for k in ("stride", "padding", "dilation", "groups")})
            else:
                attrs["act"] = ir.StringAttr.get("none")
            new = ir.Operation.create(
                "qc.qconv2d" if conv else "qc.qlinear",
                results=[op.results[0].type],
                operands=[qd.results[0], qd.results[1], make_constant(wq), make_constant(ws), b],
                attributes=attrs,
            )
        op.results[0].replace_all_uses_with(new.results[0])
        op.erase()
