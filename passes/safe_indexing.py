"""Memory-safe host gathers: every data-dependent index of a `tensor.extract` is clamped into its dimension.

torch-mlir lowers `x[idx]` (aten.index.Tensor), `index_select` and `gather` to linalg.generic bodies that
`tensor.extract` at an index computed from tensor values, with no bounds check (index, index_select: an index
past the table read other memory or faulted) or behind `cf.assert` (gather: an out-of-range index aborted the
process). Token ids that are inputs are checked before the call (`targets/cpu/input_checks.py`); indices the
model computes (`x.argmax(-1)`) cannot be. `clamp_gather_indices` runs right after the torch -> linalg
conversion (qc-from-torch): an index that is not a constant or a loop index becomes clamp(i, 0, dim - 1), and
the gather bounds asserts are dropped (the clamp makes the read safe). The result for an out-of-range index is
the clamped element (JAX's `mode="clip"`); `qc.embedding` yields NaN rows instead (docs/numerics.md).

Scatters (`index_put`, `x[idx] = v`: torch-mlir's `tm_tensor.scatter`) wrote at an out-of-range index into
other memory; `clamp_scatter_indices` clamps their index tensors the same way (elementwise `arith` on tensors,
then `convert-elementwise-to-linalg`; a linalg.generic reading the sizes at run time where the index tensor or
the target has dynamic dimensions), so an out-of-range update lands on the edge element of its dimension.
"""

import numpy as np
from qcomp.dialects._mlir import ir, run_pipeline
from qcomp.dialects.irutil import find_ops

# torch-mlir's gather bounds checks (TorchToLinalg DataMovement): the clamp below makes both redundant
BOUNDS_ASSERTS = ("index must be smaller than dim size", "index must be larger or equal to 0")
_SAFE_PRODUCERS = ("arith.constant", "linalg.index")


def _producer(v: ir.Value) -> str | None:
    owner = v.owner
    return owner.name if isinstance(owner, ir.Operation | ir.OpView) else None


def _index_const(value: int) -> ir.Value:
    t = ir.IndexType.get()
    return ir.Operation.create("arith.constant", results=[t], attributes={"value": ir.IntegerAttr.get(t, value)}).result


def clamp_gather_indices(module: ir.Module) -> int:
    """Clamp the data-dependent indices of every tensor.extract in `module`; return how many were clamped."""
    clamped = 0
    with module.context:
        for op in find_ops(module, lambda o: o.name == "tensor.extract"):
            t = ir.RankedTensorType(op.operands[0].type)
            for k in range(t.rank):
                v = op.operands[1 + k]
                if _producer(v) in _SAFE_PRODUCERS:
                    continue
                with ir.InsertionPoint(op), op.location:
                    if t.is_dynamic_dim(k):
                        size = ir.Operation.create(
                            "tensor.dim", results=[ir.IndexType.get()], operands=[op.operands[0], _index_const(k)]
                        ).result
                        hi = ir.Operation.create(
                            "arith.subi", results=[size.type], operands=[size, _index_const(1)]
                        ).result
                    else:
                        hi = _index_const(max(t.shape[k] - 1, 0))
                    lo = ir.Operation.create("arith.maxsi", results=[v.type], operands=[v, _index_const(0)]).result
                    c = ir.Operation.create("arith.minsi", results=[v.type], operands=[lo, hi]).result
                op.operands[1 + k] = c
                clamped += 1
        for op in find_ops(module, lambda o: o.name == "cf.assert"):
            if ir.StringAttr(op.attributes["msg"]).value in BOUNDS_ASSERTS:
                op.erase()
    return clamped


def _index_bound(original: ir.Value, ot: ir.RankedTensorType, d: int, elem: ir.Type) -> ir.Value:
    """dim(original, d) - 1 (at least 0) as a scalar of the index tensor's element type."""
    if not ot.is_dynamic_dim(d):
        return ir.Operation.create(
            "arith.constant", results=[elem], attributes={"value": ir.IntegerAttr.get(elem, max(ot.shape[d] - 1, 0))}
        ).result
    size = ir.Operation.create("tensor.dim", results=[ir.IndexType.get()], operands=[original, _index_const(d)]).result
    hi = ir.Operation.create("arith.subi", results=[size.type], operands=[size, _index_const(1)]).result
    hi = ir.Operation.create("arith.maxsi", results=[size.type], operands=[hi, _index_const(0)]).result
    return ir.Operation.create("arith.index_cast", results=[elem], operands=[hi]).result


