"""Front end: torch.nn.Module -> torch dialect, through torch.export and torch-mlir's FX importer.

The decomposition table is chosen so that the ops `qc-from-torch` turns into qc ops survive whole
(linear, addmm, matmul, conv2d, layer_norm, softmax, gelu, silu); everything else is decomposed as
torch-mlir's default table does and later lowered to linalg as host code.
"""

import re
import warnings

import numpy as np
import torch
from qcomp.dialects import new_context
from qcomp.dialects._mlir import PassFailure, ir, run_pipeline
from qcomp.dialects.errors import QcompError, mlir_error_text
from qcomp.dialects.shapes import SHAPES_ATTR, spec_of
from qcomp.dialects.weights import tensor_type
from torch.export.graph_signature import OutputKind
from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols
from torch_mlir import fx
from torch_mlir.compiler_utils import OutputType
from torch_mlir.extras.fx_decomp_util import get_decomposition_table
from torch_mlir.extras.fx_importer import FxImporter, FxImporterHooks

from .custom_ops import lower_custom_ops

# what torch-mlir's fx.export_and_import runs for OutputType.TORCH
BACKEND_PIPELINE = (
    "func.func(torch-match-quantized-custom-ops),"
    "torchdynamo-export-to-torch-backend-pipeline{{backend-legal-ops={legal} extra-library=}}"
)

# aten ops kept whole (removed from the decomposition table and declared backend-legal)
KEPT_OPS = {
    "aten.linear": [torch.ops.aten.linear.default],
    "aten.addmm": [torch.ops.aten.addmm.default],
    "aten.matmul": [torch.ops.aten.matmul.default],
    "aten.conv2d": [torch.ops.aten.conv2d.default],
    "aten.layer_norm": [torch.ops.aten.layer_norm.default, torch.ops.aten.native_layer_norm.default],
    "aten.softmax.int": [torch.ops.aten.softmax.int],
    "aten.gelu": [],
    "aten.silu": [torch.ops.aten.silu.default],
}


def decomposition_table() -> dict:
    """torch-mlir's default decomposition table minus the ops qcomp keeps whole."""
    keep = {op for ops in KEPT_OPS.values() for op in ops}
    return {k: v for k, v in get_decomposition_table().items() if k not in keep}


def _make_hooks():
    class WeightHooks(FxImporterHooks):
        """Emit each weight as a DenseElementsAttr literal straight from numpy (no tolist())."""

        def resolve_literal(self, gni, literal, info):
            if not isinstance(literal, torch.Tensor) or literal.numel() <= 1 or literal.dtype == torch.bool:
                return None
            if literal.dtype not in (torch.float32, torch.int64, torch.int32, torch.int8):
                return None
            arr = np.ascontiguousarray(literal.detach().cpu().numpy())
            vt = gni._cc.tensor_to_vtensor_type(literal)
            attr = ir.DenseElementsAttr.get(arr, type=tensor_type(arr))
            return ir.Operation.create("torch.vtensor.literal", results=[vt], attributes={"value": attr}).result

    return WeightHooks()


def _prepare(model: torch.nn.Module) -> torch.nn.Module:
    # non-persistent buffers (HF position_ids, rotary inv_freq) have no state mapping in the importer
    for m in model.modules():
        m._non_persistent_buffers_set.clear()
    return model.eval()


def import_torch(
    model: torch.nn.Module, example_inputs: tuple, context: ir.Context | None = None, dynamic_shapes=None
) -> ir.Module:
    """Export `model` on `example_inputs` and import it as a torch-dialect module (value semantics).

    dynamic_shapes: torch.export's (`Dim` per dynamic dimension, each with an upper bound); the module then
    has `?` dimensions and carries their ranges and its outputs' shapes in `qc.shapes` (`shapes.ShapeSpec`)."""
    if not isinstance(model, torch.nn.Module):
        raise QcompError(f"expected a torch.nn.Module, got {type(model).__name__}")
    ctx = context or new_context()
    importer = FxImporter(context=ctx, hooks=_make_hooks())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.no_grad():
                prog = torch.export.export(
                    _prepare(model), tuple(example_inputs), dynamic_shapes=dynamic_shapes, strict=False
                )
                refuse_data_dependent_shapes(prog, type(model).__name__)
                refuse_unsigned_boundary(prog, type(model).__name__)
                spec = spec_of(prog) if dynamic_shapes is not None else None
                prog = prog.run_decompositions(decomposition_table())  # functional: in-place ops become outputs
                mutated = mutated_input_outputs(prog, type(model).__name__)
                module = fx.export_and_import(
                    prog, output_type=OutputType.RAW, fx_importer=importer, decomposition_table={}
                )
            drop_results(module, mutated)
            lower_custom_ops(module)  # qcomp's own torch ops, which the backend pipeline would reject
            run_pipeline(module, BACKEND_PIPELINE.format(legal=",".join(KEPT_OPS)))
            if spec is not None and spec.dynamic:
                with module.context:
                    module.operation.attributes[SHAPES_ATTR] = ir.StringAttr.get(spec.to_json())
        except PassFailure as e:
            raise QcompError(
                f"torch-mlir could not import {type(model).__name__}: {mlir_error_text(e).splitlines()[0]}"
            ) from e
        except ir.MLIRError as e:
            raise QcompError(f"torch-mlir could not import {type(model).__name__}: {_first_line(e)}") from e
        except QcompError:
            raise
        except Exception as e:  # torch.export raises many exception types
            hint = ""
            if dynamic_shapes is not None and "Constraints violated" in str(e):
                hint = (
                    " (a dynamic dimension's example size must be 2 or more, torch.export specializes 0 and 1; "
                    "and the model must not fix it)"
                )
            raise QcompError(f"torch.export failed on {type(model).__name__}: {_first_line(e)}{hint}") from e
    return module


