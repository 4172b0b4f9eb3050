"""`qcomp export MODEL --recipe R --format gguf|onnx -o FILE`: write a model as quantized by a recipe.

MODEL is a LLaMA-family causal LM: `smollm2` (its tokenizer's vocabulary goes into the GGUF; calibration
windows of the vendored text after the example), `tiny-llama` (random weights, no tokenizer) or
`file.py:factory` returning (model, example_inputs[, calibration_samples]) as for `qcomp compile`.
"""

import os
import time

from qcomp.dialects.cache import cache_dir
from qcomp.dialects.errors import QcompError

from .model_args import load_model, synthetic_samples


def add_parser(sub) -> None:
    x = sub.add_parser("export", help="write a model quantized by a recipe as GGUF (llama.cpp) or ONNX")
    x.add_argument("model", help="smollm2, tiny-llama or file.py:factory -> (model, example_inputs[, samples])")
    x.add_argument("--recipe", default="w8a8", help="w8a8, w4a16, w4a16-awq, ... or a recipe .yaml file")
    x.add_argument("--format", default=None, choices=["gguf", "onnx"], help="default: from the file extension")
    x.add_argument("-o", "--output", required=True, help="the file to write (.gguf or .onnx)")
    x.add_argument("--calib", type=int, default=4, help="calibration samples for recipes that need them")
    x.add_argument("--seq", type=int, default=64, help="tokens of the example and calibration windows (smollm2)")
    x.add_argument(
        "--fallback",
        default="error",
        choices=["error", "f32"],
        help="a quantized layer the file type cannot hold unchanged: refuse (error) or write it as F32",
    )
    x.add_argument(
        "--onnx-weights", default="qdq", choices=["qdq", "nbits"], help="ONNX: QDQ, or MatMulNBits for int4 layers"
    )
    x.add_argument(
        "--head",
        default="recipe",
        choices=["recipe", "f32", "q8_0"],
        help="the LM head: as the recipe says, float, or int8 round-to-nearest in blocks of 32 (GGUF Q8_0)",
    )
    x.add_argument(
        "--embedding",
        default="f32",
        choices=["f32", "q8_0"],
        help="GGUF: the token embedding as F32 or as int8 round-to-nearest in blocks of 32 (Q8_0)",
    )
    x.add_argument(
        "--static-activations",
        default="error",
        choices=["error", "drop"],
        help="GGUF: refuse static activation scales (llama.cpp has none) or export the weights anyway",
    )


def _tokenizer(spec: str):
    """The tokenizer of a built-in real model (smollm2: from the cache `load_model` has just filled), else None."""
    if spec != "smollm2":
        return None
    from transformers import AutoTokenizer  # deferred: heavy, only for smollm2

    return AutoTokenizer.from_pretrained(os.path.join(cache_dir(), "smollm2-135m-fp32"))


def cmd_export(args) -> int:
    from qcomp.export_model import export  # deferred: torch and MLIR load only when the command runs
    from qcomp.recipes import get_recipe

    if args.calib < 1:
        raise QcompError(f"--calib must be >= 1, got {args.calib}")
    rec = get_recipe(args.recipe)
    model, inputs, samples = load_model(args.model, args.calib, args.seq)
    tokenizer = _tokenizer(args.model)
    calibration = None
    if rec.calibration:
        calibration = samples[: args.calib] if samples else synthetic_samples(inputs, args.calib)
    start = time.perf_counter()
    result = export(
        model,
        args.output,
        format=args.format,
        recipe=rec,
        example_inputs=inputs,
        calibration=calibration,
        tokenizer=tokenizer,
        fallback=args.fallback,
        onnx_weights=args.onnx_weights,
        static_activations=args.static_activations,
        head=args.head,
        embedding=args.embedding,
    )
    print(f"qcomp: exported {args.model} in {time.perf_counter() - start:.1f} s")
    print(result.summary())
    return 0
