"""qcomp: an MLIR-based quantizing compiler for PyTorch models.

import qcomp
cm = qcomp.compile(model, (x,), target="cpu", recipe="w8a8")
y = cm(x); print(cm.report["placement"]); cm.save("out/")
lm = qcomp.compile_lm(hf_causal_lm, recipe="w8a8"); lm.generate(ids, max_new_tokens=32)
"""

import importlib

from qcomp.dialects.errors import QcompError


def __getattr__(name):  # keep `import qcomp` light: torch and MLIR load on first use
    if name in ("compile", "CompiledModel"):
        from . import api  # deferred (as every name here): torch and MLIR

        return getattr(api, name)
    if name in ("compile_lm", "CompiledLM"):
        from . import generate  # deferred: torch and MLIR

        return getattr(generate, name)
    if name == "Recipe":
        from .recipes import Recipe  # deferred: numpy

        return Recipe
    if name in ("targets", "calibrate"):  # qcomp.calibrate(model, samples, ...) calls calibrate.calibrate
        return importlib.import_module(f"qcomp.{name}")
    raise AttributeError(name)


__all__ = ["CompiledLM", "CompiledModel", "QcompError", "Recipe", "calibrate", "compile", "compile_lm", "targets"]
