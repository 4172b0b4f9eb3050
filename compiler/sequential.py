"""Sequential GPTQ Hessians: each block's linear inputs taken from a model whose earlier blocks are already
quantized (GPTQ's and llm-compressor's sequential pipeline), for `calibrate(..., hessian="sequential")`.

The blocks are the items of the model's largest `torch.nn.ModuleList` holding linear layers (a transformer's
decoder layers); linear layers outside it (lm_head) form one last block. For block b, in order: every
calibration sample runs through a working copy of the model whose blocks < b hold GPTQ-quantized weights,
hooks stream H = 2·XᵀX / rows of each linear input of block b (the forward stops once block b has run), then
block b's linear layers are quantized by `gptq.gptq_quantize` with the given qc-gptq options on those
Hessians (cast to f32, as calibration stores them) and their dequantized weights go into the copy. A layer of
block b thus sees the float outputs of its own block's earlier layers and the quantized outputs of every
earlier block (llm-compressor's granularity). Peak memory: one copy of the model plus the Hessians.

The Hessians are returned keyed by the weight's bytes, so that `calibrate` gives each qc.linear whose constant
weight equals an nn.Linear's weight that layer's sequential Hessian; qc-gptq with the same options then
reproduces exactly the weights the later blocks were calibrated against. Other layers keep the float model's
Hessian.
"""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import torch
from qcomp.errors import QcompError


class _Stop(Exception):
    """Raised by a hook after the current block ran: the rest of the forward is not needed."""


def weight_key(w: np.ndarray) -> str:
    """The key of a weight by its contents (shape, dtype and bytes)."""
    a = np.ascontiguousarray(w, np.float32)
    return f"{a.shape}:" + hashlib.blake2b(memoryview(a).cast("B"), digest_size=16).hexdigest()


def blocks_of(model: torch.nn.Module) -> list[list[torch.nn.Linear]]:
    """The model's linear layers in blocks: one per item of its largest ModuleList of linears, then the rest."""
    lists = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList)]
    lists = [m for m in lists if any(isinstance(x, torch.nn.Linear) for x in m.modules())]
    if not lists:
        rest = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        return [rest] if rest else []
    main = max(lists, key=lambda m: sum(isinstance(x, torch.nn.Linear) for x in m.modules()))
    blocks = [[x for x in item.modules() if isinstance(x, torch.nn.Linear)] for item in main]
    inside = {id(x) for b in blocks for x in b}
    rest = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and id(m) not in inside]
    return [b for b in blocks if b] + ([rest] if rest else [])


def sequential_hessians(model: torch.nn.Module, samples: list[tuple], gptq: dict) -> dict[str, np.ndarray]:
    """{weight_key(float weight): f32 Hessian [K, K]} of every nn.Linear, block by block (module docstring).
    gptq: qc-gptq's options (wbits, group, sym, act_order, static_groups, block, damp, search)."""
    return gptq_model(model, samples, gptq)[0]


def gptq_model(model, samples: list[tuple], gptq: dict, sequential: bool = True):
    """(Hessians as `sequential_hessians` returns them, a copy of `model` with every nn.Linear GPTQ-quantized
    (its dequantized f32 weight)). sequential=false: all Hessians from the float model in one pass (what
    calibrate(hessian=True) gives qc-gptq), then every layer quantized."""
    from qcomp.passes.gptq import GptqPass, dequantized, gptq_quantize

    p = GptqPass(**gptq)  # validates the options
    work = copy.deepcopy(model).eval()
    blocks = blocks_of(work)
    if not blocks:
        raise QcompError("calibration: hessian='sequential' needs a model with torch.nn.Linear layers")
    if not sequential:
        blocks = [[m for b in blocks for m in b]]
    keys = {id(m): weight_key(m.weight.detach().numpy()) for b in blocks for m in b}
    out: dict[str, np.ndarray] = {}
    for block in blocks:
        acc: dict[int, list] = {}
        pending = {id(m) for m in block}

        def hook(mod, args, acc=acc, pending=pending):
            x = args[0].detach().reshape(-1, args[0].shape[-1]).double()
            a = acc.setdefault(id(mod), [0.0, 0])
            a[0], a[1] = a[0] + (x.T @ x), a[1] + x.shape[0]
            pending.discard(id(mod))

        last = block[-1]

        def stop(mod, args, out_, pending=pending):
            if not pending:
                raise _Stop

        handles = [m.register_forward_pre_hook(hook) for m in block] + [last.register_forward_hook(stop)]
        try:
            with torch.no_grad():
                for s in samples:
                    pending.update(id(m) for m in block)
                    try:
                        work(*s)
                    except _Stop:
                        pass
        finally:
            for h in handles:
                h.remove()
        for m in block:
            if id(m) not in acc:
                continue  # not reached by the samples: keeps the float model's Hessian
            h = (2 * acc[id(m)][0] / max(acc[id(m)][1], 1)).numpy().astype(np.float32)
            out[keys[id(m)]] = h
            w = m.weight.detach().numpy()
            g = p.group or w.shape[1]
            q, ranges = gptq_quantize(
                w,
                h,
                bits=p.wbits,
                group=g,
                block=p.block,
                damp=p.damp,
                act_order=p.act_order,
                static_groups=p.static_groups,
                sym=p.sym,
                search=p.search,
            )
            m.weight = torch.nn.Parameter(torch.from_numpy(dequantized(q, ranges, p.wbits, g, p.sym)))
    return out, work


def with_sequential_hessians(ops: tuple, layers: list, model, samples: list[tuple], gptq: dict) -> tuple:
    """Calibration's per-op statistics `ops` with the Hessian of every linear layer whose constant weight (in
    `layers`: (op name, weight)) is an nn.Linear's weight replaced by its sequential one."""
    from dataclasses import replace

    if not isinstance(gptq, dict):
        raise QcompError(f"calibration: gptq must be a dict of qc-gptq options, got {type(gptq).__name__}")
    seq = sequential_hessians(model, samples, gptq)
    return tuple(
        replace(o, hessian=seq.get(weight_key(w), o.hessian))
        if isinstance(w, np.ndarray) and o.hessian is not None and name == "qc.linear"
        else o
        for o, (name, w) in zip(ops, layers, strict=True)
    )
