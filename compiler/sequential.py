"""Sequential GPTQ Hessians: each block's linear inputs taken from a model whose earlier blocks are already
quantized (GPTQ's and llm-compressor's sequential pipeline), for `calibrate(..., hessian="sequential")`.

The blocks are the items of the model's largest `torch.nn.ModuleList` holding linear layers (a transformer's
decoder layers); linear layers outside it (lm_head) form one last block. For block b, in order: every
calibration sample runs through a working copy of the model whose blocks < b hold GPTQ-quantized weights,
hooks stream H = 2·XᵀX / rows of each linear input of block b (the forward stops once block b has run), then
block b's linear layers are quantized by `gptq.gptq_quantize` with the given qc-gptq options on those
Hessians (cast to f32, as calibration stores them) and their dequantized weights go into the copy. A layer of
block b thus sees the float outputs of its own block's earlier layers and the quantized outputs of every
earlier block (llm-compressor's granularity); with true_sequential (`gptq_model`, GPTQ's --true-sequential)
the block's linears are quantized in stages of shared input (q/k/v, o, gate/up, down), each stage's Hessians
taken after the earlier stages are quantized. The blocks of the ModuleList run alone on their inputs, cached
per sample (one block forward per stage, not a forward of every earlier block). Peak memory: one copy of the
model, the Hessians and one block input per sample.

The Hessians are returned keyed by the weight's bytes, so that `calibrate` gives each qc.linear whose constant
weight equals an nn.Linear's weight that layer's sequential Hessian; qc-gptq with the same options then
reproduces exactly the weights the later blocks were calibrated against. Other layers keep the float model's
Hessian. After qc-rotate (qc-rotate then qc-gptq{sequential=true}) the copy is rotated first and the readers'
Hessians handed back in the unrotated basis (`qcomp.sequential_rotate`); qc-gptq then reproduces the copy's
weights up to the f32 rounding of that round trip.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import torch
from qcomp import sequential_rotate
from qcomp.dialects.errors import QcompError
from qcomp.weight_keys import weight_key as weight_key


class _Stop(Exception):
    """Raised by a hook after the current block ran: the rest of the forward is not needed."""


def _main_list(model: torch.nn.Module) -> torch.nn.ModuleList | None:
    """The model's ModuleList holding the most linear layers (a transformer's decoder layers), or None."""
    lists = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList)]
    lists = [m for m in lists if any(isinstance(x, torch.nn.Linear) for x in m.modules())]
    return max(lists, key=lambda m: sum(isinstance(x, torch.nn.Linear) for x in m.modules())) if lists else None


def _linears(module: torch.nn.Module) -> list[torch.nn.Linear]:
    return [x for x in module.modules() if isinstance(x, torch.nn.Linear)]


def blocks_of(model: torch.nn.Module) -> list[list[torch.nn.Linear]]:
    """The model's linear layers in blocks: one per item of its largest ModuleList of linears, then the rest."""
    main = _main_list(model)
    if main is None:
        rest = _linears(model)
        return [rest] if rest else []
    blocks = [_linears(item) for item in main]
    inside = {id(x) for b in blocks for x in b}
    rest = [m for m in _linears(model) if id(m) not in inside]
    return [b for b in blocks if b] + ([rest] if rest else [])


def _hessians(modules: list, run) -> dict[int, tuple[torch.Tensor, int]]:
    """{id(module): (Σ XᵀX in f64, rows)} of the inputs of `modules` while `run(stop_check)` runs the samples;
    each forward stops (`_Stop`) once every module has seen its input."""
    acc: dict[int, list] = {}
    pending: set[int] = set()

    def hook(mod, args):
        x = args[0].detach().reshape(-1, args[0].shape[-1]).double()
        a = acc.setdefault(id(mod), [0.0, 0])
        a[0], a[1] = a[0] + (x.T @ x), a[1] + x.shape[0]
        pending.discard(id(mod))

    def stop(mod, args, out_):
        if not pending:
            raise _Stop

    def forward(call) -> None:
        pending.update(id(m) for m in modules)
        try:
            call()
        except _Stop:
            pass

    handles = [m.register_forward_pre_hook(hook) for m in modules] + [m.register_forward_hook(stop) for m in modules]
    try:
        with torch.no_grad():
            run(forward)
    finally:
        for h in handles:
            h.remove()
    return {k: (v[0], v[1]) for k, v in acc.items()}


def _stages(layer: torch.nn.Module, linears: list, inputs: tuple) -> list[list]:
    """The linears of one block in execution order, grouped by shared input (GPTQ's --true-sequential: q/k/v,
    then o, then gate/up, then down in a decoder layer); linears the block never calls form a last stage."""
    order: list[tuple[torch.nn.Linear, int]] = []
    hs = [m.register_forward_pre_hook(lambda m, a: order.append((m, a[0].data_ptr()))) for m in linears]
    try:
        with torch.no_grad():
            layer(*inputs[0], **inputs[1])
    finally:
        for h in hs:
            h.remove()
    stages: list[list] = []
    last = None
    for m, ptr in order:
        if any(m is x for st in stages for x in st):
            continue
        if stages and ptr == last:
            stages[-1].append(m)
        else:
            stages.append([m])
        last = ptr
    missed = [m for m in linears if not any(m is x for st in stages for x in st)]
    return stages + ([missed] if missed else [])


