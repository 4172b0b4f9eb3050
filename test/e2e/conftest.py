"""Shared fixtures: each built-in model compiled once per recipe for the whole e2e session."""

import numpy as np
import pytest
import qcomp
import torch
from qcomp.examples.models import BUILTIN

torch.set_num_threads(1)  # 2 torch threads on a loaded 2-core machine can be 10x slower
INT_OPS = ("qc.quantize_dynamic", "qc.qlinear", "qc.qconv2d")
_CACHE: dict = {}


def compiled(name: str, recipe: str):
    """(model, inputs, CompiledModel, PyTorch reference output) — compiled with taps on the integer ops."""
    key = (name, recipe)
    if key not in _CACHE:
        model, inputs = BUILTIN[name]()
        with torch.no_grad():
            want = model(*inputs).numpy()
        cm = qcomp.compile(model, inputs, target="cpu", recipe=recipe, taps=INT_OPS if recipe != "fp32" else ())
        _CACHE[key] = (model, inputs, cm, want)
    return _CACHE[key]


def tiny_llama_lm(recipe: str, target: str = "cpu", kv: str = "fp32"):
    """The tiny LLaMA's CompiledLM (max_seq 64, prefill chunks of 8), compiled once per session per arguments;
    callers reset it (generate does)."""
    key = ("lm", recipe, target if isinstance(target, str) else repr(target), kv)
    if key not in _CACHE:
        from qcomp.examples.models import tiny_llama

        m, _ = tiny_llama()
        _CACHE[key] = qcomp.compile_lm(m.lm, target=target, recipe=recipe, kv=kv, max_seq=64, chunk=8)
    return _CACHE[key]


def max_rel_err(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / np.abs(want).max())


def cosine(got: np.ndarray, want: np.ndarray) -> float:
    g, w = got.astype(np.float64).ravel(), want.astype(np.float64).ravel()
    return float(g @ w / (np.linalg.norm(g) * np.linalg.norm(w)))


@pytest.fixture
def models():
    return compiled
