"""The one helper through which passes read and replace weights.

Weights live in the IR as `arith.constant` ops holding a `DenseElementsAttr` (the front end's
`resolve_literal` hook emits them straight from the model's numpy memory). `np.array(attr)` reads
them without a copy; a replaced weight (e.g. its int8 version) is a new constant.
"""

import numpy as np
from qcomp.dialects._mlir import arith, ir

_NP_TO_MLIR = {
    np.dtype(np.float32): lambda: ir.F32Type.get(),
    np.dtype(np.int8): lambda: ir.IntegerType.get_signless(8),
    np.dtype(np.int32): lambda: ir.IntegerType.get_signless(32),
    np.dtype(np.int64): lambda: ir.IntegerType.get_signless(64),
}


def constant_array(value: ir.Value) -> np.ndarray | None:
    """The numpy contents of `value` when it is produced by a dense constant, else None."""
    owner = value.owner
    if not isinstance(owner, ir.OpView | ir.Operation):
        return None
    op = owner.operation if isinstance(owner, ir.OpView) else owner
    name = op.name
    if name == "torch_c.to_builtin_tensor":
        return constant_array(op.operands[0])
    if name not in ("arith.constant", "torch.vtensor.literal"):
        return None
    attr = op.attributes["value"]
    if not isinstance(attr, ir.DenseElementsAttr):
        return None
    shape = list(ir.ShapedType(attr.type).shape)
    try:
        data = np.array(attr, copy=False)
    except (TypeError, ValueError):  # element types numpy cannot hold (bf16, f8 ...): not readable here
        return None
    if attr.is_splat:
        return np.full(shape, data.reshape(-1)[0], dtype=data.dtype)
    return data.reshape(shape)


def constant(value: ir.Value) -> np.ndarray:
    """`constant_array(value)` where the caller knows `value` is a readable dense constant (ValueError otherwise)."""
    arr = constant_array(value)
    if arr is None:
        raise ValueError(f"not a dense constant: {value}")
    return arr


def tensor_type(arr: np.ndarray) -> ir.RankedTensorType:
    """The builtin tensor type of a numpy array (f32, i8, i32, i64)."""
    return ir.RankedTensorType.get(list(arr.shape), _NP_TO_MLIR[arr.dtype]())


def make_constant(arr: np.ndarray) -> ir.Value:
    """An `arith.constant` holding `arr` at the current insertion point (needs a Location in scope)."""
    arr = np.ascontiguousarray(arr)
    attr = ir.DenseElementsAttr.get(arr, type=tensor_type(arr))
    return arith.ConstantOp(attr.type, attr).result


__all__ = ["constant_array", "make_constant", "tensor_type"]
