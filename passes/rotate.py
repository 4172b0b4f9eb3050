"""qc-rotate: QuaRot-style orthogonal rotation of the residual stream, folded into the weights.

In a pre-norm transformer with RMSNorm, the residual stream r is only (a) produced by the embedding,
(b) read through RMSNorm by linear layers, and (c) written by linear layers whose outputs are added to
it. For an orthogonal Q, RMSNorm(r Q) = RMSNorm(r) Q once its gamma is folded into the readers, so the
whole network computes the same function with r Q in place of r when (Ashkboos et al., QuaRot 2024;
SliceGPT's computational invariance):

    embedding table  E  -> E Q
    readers          W  -> W diag(gamma) Q        gamma -> 1
    writers          W  -> Qᵀ W,  b -> Qᵀ b

Rotated activations and weights lose their outlier channels (energy spreads over all channels), which
helps low-bit weights (w4a16-rotate) and activations (w4a8-rotate). The rotation is fully folded: no
runtime op is added. Activation statistics of the readers are re-measured on the rotated sample.

kind=hadamard: Q = H_{2^k} ⊗ R_m / sqrt(2^k) for a hidden size 2^k · m (m odd): a Walsh-Hadamard
matrix, times a seeded random orthogonal m×m block when the size is not a power of two;
kind=random: a seeded random orthogonal matrix (QR of a Gaussian). Options: kind, seed (default 0).

The pass applies only when the structure is exactly the above (qc.embedding -> qc.add chain, readers
qc.rms_norm with constant, nonzero gamma feeding only float linears, writers float linears each feeding one
qc.add); anything else (LayerNorm models such as GPT-2 or BERT) is left unchanged.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import ops_named
from qcomp.dialects.weights import constant, constant_array

from . import act_stats
from .channel_fold import in_block_order, linear_weight, producer, set_constant, users, weight


def hadamard(n: int) -> np.ndarray:
    """The Sylvester Walsh-Hadamard matrix of order n (a power of two), unnormalised."""
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h


def random_orthogonal(n: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return q * np.sign(np.diag(r))[None, :]


def rotation(n: int, kind: str, seed: int) -> np.ndarray:
    """An orthogonal n×n matrix (f64) of the given kind (see module docstring)."""
    if kind == "random":
        return random_orthogonal(n, seed)
    p = n & -n  # the largest power of two dividing n
    h = hadamard(p) / np.sqrt(p)
    m = n // p
    return h if m == 1 else np.kron(h, random_orthogonal(m, seed))


@dataclass
class _Plan:
    embeddings: list
    readers: list  # (rms_norm op, [consumer linears])
    writers: list  # linears whose output is added to the stream


def _stream(module: ir.Module) -> _Plan | None:
    """The residual stream's embedding, readers and writers, or None when the structure does not match."""
    embeds = [op for op in ops_named(module, "qc.embedding") if constant_array(op.operands[0]) is not None]
    if len(embeds) != 1:
        return None
    plan = _Plan(embeds, [], [])
    r = embeds[0].results[0]
    while True:
        nxt = None
        for u in users(r):
            if u.name == "qc.rms_norm" and u.operands[0] == r:
                g = constant_array(u.operands[1])
                if g is None or not np.all(np.isfinite(g)) or np.any(g == 0):
                    return None  # a zero gamma cannot be folded into the readers (x/gamma is unknown)
                cons = in_block_order(users(u.results[0]))
                if (
                    g is None
                    or not cons
                    or any(linear_weight(c) is None or c.operands[0] != u.results[0] for c in cons)
                ):
                    return None
                plan.readers.append((u, cons))
            elif u.name == "qc.add" and nxt is None:
                other = u.operands[1] if u.operands[0] == r else u.operands[0]
                w = producer(other)
                if (
                    w is None
                    or linear_weight(w) is None
                    or len(users(other)) != 1
                    or constant_array(w.operands[2]) is None
                ):
                    return None
                plan.writers.append(w)
                nxt = u.results[0]
            else:
                return None
        if nxt is None:
            return plan if plan.readers else None
        r = nxt


def _rotated(g: np.ndarray, q: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """What a statistic of x becomes when the norm's gain g folds into the weights and x turns by q."""
    return lambda a: (a / g) @ q


def _rotated_bound(g: np.ndarray, q: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A bound of |x / g| q from a bound of |x| (for per-channel maxima)."""
    return lambda a: np.abs(a / g) @ np.abs(q)


@dataclass
class StreamArrays:
    """The residual stream's constants before rotation (`stream_arrays`): what `qcomp.sequential` needs to turn a
    PyTorch copy of the model the way qc-rotate turns the graph."""

    embedding: np.ndarray  # [V, C]
    readers: list  # (gamma [C], [weights [N, C] of the linears the norm feeds])
    writers: list  # weights [C, K] of the linears whose outputs are added to the stream


def stream_arrays(module: ir.Module) -> StreamArrays | None:
    """The constants qc-rotate would rotate in `module`, or None where the pass would leave it unchanged."""
    with module.context:
        plan = _stream(module)
        if plan is None:
            return None
        return StreamArrays(
            constant(plan.embeddings[0].operands[0]),
            [(constant(norm.operands[1]), [weight(op) for op in cons]) for norm, cons in plan.readers],
            [weight(op) for op in plan.writers],
        )


def rotated_reader(w: np.ndarray, g: np.ndarray, q: np.ndarray) -> np.ndarray:
    """A reader's weight W diag(g) Q (f64), g its norm's gain."""
    return (w.astype(np.float64) * g.astype(np.float64)[None, :]) @ q


@dataclass(frozen=True)
class RotatePass:
    """Rotate the residual stream by an orthogonal matrix folded into the weights (see module docstring)."""

    name: ClassVar[str] = "qc-rotate"
    kind: str = "hadamard"
    seed: int = 0

    def __post_init__(self):
        if self.kind not in ("hadamard", "random"):
            raise QcompError(f"qc-rotate: kind must be hadamard or random, got {self.kind!r}")
        if self.seed < 0:
            raise QcompError(f"qc-rotate: seed must be >= 0, got {self.seed}")

    def run(self, module: ir.Module) -> None:
        with module.context, ir.Location.unknown():
            plan = _stream(module)
            if plan is None:
                return
            emb = plan.embeddings[0]
            table = constant(emb.operands[0]).astype(np.float64)
            q = rotation(table.shape[1], self.kind, self.seed)
            set_constant(emb, 0, table @ q)
            for norm, consumers in plan.readers:
                g = constant(norm.operands[1]).astype(np.float64)
                set_constant(norm, 1, np.ones_like(g))
                for op in consumers:
                    set_constant(op, 1, rotated_reader(weight(op), g, q))
                    st = act_stats.read(op)
                    if st is not None:
                        act_stats.write(op, st.map(_rotated(g, q), bound=_rotated_bound(g, q)))
            for op in plan.writers:
                set_constant(op, 1, q.T @ weight(op).astype(np.float64))
                set_constant(op, 2, q.T @ constant(op.operands[2]).astype(np.float64))
