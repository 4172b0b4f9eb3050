"""Front end: torch.nn.Module -> torch dialect, through torch.export and torch-mlir's FX importer.

The decomposition table is chosen so that the ops `qc-from-torch` turns into qc ops survive whole
(linear, addmm, matmul, conv2d, layer_norm, softmax, gelu, silu); everything else is decomposed as
torch-mlir's default table does and later lowered to linalg as host code.
"""

import warnings

import numpy as np
import torch
from qcomp.dialects import new_context
from qcomp.dialects._mlir import PassFailure, ir, run_pipeline
from qcomp.errors import QcompError, mlir_error_text

from .custom_ops import lower_custom_ops
from .shapes import SHAPES_ATTR, spec_of

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
    from torch_mlir.extras.fx_decomp_util import get_decomposition_table

    keep = {op for ops in KEPT_OPS.values() for op in ops}
    return {k: v for k, v in get_decomposition_table().items() if k not in keep}


def _make_hooks():
    from torch_mlir.extras.fx_importer import FxImporterHooks

    class WeightHooks(FxImporterHooks):
        """Emit each weight as a DenseElementsAttr literal straight from numpy (no tolist())."""

        def resolve_literal(self, gni, literal, info):
            if not isinstance(literal, torch.Tensor) or literal.numel() <= 1 or literal.dtype == torch.bool:
                return None
            if literal.dtype not in (torch.float32, torch.int64, torch.int32, torch.int8):
                return None
            arr = np.ascontiguousarray(literal.detach().cpu().numpy())
            vt = gni._cc.tensor_to_vtensor_type(literal)
            from qcomp.weights import tensor_type

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
    from torch_mlir import fx
    from torch_mlir.compiler_utils import OutputType
    from torch_mlir.extras.fx_importer import FxImporter

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
                spec = spec_of(prog) if dynamic_shapes is not None else None
                module = fx.export_and_import(
                    prog,
                    output_type=OutputType.RAW,
                    fx_importer=importer,
                    decomposition_table=decomposition_table(),
                )
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


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
