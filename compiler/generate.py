"""`qcomp.compile_lm`: a transformers causal LM compiled into prefill and decode steps over one KV cache.

Two builds of `LMStep` share the cache buffers (and their weight buffers, deduplicated):
- prefill: `chunk` tokens per call (the prompt is fed chunk by chunk; a tail of at most max(2, chunk // 4)
  tokens runs as decode steps, a longer one as a chunk whose unused rows are computed at positions past the
  prompt and never read: a later step overwrites them before any query reaches them);
- decode: one token per row per call.
Both take per-row positions, so a batch of prompts of different lengths needs no left padding: row b's
prompt occupies positions 0 .. len_b - 1 and its generated tokens follow at len_b, len_b + 1 …

The cache is allocated once (`max_seq` positions) and updated in place by the compiled kernels; Python only
samples the next token. `generate` follows transformers' `generate` (greedy, or temperature / top-k / top-p
sampling with a seed; eos stops a row).
"""

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from qcomp.dialects.errors import QcompError
from qcomp.targets.common.metrics import lm_report

from .kv_keys import ALPHA as KV_ALPHA
from .lm_step import KV_FORMATS, LMStep, cache_shapes, calibrate_keys, lm_config
from .models import causal_lm as causal_lm  # re-exported: moved to the model loaders (issue 18)

_NP = {torch.float32: np.float32, torch.int8: np.int8}


@dataclass
class GenerationStats:
    """Counts and seconds of the last `generate` (or of prefill/decode calls since): prefill, decode steps, sampling
    in Python, and the time to the first generated token (prefill + its sampling)."""

    prompt_tokens: int = 0
    generated_tokens: int = 0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    sample_s: float = 0.0
    ttft_s: float = 0.0

    def as_dict(self) -> dict:
        def rate(n, s):
            return n / s if s > 0 else 0.0

        return {
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "prompt_tokens_per_s": rate(self.prompt_tokens, self.prefill_s),
            # the first generated token comes from the prompt's logits: the others each cost one decode step
            "gen_tokens_per_s": rate(max(0, self.generated_tokens - 1), self.decode_s + self.sample_s),
            "ttft_ms": self.ttft_s * 1e3,
            "sample_ms_per_token": 1e3 * self.sample_s / max(1, self.generated_tokens),
        }


