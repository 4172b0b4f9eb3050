"""Calibrated key centring and smoothing for the int8 KV cache (exact for attention).

The int8 cache quantizes each key row with one scale per 16 channels (`reference.quantize_kv_rows`). LLM keys
carry large per-channel offsets and a few wide channels, which set those scales and leave the other channels a
handful of levels. Two rewrites of the step's queries and keys, before the cache write, change no attention
output in exact arithmetic:
- centring: the scores of one query are q·k_j over positions j; subtracting a constant mu from every key
  subtracts q·mu from each of them, and softmax is invariant to that shift. mu is the calibrated mean of each
  (layer, kv head, channel) key.
- smoothing: (q ⊙ s)·((k - mu) ⊙ 1/s) = q·(k - mu) for any per-channel s > 0; with s the calibrated range of
  each centred key channel to the power `alpha` (SmoothQuant's migration, here from keys to queries), the 16
  channels that share a scale have similar ranges. The queries stay f32, so moving range onto them costs nothing.
Both act on the q and k that the attention receives (after rotary embeddings), so they hold at every position.
Measured on SmolLM2-135M's attention (4 windows of 256 tokens, calibration on a 5th): relative attention-output
error of the int8 keys 0.0097 -> 0.0079 (centred) -> 0.0063 (centred and smoothed, alpha 0.5). Perplexity
(teacher-forced, 4 windows of 256 in PyTorch with f32 weights): the int8 cache 1.0004x the f32 cache's as
computed, 0.9995x centred and smoothed. At W8A8 (per-token int8 activations, emulated in PyTorch, 24 windows)
the ratio reads 0.991x / 0.996x, but multiplying the keys by 1 + 1e-6·N(0, 1) alone moves it to 0.992x:
there any perturbation re-draws the activations' rounding, which moves perplexity by about 1%.

`KeyStats` collects per-channel sums, minima and maxima of the keys over calibration steps; `KeyTransform` holds
the result as module buffers (constants of the compiled step) and applies it.
"""

import torch

ALPHA = 0.5  # smoothing strength: s = range ** ALPHA (0: centring only)


class KeyStats:
    """Per layer: the sum, count, minimum and maximum of every (kv head, channel) key seen."""

    def __init__(self):
        self.sum: dict[int, torch.Tensor] = {}
        self.lo: dict[int, torch.Tensor] = {}
        self.hi: dict[int, torch.Tensor] = {}
        self.count: dict[int, int] = {}

    def add(self, layer: int, key: torch.Tensor) -> None:
        """key [B, Hkv, T, D]."""
        k = key.detach().float().transpose(0, 1).reshape(key.shape[1], -1, key.shape[-1])  # [Hkv, B T, D]
        s, lo, hi = k.sum(1), k.amin(1), k.amax(1)
        if layer in self.sum:
            s, lo, hi = s + self.sum[layer], torch.minimum(lo, self.lo[layer]), torch.maximum(hi, self.hi[layer])
        self.sum[layer], self.lo[layer], self.hi[layer] = s, lo, hi
        self.count[layer] = self.count.get(layer, 0) + k.shape[1]


class KeyTransform(torch.nn.Module):
    """Per layer: centre [1, Hkv, 1, D], key factor 1/s [1, Hkv, 1, D] and query factor s [1, H, 1, D]."""

    def __init__(self, stats: KeyStats, layers: int, heads: int, alpha: float = ALPHA):
        super().__init__()
        missing = [i for i in range(layers) if i not in stats.sum]
        if missing:
            raise ValueError(f"no calibration keys for layers {missing}")
        self.alpha, self.tokens = alpha, min(stats.count.values())
        for i in range(layers):
            mu = stats.sum[i] / stats.count[i]  # [Hkv, D]
            rng = torch.maximum(stats.hi[i] - mu, mu - stats.lo[i])
            # a channel that never varied keeps factor 1 (its centred keys are 0 whatever they are scaled by)
            s = torch.where(rng > 0, rng, torch.ones_like(rng)) ** alpha
            s = s / s.mean(-1, keepdim=True)  # unit mean per head: queries and keys keep their magnitude
            hkv = mu.shape[0]
            self.register_buffer(f"center{i}", mu[None, :, None, :].contiguous())
            self.register_buffer(f"kfactor{i}", (1.0 / s)[None, :, None, :].contiguous())
            self.register_buffer(f"qfactor{i}", s.repeat_interleave(heads // hkv, 0)[None, :, None, :].contiguous())

    def apply(self, layer: int, query: torch.Tensor, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(query ⊙ s, (key - mu) ⊙ 1/s) for this layer."""
        center, kf, qf = (getattr(self, f"{n}{layer}") for n in ("center", "kfactor", "qfactor"))
        return query * qf.to(query.dtype), ((key - center.to(key.dtype)) * kf.to(key.dtype))
