"""A transformers causal LM as one compilable step: new tokens in, logits out, the KV cache a buffer argument.

`LMStep(lm, kv)` wraps a transformers causal LM (LLaMA family, Qwen2, Mistral, Gemma-3, GPT-2, OPT, Phi, GPT-NeoX,
Falcon … any model whose attention calls transformers' attention interface) so that its forward is

    forward(input_ids [B, T], pos [B], *cache) -> logits [B, T, V]

where row b's tokens sit at positions pos[b] .. pos[b] + T - 1 (per-row positions: prompts of different lengths
in one batch need no left padding) and `cache` is the preallocated KV cache (`cache_shapes`):
- kv="fp32": k [L, B, Hkv, D, S] (keys transposed: a vector of 16 positions per head dim), v [L, B, Hkv, S, D];
- kv="int8": the same as int8 (symmetric), plus f16 scales carried as their bytes in int8 buffers: keys one per
  token, head and 16 channels, ks [L, B, Hkv, D / 16, 2 S]; values one per token and head, vs [L, B, Hkv, 2 S]
  (`reference.quantize_kv_rows`: 138 bytes per token and head at D = 64, 0.27x the f32 cache's 512).

Each attention layer becomes one call of the custom op `qcomp::kv_attention`: it writes the step's keys and
values into the cache at their positions and attends each query to the positions 0 .. its own (causal;
`window` > 0: the last `window` positions, as sliding-window attention). The op declares no mutation, so
torch.export keeps it as one opaque call whose cache operands are the function's arguments; qc-from-torch
turns it into `qc.kv_attention`, which every target runs with the cache updated in place.

What kv_attention cannot compute is refused in one line (`QcompError`) rather than compiled wrong: attention that
bypasses transformers' attention interface (GPT-Neo, BLOOM, MPT), ALiBi, chunked or bidirectional attention,
logit soft-capping (Gemma-2), attention sinks, relative position biases.
"""

import torch
from qcomp.dialects.errors import QcompError
from qcomp.dialects.reference import F16_MAX, KV_GROUP

from .kv_keys import ALPHA, KeyStats, KeyTransform

ATTENTION = "qcomp_kv"  # the name under which the attention function is registered with transformers
KV_FORMATS = ("fp32", "int8")


