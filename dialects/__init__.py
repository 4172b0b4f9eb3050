"""qcomp.dialects: the floor every other layer stands on (see docs/architecture.md).

The IR: the MLIR shim (`_mlir.py`, the one importer of torch-mlir's bindings) and the `qc` dialect (qc.py: compute
and structure ops; qc_quant.py: quantization ops; qc_attention.py: attention over a KV cache; qc_float.py: float
number formats; context.py: the dialect loaded into a context), the numpy semantics (reference.py, formats.py).
Beside it, light modules that import no MLIR: errors.py, precision.py (the Precision value type), quant_math.py
(observers, clip methods, fake quantization), cache.py (qcomp's cache folder); and on the IR: irutil.py (finding
ops, @main), attrs.py (every discardable qc.* attribute, declared once), weights.py (reading and replacing weights).

The package itself is light: `import qcomp.dialects.errors` loads no MLIR; the names below load the dialect on
first use.
"""

_LAZY = ("QC", "new_context", "op_classes", "reference_of")


def __getattr__(name: str):  # keep the light floor modules light: MLIR and the op classes load on first use
    if name in _LAZY:
        from . import context  # deferred: loads MLIR (heavy)

        return getattr(context, name)
    raise AttributeError(f"module 'qcomp.dialects' has no attribute {name!r}")


__all__ = ["QC", "new_context", "op_classes", "reference_of"]
