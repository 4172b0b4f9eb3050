"""Output sensitivity: each linear layer's effect on the model output when it alone is quantized.

For the qc module's i-th quantizable op with a constant weight W [N, K], the PyTorch module that owns W
(an `nn.Linear`, or a transformers `Conv1D` holding Wᵀ) is found by the weight's contents. A forward hook
then adds Q_a(x) Q_w(W)ᵀ − x Wᵀ to that module's output — only that use of W, so a tied weight
(SmolLM2's lm_head and embedding) is quantized only where the qc op uses it — and the model runs on the
sensitivity samples. The layer's output errors are mean((y_q − y)²) over the model's first output
(logits, embeddings) and, for language models, the mean over tokens of KL(softmax(y) ‖ softmax(y_q)) over
the last dim (what perplexity feels), averaged over the samples; Q_w and Q_a are qc-quantize's quantizers at the
reference candidate (e.g. w4a16g128: int4 weights in groups of 128, float activations).

What qc-assign-precision reads is the layer's *output gains* ("mse", "kl"): each error per unit of the layer's local
error || x Wᵀ − Q_a(x) Q_w(W)ᵀ ||² on its calibration row sample at the same candidate. It scores every
other candidate c as gain · local_error(c): the network propagates each candidate's rounding noise with
the same gain (measured once per layer, so the cost is one forward pass per layer, not per candidate).
With `executor="ray"` the layers are measured in Ray tasks that load the model from its factory spec (equal gains).
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import torch
from qcomp.dialects.errors import QcompError
from qcomp.executor import map_tasks, parse_executor
from qcomp.models import load
from qcomp.passes.assign_precision import Candidate, local_error, parse_candidate
from qcomp.passes.awq import fake_quant_grouped
from qcomp.passes.smooth import fake_quant_rows


def _digest(a: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(a, np.float32).tobytes(), digest_size=16).digest()


def _owners(model: torch.nn.Module) -> dict[bytes, list[tuple[torch.nn.Module, bool]]]:
    """weight digest ([N, K] orientation) -> the modules computing x·Wᵀ with it (transposed: Conv1D)."""
    found: dict[bytes, list] = {}
    for mod in model.modules():
        w = getattr(mod, "weight", None)
        if not isinstance(w, torch.Tensor) or w.ndim != 2:
            continue
        if isinstance(mod, torch.nn.Linear):
            found.setdefault(_digest(w.detach().float().numpy()), []).append((mod, False))
        elif type(mod).__name__ == "Conv1D":  # transformers' GPT-2 projection: y = x W + b, W [K, N]
            found.setdefault(_digest(w.detach().float().numpy().T), []).append((mod, True))
    return found


def _first(out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, tuple | list) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise QcompError(f"sensitivity: the model's first output is not a tensor ({type(out).__name__})")


def _fake_quant_rows_torch(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-token symmetric fake quantization (qc.quantize_dynamic per_token, then dequantize)."""

    return torch.from_numpy(fake_quant_rows(x.detach().float().numpy(), bits)).to(x.dtype)


def _errors(out: torch.Tensor, ref: torch.Tensor, ref_logp: torch.Tensor) -> tuple[float, float]:
    mse = torch.mean((out - ref) ** 2).item()
    logq = torch.log_softmax(out, dim=-1)
    kl = torch.sum(ref_logp.exp() * (ref_logp - logq), dim=-1).mean().item()
    return mse, max(kl, 0.0)