def quantize_rows(x: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The int8 cache's format (`reference.quantize_kv_rows`): every `group` channels of a last-dim row share one
    f16 scale = f16(min(absmax / 127, 65504)) (1 where it is 0); q = round-half-even(x · (1 / scale)) saturated.
    Returns (q int8 [..., D], scale f16 [..., D / group])."""
    xg = x.reshape(*x.shape[:-1], x.shape[-1] // group, group)
    scale = torch.clamp(xg.abs().amax(dim=-1) / 127.0, max=F16_MAX).to(torch.float16)
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    q = torch.clamp(torch.round(xg * (1.0 / scale.float())[..., None]), -127, 127).to(torch.int8)
    return q.reshape(x.shape), scale


@torch.library.custom_op("qcomp::kv_attention", mutates_args=())
def kv_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    k_scale: torch.Tensor | None,
    v_scale: torch.Tensor | None,
    pos: torch.Tensor,
    layer: int,
    scale: float,
    window: int,
) -> torch.Tensor:
    """q [B, H, T, D], k/v [B, Hkv, T, D] -> [B, T, H, D]; writes k, v into the cache (eager: PyTorch ops)."""
    b_, h, t, d = q.shape
    hkv = k.shape[1]
    out = torch.empty(b_, t, h, d, dtype=q.dtype)
    for b in range(b_):
        p0 = int(pos[b])
        idx = torch.arange(p0, p0 + t)
        if k_scale is None:
            k_cache[layer, b, :, :, idx] = k[b].transpose(1, 2).to(k_cache.dtype)
            v_cache[layer, b, :, idx, :] = v[b].to(v_cache.dtype)
        else:  # the scales' f16 bits travel in int8 buffers: ks [..., D / G, 2 S], vs [..., 2 S]
            ks16, vs16 = k_scale[layer, b].view(torch.float16), v_scale[layer, b].view(torch.float16)
            kq, ks = quantize_rows(k[b].float(), KV_GROUP)  # [Hkv, T, D], [Hkv, T, D / G]
            vq, vs = quantize_rows(v[b].float(), d)
            k_cache[layer, b, :, :, idx] = kq.transpose(1, 2)
            v_cache[layer, b, :, idx, :] = vq
            ks16[:, :, idx] = ks.transpose(1, 2)
            vs16[:, idx] = vs[..., 0]
        n = p0 + t
        keys = k_cache[layer, b, :, :, :n].float()  # [Hkv, D, n]
        vals = v_cache[layer, b, :, :n, :].float()  # [Hkv, n, D]
        if k_scale is not None:
            keys = keys * ks16[:, :, :n].float().repeat_interleave(KV_GROUP, dim=1)
            vals = vals * vs16[:, :n, None].float()
        keys = keys.repeat_interleave(h // hkv, dim=0)
        vals = vals.repeat_interleave(h // hkv, dim=0)
        s = torch.matmul(q[b].float(), keys) * scale  # [H, T, n]
        qpos = torch.arange(p0, p0 + t)[:, None]
        kpos = torch.arange(n)[None, :]
        allowed = kpos <= qpos
        if window > 0:
            allowed &= kpos > qpos - window
        s = s.masked_fill(~allowed, float("-inf"))
        out[b] = torch.matmul(torch.softmax(s, dim=-1), vals).transpose(0, 1).to(q.dtype)
    return out


@kv_attention.register_fake
def _(q, k, v, k_cache, v_cache, k_scale, v_scale, pos, layer, scale, window):
    b, h, t, d = q.shape
    return q.new_empty(b, t, h, d)


class _Step:
    """The step being traced (set by `LMStep.forward` for its call, read by `_attention`): the model's name, its
    layer count, the cache buffers and positions, and the layers whose attention has run. A global rather than
    attention kwargs: not every model passes its kwargs down to the attention (Falcon's decoder layers do not)."""

    active: "_Step | None" = None

    def __init__(self, name: str, layers: int, cache: tuple, pos: torch.Tensor, keys=None, stats=None):
        self.name, self.layers, self.cache, self.pos, self.seen = name, layers, cache, pos, []
        self.keys = keys  # KeyTransform or None
        self.stats = stats  # KeyStats collecting the keys, or None


def _unsupported(module, kwargs) -> str | None:
    """Why kv_attention cannot compute this attention call (None when it can)."""
    if kwargs.get("softcap") or getattr(module, "attn_logit_softcapping", None):
        return "attention logit soft-capping"
    if kwargs.get("s_aux") is not None or kwargs.get("sinks") is not None:
        return "attention sinks"
    if kwargs.get("position_bias") is not None:
        return "a relative position bias"
    causal = kwargs.get("is_causal")
    if (getattr(module, "is_causal", True) if causal is None else causal) is False:
        return "bidirectional (non-causal) attention"
    return None


def _attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers' attention interface: the step's q, k, v (after rotary embeddings) -> `kv_attention`.

    The causal (and sliding-window) mask is kv_attention's own; `attention_mask` is not read, so models that
    put anything else into it (ALiBi) are refused by `LMStep`."""
    step = _Step.active
    if step is None:
        raise QcompError(f"attention implementation {ATTENTION!r} runs only inside LMStep.forward")
    why = _unsupported(module, kwargs)
    if why:
        raise QcompError(f"{step.name}: {why} is not supported by kv_attention")
    layer = getattr(module, "layer_idx", None)
    if not isinstance(layer, int) or not 0 <= layer < step.layers or layer in step.seen:
        raise QcompError(f"{step.name}: {type(module).__name__} has layer_idx {layer!r}, not a layer's own cache slot")
    step.seen.append(layer)
    k_cache, v_cache, *scales = step.cache
    hkv, d = k_cache.shape[2], k_cache.shape[3]
    if key.shape[1] != hkv or query.shape[-1] != d or key.shape[-1] != d or value.shape[-1] != d:
        raise QcompError(
            f"{step.name}: layer {layer} attends with q/k/v head dims {query.shape[-1]}/{key.shape[-1]}/"
            f"{value.shape[-1]} and {key.shape[1]} KV heads; its config says {d} and {hkv}"
        )
    window = kwargs.get("sliding_window") or 0
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    if step.stats is not None:
        step.stats.add(layer, key)
    if step.keys is not None:
        query, key = step.keys.apply(layer, query, key)
    k_scale, v_scale = scales if scales else (None, None)
    out = torch.ops.qcomp.kv_attention(
        query, key, value, k_cache, v_cache, k_scale, v_scale, step.pos, layer, float(scale), int(window)
    )
    return out, None


def _register() -> None:
    from transformers import AttentionInterface  # deferred: transformers (heavy)

    AttentionInterface.register(ATTENTION, _attention)


def lm_config(lm) -> dict:
    """Layers, KV heads and head dim of a transformers causal LM (its text config)."""
    cfg = lm.config.get_text_config() if hasattr(lm.config, "get_text_config") else lm.config
    heads = getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_head", None)
    layers = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer", None)
    hidden = getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd", None)
    if not (heads and layers and hidden):
        raise QcompError(f"{type(lm).__name__}: cannot read layers, heads and hidden size from its config")
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    head_dim = getattr(cfg, "head_dim", None) or hidden // heads
    return {"layers": layers, "heads": heads, "kv_heads": kv_heads, "head_dim": head_dim, "vocab": cfg.vocab_size}


def cache_shapes(lm, batch: int, max_seq: int, kv: str) -> list[tuple[tuple[int, ...], torch.dtype]]:
    """(shape, dtype) of each cache buffer `LMStep.forward` takes, in order."""
    c = lm_config(lm)
    lead = (c["layers"], batch, c["kv_heads"])
    d = c["head_dim"]
    if kv == "fp32":
        return [((*lead, d, max_seq), torch.float32), ((*lead, max_seq, d), torch.float32)]
    if d % KV_GROUP:
        raise QcompError(f"kv='int8' needs a head dim that is a multiple of {KV_GROUP}, got {d}")
    return [
        ((*lead, d, max_seq), torch.int8),
        ((*lead, max_seq, d), torch.int8),
        ((*lead, d // KV_GROUP, 2 * max_seq), torch.int8),  # f16 key scales' bytes: [..., D / G, S] as f16
        ((*lead, 2 * max_seq), torch.int8),  # f16 value scales' bytes: [..., S] as f16
    ]


class LMStep(torch.nn.Module):
    """forward(input_ids [B, T], pos [B], *cache) -> logits [B, T, V] (see the module docstring)."""

    def __init__(self, lm: torch.nn.Module, kv: str = "fp32", keys: KeyTransform | None = None):
        super().__init__()
        if kv not in KV_FORMATS:
            raise QcompError(f"kv must be one of {', '.join(KV_FORMATS)}, got {kv!r}")
        cfg = lm.config.get_text_config() if hasattr(lm.config, "get_text_config") else lm.config
        for attr, what in (
            ("alibi", "ALiBi (a position bias carried in the attention mask)"),
            ("attention_chunk_size", "chunked attention"),
        ):
            if getattr(cfg, attr, None):
                raise QcompError(f"{type(lm).__name__}: {what} is not supported by kv_attention")
        _register()
        self.lm, self.kv, self.layers = lm, kv, lm_config(lm)["layers"]
        self.keys = keys  # centres and smooths the keys before the cache write (`qcomp.kv_keys`)
        self.stats: KeyStats | None = None  # set by `calibrate_keys` while it runs

    def _configs(self) -> list:
        """The model's configs that name an attention implementation (composite models keep one per part)."""
        seen, out = set(), []
        for sub in self.lm.modules():
            cfg = getattr(sub, "config", None)
            if cfg is not None and hasattr(cfg, "_attn_implementation") and id(cfg) not in seen:
                seen.add(id(cfg))
                out.append(cfg)
        return out

    def forward(self, input_ids, pos, *cache):
        t = input_ids.shape[1]
        position_ids = pos[:, None] + torch.arange(t, dtype=pos.dtype)[None, :]
        configs = self._configs()
        before = [c._attn_implementation for c in configs]
        name = type(self.lm).__name__
        step = _Step.active = _Step(name, self.layers, cache, pos, self.keys, self.stats)
        try:  # the user's model keeps its own attention outside this call
            for c in configs:
                c._attn_implementation = ATTENTION
            out = self.lm(input_ids=input_ids, position_ids=position_ids, use_cache=False)
        finally:
            _Step.active = None
            for c, b in zip(configs, before, strict=True):
                c._attn_implementation = b
        if len(step.seen) != self.layers:  # the other layers' attention would ignore the cache
            raise QcompError(
                f"{name}: {len(step.seen)} of its {self.layers} attention layers go through transformers' attention "
                "interface; kv_attention needs all of them"
            )
        return out.logits.float()


def calibrate_keys(lm: torch.nn.Module, samples: list[torch.Tensor], alpha: float | None = None) -> KeyTransform:
    """The int8 cache's key centring and smoothing (`qcomp.kv_keys`) from the keys of `lm` (eager, f32 cache) over
    the token-id tensors `samples` ([B, n] or [n] each, run from position 0)."""

    step, stats, cfg = LMStep(lm, "fp32"), KeyStats(), lm_config(lm)
    step.stats = stats
    with torch.no_grad():
        for ids in samples:
            ids = torch.as_tensor(ids).reshape(-1, torch.as_tensor(ids).shape[-1]).long()
            b, n = ids.shape
            cache = [torch.zeros(s, dtype=d) for s, d in cache_shapes(lm, b, -(-n // 16) * 16, "fp32")]
            step(ids, torch.zeros(b, dtype=torch.long), *cache)
    return KeyTransform(stats, cfg["layers"], cfg["heads"], ALPHA if alpha is None else alpha)
