"""Dynamic shapes on the CPU: @main writes its results into caller-allocated destinations.

`buffer-results-to-out-params` cannot turn a result of dynamic shape into an out-parameter (its size is
unknown before the call). The caller knows it, though: a module with dynamic dimensions carries its
`ShapeSpec` (`qcomp.shapes`), whose output shapes are expressions of the input sizes. So before
bufferization each result of @main becomes a trailing argument, written by
`bufferization.materialize_in_destination`; after bufferization it is a memref the caller allocated with the
exact shape of this call.
"""

from qcomp.dialects._mlir import ir


def results_as_destinations(module: ir.Module) -> int:
    """Make @main's results trailing destination arguments; return how many. Run before bufferization."""
    fop = next(
        op
        for op in module.body.operations
        if op.operation.name == "func.func" and op.attributes["sym_name"].value == "main"
    )
    block = fop.regions[0].blocks[0]
    ret = block.operations[len(block.operations) - 1]
    with module.context, ret.location:
        n = len(ret.operands)
        for v in list(ret.operands):
            t = ir.RankedTensorType(v.type)
            dest = block.add_argument(ir.MemRefType.get(t.shape, t.element_type), ret.location)
            with ir.InsertionPoint(ret):
                ir.Operation.create(
                    "bufferization.materialize_in_destination",
                    operands=[v, dest],
                    attributes={"restrict": ir.UnitAttr.get(), "writable": ir.UnitAttr.get()},
                )
        with ir.InsertionPoint(ret):
            ir.Operation.create("func.return", operands=[])
        ret.erase()
        fop.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get([a.type for a in block.arguments], []))
    return n
