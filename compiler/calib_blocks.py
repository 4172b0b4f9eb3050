"""Checkpoint reading and block replay, shared by the block-streamed statistics (`qcomp.calib_stream`) and gains
(`qcomp.calib_stream_gains`): a safetensors checkpoint read a few tensors at a time, a meta-device skeleton of a
transformers model, parameters loaded into it for one block and dropped again, and stand-ins for the blocks."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator

import torch
from qcomp.dialects.errors import QcompError
from qcomp.models import CausalLMLogits
from qcomp.sequential import _layer_inputs


# ----------------------------------------------------------------------------- checkpoint and skeleton
class Checkpoint:
    """The tensors of a safetensors checkpoint (a .safetensors file, a directory holding model.safetensors, or a
    directory with a model.safetensors.index.json of shards), read a few at a time."""

    def __init__(self, path: str | os.PathLike):
        from safetensors import safe_open  # deferred: safetensors (heavy)

        path = os.fspath(path)
        index = os.path.join(path, "model.safetensors.index.json")
        if os.path.isdir(path) and os.path.isfile(index):
            with open(index) as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            files = [os.path.join(path, s) for s in shards]
        elif os.path.isdir(path):
            files = [os.path.join(path, "model.safetensors")]
        else:
            files = [path]
        self.where: dict[str, str] = {}
        for f in files:
            if not os.path.isfile(f):
                raise QcompError(f"calibration: stream='blocks': {f}: no such safetensors file")
            try:
                with safe_open(f, "pt") as h:
                    self.where.update(dict.fromkeys(h.keys(), f))
            except Exception as e:  # safetensors raises its own error types for a corrupt header
                raise QcompError(f"calibration: stream='blocks': {f}: not a safetensors file: {e}") from None
        self.path = path

    def key(self, name: str) -> str | None:
        """The checkpoint's name for a module parameter name: itself or a suffix of it (wrappers add prefixes)."""
        parts = name.split(".")
        for i in range(len(parts)):
            k = ".".join(parts[i:])
            if k in self.where:
                return k
        return None

    def read(self, keys: list[str]) -> dict[str, torch.Tensor]:
        """The tensors `keys` (f32 copies); each file is opened (memory-mapped) and closed again."""
        from safetensors import safe_open  # deferred: safetensors (heavy)

        out: dict[str, torch.Tensor] = {}
        for f in dict.fromkeys(self.where[k] for k in keys):
            with safe_open(f, "pt") as h:
                for k in keys:
                    if self.where[k] == f:
                        out[k] = h.get_tensor(k).to(torch.float32)
        return out


@contextlib.contextmanager
def empty_weights() -> Iterator[None]:
    """Modules built inside get their parameters on the meta device (no memory); buffers stay real."""
    register = torch.nn.Module.register_parameter

    def on_meta(module, name, param):
        register(module, name, param)
        if param is not None:
            kind = type(module._parameters[name])
            module._parameters[name] = kind(module._parameters[name].to("meta"), requires_grad=param.requires_grad)

    torch.nn.Module.register_parameter = on_meta  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = register  # type: ignore[method-assign]


def skeleton(checkpoint: str | os.PathLike) -> torch.nn.Module:
    """A transformers causal LM from the config in the checkpoint directory, parameters on the meta device,
    as `forward(input_ids) -> logits` (qcomp's `CausalLMLogits`): what stream='blocks' reads weights into."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig, AutoModelForCausalLM  # deferred: transformers (heavy)

    config = AutoConfig.from_pretrained(checkpoint)
    with empty_weights():
        lm = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32)
    lm.tie_weights()
    return CausalLMLogits(lm.eval()).eval()


class _Loaded:
    """Reads the meta parameters among `params` from the checkpoint into every module attribute that holds them
    (tied weights included) and puts the meta ones back on exit."""

    def __init__(self, model: torch.nn.Module, ckpt: Checkpoint, params: list[torch.nn.Parameter]):
        self.slots: dict[int, list[tuple[torch.nn.Module, str]]] = {}
        self.names: dict[int, list[str]] = {}
        wanted = {id(p) for p in params if p.is_meta}
        for full, p in model.named_parameters(remove_duplicate=False):
            if id(p) in wanted:
                owner, _, attr = full.rpartition(".")
                self.slots.setdefault(id(p), []).append((model.get_submodule(owner), attr))
                self.names.setdefault(id(p), []).append(full)
        self.model, self.ckpt = model, ckpt
        self.meta: dict[int, torch.nn.Parameter] = {}

    def __enter__(self):
        keys = {}
        for pid, names in self.names.items():
            found = next((k for k in map(self.ckpt.key, names) if k is not None), None)
            if found is None:
                raise QcompError(f"calibration: stream='blocks': {names[0]} is not in the checkpoint {self.ckpt.path}")
            keys[pid] = found
        tensors = self.ckpt.read(list(dict.fromkeys(keys.values())))
        for pid, slots in self.slots.items():
            old = getattr(*slots[0])
            t = tensors[keys[pid]]
            if tuple(t.shape) != tuple(old.shape):
                raise QcompError(
                    f"calibration: stream='blocks': {keys[pid]} is {list(t.shape)} in the checkpoint, the model's "
                    f"{self.names[pid][0]} is {list(old.shape)}"
                )
            new = torch.nn.Parameter(t, requires_grad=False)
            self.meta[pid] = old
            for mod, attr in slots:
                setattr(mod, attr, new)
        return self

    def __exit__(self, *exc):
        for pid, slots in self.slots.items():
            if pid in self.meta:
                for mod, attr in slots:
                    setattr(mod, attr, self.meta[pid])
        self.meta.clear()


def _load(model, ckpt: Checkpoint | None, params: list):
    if ckpt is None or not any(p.is_meta for p in params):
        return contextlib.nullcontext()
    return _Loaded(model, ckpt, params)


class _Stop(Exception):
    pass


class _Replay(torch.nn.Module):
    """Stands in for a block: the first one returns the cached output of the last real block, the others pass
    their input on, in the blocks' output format (a tensor or a tuple)."""

    def __init__(self, outputs: list | None, as_tuple: bool):
        super().__init__()
        self.outputs, self.as_tuple, self.n = outputs, as_tuple, 0

    def forward(self, *args, **kwargs):
        h = self.outputs[self.n] if self.outputs is not None else args[0]
        return (h,) if self.as_tuple else h


def _first_block_inputs(model, first, samples) -> list[tuple[tuple, dict]]:

    return _layer_inputs(model, first, samples)
