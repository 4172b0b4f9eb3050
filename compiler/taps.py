"""Taps: make the operands and results of chosen ops extra outputs of @main, to check them one by one.

Used to verify a whole compiled model op by op against the numpy reference semantics: run it once,
then replay every tapped op through `qcomp.dialects.reference` on the values the target computed.
Constant operands (weights) are captured at compile time instead of being returned.
"""

from dataclasses import dataclass

import numpy as np
from qcomp.dialects._mlir import ir
from qcomp.dialects.irutil import attr_value, main_func
from qcomp.dialects.weights import constant_array


@dataclass(frozen=True)
class Tap:
    op: str
    attrs: dict
    operands: tuple  # each an int (index among @main's outputs) or a captured numpy constant
    results: tuple[int, ...]
    location: str


def expose(module: ir.Module, op_names: tuple[str, ...]) -> list[Tap]:
    """Append the (distinct, non-constant) operands and results of every op in `op_names` to @main's results."""
    fop = main_func(module)
    block = fop.regions[0].blocks[0]
    ret = block.operations[len(block.operations) - 1]
    taps: list[Tap] = []
    values: list[ir.Value] = list(ret.operands)  # a value is returned once; slots index all outputs

    def slot(v: ir.Value):
        arr = constant_array(v)
        if arr is not None:
            return np.array(arr)
        for i, known in enumerate(values):
            if known == v:
                return i
        values.append(v)
        return len(values) - 1

    def visit(op):
        if op.name in op_names:
            attrs = {k: attr_value(op.attributes[k]) for k in op.attributes if not k.startswith("qc.")}
            taps.append(
                Tap(
                    op.name,
                    attrs,
                    tuple(slot(v) for v in op.operands),
                    tuple(slot(r) for r in op.results),
                    str(op.location),
                )
            )
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    with module.context, ir.Location.unknown():
        with ir.InsertionPoint(ret):
            final = ir.Operation.create("func.return", operands=values)
        ret.operation.erase()
        ft = ir.FunctionType(ir.TypeAttr(fop.attributes["function_type"]).value)
        fop.attributes["function_type"] = ir.TypeAttr.get(
            ir.FunctionType.get(ft.inputs, [v.type for v in final.operands])
        )
    return taps


def split(outputs: list, n_real: int, taps: list[Tap]) -> tuple[list, list[tuple[Tap, list, list]]]:
    """Separate real outputs from tapped values: (outputs, [(tap, operand arrays, result arrays)])."""
    pick = lambda s: s if isinstance(s, np.ndarray) else outputs[s]  # noqa: E731
    return outputs[:n_real], [(t, [pick(s) for s in t.operands], [pick(s) for s in t.results]) for t in taps]