def output_gains(
    model: torch.nn.Module,
    samples: list[tuple],
    weights: list[np.ndarray | None],
    rows: list[np.ndarray | None],
    reference: str = "w4a16g128",
    executor: str | None = None,
    model_spec: str | None = None,
    chunks: int = 8,
) -> tuple[list[dict[str, float] | None], float]:
    """The output gains {"mse", "kl"} of every op (None where its weight has no PyTorch owner or no row sample) and
    the seconds spent. `weights[i]`: op i's constant weight [N, K]; `rows[i]`: its activation row sample.
    executor: None or 'serial' (here), 'ray' or 'ray:ADDRESS' (`qcomp.executor`): the layers are measured in
    `chunks` Ray tasks, each loading the model from `model_spec` (a factory spec that builds this same `model`,
    e.g. 'smollm2' or 'file.py:factory'; the module never travels) at this process's torch threads: the same
    gains as the serial loop."""

    start = time.perf_counter()
    owners = _owners(model)
    items = _assign(owners, weights, rows)
    gains: list[dict[str, float] | None] = [None] * len(weights)
    if parse_executor(executor) is None:
        measured = _measure(model, owners, samples, items, reference)
    else:
        if not model_spec:
            raise QcompError("sensitivity: executor='ray' needs model_spec (the factory spec the workers load)")
        n = max(1, min(chunks, len(items)))
        args = [(model_spec, torch.get_num_threads(), samples, items[c::n], reference) for c in range(n)]
        measured = [g for part in map_tasks(_measure_task, args, executor) for g in part]
    for i, g in measured:
        gains[i] = g
    return gains, time.perf_counter() - start


def _assign(owners: dict, weights: list, rows: list) -> list[tuple]:
    """(op index, weight digest, owner ordinal, W, x) of every measurable op; each module owns at most one op, in
    op order (a tied weight is quantized only where its op uses it)."""
    used: set[int] = set()
    items = []
    for i, (w, x) in enumerate(zip(weights, rows, strict=True)):
        if w is None or x is None or w.ndim != 2:
            continue
        digest = _digest(w)
        free = [j for j, (m, _) in enumerate(owners.get(digest, [])) if id(m) not in used]
        if free:
            used.add(id(owners[digest][free[0]][0]))
            items.append((i, digest, free[0], w, x))
    return items


def _measure_task(model_spec: str, threads: int, samples: list[tuple], items: list[tuple], reference: str):
    """`_measure` in a worker: the model from its factory spec (loaded once per process)."""
    torch.set_num_threads(threads)
    _, model, _ = load(model_spec)
    return _measure(model, _owners(model), samples, items, reference)


def _measure(model, owners: dict, samples: list[tuple], items: list[tuple], reference: str) -> list[tuple]:
    """[(op index, gains)] of `items` (see `_assign`): one forward pass per sample and layer."""
    cand: Candidate = parse_candidate(reference)
    model.eval()
    found = []
    with torch.no_grad():
        refs = [_first(model(*s)).float() for s in samples]
        ref_logps = [torch.log_softmax(r, dim=-1) for r in refs]
        for i, digest, ordinal, w, x in items:
            mod = owners[digest][ordinal][0]
            local = local_error(w, x, cand)
            hook = perturbation_hook(cand, w)
            handle = mod.register_forward_hook(hook)
            try:
                outs = [_first(model(*s)).float() for s in samples]
                errs = np.mean([_errors(o, r, lp) for o, r, lp in zip(outs, refs, ref_logps, strict=True)], axis=0)
            finally:
                handle.remove()
            found.append(
                (i, {k: float(e) / local if local > 0 else 0.0 for k, e in zip(("mse", "kl"), errs, strict=True)})
            )
    return found


def perturbation_hook(cand, w: np.ndarray):
    """The forward hook adding Q_a(x) Q_w(W)ᵀ − x Wᵀ to a linear's output: the layer quantized at candidate `cand`
    (weights fake-quantized per group, activations per row), every other layer exact."""
    wt = torch.from_numpy(np.ascontiguousarray(w, np.float32))
    dq = torch.from_numpy(fake_quant_grouped(w, cand.wbits, cand.group)) - wt

    def hook(_m, args, out):
        x_in = args[0]
        if cand.abits == 16:
            return out + torch.nn.functional.linear(x_in, dq.to(x_in.dtype))
        xq = _fake_quant_rows_torch(x_in, cand.abits)
        return (
            out
            + torch.nn.functional.linear(xq, (wt + dq).to(x_in.dtype))
            - torch.nn.functional.linear(x_in, wt.to(x_in.dtype))
        )

    return hook
