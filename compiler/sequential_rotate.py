"""Sequential GPTQ after qc-rotate: the PyTorch copy that `qcomp.sequential` quantizes block by block is turned
the way qc-rotate turns the graph, so each layer's Hessian comes from the rotated model whose earlier blocks
hold the rotated, GPTQ-quantized weights qc-gptq will produce.

qc-rotate decides what to rotate on the graph (`passes.rotate.stream_arrays`: the embedding, each norm's gain
with the linears it feeds, the linears writing to the stream). The copy's modules are found by their weights'
contents (`sequential.weight_key`): the nn.Embedding holding the table, the nn.Linear of each reader and writer,
and the norm modules whose 1-D `weight` is a reader's gain. Then, with the same f64 arithmetic as the pass:
E -> E Q, readers W -> W diag(g) Q with the norm's weight -> 1, writers W -> Qᵀ W and b -> Qᵀ b (a tied
lm_head becomes its own parameter).

Calibration attaches Hessians to the graph before qc-rotate, which maps a reader's H to Qᵀ D⁻¹ H D⁻¹ Q
(D = diag(g)). A reader's Hessian measured on the rotated copy is therefore handed back as D Q H Qᵀ D
(`unrotated_hessian`), which the pass turns into the measured one again (up to f32 rounding); a writer's input
is not rotated and its Hessian is handed back unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
from qcomp.dialects.errors import QcompError
from qcomp.weight_keys import weight_key


def stream_plan(model: torch.nn.Module, sample: tuple, kind: str, seed: int):
    """(StreamArrays, Q) of what qc-rotate{kind, seed} rotates in `model` imported on `sample`, or None where the
    pass leaves the graph unchanged."""
    from qcomp.frontend import import_torch  # deferred: loads MLIR (heavy)
    from qcomp.passes.rotate import rotation, stream_arrays
    from qcomp.pipeline import Pipeline

    module = import_torch(model, tuple(sample))
    Pipeline.parse("qc-raise-norms,qc-from-torch").run(module)
    arrays = stream_arrays(module)
    if arrays is None:
        return None
    return arrays, rotation(arrays.embedding.shape[1], kind, seed)


def _put(mod: torch.nn.Module, name: str, arr: np.ndarray) -> None:
    setattr(mod, name, torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(arr, np.float32)), False))


def _take(pool: dict, key: str, what: str) -> torch.nn.Module:
    mods = pool.get(key)
    if not mods:
        raise QcompError(f"sequential GPTQ after qc-rotate: no PyTorch module of the model holds {what}")
    return mods.pop(0)


def rotate_copy(work: torch.nn.Module, arrays, q: np.ndarray) -> dict[int, np.ndarray]:
    """Turn `work` in place as qc-rotate turns its graph (module docstring); {id(reader nn.Linear): its gain g}."""
    from qcomp.passes.rotate import rotated_reader  # deferred: loads MLIR (heavy)

    def pool(kind) -> dict[str, list]:
        out: dict[str, list] = {}
        for m in work.modules():
            w = m._parameters.get("weight") if isinstance(m, kind) else None
            if w is not None:
                out.setdefault(weight_key(w.detach().numpy()), []).append(m)
        return out

    linears, embeds = pool(torch.nn.Linear), pool(torch.nn.Embedding)
    norms: dict[str, list] = {}
    for m in work.modules():
        w = m._parameters.get("weight")
        if w is not None and w.dim() == 1 and not isinstance(m, torch.nn.Linear | torch.nn.Embedding):
            norms.setdefault(weight_key(w.detach().numpy()), []).append(m)
    gains: dict[int, np.ndarray] = {}
    with torch.no_grad():
        emb = _take(embeds, weight_key(arrays.embedding), "the embedding table")
        _put(emb, "weight", arrays.embedding.astype(np.float64) @ q)
        for g, ws in arrays.readers:
            found = norms.get(weight_key(g), [])  # equal gains (all ones, untrained): one write each
            if not found:
                raise QcompError("sequential GPTQ after qc-rotate: no PyTorch norm module holds a reader's gain")
            for n in found:
                _put(n, "weight", np.ones_like(g))
            for w in ws:
                lin = _take(linears, weight_key(w), "a reader linear's weight")
                _put(lin, "weight", rotated_reader(w, g, q))
                gains[id(lin)] = np.asarray(g, np.float64)
        for w in arrays.writers:
            lin = _take(linears, weight_key(w), "a writer linear's weight")
            _put(lin, "weight", q.T @ w.astype(np.float64))
            if lin.bias is not None:
                _put(lin, "bias", q.T @ lin.bias.detach().numpy().astype(np.float64))
    return gains


def unrotated_hessian(h: np.ndarray, g: np.ndarray, q: np.ndarray) -> np.ndarray:
    """D Q H Qᵀ D (D = diag(g)): the Hessian before rotation whose image under qc-rotate is `h`."""
    h64 = q @ np.asarray(h, np.float64) @ q.T
    return (g[:, None] * h64 * g[None, :]).astype(np.float32)