def refuse_data_dependent_shapes(prog, model_name: str) -> None:
    """One line naming the first op whose output shape depends on tensor values (`x[x > 0]`, `nonzero`,
    `unique`, ...): torch.export gives it an unbacked size (u0), which the lowering cannot bound."""
    for node in prog.graph.nodes:
        val = node.meta.get("val")
        if isinstance(val, torch.Tensor) and free_unbacked_symbols(val.shape):
            shape = "x".join(str(d) for d in val.shape)
            raise QcompError(
                f"{_source_of(node)}: {node.target} in {model_name} has a data-dependent output shape ({shape}): "
                "qcomp compiles static shapes (or torch.export Dims); mask with torch.where instead"
            )


def refuse_unsigned_boundary(prog, model_name: str) -> None:
    """Outputs that are not tensors, and unsigned integer inputs and outputs (uint8 images, masks: builtin
    tensors are signless and the runtime reads them as signed, 200 would come back as -56): one line each."""
    unsigned = (torch.uint8, torch.uint16, torch.uint32, torch.uint64)
    user_inputs = set(prog.graph_signature.user_inputs)
    inputs = [n for n in prog.graph.nodes if n.op == "placeholder" and n.name in user_inputs]
    outputs = [a for n in prog.graph.nodes if n.op == "output" for a in n.args[0]]
    for i, node in enumerate(outputs):  # a Python int, a shape, None: the runtime has no place for them
        val = node.meta.get("val") if isinstance(node, torch.fx.Node) else node
        if not isinstance(val, torch.Tensor):
            raise QcompError(
                f"{model_name}: output {i} is a {type(val).__name__} ({val}), not a tensor: a compiled model returns "
                "tensors only (return torch.tensor(...), or leave it out)"
            )
    for what, nodes in (("input", inputs), ("output", outputs)):
        for i, node in enumerate(nodes):
            val = getattr(node, "meta", {}).get("val")
            if isinstance(val, torch.Tensor) and val.dtype in unsigned:
                raise QcompError(
                    f"{model_name}: {what} {i} is a {str(val.dtype).removeprefix('torch.')} tensor: qcomp's compiled "
                    "models take and return signed integers (cast to torch.int32 or int64 at the model's boundary)"
                )


def mutated_input_outputs(prog, model_name: str) -> set[int]:
    """The positions of @main's results that only carry an in-place update of an input (`x.mul_(2)`:
    torch.export returns the new x ahead of the outputs). The compiled model never writes its inputs, so they
    are dropped: the outputs are PyTorch's, the caller's tensors stay as they were. A model that updates its
    own buffers is refused: qcomp freezes module state, later calls would not see the update."""
    drop = set()
    for i, o in enumerate(prog.graph_signature.output_specs):
        if o.kind in (OutputKind.BUFFER_MUTATION, OutputKind.PARAMETER_MUTATION):
            raise QcompError(
                f"{model_name} updates its state '{o.target}' in forward: qcomp compiles a model's state as "
                "constants, so later calls would not see the update (keep state outside the model)"
            )
        if o.kind == OutputKind.USER_INPUT_MUTATION:
            drop.add(i)
    return drop


def drop_results(module: ir.Module, drop: set[int]) -> None:
    """Remove the results at positions `drop` from @main (its return and its type)."""
    if not drop:
        return
    with module.context:
        for op in module.body.operations:
            if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == "main":
                ret = op.regions[0].blocks[0].operations[len(op.regions[0].blocks[0].operations) - 1]
                keep = [v for i, v in enumerate(ret.operands) if i not in drop]
                with ir.InsertionPoint(ret), ret.location:
                    ir.Operation.create("func.return", operands=keep)
                ret.erase()
                ft = ir.FunctionType(ir.TypeAttr(op.attributes["function_type"]).value)
                op.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(ft.inputs, [v.type for v in keep]))


def _source_of(node) -> str:
    """'file:line' of the model code that made an FX node (the innermost frame of its stack trace)."""
    frames = re.findall(r'File "([^"]+)", line (\d+)', node.meta.get("stack_trace") or "")
    return f"{frames[-1][0]}:{frames[-1][1]}" if frames else "loc(unknown)"


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