def _layer_inputs(model, first: torch.nn.Module, samples: list[tuple]) -> list[tuple[tuple, dict]]:
    """(args, kwargs) with which `model` calls its first block, per sample (the forward stops there). A KV cache
    argument (HF's `cache` / `past_key_values`) is dropped, as the block runs several times, and use_cache turned
    off; the block's input must be its first positional argument (hooks read args[0])."""
    got: list[tuple[tuple, dict]] = []

    def capture(mod, args, kwargs):
        kw = {
            k: (None if k in ("cache", "past_key_value", "past_key_values", "layer_past") else v)
            for k, v in kwargs.items()
        }
        if "use_cache" in kw:
            kw["use_cache"] = False
        if not args:
            raise QcompError(f"sequential GPTQ: {type(mod).__name__} takes its input by keyword, not positionally")
        got.append((args, kw))
        raise _Stop

    h = first.register_forward_pre_hook(capture, with_kwargs=True)
    try:
        with torch.no_grad():
            for s in samples:
                try:
                    model(*s)
                except _Stop:
                    pass
    finally:
        h.remove()
    return got


def sequential_hessians(
    model: torch.nn.Module, samples: list[tuple], gptq: dict, rotation=None
) -> dict[str, np.ndarray]:
    """{weight_key(float weight): f32 Hessian [K, K]} of every nn.Linear, block by block (module docstring).
    gptq: qc-gptq's options (wbits, group, sym, act_order, static_groups, block, damp, search); rotation:
    (StreamArrays, Q) of a qc-rotate before qc-gptq (`sequential_rotate`), or None."""
    return gptq_model(model, samples, gptq, rotation=rotation)[0]


def gptq_model(
    model, samples: list[tuple], gptq: dict, sequential: bool = True, true_sequential: bool = False, rotation=None
):
    """(Hessians as `sequential_hessians` returns them, a copy of `model` with every nn.Linear GPTQ-quantized
    (its dequantized f32 weight)). sequential=false: all Hessians from the float model in one pass (what
    calibrate(hessian=True) gives qc-gptq), then every layer quantized. true_sequential: within a block too,
    each group of linears sharing an input (`_stages`) sees the outputs of the block's already quantized ones.

    The blocks of the main ModuleList run alone on their inputs, cached per sample from the previous block's
    outputs (computed once per block, after its quantization): one block forward per stage and sample instead
    of a forward of every block before it; the linears outside it (lm_head) get their inputs from a forward of
    the whole quantized copy. rotation: (StreamArrays, Q) from `sequential_rotate.stream_plan`: the copy is
    rotated first, as qc-rotate rotates the graph, and each reader's Hessian handed back unrotated (keys stay
    the float model's weights)."""
    from qcomp.passes.gptq import GptqPass, dequantized, gptq_quantize  # deferred: loads MLIR (heavy)

    p = GptqPass(**gptq)  # validates the options
    true_sequential = true_sequential or p.true_sequential
    work = copy.deepcopy(model).eval()
    blocks = blocks_of(work)
    if not blocks:
        raise QcompError("calibration: hessian='sequential' needs a model with torch.nn.Linear layers")
    keys = {id(m): weight_key(m.weight.detach().numpy()) for b in blocks for m in b}
    gains = sequential_rotate.rotate_copy(work, *rotation) if rotation is not None else {}
    out: dict[str, np.ndarray] = {}

    def quantize(modules: list, acc: dict) -> None:
        for m in modules:
            if id(m) not in acc:
                continue  # not reached by the samples: keeps the float model's Hessian
            h = (2 * acc[id(m)][0] / max(acc[id(m)][1], 1)).numpy().astype(np.float32)
            g_in = gains.get(id(m))
            out[keys[id(m)]] = h if g_in is None else sequential_rotate.unrotated_hessian(h, g_in, rotation[1])
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

    def whole(forward) -> None:
        for s in samples:
            forward(lambda s=s: work(*s))

    if not sequential:
        flat = [m for b in blocks for m in b]
        quantize(flat, _hessians(flat, whole))
        return out, work
    main = _main_list(work)
    done: set[int] = set()
    if main is not None:
        inputs = _layer_inputs(work, main[0], samples)
        for layer in main:
            linears = _linears(layer)
            stages = _stages(layer, linears, inputs[0]) if true_sequential and linears and inputs else [linears]
            for stage in [st for st in stages if st]:

                def cached(forward, layer=layer, inputs=inputs):
                    for args, kw in inputs:
                        forward(lambda args=args, kw=kw: layer(*args, **kw))

                quantize(stage, _hessians(stage, cached))
            done.update(id(m) for m in linears)
            with torch.no_grad():
                outs = [layer(*args, **kw) for args, kw in inputs]
            inputs = [
                ((o[0] if isinstance(o, tuple) else o, *args[1:]), kw)
                for o, (args, kw) in zip(outs, inputs, strict=True)
            ]
    rest = [m for b in blocks for m in b if id(m) not in done]
    if rest:
        quantize(rest, _hessians(rest, whole))
    return out, work


def with_sequential_hessians(ops: tuple, layers: list, model, samples: list[tuple], gptq: dict, rotate=None) -> tuple:
    """Calibration's per-op statistics `ops` with the Hessian of every linear layer whose constant weight (in
    `layers`: (op name, weight)) is an nn.Linear's weight replaced by its sequential one. rotate: the qc-rotate
    pass (kind, seed) that runs before qc-gptq, or None."""

    if not isinstance(gptq, dict):
        raise QcompError(f"calibration: gptq must be a dict of qc-gptq options, got {type(gptq).__name__}")
    rotation = None
    if rotate is not None:
        rotation = sequential_rotate.stream_plan(model, samples[0], rotate.kind, rotate.seed)
    seq = sequential_hessians(model, samples, gptq, rotation)
    return tuple(
        replace(o, hessian=seq.get(weight_key(w), o.hessian))
        if isinstance(w, np.ndarray) and o.hessian is not None and name == "qc.linear"
        else o
        for o, (name, w) in zip(ops, layers, strict=True)
    )
