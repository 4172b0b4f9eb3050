"""Export a model as quantized by a qcomp recipe: GGUF (llama.cpp) or ONNX (ONNX Runtime).

    from qcomp.export_model import export
    r = export(lm, "smollm2-w8a8.gguf", recipe="w8a8", example_inputs=(ids,), tokenizer=tok)
    print(r.summary())

The model goes through qcomp's front end and the recipe's passes exactly as in `qcomp.compile` (import,
qc-raise-norms, qc-from-torch, calibration attached, the recipe's pipeline); no target code is built. The
quantized weights are then read back from the `qc` graph (`export_llama.extract`) and written:

- gguf: `export_gguf.write_gguf` — int8 codes as Q8_0, int2..4 as Q4_0, float tensors as F32;
- onnx: `export_onnx.write_onnx` — QDQ (DequantizeLinear per channel or block-wise) or MatMulNBits.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from qcomp import targets
from qcomp.dialects import reference as ref
from qcomp.dialects.errors import QcompError
from qcomp.export_result import ExportResult as ExportResult  # re-exported: moved below the writers
from qcomp.models import as_logits_model
from qcomp.passes.context import PassContext
from qcomp.recipes import calibration_method, get_recipe

FORMATS = ("gguf", "onnx")
HEADS = ("recipe", "f32", "q8_0")


def quantized_module(
    model: torch.nn.Module,
    example_inputs,
    recipe="w8a8",
    calibration=None,
    target="cpu",
    keep_head=False,
    online_scales="keep",
):
    """(qc module after the recipe's passes, Recipe): the front half of `qcomp.compile` (keep the two in step),
    without code generation. keep_head: the last linear layer (an LM's head) is marked `qc.precision = "fp32"`
    before the passes, so the recipe leaves it in float (as llama.cpp's own quantizer keeps the head at 8 bits).
    online_scales: "keep" leaves the recipe's passes as they are; "drop" runs them one at a time and, after each,
    undoes a smoothing that needed an online `qc.channel_scale` (`drop_online_scales`), so what is left folds
    into the weights and norms (GGUF has no online per-channel scale)."""
    from qcomp import calibrate as calib  # deferred: loads MLIR (heavy)
    from qcomp.api import gain_reference, needs_hessian  # deferred: loads MLIR (heavy)
    from qcomp.dialects._mlir import ir  # deferred: loads MLIR (heavy)
    from qcomp.frontend import import_torch  # deferred: loads MLIR (heavy)
    from qcomp.pipeline import Pipeline  # deferred: loads MLIR (heavy)

    if online_scales not in ("keep", "drop"):
        raise QcompError(f"online_scales must be 'keep' or 'drop', got {online_scales!r}")
    rec = get_recipe(recipe)
    tgt = targets.get(target) if isinstance(target, str) else target
    inputs = tuple(example_inputs) if isinstance(example_inputs, tuple | list) else (example_inputs,)
    if rec.calibration and calibration is None:
        raise QcompError(f"recipe {rec.name!r} needs calibration: export(..., calibration=[input tuples] | table)")
    ctable = None
    if calibration is not None:
        method, pct = calibration_method(rec.calibration or "minmax", rec.name)
        ctable = calib.resolve(
            calibration, model, inputs, method, pct, tgt, sensitivity=gain_reference(rec), hessian=needs_hessian(rec)
        )
    module = import_torch(model, inputs)
    Pipeline.parse("qc-raise-norms,qc-from-torch").run(module)
    if ctable is not None:
        calib.attach(module, ctable)
    with module.context:
        module.operation.attributes["qc.target"] = ir.StringAttr.get(tgt.name)
        if keep_head:
            from qcomp.dialects.irutil import ops_named  # deferred: loads MLIR (heavy)

            linears = ops_named(module, "qc.linear")
            if not linears:
                raise QcompError("keep_head: the model has no linear layer")
            linears[-1].attributes["qc.precision"] = ir.StringAttr.get("fp32")
    if rec.pipeline and online_scales == "drop":
        from qcomp.dialects.pass_pipeline import split_top_level  # deferred: loads MLIR (heavy)

        for spec in split_top_level(rec.pipeline):
            Pipeline.parse(spec).run(module, ctx=PassContext(target=tgt))
            drop_online_scales(module)
    elif rec.pipeline:
        Pipeline.parse(rec.pipeline).run(module, ctx=PassContext(target=tgt))
    return module, rec


def drop_online_scales(module) -> list[str]:
    """Undo every smoothing that went into an online `qc.channel_scale` (x -> x / s where x's producer could not
    absorb 1/s, e.g. the attention output before o_proj): the float layers reading it get their columns back
    (W·diag(s) -> W·diag(s)·diag(1/s), statistics of x/s -> of x) and read x again. Returns the layers' locations.
    Must run before the weights are quantized (a quantized reader cannot take the scale back: refused)."""
    from qcomp.dialects._mlir import ir  # deferred: loads MLIR (heavy)
    from qcomp.dialects.irutil import ops_named  # deferred: loads MLIR (heavy)
    from qcomp.dialects.weights import constant_array  # deferred: loads MLIR (heavy)
    from qcomp.passes.channel_fold import linear_weight, scale_columns, users  # deferred: loads MLIR (heavy)

    undone = []
    for cs in ops_named(module, "qc.channel_scale"):
        inv = constant_array(cs.operands[1])
        readers = users(cs.results[0])
        if inv is None or any(linear_weight(op) is None for op in readers):
            raise QcompError(f"{cs.location}: qc.channel_scale read by a layer that is not a float qc.linear: "
                             "its smoothing cannot be undone")  # fmt: skip
        with module.context, ir.Location.unknown():
            for op in readers:
                scale_columns(op, np.asarray(inv, np.float32))
                op.operands[0] = cs.operands[0]
                undone.append(str(op.location))
        cs.erase()
    return undone


def export(
    model: torch.nn.Module,
    path: str,
    format: str | None = None,
    recipe="w8a8",
    example_inputs=None,
    calibration=None,
    tokenizer=None,
    fallback: str = "error",
    onnx_weights: str = "qdq",
    static_activations: str = "error",
    head: str = "recipe",
    embedding: str = "f32",
    online_scales: str = "keep",
) -> ExportResult:
    """Quantize `model` (a transformers LLaMA causal LM, or qcomp's logits wrapper of one) with `recipe` and
    write it to `path` as GGUF or ONNX (`format`, default from the file's extension).

    example_inputs: the token ids traced (default: 16 ids). calibration: as `qcomp.compile`'s.
    tokenizer: a transformers tokenizer whose vocabulary goes into the GGUF (byte-level BPE); without one the
    GGUF holds no vocabulary (llama.cpp then cannot tokenize text, token ids still work when given one).
    fallback: "error" refuses a quantized layer the file type cannot hold without changing a value; "f32"
    writes it as F32 holding qcomp's dequantized values. onnx_weights: "qdq" (DequantizeLinear per channel or
    block-wise) or "nbits" (MatMulNBits for <= 4-bit weight-only layers, QDQ for the rest).
    static_activations (GGUF): "error" refuses static activation scales (llama.cpp quantizes activations
    itself, dynamically), "drop" exports the weights anyway.
    head: "recipe" quantizes the LM head (the last linear layer) as the recipe says; "f32" keeps it float;
    "q8_0" keeps it out of the recipe and writes it (GGUF) as qcomp's int8 round-to-nearest in blocks of 32,
    held exactly as Q8_0 (llama.cpp's own quantizer keeps the head at 8 bits too; ONNX gets it as int8 QDQ).
    embedding (GGUF): "f32" writes the token embedding as it is; "q8_0" as qcomp's int8 RTN in blocks of 32
    (Q8_0, as llama.cpp's own quantizer writes it).
    online_scales: "keep" (the recipe as it is: a smoothing that needs an online per-channel scale is refused by
    the writers) or "drop" (such smoothings are undone before quantizing: `quantized_module`), e.g. w8a8-smooth's
    o_proj, whose input (the attention output) has no producer to absorb the scale.
    """
    from qcomp.export_llama import extract, hf_config, llama_hparams  # deferred: loads MLIR (heavy)

    fmt = format or os.path.splitext(path)[1].lstrip(".").lower()
    if fmt not in FORMATS:
        raise QcompError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fallback not in ("error", "f32"):
        raise QcompError(f"fallback must be 'error' or 'f32', got {fallback!r}")
    if embedding not in ("f32", "q8_0") or (embedding == "q8_0" and fmt != "gguf"):
        raise QcompError(f"embedding must be 'f32' or (GGUF only) 'q8_0', got {embedding!r}")
    if head not in HEADS:
        raise QcompError(f"head must be one of {', '.join(HEADS)}, got {head!r}")
    config = hf_config(model)
    hp = llama_hparams(config)  # refuse other architectures before the (slow) import
    wrapped = as_logits_model(model)
    if example_inputs is None:
        example_inputs = (torch.arange(16).remainder(hp["vocab_size"]).reshape(1, 16),)
    module, rec = quantized_module(
        wrapped, example_inputs, recipe, calibration, keep_head=head != "recipe", online_scales=online_scales
    )
    lx = extract(module, config)
    if head == "q8_0":
        head_q8_0(lx)
    if embedding == "q8_0":
        head_q8_0(lx, "token_embd.weight")
    if fmt == "gguf":
        from qcomp.export_gguf import write_gguf  # deferred: loads MLIR (heavy)

        result = write_gguf(lx, path, tokenizer, fallback, rec, static_activations)
    else:
        from qcomp.export_onnx import write_onnx  # deferred: loads MLIR (heavy)

        result = write_onnx(lx, path, rec, onnx_weights)
    return result


def head_q8_0(lx, name: str = "output.weight") -> None:
    """Replace a float `output.weight` (or `name`) of `lx` by qcomp's int8 round-to-nearest of it in groups of 32
    (symmetric, scale max|w| / 127 per group): the GGUF writer stores these codes and scales as Q8_0 unchanged."""
    from qcomp.export_llama import QWeight  # deferred: loads MLIR (heavy)

    w = lx.tensors[name]
    if isinstance(w, QWeight):
        raise QcompError(f"{name} is already quantized by the recipe: it cannot be written as qcomp's int8 RTN")
    codes, scale = ref.quantize_weight_grouped(np.asarray(w, np.float32), bits=8, group=32)
    lx.tensors[name] = QWeight(codes.astype(np.int8), scale.astype(np.float32), 8, 32)
    lx.notes.append(f"{name}: int8 round-to-nearest in groups of 32 (Q8_0), outside the recipe")