@dataclass
class CompiledLM:
    """A causal LM compiled for one target: `prefill`, `decode`, `reset`, `generate` (see the module docstring)."""

    prefill_model: object  # CompiledModel of the chunk step
    decode_model: object  # CompiledModel of the one-token step
    batch: int
    max_seq: int
    chunk: int
    kv: str
    vocab: int
    tokenizer: object = None
    report: dict = field(default_factory=dict)

    def __post_init__(self):
        self.cache = [np.zeros(s, _NP[d]) for s, d in self._shapes]
        self.pos = np.zeros(self.batch, np.int64)
        # a prompt tail this short runs as decode steps: on SmolLM2 (AVX2, 1 thread) a chunk of 32 costs about
        # 14 decode steps, so chunk // 4 keeps a margin (examples/c/generate.c applies the same rule)
        self.tail_steps = max(2, self.chunk // 4)
        self._chunk_ids = np.zeros((self.batch, self.chunk), np.int64)
        self._step_ids = np.zeros((self.batch, 1), np.int64)
        # the steps read these arrays in place: ids and positions are refilled, the cache is written by the kernels
        self._prefill_run = _bound(self.prefill_model.artifact, self._chunk_ids, self.pos, self.cache)
        self._decode_run = _bound(self.decode_model.artifact, self._step_ids, self.pos, self.cache)
        self.stats = GenerationStats()

    @property
    def _shapes(self):
        return self.report["cache_shapes"]

    def save(self, directory: str) -> list[str]:
        """prefill/ and decode/ (each `CompiledModel.save`: MLIR stages and the CPU's AOT files) and lm.json
        (batch, chunk, max_seq, vocab, kv and the cache buffers' shapes and dtypes, in argument order)."""

        os.makedirs(directory, exist_ok=True)
        written = [f"prefill/{f}" for f in self.prefill_model.save(os.path.join(directory, "prefill"))]
        written += [f"decode/{f}" for f in self.decode_model.save(os.path.join(directory, "decode"))]
        meta = {
            "batch": self.batch,
            "chunk": self.chunk,
            "max_seq": self.max_seq,
            "vocab": self.vocab,
            "kv": self.kv,
            "cache": [{"shape": list(s), "dtype": np.dtype(_NP[d]).name} for s, d in self._shapes],
            "inputs": ["input_ids int64 [batch, chunk or 1]", "pos int64 [batch]", "cache buffers (updated in place)"],
        }
        with open(os.path.join(directory, "lm.json"), "w") as f:
            json.dump(meta, f, indent=2)
        return [*written, "lm.json"]

    def target_report(self) -> dict:
        """The accelerator's figures per generated token (one decode step's over its `batch` rows, e.g.
        `cycles_per_token`, `energy_pj_per_token`, `latency_ns_per_token`), of one decode step and of one
        prefill chunk: see targets/common/metrics.py. The CPU target has none (only the token counts)."""

        target = self.report["target"]["name"]
        return lm_report(target, self.prefill_model.artifact, self.decode_model.artifact, self.batch, self.chunk)

    def reset(self) -> None:
        """Forget every position (the cache keeps its buffers; stale entries are never read)."""
        self.pos[:] = 0

    def _check_room(self, n: np.ndarray) -> None:
        over = np.nonzero(self.pos + n > self.max_seq)[0]
        if len(over):
            b = int(over[0])
            raise QcompError(
                f"row {b}: positions {int(self.pos[b])}..{int(self.pos[b] + n[b]) - 1} exceed max_seq={self.max_seq} "
                "(compile_lm(..., max_seq=...) or reset())"
            )

    def _ids(self, ids) -> np.ndarray:
        a = np.atleast_1d(np.asarray(ids.detach().cpu().numpy() if isinstance(ids, torch.Tensor) else ids))
        if a.dtype.kind not in "iu":
            raise QcompError(f"token ids must be integers, got {a.dtype}")
        bad = np.nonzero((a < 0) | (a >= self.vocab))
        if len(bad[0]):
            raise QcompError(f"token id {int(a[bad][0])} is outside the vocabulary [0, {self.vocab})")
        return a.astype(np.int64)

    def prefill(self, input_ids, lengths=None) -> torch.Tensor:
        """Feed prompt tokens [B, n] (after those already in the cache) and return their logits [B, n, V].

        lengths: per-row prompt lengths when rows are right-padded to n (default: all n); row b's positions
        advance by lengths[b] and its logits past lengths[b] are those of the padding."""
        ids = self._ids(input_ids)
        if ids.ndim == 1:
            ids = ids[None, :]
        if ids.shape[0] != self.batch or ids.shape[1] == 0:
            raise QcompError(f"prefill: expected token ids [{self.batch}, n >= 1], got {list(ids.shape)}")
        n = ids.shape[1]
        lengths = np.full(self.batch, n, np.int64) if lengths is None else np.asarray(lengths, np.int64)
        self._check_room(lengths)
        t0 = time.perf_counter()
        out = np.empty((self.batch, n, self.vocab), np.float32)
        start = 0
        while start < n:
            rest = n - start
            if rest < self.chunk and rest <= self.tail_steps:  # a short tail: one-token steps cost less than a chunk
                for i in range(rest):
                    self._step_ids[:, 0] = ids[:, start + i]
                    out[:, start + i] = self._decode_run()[0][:, 0]
                    self.pos += 1
                break
            take = min(rest, self.chunk)
            self._chunk_ids[:] = 0
            self._chunk_ids[:, :take] = ids[:, start : start + take]
            logits = self._prefill_run()[0]
            out[:, start : start + take] = logits[:, :take]
            self.pos += take
            start += take
        # rows shorter than n: positions advance by their own length
        self.pos += lengths - n
        self.stats.prefill_s += time.perf_counter() - t0
        self.stats.prompt_tokens += int(lengths.sum())
        return torch.from_numpy(out)

    def decode(self, token_ids) -> torch.Tensor:
        """Feed one token per row ([B] or [B, 1]) at the next position; return the logits [B, V]."""
        ids = self._ids(token_ids).reshape(self.batch, 1)
        self._check_room(np.ones(self.batch, np.int64))
        self._step_ids[:] = ids
        logits = self._decode_run()[0][:, 0].copy()  # the step's output buffer is reused by the next call
        self.pos += 1
        return torch.from_numpy(logits)

    def generate(
        self,
        input_ids,
        max_new_tokens: int = 32,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        eos_token_id: int | list[int] | None = None,
        on_token: Callable[[int, int], None] | None = None,
    ) -> list[list[int]]:
        """Generate up to `max_new_tokens` per row after the prompts (from a reset cache), like transformers'
        `generate`. input_ids: [B, n] or a list of B prompts (lists of ids) of any lengths. on_token(row, id)
        is called as each token is chosen. Returns the generated ids per row (eos included, then stopped)."""
        prompts = self._prompts(input_ids)
        if max_new_tokens < 0:
            raise QcompError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        if do_sample and not temperature > 0:
            raise QcompError(f"temperature must be > 0 when sampling, got {temperature}")
        eos = set([eos_token_id] if isinstance(eos_token_id, int) else (eos_token_id or []))
        rng = np.random.default_rng(seed)
        self.reset()
        self.stats = GenerationStats()
        lengths = np.array([len(p) for p in prompts], np.int64)
        padded = np.zeros((self.batch, int(lengths.max())), np.int64)
        for b, p in enumerate(prompts):
            padded[b, : len(p)] = p
        t0 = time.perf_counter()
        logits = self.prefill(padded, lengths)
        last = logits.numpy()[np.arange(self.batch), lengths - 1]
        out: list[list[int]] = [[] for _ in range(self.batch)]
        done = np.zeros(self.batch, bool)
        for step in range(max_new_tokens):
            ts = time.perf_counter()
            nxt = self._choose(last, do_sample, temperature, top_k, top_p, rng)
            self.stats.sample_s += time.perf_counter() - ts
            if step == 0:
                self.stats.ttft_s = time.perf_counter() - t0
            for b in range(self.batch):
                if not done[b]:
                    out[b].append(int(nxt[b]))
                    if on_token is not None:
                        on_token(b, int(nxt[b]))
                    done[b] = int(nxt[b]) in eos
            if done.all() or step == max_new_tokens - 1 or (self.pos + 1 > self.max_seq).any():
                break
            td = time.perf_counter()
            last = self.decode(np.where(done, 0, nxt)).numpy()
            self.stats.decode_s += time.perf_counter() - td
        self.stats.generated_tokens = sum(len(o) for o in out)
        return out

    def _prompts(self, input_ids) -> list[list[int]]:
        if isinstance(input_ids, list | tuple) and input_ids and isinstance(input_ids[0], list | tuple | np.ndarray):
            prompts = [list(self._ids(np.asarray(p)).reshape(-1)) for p in input_ids]
        else:
            a = self._ids(input_ids)
            prompts = [list(r) for r in (a[None, :] if a.ndim == 1 else a)]
        if len(prompts) != self.batch:
            raise QcompError(f"generate: {len(prompts)} prompts for a model compiled for batch {self.batch}")
        if any(len(p) == 0 for p in prompts):
            raise QcompError("generate: every prompt needs at least one token")
        return prompts

    @staticmethod
    def _choose(logits: np.ndarray, do_sample, temperature, top_k, top_p, rng) -> np.ndarray:
        if not do_sample:
            return logits.argmax(axis=-1)
        out = np.empty(len(logits), np.int64)
        for b, row in enumerate(logits.astype(np.float64) / temperature):
            if top_k:
                kth = np.partition(row, -top_k)[-top_k]
                row = np.where(row < kth, -np.inf, row)
            p = np.exp(row - row.max())
            p /= p.sum()
            if top_p is not None and top_p < 1.0:
                order = np.argsort(-p, kind="stable")
                cum = np.cumsum(p[order])
                drop = order[cum - p[order] >= top_p]  # keep the smallest prefix reaching top_p (at least one)
                p[drop] = 0.0
                p /= p.sum()
            out[b] = rng.choice(len(p), p=p)
        return out


def compile_lm(
    model: torch.nn.Module,
    tokenizer=None,
    target="cpu",
    recipe="w8a8",
    calibration=None,
    max_seq: int = 2048,
    kv: str = "fp32",
    batch: int = 1,
    chunk: int = 32,
    kv_alpha: float | None = KV_ALPHA,
) -> CompiledLM:
    """Compile a transformers causal LM (as loaded: f32, bf16 or f16) for generation: see `CompiledLM`.

    max_seq: cache positions per row (rounded up to a multiple of 16); kv: the cache format, "fp32" or "int8"
    (symmetric, f16 scales per token and head for values and per token, head and 16 channels for keys);
    batch: rows per call; chunk: prompt tokens per prefill call
    (1: no prefill build, prompts run through the decode step, half the compile time).
    calibration: for recipes that need it, a list of token-id tensors [batch, n] (the first `chunk` tokens
    of each are run); with kv="int8" also the keys' statistics (all n tokens of each): the step centres the
    keys on their calibrated per-channel mean and moves range**kv_alpha of each channel onto the queries
    before the cache write (`qcomp.kv_keys`, exact for attention; kv_alpha=0: centring only, None: neither;
    without calibration the keys are cached as they come)."""
    from .api import compile as compile_model  # deferred: loads MLIR (heavy)

    if kv not in KV_FORMATS:
        raise QcompError(f"kv must be one of {', '.join(KV_FORMATS)}, got {kv!r}")
    for name, v in (("max_seq", max_seq), ("batch", batch), ("chunk", chunk)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise QcompError(f"{name} must be a positive integer, got {v!r}")
    max_seq = -(-max_seq // 16) * 16
    lm = causal_lm(model)
    cfg = lm_config(lm)
    if kv_alpha is not None and (
        isinstance(kv_alpha, bool) or not isinstance(kv_alpha, int | float) or not 0 <= kv_alpha <= 1
    ):
        raise QcompError(f"kv_alpha must be a number in [0, 1] or None, got {kv_alpha!r}")
    keys = None
    if kv == "int8" and kv_alpha is not None and calibration is not None:
        keys = calibrate_keys(lm, [torch.as_tensor(x).reshape(batch, -1) for x in calibration], kv_alpha)
    step = LMStep(lm, kv, keys)
    shapes = cache_shapes(lm, batch, max_seq, kv)
    caches = [torch.zeros(s, dtype=d) for s, d in shapes]
    pos = torch.zeros(batch, dtype=torch.long)
    calib = None
    if calibration is not None:
        calib = [(torch.as_tensor(x).reshape(batch, -1)[:, :chunk], pos, *caches) for x in calibration]
    t0 = time.perf_counter()
    ids = torch.zeros(batch, chunk, dtype=torch.long)
    dec = compile_model(step, (ids[:, :1], pos, *caches), target=target, recipe=recipe, calibration=calib)
    # chunk=1: one build serves both (prompts run token by token)
    pre = (
        dec if chunk == 1 else compile_model(step, (ids, pos, *caches), target=target, recipe=recipe, calibration=calib)
    )
    shared = share_weights(pre.artifact, dec.artifact) if pre is not dec else 0
    cache_bytes = sum(int(np.prod(s)) * np.dtype(_NP[d]).itemsize for s, d in shapes)
    report = {
        "model": type(lm).__name__,
        "config": cfg,
        "recipe": pre.report["recipe"],
        "target": pre.report["target"],
        "kv": kv,
        "max_seq": max_seq,
        "batch": batch,
        "chunk": chunk,
        "cache_shapes": shapes,
        "cache_bytes": cache_bytes,
        "cache_bytes_per_token": cache_bytes // (batch * max_seq),
        "kv_keys": "as computed" if keys is None else f"centred, smoothed (alpha {keys.alpha}) on {keys.tokens} tokens",
        "sizes": pre.report["sizes"],
        "shared_weight_bytes": shared,
        "compile_s": time.perf_counter() - t0,
    }
    return CompiledLM(pre, dec, batch, max_seq, chunk, kv, cfg["vocab"], tokenizer, report)


def _bound(artifact, ids: np.ndarray, pos: np.ndarray, cache: list[np.ndarray]) -> Callable[[], list[np.ndarray]]:
    """A step call on these arrays: prebuilt argument descriptors where the artifact can bind them (CPU), else
    the artifact called on their current contents (simulators, which also report per call)."""
    if hasattr(artifact, "bind"):
        return artifact.bind(ids, pos, *cache)
    return lambda: artifact(ids, pos, *cache)


def share_weights(a, b) -> int:
    """Let JIT artifact `b` use `a`'s weight buffers where they hold the same bytes; return the bytes saved."""
    fa, fb = getattr(a, "fn", None), getattr(b, "fn", None)
    if fa is None or fb is None or not hasattr(fa, "weights"):
        return 0
    index: dict[tuple, list[int]] = {}
    for i, w in enumerate(fa.weights):
        index.setdefault((w.shape, w.dtype.str, w.nbytes), []).append(i)
    saved = 0
    for j, w in enumerate(fb.weights):
        for i in index.get((w.shape, w.dtype.str, w.nbytes), []):
            if np.array_equal(fa.weights[i], w):
                fb.weights[j] = fa.weights[i]
                fb._weight_ptrs[j] = fa._weight_ptrs[i]
                saved += w.nbytes
                break
    return saved
