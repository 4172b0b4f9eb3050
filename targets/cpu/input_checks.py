"""Checks of a compiled @main's inputs that the generated code does not make: token ids against the vocabulary.

`qc.embedding` reads row `ids[...]` of its [V, D] table without a bounds check: an id outside [0, V) reads
another buffer's memory (garbage, inf, NaN) or faults. PyTorch raises instead. `token_id_bounds` finds, in a
module before or after `qc-lower-to-linalg`, every @main input that reaches an embedding's ids unchanged
(through reshapes and widening casts only) and the vocabulary it indexes; `check_token_ids` checks a call's
arrays against those bounds (the JIT and the simulators' host code call it; the AOT C library makes the same
check in C, `aot_templates.py`). Ids an embedding reads from a computed tensor (a position from `arange`) are
not inputs and are not checked here.
"""

import numpy as np
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError


class InputError(QcompError, ValueError):
    """A call's inputs do not fit the compiled model (count, dtype, shape, token ids); a ValueError as well."""


EMBEDDING_HELPER = "__qc_embedding_"  # qc-lower-to-linalg's helper functions (lower_qc.py)
_TRANSPARENT = (  # ops whose first operand's values reach their result unchanged
    "tensor.collapse_shape",
    "tensor.expand_shape",
    "tensor.cast",
    "tensor.reshape",
    "arith.extsi",
    "arith.index_cast",
    "torch_c.to_builtin_tensor",
    "torch_c.from_builtin_tensor",
)


def _embedding_operands(op) -> tuple[ir.Value, ir.Value] | None:
    """(table, ids) of a qc.embedding or of a call of its lowered helper, else None."""
    name = op.name
    if name == "qc.embedding":
        return op.operands[0], op.operands[1]
    if name == "func.call" and len(op.operands) == 2:
        callee = ir.FlatSymbolRefAttr(op.attributes["callee"]).value
        if callee.startswith(EMBEDDING_HELPER):
            return op.operands[0], op.operands[1]
    return None


def _input_index(value: ir.Value, block, n_inputs: int) -> int | None:
    """The @main argument number `value` is (through transparent ops), when it is one of the inputs."""
    for _ in range(64):
        if isinstance(value, ir.BlockArgument):
            return value.arg_number if value.owner == block and value.arg_number < n_inputs else None
        owner = value.owner
        op = owner.operation if isinstance(owner, ir.OpView) else owner
        if not isinstance(op, ir.Operation) or op.name not in _TRANSPARENT or not len(op.operands):
            return None
        value = op.operands[0]
    return None


def token_id_bounds(main, n_inputs: int) -> list[tuple[int, int]]:
    """[(input index, vocabulary size)] for the inputs of the func.func `main` that embeddings index with."""
    block = main.regions[0].blocks[0]
    bounds: dict[int, int] = {}
    for op in block.operations:
        found = _embedding_operands(op.operation)
        if found is None:
            continue
        table, ids = found
        shape = ir.ShapedType(table.type).shape
        index = _input_index(ids, block, n_inputs)
        if index is not None and len(shape) == 2:
            bounds[index] = min(bounds.get(index, shape[0]), shape[0])
    return sorted(bounds.items())


def bad_token_id(ids: np.ndarray, vocab: int) -> tuple[int, list[int]] | None:
    """(the first id outside [0, vocab), its index) or None."""
    if ids.size == 0:
        return None
    if ids.min() >= 0 and ids.max() < vocab:
        return None
    flat = np.flatnonzero((ids < 0) | (ids >= vocab))[0]
    return int(ids.reshape(-1)[flat]), [int(i) for i in np.unravel_index(flat, ids.shape)]


def check_token_ids(arrays, bounds: list[tuple[int, int]]) -> None:
    """Raise a one-line QcompError when an input of `bounds` holds an id outside its vocabulary."""
    for i, vocab in bounds:
        bad = bad_token_id(arrays[i], vocab)
        if bad is not None:
            raise InputError(
                f"input {i}: token id {bad[0]} at index {bad[1]} is outside the embedding's vocabulary [0, {vocab})"
            )


_LAYERS = ("linear", "matmul", "conv", "embedding")  # qc op kinds with a feature (reduction or output) dimension


def _layer_kind(op) -> str | None:
    """The qc op kind of a qc op, of a call of its lowered helper (`__qc_<kind>_<n>`) or of an offloaded call."""
    if op.name.startswith("qc."):
        return op.name[3:]
    if op.name == "func.call":
        if "qc.offload" in op.attributes:
            return ir.StringAttr(op.attributes["qc.offload"]).value[3:]
        callee = ir.FlatSymbolRefAttr(op.attributes["callee"]).value
        if callee.startswith("__qc_"):
            return callee[5:].rsplit("_", 1)[0]
    return None


def refuse_empty_layers(main) -> None:
    """A one-line QcompError for a layer (linear, matmul, convolution, embedding) of the func.func `main` with
    an empty feature dimension (`nn.Linear(8, 0)`, an embedding table of 0 rows): its kernels would divide by
    it. Empty batches (0 rows) are fine: they give empty results."""
    for op in main.regions[0].blocks[0].operations:
        op = op.operation
        kind = _layer_kind(op)
        if kind is None or not any(k in kind for k in _LAYERS):
            continue
        values = [op.operands[0]] if "embedding" in kind else [*op.operands, *op.results]
        for v in values:
            if not isinstance(v.type, ir.ShapedType) or not ir.ShapedType(v.type).rank:
                continue
            shape = ir.ShapedType(v.type).shape
            features = shape if "embedding" in kind else shape[1:] if "conv" in kind else shape[-1:]
            if 0 in features:
                raise QcompError(
                    f"{op.location}: qc.{kind} on an empty tensor {v.type}: layers with zero input or output "
                    "features cannot be compiled"
                )


FINITE_ONLY_REASON = (
    "this model quantizes activations with static (calibrated) scales, which cannot carry NaN or inf (a dynamic "
    "recipe propagates them like PyTorch)"
)


def static_scales(module) -> bool:
    """Whether the module (before or after qc-lower-to-linalg) quantizes with a static (calibrated) scale: a
    qc.quantize or a call of its lowered helper. Such a model refuses NaN and inf in its float inputs
    (docs/numerics.md): an int8 code has no NaN, so the output would be finite and wrong."""
    found = False

    def visit(op):
        nonlocal found
        found = found or _layer_kind(op.operation) == "quantize"
        return ir.WalkResult.INTERRUPT if found else ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return found


def refuse_non_finite(arrays) -> None:
    """A one-line InputError for the first NaN or inf in a float input (the inputs of a `static_scales` model)."""
    for i, a in enumerate(arrays):
        if a.dtype.kind == "f" and a.size and not np.isfinite(a).all():
            at = np.unravel_index(int(np.flatnonzero(~np.isfinite(a))[0]), a.shape)
            raise InputError(f"input {i}: {a[at]} at index {[int(j) for j in at]}: {FINITE_ONLY_REASON}")