def _clamp_dynamic(indices: ir.Value, original: ir.Value, dims: list[int]) -> ir.Value:
    """clamp(indices[i, j], 0, dim(original, dims[j]) - 1) by a linalg.generic, for any shapes (the index
    tensor's row count or the original's dimensions known only at run time)."""
    it, ot = ir.RankedTensorType(indices.type), ir.RankedTensorType(original.type)
    elem = it.element_type
    his = [_index_bound(original, ot, d, elem) for d in dims]
    hi_t = ir.RankedTensorType.get([len(dims)], elem)
    hi = ir.Operation.create("tensor.from_elements", results=[hi_t], operands=his).result
    sizes = []
    if it.is_dynamic_dim(0):
        sizes.append(
            ir.Operation.create("tensor.dim", results=[ir.IndexType.get()], operands=[indices, _index_const(0)]).result
        )
    init = ir.Operation.create("tensor.empty", results=[it], operands=sizes).result
    maps = [
        ir.AffineMapAttr.get(ir.AffineMap.get(2, 0, [ir.AffineDimExpr.get(i) for i in e]))
        for e in ([0, 1], [1], [0, 1])
    ]
    parallel = ir.Attribute.parse("#linalg.iterator_type<parallel>")
    gen = ir.Operation.create(
        "linalg.generic",
        results=[it],
        operands=[indices, hi, init],
        attributes={
            "indexing_maps": ir.ArrayAttr.get(maps),
            "iterator_types": ir.ArrayAttr.get([parallel, parallel]),
            "operandSegmentSizes": ir.DenseI32ArrayAttr.get([2, 1]),
        },
        regions=1,
    )
    block = gen.regions[0].blocks.append(elem, elem, elem)
    with ir.InsertionPoint(block):
        zero = ir.Operation.create("arith.constant", results=[elem], attributes={"value": ir.IntegerAttr.get(elem, 0)})
        lo = ir.Operation.create("arith.maxsi", results=[elem], operands=[block.arguments[0], zero.result])
        c = ir.Operation.create("arith.minsi", results=[elem], operands=[lo.result, block.arguments[1]])
        ir.Operation.create("linalg.yield", operands=[c.result])
    return gen.result


def clamp_scatter_indices(module: ir.Module) -> int:
    """Clamp the index tensor of every tm_tensor.scatter into the dimensions it addresses (constants where the
    shapes are static, a linalg.generic reading the sizes at run time where they are not); return how many
    scatters were changed."""
    done = 0
    with module.context:
        for op in find_ops(module, lambda o: o.name == "tm_tensor.scatter"):
            updates, indices, original = op.operands[:3]
            it, ot = ir.RankedTensorType(indices.type), ir.RankedTensorType(original.type)
            dims = [int(d) for d in ir.DenseI64ArrayAttr(op.attributes["dimension_map"])]
            if it.rank != 2:
                continue
            if not it.has_static_shape or any(ot.is_dynamic_dim(d) for d in dims):
                with ir.InsertionPoint(op), op.location:
                    op.operands[1] = _clamp_dynamic(indices, original, dims)
                if "unique_indices" in op.attributes:
                    op.attributes["unique_indices"] = ir.BoolAttr.get(False)
                done += 1
                continue
            hi = np.broadcast_to(np.array([max(ot.shape[d] - 1, 0) for d in dims], np.int64), it.shape)
            np_type = {32: np.int32, 64: np.int64}[ir.IntegerType(it.element_type).width]
            with ir.InsertionPoint(op), op.location:
                lo_c, hi_c = (
                    ir.Operation.create(
                        "arith.constant",
                        results=[it],
                        attributes={"value": ir.DenseElementsAttr.get(np.ascontiguousarray(a, np_type), type=it)},
                    ).result
                    for a in (np.zeros(it.shape, np_type), hi)
                )
                lo = ir.Operation.create("arith.maxsi", results=[it], operands=[indices, lo_c]).result
                clamped = ir.Operation.create("arith.minsi", results=[it], operands=[lo, hi_c]).result
            op.operands[1] = clamped
            if "unique_indices" in op.attributes:  # clamped indices may coincide
                op.attributes["unique_indices"] = ir.BoolAttr.get(False)
            done += 1
    if done:
        run_pipeline(module, "func.func(convert-elementwise-to-linalg)")
    return done
