"""Output gains (`qcomp.sensitivity`) measured block by block, for `calibrate(..., stream="blocks")`.

The whole-model measurement runs the model once per linear layer with that layer's output perturbed by its
quantization error at the reference candidate. Here the clean input of every block is cached for the
sensitivity samples; then for block b, each of its linears is perturbed in turn on block b's cached input and
the perturbed states of all of them are carried through the later blocks together, each later block read from
the checkpoint once for the lot, and through the layers after the blocks (`calib_stream._Replay`). Linears
outside the blocks (lm_head) are perturbed in that last step. The errors and the gains are computed as
`sensitivity._measure` computes them (the same hook, quantizers, mse and KL), so they differ from the
whole-model gains by f32 rounding only.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch
from qcomp.calib_blocks import _first_block_inputs, _load, _Replay
from qcomp.sensitivity import _errors, _first, perturbation_hook


def _run(block, inputs: list) -> list:
    return [block(*args, **kw) for args, kw in inputs]


def _next(outs: list, inputs: list) -> list:
    return [((o[0] if isinstance(o, tuple) else o, *a[1:]), kw) for o, (a, kw) in zip(outs, inputs, strict=True)]


def with_streamed_gains(table, model, ckpt, main, ops: list, samples: list[tuple], reference: str):
    """`table` with the output gains {"mse", "kl"} of every linear op (the first call of each module) at
    `reference`, measured block by block on `samples`. `ops`: the `calib_stream._Op`s in table order."""
    from qcomp.passes.assign_precision import local_error, parse_candidate  # deferred: loads MLIR (heavy)

    start = time.perf_counter()
    cand = parse_candidate(reference)
    blocks = list(main)
    owner = {id(m): b for b, blk in enumerate(blocks) for m in blk.modules()}
    first_ops: dict[int, int] = {}
    for i, op in enumerate(ops):
        first_ops.setdefault(id(op.module), i)
    measurable = [i for i in first_ops.values() if table.ops[i].sample is not None]
    by_block: dict[int, list[int]] = {}
    for i in measurable:
        by_block.setdefault(owner.get(id(ops[i].module), len(blocks)), []).append(i)

    as_tuple = [False]

    def tail(states: list, hooks=()) -> list[torch.Tensor]:
        """The model's first output per sample from the last block's outputs `states`."""
        saved = list(main)
        first = _Replay(states, as_tuple[0])
        for b in range(len(main)):
            main[b] = first if b == 0 else _Replay(None, as_tuple[0])
        handles = [m.register_forward_hook(h) for m, h in hooks]
        try:
            outs = []
            for n, s in enumerate(samples):
                first.n = n
                outs.append(_first(model(*s)).float())
            return outs
        finally:
            for h in handles:
                h.remove()
            for b, blk in enumerate(saved):
                main[b] = blk

    with torch.no_grad():
        clean = [_first_block_inputs(model, blocks[0], samples)]  # clean[b]: block b's inputs
        for block in blocks:
            with _load(model, ckpt, list(block.parameters())):
                outs = _run(block, clean[-1])
                as_tuple[0] = isinstance(outs[0], tuple)
                clean.append(_next(outs, clean[-1]))
        refs = tail([a[0] for a, _ in clean[-1]])
        ref_logps = [torch.log_softmax(r, dim=-1) for r in refs]
        gains: dict[int, dict[str, float]] = {}
        weights: dict[int, np.ndarray] = {}  # a block linear's weight, kept after its block went back to meta

        def record(i: int, outs: list[torch.Tensor]) -> None:
            w = weights[i]
            local = local_error(w, table.ops[i].sample, cand)
            errs = np.mean([_errors(o, r, lp) for o, r, lp in zip(outs, refs, ref_logps, strict=True)], axis=0)
            gains[i] = {k: float(e) / local if local > 0 else 0.0 for k, e in zip(("mse", "kl"), errs, strict=True)}

        for b, block in enumerate(blocks):
            if b not in by_block:
                continue
            states: dict[int, list] = {}
            with _load(model, ckpt, list(block.parameters())):
                for i in by_block[b]:
                    mod = ops[i].module
                    weights[i] = mod.weight.detach().numpy().copy()
                    h = mod.register_forward_hook(perturbation_hook(cand, weights[i]))
                    try:
                        states[i] = _next(_run(block, clean[b]), clean[b])
                    finally:
                        h.remove()
            for later in blocks[b + 1 :]:
                with _load(model, ckpt, list(later.parameters())):
                    states = {i: _next(_run(later, s), s) for i, s in states.items()}
            for i, s in states.items():
                record(i, tail([a[0] for a, _ in s]))
        for i in by_block.get(len(blocks), []):  # linears after the blocks: their weights stay loaded
            mod = ops[i].module
            weights[i] = mod.weight.detach().numpy()
            record(i, tail([a[0] for a, _ in clean[-1]], [(mod, perturbation_hook(cand, weights[i]))]))
    new_ops = tuple(replace(o, output_gain=gains.get(i)) for i, o in enumerate(table.ops))
    info = {"reference": reference, "seconds": round(time.perf_counter() - start, 3), "samples": len(samples)}
    return replace(table, ops=new_ops, sensitivity=info)
