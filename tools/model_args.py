"""The MODEL argument the `qcomp` commands share: a built-in example, a real model or `file.py:factory`.

The loaders are `qcomp.models` (torch, transformers): they are imported when a command runs, so that
`qcomp --help` and argument errors stay fast.
"""

import os

from qcomp.dialects.errors import QcompError


def factory_result(spec: str, builtins: dict, what: str, sizes: tuple[int, ...] = (2,)):
    """Call the built-in factory `spec` or the function of `file.py:factory`; check the tuple it returns."""
    if spec in builtins:
        return builtins[spec]()
    path, sep, factory = spec.rpartition(":")
    if not sep or not path.endswith(".py"):
        raise QcompError(f"unknown model {spec!r}: use a built-in ({', '.join(builtins)}) or file.py:factory")
    if not os.path.isfile(path):
        raise QcompError(f"{path}: no such file")
    from qcomp.models import call_factory  # deferred: torch (see module docstring)

    result = call_factory(path, factory)
    if not (isinstance(result, tuple) and len(result) in sizes):
        raise QcompError(f"{path}:{factory} must return {what}")
    return result


def tuple_of(x) -> tuple:
    return tuple(x) if isinstance(x, tuple | list) else (x,)


def load_model(spec: str, calib: int = 4, seq: int = 64) -> tuple:
    """(module, example_inputs, calibration samples or None) from a built-in name, a real model (smollm2,
    minilm: a `seq`-token example and `calib` calibration windows/sentences of the vendored text, after the
    example) or `file.py:factory` returning (module, example_inputs[, calibration_samples])."""
    from qcomp.evaluate import default_text, encoder_batches, token_windows  # deferred: torch (see module docstring)
    from qcomp.examples.models import BUILTIN
    from qcomp.models import REAL, is_encoder  # deferred: loads torch (heavy)

    if spec in REAL:
        model, tok = REAL[spec]()
        if is_encoder(model):
            batches = encoder_batches(tok, default_text(), 1 + calib, seq)
            return model, batches[0], batches[1:]
        wins, cal = token_windows(tok, default_text(), 1, seq, calib)
        return model, (wins[0],), [(c,) for c in cal]
    result = factory_result(
        spec, BUILTIN, "(module, example_inputs) or (module, example_inputs, calibration_samples)", (2, 3)
    )
    samples = [tuple_of(x) for x in result[2]] if len(result) == 3 and result[2] is not None else None
    return result[0], tuple_of(result[1]), samples


def load_eval_model(spec: str):
    """(module, tokenizer) from a built-in real model (smollm2, minilm) or `file.py:factory`."""
    from qcomp.models import REAL, as_logits_model  # deferred: torch (see module docstring)

    model, tok = factory_result(spec, REAL, "(module, tokenizer)")
    return as_logits_model(model), tok


def synthetic_samples(inputs: tuple, n: int, seed: int = 0) -> list[tuple]:
    """`qcomp.models.synthetic_samples`: `n` calibration input tuples shaped like `inputs`."""
    from qcomp.models import synthetic_samples as samples  # deferred: torch (see module docstring)

    return samples(inputs, n, seed)


def streamed_calibration(model_spec: str, checkpoint: str, model, rec, samples: list, target):
    """`qcomp compile --calib-stream [DIR]`: the recipe's CalibrationTable computed decoder block by block
    (`calibrate(..., stream="blocks")`) with the weights read from the safetensors checkpoint DIR (a file, or a
    directory with model.safetensors or a sharded index; for smollm2 by default its cached de-quantized one)."""
    from qcomp.api import gain_reference, needs_hessian  # deferred: torch and MLIR (see module docstring)
    from qcomp.calibrate import calibrate  # deferred: torch and MLIR (see module docstring)
    from qcomp.recipes import calibration_method  # deferred: loads the pass registry (MLIR)

    if checkpoint == "auto":
        if model_spec != "smollm2":
            raise QcompError(
                f"--calib-stream: give the safetensors checkpoint directory of {model_spec} "
                "(--calib-stream DIR; only smollm2 has a default)"
            )
        from qcomp.dialects.cache import cache_dir  # deferred: with the loaders above

        checkpoint = os.path.join(cache_dir(), "smollm2-135m-fp32")  # written by qcomp.models.smollm2()
    if not os.path.exists(checkpoint):
        raise QcompError(f"--calib-stream {checkpoint}: no such checkpoint (a .safetensors file or a directory)")
    method, pct = calibration_method(rec.calibration or "minmax", rec.name)
    return calibrate(
        model,
        samples,
        method,
        pct,
        target,
        sensitivity=gain_reference(rec),
        hessian=needs_hessian(rec),
        stream="blocks",
        weights=checkpoint,
    )
